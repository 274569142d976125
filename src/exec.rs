//! Drives one execution to its end on the calling thread: serves its task requests through a
//! `TaskHandler`, and sleeps out its timers on a clock that may be scaled (`time_scale`) or
//! virtual (`time_scale == 0`: waits and back-offs take no time, outcomes are unchanged).
//!
//! Tasks served by asynchronous handlers (HTTP, Lambda) suspend the execution; this driver
//! then waits on its completion channel (results and heartbeats), and on a virtual clock lets
//! time run at real speed meanwhile, so task timeouts and heartbeat timeouts keep their
//! meaning.
//!
//! This is the local runner's and the tests' way to run; the pipeline drives `vm::Execution`
//! itself, without blocking.

use std::sync::Arc;
use std::time::Duration;

use crate::json;
use crate::json::Value;

use crate::clock::Clock;
use crate::compile::fold::Ending;
use crate::compile::Program;
use crate::tasks::{Completion, Dispatch, Fault, ReplyTo, TaskCall, TaskEvent, TaskHandler, Trace};
use crate::vm::{
    Execution, ExecutionInfo, Limits, LogLevel, MachineIdentity, Outcome, Poll, Ticket,
};
use crossbeam_channel::Sender;

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
    /// Which history events are kept when `record_history` is set (see
    /// [`Limits::history_level`]).
    pub history_level: LogLevel,
    pub max_payload_bytes: usize,
    /// Longest run (Express: 5 minutes).
    pub max_duration: Option<Duration>,
    /// Header names (besides `Authorization`) whose values an HTTP Task's parameters never
    /// show in the history or the logs.
    pub secret_headers: Arc<[String]>,
    /// When the execution starts, in milliseconds since the Unix epoch; `None` is now. A fixed
    /// start replays what depends on the date (Wait timestamps, `$$.Execution.StartTime`) the
    /// same way on any day.
    pub start_time: Option<i64>,
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
            history_level: LogLevel::All,
            max_payload_bytes: 262_144,
            max_duration: Some(Duration::from_secs(300)),
            secret_headers: Arc::from(Vec::new()),
            start_time: None,
        }
    }
}

impl ExecOptions {
    /// The clock an execution run with these options starts on.
    pub fn clock(&self) -> Clock {
        Clock::starting_at(self.time_scale.max(0.0), self.start_time)
    }

    /// The state machine's identity these options give. The last one made on this thread is
    /// reused when it matches, so running many executions does not rebuild its ARNs.
    pub fn machine(&self) -> Arc<MachineIdentity> {
        thread_local! {
            static LAST: std::cell::RefCell<Option<Arc<MachineIdentity>>> =
                const { std::cell::RefCell::new(None) };
        }
        LAST.with_borrow_mut(|last| {
            match last {
                Some(machine)
                    if machine.name == self.state_machine_name
                        && machine.region == self.region
                        && machine.account == self.account => {}
                _ => {
                    *last = Some(Arc::new(MachineIdentity::new(
                        &self.state_machine_name,
                        &self.region,
                        &self.account,
                    )))
                }
            }
            Arc::clone(last.as_ref().expect("just set"))
        })
    }

    /// The identity of an execution started now.
    pub fn info(&self, start_ms: i64) -> ExecutionInfo {
        ExecutionInfo {
            name: self.name.clone(),
            machine: self.machine(),
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
            history_level: self.history_level,
            secret_headers: Arc::clone(&self.secret_headers),
        }
    }
}

