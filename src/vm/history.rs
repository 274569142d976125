//! History events as AWS numbers and names them, recorded by the VM for the log sink, and the
//! log levels that decide which of them are kept.

use std::fmt;
use std::str::FromStr;

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
    let details = match field {
        "input" => "inputDetails".into(),
        "output" => "outputDetails".into(),
        "parameters" => "parametersDetails".into(),
        other => json::Str::from(format!("{other}Details").as_str()),
    };
    let mut inner = Vec::with_capacity(3);
    if let Some(name) = name {
        inner.push(("name".into(), Value::String(name.into())));
    }
    inner.push((field.into(), value.clone()));
    inner.push((details, json::object([("truncated", Value::Bool(false))])));
    Value::Object(json::Map::from_unique(vec![(
        key.into(),
        Value::Object(json::Map::from_unique(inner)),
    )]))
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

/// Which events are logged, as the state machine's `loggingConfiguration.level` says; also
/// which events the VM keeps ([`crate::vm::Limits::history_level`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Every event.
    All,
    /// Failures, aborts and time-outs of the execution, its states and its tasks.
    Error,
    /// The execution's own failure, time-out or abort.
    Fatal,
    /// Nothing.
    Off,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::All => "ALL",
            LogLevel::Error => "ERROR",
            LogLevel::Fatal => "FATAL",
            LogLevel::Off => "OFF",
        }
    }

    /// Whether events of `event_type` are logged at this level.
    pub fn includes(self, event_type: &str) -> bool {
        includes(self, event_type)
    }
}

impl FromStr for LogLevel {
    type Err = String;

    /// Reads `ALL`, `ERROR`, `FATAL` or `OFF`, in any case.
    fn from_str(text: &str) -> Result<LogLevel, String> {
        let level = [
            LogLevel::All,
            LogLevel::Error,
            LogLevel::Fatal,
            LogLevel::Off,
        ]
        .into_iter()
        .find(|level| level.as_str().eq_ignore_ascii_case(text.trim()));
        level
            .ok_or_else(|| format!("unknown log level {text:?}: expected ALL, ERROR, FATAL or OFF"))
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The events logged at `FATAL` (and at every level that logs anything).
pub(crate) const FATAL_EVENTS: [&str; 3] =
    ["ExecutionAborted", "ExecutionFailed", "ExecutionTimedOut"];

/// The events logged at `ERROR`, in byte order for the binary search.
pub(crate) const ERROR_EVENTS: [&str; 25] = [
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
];

/// Whether events of `event_type` are logged at `level`.
///
/// The VM asks this for every event it counts, so the common answer (no, at ERROR or FATAL) is
/// found from the name's ending before any table is searched: every event of those levels ends
/// in `Failed`, `Aborted` or `TimedOut`, or is `FailStateEntered`.
#[inline]
pub fn includes(level: LogLevel, event_type: &str) -> bool {
    match level {
        LogLevel::All => true,
        LogLevel::Off => false,
        _ if !may_be_error(event_type) => false,
        LogLevel::Fatal => FATAL_EVENTS.contains(&event_type),
        LogLevel::Error => ERROR_EVENTS.binary_search(&event_type).is_ok(),
    }
}

/// Whether `event_type` could be an ERROR-level event: a necessary condition, cheap to test.
/// Its last eight bytes, read as one word, are compared with the endings `Failed`, `Aborted`
/// and `TimedOut` (a byte-wise `ends_with` costs a `memcmp` call per ending, and the VM asks
/// for every event: W1 spent about 450 instructions an execution on this at ERROR).
#[inline]
fn may_be_error(event_type: &str) -> bool {
    const FAILED: u64 = u64::from_le_bytes(*b"\0\0Failed");
    const ABORTED: u64 = u64::from_le_bytes(*b"\0Aborted");
    const TIMED_OUT: u64 = u64::from_le_bytes(*b"TimedOut");
    const FAIL_STATE: u64 = u64::from_le_bytes(*b"FailStat");
    let bytes = event_type.as_bytes();
    let (Some(head), Some(tail)) = (bytes.first_chunk::<8>(), bytes.last_chunk::<8>()) else {
        return false;
    };
    let tail = u64::from_le_bytes(*tail);
    tail & !0xffff == FAILED
        || tail & !0xff == ABORTED
        || tail == TIMED_OUT
        || bytes.len() == 16 && u64::from_le_bytes(*head) == FAIL_STATE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quick_test_lets_every_error_event_through() {
        for event_type in ERROR_EVENTS.iter().chain(&FATAL_EVENTS) {
            assert!(may_be_error(event_type), "{event_type}");
        }
        for event_type in [
            "Failed",
            "xFailed",
            "Entered",
            "",
            "FailStateExited",
            "PassStateEntered",
        ] {
            assert!(!may_be_error(event_type), "{event_type}");
        }
        for event_type in [
            "PassStateEntered",
            "TaskStateExited",
            "ExecutionStarted",
            "MapRunStarted",
        ] {
            assert!(!includes(LogLevel::Error, event_type), "{event_type}");
        }
        assert!(includes(LogLevel::Error, "FailStateEntered"));
        assert!(!includes(LogLevel::Fatal, "FailStateEntered"));
        assert!(includes(LogLevel::Fatal, "ExecutionTimedOut"));
    }
}
