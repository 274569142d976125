//! `stepstream test-state` against the histories recorded in the conformance corpus: every
//! top-level state that ran once is run alone, on the input, variables, execution input and
//! task result its history recorded. A state that left must give the output the history
//! recorded for it and name the state entered after it as its next state; a state whose
//! failure ended the execution must fail with the execution's error and cause.
//!
//! A state is left out (and counted, by reason) when TestState cannot be given what its
//! outcome depended on: Map and Parallel states (their iterations and branches), Tasks that
//! failed (and so were retried or caught) or whose result the history does not hold, and
//! states that read the clock, random values, context object fields the history does not
//! record (the execution's id, name or start time, the state's entry time), or a variable
//! whose value the recording masked.
//!
//! Environment: `CONFORMANCE_FILTER=substring` runs only the cases whose id contains it.

use crate::conformance::{
    corpus_path, isolated, placeholders_of, recorded_at_ms, RECORDED_ACCOUNT, RECORDED_AT,
};
use crate::util::diff::{json_diff_by, matches_with_placeholders};
use crate::util::{self, brief, shorten};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::time::Duration;
use stepstream::exec::{ExecOptions, NoTasks};
use stepstream::json;
use stepstream::json::Value;
use stepstream::tasks::TaskHandler;
use stepstream::teststate::{self, InspectionLevel, Mocked, TestStateOptions};
use stepstream::{asl, compile};

/// States compared, at least: the test must not pass by comparing nothing.
const MIN_COMPARED: usize = 300;
/// Task states (run on their recorded result) compared, at least.
const MIN_TASKS: usize = 15;
/// States given variables reconstructed from the history, at least.
const MIN_WITH_VARIABLES: usize = 20;

/// Recorded states whose TestState outcome is known to differ from the history:
/// (case id, state name, reason).
const KNOWN_DIFFERENCES: &[(&str, &str, &str)] = &[];

/// How long one case's states may take together (a virtual clock: only a hang comes near).
const CASE_TIME_LIMIT: Duration = Duration::from_secs(20);

/// Context object fields a top-level state may read that the history determines.
const KNOWN_CONTEXT: [&str; 3] = [".Execution.Input", ".State.Name", ".State.RetryCount"];

/// Functions whose results differ from run to run.
const UNREPEATABLE_FUNCTIONS: [&str; 6] = [
    "States.UUID",
    "States.MathRandom",
    "$uuid",
    "$random",
    "$now",
    "$millis",
];

/// One top-level state's run in a recorded history.
#[derive(Debug, Clone)]
struct RecordedState {
    case_id: String,
    /// The case's state machine definition.
    definition: Value,
    /// The MockConfigFile state machine name the case was run under.
    state_machine: String,
    name: String,
    state_type: String,
    /// Why the state is not compared, or what it is compared on.
    replay: Result<Replay, &'static str>,
}

/// What TestState is given for one recorded state, and what it must reproduce.
#[derive(Debug, Clone)]
struct Replay {
    /// The input of the state's Entered event (the execution's input, unmasked, when that
    /// is what the recording masked timestamps in).
    input: Value,
    /// The variables in scope at entry: the `assignedVariables` of the top-level states that
    /// left before it, later ones over earlier ones.
    variables: json::Map,
    /// The execution's input (`$$.Execution.Input`).
    execution_input: Value,
    /// A Task's recorded result (TaskSucceeded or LambdaFunctionSucceeded output).
    task_result: Option<Value>,
    /// What the state did.
    expected: Expected,
    /// Placeholders that masked run-specific values in the recording.
    placeholders: Vec<String>,
}

/// How a recorded state ended.
#[derive(Debug, Clone)]
enum Expected {
    /// It left (its Exited event).
    Left {
        output: Value,
        /// The state entered next (`Some(None)`: the execution succeeded after this state;
        /// `None`: the history does not tell).
        next_state: Option<Option<String>>,
    },
    /// It failed, and so did the execution (its ExecutionFailed event).
    Failed {
        error: Option<String>,
        /// A string, or the JSON the recording parsed it into.
        cause: Option<Value>,
    },
}

impl Replay {
    /// The context object fields TestState is given: the execution's input.
    fn context(&self) -> Value {
        json::object([(
            "Execution",
            json::object([("Input", self.execution_input.clone())]),
        )])
    }
}

/// A payload as the recording holds it: JSON text, or the value itself where the recording
/// parsed the text.
fn payload(value: &Value) -> Result<Value, String> {
    match value {
        Value::String(text) => {
            json::from_str(text).map_err(|err| format!("a recorded payload is not JSON: {err}"))
        }
        other => Ok(other.clone()),
    }
}

fn event_type(event: &Value) -> &str {
    event["type"].as_str().unwrap_or("")
}

