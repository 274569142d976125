//! JSON comparison as the conformance README asks for: object key order carries no meaning,
//! numbers are compared by value (`1.0 == 1`, `-0 == 0`).
//!
//! Also used by `benches/engine.rs` (through `#[path]`), so it depends on serde_json only.

use serde_json::{Number, Value};
use std::fmt::Write as _;

/// True when `a` and `b` are the same JSON value.
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => numbers_equal(x, y),
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Array(xs), Value::Array(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| json_eq(x, y))
        }
        (Value::Object(xs), Value::Object(ys)) => {
            xs.len() == ys.len()
                && xs
                    .iter()
                    .all(|(key, x)| ys.get(key).is_some_and(|y| json_eq(x, y)))
        }
        _ => false,
    }
}

fn numbers_equal(x: &Number, y: &Number) -> bool {
    if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
        return x == y;
    }
    if let (Some(x), Some(y)) = (x.as_u64(), y.as_u64()) {
        return x == y;
    }
    match (x.as_f64(), y.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// The first place where `actual` differs from `expected`, as one line
/// (`at $.a[2]: expected 1, got "x"`), or `None` when they are equal.
pub fn json_diff(expected: &Value, actual: &Value) -> Option<String> {
    let mut path = String::from("$");
    diff_at(&mut path, expected, actual)
}

fn diff_at(path: &mut String, expected: &Value, actual: &Value) -> Option<String> {
    match (expected, actual) {
        (Value::Array(xs), Value::Array(ys)) => {
            for (index, (x, y)) in xs.iter().zip(ys).enumerate() {
                let length = path.len();
                let _ = write!(path, "[{index}]");
                if let Some(difference) = diff_at(path, x, y) {
                    return Some(difference);
                }
                path.truncate(length);
            }
            if xs.len() != ys.len() {
                return Some(format!(
                    "at {path}: expected an array of {} items, got {} items",
                    xs.len(),
                    ys.len()
                ));
            }
            None
        }
        (Value::Object(xs), Value::Object(ys)) => {
            for (key, x) in xs {
                let length = path.len();
                push_key(path, key);
                let difference = match ys.get(key) {
                    None => Some(format!("at {path}: missing (expected {})", brief(x))),
                    Some(y) => diff_at(path, x, y),
                };
                if difference.is_some() {
                    return difference;
                }
                path.truncate(length);
            }
            for (key, y) in ys {
                if !xs.contains_key(key) {
                    push_key(path, key);
                    return Some(format!("at {path}: unexpected {}", brief(y)));
                }
            }
            None
        }
        _ if json_eq(expected, actual) => None,
        _ => Some(format!(
            "at {path}: expected {}, got {}",
            brief(expected),
            brief(actual)
        )),
    }
}

fn push_key(path: &mut String, key: &str) {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !key.starts_with(|c: char| c.is_ascii_digit());
    if plain {
        path.push('.');
        path.push_str(key);
    } else {
        path.push('[');
        path.push_str(&Value::String(key.to_owned()).to_string());
        path.push(']');
    }
}

/// Compact JSON, cut to a length that fits on a report line.
pub fn brief(value: &Value) -> String {
    shorten(&value.to_string(), 100)
}

/// `text` cut to at most `limit` characters, with `…` where it was cut.
pub fn shorten(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(limit).collect();
    cut.push('…');
    cut
}
