//! The conformance corpus: state machines, inputs and what real AWS Step Functions made of them
//! (tests/data/conformance/README.md says how to compare). Every selected case runs; the test
//! fails when a case fails that tests/data/conformance-known-failures.txt does not list.
//!
//! Environment:
//! - `CONFORMANCE_FILTER=substring`: run only the cases whose id contains it.
//! - `CONFORMANCE_VERBOSE=1`: print expected and actual in full for each failure.
//! - `UPDATE_KNOWN_FAILURES=1`: rewrite the known-failures list with today's failures.
//!
//! The full report is also written to `target/tmp/conformance-report.txt`.

use crate::util::diff::{json_diff_by, matches_with_placeholders};
use crate::util::{self, brief, json_diff, shorten};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::{mpsc, Mutex, Once};
use std::time::Duration;
use stepstream::json;
use stepstream::json::Value;
use stepstream::tasks::{Fault, MockConfig, TaskCall, TaskHandler};
use stepstream::{asl, compile, exec, logs};

/// How long one case may run (on a virtual clock, so only a hang comes near it).
const CASE_TIME_LIMIT: Duration = Duration::from_secs(10);

pub(crate) fn corpus_path() -> PathBuf {
    util::data_dir().join("conformance/aws-recorded.jsonl")
}

fn known_failures_path() -> PathBuf {
    util::data_dir().join("conformance-known-failures.txt")
}

#[test]
fn conformance() {
    let filter = std::env::var("CONFORMANCE_FILTER")
        .ok()
        .filter(|f| !f.is_empty());
    let verbose = env_flag("CONFORMANCE_VERBOSE");
    let update_known_failures = env_flag("UPDATE_KNOWN_FAILURES");
    assert!(
        !(update_known_failures && filter.is_some()),
        "UPDATE_KNOWN_FAILURES=1 needs the whole corpus: unset CONFORMANCE_FILTER"
    );

    let cases: Vec<Value> = util::read_json_lines(&corpus_path());
    let known_failures = read_known_failures();

    let mut filtered_out = 0;
    let mut results: Vec<CaseResult> = Vec::new();
    for case in &cases {
        let id = case["id"]
            .as_str()
            .expect("every case has an id")
            .to_owned();
        let features = features_of(case);
        if filter.as_deref().is_some_and(|f| !id.contains(f)) {
            filtered_out += 1;
            continue;
        }
        let outcome = run_case_isolated(case);
        let verdict = match &outcome {
            Ok(actual) => compare(case, actual),
            Err(reason) => Err(reason.clone()),
        };
        results.push(CaseResult {
            id,
            features,
            verdict,
            outcome,
        });
    }

    let mut report = String::new();
    write_report(&mut report, &cases, &results, filtered_out, verbose);

    let failing: BTreeSet<&str> = results
        .iter()
        .filter(|r| r.verdict.is_err())
        .map(|r| r.id.as_str())
        .collect();
    let ran: BTreeSet<&str> = results.iter().map(|r| r.id.as_str()).collect();
    let unexpected: Vec<&CaseResult> = results
        .iter()
        .filter(|r| r.verdict.is_err() && !known_failures.contains_key(&r.id))
        .collect();
    let now_passing: Vec<&String> = known_failures
        .keys()
        .filter(|id| ran.contains(id.as_str()) && !failing.contains(id.as_str()))
        .collect();
    let all_ids: BTreeSet<&str> = cases.iter().filter_map(|c| c["id"].as_str()).collect();
    let unknown_ids: Vec<&String> = known_failures
        .keys()
        .filter(|id| !all_ids.contains(id.as_str()))
        .collect();

    // Notes on the list itself are shown even when the test passes (stderr is not captured).
    let mut list_notes = String::new();
    if !now_passing.is_empty() {
        let _ = writeln!(
            list_notes,
            "\n{} case(s) in {} now pass; remove them from the list:",
            now_passing.len(),
            known_failures_path().display()
        );
        for id in &now_passing {
            let _ = writeln!(list_notes, "  {id}");
        }
    }
    if !unknown_ids.is_empty() {
        let _ = writeln!(
            list_notes,
            "\nthe known-failures list names cases the corpus does not have:"
        );
        for id in &unknown_ids {
            let _ = writeln!(list_notes, "  {id}");
        }
    }
    report.push_str(&list_notes);
    if !unexpected.is_empty() {
        let _ = writeln!(
            report,
            "\n{} case(s) fail that {} does not list:",
            unexpected.len(),
            known_failures_path().display()
        );
        for result in &unexpected {
            let _ = writeln!(report, "  {}  # {}", result.id, reason_of(result));
        }
    }

    if update_known_failures {
        write_known_failures(&results);
        let _ = writeln!(
            report,
            "\nrewrote {} with {} failing case(s)",
            known_failures_path().display(),
            failing.len()
        );
    }

    let report_path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("conformance-report.txt");
    let _ = std::fs::write(&report_path, &report);
    println!("{report}");
    let passed = results.iter().filter(|r| r.verdict.is_ok()).count();
    let by_id: BTreeMap<&str, &Value> = cases
        .iter()
        .filter_map(|c| Some((c["id"].as_str()?, c)))
        .collect();
    let logs_differences = logs_differences(&by_id, &results);
    let histories: Vec<Option<String>> = results
        .iter()
        .filter_map(|r| history_difference(by_id.get(r.id.as_str())?, r.outcome.as_ref().ok()?))
        .collect();
    let _ = write!(std::io::stderr(), "{list_notes}");
    let _ = writeln!(
        std::io::stderr(),
        "conformance: {passed}/{} passed, histories {}/{} match, recorded logs {}/{} match, {} unlisted failure(s); report in {}",
        results.len(),
        histories.iter().filter(|d| d.is_none()).count(),
        histories.len(),
        logs_differences.iter().filter(|(_, d)| d.is_none()).count(),
        logs_differences.len(),
        if update_known_failures {
            0
        } else {
            unexpected.len()
        },
        report_path.display()
    );

    assert!(
        update_known_failures || unexpected.is_empty(),
        "{} conformance case(s) fail that {} does not list (see the report above)",
        unexpected.len(),
        known_failures_path().display()
    );
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0")
}

