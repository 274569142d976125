//! One state run alone, as AWS's TestState API runs it (`stepstream test-state`): the state's
//! data flow stage by stage, where it would go next, and whether an error would be retried or
//! caught. Tasks are served by a given result or error, a MockConfigFile, or a handler. The
//! state may be given variables and context object fields, as TestState's `variables` and
//! `context`; at TRACE an HTTP Task's request and response are shown.

use crate::compile::{Program, StateId};
use crate::exec::{drive, drive_traced, ExecOptions};
use crate::json::{self, Value};
use crate::tasks::{Fault, TaskCall, TaskHandler, Trace};
use crate::vm::{Execution, SingleStatus, Status};

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

/// What TestState is asked besides the state and its input.
#[derive(Debug, Clone)]
pub struct TestStateOptions {
    /// How much is reported (`inspectionLevel`).
    pub level: InspectionLevel,
    /// Variables in the state's scope (`variables`): names and values.
    pub variables: Vec<(json::Str, Value)>,
    /// Context object fields (`context`) put over the ones the execution builds: what `$$`
    /// and `$states.context` read (`Execution`, `State`, `Task.Token`, `Map.Item`, …).
    pub context: Option<Value>,
    /// Shows the values of secret headers in an HTTP Task's traced request
    /// (`revealSecrets`); masked by default.
    pub reveal_secrets: bool,
}

impl TestStateOptions {
    /// The options of a plain run at `level`: no variables, no context, secrets masked.
    pub fn new(level: InspectionLevel) -> TestStateOptions {
        TestStateOptions {
            level,
            variables: Vec::new(),
            context: None,
            reveal_secrets: false,
        }
    }

    /// Variables from a JSON object (TestState's `variables`).
    pub fn variables_from(mut self, variables: &Value) -> Result<TestStateOptions, String> {
        let Some(object) = variables.as_object() else {
            return Err(format!(
                "the variables must be a JSON object, not {}",
                variables.kind()
            ));
        };
        self.variables = object
            .iter()
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        Ok(self)
    }

    /// Context object fields from a JSON object (TestState's `context`).
    pub fn context_from(mut self, context: &Value) -> Result<TestStateOptions, String> {
        if context.as_object().is_none() {
            return Err(format!(
                "the context must be a JSON object, not {}",
                context.kind()
            ));
        }
        self.context = Some(context.clone());
        Ok(self)
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
    test: &TestStateOptions,
) -> Result<Value, String> {
    let level = test.level;
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
    let clock = options.clock();
    let info = options.info(clock.now());
    let mut execution = Execution::for_state(program, state, input.clone(), info, options.limits())
        .with_variables(test.variables.iter().cloned());
    if let Some(context) = &test.context {
        execution = execution.with_context(context.clone());
    }
    let mut clock = clock;
    // Task calls capture their HTTP exchange only when TRACE asks for it.
    let trace = (level == InspectionLevel::Trace).then(|| Trace::new(test.reveal_secrets));
    let outcome = match &trace {
        Some(trace) => drive_traced(
            &mut execution,
            &mut clock,
            tasks,
            &options.state_machine_name,
            trace,
        ),
        None => drive(
            &mut execution,
            &mut clock,
            tasks,
            &options.state_machine_name,
        ),
    };
    let single = execution.single_state().cloned().unwrap_or_default();
    // A Fail state may fail without an error name: the outcome says whether it failed.
    let status = single.status.unwrap_or(match outcome.status {
        Status::Succeeded => SingleStatus::Succeeded,
        Status::Failed | Status::TimedOut => SingleStatus::Failed,
    });
    let mut response = json::Map::new();
    if let Some(output) = &outcome.output {
        if matches!(status, SingleStatus::Succeeded | SingleStatus::CaughtError) {
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
        if !single.variables.is_empty() {
            // A frame holds each variable once.
            let variables = json::Map::from_unique(single.variables.clone());
            data.insert(
                "variables",
                Value::from(json::to_string(&Value::Object(variables))),
            );
        }
        if let Some(exchange) = trace.map(|trace| trace.exchange()) {
            if let Some(request) = exchange.request {
                data.insert("request", request);
            }
            if let Some(response) = exchange.response {
                data.insert("response", response);
            }
        }
        response.insert("inspectionData", Value::Object(data));
    }
    if let Some(next) = &single.next_state {
        response.insert("nextState", Value::from(next.as_str()));
    }
    response.insert("status", Value::from(status.as_str()));
    Ok(Value::Object(response))
}
