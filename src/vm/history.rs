//! History events as AWS numbers and names them, recorded by the VM for the history sink.

use crate::json;
use crate::json::Value;

/// One history event. `details` holds the event's details object under its AWS key, e.g.
/// `{"stateEnteredEventDetails": {"name": …, "input": …, "inputDetails": {"truncated": false}}}`;
/// `input`/`output` are kept as JSON values (the log sink renders them as strings).
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEvent {
    pub id: u64,
    pub previous_event_id: u64,
    pub event_type: &'static str,
    pub timestamp_ms: i64,
    pub details: Value,
}

impl HistoryEvent {
    /// The event in the shape of GetExecutionHistory's `events[]` entries.
    pub fn to_json(&self) -> Value {
        let mut object = json::Map::new();
        object.insert("id", Value::from(self.id));
        object.insert("previousEventId", Value::from(self.previous_event_id));
        object.insert(
            "timestamp",
            Value::from(crate::time::format_millis(self.timestamp_ms)),
        );
        object.insert("type", Value::String(self.event_type.into()));
        if let Value::Object(details) = &self.details {
            for (key, value) in details {
                object.insert(key.clone(), value.clone());
            }
        }
        Value::Object(object)
    }
}

/// The `…StateEntered` and `…StateExited` event types of a state type.
pub(crate) fn state_event_types(type_name: &str) -> (&'static str, &'static str) {
    match type_name {
        "Pass" => ("PassStateEntered", "PassStateExited"),
        "Task" => ("TaskStateEntered", "TaskStateExited"),
        "Choice" => ("ChoiceStateEntered", "ChoiceStateExited"),
        "Wait" => ("WaitStateEntered", "WaitStateExited"),
        "Succeed" => ("SucceedStateEntered", "SucceedStateExited"),
        "Fail" => ("FailStateEntered", "FailStateExited"),
        "Parallel" => ("ParallelStateEntered", "ParallelStateExited"),
        _ => ("MapStateEntered", "MapStateExited"),
    }
}

/// How a Task resource shows in history: Lambda functions called by ARN have their own
/// event types; service integrations split into `resourceType` and `resource`.
pub(crate) enum ResourceKind<'a> {
    LambdaFunction,
    Service {
        resource_type: &'a str,
        resource: &'a str,
    },
}

pub(crate) fn resource_kind(arn: &str) -> ResourceKind<'_> {
    if arn.starts_with("arn:aws:lambda:")
        || arn.split(':').nth(2) == Some("lambda") && !arn.contains(":states:")
    {
        return ResourceKind::LambdaFunction;
    }
    let rest = arn.splitn(6, ':').nth(5).unwrap_or(arn);
    match rest.rsplit_once(':') {
        Some((resource_type, resource)) => ResourceKind::Service {
            resource_type,
            resource,
        },
        None => ResourceKind::Service {
            resource_type: rest,
            resource: rest,
        },
    }
}

pub(crate) fn io_details(key: &str, name: Option<&str>, field: &str, value: &Value) -> Value {
    let mut inner = json::Map::new();
    if let Some(name) = name {
        inner.insert("name", Value::String(name.into()));
    }
    inner.insert(field, value.clone());
    inner.insert(
        format!("{field}Details"),
        json::object([("truncated", Value::Bool(false))]),
    );
    let mut outer = json::Map::new();
    outer.insert(key, Value::Object(inner));
    Value::Object(outer)
}

pub(crate) fn error_details(key: &str, error: &Option<String>, cause: &Option<String>) -> Value {
    let mut inner = json::Map::new();
    if let Some(error) = error {
        inner.insert("error", Value::from(error.clone()));
    }
    if let Some(cause) = cause {
        inner.insert("cause", Value::from(cause.clone()));
    }
    let mut outer = json::Map::new();
    outer.insert(key, Value::Object(inner));
    Value::Object(outer)
}
