//! JSONata states and variables beyond the recorded corpus: validation errors with their
//! pointers, the scoping rules of variables across Parallel branches, Map iterations and
//! catchers, evaluation order, and expressions that run away.

use stepstream::asl;
use stepstream::compile;
use stepstream::exec::{self, ExecOptions, ExecutionResult, Status};
use stepstream::json;
use stepstream::json::Value;

use crate::util::NoTasks;

fn run(definition: &Value, input: Value) -> ExecutionResult {
    let machine = asl::parse_value(definition).unwrap_or_else(|problems| {
        let listed: Vec<String> = problems.iter().map(ToString::to_string).collect();
        panic!("the definition does not validate: {}", listed.join("; "))
    });
    let options = ExecOptions {
        time_scale: 0.0,
        ..ExecOptions::default()
    };
    exec::run(&compile::compile(&machine), input, &options, &NoTasks)
}

/// The problems of a definition that must not validate, as `pointer: message` lines.
fn problems(definition: &Value) -> Vec<String> {
    match asl::parse_value(definition) {
        Ok(_) => panic!("the definition validates: {definition}"),
        Err(problems) => problems.iter().map(ToString::to_string).collect(),
    }
}

fn assert_has(problems: &[String], pointer: &str, needle: &str) {
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with(&format!("{pointer}: ")) && p.contains(needle)),
        "no problem at {pointer} mentioning {needle:?} in {problems:#?}"
    );
}

#[test]
fn malformed_expressions_and_misplaced_fields_are_reported_with_their_pointers() {
    let found = problems(&json!({
        "QueryLanguage": "JSONata",
        "StartAt": "A",
        "States": {
            "A": {"Type": "Pass", "Output": {"x": "{% $states.input.( %}"}, "Next": "B"},
            "B": {"Type": "Pass", "InputPath": "$.a", "Assign": {"ok": "{% 1 + %}"}, "Next": "C"},
            "C": {"Type": "Choice", "Choices": [{"Condition": "{% ] %}", "Next": "D"}], "Default": "D"},
            "D": {"Type": "Pass", "QueryLanguage": "JSONPath", "End": true}
        }
    }));
    assert_has(&found, "/States/A/Output/x", "invalid JSONata expression");
    assert_has(&found, "/States/B/InputPath", "JSONPath field");
    assert_has(&found, "/States/B/Assign/ok", "invalid JSONata expression");
    assert_has(
        &found,
        "/States/C/Choices/0/Condition",
        "invalid JSONata expression",
    );
    assert_has(&found, "/States/D/QueryLanguage", "cannot use JSONPath");

    let found = problems(&json!({
        "StartAt": "A",
        "States": {"A": {"Type": "Pass", "Output": "{% 1 %}", "Assign": {"2bad": 1}, "End": true}}
    }));
    assert_has(&found, "/States/A/Output", "JSONata field");
    assert_has(&found, "/States/A/Assign/2bad", "not a valid variable name");
}

#[test]
fn assign_and_output_see_the_variables_of_state_entry() {
    let definition = json!({
        "QueryLanguage": "JSONata",
        "StartAt": "Set",
        "States": {
            "Set": {"Type": "Pass", "Assign": {"n": 1}, "Next": "Bump"},
            "Bump": {"Type": "Pass", "Assign": {"n": "{% $n + 1 %}", "old": "{% $n %}"},
                     "Output": {"seen": "{% $n %}"}, "Next": "Show"},
            "Show": {"Type": "Pass", "Output": {"n": "{% $n %}", "old": "{% $old %}",
                     "input": "{% $states.input %}"}, "End": true}
        }
    });
    let result = run(&definition, json!({}));
    assert_eq!(result.status, Status::Succeeded, "{result:?}");
    assert_eq!(
        result.output,
        Some(json!({"n": 2, "old": 1, "input": {"seen": 1}}))
    );
}

#[test]
fn branches_read_outer_variables_and_keep_their_own_to_themselves() {
    let definition = json!({
        "QueryLanguage": "JSONata",
        "StartAt": "Set",
        "States": {
            "Set": {"Type": "Pass", "Assign": {"outer": "o"}, "Next": "Fork"},
            "Fork": {"Type": "Parallel", "Next": "After", "Branches": [
                {"StartAt": "L", "States": {
                    "L": {"Type": "Pass", "Assign": {"mine": "left"}, "Next": "L2"},
                    "L2": {"Type": "Pass", "Output": "{% $outer & '/' & $mine %}", "End": true}}},
                {"StartAt": "R", "States": {
                    "R": {"Type": "Pass", "Output": "{% $outer & '/' & ($exists($mine) ? 'leak' : 'none') %}", "End": true}}}
            ]},
            "After": {"Type": "Pass",
                      "Output": {"results": "{% $states.input %}", "mine": "{% $exists($mine) %}"},
                      "End": true}
        }
    });
    let result = run(&definition, json!({}));
    assert_eq!(result.status, Status::Succeeded, "{result:?}");
    assert_eq!(
        result.output,
        Some(json!({"results": ["o/left", "o/none"], "mine": false}))
    );
}

#[test]
fn a_catcher_assigns_in_the_scope_of_its_state() {
    let definition = json!({
        "StartAt": "Fork",
        "States": {
            "Fork": {"Type": "Parallel", "Next": "Done", "Branches": [
                {"StartAt": "Boom", "States": {"Boom": {"Type": "Fail", "Error": "Boom", "Cause": "why"}}}
            ], "Catch": [{"ErrorEquals": ["States.ALL"], "Assign": {"caught.$": "$.Error"}, "Next": "Done"}]},
            "Done": {"Type": "Pass", "Parameters": {"caught.$": "$caught"}, "End": true}
        }
    });
    let result = run(&definition, json!({}));
    assert_eq!(result.status, Status::Succeeded, "{result:?}");
    assert_eq!(result.output, Some(json!({"caught": "Boom"})));
}

#[test]
fn jsonpath_assign_reads_the_result_and_paths_read_variables() {
    let definition = json!({
        "StartAt": "A",
        "States": {
            "A": {"Type": "Pass", "Result": {"v": 7}, "ResultPath": "$.r",
                  "Assign": {"seven.$": "$.v", "n": 3}, "Next": "B"},
            "B": {"Type": "Pass", "Parameters": {"sum.$": "States.MathAdd($seven, $n)"},
                  "OutputPath": "$.sum", "End": true}
        }
    });
    let result = run(&definition, json!({}));
    assert_eq!(result.status, Status::Succeeded, "{result:?}");
    assert_eq!(result.output, Some(json!(10)));
}

#[test]
fn runaway_and_undefined_expressions_fail_with_query_evaluation_errors() {
    for (expression, needle) in [
        ("{% $range(1, 1000000000) %}", "threw an error"),
        (
            "{% ($f := function($n){ 1 + $f($n + 1) }; $f(0)) %}",
            "threw an error",
        ),
        ("{% $nothing %}", "returned nothing (undefined)"),
    ] {
        let definition = json!({
            "QueryLanguage": "JSONata",
            "StartAt": "A",
            "States": {"A": {"Type": "Pass", "Output": expression, "End": true}}
        });
        let result = run(&definition, json!({}));
        assert_eq!(result.status, Status::Failed, "{expression}: {result:?}");
        assert_eq!(
            result.error.as_deref(),
            Some("States.QueryEvaluationError"),
            "{expression}"
        );
        let cause = result.cause.unwrap_or_default();
        assert!(
            cause.starts_with(
                "An error occurred while executing the state 'A' (entered at the event id #2)."
            ) && cause.contains(needle),
            "{expression}: {cause}"
        );
    }
}
