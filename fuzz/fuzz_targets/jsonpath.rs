//! JSONPath: the first line is a path, the rest a JSON document. Parsing, selecting (lenient
//! and strict) and putting a value at the path must not panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stepstream::json::{self, Value};
use stepstream::path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (source, document) = text.split_once('\n').unwrap_or((text, "{}"));
    let Ok(value) = json::from_str(document) else {
        return;
    };
    for parsed in [path::parse(source), path::parse_reference(source)] {
        let Ok(parsed) = parsed else { continue };
        let _ = parsed.select(&value);
        let _ = parsed.select_strict(&value);
        let _ = parsed.first_fields();
        let _ = parsed.put(value.clone(), Value::from("x"));
    }
});
