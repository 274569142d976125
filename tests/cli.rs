//! The `stepstream` binary: `validate`, `compile --dump`, `exec` and `bench --engine-only`, their exit codes
//! (0 succeeded / valid, 1 failed or invalid, 2 usage or unusable input) and their messages.

use crate::util::{self, stepstream, write_file};
use std::path::{Path, PathBuf};
use stepstream::json;
use stepstream::json::Value;

fn workload_path(name: &str) -> PathBuf {
    util::workloads_dir().join(format!("{name}.json"))
}

/// Writes `definition` as `<name>.json` in `dir`.
fn write_definition(dir: &Path, name: &str, definition: &Value) -> PathBuf {
    write_file(
        dir,
        &format!("{name}.json"),
        &serde_json::to_string_pretty(definition).unwrap(),
    )
}

/// Runs `validate` on one broken definition and checks it is refused with every `needle` in
/// the output.
fn assert_invalid(name: &str, definition: Value, needles: &[&str]) {
    let dir = util::temp_dir(&format!("cli-invalid-{name}"));
    let path = write_definition(&dir, name, &definition);
    let run = stepstream(["validate".as_ref(), path.as_os_str()]);
    run.assert_code(1);
    for needle in needles {
        run.assert_output_contains(needle);
    }
}

#[test]
fn validate_accepts_every_workload() {
    for workload in util::workloads() {
        stepstream(["validate".as_ref(), workload.definition_path.as_os_str()]).assert_code(0);
    }
}

#[test]
fn validate_accepts_several_files_at_once() {
    let run = stepstream([
        "validate".as_ref(),
        workload_path("w1-pass-chain").as_os_str(),
        workload_path("w4-parallel-3").as_os_str(),
    ]);
    run.assert_code(0);
}

#[test]
fn validate_reports_a_misspelt_next_with_a_suggestion() {
    assert_invalid(
        "typo-next",
        json!({
            "StartAt": "Charge",
            "States": {
                "Charge": {"Type": "Pass", "Next": "Shipp"},
                "Ship": {"Type": "Succeed"}
            }
        }),
        &["/States/Charge/Next", "did you mean", "Ship"],
    );
}

#[test]
fn validate_reports_a_missing_start_at() {
    assert_invalid(
        "missing-start-at",
        json!({"States": {"Only": {"Type": "Succeed"}}}),
        &["StartAt"],
    );
}

#[test]
fn validate_reports_an_unknown_field() {
    assert_invalid(
        "unknown-field",
        json!({
            "StartAt": "Shape",
            "States": {"Shape": {"Type": "Pass", "ResultPth": "$.x", "End": true}}
        }),
        &["/States/Shape/ResultPth", "did you mean", "ResultPath"],
    );
}

#[test]
fn validate_reports_states_all_that_is_not_last() {
    assert_invalid(
        "states-all-not-last",
        json!({
            "StartAt": "Work",
            "States": {
                "Work": {
                    "Type": "Parallel",
                    "Branches": [{"StartAt": "B", "States": {"B": {"Type": "Succeed"}}}],
                    "Catch": [
                        {"ErrorEquals": ["States.ALL"], "Next": "Recover"},
                        {"ErrorEquals": ["Custom.Error"], "Next": "Recover"}
                    ],
                    "End": true
                },
                "Recover": {"Type": "Succeed"}
            }
        }),
        &["/States/Work/Catch/0", "States.ALL"],
    );
}

#[test]
fn validate_reports_a_wait_with_both_seconds_and_timestamp() {
    assert_invalid(
        "wait-two-durations",
        json!({
            "StartAt": "Pause",
            "States": {
                "Pause": {
                    "Type": "Wait",
                    "Seconds": 5,
                    "Timestamp": "2024-01-01T00:00:00Z",
                    "End": true
                }
            }
        }),
        &["/States/Pause", "Seconds", "Timestamp"],
    );
}

#[test]
fn validate_reports_a_sync_resource() {
    assert_invalid(
        "sync-resource",
        json!({
            "StartAt": "Job",
            "States": {
                "Job": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::batch:submitJob.sync",
                    "Parameters": {"JobName": "nightly"},
                    "End": true
                }
            }
        }),
        &["/States/Job/Resource", ".sync"],
    );
}

#[test]
fn validate_reports_an_intrinsic_with_the_wrong_number_of_arguments() {
    assert_invalid(
        "intrinsic-arity",
        json!({
            "StartAt": "Add",
            "States": {
                "Add": {
                    "Type": "Pass",
                    "Parameters": {"sum.$": "States.MathAdd($.a)"},
                    "End": true
                }
            }
        }),
        &["/States/Add/Parameters", "States.MathAdd"],
    );
}

#[test]
fn validate_reports_every_problem_not_just_the_first() {
    assert_invalid(
        "several-problems",
        json!({
            "StartAt": "Charge",
            "States": {
                "Charge": {"Type": "Pass", "Next": "Shipp"},
                "Ship": {"Type": "Pass", "Nxt": "Charge", "End": true}
            }
        }),
        &["/States/Charge/Next", "/States/Ship/Nxt"],
    );
}

