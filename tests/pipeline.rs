//! The line pipeline (`stepstream run --source stdin --sink stdout`) and the worker pool:
//! one result per event, dead letters with reasons, waits that do not hold workers,
//! backpressure, and a panicking task that fails only its own execution.

use std::io::Cursor;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stepstream::exec::{self, ExecOptions};
use stepstream::json;
use stepstream::json::Value;
use stepstream::logs::sink::{Destination, LogSink, SinkOptions, SinkReport, WhenFull};
use stepstream::logs::{self, LogLevel, LogOptions};
use stepstream::pipeline::{self, LineOptions, Summary};
use stepstream::pool::PoolOptions;
use stepstream::tasks::{Fault, TaskCall, TaskHandler};
use stepstream::{asl, compile};

use crate::util::{self, NoTasks};

/// A workload's definition, input lines and expected entries.
fn workload(name: &str) -> (Value, std::path::PathBuf, Vec<String>, Vec<Value>) {
    let found = util::workloads()
        .into_iter()
        .find(|workload| workload.name == name)
        .expect("the workload exists");
    let definition = json::from_str(&found.definition).expect("workload definitions are JSON");
    let expected = util::workloads_expected()["workloads"][name]
        .as_array()
        .map(|items| items.to_vec())
        .unwrap_or_default();
    (
        definition,
        found.definition_path,
        util::workload_input_lines(),
        expected,
    )
}

fn program(definition: &Value) -> &'static compile::Program {
    let machine = asl::parse_value(definition).expect("test definitions are valid");
    Box::leak(Box::new(compile::compile(&machine)))
}

fn options(workers: usize, max_in_flight: usize, time_scale: f64) -> LineOptions {
    LineOptions {
        pool: PoolOptions {
            workers,
            queue_per_worker: 8,
            execution: ExecOptions {
                time_scale,
                ..ExecOptions::default()
            },
            no_op: false,
            logs: None,
        },
        max_in_flight,
        source_name: "test".into(),
    }
}

/// Runs the pipeline over `input`; returns the summary, output lines and dead letters.
fn run(
    program: &'static compile::Program,
    input: String,
    options: LineOptions,
    tasks: Arc<dyn TaskHandler>,
) -> (Summary, Vec<Value>, Vec<Value>) {
    let mut out = Vec::new();
    let mut dead = Vec::new();
    let summary = pipeline::run_lines(
        Cursor::new(input.into_bytes()),
        &mut out,
        &mut dead,
        program,
        options,
        tasks,
    )
    .expect("the pipeline runs to the end of its input");
    let parse = |bytes: &[u8]| -> Vec<Value> {
        String::from_utf8_lossy(bytes)
            .lines()
            .map(|line| json::from_str(line).expect("each line is JSON"))
            .collect()
    };
    (summary, parse(&out), parse(&dead))
}

#[test]
fn every_event_gets_one_result_and_outputs_match_the_workload() {
    let (definition, _, inputs, expected) = workload("w2-choice-route");
    let program = program(&definition);
    let input: String = inputs.iter().map(|line| format!("{line}\n")).collect();
    let (summary, outputs, dead) = run(program, input, options(2, 64, 0.0), Arc::new(NoTasks));
    assert_eq!(summary.events, inputs.len() as u64);
    assert_eq!(summary.succeeded as usize, outputs.len());
    assert_eq!(
        (summary.failed + summary.rejected + summary.timed_out) as usize,
        dead.len()
    );
    let expected_failures = expected
        .iter()
        .filter(|entry| entry["status"] != "SUCCEEDED")
        .count();
    assert_eq!(dead.len(), expected_failures);
    // Every dead letter names its event, which the workload expects to fail, and carries it.
    for letter in &dead {
        let index = letter["event"]
            .as_u64()
            .expect("dead letters carry the event index") as usize;
        assert_eq!(letter["status"], expected[index]["status"]);
        assert_eq!(letter["execution"], json!(format!("test-0-{index}")));
        if index < 40 {
            let end = util::expected_end(&expected[index]);
            assert_eq!(letter["error"].as_str(), end.error.as_deref());
            assert_eq!(letter["cause"].as_str(), end.cause.as_deref());
        }
        let original: Value =
            json::from_str(letter["input"].as_str().unwrap_or_default()).unwrap_or_default();
        let sent: Value = json::from_str(&inputs[index]).unwrap_or_default();
        assert_eq!(original, sent);
    }
}