/// How an execution ended, with what StartSyncExecution reports.
#[derive(Debug, Clone)]
pub struct ExecutionResult {
    /// The execution's identity: name, start, state machine.
    pub info: ExecutionInfo,
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
        let mut object = json::object([
            ("executionArn", Value::from(self.info.arn())),
            (
                "stateMachineArn",
                Value::from(self.info.machine.arn.as_str()),
            ),
            ("name", Value::from(self.info.name.as_str())),
            (
                "startDate",
                Value::from(crate::time::format_millis(self.info.start_ms)),
            ),
            (
                "stopDate",
                Value::from(crate::time::format_millis(self.stop_ms)),
            ),
            ("status", Value::from(self.status.as_str())),
        ]);
        if let Some(output) = &self.output {
            object["output"] = Value::from(output.to_string());
        }
        if let Some(error) = &self.error {
            object["error"] = Value::from(error.clone());
        }
        if let Some(cause) = &self.cause {
            object["cause"] = Value::from(cause.clone());
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
    let clock = options.clock();
    let info = options.info(clock.now());
    let execution = Execution::new(program, input, info, options.limits());
    finish(execution, clock, options, tasks).0
}

/// Parses an input given as JSON text and runs one execution on it to its end, as the
/// pipeline does: the input's size is bounded from the text's length rather than measured,
/// and of a program that reads only some top-level fields of its input
/// ([`Program::input_fields`]) only those are built (the execution runs again on the whole
/// input in the rare case where the left-out fields could have mattered).
pub fn run_json(
    program: &Program,
    input: &[u8],
    options: &ExecOptions,
    tasks: &dyn TaskHandler,
) -> Result<ExecutionResult, json::Error> {
    if let (Some(fields), false) = (&program.input_fields, options.record_history) {
        let (value, projected) = json::from_slice_keeping(input, fields)?;
        let clock = options.clock();
        let info = options.info(clock.now());
        let info = match run_folded(program, &value, input.len(), options, &clock, info) {
            Ok(result) => return Ok(result),
            Err(info) => info,
        };
        let execution = Execution::from_raw(
            program,
            value,
            input.len(),
            projected,
            info,
            options.limits(),
        );
        let (result, tainted) = finish(execution, clock, options, tasks);
        if !tainted {
            return Ok(result);
        }
    }
    let value = json::from_slice(input)?;
    let clock = options.clock();
    let info = options.info(clock.now());
    let info = match (&program.input_fields, options.record_history) {
        (None, false) => match run_folded(program, &value, input.len(), options, &clock, info) {
            Ok(result) => return Ok(result),
            Err(info) => info,
        },
        _ => info,
    };
    let execution = Execution::from_raw(program, value, input.len(), false, info, options.limits());
    Ok(finish(execution, clock, options, tasks).0)
}

/// The result of a folded program ([`Program::folded`]) on `input`, parsed from `raw_len`
/// bytes; gives `info` back when the interpreter must run it.
fn run_folded(
    program: &Program,
    input: &Value,
    raw_len: usize,
    options: &ExecOptions,
    clock: &Clock,
    info: ExecutionInfo,
) -> Result<ExecutionResult, ExecutionInfo> {
    let folded = program.folded.as_ref().and_then(|folded| {
        folded.run(
            input,
            json::size_bound(raw_len),
            options.max_payload_bytes,
            None,
        )
    });
    let Some((outcome, _)) = folded else {
        return Err(info);
    };
    let (status, output, error, cause) = match outcome {
        Ending::Succeeded(output) => (Status::Succeeded, Some(output), None, None),
        Ending::Failed { error, cause } => (Status::Failed, None, error, cause),
    };
    Ok(ExecutionResult {
        info,
        stop_ms: clock.now(),
        status,
        output,
        error,
        cause,
        history: Vec::new(),
    })
}

/// Runs an execution to its end; also says whether it was tainted (see
/// [`Execution::is_tainted`]).
fn finish(
    mut execution: Execution<'_>,
    mut clock: Clock,
    options: &ExecOptions,
    tasks: &dyn TaskHandler,
) -> (ExecutionResult, bool) {
    let outcome = drive(
        &mut execution,
        &mut clock,
        tasks,
        &options.state_machine_name,
    );
    let tainted = execution.is_tainted();
    let (info, history) = execution.into_parts();
    let result = ExecutionResult {
        info,
        stop_ms: clock.now(),
        status: outcome.status,
        output: outcome.output,
        error: outcome.error,
        cause: outcome.cause,
        history,
    };
    (result, tainted)
}

/// Drives an execution to its end on the calling thread: sleeps out its timers and waits for
/// its asynchronous tasks' completions and heartbeats.
pub fn drive(
    execution: &mut Execution<'_>,
    clock: &mut Clock,
    tasks: &dyn TaskHandler,
    state_machine: &str,
) -> Outcome {
    drive_with(execution, clock, tasks, state_machine, None)
}

/// [`drive`], with the HTTP exchanges of the execution's task calls put in `trace` (what
/// TestState shows at TRACE).
pub fn drive_traced(
    execution: &mut Execution<'_>,
    clock: &mut Clock,
    tasks: &dyn TaskHandler,
    state_machine: &str,
    trace: &Trace,
) -> Outcome {
    drive_with(execution, clock, tasks, state_machine, Some(trace))
}

fn drive_with(
    execution: &mut Execution<'_>,
    clock: &mut Clock,
    tasks: &dyn TaskHandler,
    state_machine: &str,
    trace: Option<&Trace>,
) -> Outcome {
    let (sender, completions) = crossbeam_channel::unbounded();
    let replies = Replies {
        sender: &sender,
        key: 0,
        trace,
    };
    let mut outstanding = Outstanding::default();
    loop {
        let stopped = step(
            execution,
            clock,
            tasks,
            state_machine,
            &replies,
            &mut outstanding,
        );
        clock.set_live(!outstanding.is_empty());
        match stopped {
            Step::Done(outcome) => return outcome,
            Step::Wait(at) if outstanding.is_empty() => clock.sleep_until(at),
            Step::Stalled if outstanding.is_empty() => return stalled(),
            Step::Wait(_) | Step::Stalled => {
                // Task IO is outstanding: wait for a completion, or for the next wake time
                // (a task's timeout among them).
                let wake = match stopped {
                    Step::Wait(at) => Some(clock.real_wait(at).unwrap_or_default()),
                    _ => None,
                };
                let received = match wake {
                    Some(wait) => completions.recv_timeout(wait).ok(),
                    None => completions.recv().ok(),
                };
                if let Some(completion) = received {
                    outstanding.complete(execution, clock, completion);
                }
                while let Ok(completion) = completions.try_recv() {
                    outstanding.complete(execution, clock, completion);
                }
            }
        }
    }
}

/// Where asynchronous task results go: the driver's completion channel, and the driver's
/// name for the execution; and, when asked for, where task calls put their HTTP exchanges.
pub struct Replies<'a> {
    pub sender: &'a Sender<Completion>,
    pub key: u64,
    pub trace: Option<&'a Trace>,
}

