use super::*;
use crate::json;
use crate::json::Value;
use crate::vm::history::{io_details, ERROR_EVENTS, FATAL_EVENTS};

const ARN: &str =
    "arn:aws:states:us-east-1:123456789012:express:SM:run:0f1e2d3c-0000-4000-8000-000000000000";

const ALL_DATA: LogOptions = LogOptions {
    level: LogLevel::All,
    include_execution_data: true,
};

const NO_DATA: LogOptions = LogOptions {
    level: LogLevel::All,
    include_execution_data: false,
};

fn event(id: u64, previous: u64, event_type: &'static str, details: Value) -> HistoryEvent {
    HistoryEvent {
        id,
        previous_event_id: previous,
        event_type,
        timestamp_ms: 1_713_959_670_680,
        details,
    }
}

fn entered(input: Value) -> HistoryEvent {
    event(
        2,
        0,
        "PassStateEntered",
        io_details(
            "stateEnteredEventDetails",
            Some("LogInput"),
            "input",
            &input,
        ),
    )
}

fn exited(output: Value) -> HistoryEvent {
    event(
        3,
        2,
        "PassStateExited",
        io_details(
            "stateExitedEventDetails",
            Some("LogInput"),
            "output",
            &output,
        ),
    )
}

/// The record parsed back.
fn parsed(event: &HistoryEvent, options: &LogOptions) -> Value {
    let text = record(event, ARN, options).expect("logged");
    assert!(!text.contains('\n'), "one line: {text}");
    json::from_str(&text).unwrap_or_else(|err| panic!("not JSON ({err}): {text}"))
}

fn keys(value: &Value) -> Vec<&str> {
    value
        .as_object()
        .expect("an object")
        .keys()
        .map(|key| key.as_str())
        .collect()
}