fn features_of(case: &Value) -> Vec<String> {
    case["features"]
        .as_array()
        .map(|fs| {
            fs.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// What the engine made of one case.
#[derive(Debug)]
struct Actual {
    status: String,
    output: Option<Value>,
    error: Option<String>,
    cause: Option<String>,
    /// Each task invocation's (state name, parameters), in order.
    task_calls: Vec<(String, Value)>,
    history_types: Vec<String>,
    /// The recorded history events, for the log records.
    history: Vec<exec::HistoryEvent>,
    execution_arn: String,
}

struct CaseResult {
    id: String,
    features: Vec<String>,
    /// `Err` holds the one-line reason the case fails.
    verdict: Result<(), String>,
    /// What the engine did, or why it could not run the case.
    outcome: Result<Actual, String>,
}

fn reason_of(result: &CaseResult) -> String {
    match &result.verdict {
        Ok(()) => "passes".to_owned(),
        Err(reason) => reason.clone(),
    }
}

/// Runs one case on its own thread, so that a panic becomes a failure with its message and a
/// hang becomes a failure after `CASE_TIME_LIMIT` (the stuck thread is left behind; the virtual
/// clock makes waits instant, so only a hang comes near the limit).
fn run_case_isolated(case: &Value) -> Result<Actual, String> {
    let case = case.clone();
    isolated(CASE_TIME_LIMIT, move || run_case(&case))
}

/// Runs `work` on a thread of its own: a panic becomes `Err` with its message and place, and
/// so does not finishing within `time_limit`.
pub(crate) fn isolated<T: Send + 'static>(
    time_limit: Duration,
    work: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    install_quiet_panic_hook();
    let (sender, receiver) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("conformance-case".to_owned())
        .stack_size(64 << 20)
        .spawn(move || {
            IN_CASE.with(|flag| flag.set(true));
            let outcome = panic::catch_unwind(AssertUnwindSafe(work));
            let outcome = outcome.unwrap_or_else(|payload| {
                let location = PANIC_LOCATION.with(|l| l.borrow_mut().take());
                Err(format!(
                    "panicked{}: {}",
                    location.map(|l| format!(" at {l}")).unwrap_or_default(),
                    panic_message(payload.as_ref())
                ))
            });
            let _ = sender.send(outcome);
        });
    if let Err(e) = spawned {
        return Err(format!("could not start a thread for the case: {e}"));
    }
    match receiver.recv_timeout(time_limit) {
        Ok(outcome) => outcome,
        Err(mpsc::RecvTimeoutError::Timeout) => Err(format!(
            "did not finish within {:.1} s of real time",
            time_limit.as_secs_f64()
        )),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            Err("the case's thread ended without a result".to_owned())
        }
    }
}

thread_local! {
    static IN_CASE: Cell<bool> = const { Cell::new(false) };
    static PANIC_LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Panics on case threads are reported as failures, not printed; other threads keep the
/// previous hook.
fn install_quiet_panic_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if IN_CASE.with(Cell::get) {
                let location = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()));
                PANIC_LOCATION.with(|l| *l.borrow_mut() = location);
            } else {
                previous(info);
            }
        }));
    });
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "(a panic payload that is not a string)".to_owned()
    }
}

/// The account the cases were recorded in (as their resource ARNs show).
pub(crate) const RECORDED_ACCOUNT: &str = "111111111111";

/// When the recordings' executions start. Some inputs were made from the recording's date:
/// the Wait of `test_timestamp_too_far_in_future_boundary[24856]` is this instant plus 24,856
/// days, too long a delay only until 20 hours after it, so the cases run at this instant, not
/// today.
pub(crate) const RECORDED_AT: &str = "2026-11-21T10:24:40Z";

/// [`RECORDED_AT`] in milliseconds since the Unix epoch.
pub(crate) fn recorded_at_ms() -> i64 {
    stepstream::time::parse_timestamp(RECORDED_AT)
        .expect("RECORDED_AT is a timestamp")
        .epoch_millis()
}

