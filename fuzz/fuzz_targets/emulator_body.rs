//! The emulator's request bodies: any bytes, read as the body of every operation. Nothing
//! panics (an answer is always an `Ok` or a typed refusal).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    stlock_emulator::fuzzing::request_body(body);
});
