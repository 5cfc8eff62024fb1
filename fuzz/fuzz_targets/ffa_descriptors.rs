//! Fuzz target: arbitrary bytes through every memory descriptor parser never panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ffa_core::memory::fuzz_parse_descriptors(data);
});
