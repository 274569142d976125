//! Poison and hostile input, one test per class: each event ends as a dead letter with a
//! reason or as a FAILED execution with a `States.*` error, within a bounded time, and the
//! workers go on to run the next event. The classes run through the worker pool (the part of
//! the stage that parses and runs events) and, together, through the `stepstream run` binary,
//! whose process must survive them. Runaway JSONata expressions run through
//! `stepstream::jsonata` directly (JSONata is not yet wired into ASL states).
//!
//! A panic inside one execution failing only that execution is
//! `pipeline::a_panic_fails_its_execution_not_the_worker`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use stepstream::exec::ExecOptions;
use stepstream::json;
use stepstream::json::Value;
use stepstream::jsonata::{self, Bindings, Limits};
use stepstream::pool::{Finished, Job, Pool, PoolOptions, Verdict};
use stepstream::vm::Status;
use stepstream::{asl, compile};

use crate::util::{self, NoTasks};

/// The longest any one hostile event may take in these tests.
const PATIENCE: Duration = Duration::from_secs(120);

fn program(definition: &Value) -> &'static compile::Program {
    let machine = asl::parse_value(definition).expect("test definitions are valid");
    Box::leak(Box::new(compile::compile(&machine)))
}

/// A machine that wraps its input: `{"input": $}`.
fn wrap() -> &'static compile::Program {
    program(&json!({"StartAt": "Wrap", "States": {
        "Wrap": {"Type": "Pass", "Parameters": {"input.$": "$"}, "End": true}}}))
}

/// Runs each payload as one job through a pool of two workers and returns the results in
/// payload order; fails the test if any result takes longer than [`PATIENCE`] (a stall).
fn run_jobs(
    program: &'static compile::Program,
    max_payload_bytes: usize,
    payloads: Vec<Vec<u8>>,
) -> Vec<Finished> {
    let options = PoolOptions {
        workers: 2,
        queue_per_worker: 4,
        execution: ExecOptions {
            time_scale: 0.0,
            max_payload_bytes,
            ..ExecOptions::default()
        },
        no_op: false,
        logs: None,
    };
    let mut pool = Pool::start(program, options, Arc::new(NoTasks));
    let count = payloads.len();
    let jobs = payloads
        .into_iter()
        .enumerate()
        .map(|(index, payload)| Job {
            id: index as u64,
            name: format!("hostile-0-{index}"),
            payload,
        })
        .collect();
    pool.submit(jobs);
    let mut results: Vec<Option<Finished>> = vec![None; count];
    for _ in 0..count {
        let finished = pool.results().recv_timeout(PATIENCE).unwrap_or_else(|_| {
            panic!("a job got no result within {PATIENCE:?}: the pool stalled")
        });
        let index = finished.id as usize;
        results[index] = Some(finished);
    }
    drop(pool.close());
    results
        .into_iter()
        .map(|result| result.expect("one result per job"))
        .collect()
}

/// Asserts that `finished` is a dead letter whose reason contains `reason`.
fn assert_rejected(label: &str, finished: &Finished, reason: &str) {
    match &finished.verdict {
        Verdict::Rejected { reason: got } => assert!(
            got.contains(reason),
            "{label}: the reason {got:?} should say {reason:?}"
        ),
        other => panic!("{label}: expected a dead letter saying {reason:?}, got {other:?}"),
    }
}

/// Asserts that `finished` is a FAILED execution with `error`.
fn assert_failed(label: &str, finished: &Finished, error: &str) {
    match &finished.verdict {
        Verdict::Failed {
            status: Status::Failed,
            error: Some(got),
            cause,
        } => assert_eq!(got, error, "{label}: cause {cause:?}"),
        other => panic!(
            "{label}: expected FAILED with {error}, got {}",
            describe(other)
        ),
    }
}

fn assert_succeeded(label: &str, finished: &Finished) -> Value {
    match &finished.verdict {
        Verdict::Succeeded { output } => {
            json::from_slice(output).unwrap_or_else(|err| panic!("{label}: output not JSON: {err}"))
        }
        other => panic!("{label}: expected success, got {}", describe(other)),
    }
}

/// A verdict, cut short: outputs can be megabytes.
fn describe(verdict: &Verdict) -> String {
    util::shorten(&format!("{verdict:?}"), 400)
}