/// The name in an Entered or Exited event's details.
fn state_name(event: &Value) -> Option<&str> {
    event
        .get("stateEnteredEventDetails")
        .or_else(|| event.get("stateExitedEventDetails"))
        .and_then(|details| details["name"].as_str())
}

/// The events of a history that belong to the top level: those of the states of the
/// machine's own `States`, not of a Map iteration or a Parallel branch. A Map or Parallel
/// state is open from its Entered event to its Succeeded, Failed or Aborted event (its Exited
/// event, when one of those is missing, closes it too); events in between are its own.
fn top_level_events(history: &[Value]) -> Vec<&Value> {
    let mut open: Vec<&str> = Vec::new();
    let mut top = Vec::new();
    for event in history {
        match event_type(event) {
            "MapStateEntered" | "ParallelStateEntered" => {
                if open.is_empty() {
                    top.push(event);
                }
                open.push(state_name(event).unwrap_or(""));
            }
            "MapStateSucceeded"
            | "MapStateFailed"
            | "MapStateAborted"
            | "ParallelStateSucceeded"
            | "ParallelStateFailed"
            | "ParallelStateAborted" => {
                open.pop();
                if open.is_empty() {
                    top.push(event);
                }
            }
            "MapStateExited" | "ParallelStateExited" => {
                let name = state_name(event).unwrap_or("");
                if let Some(at) = open.iter().rposition(|open_name| *open_name == name) {
                    open.truncate(at);
                }
                if open.is_empty() {
                    top.push(event);
                }
            }
            kind if kind.starts_with("Execution") => {
                open.clear();
                top.push(event);
            }
            _ if open.is_empty() => top.push(event),
            _ => {}
        }
    }
    top
}

/// Fields of a JSONPath state that are payload templates: only their `"key.$"` values are
/// evaluated.
const TEMPLATE_FIELDS: [&str; 4] = ["Parameters", "ResultSelector", "ItemSelector", "Assign"];

/// The text of the strings of a state's definition that are evaluated (paths, intrinsic
/// calls, JSONata expressions), one a line; literals are left out: in a JSONata state every
/// string but `{% … %}` ones, in a JSONPath state `Result` and template values whose key does
/// not end in `.$`. Other strings count as evaluated.
fn evaluated_text(state: &Value, machine_language: Option<&str>) -> String {
    fn jsonata(value: &Value, text: &mut String) {
        match value {
            Value::String(string) if string.starts_with("{%") && string.ends_with("%}") => {
                text.push_str(string);
                text.push('\n');
            }
            Value::Array(items) => items.iter().for_each(|item| jsonata(item, text)),
            Value::Object(fields) => fields.values().for_each(|field| jsonata(field, text)),
            _ => {}
        }
    }
    fn template(value: &Value, text: &mut String) {
        match value {
            Value::Array(items) => items.iter().for_each(|item| template(item, text)),
            Value::Object(fields) => {
                for (key, field) in fields {
                    match field {
                        Value::String(string) if key.ends_with(".$") => {
                            text.push_str(string);
                            text.push('\n');
                        }
                        _ => template(field, text),
                    }
                }
            }
            _ => {}
        }
    }
    fn jsonpath(value: &Value, text: &mut String) {
        match value {
            Value::String(string) => {
                text.push_str(string);
                text.push('\n');
            }
            Value::Array(items) => items.iter().for_each(|item| jsonpath(item, text)),
            Value::Object(fields) => {
                for (key, field) in fields {
                    if key.as_str() == "Result" {
                        continue;
                    }
                    if TEMPLATE_FIELDS.contains(&key.as_str()) {
                        template(field, text);
                    } else {
                        jsonpath(field, text);
                    }
                }
            }
            _ => {}
        }
    }
    let language = state["QueryLanguage"].as_str().or(machine_language);
    let mut text = String::new();
    if language == Some("JSONata") {
        jsonata(state, &mut text);
    } else {
        jsonpath(state, &mut text);
    }
    text
}

/// Why a state's outcome depends on something the history does not record, judged from its
/// evaluated text ([`evaluated_text`]): context object fields other than the execution's
/// input and the state's name and retry count, or functions of the clock or of chance.
fn unrecorded_dependency(evaluated: &str) -> Option<&'static str> {
    for root in ["$$", "$states.context"] {
        let mut rest = evaluated;
        while let Some(at) = rest.find(root) {
            let after = &rest[at + root.len()..];
            if !KNOWN_CONTEXT.iter().any(|field| after.starts_with(field)) {
                return Some("reads context fields the history does not record");
            }
            rest = after;
        }
    }
    for function in UNREPEATABLE_FUNCTIONS {
        let mut rest = evaluated;
        while let Some(at) = rest.find(function) {
            let after = &rest[at + function.len()..];
            if after.trim_start().starts_with('(') {
                return Some("calls a function of the clock or of chance");
            }
            rest = after;
        }
    }
    None
}