#[test]
fn bad_events_become_dead_letters_and_the_stream_goes_on() {
    let program = program(
        &json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"id.$": "$.id"}, "End": true}}}),
    );
    let too_big = format!("{{\"id\": \"{}\"}}", "x".repeat(300));
    let input = format!(
        "{{\"id\": 1}}\nnot json\n\n{{\"no_id\": true}}\n\u{0}\n{too_big}\n{{\"id\": 2}}\n"
    );
    let mut options = options(2, 4, 0.0);
    options.pool.execution.max_payload_bytes = 200;
    let (summary, outputs, dead) = run(program, input, options, Arc::new(NoTasks));
    assert_eq!(
        summary,
        Summary {
            events: 6,
            succeeded: 2,
            failed: 1,
            timed_out: 0,
            rejected: 3
        }
    );
    let mut ids: Vec<Value> = outputs.iter().map(|output| output["id"].clone()).collect();
    ids.sort_by_key(|id| id.as_i64());
    assert_eq!(ids, vec![json!(1), json!(2)]);
    let reasons: Vec<(u64, String, String)> = {
        let mut reasons: Vec<_> = dead
            .iter()
            .map(|letter| {
                (
                    letter["event"].as_u64().unwrap_or(u64::MAX),
                    letter["status"].as_str().unwrap_or_default().to_string(),
                    letter["cause"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        reasons.sort();
        reasons
    };
    assert_eq!(reasons[0].0, 1);
    assert_eq!(reasons[0].1, "REJECTED");
    assert!(reasons[0].2.contains("not valid JSON"), "{reasons:?}");
    assert_eq!((reasons[1].0, reasons[1].1.as_str()), (2, "FAILED"));
    assert!(
        reasons[1].2.contains("could not be found in the input"),
        "{reasons:?}"
    );
    assert_eq!((reasons[2].0, reasons[2].1.as_str()), (3, "REJECTED"));
    assert_eq!((reasons[3].0, reasons[3].1.as_str()), (4, "REJECTED"));
    assert!(reasons[3].2.contains("payload limit"), "{reasons:?}");
}

#[test]
fn waiting_executions_do_not_hold_workers() {
    // 400 executions that each wait 2 s of execution time, at time scale 0.05 (0.1 s real),
    // on one worker: run one after another they would take 40 s.
    let program = program(&json!({"StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": 2, "Next": "P"},
        "P": {"Type": "Pass", "End": true}}}));
    let input: String = (0..400)
        .map(|index| format!("{{\"n\": {index}}}\n"))
        .collect();
    let started = Instant::now();
    let (summary, outputs, _) = run(program, input, options(1, 1_000, 0.05), Arc::new(NoTasks));
    assert_eq!(summary.succeeded, 400);
    assert_eq!(outputs.len(), 400);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn max_in_flight_bounds_concurrent_executions() {
    // Each execution waits 1 s (0.02 s real); with at most 5 in flight, 50 events need at
    // least 10 rounds.
    let program = program(
        &json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 1, "End": true}}}),
    );
    let input: String = (0..50)
        .map(|index| format!("{{\"n\": {index}}}\n"))
        .collect();
    let started = Instant::now();
    let (summary, _, _) = run(program, input, options(2, 5, 0.02), Arc::new(NoTasks));
    assert_eq!(summary.succeeded, 50);
    assert!(
        started.elapsed() >= Duration::from_millis(180),
        "took only {:?}",
        started.elapsed()
    );
}

/// A handler that panics for odd inputs and counts its calls.
struct Panicky {
    calls: AtomicUsize,
}

impl TaskHandler for Panicky {
    fn invoke(&self, call: &TaskCall<'_>) -> Option<Result<Value, Fault>> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let n = call.parameters["n"].as_i64().unwrap_or_default();
        if n % 2 == 1 {
            panic!("boom on {n}");
        }
        Some(Ok(json!({"doubled": n * 2})))
    }
}