#[test]
fn validate_refuses_a_file_that_is_not_json() {
    let dir = util::temp_dir("cli-not-json");
    let path = write_file(&dir, "broken.json", "{\"StartAt\": \"A\", \"States\": {");
    let run = stepstream(["validate".as_ref(), path.as_os_str()]);
    run.assert_no_panic();
    assert!(matches!(run.code, Some(1 | 2)), "{}", run.describe());
    assert!(
        !run.stderr.trim().is_empty() || !run.stdout.trim().is_empty(),
        "{}",
        run.describe()
    );
}

#[test]
fn validate_refuses_a_missing_file() {
    let dir = util::temp_dir("cli-missing-file");
    let run = stepstream(["validate".as_ref(), dir.join("nope.json").as_os_str()]);
    run.assert_no_panic();
    assert!(matches!(run.code, Some(1 | 2)), "{}", run.describe());
    run.assert_output_contains("nope.json");
}

#[test]
fn compile_dump_prints_the_program_listing() {
    let path = workload_path("w1-pass-chain");
    let run = stepstream(["compile".as_ref(), path.as_os_str(), "--dump".as_ref()]);
    run.assert_code(0);
    let state_machine = stepstream::asl::parse(&util::read_text(&path)).expect("W1 validates");
    let dump = stepstream::compile::compile(&state_machine).dump();
    assert_eq!(run.stdout.trim_end(), dump.trim_end(), "{}", run.describe());
}

#[test]
fn exec_with_inline_input_prints_a_start_sync_execution_response() {
    let dir = util::temp_dir("cli-exec-inline");
    let path = write_definition(
        &dir,
        "Hello",
        &json!({
            "StartAt": "Greet",
            "States": {
                "Greet": {
                    "Type": "Pass",
                    "Parameters": {"greeting.$": "States.Format('hello {}', $.who)"},
                    "End": true
                }
            }
        }),
    );
    let run = stepstream([
        "exec".as_ref(),
        path.as_os_str(),
        "--input".as_ref(),
        r#"{"who": "world"}"#.as_ref(),
        "--name".as_ref(),
        "greeting-1".as_ref(),
    ]);
    run.assert_code(0);
    let response = run.stdout_json();
    assert_eq!(response["status"], "SUCCEEDED", "{}", run.describe());
    assert_eq!(response["name"], "greeting-1", "{}", run.describe());
    assert!(
        response["executionArn"]
            .as_str()
            .is_some_and(|arn| arn.contains("greeting-1")),
        "{}",
        run.describe()
    );
    assert!(response.get("startDate").is_some() && response.get("stopDate").is_some());
    assert_eq!(
        util::response_output(&response),
        Some(json!({"greeting": "hello world"}))
    );
}

#[test]
fn exec_of_a_failing_machine_exits_1_with_error_and_cause() {
    let run = stepstream([
        "exec".as_ref(),
        workload_path("w2-choice-route").as_os_str(),
        "--input".as_ref(),
        r#"{"id": "x", "source": "s", "detail": {"amount": 1, "flag": false, "user": {"tier": "none", "age": 50}}}"#.as_ref(),
    ]);
    run.assert_code(1);
    let response = run.stdout_json();
    assert_eq!(response["status"], "FAILED", "{}", run.describe());
    assert_eq!(response["error"], "Route.Rejected", "{}", run.describe());
    assert_eq!(response["cause"], "no rule matched", "{}", run.describe());
}

/// `--start-time` fixes when the execution starts, so a Wait on an absolute timestamp ends
/// the same way on any day: the limit on a Wait's delay (2^31 seconds) is met or not.
#[test]
fn exec_with_a_start_time_waits_as_on_that_day() {
    let dir = util::temp_dir("cli-exec-start-time");
    let path = write_definition(
        &dir,
        "Until",
        &json!({
            "StartAt": "Until",
            "States": {"Until": {"Type": "Wait", "Timestamp": "2094-12-10T10:24:40Z", "End": true}}
        }),
    );
    let exec_at = |start: &str| {
        stepstream([
            "exec".as_ref(),
            path.as_os_str(),
            "--input".as_ref(),
            "{}".as_ref(),
            "--time-scale".as_ref(),
            "0".as_ref(),
            "--start-time".as_ref(),
            start.as_ref(),
        ])
    };
    // 24,856 days ahead: too long.
    let run = exec_at("2026-11-21T10:24:40Z");
    run.assert_code(1);
    let response = run.stdout_json();
    assert_eq!(response["error"], "States.Runtime", "{}", run.describe());
    assert!(
        response["cause"]
            .as_str()
            .is_some_and(|cause| cause.ends_with("Wait state delay is too long.")),
        "{}",
        run.describe()
    );
    // 24,855 days ahead: accepted, and outlasting an Express workflow's five minutes.
    let run = exec_at("2026-11-22T10:24:40Z");
    run.assert_code(1);
    let response = run.stdout_json();
    assert_eq!(response["status"], "TIMED_OUT", "{}", run.describe());
    assert_eq!(
        response["startDate"],
        "2026-11-22T10:24:40.000Z",
        "{}",
        run.describe()
    );
    let run = exec_at("yesterday");
    run.assert_code(2);
    run.assert_output_contains("--start-time takes an ISO 8601 timestamp");
}

