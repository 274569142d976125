//! One state run alone, as AWS's TestState API runs it (`stepstream test-state`): the state's
//! data flow stage by stage, where it would go next, and whether an error would be retried or
//! caught. Tasks are served by a given result or error, a MockConfigFile, or a handler.

use crate::compile::{Program, StateId};
use crate::exec::{drive, ExecOptions};
use crate::json::{self, Value};
use crate::tasks::{Fault, TaskCall, TaskHandler};
use crate::vm::{Execution, SingleStatus};

/// How much TestState reports (`inspectionLevel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InspectionLevel {
    /// Output, error, cause, next state and status.
    Info,
    /// Also the value after each data-flow stage (`inspectionData`).
    Debug,
    /// Also HTTP requests and responses (for HTTP tasks).
    Trace,
}

impl InspectionLevel {
    pub fn parse(text: &str) -> Result<InspectionLevel, String> {
        match text.to_ascii_uppercase().as_str() {
            "INFO" => Ok(InspectionLevel::Info),
            "DEBUG" => Ok(InspectionLevel::Debug),
            "TRACE" => Ok(InspectionLevel::Trace),
            _ => Err(format!(
                "the inspection level must be INFO, DEBUG or TRACE, not {text:?}"
            )),
        }
    }
}

/// A task handler that answers every call with one result or one error (TestState's mock).
pub struct Mocked(pub Result<Value, Fault>);

impl TaskHandler for Mocked {
    fn invoke(&self, _call: &TaskCall<'_>) -> Option<Result<Value, Fault>> {
        Some(self.0.clone())
    }
}

/// The top-level state named `name` (states inside Parallel branches and Map processors may
/// reuse names; the top-level one is meant).
pub fn find_state(program: &Program, name: &str) -> Option<StateId> {
    let escaped = name.replace('~', "~0").replace('/', "~1");
    let pointer = format!("/States/{escaped}");
    (0..program.states.len())
        .map(|index| StateId(index as u32))
        .find(|&id| *program.state(id).pointer == *pointer)
}

/// Runs state `name` on `input` and returns TestState's response object.
pub fn run(
    program: &Program,
    name: &str,
    input: Value,
    options: &ExecOptions,
    tasks: &dyn TaskHandler,
    level: InspectionLevel,
) -> Result<Value, String> {
    let state = find_state(program, name).ok_or_else(|| {
        let names: Vec<String> = program
            .states
            .iter()
            .filter(|code| code.pointer.matches('/').count() == 2)
            .map(|code| format!("{:?}", code.name))
            .collect();
        format!(
            "no top-level state named {name:?} (the states are {})",
            names.join(", ")
        )
    })?;
    let clock = crate::clock::Clock::new(options.time_scale.max(0.0));
    let info = options.info(clock.now());
    let mut execution = Execution::for_state(program, state, input.clone(), info, options.limits());
    let mut clock = clock;
    let outcome = drive(
        &mut execution,
        &mut clock,
        tasks,
        &options.state_machine_name,
    );
    let single = execution.single_state().cloned().unwrap_or_default();
    let status = single.status.unwrap_or(if outcome.error.is_some() {
        SingleStatus::Failed
    } else {
        SingleStatus::Succeeded
    });
    let mut response = json::Map::new();
    if let Some(output) = &outcome.output {
        if outcome.error.is_none() {
            response.insert("output", Value::from(json::to_string(output)));
        }
    }
    if let Some(error) = &outcome.error {
        response.insert("error", Value::from(error.as_str()));
    }
    if let Some(cause) = &outcome.cause {
        response.insert("cause", Value::from(cause.as_str()));
    }
    if level != InspectionLevel::Info {
        let mut data = json::Map::new();
        data.insert("input", Value::from(json::to_string(&input)));
        for (stage, value) in &single.stages {
            data.insert(*stage, Value::from(json::to_string(value)));
        }
        if let Some((index, seconds)) = single.retry {
            data.insert(
                "errorDetails",
                json::object([
                    ("retryIndex", Value::from(index as u64)),
                    (
                        "retryBackoffIntervalSeconds",
                        Value::from(seconds.round() as u64),
                    ),
                ]),
            );
        }
        if let Some(index) = single.catch_index {
            data.insert(
                "errorDetails",
                json::object([("catchIndex", Value::from(index as u64))]),
            );
        }
        response.insert("inspectionData", Value::Object(data));
    }
    if let Some(next) = &single.next_state {
        response.insert("nextState", Value::from(next.as_str()));
    }
    response.insert("status", Value::from(status.as_str()));
    Ok(Value::Object(response))
}