/// Serves the Task states of the few cases recorded without mocks (Tasks inside DISTRIBUTED
/// Maps, whose child executions were not recorded) by returning the parameters: those
/// recordings are consistent with the echo function their tests invoke.
struct EchoTasks;

impl TaskHandler for EchoTasks {
    fn invoke(&self, call: &TaskCall<'_>) -> Option<Result<Value, Fault>> {
        Some(Ok(call.parameters.clone()))
    }
}

/// The placeholders that masked run-specific values in a case's recorded history (and so in
/// its `expected_task_parameters`), e.g. `<region>` or `lambda_function_name`. Compound ones
/// (`arn:<partition>:`) are left out: their parts are listed on their own.
pub(crate) fn placeholders_of(case: &Value) -> Vec<String> {
    case["history_notes"]["placeholder_tokens"]
        .as_array()
        .map(|tokens| {
            tokens
                .iter()
                .filter_map(Value::as_str)
                .filter(|token| {
                    let bracketed = token.starts_with('<')
                        && token.ends_with('>')
                        && token.matches('<').count() == 1;
                    bracketed || !token.contains('<')
                })
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// A task handler that logs each call and passes it on.
struct Recording<'a> {
    inner: &'a dyn TaskHandler,
    calls: Mutex<Vec<(String, Value)>>,
}

impl TaskHandler for Recording<'_> {
    fn invoke(&self, call: &TaskCall<'_>) -> Option<Result<Value, Fault>> {
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((call.state_name.to_owned(), call.parameters.clone()));
        self.inner.invoke(call)
    }
}

/// parse → compile → run with the case's mocks. `Err` is why the case could not run.
fn run_case(case: &Value) -> Result<Actual, String> {
    let definition_text = serde_json::to_string(&case["definition"]).expect("a Value serialises");
    let state_machine = asl::parse(&definition_text).map_err(|problems| {
        let listed: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        format!("definition rejected: {}", listed.join("; "))
    })?;
    let program = compile::compile(&state_machine);

    let mock_config = case.get("mock_config").filter(|m| !m.is_null());
    let state_machine_name = mock_config
        .and_then(|m| m["state_machine"].as_str())
        .unwrap_or("Conformance")
        .to_owned();
    let mock_handler = match mock_config {
        None => None,
        Some(mock_config) => {
            let file_text =
                serde_json::to_string(&mock_config["file"]).expect("a Value serialises");
            let parsed =
                MockConfig::parse(&file_text).map_err(|e| format!("mock config rejected: {e}"))?;
            let test_case = mock_config["test_case"].as_str().unwrap_or("Recorded");
            let handler = parsed
                .handler(&state_machine_name, test_case)
                .map_err(|e| format!("mock config has no handler: {e}"))?;
            Some(handler)
        }
    };
    let inner: &dyn TaskHandler = match &mock_handler {
        Some(handler) => handler,
        None => &EchoTasks,
    };
    let recording = Recording {
        inner,
        calls: Mutex::new(Vec::new()),
    };

    let options = exec::ExecOptions {
        name: "conformance".to_owned(),
        state_machine_name,
        account: RECORDED_ACCOUNT.to_owned(),
        time_scale: 0.0,
        record_history: true,
        start_time: Some(recorded_at_ms()),
        ..Default::default()
    };
    let result = exec::run(&program, case["input"].clone(), &options, &recording);
    if program.input_fields.is_some() || program.folded.is_some() {
        // The pipeline parses only the fields such a program reads, and builds a folded
        // program's output from its template: same outcome required.
        let text = json::to_vec(&case["input"]);
        let plain = exec::ExecOptions {
            record_history: false,
            ..options.clone()
        };
        let projected = exec::run_json(&program, &text, &plain, inner)
            .map_err(|err| format!("the input does not parse: {err}"))?;
        let seen = (
            &projected.status,
            &projected.output,
            &projected.error,
            &projected.cause,
        );
        if seen != (&result.status, &result.output, &result.error, &result.cause) {
            return Err(format!(
                "input projection or folding changed the outcome: {seen:?} against {:?}",
                (&result.status, &result.output, &result.error, &result.cause)
            ));
        }
    }

    // The VM's filter by level keeps exactly the events the level logs, ids and previous ids
    // unchanged.
    for level in [logs::LogLevel::Error, logs::LogLevel::Fatal] {
        let filtered = exec::ExecOptions {
            history_level: level,
            ..options.clone()
        };
        let kept = exec::run(&program, case["input"].clone(), &filtered, inner).history;
        let expected = result
            .history
            .iter()
            .filter(|event| level.includes(event.event_type));
        let shape = |event: &exec::HistoryEvent| {
            (
                event.id,
                event.previous_event_id,
                event.event_type,
                event.details.clone(),
            )
        };
        let expected: Vec<_> = expected.map(shape).collect();
        let kept: Vec<_> = kept.iter().map(shape).collect();
        if kept != expected {
            return Err(format!(
                "history kept at {level}: {kept:?}, against the full history's {expected:?}"
            ));
        }
    }

    Ok(Actual {
        status: result.status.as_str().to_owned(),
        output: result.output,
        error: result.error,
        cause: result.cause,
        task_calls: recording
            .calls
            .into_inner()
            .unwrap_or_else(|e| e.into_inner()),
        history_types: result
            .history
            .iter()
            .map(|e| e.event_type.to_owned())
            .collect(),
        execution_arn: result.info.arn(),
        history: result.history,
    })
}

/// Compares as tests/data/conformance/README.md says; `Err` is the first difference.
fn compare(case: &Value, actual: &Actual) -> Result<(), String> {
    let expect = &case["expect"];
    let expected_status = expect["status"].as_str().unwrap_or("?");
    if actual.status != expected_status {
        let mut reason = format!("status: expected {expected_status}, got {}", actual.status);
        if actual.status != "SUCCEEDED" {
            let _ = write!(
                reason,
                " (error {}, cause {})",
                actual
                    .error
                    .as_deref()
                    .map_or("none".to_owned(), |e| format!("{e:?}")),
                actual
                    .cause
                    .as_deref()
                    .map_or("none".to_owned(), |c| format!("{:?}", shorten(c, 150)))
            );
        }
        return Err(reason);
    }

    if let Some(expected_output) = expect.get("output") {
        match &actual.output {
            None => return Err("output: expected a value, got none".to_owned()),
            Some(output) => {
                if let Some(difference) = json_diff(expected_output, output) {
                    return Err(format!("output {difference}"));
                }
            }
        }
    }

    // A run that timed out was recorded with DescribeExecution, which leaves error and cause
    // out; StartSyncExecution reports States.Timeout, so that is accepted too.
    let timed_out = expected_status == "TIMED_OUT";
    match expect.get("error").and_then(Value::as_str) {
        Some(expected) => {
            if actual.error.as_deref() != Some(expected) {
                return Err(format!(
                    "error: expected {expected:?}, got {:?}",
                    actual.error
                ));
            }
        }
        None if timed_out => {
            if actual
                .error
                .as_deref()
                .is_some_and(|e| e != "States.Timeout")
            {
                return Err(format!(
                    "error: expected none or States.Timeout, got {:?}",
                    actual.error
                ));
            }
        }
        None => {
            if actual.error.is_some() {
                return Err(format!("error: expected none, got {:?}", actual.error));
            }
        }
    }

    match expect.get("cause").and_then(Value::as_str) {
        Some(expected) if expect["cause_is_json"].as_bool() == Some(true) => {
            let expected_json: Value = json::from_str(expected)
                .map_err(|e| format!("the recorded cause is not JSON: {e}"))?;
            let Some(cause) = actual.cause.as_deref() else {
                return Err(format!(
                    "cause: expected {}, got none",
                    brief(&expected_json)
                ));
            };
            let actual_json: Value = json::from_str(cause).map_err(|_| {
                format!(
                    "cause: expected JSON {}, got {:?}",
                    brief(&expected_json),
                    shorten(cause, 100)
                )
            })?;
            if let Some(difference) = json_diff(&expected_json, &actual_json) {
                return Err(format!("cause (as JSON) {difference}"));
            }
        }
        Some(expected) => {
            if actual.cause.as_deref() != Some(expected) {
                return Err(format!(
                    "cause: expected {:?}, got {:?}",
                    shorten(expected, 150),
                    actual.cause.as_deref().map(|c| shorten(c, 150))
                ));
            }
        }
        None if timed_out => {}
        None => {
            if actual.cause.as_deref().is_some_and(|c| !c.is_empty()) {
                return Err(format!(
                    "cause: expected none, got {:?}",
                    actual.cause.as_deref().map(|c| shorten(c, 150))
                ));
            }
        }
    }

    if let Some(expected_calls) = case
        .get("expected_task_parameters")
        .and_then(Value::as_array)
    {
        let placeholders = placeholders_of(case);
        let strings_match = |expected: &str, actual: &str| {
            matches_with_placeholders(expected, actual, &placeholders)
        };
        for (index, expected_call) in expected_calls.iter().enumerate() {
            let expected_state = expected_call["state"].as_str().unwrap_or("?");
            let Some((state, parameters)) = actual.task_calls.get(index) else {
                return Err(format!(
                    "task calls: expected {} call(s), got {} (call {index} to {expected_state:?} missing)",
                    expected_calls.len(),
                    actual.task_calls.len()
                ));
            };
            if state != expected_state {
                return Err(format!(
                    "task call {index}: expected state {expected_state:?}, got {state:?}"
                ));
            }
            if let Some(difference) =
                json_diff_by(&expected_call["parameters"], parameters, &strings_match)
            {
                return Err(format!(
                    "task call {index} ({state}) parameters {difference}"
                ));
            }
        }
        if actual.task_calls.len() > expected_calls.len() {
            let (state, _) = &actual.task_calls[expected_calls.len()];
            return Err(format!(
                "task calls: expected {} call(s), got {} (extra call to {state:?})",
                expected_calls.len(),
                actual.task_calls.len()
            ));
        }
    }
    if let Some(Some(difference)) = history_difference(case, actual) {
        return Err(format!("history: {difference}"));
    }
    if let Some(Some(difference)) = logs_difference(case, actual) {
        return Err(format!("recorded logs: {difference}"));
    }
    Ok(())
}

/// Where the engine's log records first differ from the case's `recorded_logs`, when it has
/// them: `Some(None)` when they match key by key.
///
/// The records are made with the recording's `loggingConfiguration`. The recording masked
/// run-specific values: `event_timestamp` (any epoch milliseconds match), the role ARN and
/// parts of the execution ARN (`<…>` placeholders); it also parsed the `input`/`output`
/// strings, so ours are parsed before comparing. A Standard workflow's recording (`…:execution:…`
/// ARN) is compared without its execution ARN: an Express engine never makes that form.
/// `events` is a list of every record, or (for the `end_event` recordings) the last one alone,
/// whose keys the recording sorted, so only there is the top-level key order not compared.
fn logs_difference(case: &Value, actual: &Actual) -> Option<Option<String>> {
    let recorded = case.get("recorded_logs")?;
    let configuration = &recorded["loggingConfiguration"];
    let level = configuration["level"]
        .as_str()
        .and_then(|level| level.parse::<logs::LogLevel>().ok());
    let Some(level) = level else {
        return Some(Some(format!(
            "the recording's log level {} is not one of ALL, ERROR, FATAL, OFF",
            configuration["level"]
        )));
    };
    let options = logs::LogOptions {
        level,
        include_execution_data: configuration["includeExecutionData"].as_bool() == Some(true),
    };
    let ours: Vec<Value> = actual
        .history
        .iter()
        .filter_map(|event| logs::record(event, &actual.execution_arn, &options))
        .map(|text| json::from_str(&text).expect("a log record is JSON"))
        .collect();
    let difference = match &recorded["events"] {
        Value::Array(expected) => {
            let mut difference = None;
            for (index, expected_record) in expected.iter().enumerate() {
                let Some(record) = ours.get(index) else {
                    difference = Some(format!(
                        "expected {} record(s), got {}",
                        expected.len(),
                        ours.len()
                    ));
                    break;
                };
                if let Some(found) = log_record_difference(expected_record, record, true) {
                    difference = Some(format!("record {}: {found}", index + 1));
                    break;
                }
            }
            difference.or_else(|| {
                (ours.len() > expected.len()).then(|| {
                    format!(
                        "expected {} record(s), got {} (extra {})",
                        expected.len(),
                        ours.len(),
                        ours[expected.len()]["type"]
                    )
                })
            })
        }
        expected @ Value::Object(_) => match ours.last() {
            None => Some("expected an end record, got no records".to_owned()),
            Some(record) => log_record_difference(expected, record, false)
                .map(|found| format!("end record: {found}")),
        },
        other => Some(format!("the recording's events are {}", brief(other))),
    };
    Some(difference)
}

/// The first difference between a recorded log record and ours (see [`logs_difference`]).
fn log_record_difference(expected: &Value, actual: &Value, keys_in_order: bool) -> Option<String> {
    let (Some(expected), Some(actual)) = (expected.as_object(), actual.as_object()) else {
        return Some("a record is not an object".to_owned());
    };
    let key_list = |map: &json::Map| -> Vec<String> {
        map.keys().map(|key| key.as_str().to_owned()).collect()
    };
    let (mut expected_keys, mut actual_keys) = (key_list(expected), key_list(actual));
    if !keys_in_order {
        expected_keys.sort();
        actual_keys.sort();
    }
    if expected_keys != actual_keys {
        return Some(format!("keys {expected_keys:?}, got {actual_keys:?}"));
    }
    let standard = expected
        .get("execution_arn")
        .and_then(Value::as_str)
        .is_some_and(|arn| arn.contains(":execution:"));
    for (key, expected_value) in expected {
        let actual_value = &actual[key.as_str()];
        let difference = match key.as_str() {
            "event_timestamp" => {
                let epoch_millis = actual_value
                    .as_str()
                    .is_some_and(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()));
                (!epoch_millis).then(|| format!("expected epoch milliseconds, got {actual_value}"))
            }
            "execution_arn" if standard => None,
            "execution_arn" => {
                let placeholders = bracketed_tokens(expected_value.as_str().unwrap_or(""));
                let matches = match (expected_value.as_str(), actual_value.as_str()) {
                    (Some(expected), Some(actual)) => {
                        matches_with_placeholders(expected, actual, &placeholders)
                    }
                    _ => false,
                };
                (!matches).then(|| format!("expected {expected_value}, got {actual_value}"))
            }
            "details" => details_difference(expected_value, actual_value),
            _ => json_diff(expected_value, actual_value),
        };
        if let Some(difference) = difference {
            return Some(format!("{key}: {difference}"));
        }
    }
    None
}