/// Why a state is left out whose name is not one of the machine's own `States`.
const NOT_TOP_LEVEL: &str = "not a state of the machine's own States";

/// The strings the recording put in place of timestamps.
const MASKED_TIMESTAMPS: [&str; 3] = ["date", "timestamp", "<timestamp>"];

/// Whether `value` holds a timestamp the recording masked.
fn holds_masked_timestamp(value: &Value) -> bool {
    match value {
        Value::String(text) => MASKED_TIMESTAMPS.contains(&text.as_str()),
        Value::Array(items) => items.iter().any(holds_masked_timestamp),
        Value::Object(fields) => fields.values().any(holds_masked_timestamp),
        _ => false,
    }
}

/// Whether a state's evaluated text ([`evaluated_text`]) reads variable `name` (`$name` not
/// followed by more of a name).
fn reads_variable(evaluated: &str, name: &str) -> bool {
    let reference = format!("${name}");
    let mut rest = evaluated;
    while let Some(at) = rest.find(&reference) {
        let after = &rest[at + reference.len()..];
        if !after.starts_with(|c: char| c.is_alphanumeric() || c == '_') {
            return true;
        }
        rest = after;
    }
    false
}

/// Event types that show a state's task did not run once and cleanly: it failed, timed out
/// or was aborted (and so was retried or caught, or failed the state).
fn is_trouble_of_task(kind: &str) -> bool {
    let task = ["Task", "LambdaFunction", "Activity"]
        .iter()
        .any(|prefix| kind.starts_with(prefix))
        && !kind.starts_with("TaskState");
    task && (kind.ends_with("Failed") || kind.ends_with("TimedOut") || kind.ends_with("Aborted"))
}

/// The top-level states a case's recorded history entered, in order, each with what TestState
/// is given for it or why it is left out. Empty when the case recorded no history.
fn recorded_states(case: &Value) -> Result<Vec<RecordedState>, String> {
    let Some(history) = case.get("history").and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    let case_id = case["id"].as_str().unwrap_or("?").to_owned();
    let definition = case["definition"].clone();
    let state_machine = case["mock_config"]["state_machine"]
        .as_str()
        .unwrap_or("Conformance")
        .to_owned();
    let placeholders = placeholders_of(case);
    let execution_input = case["input"].clone();
    let top = top_level_events(history);
    let machine_language = definition["QueryLanguage"].as_str();

    let mut variables = json::Map::new();
    // Variables whose recorded value holds a timestamp the recording masked.
    let mut masked: Vec<String> = Vec::new();
    let mut states = Vec::new();
    for (at, event) in top.iter().enumerate() {
        let kind = event_type(event);
        if kind.ends_with("StateExited") {
            if let Some(assigned) = event["stateExitedEventDetails"]
                .get("assignedVariables")
                .and_then(Value::as_object)
            {
                for (name, value) in assigned {
                    let value = payload(value)?;
                    masked.retain(|masked| masked != name.as_str());
                    if holds_masked_timestamp(&value) {
                        masked.push(name.to_string());
                    }
                    variables.insert(name.clone(), value);
                }
            }
            continue;
        }
        if !kind.ends_with("StateEntered") {
            continue;
        }
        let name = state_name(event).unwrap_or("").to_owned();
        let state = definition["States"].get(&name);
        let state_type = state
            .map(|state| state["Type"].as_str().unwrap_or("?").to_owned())
            .unwrap_or_else(|| "?".to_owned());
        let evaluated = state.map(|state| evaluated_text(state, machine_language));
        let replay = match evaluated {
            None => Err(NOT_TOP_LEVEL),
            Some(evaluated) if masked.iter().any(|name| reads_variable(&evaluated, name)) => {
                Err("reads a variable whose value the recording masked")
            }
            Some(evaluated) => replay_of(
                &top[at + 1..],
                &name,
                &state_type,
                &evaluated,
                event,
                &variables,
                &execution_input,
                &placeholders,
            )?,
        };
        states.push(RecordedState {
            case_id: case_id.clone(),
            definition: definition.clone(),
            state_machine: state_machine.clone(),
            name,
            state_type,
            replay,
        });
    }
    Ok(states)
}

