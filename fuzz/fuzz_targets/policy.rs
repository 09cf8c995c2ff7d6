//! The emulator's policies and their pattern language: any policy JSON, any method and path.
//! Nothing panics, and a decision takes time linear in the pattern and path, whatever the `**`s.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    policy: &'a [u8],
    method: &'a str,
    path: &'a str,
}

fuzz_target!(|input: Input<'_>| {
    let _ = stlock_emulator::fuzzing::policy_decision(input.policy, input.method, input.path);
});
