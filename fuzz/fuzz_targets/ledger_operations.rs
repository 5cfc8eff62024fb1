//! Fuzz target: arbitrary operation sequences drive the memory ledger without a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    memory_sharing::fuzz_operations(data);
});
