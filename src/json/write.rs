//! The JSON printer: a [`Value`] to the bytes `serde_json` would print.
//!
//! Strings escape `"`, `\` and the control characters, as `serde_json` does (`\b \f \n \r \t`,
//! the others as `\u00XX` with lowercase hex digits) and nothing else; integers print as
//! decimal integers and floats as `serde_json` 1.0.154 prints them (the shortest text that
//! reads back as the same float, by `zmij`).

use super::parse::skip_plain;
use super::{Map, Number, Value, N};

/// Appends a value's compact JSON.
pub fn write_to(value: &Value, out: &mut Vec<u8>) {
    element(value, out);
}

/// Appends a value's compact JSON: scalars here, containers by a call.
#[inline(always)]
fn element(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::String(text) => quoted(out, b"\"", text, b"\""),
        Value::Number(value) => number(out, value),
        Value::Object(fields) => object(fields, out),
        Value::Array(items) => array(items, out),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Null => out.extend_from_slice(b"null"),
    }
}

/// Appends an array's compact JSON.
#[inline(never)]
fn array(items: &[Value], out: &mut Vec<u8>) {
    out.push(b'[');
    let mut items = items.iter();
    if let Some(first) = items.next() {
        element(first, out);
        for item in items {
            out.push(b',');
            element(item, out);
        }
    }
    out.push(b']');
}

/// Appends an object's compact JSON.
#[inline(never)]
fn object(fields: &Map, out: &mut Vec<u8>) {
    let mut fields = fields.iter();
    match fields.next() {
        None => out.extend_from_slice(b"{}"),
        Some((key, value)) => {
            quoted(out, b"{\"", key, b"\":");
            element(value, out);
            for (key, value) in fields {
                quoted(out, b",\"", key, b"\":");
                element(value, out);
            }
            out.push(b'}');
        }
    }
}

/// Appends a string as a JSON string literal, escaped as [`write_to`] escapes strings.
pub fn write_str(text: &str, out: &mut Vec<u8>) {
    string(out, text);
}

/// A value's compact JSON.
pub fn to_vec(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    write_to(value, &mut out);
    out
}

/// A value's compact JSON as text.
pub fn to_string(value: &Value) -> String {
    String::from_utf8(to_vec(value)).expect("JSON is UTF-8")
}

/// A value's JSON indented by two spaces, as `serde_json::to_string_pretty` prints it.
pub fn to_string_pretty(value: &Value) -> String {
    let mut out = Vec::with_capacity(128);
    pretty(value, 0, &mut out);
    String::from_utf8(out).expect("JSON is UTF-8")
}

/// Appends a value's indented JSON, the value being `depth` containers deep.
fn pretty(value: &Value, depth: usize, out: &mut Vec<u8>) {
    match value {
        Value::Array(items) if !items.is_empty() => {
            out.push(b'[');
            for (position, item) in items.iter().enumerate() {
                if position > 0 {
                    out.push(b',');
                }
                new_line(out, depth + 1);
                pretty(item, depth + 1, out);
            }
            new_line(out, depth);
            out.push(b']');
        }
        Value::Object(fields) if !fields.is_empty() => {
            out.push(b'{');
            for (position, (key, value)) in fields.iter().enumerate() {
                if position > 0 {
                    out.push(b',');
                }
                new_line(out, depth + 1);
                string(out, key);
                out.extend_from_slice(b": ");
                pretty(value, depth + 1, out);
            }
            new_line(out, depth);
            out.push(b'}');
        }
        _ => write_to(value, out),
    }
}

/// Appends a line break and the indentation of `depth` levels.
fn new_line(out: &mut Vec<u8>, depth: usize) {
    out.push(b'\n');
    out.resize(out.len() + 2 * depth, b' ');
}

/// The length of a value's compact JSON, without printing it.
pub fn size(value: &Value) -> usize {
    match value {
        Value::Null | Value::Bool(true) => 4,
        Value::Bool(false) => 5,
        Value::Number(value) => number_size(value),
        Value::String(text) => string_size(text),
        Value::Array(items) => {
            2 + items.len().saturating_sub(1) + items.iter().map(size).sum::<usize>()
        }
        Value::Object(fields) => {
            2 + fields.len().saturating_sub(1)
                + fields
                    .iter()
                    .map(|(key, value)| string_size(key) + 1 + size(value))
                    .sum::<usize>()
        }
    }
}

