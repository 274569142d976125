//! JSON comparison as the conformance README asks for: object key order carries no meaning,
//! numbers are compared by value (`1.0 == 1`, `-0 == 0`).
//!
//! Also used by `benches/engine.rs` (through `#[path]`), so it depends on serde_json only.

use std::fmt::Write as _;
use stepstream::json::{Number, Value};

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
    json_diff_by(expected, actual, &|expected, actual| expected == actual)
}

/// Like `json_diff`, with `strings_match(expected, actual)` deciding when two strings are the
/// same (for recordings whose strings hold placeholders).
pub fn json_diff_by(
    expected: &Value,
    actual: &Value,
    strings_match: &dyn Fn(&str, &str) -> bool,
) -> Option<String> {
    let mut path = String::from("$");
    diff_at(&mut path, expected, actual, strings_match)
}

fn diff_at(
    path: &mut String,
    expected: &Value,
    actual: &Value,
    strings_match: &dyn Fn(&str, &str) -> bool,
) -> Option<String> {
    match (expected, actual) {
        (Value::Array(xs), Value::Array(ys)) => {
            for (index, (x, y)) in xs.iter().zip(ys).enumerate() {
                let length = path.len();
                let _ = write!(path, "[{index}]");
                if let Some(difference) = diff_at(path, x, y, strings_match) {
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
                    Some(y) => diff_at(path, x, y, strings_match),
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
        (Value::String(x), Value::String(y)) if strings_match(x, y) => None,
        (Value::String(x), Value::String(y)) => {
            Some(format!("at {path}: {}", string_difference(x, y)))
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
        path.push_str(&Value::from(key).to_string());
        path.push(']');
    }
}

/// How two strings differ, on one line: whole when short, else around the first difference.
pub fn string_difference(expected: &str, actual: &str) -> String {
    const SHORT: usize = 80;
    if expected.chars().count() <= SHORT && actual.chars().count() <= SHORT {
        return format!("expected {expected:?}, got {actual:?}");
    }
    let at = expected
        .chars()
        .zip(actual.chars())
        .take_while(|(x, y)| x == y)
        .count();
    let window = |text: &str| {
        let start = at.saturating_sub(20);
        let part: String = text.chars().skip(start).take(60).collect();
        let before = if start > 0 { "…" } else { "" };
        let after = if text.chars().count() > start + 60 {
            "…"
        } else {
            ""
        };
        format!("{before}{part:?}{after}")
    };
    format!(
        "strings differ at character {at}: expected {}, got {}",
        window(expected),
        window(actual)
    )
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

/// Whether `actual` matches `expected` when each occurrence of a placeholder in `expected`
/// (one of `placeholders`, e.g. `<region>`) stands for one or more characters.
pub fn matches_with_placeholders(expected: &str, actual: &str, placeholders: &[String]) -> bool {
    if expected == actual {
        return true;
    }
    let mut pieces: Vec<Option<&str>> = Vec::new();
    let mut rest = expected;
    while !rest.is_empty() {
        let found = placeholders
            .iter()
            .filter(|p| !p.is_empty())
            .filter_map(|p| rest.find(p.as_str()).map(|at| (at, p.len())))
            .min_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        match found {
            Some((at, length)) => {
                if at > 0 {
                    pieces.push(Some(&rest[..at]));
                }
                pieces.push(None);
                rest = &rest[at + length..];
            }
            None => {
                pieces.push(Some(rest));
                rest = "";
            }
        }
    }
    pieces.iter().any(Option::is_none) && match_pieces(&pieces, actual)
}

/// `Some(text)` must appear literally, `None` stands for one or more characters.
fn match_pieces(pieces: &[Option<&str>], actual: &str) -> bool {
    match pieces.split_first() {
        None => actual.is_empty(),
        Some((Some(literal), rest)) => actual
            .strip_prefix(literal)
            .is_some_and(|after| match_pieces(rest, after)),
        Some((None, rest)) => actual
            .char_indices()
            .skip(1)
            .map(|(at, _)| at)
            .chain(std::iter::once(actual.len()))
            .filter(|at| *at > 0)
            .any(|at| match_pieces(rest, &actual[at..])),
    }
}
