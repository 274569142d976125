//! A definition's bytes → JSON → ASL validation → compilation → the program listing.
//! Whatever the bytes, this must not panic; a valid machine must compile.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stepstream::{asl, compile};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(machine) = asl::parse(text) {
        let program = compile::compile(&machine);
        let _ = program.dump();
        let _ = program.input_fields.as_ref().map(|fields| fields.len());
    }
});