/// Compares a record's `details`: the same keys in the same order, payload strings as the
/// JSON they hold, and the role ARN the recording masked as any string.
fn details_difference(expected: &Value, actual: &Value) -> Option<String> {
    let (Some(expected), Some(actual)) = (expected.as_object(), actual.as_object()) else {
        return Some(format!(
            "expected {}, got {}",
            brief(expected),
            brief(actual)
        ));
    };
    let expected_keys: Vec<&str> = expected.keys().map(|key| key.as_str()).collect();
    let actual_keys: Vec<&str> = actual.keys().map(|key| key.as_str()).collect();
    if expected_keys != actual_keys {
        return Some(format!("keys {expected_keys:?}, got {actual_keys:?}"));
    }
    for (key, expected_value) in expected {
        let actual_value = &actual[key.as_str()];
        let difference = match key.as_str() {
            "roleArn" if expected_value == "snf_role_arn" => (!actual_value.is_string())
                .then(|| format!("expected a role ARN, got {actual_value}")),
            "input" | "output" => match actual_value.as_str().map(json::from_str) {
                Some(Ok(parsed)) => json_diff(expected_value, &parsed),
                _ => Some(format!("expected a JSON text, got {actual_value}")),
            },
            _ => json_diff(expected_value, actual_value),
        };
        if let Some(difference) = difference {
            return Some(format!("{key} {difference}"));
        }
    }
    None
}