#[test]
fn exec_of_a_timed_out_machine_exits_1() {
    let dir = util::temp_dir("cli-exec-timeout");
    let path = write_definition(
        &dir,
        "Slow",
        &json!({
            "TimeoutSeconds": 5,
            "StartAt": "Pause",
            "States": {"Pause": {"Type": "Wait", "Seconds": 60, "End": true}}
        }),
    );
    let run = stepstream([
        "exec".as_ref(),
        path.as_os_str(),
        "--input".as_ref(),
        "{}".as_ref(),
        "--time-scale".as_ref(),
        "0".as_ref(),
    ]);
    run.assert_code(1);
    assert_eq!(
        run.stdout_json()["status"],
        "TIMED_OUT",
        "{}",
        run.describe()
    );
}

const CHECKOUT: &str = r#"{
  "StartAt": "Charge",
  "States": {
    "Charge": {
      "Type": "Task",
      "Resource": "arn:aws:lambda:us-east-1:123456789012:function:charge",
      "Parameters": {"amount.$": "$.amount"},
      "Retry": [{"ErrorEquals": ["Payment.Busy"], "IntervalSeconds": 1, "MaxAttempts": 2}],
      "ResultPath": "$.receipt",
      "Next": "Done"
    },
    "Done": {"Type": "Succeed"}
  }
}"#;

const CHECKOUT_MOCKS: &str = r#"{
  "StateMachines": {
    "Checkout": {
      "TestCases": {
        "HappyPath": {"Charge": "ChargeOk"},
        "Declined": {"Charge": "ChargeDeclined"},
        "BusyOnce": {"Charge": "ChargeBusyThenOk"}
      }
    }
  },
  "MockedResponses": {
    "ChargeOk": {"0": {"Return": {"status": "ok", "id": "r-1"}}},
    "ChargeDeclined": {"0": {"Throw": {"Error": "Payment.Declined", "Cause": "card declined"}}},
    "ChargeBusyThenOk": {
      "0": {"Throw": {"Error": "Payment.Busy", "Cause": "try again"}},
      "1": {"Return": {"status": "ok", "id": "r-2"}}
    }
  }
}"#;

/// Runs the Checkout machine (file `Checkout.json`, state machine `Checkout` in the mocks)
/// with one test case of the mock file.
fn exec_checkout(test_case: &str, mocks: &str) -> util::BinaryRun {
    let dir = util::temp_dir("cli-exec-mock");
    let definition = write_file(&dir, "Checkout.json", CHECKOUT);
    let mock_config = write_file(&dir, "mocks.json", mocks);
    stepstream([
        "exec".as_ref(),
        definition.as_os_str(),
        "--input".as_ref(),
        r#"{"amount": 42}"#.as_ref(),
        "--mock-config".as_ref(),
        mock_config.as_os_str(),
        "--test-case".as_ref(),
        test_case.as_ref(),
        "--time-scale".as_ref(),
        "0".as_ref(),
    ])
}

#[test]
fn exec_with_a_mocked_task_returns_its_response() {
    let run = exec_checkout("HappyPath", CHECKOUT_MOCKS);
    run.assert_code(0);
    assert_eq!(
        util::response_output(&run.stdout_json()),
        Some(json!({"amount": 42, "receipt": {"status": "ok", "id": "r-1"}})),
        "{}",
        run.describe()
    );
}

#[test]
fn exec_with_a_mocked_task_that_throws_fails() {
    let run = exec_checkout("Declined", CHECKOUT_MOCKS);
    run.assert_code(1);
    let response = run.stdout_json();
    assert_eq!(response["status"], "FAILED", "{}", run.describe());
    assert_eq!(response["error"], "Payment.Declined", "{}", run.describe());
    assert_eq!(response["cause"], "card declined", "{}", run.describe());
}

#[test]
fn exec_with_a_mocked_task_retries_through_the_next_response() {
    let run = exec_checkout("BusyOnce", CHECKOUT_MOCKS);
    run.assert_code(0);
    assert_eq!(
        util::response_output(&run.stdout_json()),
        Some(json!({"amount": 42, "receipt": {"status": "ok", "id": "r-2"}})),
        "{}",
        run.describe()
    );
}

#[test]
fn exec_with_a_mock_file_that_is_not_json_is_a_usage_error() {
    let run = exec_checkout("HappyPath", "{\"StateMachines\": ");
    run.assert_code(2);
    run.assert_output_contains("mocks.json");
}

#[test]
fn exec_with_a_mock_file_of_the_wrong_shape_is_a_usage_error() {
    let run = exec_checkout(
        "HappyPath",
        r#"{"StateMachines": [], "MockedResponses": 7}"#,
    );
    run.assert_code(2);
    assert!(
        !run.stderr.trim().is_empty(),
        "expected a message on stderr\n{}",
        run.describe()
    );
}

#[test]
fn exec_with_a_mock_naming_an_undefined_response_is_a_usage_error() {
    let mocks = r#"{
      "StateMachines": {"Checkout": {"TestCases": {"HappyPath": {"Charge": "NoSuchMock"}}}},
      "MockedResponses": {}
    }"#;
    let run = exec_checkout("HappyPath", mocks);
    run.assert_code(2);
    run.assert_output_contains("NoSuchMock");
}

#[test]
fn exec_with_an_unknown_test_case_is_a_usage_error() {
    let run = exec_checkout("NoSuchCase", CHECKOUT_MOCKS);
    run.assert_code(2);
    run.assert_output_contains("NoSuchCase");
}