/// What TestState is given for the state entered by `entered` (whose later top-level events
/// are `after`), or why it is left out.
#[allow(clippy::too_many_arguments)]
fn replay_of(
    after: &[&Value],
    name: &str,
    state_type: &str,
    evaluated: &str,
    entered: &Value,
    variables: &json::Map,
    execution_input: &Value,
    placeholders: &[String],
) -> Result<Result<Replay, &'static str>, String> {
    if matches!(state_type, "Map" | "Parallel") {
        return Ok(Err("Map or Parallel (iterations and branches)"));
    }
    let mut between: Vec<&Value> = Vec::new();
    let mut exited = None;
    for (at, event) in after.iter().enumerate() {
        let kind = event_type(event);
        if kind.ends_with("StateExited") && state_name(event) == Some(name) {
            exited = Some(at);
            break;
        }
        if kind.ends_with("StateEntered") || kind.starts_with("Execution") {
            break;
        }
        between.push(event);
    }
    // Any task failure (timed out, aborted) means the state was retried or caught, or its
    // failure is the task's own: either way not one clean run.
    if between
        .iter()
        .any(|event| is_trouble_of_task(event_type(event)))
    {
        return Ok(Err("task failed, retried or was caught"));
    }
    let task_result = if state_type == "Task" {
        let results: Vec<&Value> = between
            .iter()
            .filter_map(|event| {
                event
                    .get("taskSucceededEventDetails")
                    .or_else(|| event.get("lambdaFunctionSucceededEventDetails"))
                    .and_then(|details| details.get("output"))
            })
            .collect();
        let scheduled = between.iter().any(|event| {
            let kind = event_type(event);
            kind.starts_with("Task") || kind.starts_with("LambdaFunction")
        });
        match results.as_slice() {
            [result] => Some(payload(result)?),
            // The state failed before calling its task.
            [] if !scheduled => None,
            _ => return Ok(Err("task result not recorded")),
        }
    } else {
        None
    };
    if let Some(reason) = unrecorded_dependency(evaluated) {
        return Ok(Err(reason));
    }
    let entered_details = &entered["stateEnteredEventDetails"];
    let expected = match exited {
        Some(exited) => {
            let details = &after[exited]["stateExitedEventDetails"];
            if details["outputDetails"]["truncated"].as_bool() == Some(true) {
                return Ok(Err("payload truncated in the recording"));
            }
            let next_state = match after.get(exited + 1) {
                Some(event) if event_type(event).ends_with("StateEntered") => {
                    Some(state_name(event).map(str::to_owned))
                }
                Some(event) if event_type(event) == "ExecutionSucceeded" => Some(None),
                _ => None,
            };
            Expected::Left {
                output: payload(&details["output"])?,
                next_state,
            }
        }
        None => match after.get(between.len()) {
            // The state failed and the execution with it (an EvaluationFailed event may
            // come first).
            Some(failed) if event_type(failed) == "ExecutionFailed" => {
                let details = &failed["executionFailedEventDetails"];
                Expected::Failed {
                    error: details["error"].as_str().map(str::to_owned),
                    cause: details.get("cause").cloned(),
                }
            }
            _ => return Ok(Err("did not leave and did not end the execution")),
        },
    };
    if entered_details["inputDetails"]["truncated"].as_bool() == Some(true) {
        return Ok(Err("payload truncated in the recording"));
    }
    // The case keeps the execution's input unmasked: a state input that is that input with
    // timestamps masked is that input. Other masked inputs are given as recorded (a state
    // that only passes a masked timestamp on outputs the same mask).
    let mut input = payload(&entered_details["input"])?;
    if holds_masked_timestamp(&input) {
        let masked_or_same = |recorded: &str, real: &str| {
            MASKED_TIMESTAMPS.contains(&recorded)
                || matches_with_placeholders(recorded, real, placeholders)
        };
        if json_diff_by(&input, execution_input, &masked_or_same).is_none() {
            input = execution_input.clone();
        }
    }
    Ok(Ok(Replay {
        input,
        variables: variables.clone(),
        execution_input: execution_input.clone(),
        task_result,
        expected,
        placeholders: placeholders.to_vec(),
    }))
}

/// The options the corpus's states are run with: the case's state machine name, the
/// recording's account, and a virtual clock (a Wait takes no time) starting when the
/// recordings did.
fn exec_options(state_machine: &str) -> ExecOptions {
    ExecOptions {
        name: "teststate".to_owned(),
        state_machine_name: state_machine.to_owned(),
        account: RECORDED_ACCOUNT.to_owned(),
        time_scale: 0.0,
        start_time: Some(recorded_at_ms()),
        ..Default::default()
    }
}

/// The TestState response (INFO) for one recorded state, through the library.
fn run_state(
    program: &compile::Program,
    state: &RecordedState,
    replay: &Replay,
) -> Result<Value, String> {
    let mocked;
    let tasks: &dyn TaskHandler = match &replay.task_result {
        Some(result) => {
            mocked = Mocked(Ok(result.clone()));
            &mocked
        }
        None => &NoTasks,
    };
    let test = TestStateOptions::new(InspectionLevel::Info)
        .variables_from(&Value::Object(replay.variables.clone()))?
        .context_from(&replay.context())?;
    teststate::run(
        program,
        &state.name,
        replay.input.clone(),
        &exec_options(&state.state_machine),
        tasks,
        &test,
    )
}