/// Whether a value has containers nested more than `limit` deep (a scalar is 0 deep, `[]` 1).
/// It walks the value without recursion and stops at the first container past the limit, so
/// it is safe on values of any depth, which the recursive printer and measure are not.
pub fn deeper_than(value: &Value, limit: usize) -> bool {
    let container = |value: &&Value| matches!(value, Value::Array(_) | Value::Object(_));
    let mut pending: Vec<(&Value, usize)> = vec![(value, 0)];
    while let Some((value, depth)) = pending.pop() {
        let inner = depth + 1;
        match value {
            Value::Array(_) | Value::Object(_) if inner > limit => return true,
            Value::Array(items) => {
                pending.extend(items.iter().filter(container).map(|item| (item, inner)));
            }
            Value::Object(fields) => {
                let items = fields.iter().map(|(_, item)| item);
                pending.extend(items.filter(container).map(|item| (item, inner)));
            }
            _ => {}
        }
    }
    false
}

/// Sizes of containers measured before, by identity. Values passed from state to state share
/// their containers (cloning a value shares them), so a memo lets each be measured once: a
/// value's direct children that were measured before cost one lookup.
///
/// The memo keeps the containers it remembers alive, so no other container can take the
/// address of one of them; it remembers the last [`SizeMemo::CAPACITY`] it measured.
#[derive(Default)]
pub struct SizeMemo {
    entries: Vec<(Value, usize)>,
    next: usize,
}

impl SizeMemo {
    pub const CAPACITY: usize = 16;

    /// The length of `value`'s compact JSON, as [`size`] gives it.
    pub fn size(&mut self, value: &Value) -> usize {
        match value {
            Value::Array(items) => {
                2 + items.len().saturating_sub(1)
                    + items.iter().map(|item| self.child(item)).sum::<usize>()
            }
            Value::Object(fields) => {
                2 + fields.len().saturating_sub(1)
                    + fields
                        .iter()
                        .map(|(key, value)| string_size(key) + 1 + self.child(value))
                        .sum::<usize>()
            }
            _ => size(value),
        }
    }

    fn child(&mut self, value: &Value) -> usize {
        let identity = match value {
            Value::Array(items) if !items.is_empty() => items.identity(),
            Value::Object(fields) if !fields.is_empty() => fields.identity(),
            _ => return size(value),
        };
        if let Some((_, known)) = self
            .entries
            .iter()
            .find(|(remembered, _)| remembered.identity() == Some(identity))
        {
            return *known;
        }
        let measured = size(value);
        if self.entries.len() < Self::CAPACITY {
            self.entries.push((value.clone(), measured));
        } else {
            self.entries[self.next] = (value.clone(), measured);
            self.next = (self.next + 1) % Self::CAPACITY;
        }
        measured
    }
}

/// How much larger than its source text a parsed value's compact JSON can be.
///
/// Structure and strings never grow: whitespace is dropped and every escape prints at most as
/// long as it was written (`\u00e9` becomes `é`, control characters stay escaped). Only
/// numbers can grow, when a float written with an exponent prints in full: `1e15` (4 bytes)
/// prints as `1000000000000000.0` (18), the largest ratio, 4.5; no number prints longer than
/// 24 bytes.
const MAX_GROWTH: usize = 5;

/// An upper bound of the compact size of any value parsed from `raw_len` bytes of JSON text,
/// known without walking the value.
pub fn size_bound(raw_len: usize) -> usize {
    raw_len.saturating_mul(MAX_GROWTH)
}

/// Appends a number as JSON prints it.
pub(super) fn number(out: &mut Vec<u8>, number: &Number) {
    match number.0 {
        // One and two digits, the commonest, without a copy of unknown length.
        N::PosInt(value @ 0..=9) => out.push(b'0' + value as u8),
        N::PosInt(value @ 10..=99) => {
            out.extend_from_slice(&[b'0' + (value / 10) as u8, b'0' + (value % 10) as u8]);
        }
        N::PosInt(value) => out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes()),
        N::NegInt(value) => out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes()),
        N::Float(value) => float(out, value),
    }
}