/// The task requests of one execution that asynchronous handlers are still working on.
#[derive(Debug, Default)]
pub struct Outstanding(Vec<Ticket>);

impl Outstanding {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Hands a completion or a heartbeat to its execution (a stale one, whose request is no
    /// longer outstanding, is dropped), and lets a virtual clock stand still again once
    /// nothing is outstanding.
    pub fn complete(&mut self, execution: &mut Execution<'_>, clock: &mut Clock, done: Completion) {
        let Some(at) = self.0.iter().position(|ticket| *ticket == done.ticket) else {
            return;
        };
        match done.event {
            TaskEvent::Heartbeat => execution.heartbeat_task(done.ticket, clock.now()),
            TaskEvent::Done(result) => {
                self.0.swap_remove(at);
                execution.complete_task(done.ticket, result, clock.now());
                clock.set_live(!self.0.is_empty());
            }
        }
    }
}

/// Where stepping an execution stopped.
#[derive(Debug)]
pub enum Step {
    /// The execution ended.
    Done(Outcome),
    /// Nothing can run before the clock reads this time.
    Wait(i64),
    /// Nothing can run and no time is awaited: either task completions are awaited (see
    /// [`Outstanding`]), or nothing is (never expected; reported, not spun on).
    Stalled,
}

/// Runs an execution until it ends or must wait (for time to pass, or for the completions of
/// tasks started on asynchronous handlers, which are added to `outstanding`). Task requests
/// are dispatched through `tasks`; those answered at once are completed at once (a request no
/// handler serves fails with `States.TaskFailed`).
pub fn step(
    execution: &mut Execution<'_>,
    clock: &Clock,
    tasks: &dyn TaskHandler,
    state_machine: &str,
    replies: &Replies<'_>,
    outstanding: &mut Outstanding,
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
                        let now = clock.now();
                        let reply = ReplyTo {
                            sender: replies.sender,
                            key: replies.key,
                            ticket: request.ticket,
                            timeout: request.deadline_ms.map(|at| clock.real_span(at)),
                            heartbeat: request.heartbeat_ms.map(|ms| {
                                clock.real_span(now.saturating_add(ms.min(i64::MAX as u64) as i64))
                            }),
                            trace: replies.trace,
                        };
                        let result = match tasks.dispatch(&call, &reply) {
                            Some(Dispatch::Ready(result)) => result,
                            Some(Dispatch::Started) => {
                                outstanding.0.push(request.ticket);
                                continue;
                            }
                            None => Err(no_handler(request.resource)),
                        };
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