/// `[[[…0…]]]` or `{"a":{"a":…0…}}` as text, `depth` containers deep.
fn deep_text(depth: usize, objects: bool) -> Vec<u8> {
    if objects {
        format!("{}0{}", "{\"a\":".repeat(depth), "}".repeat(depth)).into_bytes()
    } else {
        format!("{}0{}", "[".repeat(depth), "]".repeat(depth)).into_bytes()
    }
}

/// The text of an array of `count` small numbers.
fn big_array_text(count: usize) -> Vec<u8> {
    let mut text = Vec::with_capacity(count * 4);
    text.push(b'[');
    for index in 0..count {
        if index > 0 {
            text.push(b',');
        }
        text.extend_from_slice((index % 1000).to_string().as_bytes());
    }
    text.push(b']');
    text
}

#[test]
fn invalid_json_becomes_a_dead_letter_with_the_parse_error() {
    let cases: [(&str, &[u8], &str); 8] = [
        (
            "plain text",
            b"not json",
            "expected ident at line 1 column 2",
        ),
        (
            "truncated object",
            br#"{"id": 2"#,
            "EOF while parsing an object",
        ),
        ("trailing comma", br#"{"a":1,}"#, "trailing comma"),
        ("two values", b"{} {}", "trailing characters"),
        ("a lone surrogate escape", br#""\ud800""#, "hex escape"),
        ("NaN", b"NaN", "expected value"),
        (
            "a control character in a string",
            b"\"a\x01b\"",
            "control character",
        ),
        (
            "a key that is not a string",
            b"{1: 2}",
            "key must be a string",
        ),
    ];
    let mut payloads: Vec<Vec<u8>> = cases.iter().map(|(_, bytes, _)| bytes.to_vec()).collect();
    payloads.push(br#"{"after": true}"#.to_vec());
    let results = run_jobs(wrap(), 262_144, payloads);
    for ((label, bytes, reason), finished) in cases.iter().zip(&results) {
        assert_rejected(label, finished, "the event is not valid JSON");
        assert_rejected(label, finished, reason);
        assert_eq!(
            &finished.payload, bytes,
            "{label}: the dead letter carries the event"
        );
    }
    let output = assert_succeeded("the event after", &results[cases.len()]);
    assert_eq!(output, json!({"input": {"after": true}}));
}

#[test]
fn invalid_utf8_becomes_a_dead_letter() {
    let cases: [(&str, &[u8]); 5] = [
        ("bytes that are no text", b"\xff\xfe\xfd"),
        ("a bad sequence inside a string", b"{\"text\":\"\xc3\x28\"}"),
        ("an overlong encoding", b"\"\xc0\xaf\""),
        ("an encoded surrogate", b"\"\xed\xa0\x80\""),
        ("a truncated sequence at the end", b"\"\xe2\x82"),
    ];
    let mut payloads: Vec<Vec<u8>> = cases.iter().map(|(_, bytes)| bytes.to_vec()).collect();
    payloads.push(br#""fine""#.to_vec());
    let results = run_jobs(wrap(), 262_144, payloads);
    for ((label, bytes), finished) in cases.iter().zip(&results) {
        assert_rejected(label, finished, "the event is not valid JSON");
        assert_eq!(
            &finished.payload, bytes,
            "{label}: the dead letter carries the event"
        );
    }
    assert_eq!(
        assert_succeeded("the event after", &results[cases.len()]),
        json!({"input": "fine"})
    );
}

#[test]
fn an_empty_event_becomes_a_dead_letter() {
    let cases: [(&str, &[u8]); 4] = [
        ("no bytes", b""),
        ("only spaces", b"   "),
        ("only a line break", b"\n"),
        ("a NUL byte", b"\0"),
    ];
    let results = run_jobs(
        wrap(),
        262_144,
        cases.iter().map(|(_, bytes)| bytes.to_vec()).collect(),
    );
    for ((label, _), finished) in cases.iter().zip(&results) {
        assert_rejected(label, finished, "the event is not valid JSON");
    }
}

#[test]
fn an_event_over_the_payload_limit_is_rejected_unparsed() {
    const LIMIT: usize = 10_000;
    // `{"s":"…"}` is 8 bytes around the string.
    let at_limit = format!(r#"{{"s":"{}"}}"#, "x".repeat(LIMIT - 8 - 2)).into_bytes();
    assert_eq!(at_limit.len(), LIMIT - 2);
    let over = format!(r#"{{"s":"{}"}}"#, "x".repeat(LIMIT)).into_bytes();
    // Far over the limit and not even JSON: the size is checked first, nothing is parsed.
    let huge_garbage = vec![b'{'; 20_000_000];
    let results = run_jobs(
        program(&json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}})),
        LIMIT,
        vec![at_limit.clone(), over.clone(), huge_garbage],
    );
    assert_eq!(
        assert_succeeded("at the limit", &results[0]),
        json::from_slice(&at_limit).expect("JSON")
    );
    assert_rejected(
        "over the limit",
        &results[1],
        &format!(
            "the event has {} bytes, more than the payload limit of {LIMIT} bytes",
            over.len()
        ),
    );
    assert_rejected(
        "20 MB of garbage",
        &results[2],
        "the event has 20000000 bytes",
    );
}

#[test]
fn deeply_nested_json_is_refused_by_the_parser() {
    let cases = [
        ("100,000 nested arrays", deep_text(100_000, false)),
        ("100,000 nested objects", deep_text(100_000, true)),
        ("128 nested arrays", deep_text(128, false)),
        ("unclosed nesting, 1,000,000 deep", vec![b'['; 1_000_000]),
    ];
    let started = Instant::now();
    let mut payloads: Vec<Vec<u8>> = cases.iter().map(|(_, bytes)| bytes.clone()).collect();
    // Nearly as deep as the parser goes (127), so that the output, one level deeper, can be
    // read back here.
    payloads.push(deep_text(126, false));
    let results = run_jobs(wrap(), 4 << 20, payloads);
    for ((label, _), finished) in cases.iter().zip(&results) {
        assert_rejected(label, finished, "recursion limit exceeded");
    }
    let output = assert_succeeded("126 nested arrays", &results[cases.len()]);
    assert!(output["input"].is_array());
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

/// A machine that wraps `$.deep` in one more array each time round a loop, until `$.n`
/// reaches `$.rounds`: the nesting the parser refuses at the door, built inside the execution.
fn nesting_loop() -> &'static compile::Program {
    program(&json!({"StartAt": "Wrap", "States": {
        "Wrap": {"Type": "Pass", "Parameters": {
            "n.$": "States.MathAdd($.n, 1)",
            "rounds.$": "$.rounds",
            "deep.$": "States.Array($.deep)"}, "Next": "Again"},
        "Again": {"Type": "Choice", "Choices": [
            {"Variable": "$.n", "NumericLessThanPath": "$.rounds", "Next": "Wrap"}], "Default": "Done"},
        "Done": {"Type": "Pass", "End": true}}}))
}

#[test]
fn nesting_built_inside_an_execution_is_printed_dropped_and_limited() {
    let started = Instant::now();
    let results = run_jobs(
        nesting_loop(),
        262_144,
        vec![
            // 10,000 levels: the output is measured, printed and dropped at that depth.
            br#"{"n": 0, "rounds": 10000, "deep": 0}"#.to_vec(),
            // 100,000 levels would still be within the payload limit (200 kB): the depth limit
            // ends it.
            br#"{"n": 0, "rounds": 100000, "deep": 0}"#.to_vec(),
            // Unbounded.
            br#"{"n": 0, "rounds": 100000000, "deep": 0}"#.to_vec(),
        ],
    );
    let Verdict::Succeeded { output } = &results[0].verdict else {
        panic!("10,000 rounds: {}", describe(&results[0].verdict));
    };
    // The test's own parser refuses that depth; count the brackets instead.
    let depth = output.iter().filter(|&&byte| byte == b'[').count();
    assert_eq!(depth, 10_000);
    assert_eq!(
        output.len(),
        20_035,
        "{}",
        String::from_utf8_lossy(&output[..60])
    );
    for (label, finished) in [("100,000 rounds", &results[1]), ("unbounded", &results[2])] {
        assert_failed(label, finished, "States.Runtime");
        let Verdict::Failed { cause, .. } = &finished.verdict else {
            unreachable!()
        };
        assert!(
            cause
                .as_deref()
                .is_some_and(|cause| cause.contains("nested more than 16384 levels deep")),
            "{label}: {cause:?}"
        );
    }
    assert!(started.elapsed() < PATIENCE, "{:?}", started.elapsed());
}

#[test]
fn a_map_over_a_million_items_ends() {
    let map = program(&json!({"StartAt": "Each", "States": {
        "Each": {"Type": "Map", "MaxConcurrency": 0, "End": true,
            "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}}}}));
    let items = big_array_text(1_000_000);
    assert!(items.len() > 3_000_000);
    let started = Instant::now();
    let results = run_jobs(map, 8 << 20, vec![items.clone()]);
    let took = started.elapsed();
    let output = assert_succeeded("1,000,000 items", &results[0]);
    assert_eq!(output.as_array().map(|items| items.len()), Some(1_000_000));
    assert_eq!(output[999_999], json!(999));
    // At the default limit the same event is a dead letter at once.
    let results = run_jobs(map, 262_144, vec![items]);
    assert_rejected(
        "1,000,000 items at the default limit",
        &results[0],
        "payload limit",
    );
    eprintln!("a_map_over_a_million_items_ends: {took:?}");
}

#[test]
fn intrinsics_that_would_blow_up_fail_the_execution() {
    let pass = |parameters: Value| {
        program(&json!({"StartAt": "P", "States": {
            "P": {"Type": "Pass", "Parameters": parameters, "End": true}}}))
    };
    let long = "ab,".repeat(80_000);
    let cases: Vec<(&str, &'static compile::Program, Value, Result<(), &str>)> = vec![
        (
            "ArrayRange of a billion items",
            pass(json!({"r.$": "States.ArrayRange(1, 1000000000, 1)"})),
            json!({}),
            Err("States.Runtime"),
        ),
        (
            "ArrayRange from a path, i32 bounds",
            pass(json!({"r.$": "States.ArrayRange($.a, $.b, $.c)"})),
            json!({"a": -2_147_483_648_i64, "b": 2_147_483_647, "c": 1}),
            Err("States.Runtime"),
        ),
        (
            "StringSplit of 240 kB into 160,000 parts",
            pass(json!({"r.$": "States.StringSplit($.s, ',')"})),
            json!({"s": long}),
            Err("States.DataLimitExceeded"),
        ),
        (
            "StringSplit of 240 kB on every character",
            pass(json!({"r.$": "States.ArrayLength(States.StringSplit($.s, 'ab,'))"})),
            json!({"s": long}),
            Ok(()),
        ),
        (
            "Hash of 240 kB",
            pass(json!({"r.$": "States.Hash($.s, 'SHA-512')"})),
            json!({"s": long}),
            Err("States.Runtime"),
        ),
        (
            "Base64Encode of 240 kB",
            pass(json!({"r.$": "States.Base64Encode($.s)"})),
            json!({"s": long}),
            Err("States.Runtime"),
        ),
        (
            "ArrayUnique of 30,000 distinct items",
            pass(json!({"r.$": "States.ArrayLength(States.ArrayUnique($.a))"})),
            json!({"a": (0..30_000).collect::<Vec<u32>>()}),
            Ok(()),
        ),
        (
            "ArrayPartition of 30,000 items into ones",
            pass(json!({"r.$": "States.ArrayLength(States.ArrayPartition($.a, 1))"})),
            json!({"a": (0..30_000).collect::<Vec<u32>>()}),
            Ok(()),
        ),
        (
            "ArrayContains in 30,000 items",
            pass(json!({"r.$": "States.ArrayContains($.a, -1)"})),
            json!({"a": (0..30_000).collect::<Vec<u32>>()}),
            Ok(()),
        ),
        (
            "JsonMerge of two wide objects",
            pass(json!({"r.$": "States.JsonMerge($.a, $.a, false)"})),
            json!({"a": (0..10_000).map(|i| (format!("k{i}"), json!(i))).collect::<json::Map>()}),
            Ok(()),
        ),
        (
            "Format of 10,000 placeholders",
            pass(json!({"r.$": "States.Format($.f, $.a)"})),
            json!({"f": "{}".repeat(10_000), "a": 1}),
            Err("States.Runtime"),
        ),
        (
            "StringToJson of 100,000 nested arrays",
            pass(json!({"r.$": "States.StringToJson($.s)"})),
            json!({"s": String::from_utf8(deep_text(100_000, false)).expect("text")}),
            Err("States.Runtime"),
        ),
        (
            "JsonToString of a 240 kB value, escaped past the limit",
            pass(json!({"r.$": "States.JsonToString($)"})),
            json!({"s": "\"".repeat(120_000)}),
            Err("States.DataLimitExceeded"),
        ),
    ];
    for (label, program, input, expected) in cases {
        let started = Instant::now();
        let results = run_jobs(program, 262_144, vec![json::to_vec(&input)]);
        match expected {
            Ok(()) => {
                assert_succeeded(label, &results[0]);
            }
            Err(error) => assert_failed(label, &results[0], error),
        }
        eprintln!("{label}: {:?}", started.elapsed());
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{label} took {:?}",
            started.elapsed()
        );
    }
}

/// Expressions that would run away, through the JSONata engine with its default limits (a
/// megabyte of stack, ten seconds, a depth of 1000), on a thread with a worker's stack.
#[test]
fn runaway_jsonata_expressions_end_in_errors() {
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(runaway_jsonata)
        .expect("a thread")
        .join()
        .expect("no panic");
}

fn runaway_jsonata() {
    // As deep as a value inside an execution can be.
    let deep_input = {
        let mut value = json!(0);
        for _ in 0..stepstream::vm::MAX_VALUE_DEPTH {
            value = Value::from(vec![value]);
        }
        value
    };
    let nested_parens = format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000));
    let nested_arrays = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
    let cases: Vec<(&str, String, Value, Result<Value, &str>)> = vec![
        (
            "unbounded recursion",
            "($f := function($x) { $f($x + 1) }; $f(0))".into(),
            json!(null),
            Err("U1001"),
        ),
        (
            "mutual recursion",
            "($a := function($x) { $b($x) }; $b := function($x) { $a($x) }; $a(1))".into(),
            json!(null),
            Err("U1001"),
        ),
        (
            "a range of 100,000,000",
            "[1..100000000]".into(),
            json!(null),
            Err("D2014"),
        ),
        (
            "a sum over a range of 100,000,000",
            "$sum([1..100000000])".into(),
            json!(null),
            Err("D2014"),
        ),
        (
            "100,000 nested parentheses",
            nested_parens,
            json!(null),
            Err("U1001"),
        ),
        (
            "100,000 nested array constructors",
            nested_arrays,
            json!(null),
            Err("U1001"),
        ),
        (
            "a string doubled until it is huge",
            "($f := function($s, $n) { $n = 0 ? $s : $f($s & $s, $n - 1) }; $f('x', 40))".into(),
            json!(null),
            Err("D"),
        ),
        (
            "padding to a billion characters",
            "$pad('x', 1000000000)".into(),
            json!(null),
            Err("D"),
        ),
        (
            // Found by fuzzing: one "M" per thousand, 2e20 of them.
            "Roman numerals of 2e23",
            "$formatInteger(2e+23, 'I')".into(),
            json!(null),
            Err("D2014"),
        ),
        (
            // Found by fuzzing: a component padded to 200 million characters.
            "a date picture with a width of 201,216,617",
            "$length($fromMillis(1521801216617, '[M1,201216617]'))".into(),
            json!(null),
            Ok(json!(10_000_000)),
        ),
        (
            "an endless loop by recursion in a map",
            "($f := function($x) { [1..10].$f($x) }; $f(0))".into(),
            json!(null),
            Err("U1001"),
        ),
        (
            "string of a 16,384-deep input",
            "$string($)".into(),
            deep_input.clone(),
            Ok(json!(format!(
                "{}0{}",
                "[".repeat(16_384),
                "]".repeat(16_384)
            ))),
        ),
        (
            "a path into a 16,384-deep input",
            "$count($)".into(),
            deep_input,
            Ok(json!(1)),
        ),
    ];
    let limits = Limits::default();
    for (label, source, input, expected) in cases {
        eprintln!("jsonata: {label}");
        let started = Instant::now();
        let outcome = jsonata::compile(&source).and_then(|expression| {
            expression.evaluate_with_limits(Some(&input), &Bindings::new(), &limits)
        });
        let took = started.elapsed();
        match (&outcome, &expected) {
            (Err(error), Err(code)) => assert!(
                error.code.starts_with(code),
                "{label}: expected {code}…, got {error:?}"
            ),
            (Ok(value), Ok(want)) => assert_eq!(value.as_ref(), Some(want), "{label}"),
            _ => panic!(
                "{label}: expected {expected:?}, got {}",
                util::shorten(&format!("{outcome:?}"), 300)
            ),
        }
        assert!(took < Duration::from_secs(15), "{label} took {took:?}");
    }
}

/// Every class at once through the `stepstream run` binary: the process survives them all,
/// gives every line one result (an output on stdout or a dead letter on stderr) and exits 0.
#[test]
fn the_binary_survives_every_class_of_hostile_event() {
    let dir = util::temp_dir("hostile-binary");
    let definition = json!({"StartAt": "Route", "States": {
        "Route": {"Type": "Choice", "Choices": [
            {"Variable": "$.rounds", "IsPresent": true, "Next": "Wrap"},
            {"Variable": "$.range", "IsPresent": true, "Next": "Range"}], "Default": "Echo"},
        "Wrap": {"Type": "Pass", "Parameters": {
            "n.$": "States.MathAdd($.n, 1)",
            "rounds.$": "$.rounds",
            "deep.$": "States.Array($.deep)"}, "Next": "Again"},
        "Again": {"Type": "Choice", "Choices": [
            {"Variable": "$.n", "NumericLessThanPath": "$.rounds", "Next": "Wrap"}], "Default": "Done"},
        "Range": {"Type": "Pass", "Parameters": {"r.$": "States.ArrayRange(1, $.range, 1)"}, "End": true},
        "Echo": {"Type": "Pass", "End": true},
        "Done": {"Type": "Pass", "End": true}}});
    let machine = util::write_file(&dir, "hostile.json", &definition.to_string());
    // (line, Some(expected status) or None for a dead letter at the door)
    let lines: Vec<(Vec<u8>, &str)> = vec![
        (br#"{"ok": 1}"#.to_vec(), "SUCCEEDED"),
        (b"not json".to_vec(), "REJECTED"),
        (b"\xff\xfe{}".to_vec(), "REJECTED"),
        (deep_text(100_000, false), "REJECTED"),
        (deep_text(100_000, true), "REJECTED"),
        (big_array_text(1_000_000), "REJECTED"),
        (
            br#"{"n": 0, "rounds": 10000, "deep": 0}"#.to_vec(),
            "SUCCEEDED",
        ),
        (
            br#"{"n": 0, "rounds": 100000, "deep": 0}"#.to_vec(),
            "FAILED",
        ),
        (br#"{"range": 1000000000}"#.to_vec(), "FAILED"),
        (br#"{"ok": 2}"#.to_vec(), "SUCCEEDED"),
    ];
    let mut input = Vec::new();
    for (line, _) in &lines {
        input.extend_from_slice(line);
        input.push(b'\n');
    }
    let started = Instant::now();
    let machine = machine.to_string_lossy().into_owned();
    let run = util::stepstream_with_bytes(
        [
            "run",
            machine.as_str(),
            "--time-scale",
            "0",
            "--workers",
            "2",
        ],
        &input,
    );
    let took = started.elapsed();
    assert!(
        run.code == Some(0),
        "the binary did not finish cleanly\n{}",
        util::shorten(&run.describe(), 3000)
    );
    run.assert_no_panic();
    let outputs = run.stdout.lines().count();
    let letters: Vec<Value> = run
        .stderr
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| json::from_str(line).expect("a dead letter is a JSON line"))
        .collect();
    let mut statuses = vec![None; lines.len()];
    for letter in &letters {
        let index = letter["event"].as_u64().expect("the event index") as usize;
        assert!(statuses[index].is_none(), "two results for event {index}");
        statuses[index] = letter["status"].as_str().map(str::to_string);
    }
    for (index, (_, want)) in lines.iter().enumerate() {
        let got = statuses[index].as_deref().unwrap_or("SUCCEEDED");
        assert_eq!(got, *want, "event {index}");
    }
    assert_eq!(outputs + letters.len(), lines.len());
    eprintln!("the_binary_survives_every_class_of_hostile_event: {took:?}");
}