/// The first way a TestState response differs from what the history recorded, or `None`.
fn response_difference(response: &Value, replay: &Replay) -> Option<String> {
    let strings_match = |expected: &str, actual: &str| {
        matches_with_placeholders(expected, actual, &replay.placeholders)
    };
    let status = response["status"].as_str().unwrap_or("?");
    match &replay.expected {
        Expected::Left { output, next_state } => {
            if status != "SUCCEEDED" {
                return Some(format!(
                    "status {status} (error {}, cause {})",
                    response["error"],
                    shorten(response["cause"].as_str().unwrap_or("none"), 200)
                ));
            }
            let actual = match response["output"].as_str().map(json::from_str) {
                Some(Ok(actual)) => actual,
                _ => return Some(format!("output not JSON text: {}", response["output"])),
            };
            if let Some(difference) = json_diff_by(output, &actual, &strings_match) {
                return Some(format!(
                    "output {difference} (recorded {}, got {})",
                    brief(output),
                    brief(&actual)
                ));
            }
            if let Some(expected) = next_state {
                let next = response["nextState"].as_str();
                if next != expected.as_deref() {
                    return Some(format!("next state: recorded {expected:?}, got {next:?}"));
                }
            }
            None
        }
        Expected::Failed { error, cause } => {
            if status != "FAILED" {
                return Some(format!(
                    "status {status}, recorded a failure (error {error:?})"
                ));
            }
            let actual_error = response["error"].as_str();
            if actual_error != error.as_deref() {
                return Some(format!("error: recorded {error:?}, got {actual_error:?}"));
            }
            cause_difference(cause.as_ref(), response["cause"].as_str(), &strings_match)
        }
    }
}

/// How a failed state's cause differs from the recorded one, or `None`. The event id a cause
/// quotes ("entered at the event id #6") counts the whole execution's history, which a state
/// run alone does not have, so it is not compared; a cause the recording parsed as JSON is
/// compared as JSON.
fn cause_difference(
    recorded: Option<&Value>,
    actual: Option<&str>,
    strings_match: &dyn Fn(&str, &str) -> bool,
) -> Option<String> {
    match (recorded, actual) {
        (None, None) => None,
        (None, Some("")) => None,
        (Some(Value::String(recorded)), Some(actual)) => {
            let (recorded, actual) = (without_event_id(recorded), without_event_id(actual));
            (!strings_match(&recorded, &actual))
                .then(|| format!("cause: recorded {recorded:?}, got {actual:?}"))
        }
        (Some(recorded), Some(actual)) => match json::from_str(actual) {
            Ok(parsed) => json_diff_by(recorded, &parsed, strings_match)
                .map(|difference| format!("cause (as JSON) {difference}")),
            Err(_) => Some(format!(
                "cause: recorded JSON {}, got {actual:?}",
                brief(recorded)
            )),
        },
        (recorded, actual) => Some(format!("cause: recorded {recorded:?}, got {actual:?}")),
    }
}

/// `cause` with the number of each "entered at the event id #N" left out.
fn without_event_id(cause: &str) -> String {
    const MARK: &str = "entered at the event id #";
    let mut text = String::with_capacity(cause.len());
    let mut rest = cause;
    while let Some(at) = rest.find(MARK) {
        text.push_str(&rest[..at + MARK.len()]);
        rest = rest[at + MARK.len()..].trim_start_matches(|c: char| c.is_ascii_digit());
    }
    text.push_str(rest);
    text
}

fn compile_definition(definition: &Value) -> Result<compile::Program, String> {
    let text = json::to_string(definition);
    let machine = asl::parse(&text).map_err(|problems| {
        let listed: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        format!("definition rejected: {}", listed.join("; "))
    })?;
    Ok(compile::compile(&machine))
}

/// Every recorded state of the corpus (filtered by `CONFORMANCE_FILTER`), case by case.
fn corpus_states() -> Vec<RecordedState> {
    let filter = std::env::var("CONFORMANCE_FILTER")
        .ok()
        .filter(|f| !f.is_empty());
    util::read_json_lines(&corpus_path())
        .iter()
        .filter(|case| {
            filter
                .as_deref()
                .is_none_or(|f| case["id"].as_str().is_some_and(|id| id.contains(f)))
        })
        .flat_map(|case| {
            recorded_states(case)
                .unwrap_or_else(|err| panic!("case {}: reading its history: {err}", case["id"]))
        })
        .collect()
}

