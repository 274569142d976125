//! Intrinsic functions: the first line is a call (`States.Format(…)`), the rest the JSON
//! input its paths read. Parsing and evaluating must not panic; an evaluation ends in a value
//! or an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stepstream::intrinsics;
use stepstream::json::{self, Value};
use stepstream::path::Roots;

struct Input {
    input: Value,
    context: Value,
}

impl Roots for Input {
    fn input(&self) -> &Value {
        &self.input
    }
    fn context(&self) -> &Value {
        &self.context
    }
    fn variable(&self, _: &str) -> Option<&Value> {
        None
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (source, document) = text.split_once('\n').unwrap_or((text, "{}"));
    let Ok(input) = json::from_str(document) else {
        return;
    };
    let roots = Input {
        context: input.clone(),
        input,
    };
    for call in [intrinsics::parse(source), intrinsics::parse_lenient(source)] {
        if let Ok(call) = call {
            let _ = call.display();
            let _ = call.eval(&roots);
        }
    }
});
