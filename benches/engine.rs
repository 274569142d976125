//! Engine throughput on the shared workloads (tests/data/workloads), one core: each iteration
//! parses the next input line, runs the execution and serialises its output (or its error),
//! which is what the pipeline pays per event. Reported as executions per second; multiply by
//! the workload's state transitions per execution (expected.json `transitions`) for
//! transitions per second.
//!
//! W1 also runs as written in JSONata (`benches/data/w1-pass-chain-jsonata.json`), with the same
//! expected results.
//!
//! Run with `cargo bench --bench engine` (or `cargo bench --bench engine -- w3` for one).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;
use stepstream::exec::{self, ExecOptions, ExecutionResult, NoTasks, Status};
use stepstream::json::{self, Value};
use stepstream::{asl, compile};

#[allow(dead_code)]
#[path = "../tests/util/diff.rs"]
mod diff;

const WORKLOADS: [&str; 6] = [
    "w1-pass-chain",
    "w2-choice-route",
    "w3-map-10",
    "w3b-map-10-itemprocessor",
    "w4-parallel-3",
    "w5-retry-catch",
];

/// How many inputs expected.json gives full results for; all are checked before timing.
const CHECKED_INPUTS: usize = 40;

/// The bytes the pipeline would produce for one execution.
fn serialise(result: &ExecutionResult) -> Vec<u8> {
    match (&result.status, &result.output) {
        (Status::Succeeded, Some(output)) => json::to_vec(output),
        _ => json::to_vec(&json::object([
            ("error", Value::from(result.error.as_deref())),
            ("cause", Value::from(result.cause.as_deref())),
        ])),
    }
}

fn workloads_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/workloads")
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Runs the first inputs and panics unless each ends as expected.json says.
fn check_outputs(
    name: &str,
    program: &compile::Program,
    lines: &[Vec<u8>],
    expected: &[Value],
    options: &ExecOptions,
) {
    for (index, (line, entry)) in lines.iter().zip(expected).take(CHECKED_INPUTS).enumerate() {
        let input: Value = json::from_slice(line).expect("inputs.jsonl lines are JSON");
        let result = exec::run(program, input, options, &NoTasks);
        let status = result.status.as_str();
        let expected_status = entry["status"].as_str().expect("an expected status");
        assert_eq!(status, expected_status, "{name} input {index}: status");
        let expected_output = &entry["output"];
        if expected_status == "SUCCEEDED" {
            let output = result.output.as_ref().unwrap_or(&Value::Null);
            if let Some(difference) = diff::json_diff(expected_output, output) {
                panic!("{name} input {index}: output {difference}");
            }
        } else {
            let expected_error = entry.get("error").or(expected_output.get("error"));
            let expected_cause = entry.get("cause").or(expected_output.get("cause"));
            assert_eq!(
                result.error.as_deref(),
                expected_error.and_then(Value::as_str),
                "{name} input {index}: error"
            );
            assert_eq!(
                result.cause.as_deref(),
                expected_cause.and_then(Value::as_str),
                "{name} input {index}: cause"
            );
        }
    }
}

fn engine(c: &mut Criterion) {
    let expected: Value =
        json::from_slice(&read(&workloads_dir().join("expected.json"))).expect("JSON");
    let lines: Vec<Vec<u8>> = read(&workloads_dir().join("inputs.jsonl"))
        .split(|byte| *byte == b'\n')
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
        .map(<[u8]>::to_vec)
        .collect();
    assert_eq!(lines.len(), 1000, "inputs.jsonl has 1000 inputs");

    let options = ExecOptions {
        time_scale: 0.0,
        record_history: false,
        ..Default::default()
    };

    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(1));
    group.sample_size(30);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));

    // W1 written in JSONata (benches/data), checked against W1's expected results.
    let jsonata_w1 =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/data/w1-pass-chain-jsonata.json");
    let cases = WORKLOADS
        .iter()
        .map(|name| (*name, *name, workloads_dir().join(format!("{name}.json"))))
        .chain([("w1-pass-chain-jsonata", "w1-pass-chain", jsonata_w1)]);
    for (name, expected_name, path) in cases {
        let definition = read(&path);
        let definition = std::str::from_utf8(&definition).expect("a UTF-8 definition");
        let state_machine = asl::parse(definition).unwrap_or_else(|problems| {
            let listed: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
            panic!("{name} does not validate: {}", listed.join("; "))
        });
        let program = compile::compile(&state_machine);
        let entries = expected["workloads"][expected_name]
            .as_array()
            .expect("expected results");
        check_outputs(name, &program, &lines, entries, &options);

        let mut next = 0;
        group.bench_function(name, |bencher| {
            bencher.iter(|| {
                let line = &lines[next];
                next = (next + 1) % lines.len();
                let result =
                    exec::run_json(&program, line, &options, &NoTasks).expect("inputs are JSON");
                black_box(serialise(&result))
            })
        });
    }
    group.finish();
}

// The binary's allocator, so the figures are the binary's.
#[global_allocator]
static GLOBAL: stepstream::alloc::MiMalloc = stepstream::alloc::MiMalloc;

criterion_group!(benches, engine);
criterion_main!(benches);