/// The `<…>` tokens of a recorded string (the parts the recording masked).
fn bracketed_tokens(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>') else {
            break;
        };
        tokens.push(rest[open..open + close + 1].to_owned());
        rest = &rest[open + close + 1..];
    }
    tokens
}

/// Where the engine's history event types first differ from the recorded ones, when the case
/// recorded a history, or where their ids do: `Some(None)` when they match. A difference
/// fails the case.
fn history_difference(case: &Value, actual: &Actual) -> Option<Option<String>> {
    let recorded = case.get("history")?.as_array()?;
    // Ids masked in the recording mark a history whose Parallel branch events it reordered.
    let reordered = recorded.iter().any(|e| !e["id"].is_u64());
    let recorded: Vec<&str> = recorded.iter().filter_map(|e| e["type"].as_str()).collect();
    let ours: Vec<&str> = if reordered {
        as_recorded_with_parallel_branches_sorted(&actual.history)
    } else {
        actual.history_types.iter().map(String::as_str).collect()
    };
    if recorded == ours {
        if reordered {
            // The recording rewrote and dropped events, so its ids do not count ours.
            return Some(None);
        }
        let events = case["history"].as_array()?;
        for (event, ours) in events.iter().zip(&actual.history) {
            if event["id"].as_u64().is_some_and(|id| id != ours.id) {
                return Some(Some(format!(
                    "event {}: recorded id {}, got {}",
                    ours.event_type, event["id"], ours.id
                )));
            }
        }
        return Some(None);
    }
    let at = recorded
        .iter()
        .zip(&ours)
        .take_while(|(r, o)| r == o)
        .count();
    Some(Some(format!(
        "event {}: recorded {}, got {} ({} recorded events, {} from the engine)",
        at + 1,
        recorded.get(at).unwrap_or(&"(end)"),
        ours.get(at).unwrap_or(&"(end)"),
        recorded.len(),
        ours.len()
    )))
}

