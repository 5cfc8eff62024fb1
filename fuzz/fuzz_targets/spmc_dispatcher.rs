//! Fuzz target: arbitrary call sequences from arbitrary contexts through the partition
//! manager's `handle` keep the core's invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    spmc::partition_manager::fuzz_calls(data);
});
