//! Fuzz target: arbitrary bytes through the manifest parser never panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    spmc::manifest::fuzz_parse_manifest(data);
});
