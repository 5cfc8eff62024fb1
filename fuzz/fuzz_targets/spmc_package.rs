//! Fuzz target: arbitrary bytes through the package parser never panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    spmc::package::fuzz_parse_package(data);
});