#[test]
fn a_panic_fails_its_execution_not_the_worker() {
    let program = program(&json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:f", "End": true}}}));
    let input: String = (0..20)
        .map(|index| format!("{{\"n\": {index}}}\n"))
        .collect();
    let handler = Arc::new(Panicky {
        calls: AtomicUsize::new(0),
    });
    let (summary, outputs, dead) = run(program, input, options(1, 100, 0.0), handler.clone());
    assert_eq!(
        summary,
        Summary {
            events: 20,
            succeeded: 10,
            failed: 10,
            timed_out: 0,
            rejected: 0
        }
    );
    assert_eq!(handler.calls.load(Ordering::Relaxed), 20);
    assert!(outputs
        .iter()
        .all(|output| output["doubled"].as_i64().is_some_and(|n| n % 4 == 0)));
    assert!(
        dead.iter().all(|letter| letter["cause"]
            .as_str()
            .is_some_and(|cause| cause.contains("boom on"))),
        "{dead:?}"
    );
}

#[test]
fn the_binary_runs_the_line_pipeline() {
    let (_, path, inputs, expected) = workload("w1-pass-chain");
    let input: String = inputs
        .iter()
        .take(40)
        .map(|line| format!("{line}\n"))
        .collect();
    let path = path.to_string_lossy().into_owned();
    let run = util::stepstream_with_input(["run", path.as_str(), "--time-scale", "0"], &input);
    run.assert_code(0).assert_no_panic();
    let mut outputs: Vec<Value> = run
        .stdout
        .lines()
        .map(|line| json::from_str(line).expect("JSON line"))
        .collect();
    let mut expected: Vec<Value> = expected
        .iter()
        .take(40)
        .map(|entry| entry["output"].clone())
        .collect();
    let key = |value: &Value| value["out"]["id"].as_str().unwrap_or_default().to_string();
    outputs.sort_by_key(key);
    expected.sort_by_key(key);
    assert_eq!(outputs, expected);
    assert!(run.stderr.contains("40 events"), "{}", run.stderr);
}

#[test]
fn no_op_mode_hands_each_payload_back_without_running_the_machine() {
    // The machine would fail every event; in no-op mode none runs.
    let program =
        program(&json!({"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Never"}}}));
    let input: String = (0..50)
        .map(|index| format!("{{\"n\": {index}}}\n"))
        .collect();
    let mut options = options(2, 10, 0.0);
    options.pool.no_op = true;
    let (summary, outputs, dead) = run(program, input, options, Arc::new(NoTasks));
    assert_eq!(summary.succeeded, 50);
    assert!(dead.is_empty());
    let mut numbers: Vec<i64> = outputs
        .iter()
        .filter_map(|output| output["n"].as_i64())
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (0..50).collect::<Vec<i64>>());
}

/// The pool parses only the fields W1 reads; an event whose error quotes the whole input is
/// run again on all of it, so its dead letter's cause shows the left-out fields too.
#[test]
fn projected_inputs_give_the_same_results() {
    let (definition, _, inputs, expected) = workload("w1-pass-chain");
    let program = program(&definition);
    assert!(program.input_fields.is_some());
    let mut input: String = inputs
        .iter()
        .take(40)
        .map(|line| format!("{line}\n"))
        .collect();
    input.push_str("{\"id\":\"x\",\"items\":[1,2],\"source\":\"s\"}\n");
    let (summary, outputs, dead) = run(program, input, options(2, 64, 0.0), Arc::new(NoTasks));
    assert_eq!(summary.succeeded, 40);
    // Outputs come in the order executions finish.
    let mut got: Vec<String> = outputs.iter().map(json::to_string).collect();
    let mut want: Vec<String> = expected[..40]
        .iter()
        .map(|entry| json::to_string(&util::expected_end(entry).output.unwrap_or_default()))
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(dead.len(), 1);
    let cause = dead[0]["cause"].as_str().unwrap_or_default();
    assert!(
        cause.ends_with(
            r#"could not be found in the input '{"id":"x","items":[1,2],"source":"s"}'"#
        ),
        "{cause}"
    );
}

/// What [`run_logged`] gives: the outputs, the dead letters, and the records, each with the
/// index of its event (from the execution name in its ARN).
type Logged = (Vec<Value>, Vec<Value>, Vec<(usize, Value)>, SinkReport);

/// Runs the line pipeline with a log sink writing to a file.
fn run_logged(
    program: &'static compile::Program,
    inputs: &[String],
    records: LogOptions,
    workers: usize,
) -> Logged {
    let dir = util::temp_dir("pipeline-logs");
    let path = dir.join("records.jsonl");
    let sink = LogSink::start(&SinkOptions {
        records,
        destination: Destination::File(path.clone()),
        when_full: WhenFull::Block,
        batch_bytes: 4096,
        buffer_bytes: 16384,
        rotation: None,
    })
    .expect("the sink starts");
    let mut options = options(workers, 64, 0.0);
    options.pool.logs = Some(sink.handle());
    let input: String = inputs.iter().map(|line| format!("{line}\n")).collect();
    let (summary, outputs, dead) = run(program, input, options, Arc::new(NoTasks));
    assert_eq!(summary.events, inputs.len() as u64);
    let report = sink.close();
    let records: Vec<(usize, Value)> = util::read_text(&path)
        .lines()
        .map(|line| {
            let record: Value = json::from_str(line).expect("each record is a JSON line");
            let arn = record["execution_arn"].as_str().unwrap_or_default();
            let name = arn.split(':').nth(7).unwrap_or_default();
            let index = name.strip_prefix("test-0-").and_then(|n| n.parse().ok());
            (index.expect("the ARN names the execution"), record)
        })
        .collect();
    assert_eq!(report.written, records.len() as u64);
    assert_eq!((report.dropped, report.failed), (0, 0));
    (outputs, dead, records, report)
}