/// What happened to one compared state.
struct Compared {
    case_id: String,
    name: String,
    state_type: String,
    with_variables: bool,
    /// It failed (error and cause compared).
    failed: bool,
    /// `Err`: how the response differs from the recording.
    verdict: Result<(), String>,
}

#[test]
fn test_state_reproduces_the_recorded_states() {
    let states = corpus_states();
    let mut by_case: BTreeMap<String, Vec<RecordedState>> = BTreeMap::new();
    for state in states {
        by_case
            .entry(state.case_id.clone())
            .or_default()
            .push(state);
    }

    let mut skipped: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut compared: Vec<Compared> = Vec::new();
    for (case_id, states) in by_case {
        let mut to_run = Vec::new();
        for state in states {
            match &state.replay {
                Err(reason) => *skipped.entry(reason).or_default() += 1,
                Ok(_) => to_run.push(state),
            }
        }
        if to_run.is_empty() {
            continue;
        }
        let work = to_run.clone();
        let verdicts = isolated(CASE_TIME_LIMIT, move || {
            let program = compile_definition(&work[0].definition)?;
            Ok(work
                .iter()
                .map(|state| {
                    let Ok(replay) = &state.replay else {
                        unreachable!("only compared states are run")
                    };
                    match run_state(&program, state, replay) {
                        Ok(response) => match response_difference(&response, replay) {
                            None => Ok(()),
                            Some(difference) => Err(difference),
                        },
                        Err(err) => Err(format!("test-state refused the state: {err}")),
                    }
                })
                .collect::<Vec<_>>())
        });
        for (index, state) in to_run.into_iter().enumerate() {
            let verdict = match &verdicts {
                Ok(verdicts) => verdicts[index].clone(),
                Err(reason) => Err(format!("the case did not run: {reason}")),
            };
            let with_variables = matches!(&state.replay, Ok(r) if !r.variables.is_empty());
            let failed =
                matches!(&state.replay, Ok(r) if matches!(r.expected, Expected::Failed { .. }));
            compared.push(Compared {
                case_id: case_id.clone(),
                name: state.name,
                state_type: state.state_type,
                with_variables,
                failed,
                verdict,
            });
        }
    }

    // A top-level event naming no top-level state means the walk lost track of nesting.
    assert_eq!(
        skipped.get(NOT_TOP_LEVEL),
        None,
        "the history walk took nested states for top-level ones"
    );
    let known: BTreeMap<(&str, &str), &str> = KNOWN_DIFFERENCES
        .iter()
        .map(|(case, state, reason)| ((*case, *state), *reason))
        .collect();
    let reproduced = compared.iter().filter(|c| c.verdict.is_ok()).count();
    let mut report = String::new();
    let mut unexpected = 0;
    for state in &compared {
        let key = (state.case_id.as_str(), state.name.as_str());
        match (&state.verdict, known.get(&key)) {
            (Err(difference), None) => {
                unexpected += 1;
                let _ = writeln!(
                    report,
                    "{}\n    state {:?} ({}): {difference}",
                    state.case_id, state.name, state.state_type
                );
            }
            (Ok(()), Some(reason)) => {
                unexpected += 1;
                let _ = writeln!(
                    report,
                    "{}\n    state {:?} is listed as differing ({reason}) but is reproduced: remove it from KNOWN_DIFFERENCES",
                    state.case_id, state.name
                );
            }
            _ => {}
        }
    }
    let skipped_total: usize = skipped.values().sum();
    let reasons: Vec<String> = skipped
        .iter()
        .map(|(reason, count)| format!("{count} {reason}"))
        .collect();
    let summary = format!(
        "test-state: {reproduced}/{} recorded states reproduced ({skipped_total} skipped: {})",
        compared.len(),
        reasons.join(", ")
    );
    let mut by_type: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for state in &compared {
        let entry = by_type.entry(state.state_type.as_str()).or_default();
        entry.1 += 1;
        if state.verdict.is_ok() {
            entry.0 += 1;
        }
    }
    let types: Vec<String> = by_type
        .iter()
        .map(|(kind, (passed, total))| format!("{kind} {passed}/{total}"))
        .collect();
    let with_variables = compared.iter().filter(|c| c.with_variables).count();
    let failed = compared.iter().filter(|c| c.failed).count();
    // Shown even when the test passes (stderr written directly is not captured).
    let _ = writeln!(
        std::io::stderr(),
        "{summary}\n  by type: {}; {with_variables} given variables; {failed} failed (error and cause compared)",
        types.join(", ")
    );

    assert!(
        unexpected == 0,
        "{summary}\n{unexpected} recorded state(s) differ from the history (or are listed and no longer do):\n{report}"
    );
    if std::env::var("CONFORMANCE_FILTER").is_ok_and(|f| !f.is_empty()) {
        return;
    }
    assert!(
        compared.len() >= MIN_COMPARED,
        "{summary}: fewer than {MIN_COMPARED} states compared"
    );
    let tasks = by_type.get("Task").map_or(0, |(_, total)| *total);
    assert!(
        tasks >= MIN_TASKS,
        "{summary}: only {tasks} Task states compared"
    );
    assert!(
        with_variables >= MIN_WITH_VARIABLES,
        "{summary}: only {with_variables} states compared with variables"
    );
}

