//! JSONata: the first line is an expression, the rest the JSON input. Compiling and
//! evaluating under tight limits must end in a value or an error, never a panic or a stack
//! overflow.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use stepstream::json::{self, Value};
use stepstream::jsonata::{self, Bindings, Limits};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (source, document) = text.split_once('\n').unwrap_or((text, "null"));
    let input = json::from_str(document).unwrap_or(Value::Null);
    let Ok(expression) = jsonata::compile(source) else {
        return;
    };
    let limits = Limits {
        max_depth: 200,
        time_limit: Some(Duration::from_millis(200)),
        max_stack_bytes: 512 << 10,
    };
    let _ = expression.evaluate_with_limits(Some(&input), &Bindings::new(), &limits);
});
