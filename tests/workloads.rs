//! The benchmark workloads (tests/data/workloads) against expected.json: every input's status,
//! and for the first 40 inputs the whole result, in process and through the binary.

use crate::util::{self, end_difference, expected_end, ExpectedEnd, NoTasks};
use std::collections::BTreeSet;
use stepstream::json;
use stepstream::json::Value;
use stepstream::{asl, compile, exec};

/// How many inputs expected.json gives full results for.
const FULLY_CHECKED: usize = 40;

fn expected_ends(name: &str) -> Vec<ExpectedEnd> {
    let expected = util::workloads_expected();
    let entries = expected["workloads"][name]
        .as_array()
        .unwrap_or_else(|| panic!("expected.json has no workload {name}"));
    entries
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            assert_eq!(
                entry["i"].as_u64(),
                Some(index as u64),
                "{name}: entries out of order"
            );
            expected_end(entry)
        })
        .collect()
}

fn workload(name: &str) -> util::Workload {
    util::workloads()
        .into_iter()
        .find(|w| w.name == name)
        .unwrap_or_else(|| panic!("no workload {name}"))
}

fn program_of(workload: &util::Workload) -> compile::Program {
    let state_machine = asl::parse(&workload.definition).unwrap_or_else(|problems| {
        let listed: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        panic!(
            "{} does not validate:\n  {}",
            workload.name,
            listed.join("\n  ")
        )
    });
    compile::compile(&state_machine)
}

/// Runs all inputs in process: statuses for all, whole results for the first 40.
fn check_in_process(name: &str) {
    let workload = workload(name);
    let program = program_of(&workload);
    let inputs = util::workload_input_lines();
    let expected = expected_ends(name);
    assert_eq!(
        inputs.len(),
        expected.len(),
        "{name}: inputs and expected results differ in number"
    );

    let options = exec::ExecOptions {
        time_scale: 0.0,
        record_history: false,
        ..Default::default()
    };
    let mut differences = Vec::new();
    for (index, (line, expected)) in inputs.iter().zip(&expected).enumerate() {
        let input: Value = json::from_str(line).expect("inputs.jsonl lines are JSON");
        let result = exec::run(&program, input, &options, &NoTasks);
        let status = result.status.as_str();
        let difference = if index < FULLY_CHECKED {
            end_difference(
                expected,
                status,
                result.output.as_ref(),
                result.error.as_deref(),
                result.cause.as_deref(),
            )
        } else if status != expected.status {
            Some(format!(
                "status: expected {}, got {status}",
                expected.status
            ))
        } else {
            None
        };
        if let Some(difference) = difference {
            differences.push(format!("input {index}: {difference}"));
        }
    }
    assert!(
        differences.is_empty(),
        "{name}: {} of {} executions differ from expected.json; first ones:\n  {}",
        differences.len(),
        inputs.len(),
        differences
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n  ")
    );
}

/// Runs the first 40 inputs through `stepstream exec FILE --input-file F` and checks the
/// printed response and the exit code.
fn check_binary(name: &str) {
    let workload = workload(name);
    let inputs = util::workload_input_lines();
    let expected = expected_ends(name);
    let dir = util::temp_dir(&format!("workload-{name}"));
    let mut differences = Vec::new();
    for (index, (line, expected)) in inputs.iter().zip(&expected).take(FULLY_CHECKED).enumerate() {
        let input_path = util::write_file(&dir, &format!("input-{index}.json"), line);
        let run = util::stepstream([
            "exec".as_ref(),
            workload.definition_path.as_os_str(),
            "--input-file".as_ref(),
            input_path.as_os_str(),
        ]);
        run.assert_no_panic();
        let expected_code = if expected.status == "SUCCEEDED" { 0 } else { 1 };
        if run.code != Some(expected_code) {
            differences.push(format!(
                "input {index}: exit code: expected {expected_code}, got {:?}; stderr: {}",
                run.code,
                util::shorten(run.stderr.trim(), 200)
            ));
            continue;
        }
        let response = run.stdout_json();
        for field in ["executionArn", "name", "startDate", "stopDate", "status"] {
            if response.get(field).is_none() {
                differences.push(format!("input {index}: the response has no {field:?}"));
            }
        }
        let status = response["status"].as_str().unwrap_or("?");
        let output = util::response_output(&response);
        let difference = end_difference(
            expected,
            status,
            output.as_ref(),
            response["error"].as_str(),
            response["cause"].as_str(),
        );
        if let Some(difference) = difference {
            differences.push(format!("input {index}: {difference}"));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        differences.is_empty(),
        "{name} through the binary: {} difference(s); first ones:\n  {}",
        differences.len(),
        differences
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n  ")
    );
}

#[test]
fn every_workload_file_is_tested() {
    let tested: BTreeSet<&str> = [
        "w1-pass-chain",
        "w2-choice-route",
        "w3-map-10",
        "w3b-map-10-itemprocessor",
        "w4-parallel-3",
        "w5-retry-catch",
    ]
    .into_iter()
    .collect();
    let in_expected: BTreeSet<String> = util::workloads().into_iter().map(|w| w.name).collect();
    let on_disk: BTreeSet<String> = std::fs::read_dir(util::workloads_dir())
        .expect("reading tests/data/workloads")
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            let stem = name.strip_suffix(".json")?;
            (stem.starts_with('w') && stem != "expected").then(|| stem.to_owned())
        })
        .collect();
    let tested: BTreeSet<String> = tested.into_iter().map(str::to_owned).collect();
    assert_eq!(
        in_expected, tested,
        "expected.json's workloads and the tests differ"
    );
    assert_eq!(on_disk, tested, "the workload files and the tests differ");
}

#[test]
fn w1_pass_chain() {
    check_in_process("w1-pass-chain");
}

#[test]
fn w2_choice_route() {
    check_in_process("w2-choice-route");
}

#[test]
fn w3_map_10() {
    check_in_process("w3-map-10");
}

#[test]
fn w3b_map_10_itemprocessor() {
    check_in_process("w3b-map-10-itemprocessor");
}

#[test]
fn w4_parallel_3() {
    check_in_process("w4-parallel-3");
}

#[test]
fn w5_retry_catch() {
    check_in_process("w5-retry-catch");
}

#[test]
fn binary_w1_pass_chain() {
    check_binary("w1-pass-chain");
}

#[test]
fn binary_w2_choice_route() {
    check_binary("w2-choice-route");
}

#[test]
fn binary_w3_map_10() {
    check_binary("w3-map-10");
}

#[test]
fn binary_w3b_map_10_itemprocessor() {
    check_binary("w3b-map-10-itemprocessor");
}

#[test]
fn binary_w4_parallel_3() {
    check_binary("w4-parallel-3");
}

#[test]
fn binary_w5_retry_catch() {
    check_binary("w5-retry-catch");
}
