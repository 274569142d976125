//! Execution history as log records: one JSON line per history event, in the shape Step
//! Functions writes to CloudWatch Logs for Express workflows, filtered by a log level.
//!
//! A record is written straight into a byte buffer from the [`HistoryEvent`] the VM recorded,
//! so a batched sink appends records to one buffer without building values:
//!
//! ```text
//! {"id":"2","type":"PassStateEntered","details":{"input":"{}","inputDetails":{"truncated":false},"name":"A"},
//!  "previous_event_id":"0","event_timestamp":"1713959670680","execution_arn":"arn:aws:states:…:express:…","redrive_count":"0"}
//! ```
//!
//! Every top-level value is a string. `details` is the event's details object with its keys in
//! alphabetical order (as Step Functions writes them); `input`, `output` and a Task's
//! `parameters` are JSON texts in strings, cut at [`MAX_PAYLOAD_BYTES`] of escaped text and
//! then flagged `"truncated": true` in `inputDetails`/`outputDetails`.

use crate::json::{self, Map, Value};
use crate::vm::HistoryEvent;

pub use crate::vm::history::{includes, LogLevel};

pub mod sink;
#[cfg(test)]
mod tests;

/// The most escaped text an `input`, `output` or `parameters` string carries: 248 KiB, which
/// keeps a record under CloudWatch Logs' 256 KiB event limit. Longer texts are cut.
pub const MAX_PAYLOAD_BYTES: usize = 248 * 1024;

/// What is logged: the level, and whether payloads (`input`, `output`, a Task's
/// `parameters`) are part of the records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogOptions {
    pub level: LogLevel,
    /// `includeExecutionData`: with `false`, `input`, `inputDetails`, `output`,
    /// `outputDetails` and `parameters` are left out of `details`.
    pub include_execution_data: bool,
}

/// Appends the log record of `event`, and a line feed, to `out` when `options.level` logs
/// events of its type; says whether it did.
pub fn write_record(
    out: &mut Vec<u8>,
    event: &HistoryEvent,
    execution_arn: &str,
    options: &LogOptions,
) -> bool {
    if !includes(options.level, event.event_type) {
        return false;
    }
    let mut digits = itoa::Buffer::new();
    out.extend_from_slice(b"{\"id\":\"");
    out.extend_from_slice(digits.format(event.id).as_bytes());
    out.extend_from_slice(b"\",\"type\":");
    json::write_str(event.event_type, out);
    out.extend_from_slice(b",\"details\":");
    write_details(out, &event.details, options.include_execution_data);
    out.extend_from_slice(b",\"previous_event_id\":\"");
    out.extend_from_slice(digits.format(event.previous_event_id).as_bytes());
    out.extend_from_slice(b"\",\"event_timestamp\":\"");
    out.extend_from_slice(digits.format(event.timestamp_ms).as_bytes());
    out.extend_from_slice(b"\",\"execution_arn\":");
    json::write_str(execution_arn, out);
    out.extend_from_slice(b",\"redrive_count\":\"0\"}\n");
    true
}

/// The log record of `event` (without a line feed), or `None` when `options.level` does not
/// log events of its type.
pub fn record(event: &HistoryEvent, execution_arn: &str, options: &LogOptions) -> Option<String> {
    let mut out = Vec::with_capacity(256);
    if !write_record(&mut out, event, execution_arn, options) {
        return None;
    }
    out.pop();
    // Only UTF-8 text and ASCII punctuation were written, and payloads are cut at character
    // boundaries, so the conversion is lossless.
    Some(
        String::from_utf8(out)
            .unwrap_or_else(|err| String::from_utf8_lossy(err.as_bytes()).into_owned()),
    )
}

/// The event's details object: the only value of its `details` (`{"stateEnteredEventDetails":
/// {…}}`); events without details have an empty one.
fn inner_details(details: &Value) -> Option<&Map> {
    match details {
        Value::Object(outer) => outer.values().next().and_then(Value::as_object),
        _ => None,
    }
}

