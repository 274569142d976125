//! Drives one execution to its end on the calling thread: serves its task requests through a
//! `TaskHandler`, and sleeps out its timers on a clock that may be scaled (`time_scale`) or
//! virtual (`time_scale == 0`: waits and back-offs take no time, outcomes are unchanged).
//!
//! This is the local runner's and the tests' way to run; the pipeline drives `vm::Execution`
//! itself, without blocking.

use std::time::Duration;

use serde_json::{json, Value};

use crate::clock::Clock;
use crate::compile::Program;
use crate::tasks::{Fault, TaskCall, TaskHandler};
use crate::vm::{Execution, ExecutionInfo, Limits, Outcome, Poll};

pub use crate::vm::{HistoryEvent, Status};

/// How to run one execution.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// The execution's name.
    pub name: String,
    /// The state machine's name (the MockConfigFile `StateMachines` key; part of ARNs).
    pub state_machine_name: String,
    pub region: String,
    pub account: String,
    /// 1.0 runs waits in real time, 0.5 twice as fast, 0.0 instantly on a virtual clock.
    pub time_scale: f64,
    pub record_history: bool,
    pub max_payload_bytes: usize,
    /// Longest run (Express: 5 minutes).
    pub max_duration: Option<Duration>,
}

impl Default for ExecOptions {
    fn default() -> ExecOptions {
        ExecOptions {
            name: "execution".into(),
            state_machine_name: "StateMachine".into(),
            region: "us-east-1".into(),
            account: "123456789012".into(),
            time_scale: 1.0,
            record_history: false,
            max_payload_bytes: 262_144,
            max_duration: Some(Duration::from_secs(300)),
        }
    }
}

impl ExecOptions {
    /// The identity an execution started now gets: ARNs in the Express form.
    pub fn info(&self, start_ms: i64) -> ExecutionInfo {
        let state_machine_arn = format!(
            "arn:aws:states:{}:{}:stateMachine:{}",
            self.region, self.account, self.state_machine_name
        );
        ExecutionInfo {
            arn: format!(
                "arn:aws:states:{}:{}:express:{}:{}:{}",
                self.region,
                self.account,
                self.state_machine_name,
                self.name,
                execution_id(&self.name, start_ms)
            ),
            name: self.name.clone(),
            state_machine_name: self.state_machine_name.clone(),
            state_machine_arn,
            role_arn: format!("arn:aws:iam::{}:role/stepstream", self.account),
            start_ms,
        }
    }

    /// The VM limits these options set.
    pub fn limits(&self) -> Limits {
        Limits {
            max_payload_bytes: self.max_payload_bytes,
            max_duration_ms: self
                .max_duration
                .map(|duration| duration.as_millis() as u64),
            record_history: self.record_history,
        }
    }
}

/// A stable id for the execution ARN's last part, derived from its name and start.
fn execution_id(name: &str, start_ms: i64) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes().chain(start_ms.to_le_bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    let high = hash;
    let low = hash.rotate_left(29).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xffff,
        high & 0x0fff,
        0x8000 | (low >> 48) & 0x3fff,
        low & 0xffff_ffff_ffff
    )
}

/// How an execution ended, with what StartSyncExecution reports.
#[derive(Debug, Clone)]
pub struct ExecutionResult {
    pub execution_arn: String,
    pub name: String,
    pub state_machine_arn: String,
    pub start_ms: i64,
    pub stop_ms: i64,
    pub status: Status,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub history: Vec<HistoryEvent>,
}

impl ExecutionResult {
    /// The result shaped like the StartSyncExecution response (`output` as a JSON string).
    pub fn to_json(&self) -> Value {
        let mut object = json!({
            "executionArn": self.execution_arn,
            "stateMachineArn": self.state_machine_arn,
            "name": self.name,
            "startDate": crate::time::format_millis(self.start_ms),
            "stopDate": crate::time::format_millis(self.stop_ms),
            "status": self.status.as_str(),
        });
        if let Some(output) = &self.output {
            object["output"] = Value::String(output.to_string());
        }
        if let Some(error) = &self.error {
            object["error"] = Value::String(error.clone());
        }
        if let Some(cause) = &self.cause {
            object["cause"] = Value::String(cause.clone());
        }
        object
    }
}

/// Runs one execution to its end.
pub fn run(
    program: &Program,
    input: Value,
    options: &ExecOptions,
    tasks: &dyn TaskHandler,
) -> ExecutionResult {
    let mut clock = Clock::new(options.time_scale.max(0.0));
    let info = options.info(clock.now());
    let mut execution = Execution::new(program, input, info, options.limits());
    let outcome = loop {
        match step(&mut execution, &clock, tasks, &options.state_machine_name) {
            Step::Done(outcome) => break outcome,
            Step::Wait(at) => clock.sleep_until(at),
            Step::Stalled => break stalled(),
        }
    };
    let (info, history) = execution.into_parts();
    ExecutionResult {
        execution_arn: info.arn,
        name: info.name,
        state_machine_arn: info.state_machine_arn,
        start_ms: info.start_ms,
        stop_ms: clock.now(),
        status: outcome.status,
        output: outcome.output,
        error: outcome.error,
        cause: outcome.cause,
        history,
    }
}

/// The fault of a Task whose resource no handler serves.
/// Where stepping an execution stopped.
#[derive(Debug)]
pub enum Step {
    /// The execution ended.
    Done(Outcome),
    /// Nothing can run before the clock reads this time.
    Wait(i64),
    /// Nothing can run and nothing is awaited (never expected; reported, not spun on).
    Stalled,
}

/// Runs an execution until it ends or must wait for time to pass, serving its task requests
/// at once through `tasks` (a request no handler serves fails with `States.TaskFailed`).
pub fn step(
    execution: &mut Execution<'_>,
    clock: &Clock,
    tasks: &dyn TaskHandler,
    state_machine: &str,
) -> Step {
    loop {
        match execution.run(clock.now()) {
            Poll::Done(outcome) => return Step::Done(outcome),
            Poll::Pending { wake_at } => {
                let requests = execution.take_requests();
                if !requests.is_empty() {
                    for request in requests {
                        let call = TaskCall {
                            state_name: request.state_name,
                            resource: request.resource,
                            parameters: &request.parameters,
                            invocation: request.invocation,
                            state_machine,
                        };
                        let result = tasks
                            .invoke(&call)
                            .unwrap_or_else(|| Err(no_handler(request.resource)));
                        execution.complete_task(request.ticket, result, clock.now());
                    }
                    continue;
                }
                if execution.is_runnable() {
                    continue;
                }
                return match wake_at {
                    Some(at) => Step::Wait(at),
                    None => Step::Stalled,
                };
            }
        }
    }
}

/// The outcome of an execution that stalled.
pub fn stalled() -> Outcome {
    Outcome {
        status: Status::Failed,
        output: None,
        error: Some("States.Runtime".into()),
        cause: Some("the execution stalled with nothing to run".into()),
    }
}

/// The fault of a Task whose resource no handler serves.
fn no_handler(resource: &str) -> Fault {
    Fault::new(
        "States.TaskFailed",
        format!("no task handler serves the resource {resource:?} (give it a mock with --mock-config, or a native handler)"),
    )
}

/// A handler that serves nothing: every Task fails with `States.TaskFailed`.
pub struct NoTasks;

impl TaskHandler for NoTasks {
    fn invoke(&self, _call: &TaskCall<'_>) -> Option<Result<Value, Fault>> {
        None
    }
}