/// W1 folds to one template; at ERROR its executions, which succeed, log nothing, so the
/// pool takes the template (the same outputs); at ALL each logs its twelve records.
#[test]
fn folded_executions_log_what_the_interpreter_would() {
    let (definition, _, inputs, expected) = workload("w1-pass-chain");
    let program = program(&definition);
    let folded = program.folded.as_ref().expect("W1 folds");
    assert!(!folded.logs_at(LogLevel::Error) && !folded.logs_at(LogLevel::Fatal));
    assert!(folded.logs_at(LogLevel::All));
    let inputs = &inputs[..40];
    let want: Vec<String> = expected[..40]
        .iter()
        .map(|entry| json::to_string(&util::expected_end(entry).output.unwrap_or_default()))
        .collect();
    for (level, per_execution) in [(LogLevel::Error, 0), (LogLevel::All, 12)] {
        let log_options = LogOptions {
            level,
            include_execution_data: true,
        };
        let (outputs, dead, records, _) = run_logged(program, inputs, log_options, 2);
        assert!(dead.is_empty());
        let mut got: Vec<String> = outputs.iter().map(json::to_string).collect();
        let mut want = want.clone();
        got.sort();
        want.sort();
        assert_eq!(got, want, "{level:?}");
        assert_eq!(records.len(), per_execution * inputs.len(), "{level:?}");
    }
}

/// At ERROR, W2's rejected events (a Fail state) log FailStateEntered and ExecutionFailed and
/// the others log nothing. W2's inputs are projected; a projected execution that logs runs
/// again on its whole input, so the records show every field of the event.
#[test]
fn error_level_records_come_from_failed_executions_only() {
    let (definition, _, inputs, _) = workload("w2-choice-route");
    let program = program(&definition);
    assert!(program.input_fields.is_some());
    let records = LogOptions {
        level: LogLevel::Error,
        include_execution_data: true,
    };
    let (_, dead, records, _) = run_logged(program, &inputs, records, 2);
    assert!(!dead.is_empty());
    let mut failed: Vec<usize> = dead
        .iter()
        .map(|letter| letter["event"].as_u64().unwrap_or(u64::MAX) as usize)
        .collect();
    failed.sort_unstable();
    let mut logged: Vec<usize> = records.iter().map(|(index, _)| *index).collect();
    logged.sort_unstable();
    logged.dedup();
    assert_eq!(logged, failed);
    for index in failed {
        let of_event: Vec<&Value> = records
            .iter()
            .filter(|(logged, _)| *logged == index)
            .map(|(_, record)| record)
            .collect();
        let types: Vec<&str> = of_event
            .iter()
            .map(|record| record["type"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(types, ["FailStateEntered", "ExecutionFailed"]);
        let entered = of_event[0];
        let input: Value =
            json::from_str(entered["details"]["input"].as_str().unwrap_or_default()).unwrap();
        let event: Value = json::from_str(&inputs[index]).unwrap();
        assert_eq!(input, event, "the record shows the whole event");
        assert_eq!(of_event[1]["details"]["error"], "Route.Rejected");
        assert_eq!(of_event[1]["previous_event_id"], entered["id"]);
    }
}

/// At ALL, each execution's records are those `stepstream exec --logs` gives for its event
/// (timestamps aside).
#[test]
fn all_level_records_match_a_single_execution() {
    let (definition, _, inputs, _) = workload("w5-retry-catch");
    let program = program(&definition);
    let inputs = &inputs[..30];
    let log_options = LogOptions {
        level: LogLevel::All,
        include_execution_data: false,
    };
    let tasks = NoTasks;
    let (_, _, records, _) = run_logged(program, inputs, log_options, 3);
    for (index, input) in inputs.iter().enumerate() {
        let options = ExecOptions {
            name: format!("test-0-{index}"),
            time_scale: 0.0,
            record_history: true,
            ..ExecOptions::default()
        };
        let result = exec::run_json(program, input.as_bytes(), &options, &tasks).unwrap();
        let without_time = |record: &Value| {
            let mut record = record.clone();
            record["event_timestamp"] = Value::Null;
            record["execution_arn"] = Value::Null;
            record
        };
        let expected: Vec<Value> = result
            .history
            .iter()
            .filter_map(|event| logs::record(event, "", &log_options))
            .map(|text| without_time(&json::from_str(&text).unwrap()))
            .collect();
        let got: Vec<Value> = records
            .iter()
            .filter(|(logged, _)| *logged == index)
            .map(|(_, record)| without_time(record))
            .collect();
        assert!(!got.is_empty());
        assert_eq!(got, expected, "event {index}");
    }
}

/// `run --log-level --log-file` over standard input: results on stdout, records in the file,
/// the count on stderr. Records cannot share stdout with the results.
#[test]
fn the_binary_writes_log_records_to_a_file() {
    let (_, path, inputs, expected) = workload("w2-choice-route");
    let input: String = inputs.iter().map(|line| format!("{line}\n")).collect();
    let dir = util::temp_dir("pipeline-log-file");
    let log_file = dir.join("records.jsonl");
    let path = path.to_string_lossy().into_owned();
    let log_path = log_file.to_string_lossy().into_owned();
    let args = [
        "run",
        path.as_str(),
        "--time-scale",
        "0",
        "--log-level",
        "fatal",
        "--log-file",
        log_path.as_str(),
    ];
    let run = util::stepstream_with_input(args, &input);
    run.assert_code(0).assert_no_panic();
    let failed = expected
        .iter()
        .filter(|entry| entry["status"] == "FAILED")
        .count();
    assert!(failed > 0);
    assert_eq!(run.stdout.lines().count(), inputs.len() - failed);
    let records: Vec<Value> = util::read_text(&log_file)
        .lines()
        .map(|line| json::from_str(line).expect("JSON line"))
        .collect();
    assert_eq!(
        records.len(),
        failed,
        "FATAL: one ExecutionFailed per failure"
    );
    assert!(records
        .iter()
        .all(|record| record["type"] == "ExecutionFailed"));
    assert!(
        run.stderr
            .contains(&format!("{failed} log records written, 0 dropped")),
        "{}",
        run.stderr
    );

    let refused =
        util::stepstream_with_input(["run", path.as_str(), "--log-level", "ERROR"], "{}\n");
    refused
        .assert_code(2)
        .assert_output_contains("standard output carries the results");
}

/// A source of one line of `length` bytes of `{` without a line break until its end, then
/// `rest`: a line far over the payload limit, generated rather than held in memory.
struct LongLine {
    left: usize,
    rest: Cursor<Vec<u8>>,
}

impl std::io::Read for LongLine {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return self.rest.read(buffer);
        }
        let n = buffer.len().min(self.left);
        buffer[..n].fill(b'{');
        self.left -= n;
        Ok(n)
    }
}