/// Where the engine's `previousEventId`s first differ from the recorded ones, for a case whose
/// recorded history kept its ids and whose event types match: `Some(None)` when they agree.
fn previous_id_difference(case: &Value, actual: &Actual) -> Option<Option<String>> {
    let events = case.get("history")?.as_array()?;
    if events.iter().any(|e| !e["id"].is_u64()) || events.len() != actual.history.len() {
        return None;
    }
    for (event, ours) in events.iter().zip(&actual.history) {
        if event["type"].as_str() != Some(ours.event_type) {
            return None;
        }
        if event["id"].as_u64() != Some(ours.id) {
            return Some(Some(format!(
                "event {}: recorded id {}, got {}",
                ours.event_type, event["id"], ours.id
            )));
        }
        if event["previousEventId"].as_u64() != Some(ours.previous_event_id) {
            return Some(Some(format!(
                "event {} ({}): recorded after {}, got after {}",
                ours.id, ours.event_type, event["previousEventId"], ours.previous_event_id
            )));
        }
    }
    Some(None)
}

/// The event types of a history as the recordings of Parallel states show them.
///
/// Parallel branches run concurrently, so those recordings made their histories
/// order-independent (LocalStack's `SfnNoneRecursiveParallelTransformer`): they sorted the
/// events after each ParallelStateStarted (ids masked) up to the next ParallelState
/// Succeeded/Failed/Aborted/Exited, and at each such event wrote the sorted run back over the
/// events from that start to it, which drops events when two of them follow one run (a
/// nested Parallel's Succeeded and Exited). This does the same to ours, sorting by type and
/// then details, so that the event types can be compared.
fn as_recorded_with_parallel_branches_sorted(history: &[exec::HistoryEvent]) -> Vec<&'static str> {
    let mut events: Vec<(&'static str, String)> = history
        .iter()
        .map(|event| (event.event_type, json::to_string(&event.details)))
        .collect();
    let mut start: Option<usize> = None;
    let mut run: Vec<(&'static str, String)> = Vec::new();
    let mut in_run = false;
    let mut index = 0;
    while index < events.len() {
        match events[index].0 {
            "ParallelStateSucceeded"
            | "ParallelStateAborted"
            | "ParallelStateExited"
            | "ParallelStateFailed" => {
                let mut sorted = run.clone();
                sorted.sort();
                let from = start.unwrap_or(0).min(index);
                events.splice(from..index, sorted);
                in_run = false;
            }
            "ParallelStateStarted" => {
                in_run = true;
                run.clear();
                start = Some(index + 1);
            }
            _ if in_run => run.push(events[index].clone()),
            _ => {}
        }
        index += 1;
    }
    events
        .into_iter()
        .map(|(event_type, _)| event_type)
        .collect()
}

/// Each run case with `recorded_logs` and where its log records first differ (`None`: they
/// match).
fn logs_differences<'a>(
    by_id: &BTreeMap<&str, &Value>,
    results: &'a [CaseResult],
) -> Vec<(&'a str, Option<String>)> {
    results
        .iter()
        .filter_map(|r| {
            let actual = r.outcome.as_ref().ok()?;
            let difference = logs_difference(by_id.get(r.id.as_str())?, actual)?;
            Some((r.id.as_str(), difference))
        })
        .collect()
}