/// Appends a float as `serde_json` prints it (`null` if it is not finite, which a [`Number`]
/// never is).
fn float(out: &mut Vec<u8>, value: f64) {
    if value.is_finite() {
        out.extend_from_slice(zmij::Buffer::new().format_finite(value).as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
}

/// The length of a number as JSON prints it.
fn number_size(number: &Number) -> usize {
    match number.0 {
        N::PosInt(value) => decimal_digits(value),
        N::NegInt(value) => 1 + decimal_digits(value.unsigned_abs()),
        N::Float(value) if value.is_finite() => zmij::Buffer::new().format_finite(value).len(),
        N::Float(_) => 4,
    }
}

/// The number of decimal digits of an integer.
fn decimal_digits(value: u64) -> usize {
    value.checked_ilog10().map_or(1, |log| log as usize + 1)
}

/// How each control character prints inside a string: `u` as `\u00XX`, any other byte `c` as
/// `\c`.
static ESCAPE: [u8; 32] = [
    b'u', b'u', b'u', b'u', b'u', b'u', b'u', b'u', b'b', b't', b'n', b'u', b'f', b'r', b'u', b'u',
    b'u', b'u', b'u', b'u', b'u', b'u', b'u', b'u', b'u', b'u', b'u', b'u', b'u', b'u', b'u', b'u',
];

/// Whether a byte is escaped in a string literal.
static ESCAPED: [bool; 256] = {
    let mut escaped = [false; 256];
    let mut byte = 0;
    while byte < 0x20 {
        escaped[byte] = true;
        byte += 1;
    }
    escaped[b'"' as usize] = true;
    escaped[b'\\' as usize] = true;
    escaped
};

/// The offset of the first byte of `bytes` from `index` that is escaped, or their length.
#[inline(always)]
fn plain_until(bytes: &[u8], index: usize) -> usize {
    if bytes.len() - index >= 8 {
        return skip_plain(bytes, index);
    }
    bytes[index..]
        .iter()
        .position(|&byte| ESCAPED[usize::from(byte)])
        .map_or(bytes.len(), |offset| index + offset)
}

/// Appends a string as a JSON string literal.
fn string(out: &mut Vec<u8>, text: &str) {
    quoted(out, b"\"", text, b"\"");
}

/// Appends `open`, a string's text escaped, and `close` (which hold the quotes, and the
/// punctuation around them).
#[inline(always)]
fn quoted(out: &mut Vec<u8>, open: &[u8], text: &str, close: &[u8]) {
    let bytes = text.as_bytes();
    let plain = plain_until(bytes, 0);
    out.reserve(open.len() + bytes.len() + close.len());
    out.extend_from_slice(open);
    if plain == bytes.len() {
        out.extend_from_slice(bytes);
    } else {
        escaped(out, bytes, plain);
    }
    out.extend_from_slice(close);
}

/// Appends a string's text whose first escaped byte is at `index`.
#[inline(never)]
fn escaped(out: &mut Vec<u8>, bytes: &[u8], mut index: usize) {
    let mut copied = 0;
    while let Some(&byte) = bytes.get(index) {
        out.extend_from_slice(&bytes[copied..index]);
        escape(out, byte);
        copied = index + 1;
        index = plain_until(bytes, copied);
    }
    out.extend_from_slice(&bytes[copied..]);
}

/// Appends the escape of `"`, `\` or a control character.
#[cold]
fn escape(out: &mut Vec<u8>, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match byte {
        b'"' | b'\\' => out.extend_from_slice(&[b'\\', byte]),
        _ => match ESCAPE[usize::from(byte & 0x1f)] {
            b'u' => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0xf)],
            ]),
            short => out.extend_from_slice(&[b'\\', short]),
        },
    }
}

/// The length of a string printed as a JSON string literal, quotes included.
pub fn string_size(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut size = bytes.len() + 2;
    let mut index = skip_plain(bytes, 0);
    while let Some(&byte) = bytes.get(index) {
        size += match byte {
            b'"' | b'\\' => 1,
            _ if ESCAPE[usize::from(byte & 0x1f)] == b'u' => 5,
            _ => 1,
        };
        index = skip_plain(bytes, index + 1);
    }
    size
}
