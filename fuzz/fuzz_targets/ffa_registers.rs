//! Fuzz target: arbitrary register values at every FF-A version decode to a call or an error.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ffa_core::call::fuzz_decode_registers(data);
});