/// The kind of a failure reason, for the summary: its text up to the first `:`.
fn reason_kind(reason: &str) -> &str {
    reason.split(':').next().unwrap_or(reason).trim()
}

fn write_report(
    report: &mut String,
    cases: &[Value],
    results: &[CaseResult],
    filtered_out: usize,
    verbose: bool,
) {
    let total = results.len();
    let passed = results.iter().filter(|r| r.verdict.is_ok()).count();
    let _ = writeln!(
        report,
        "== conformance: tests/data/conformance/aws-recorded.jsonl =="
    );
    let _ = writeln!(
        report,
        "passed {passed}/{total} ({:.1}%) of the cases run; corpus has {} cases",
        percent(passed, total),
        cases.len()
    );
    if filtered_out > 0 {
        let _ = writeln!(report, "left out by CONFORMANCE_FILTER: {filtered_out}");
    }

    let by_id: BTreeMap<&str, &Value> = cases
        .iter()
        .filter_map(|c| Some((c["id"].as_str()?, c)))
        .collect();
    let history_differences: Vec<(&str, Option<String>)> = results
        .iter()
        .filter_map(|r| {
            let actual = r.outcome.as_ref().ok()?;
            let difference = history_difference(by_id.get(r.id.as_str())?, actual)?;
            Some((r.id.as_str(), difference))
        })
        .collect();
    let _ = writeln!(
        report,
        "history event types and ids match: {}/{} of the cases run that recorded a history",
        history_differences
            .iter()
            .filter(|(_, d)| d.is_none())
            .count(),
        history_differences.len()
    );
    let previous_differences: Vec<(&str, Option<String>)> = results
        .iter()
        .filter_map(|r| {
            let actual = r.outcome.as_ref().ok()?;
            let difference = previous_id_difference(by_id.get(r.id.as_str())?, actual)?;
            Some((r.id.as_str(), difference))
        })
        .collect();
    let _ = writeln!(
        report,
        "previousEventId match (for information, not compared): {}/{} of the cases with ids recorded",
        previous_differences.iter().filter(|(_, d)| d.is_none()).count(),
        previous_differences.len()
    );
    let logs_differences = logs_differences(&by_id, results);
    let _ = writeln!(
        report,
        "recorded logs match key by key: {}/{} of the cases run that recorded logs",
        logs_differences.iter().filter(|(_, d)| d.is_none()).count(),
        logs_differences.len()
    );

    let mut by_feature: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for result in results {
        for feature in &result.features {
            let entry = by_feature.entry(feature.as_str()).or_default();
            entry.1 += 1;
            if result.verdict.is_ok() {
                entry.0 += 1;
            }
        }
    }
    let width = by_feature
        .keys()
        .map(|f| f.chars().count())
        .max()
        .unwrap_or(7)
        .max(7);
    let _ = writeln!(report, "\n{:<width$}  passed/total", "feature");
    for (feature, (feature_passed, feature_total)) in &by_feature {
        let _ = writeln!(
            report,
            "{feature:<width$}  {:>6}  {:5.1}%",
            format!("{feature_passed}/{feature_total}"),
            percent(*feature_passed, *feature_total)
        );
    }

    let logs_differing: Vec<&(&str, Option<String>)> = logs_differences
        .iter()
        .filter(|(_, d)| d.is_some())
        .collect();
    if !logs_differing.is_empty() {
        let _ = writeln!(report, "\nrecorded logs differ:");
        for (id, difference) in logs_differing {
            let _ = writeln!(report, "{id}\n    {}", difference.as_deref().unwrap_or(""));
        }
    }

    let differing: Vec<&(&str, Option<String>)> = history_differences
        .iter()
        .filter(|(_, d)| d.is_some())
        .collect();
    if !differing.is_empty() {
        let _ = writeln!(report, "\nhistory event types or ids differ:");
        for (id, difference) in differing {
            let _ = writeln!(report, "{id}\n    {}", difference.as_deref().unwrap_or(""));
        }
    }
    let previous_differing: Vec<&(&str, Option<String>)> = previous_differences
        .iter()
        .filter(|(_, d)| d.is_some())
        .collect();
    if !previous_differing.is_empty() {
        let _ = writeln!(report, "\npreviousEventId differs (for information):");
        for (id, difference) in previous_differing {
            let _ = writeln!(report, "{id}\n    {}", difference.as_deref().unwrap_or(""));
        }
    }

    let failures: Vec<&CaseResult> = results.iter().filter(|r| r.verdict.is_err()).collect();
    if failures.is_empty() {
        return;
    }
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for result in &failures {
        if let Err(reason) = &result.verdict {
            *kinds.entry(reason_kind(reason)).or_default() += 1;
        }
    }
    let mut kinds: Vec<(&str, usize)> = kinds.into_iter().collect();
    kinds.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let _ = writeln!(report, "\nfailures by kind:");
    for (kind, count) in kinds {
        let _ = writeln!(report, "  {count:4}  {kind}");
    }

    let _ = writeln!(report, "\nfailing cases ({}):", failures.len());
    for result in &failures {
        let _ = writeln!(report, "{}\n    {}", result.id, reason_of(result));
        if verbose {
            if let Some(case) = by_id.get(result.id.as_str()) {
                write_verbose(report, case, result);
            }
        }
    }
}