#[test]
fn exec_with_invalid_input_json_is_a_usage_error() {
    let run = stepstream([
        "exec".as_ref(),
        workload_path("w1-pass-chain").as_os_str(),
        "--input".as_ref(),
        "{not json".as_ref(),
    ]);
    run.assert_code(2);
    assert!(
        !run.stderr.trim().is_empty(),
        "expected a message on stderr\n{}",
        run.describe()
    );
    assert!(
        run.stdout.trim().is_empty(),
        "expected nothing on stdout\n{}",
        run.describe()
    );
}

#[test]
fn exec_with_an_input_file_that_is_not_json_is_a_usage_error() {
    let dir = util::temp_dir("cli-bad-input-file");
    let input = write_file(&dir, "input.json", "[1, 2");
    let run = stepstream([
        "exec".as_ref(),
        workload_path("w1-pass-chain").as_os_str(),
        "--input-file".as_ref(),
        input.as_os_str(),
    ]);
    run.assert_code(2);
    run.assert_output_contains("input");
    assert!(
        run.stdout.trim().is_empty(),
        "expected nothing on stdout\n{}",
        run.describe()
    );
}

#[test]
fn exec_of_an_invalid_definition_exits_2_with_its_problems() {
    let dir = util::temp_dir("cli-exec-invalid");
    let path = write_definition(
        &dir,
        "Broken",
        &json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}}}),
    );
    let run = stepstream([
        "exec".as_ref(),
        path.as_os_str(),
        "--input".as_ref(),
        "{}".as_ref(),
    ]);
    run.assert_code(2);
    run.assert_output_contains("/States/A/Next");
}

#[test]
fn exec_usage_errors_exit_2() {
    let w1 = workload_path("w1-pass-chain");
    let w1 = w1.to_str().expect("a UTF-8 path");
    let usage_errors: &[&[&str]] = &[
        &["exec"],
        &["exec", w1, "--input", "{}", "--no-such-option"],
        &["exec", w1, "--input", "{}", "--time-scale", "fast"],
        &["no-such-command"],
    ];
    for args in usage_errors {
        let run = stepstream(*args);
        run.assert_code(2);
        assert!(
            !run.stderr.trim().is_empty(),
            "expected a message on stderr\n{}",
            run.describe()
        );
    }
}

#[test]
fn bench_engine_only_reports_every_execution() {
    let w2 = workload_path("w2-choice-route");
    let run = stepstream([
        "bench".as_ref(),
        w2.as_os_str(),
        "--engine-only".as_ref(),
        "--events".as_ref(),
        "3000".as_ref(),
        "--json".as_ref(),
    ]);
    run.assert_code(0);
    let report = run.stdout_json();
    let engine = &report["runs"][0];
    assert_eq!(engine["label"], "engine", "{}", run.describe());
    assert_eq!(engine["events"], 3000);
    assert_eq!(engine["missing"], 0);
    assert_eq!(engine["duplicates"], 0);
    // W2 fails about 38% of its inputs on purpose: both outcomes are counted.
    let succeeded = engine["succeeded"].as_u64().unwrap();
    let failed = engine["failed"].as_u64().unwrap();
    assert_eq!(succeeded + failed, 3000);
    assert!(failed > 500 && succeeded > 1000, "{}", run.describe());
    assert!(engine["events_per_second_out"].as_f64().unwrap() > 0.0);
    assert!(
        engine["latency_ms"].is_null(),
        "latency is only measured when paced"
    );
    assert!(engine["peak_rss_mib"].as_f64().unwrap() > 1.0);
}

#[test]
fn bench_engine_only_paced_measures_latency_and_prints_a_table() {
    let w1 = workload_path("w1-pass-chain");
    let run = stepstream([
        "bench".as_ref(),
        w1.as_os_str(),
        "--engine-only".as_ref(),
        "--events".as_ref(),
        "2000".as_ref(),
        "--rate".as_ref(),
        "20000".as_ref(),
    ]);
    run.assert_code(0);
    for needle in ["paced at 20,000 events/s", "latency p99 ms", "peak RSS"] {
        run.assert_output_contains(needle);
    }
    let succeeded = run
        .stdout
        .lines()
        .find(|line| line.trim_start().starts_with("succeeded"));
    assert!(
        succeeded.is_some_and(|line| line.trim_end().ends_with(" 2,000")),
        "{}",
        run.describe()
    );
}

#[test]
fn bench_generates_events_from_a_template_and_checks_its_arguments() {
    let dir = util::temp_dir("bench-template");
    let definition = write_definition(
        &dir,
        "echo",
        &json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}),
    );
    let run = stepstream([
        "bench".as_ref(),
        definition.as_os_str(),
        "--engine-only".as_ref(),
        "--events".as_ref(),
        "500".as_ref(),
        "--event".as_ref(),
        r#"{"n": ${seq}}"#.as_ref(),
        "--json".as_ref(),
    ]);
    run.assert_code(0);
    assert_eq!(run.stdout_json()["runs"][0]["succeeded"], 500);
    // No events given and no inputs.jsonl beside the definition.
    stepstream([
        "bench".as_ref(),
        definition.as_os_str(),
        "--engine-only".as_ref(),
    ])
    .assert_code(2)
    .assert_output_contains("--inputs");
    stepstream([
        "bench".as_ref(),
        definition.as_os_str(),
        "--events".as_ref(),
        "0".as_ref(),
    ])
    .assert_code(2);
}