#[test]
fn a_line_over_the_payload_limit_is_refused_without_being_held_whole() {
    let program = program(
        &json::from_str(r#"{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}"#)
            .unwrap(),
    );
    let mut options = options(1, 4, 0.0);
    let limit = 1_000;
    options.pool.execution.max_payload_bytes = limit;
    let fits = format!("{{\"s\":\"{}\"}}", "x".repeat(limit - 8));
    assert_eq!(fits.len(), limit);
    // 200 MB in one line; held whole, it would take that much memory.
    let long = 200_000_000;
    let input = LongLine {
        left: long,
        rest: Cursor::new(
            format!(
                "\n{fits}   \n{{\"after\":1}}\n{fits}{}\n",
                " ".repeat(5_000)
            )
            .into_bytes(),
        ),
    };
    let mut out = Vec::new();
    let mut dead = Vec::new();
    let summary = pipeline::run_lines(
        input,
        &mut out,
        &mut dead,
        program,
        options,
        Arc::new(NoTasks),
    )
    .expect("the pipeline runs to the end of its input");
    assert_eq!(
        (summary.events, summary.succeeded, summary.rejected),
        (4, 3, 1)
    );
    let letter: Value = json::from_slice(dead.strip_suffix(b"\n").unwrap()).unwrap();
    assert_eq!(letter["event"], 0);
    assert_eq!(letter["status"], "REJECTED");
    assert_eq!(
        letter["cause"],
        format!(
            "the line has {} bytes, more than the payload limit of {limit} bytes",
            long + 1
        )
        .as_str()
    );
    assert_eq!(
        letter["input"].as_str().map(str::len),
        Some(limit),
        "the dead letter carries the line's head"
    );
    let outputs: Vec<&str> = std::str::from_utf8(&out).unwrap().lines().collect();
    // A line at the limit, with any amount of whitespace around it, still runs.
    assert_eq!(outputs, [fits.as_str(), r#"{"after":1}"#, fits.as_str()]);
}