/// The recorded states the binary is run on: the first two compared states of each type, and
/// the first few given variables or reading the execution's input.
fn binary_sample(states: &[RecordedState]) -> Vec<&RecordedState> {
    let mut per_type: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut with_variables, mut reading_input) = (0, 0);
    let mut sample = Vec::new();
    for state in states {
        let Ok(replay) = &state.replay else {
            continue;
        };
        let of_type = per_type.entry(state.state_type.as_str()).or_default();
        let has_variables = !replay.variables.is_empty();
        let reads_input = json::to_string(&state.definition["States"][state.name.as_str()])
            .contains("Execution.Input");
        if *of_type < 2
            || (has_variables && with_variables < 3)
            || (reads_input && reading_input < 2)
        {
            *of_type += 1;
            with_variables += usize::from(has_variables);
            reading_input += usize::from(reads_input);
            sample.push(state);
        }
    }
    sample
}

#[test]
fn the_binary_gives_the_library_response_for_recorded_states() {
    let states = corpus_states();
    let sample = binary_sample(&states);
    let filtered = std::env::var("CONFORMANCE_FILTER").is_ok_and(|f| !f.is_empty());
    assert!(
        filtered || sample.len() >= 12,
        "only {} recorded states to run through the binary",
        sample.len()
    );
    let dir = util::temp_dir("teststate-corpus");
    for (index, state) in sample.iter().enumerate() {
        let Ok(replay) = &state.replay else {
            unreachable!("the sample holds compared states only")
        };
        let program = compile_definition(&state.definition)
            .unwrap_or_else(|err| panic!("case {}: {err}", state.case_id));
        let library = run_state(&program, state, replay)
            .unwrap_or_else(|err| panic!("case {}: {err}", state.case_id));

        let definition = util::write_file(
            &dir,
            &format!("machine-{index}.json"),
            &json::to_string(&state.definition),
        );
        let input = json::to_string(&replay.input);
        let variables = json::to_string(&Value::Object(replay.variables.clone()));
        let context = json::to_string(&replay.context());
        let mut args: Vec<String> = vec![
            "test-state".into(),
            definition.display().to_string(),
            "--state".into(),
            state.name.clone(),
            "--state-machine".into(),
            state.state_machine.clone(),
            "--time-scale".into(),
            "0".into(),
            "--start-time".into(),
            RECORDED_AT.into(),
            "--inspection-level".into(),
            "INFO".into(),
            "--input".into(),
            input,
            "--variables".into(),
            variables,
            "--context".into(),
            context,
        ];
        if let Some(result) = &replay.task_result {
            args.push("--mock-result".into());
            args.push(json::to_string(result));
        }
        let run = util::stepstream(&args);
        let failed = matches!(replay.expected, Expected::Failed { .. });
        run.assert_code(if failed { 1 } else { 0 });
        let binary = run.stdout_json();
        assert!(
            util::json_eq(&library, &binary),
            "case {}, state {:?}: the binary answered {binary}, the library {library}\n{}",
            state.case_id,
            state.name,
            run.describe()
        );
        if let Some(difference) = response_difference(&binary, replay) {
            panic!(
                "case {}, state {:?}: {difference}\n{}",
                state.case_id,
                state.name,
                run.describe()
            );
        }
    }
    let _ = writeln!(
        std::io::stderr(),
        "test-state: {} recorded states run through the binary, each answered as by the library",
        sample.len()
    );
}

#[test]
fn a_fail_state_without_an_error_name_fails() {
    let program = compile_definition(&json!({"StartAt": "Stop", "States": {
        "Stop": {"Type": "Fail"}}}))
    .expect("a valid definition");
    let response = teststate::run(
        &program,
        "Stop",
        json!({"a": 1}),
        &exec_options("Machine"),
        &NoTasks,
        &TestStateOptions::new(InspectionLevel::Info),
    )
    .expect("the state exists");
    assert_eq!(response, json!({"status": "FAILED"}));
}