/// A Task with Parameters, ResultSelector, ResultPath, a retrier and a catcher, then a Choice.
fn test_state_machine() -> PathBuf {
    let dir = util::temp_dir("cli-test-state");
    write_definition(
        &dir,
        "charge",
        &json!({"StartAt": "Charge", "States": {
            "Charge": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"amount.$": "$.amount"}, "ResultSelector": {"ok.$": "$.Payload.ok"},
                "ResultPath": "$.charge",
                "Retry": [{"ErrorEquals": ["Busy"], "IntervalSeconds": 2, "MaxAttempts": 3}],
                "Catch": [{"ErrorEquals": ["Declined"], "ResultPath": "$.error", "Next": "Refuse"}],
                "Next": "Route"},
            "Route": {"Type": "Choice", "Choices": [{"Variable": "$.amount", "NumericGreaterThan": 100, "Next": "Big"}], "Default": "Done"},
            "Big": {"Type": "Pass", "End": true},
            "Done": {"Type": "Succeed"},
            "Refuse": {"Type": "Fail", "Error": "Refused"}}}),
    )
}

fn test_state(args: &[&str]) -> util::BinaryRun {
    let machine = test_state_machine();
    let mut all: Vec<&std::ffi::OsStr> = vec!["test-state".as_ref(), machine.as_os_str()];
    all.extend(args.iter().map(std::ffi::OsStr::new));
    stepstream(all)
}

