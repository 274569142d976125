//! Sizes of JSON values as compact serialisation would print them, for the payload limit.

use serde_json::Value;

/// The size of a value serialised as compact JSON, without serialising it.
pub fn payload_size(value: &Value) -> usize {
    match value {
        Value::Null => 4,
        Value::Bool(true) => 4,
        Value::Bool(false) => 5,
        Value::Number(number) => {
            if let Some(int) = number.as_i64() {
                itoa_len(int)
            } else {
                number.to_string().len()
            }
        }
        Value::String(text) => string_size(text),
        Value::Array(items) => {
            2 + items.len().saturating_sub(1) + items.iter().map(payload_size).sum::<usize>()
        }
        Value::Object(fields) => {
            2 + fields.len().saturating_sub(1)
                + fields
                    .iter()
                    .map(|(key, value)| string_size(key) + 1 + payload_size(value))
                    .sum::<usize>()
        }
    }
}

fn itoa_len(value: i64) -> usize {
    let mut length = if value < 0 { 2 } else { 1 };
    let mut rest = value.unsigned_abs() / 10;
    while rest > 0 {
        length += 1;
        rest /= 10;
    }
    length
}

pub fn string_size(text: &str) -> usize {
    // Most strings need no escape: one vectorisable pass decides.
    if !text
        .bytes()
        .any(|byte| byte < 0x20 || byte == b'"' || byte == b'\\')
    {
        return text.len() + 2;
    }
    2 + text
        .bytes()
        .map(|byte| match byte {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
            0..=0x1f => 6,
            _ => 1,
        })
        .sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::payload_size;
    use serde_json::json;

    #[test]
    fn payload_size_matches_serialisation() {
        for value in [
            json!(null),
            json!({"a": [1, -20, 3.5, "x\"y\n"], "b": {"c": true, "d": false}}),
            json!([]),
            json!({}),
            json!("\u{1}é"),
        ] {
            assert_eq!(
                payload_size(&value),
                serde_json::to_string(&value).unwrap().len(),
                "{value}"
            );
        }
    }
}