#[test]
fn a_record_has_the_keys_in_order_and_every_top_level_value_is_a_string() {
    let text = record(&entered(json!({"a": 1})), ARN, &ALL_DATA).expect("logged");
    assert_eq!(
        text,
        format!(
            concat!(
                r#"{{"id":"2","type":"PassStateEntered","#,
                r#""details":{{"input":"{{\"a\":1}}","inputDetails":{{"truncated":false}},"name":"LogInput"}},"#,
                r#""previous_event_id":"0","event_timestamp":"1713959670680","#,
                r#""execution_arn":"{}","redrive_count":"0"}}"#
            ),
            ARN
        )
    );
    let value = parsed(&exited(json!([1, 2])), &ALL_DATA);
    assert_eq!(
        keys(&value),
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
    for (key, field) in value.as_object().expect("an object") {
        if key.as_str() != "details" {
            assert!(field.is_string(), "{key} is {field}");
        }
    }
    assert_eq!(value["previous_event_id"], json!("2"));
}

#[test]
fn details_keys_are_in_alphabetical_order() {
    let value = parsed(&exited(json!({})), &ALL_DATA);
    assert_eq!(keys(&value["details"]), ["name", "output", "outputDetails"]);
    let started = event(
        1,
        0,
        "ExecutionStarted",
        json!({"executionStartedEventDetails": {
            "roleArn": "arn:aws:iam::123456789012:role/stepstream",
            "input": {},
            "inputDetails": {"truncated": false},
        }}),
    );
    let value = parsed(&started, &ALL_DATA);
    assert_eq!(
        keys(&value["details"]),
        ["input", "inputDetails", "roleArn"]
    );
    let failed = event(
        3,
        2,
        "ExecutionFailed",
        json!({"executionFailedEventDetails": {"error": "E", "cause": "C"}}),
    );
    let value = parsed(&failed, &ALL_DATA);
    assert_eq!(keys(&value["details"]), ["cause", "error"]);
}

#[test]
fn events_without_details_have_an_empty_details_object() {
    let started = event(3, 2, "ParallelStateStarted", json!({}));
    assert_eq!(parsed(&started, &ALL_DATA)["details"], json!({}));
    let no_object = event(3, 2, "ParallelStateStarted", Value::Null);
    assert_eq!(parsed(&no_object, &ALL_DATA)["details"], json!({}));
}

#[test]
fn input_and_output_are_escaped_json_texts() {
    let payload = json!({
        "quote": "say \"hi\"",
        "backslash": "C:\\temp\\",
        "control": "line\nbreak\ttab\u{1}",
        "unicode": "héllo ✓ 😀",
        "nested": [null, true, 1.5, -2, {"k": "v"}],
    });
    for event in [entered(payload.clone()), exited(payload.clone())] {
        let value = parsed(&event, &ALL_DATA);
        let field = if event.event_type.ends_with("Entered") {
            "input"
        } else {
            "output"
        };
        let text = value["details"][field].as_str().expect("a string");
        assert_eq!(text, json::to_string(&payload));
        assert_eq!(json::from_str(text).expect("JSON"), payload);
    }
    // A payload that is itself a string is the JSON text of that string.
    let value = parsed(&entered(json!("a\"b")), &ALL_DATA);
    assert_eq!(value["details"]["input"], json!(r#""a\"b""#));
}

#[test]
fn task_parameters_are_a_json_text_too() {
    let scheduled = event(
        4,
        3,
        "TaskScheduled",
        json!({"taskScheduledEventDetails": {
            "parameters": {"FunctionName": "f", "Payload": {"x": 1}},
            "region": "us-east-1",
            "resource": "invoke",
            "resourceType": "lambda",
            "timeoutInSeconds": 30,
        }}),
    );
    let value = parsed(&scheduled, &ALL_DATA);
    assert_eq!(
        value["details"]["parameters"],
        json!(r#"{"FunctionName":"f","Payload":{"x":1}}"#)
    );
    assert_eq!(value["details"]["timeoutInSeconds"], json!(30));
    let value = parsed(&scheduled, &NO_DATA);
    assert_eq!(
        keys(&value["details"]),
        ["region", "resource", "resourceType", "timeoutInSeconds"]
    );
}

#[test]
fn without_execution_data_payloads_and_their_flags_are_left_out() {
    let value = parsed(&entered(json!({"secret": 1})), &NO_DATA);
    assert_eq!(value["details"], json!({"name": "LogInput"}));
    let value = parsed(&exited(json!({"secret": 1})), &NO_DATA);
    assert_eq!(value["details"], json!({"name": "LogInput"}));
    let succeeded = event(
        4,
        3,
        "ExecutionSucceeded",
        io_details("executionSucceededEventDetails", None, "output", &json!(1)),
    );
    assert_eq!(parsed(&succeeded, &NO_DATA)["details"], json!({}));
    let failed = event(
        3,
        2,
        "ExecutionFailed",
        json!({"executionFailedEventDetails": {"error": "E", "cause": "C"}}),
    );
    assert_eq!(
        parsed(&failed, &NO_DATA)["details"],
        json!({"cause": "C", "error": "E"})
    );
}

#[test]
fn a_payload_over_the_limit_is_cut_and_flagged() {
    // Exactly at the limit: whole. (A string payload's quotes print as `\"`, 4 bytes.)
    let fits = "x".repeat(MAX_PAYLOAD_BYTES - 4);
    let value = parsed(&entered(json!(fits)), &ALL_DATA);
    assert_eq!(
        value["details"]["inputDetails"],
        json!({"truncated": false})
    );
    let text = value["details"]["input"].as_str().expect("a string");
    assert_eq!(json::string_size(text) - 2, MAX_PAYLOAD_BYTES);
    assert_eq!(json::from_str(text).ok(), Some(json!(fits)));

    // Over: cut to the limit (here the closing quote goes).
    let over = "x".repeat(MAX_PAYLOAD_BYTES - 2);
    let value = parsed(&exited(json!(over)), &ALL_DATA);
    assert_eq!(
        value["details"]["outputDetails"],
        json!({"truncated": true})
    );
    let text = value["details"]["output"].as_str().expect("a string");
    assert_eq!(json::string_size(text) - 2, MAX_PAYLOAD_BYTES);
    assert_eq!(text.len(), MAX_PAYLOAD_BYTES - 1);
    assert!(text.starts_with("\"xxx"));

    // The limit counts escaped bytes, and a cut falls between characters.
    let quotes = json!({"q": "\"".repeat(MAX_PAYLOAD_BYTES)});
    let mut out = Vec::new();
    assert!(write_record(&mut out, &entered(quotes), ARN, &ALL_DATA));
    let line = std::str::from_utf8(&out).expect("UTF-8");
    let value: Value = json::from_str(line.trim_end()).expect("JSON");
    assert_eq!(value["details"]["inputDetails"], json!({"truncated": true}));
    let input = value["details"]["input"].as_str().expect("a string");
    let escaped = json::string_size(input) - 2;
    assert!(escaped <= MAX_PAYLOAD_BYTES, "{escaped}");
    assert!(escaped >= MAX_PAYLOAD_BYTES - 1, "{escaped}");

    for pad in 0..4 {
        let wide = format!(
            "{}{}",
            "a".repeat(pad),
            "€".repeat(MAX_PAYLOAD_BYTES / 3 + 1)
        );
        let text = record(&entered(json!(wide)), ARN, &ALL_DATA).expect("logged");
        let value: Value = json::from_str(&text).expect("JSON");
        let input = value["details"]["input"].as_str().expect("a string");
        let escaped = json::string_size(input) - 2;
        assert!(
            escaped <= MAX_PAYLOAD_BYTES && escaped > MAX_PAYLOAD_BYTES - 3,
            "{escaped}"
        );
        assert!(input.ends_with('€'), "pad {pad}");
        assert_eq!(value["details"]["inputDetails"], json!({"truncated": true}));
    }
}

#[test]
fn records_append_to_a_buffer_one_line_each() {
    let mut out = b"previous\n".to_vec();
    assert!(write_record(&mut out, &entered(json!({})), ARN, &ALL_DATA));
    assert!(write_record(&mut out, &exited(json!({})), ARN, &ALL_DATA));
    let text = String::from_utf8(out).expect("UTF-8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0], "previous");
    for line in &lines[1..] {
        json::from_str(line).expect("one record per line");
    }
    assert!(text.ends_with('\n'));
}

/// Every event type the engine or AWS records.
const EVENT_TYPES: [&str; 45] = [
    "ActivityFailed",
    "ActivityScheduleFailed",
    "ActivityScheduled",
    "ActivityStarted",
    "ActivitySucceeded",
    "ActivityTimedOut",
    "ChoiceStateEntered",
    "ChoiceStateExited",
    "ExecutionAborted",
    "ExecutionFailed",
    "ExecutionStarted",
    "ExecutionSucceeded",
    "ExecutionTimedOut",
    "FailStateEntered",
    "LambdaFunctionFailed",
    "LambdaFunctionScheduleFailed",
    "LambdaFunctionScheduled",
    "LambdaFunctionStartFailed",
    "LambdaFunctionStarted",
    "LambdaFunctionSucceeded",
    "LambdaFunctionTimedOut",
    "MapIterationAborted",
    "MapIterationFailed",
    "MapIterationStarted",
    "MapIterationSucceeded",
    "MapRunAborted",
    "MapRunFailed",
    "MapRunStarted",
    "MapRunSucceeded",
    "MapStateAborted",
    "MapStateEntered",
    "MapStateExited",
    "MapStateFailed",
    "MapStateStarted",
    "MapStateSucceeded",
    "ParallelStateAborted",
    "ParallelStateEntered",
    "ParallelStateExited",
    "ParallelStateFailed",
    "ParallelStateStarted",
    "ParallelStateSucceeded",
    "TaskFailed",
    "TaskStartFailed",
    "TaskStateAborted",
    "TaskSubmitFailed",
];

const MORE_EVENT_TYPES: [&str; 14] = [
    "PassStateEntered",
    "PassStateExited",
    "SucceedStateEntered",
    "SucceedStateExited",
    "TaskScheduled",
    "TaskStarted",
    "TaskStateEntered",
    "TaskStateExited",
    "TaskSucceeded",
    "TaskTimedOut",
    "WaitStateAborted",
    "WaitStateEntered",
    "WaitStateExited",
    "EvaluationFailed",
];

fn logged_at(level: LogLevel) -> Vec<&'static str> {
    let mut logged: Vec<&str> = EVENT_TYPES
        .iter()
        .chain(&MORE_EVENT_TYPES)
        .copied()
        .filter(|event_type| includes(level, event_type))
        .collect();
    logged.sort_unstable();
    logged
}

#[test]
fn each_level_logs_its_events() {
    assert_eq!(logged_at(LogLevel::All).len(), 59);
    assert!(logged_at(LogLevel::Off).is_empty());
    assert_eq!(
        logged_at(LogLevel::Fatal),
        ["ExecutionAborted", "ExecutionFailed", "ExecutionTimedOut"]
    );
    assert_eq!(
        logged_at(LogLevel::Error),
        [
            "ActivityFailed",
            "ActivityScheduleFailed",
            "ActivityTimedOut",
            "ExecutionAborted",
            "ExecutionFailed",
            "ExecutionTimedOut",
            "FailStateEntered",
            "LambdaFunctionFailed",
            "LambdaFunctionScheduleFailed",
            "LambdaFunctionStartFailed",
            "LambdaFunctionTimedOut",
            "MapIterationAborted",
            "MapIterationFailed",
            "MapRunAborted",
            "MapRunFailed",
            "MapStateAborted",
            "MapStateFailed",
            "ParallelStateAborted",
            "ParallelStateFailed",
            "TaskFailed",
            "TaskStartFailed",
            "TaskStateAborted",
            "TaskSubmitFailed",
            "TaskTimedOut",
            "WaitStateAborted",
        ]
    );
    // The binary search needs the list in byte order.
    assert!(ERROR_EVENTS.windows(2).all(|pair| pair[0] < pair[1]));
    assert!(FATAL_EVENTS
        .iter()
        .all(|event| includes(LogLevel::Error, event)));
}

#[test]
fn a_level_leaves_out_records_of_other_events() {
    let options = LogOptions {
        level: LogLevel::Error,
        include_execution_data: true,
    };
    let mut out = Vec::new();
    assert!(!write_record(&mut out, &entered(json!({})), ARN, &options));
    assert!(out.is_empty());
    assert_eq!(record(&entered(json!({})), ARN, &options), None);
    let fail = event(
        2,
        0,
        "FailStateEntered",
        io_details("stateEnteredEventDetails", Some("F"), "input", &json!({})),
    );
    assert!(record(&fail, ARN, &options).is_some());
    let off = LogOptions {
        level: LogLevel::Off,
        include_execution_data: true,
    };
    assert_eq!(record(&fail, ARN, &off), None);
}

#[test]
fn levels_parse_in_any_case() {
    assert_eq!("ALL".parse::<LogLevel>(), Ok(LogLevel::All));
    assert_eq!("error".parse::<LogLevel>(), Ok(LogLevel::Error));
    assert_eq!("Fatal".parse::<LogLevel>(), Ok(LogLevel::Fatal));
    assert_eq!("off".parse::<LogLevel>(), Ok(LogLevel::Off));
    let err = "INFO".parse::<LogLevel>().expect_err("not a level");
    assert!(err.contains("\"INFO\""), "{err}");
    assert!(err.contains("ALL, ERROR, FATAL or OFF"), "{err}");
    for level in [
        LogLevel::All,
        LogLevel::Error,
        LogLevel::Fatal,
        LogLevel::Off,
    ] {
        assert_eq!(level.to_string().parse::<LogLevel>(), Ok(level));
    }
}

#[test]
fn odd_details_never_panic() {
    let odd = [
        json!({"x": 1}),
        json!({"x": {"input": 1}}),
        json!({"x": {"inputDetails": {"truncated": false}}}),
        json!({"x": {"": null, "a": [], "output": "text"}}),
        json!([1, 2]),
        json!("text"),
    ];
    for details in odd {
        let text =
            record(&event(1, 0, "PassStateEntered", details), ARN, &ALL_DATA).expect("logged");
        json::from_str(&text).expect("JSON");
    }
}