#[test]
fn test_state_shows_every_data_flow_stage_and_the_next_state() {
    let run = test_state(&[
        "--state",
        "Charge",
        "--input",
        r#"{"amount": 5}"#,
        "--mock-result",
        r#"{"Payload": {"ok": true}, "StatusCode": 200}"#,
    ]);
    run.assert_code(0);
    let response = run.stdout_json();
    assert_eq!(response["status"], "SUCCEEDED");
    assert_eq!(response["nextState"], "Route");
    assert_eq!(response["output"], r#"{"amount":5,"charge":{"ok":true}}"#);
    let data = &response["inspectionData"];
    assert_eq!(data["input"], r#"{"amount":5}"#);
    assert_eq!(data["afterInputPath"], r#"{"amount":5}"#);
    assert_eq!(data["afterParameters"], r#"{"amount":5}"#);
    assert_eq!(
        data["result"],
        r#"{"Payload":{"ok":true},"StatusCode":200}"#
    );
    assert_eq!(data["afterResultSelector"], r#"{"ok":true}"#);
    assert_eq!(
        data["afterResultPath"],
        r#"{"amount":5,"charge":{"ok":true}}"#
    );
    // INFO leaves the stages out.
    let run = test_state(&[
        "--state",
        "Route",
        "--input",
        r#"{"amount": 500}"#,
        "--inspection-level",
        "info",
    ]);
    run.assert_code(0);
    let response = run.stdout_json();
    assert_eq!(response["nextState"], "Big");
    assert!(
        response.get("inspectionData").is_none(),
        "{}",
        run.describe()
    );
}

#[test]
fn test_state_reports_retriable_caught_and_failed_errors() {
    let run = test_state(&[
        "--state",
        "Charge",
        "--input",
        r#"{"amount": 5}"#,
        "--mock-error",
        "Busy",
        "--mock-cause",
        "try later",
    ]);
    run.assert_code(1);
    let response = run.stdout_json();
    assert_eq!(response["status"], "RETRIABLE");
    assert_eq!(response["error"], "Busy");
    assert_eq!(response["cause"], "try later");
    assert_eq!(response["inspectionData"]["errorDetails"]["retryIndex"], 0);
    assert_eq!(
        response["inspectionData"]["errorDetails"]["retryBackoffIntervalSeconds"],
        2
    );
    assert!(response.get("nextState").is_none());

    let run = test_state(&[
        "--state",
        "Charge",
        "--input",
        r#"{"amount": 5}"#,
        "--mock-error",
        "Declined",
    ]);
    run.assert_code(0);
    let response = run.stdout_json();
    assert_eq!(response["status"], "CAUGHT_ERROR");
    assert_eq!(response["nextState"], "Refuse");
    assert_eq!(
        response["output"],
        r#"{"amount":5,"error":{"Error":"Declined"}}"#
    );
    assert_eq!(response["inspectionData"]["errorDetails"]["catchIndex"], 0);

    let run = test_state(&["--state", "Refuse"]);
    run.assert_code(1);
    let response = run.stdout_json();
    assert_eq!(response["status"], "FAILED");
    assert_eq!(response["error"], "Refused");

    test_state(&["--state", "Nope"])
        .assert_code(2)
        .assert_output_contains("no top-level state named \"Nope\"");
    test_state(&["--state", "Route", "--inspection-level", "LOUD"]).assert_code(2);
}

/// States that read variables and the context object, in JSONPath and in JSONata, each with
/// an `Assign`.
fn variables_machine() -> PathBuf {
    let dir = util::temp_dir("cli-test-state-variables");
    write_definition(
        &dir,
        "vars",
        &json!({"StartAt": "Path", "States": {
            "Path": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"customer.$": "$customer", "limit.$": "$limits.max",
                    "execution.$": "$$.Execution.Id", "token.$": "$$.Task.Token",
                    "state.$": "$$.State.Name", "amount.$": "$.amount"},
                "ResultSelector": {"ok.$": "$.Payload.ok"},
                "Assign": {"approved.$": "$.ok", "customer": "replaced"},
                "Next": "Ata"},
            "Ata": {"Type": "Task", "QueryLanguage": "JSONata",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Arguments": {"customer": "{% $customer %}", "double": "{% $states.input.amount * 2 %}",
                    "name": "{% $states.context.Execution.Name %}",
                    "item": "{% $states.context.Map.Item.Value %}"},
                "Assign": {"total": "{% $states.result.Payload.total %}"},
                "Output": {"total": "{% $states.result.Payload.total %}", "customer": "{% $customer %}"},
                "Next": "Done"},
            "Done": {"Type": "Succeed"}}}),
    )
}

fn test_state_on(machine: &Path, args: &[&str]) -> util::BinaryRun {
    let mut all: Vec<&std::ffi::OsStr> = vec!["test-state".as_ref(), machine.as_os_str()];
    all.extend(args.iter().map(std::ffi::OsStr::new));
    stepstream(all)
}

#[test]
fn test_state_reads_the_given_variables_and_context() {
    let machine = variables_machine();
    let run = test_state_on(
        &machine,
        &[
            "--state",
            "Path",
            "--input",
            r#"{"amount": 5}"#,
            "--variables",
            r#"{"customer": "c-1", "limits": {"max": 100}}"#,
            "--context",
            r#"{"Execution": {"Id": "arn:aws:states:us-east-1:1:execution:m:e-1"}, "Task": {"Token": "tok-1"}}"#,
            "--mock-result",
            r#"{"Payload": {"ok": true}}"#,
        ],
    );
    run.assert_code(0);
    let response = run.stdout_json();
    assert_eq!(response["status"], "SUCCEEDED");
    let data = &response["inspectionData"];
    let parameters =
        json::from_str(data["afterParameters"].as_str().expect("a string")).expect("JSON");
    assert_eq!(
        parameters,
        json!({"customer": "c-1", "limit": 100,
               "execution": "arn:aws:states:us-east-1:1:execution:m:e-1", "token": "tok-1",
               "state": "Path", "amount": 5})
    );
    // The variables after the state's Assign: the given ones, one replaced, one added.
    let variables = json::from_str(data["variables"].as_str().expect("a string")).expect("JSON");
    assert_eq!(
        variables,
        json!({"customer": "replaced", "limits": {"max": 100}, "approved": true})
    );
    // JSONPath stages, no JSONata ones.
    assert!(data.get("afterArguments").is_none(), "{}", run.stdout);
    assert!(data.get("afterInputPath").is_some(), "{}", run.stdout);
}

#[test]
fn test_state_of_a_jsonata_state_shows_after_arguments_and_variables() {
    let machine = variables_machine();
    let dir = util::temp_dir("cli-test-state-variables-files");
    let variables = dir.join("variables.json");
    std::fs::write(&variables, r#"{"customer": "c-2"}"#).expect("write");
    let context = dir.join("context.json");
    std::fs::write(
        &context,
        r#"{"Execution": {"Name": "e-2"}, "Map": {"Item": {"Index": 3, "Value": "v-3"}}}"#,
    )
    .expect("write");
    let run = test_state_on(
        &machine,
        &[
            "--state",
            "Ata",
            "--input",
            r#"{"amount": 5}"#,
            "--variables-file",
            variables.to_str().expect("a UTF-8 path"),
            "--context-file",
            context.to_str().expect("a UTF-8 path"),
            "--mock-result",
            r#"{"Payload": {"total": 42}}"#,
            "--inspection-level",
            "TRACE",
        ],
    );
    run.assert_code(0);
    let response = run.stdout_json();
    assert_eq!(response["status"], "SUCCEEDED");
    assert_eq!(response["nextState"], "Done");
    assert_eq!(response["output"], r#"{"total":42,"customer":"c-2"}"#);
    let data = &response["inspectionData"];
    assert_eq!(
        json::from_str(data["afterArguments"].as_str().expect("a string")).expect("JSON"),
        json!({"customer": "c-2", "double": 10, "name": "e-2", "item": "v-3"})
    );
    assert_eq!(data["result"], r#"{"Payload":{"total":42}}"#);
    assert_eq!(data["variables"], r#"{"customer":"c-2","total":42}"#);
    // A JSONata state has none of JSONPath's stages; a mocked Task makes no HTTP exchange.
    for stage in [
        "afterInputPath",
        "afterParameters",
        "afterResultSelector",
        "afterResultPath",
        "request",
        "response",
    ] {
        assert!(data.get(stage).is_none(), "{stage}: {}", run.stdout);
    }
    // INFO shows no variables.
    let run = test_state_on(
        &machine,
        &[
            "--state",
            "Ata",
            "--input",
            r#"{"amount": 1}"#,
            "--variables",
            r#"{"customer": "c-2"}"#,
            "--context",
            r#"{"Map": {"Item": {"Value": 0}}}"#,
            "--mock-result",
            r#"{"Payload": {"total": 1}}"#,
            "--inspection-level",
            "INFO",
        ],
    );
    run.assert_code(0);
    assert!(run.stdout_json().get("inspectionData").is_none());
}

#[test]
fn test_state_variables_and_context_must_be_json_objects() {
    let machine = variables_machine();
    for (flag, value, needle) in [
        (
            "--variables",
            "{oops",
            "the variables (--variables) is not valid JSON",
        ),
        (
            "--variables",
            "[1]",
            "the variables must be a JSON object, not array",
        ),
        (
            "--context",
            "\"text\"",
            "the context must be a JSON object, not string",
        ),
    ] {
        test_state_on(&machine, &["--state", "Path", flag, value])
            .assert_code(2)
            .assert_output_contains(needle);
    }
    test_state_on(
        &machine,
        &[
            "--state",
            "Path",
            "--variables",
            "{}",
            "--variables-file",
            "x.json",
        ],
    )
    .assert_code(2);
    // A variable the state reads but nobody gave is the runtime error AWS gives.
    let run = test_state_on(
        &machine,
        &["--state", "Path", "--mock-result", r#"{"Payload": {}}"#],
    );
    run.assert_code(1);
    assert_eq!(run.stdout_json()["error"], "States.Runtime");
}

/// A machine that passes a value with a quote in it and then fails.
fn write_pass_then_fail(name: &str) -> PathBuf {
    let dir = util::temp_dir(name);
    write_definition(
        &dir,
        "PassThenFail",
        &json!({
            "StartAt": "Shape",
            "States": {
                "Shape": {"Type": "Pass", "Parameters": {"said.$": "$.said"}, "Next": "Stop"},
                "Stop": {"Type": "Fail", "Error": "Stopped", "Cause": "on purpose"}
            }
        }),
    )
}

/// The log records an `exec --logs` run printed on stderr.
fn log_records(run: &util::BinaryRun) -> Vec<Value> {
    run.stderr
        .lines()
        .map(|line| {
            json::from_str(line).unwrap_or_else(|e| {
                panic!(
                    "a stderr line is not a JSON record ({e}): {line}\n{}",
                    run.describe()
                )
            })
        })
        .collect()
}

#[test]
fn exec_logs_prints_one_record_per_history_event_on_stderr() {
    let path = write_pass_then_fail("cli-exec-logs");
    let run = stepstream([
        "exec".as_ref(),
        path.as_os_str(),
        "--input".as_ref(),
        r#"{"said": "a \"quoted\" word"}"#.as_ref(),
        "--history".as_ref(),
        "--logs".as_ref(),
    ]);
    run.assert_code(1);
    let response = run.stdout_json();
    let records = log_records(&run);
    let events = response["events"].as_array().expect("--history events");
    assert_eq!(records.len(), events.len(), "{}", run.describe());
    for (record, event) in records.iter().zip(events) {
        let keys: Vec<&str> = record
            .as_object()
            .expect("an object")
            .keys()
            .map(|key| key.as_str())
            .collect();
        assert_eq!(
            keys,
            [
                "id",
                "type",
                "details",
                "previous_event_id",
                "event_timestamp",
                "execution_arn",
                "redrive_count"
            ]
        );
        assert_eq!(record["id"], json!(event["id"].to_string()));
        assert_eq!(record["type"], event["type"]);
        assert_eq!(
            record["previous_event_id"],
            json!(event["previousEventId"].to_string())
        );
        assert_eq!(record["execution_arn"], response["executionArn"]);
        assert_eq!(record["redrive_count"], "0");
        assert!(record["event_timestamp"]
            .as_str()
            .is_some_and(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())));
    }
    let types: Vec<&str> = records.iter().filter_map(|r| r["type"].as_str()).collect();
    assert_eq!(
        types,
        [
            "ExecutionStarted",
            "PassStateEntered",
            "PassStateExited",
            "FailStateEntered",
            "ExecutionFailed"
        ]
    );
    // Payloads are JSON texts in strings.
    assert_eq!(
        records[2]["details"],
        json!({
            "name": "Shape",
            "output": r#"{"said":"a \"quoted\" word"}"#,
            "outputDetails": {"truncated": false}
        })
    );
    assert_eq!(
        records[4]["details"],
        json!({"cause": "on purpose", "error": "Stopped"})
    );
}

#[test]
fn exec_logs_at_error_without_execution_data_shows_only_failures_without_payloads() {
    let path = write_pass_then_fail("cli-exec-logs-error");
    let run = stepstream([
        "exec".as_ref(),
        path.as_os_str(),
        "--input".as_ref(),
        r#"{"said": "secret"}"#.as_ref(),
        "--logs".as_ref(),
        "--log-level".as_ref(),
        "error".as_ref(),
        "--no-execution-data".as_ref(),
    ]);
    run.assert_code(1);
    assert!(run.stdout_json().get("events").is_none());
    let records = log_records(&run);
    let types: Vec<&str> = records.iter().filter_map(|r| r["type"].as_str()).collect();
    assert_eq!(types, ["FailStateEntered", "ExecutionFailed"]);
    assert_eq!(records[0]["details"], json!({"name": "Stop"}));
    assert!(!run.stderr.contains("secret"), "{}", run.describe());

    let fatal = stepstream([
        "exec".as_ref(),
        path.as_os_str(),
        "--logs".as_ref(),
        "--log-level".as_ref(),
        "FATAL".as_ref(),
    ]);
    fatal.assert_code(1);
    let types: Vec<Value> = log_records(&fatal)
        .iter()
        .map(|r| r["type"].clone())
        .collect();
    assert_eq!(types, [json!("ExecutionFailed")]);

    let off = stepstream([
        "exec".as_ref(),
        path.as_os_str(),
        "--logs".as_ref(),
        "--log-level".as_ref(),
        "OFF".as_ref(),
    ]);
    off.assert_code(1);
    assert!(off.stderr.is_empty(), "{}", off.describe());
}

#[test]
fn exec_log_options_without_logs_or_with_an_unknown_level_are_usage_errors() {
    let path = write_pass_then_fail("cli-exec-logs-usage");
    for args in [
        vec!["--log-level", "ERROR"],
        vec!["--no-execution-data"],
        vec!["--logs", "--log-level", "INFO"],
    ] {
        let mut all: Vec<&std::ffi::OsStr> = vec!["exec".as_ref(), path.as_os_str()];
        all.extend(args.iter().map(std::ffi::OsStr::new));
        let run = stepstream(all);
        run.assert_code(2);
        assert!(run.stdout.trim().is_empty(), "{}", run.describe());
    }
    let run = stepstream([
        "exec".as_ref(),
        path.as_os_str(),
        "--logs".as_ref(),
        "--log-level".as_ref(),
        "INFO".as_ref(),
    ]);
    run.assert_output_contains("ALL, ERROR, FATAL or OFF");
}

/// Credential settings passed through to librdkafka (`sasl.password`, `ssl.key.password` …)
/// never appear in what the daemon prints: not in its startup lines, not when librdkafka
/// refuses a setting, not in a TOML error, not in `--help`.
#[test]
fn credentials_in_the_config_are_never_printed() {
    let dir = util::temp_dir("cli-credentials");
    let machine = workload_path("w1-pass-chain");
    let config = |name: &str, settings: &str| {
        write_file(
            &dir,
            name,
            &format!(
                "state_machine = {:?}\n[kafka]\n# nothing listens here\nbrokers = \"127.0.0.1:9\"\n{settings}",
                machine.to_string_lossy()
            ),
        )
    };
    let secrets = ["hunter2-sasl", "hunter3-key", "987654321"];
    let check = |label: &str, run: &util::BinaryRun| {
        run.assert_no_panic();
        for secret in secrets {
            assert!(
                !run.all_output().contains(secret),
                "{label}: the output shows a credential\n{}",
                run.describe()
            );
        }
    };
    // A setting this build of librdkafka refuses (no TLS support built in): its error
    // quotes the value it refused.
    let refused = config(
        "refused.toml",
        "[kafka.consumer]\n\"ssl.key.password\" = \"hunter3-key\"\n",
    );
    let run = stepstream(["run".as_ref(), "--config".as_ref(), refused.as_os_str()]);
    check("a refused setting", &run);
    assert_ne!(run.code, Some(0), "{}", run.describe());
    run.assert_output_contains("ssl.key.password");
    // A value of the wrong type.
    let typed = config(
        "typed.toml",
        "[kafka.producer]\n\"sasl.password\" = 987654321\n",
    );
    let run = stepstream(["run".as_ref(), "--config".as_ref(), typed.as_os_str()]);
    check("a TOML error", &run);
    assert_eq!(run.code, Some(2), "{}", run.describe());
    run.assert_output_contains("credential");
    // Accepted settings: the daemon starts, prints its startup lines, and stops on SIGTERM.
    let accepted = config(
        "accepted.toml",
        "[kafka.consumer]\n\"security.protocol\" = \"sasl_plaintext\"\n\"sasl.mechanism\" = \"PLAIN\"\n\
         \"sasl.username\" = \"user\"\n\"sasl.password\" = \"hunter2-sasl\"\n\
         [kafka.producer]\n\"security.protocol\" = \"sasl_plaintext\"\n\"sasl.mechanism\" = \"PLAIN\"\n\
         \"sasl.username\" = \"user\"\n\"sasl.password\" = \"hunter2-sasl\"\n\
         [workers]\nshutdown_grace_seconds = 1\n[telemetry]\nlisten = \"127.0.0.1:0\"\n",
    );
    let stderr_path = dir.join("accepted.stderr");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_stepstream"))
        .args(["run", "--config"])
        .arg(&accepted)
        .env_remove("STEPSTREAM_BROKERS")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).expect("a stderr file"))
        .spawn()
        .expect("starting the daemon");
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().expect("the daemon exits");
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    assert!(stderr.contains("consuming"), "no startup line: {stderr}");
    assert!(stderr.contains("metrics on http://127.0.0.1:"), "{stderr}");
    // The Kafka clients' own warnings reach standard error: nothing listens at the broker.
    assert!(
        stderr.contains("stepstream: kafka consumer") && stderr.contains("Connection refused"),
        "the unreachable broker is not reported: {stderr}"
    );
    for secret in secrets {
        assert!(
            !stderr.contains(secret),
            "the daemon printed a credential: {stderr}"
        );
    }
    assert_eq!(status.code(), Some(0), "{stderr}");
    let help = stepstream(["run", "--help"]);
    assert!(help.stdout.contains("--config"), "{}", help.describe());
    check("--help", &help);
}