/// Appends the details object with its keys in byte order, payloads as (possibly cut)
/// strings and their `…Details` flags saying whether they were cut.
fn write_details(out: &mut Vec<u8>, details: &Value, include_data: bool) {
    let Some(fields) = inner_details(details) else {
        out.extend_from_slice(b"{}");
        return;
    };
    let mut truncated_input = false;
    let mut truncated_output = false;
    let mut first = true;
    let mut last: Option<&str> = None;
    // Each round writes the smallest key after the last one written: details objects have a
    // handful of keys, so this beats sorting into a new allocation.
    loop {
        let next = fields
            .iter()
            .filter(|(key, _)| last.is_none_or(|last| key.as_str() > last))
            .min_by(|(a, _), (b, _)| a.as_str().cmp(b.as_str()));
        let Some((key, value)) = next else {
            break;
        };
        let key = key.as_str();
        last = Some(key);
        let kind = FieldKind::of(key);
        if !include_data && kind != FieldKind::Plain {
            continue;
        }
        out.push(if first { b'{' } else { b',' });
        first = false;
        json::write_str(key, out);
        out.push(b':');
        match kind {
            FieldKind::Input => truncated_input = write_payload(out, value),
            FieldKind::Output => truncated_output = write_payload(out, value),
            FieldKind::Parameters => {
                write_payload(out, value);
            }
            FieldKind::InputDetails => write_flag(out, truncated_input),
            FieldKind::OutputDetails => write_flag(out, truncated_output),
            FieldKind::Plain => json::write_to(value, out),
        }
    }
    if first {
        out.extend_from_slice(b"{}");
    } else {
        out.push(b'}');
    }
}

/// How a details field is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldKind {
    Input,
    InputDetails,
    Output,
    OutputDetails,
    Parameters,
    Plain,
}

impl FieldKind {
    fn of(key: &str) -> FieldKind {
        match key {
            "input" => FieldKind::Input,
            "inputDetails" => FieldKind::InputDetails,
            "output" => FieldKind::Output,
            "outputDetails" => FieldKind::OutputDetails,
            "parameters" => FieldKind::Parameters,
            _ => FieldKind::Plain,
        }
    }
}

fn write_flag(out: &mut Vec<u8>, truncated: bool) {
    out.extend_from_slice(if truncated {
        b"{\"truncated\":true}"
    } else {
        b"{\"truncated\":false}"
    });
}

/// Appends a payload's compact JSON as a JSON string, cut so that its escaped text is at most
/// [`MAX_PAYLOAD_BYTES`]; says whether it was cut.
///
/// The JSON is printed into `out` and escaped where it lies: compact JSON has no control
/// characters (its strings escape them), so only `"` and `\` need escaping.
fn write_payload(out: &mut Vec<u8>, value: &Value) -> bool {
    out.push(b'"');
    let start = out.len();
    json::write_to(value, out);
    let needs_escape = |byte: &u8| *byte == b'"' || *byte == b'\\';
    let mut escapes = out[start..]
        .iter()
        .filter(|byte| needs_escape(byte))
        .count();
    let truncated = out.len() - start + escapes > MAX_PAYLOAD_BYTES;
    if truncated {
        let mut length = 0;
        let mut cut = 0;
        escapes = 0;
        for byte in &out[start..] {
            let width = if needs_escape(byte) { 2 } else { 1 };
            if length + width > MAX_PAYLOAD_BYTES {
                break;
            }
            length += width;
            escapes += width - 1;
            cut += 1;
        }
        // Back to a character boundary: a cut never splits a UTF-8 sequence.
        // (The bytes of a multi-byte character are never `"` or `\`.)
        while cut > 0 && out.get(start + cut).is_some_and(|byte| byte & 0xc0 == 0x80) {
            cut -= 1;
        }
        out.truncate(start + cut);
    }
    if escapes > 0 {
        // Spread the text out from its end, inserting a `\` before each `"` and `\`.
        let end = out.len();
        out.resize(end + escapes, 0);
        let mut write = out.len();
        for read in (start..end).rev() {
            let byte = out[read];
            write -= 1;
            out[write] = byte;
            if needs_escape(&byte) {
                write -= 1;
                out[write] = b'\\';
            }
        }
    }
    out.push(b'"');
    truncated
}