fn write_verbose(report: &mut String, case: &Value, result: &CaseResult) {
    let pretty = |value: &Value| serde_json::to_string_pretty(value).unwrap_or_default();
    let indent = |text: String| text.replace('\n', "\n      ");
    let _ = writeln!(report, "    definition: {}", case["definition"]);
    let _ = writeln!(report, "    input: {}", case["input"]);
    let _ = writeln!(
        report,
        "    expected:\n      {}",
        indent(pretty(&case["expect"]))
    );
    if let Some(calls) = case.get("expected_task_parameters") {
        let _ = writeln!(
            report,
            "    expected task calls:\n      {}",
            indent(pretty(calls))
        );
    }
    match &result.outcome {
        Ok(actual) => {
            let actual_json = json!({
                "status": actual.status,
                "output": actual.output,
                "error": actual.error,
                "cause": actual.cause,
            });
            let _ = writeln!(
                report,
                "    actual:\n      {}",
                indent(pretty(&actual_json))
            );
            if !actual.task_calls.is_empty() || case.get("expected_task_parameters").is_some() {
                let calls: Vec<Value> = actual
                    .task_calls
                    .iter()
                    .map(|(state, parameters)| json!({"state": state, "parameters": parameters}))
                    .collect();
                let _ = writeln!(
                    report,
                    "    actual task calls:\n      {}",
                    indent(pretty(&Value::from(calls)))
                );
            }
            if let Some(recorded) = case.get("history").and_then(Value::as_array) {
                let types: Vec<&str> = recorded.iter().filter_map(|e| e["type"].as_str()).collect();
                let _ = writeln!(report, "    recorded history: {}", types.join(", "));
                let _ = writeln!(
                    report,
                    "    actual history:   {}",
                    actual.history_types.join(", ")
                );
            }
        }
        Err(reason) => {
            let _ = writeln!(report, "    could not run: {reason}");
        }
    }
}

fn percent(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

/// The known-failures list: `<case id>  # reason` per line; `#` starts a comment line.
fn read_known_failures() -> BTreeMap<String, String> {
    let path = known_failures_path();
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let mut known = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (id, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let reason = rest.trim().trim_start_matches('#').trim();
        known.insert(id.to_owned(), reason.to_owned());
    }
    known
}

fn write_known_failures(results: &[CaseResult]) {
    let path = known_failures_path();
    let previous = std::fs::read_to_string(&path).unwrap_or_default();
    let mut text: String = previous
        .lines()
        .take_while(|line| line.trim().is_empty() || line.trim_start().starts_with('#'))
        .map(|line| format!("{line}\n"))
        .collect();
    for result in results {
        if let Err(reason) = &result.verdict {
            let one_line = reason.replace(['\n', '\r'], " ");
            let _ = writeln!(text, "{}  # {}", result.id, shorten(&one_line, 200));
        }
    }
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

#[test]
fn a_panicking_or_hanging_case_is_a_failure_not_an_abort() {
    let panicked = isolated(Duration::from_secs(10), || -> Result<(), String> {
        panic!("boom {}", 42)
    });
    let reason = panicked.expect_err("a panic is a failure");
    assert!(
        reason.starts_with("panicked at tests/conformance.rs:"),
        "{reason}"
    );
    assert!(reason.ends_with(": boom 42"), "{reason}");

    let hung = isolated(Duration::from_millis(50), || {
        std::thread::sleep(Duration::from_secs(2));
        Ok(())
    });
    assert!(hung
        .expect_err("a hang is a failure")
        .starts_with("did not finish"));
}