#[test]
fn the_history_walk_keeps_the_top_level_states_and_their_variables() {
    let case = json!({
        "id": "walk",
        "input": {"n": 1},
        "definition": {"StartAt": "First", "States": {
            "First": {"Type": "Pass", "Assign": {"x.$": "$.n"}, "Next": "Loop"},
            "Loop": {"Type": "Map", "ItemsPath": "$.items",
                "ItemProcessor": {"StartAt": "Inner", "States": {
                    "Inner": {"Type": "Pass", "Assign": {"y": 2}, "End": true}}},
                "Next": "Last"},
            "Last": {"Type": "Pass", "End": true}}},
        "history": [
            {"type": "ExecutionStarted", "id": 1, "executionStartedEventDetails": {"input": {"n": 1}}},
            {"type": "PassStateEntered", "id": 2, "stateEnteredEventDetails": {"name": "First", "input": "{\"n\":1,\"items\":[7]}"}},
            {"type": "PassStateExited", "id": 3, "stateExitedEventDetails": {"name": "First", "output": {"n": 1, "items": [7]}, "assignedVariables": {"x": "1"}}},
            {"type": "MapStateEntered", "id": 4, "stateEnteredEventDetails": {"name": "Loop", "input": {"n": 1, "items": [7]}}},
            {"type": "MapStateStarted", "id": 5},
            {"type": "MapIterationStarted", "id": 6},
            {"type": "PassStateEntered", "id": 7, "stateEnteredEventDetails": {"name": "Inner", "input": "7"}},
            {"type": "PassStateExited", "id": 8, "stateExitedEventDetails": {"name": "Inner", "output": "7", "assignedVariables": {"y": "2"}}},
            {"type": "MapIterationSucceeded", "id": 9},
            {"type": "MapStateSucceeded", "id": 10},
            {"type": "MapStateExited", "id": 11, "stateExitedEventDetails": {"name": "Loop", "output": [7]}},
            {"type": "PassStateEntered", "id": 12, "stateEnteredEventDetails": {"name": "Last", "input": [7]}},
            {"type": "PassStateExited", "id": 13, "stateExitedEventDetails": {"name": "Last", "output": [7]}},
            {"type": "ExecutionSucceeded", "id": 14}
        ]
    });
    let states = recorded_states(&case).expect("a readable history");
    let names: Vec<&str> = states.iter().map(|state| state.name.as_str()).collect();
    assert_eq!(names, ["First", "Loop", "Last"]);
    let Ok(first) = &states[0].replay else {
        panic!("First is compared: {:?}", states[0].replay)
    };
    assert_eq!(first.input, json!({"n": 1, "items": [7]}));
    assert!(first.variables.is_empty());
    assert!(matches!(&first.expected,
        Expected::Left { next_state: Some(Some(next)), .. } if next == "Loop"));
    assert!(states[1].replay.is_err(), "a Map state is left out");
    let Ok(last) = &states[2].replay else {
        panic!("Last is compared: {:?}", states[2].replay)
    };
    // The Map's iteration assigned `y` in its own scope: only `x` is in Last's.
    assert_eq!(Value::Object(last.variables.clone()), json!({"x": 1}));
    assert!(matches!(&last.expected,
        Expected::Left { output, next_state: Some(None) } if *output == json!([7])));
}

#[test]
fn only_evaluated_strings_count_as_reading_the_context_or_the_clock() {
    let dependency = |state: Value| unrecorded_dependency(&evaluated_text(&state, None));
    // Literals: a Result, template values whose key has no `.$`.
    assert_eq!(
        dependency(json!({"Type": "Pass", "Result": {"a.$": "$$"},
            "Parameters": {"b": "$$.Execution.Id", "c.$": "$$.Execution.Input.k",
                "d": {"e.$": "$$.State.Name"}}})),
        None
    );
    assert!(dependency(json!({"Type": "Pass",
        "Parameters": {"d": {"e.$": "$$.Execution.StartTime"}}}))
    .is_some());
    assert!(dependency(json!({"Type": "Choice",
        "Choices": [{"Variable": "$$.State.EnteredTime", "IsPresent": true, "Next": "X"}]}))
    .is_some());
    assert!(dependency(json!({"Type": "Pass", "Assign": {"id.$": "States.UUID()"}})).is_some());
    // JSONata: only whole `{% %}` strings are expressions.
    let jsonata = |output: Value| {
        unrecorded_dependency(&evaluated_text(
            &json!({"Type": "Pass", "Output": output}),
            Some("JSONata"),
        ))
    };
    assert_eq!(jsonata(json!({"a": " {% $now() %} ", "b": "$$"})), None);
    assert!(jsonata(json!({"a": "{% $now() %}"})).is_some());
    assert!(jsonata(json!({"a": "{% $states.context.Execution.Name %}"})).is_some());
    assert_eq!(
        jsonata(json!({"a": "{% $states.context.Execution.Input.k %}"})),
        None
    );
}
