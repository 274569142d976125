//! Sizes of JSON values as compact serialisation would print them, for the payload limit.

use crate::json::Value;

/// The size of a value serialised as compact JSON, without serialising it.
pub fn payload_size(value: &Value) -> usize {
    crate::json::size(value)
}

/// The size of a string serialised as a JSON string, quotes included.
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
    use crate::json;

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
