//! Smoke run of the `spmc_dispatcher` fuzz driver on stable: random byte strings (and a few
//! hand-made ones) drive `fuzz_calls`, which panics if the core breaks an invariant.

use proptest::prelude::*;

#[test]
fn hand_made_sequences_keep_invariants() {
    // Empty input, each role with no steps, and long runs of one byte.
    spmc::partition_manager::fuzz_calls(&[]);
    spmc::partition_manager::fuzz_calls(&[0]);
    spmc::partition_manager::fuzz_calls(&[1]);
    for byte in 0..=255u8 {
        spmc::partition_manager::fuzz_calls(&[byte; 300]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn random_sequences_keep_invariants(data in prop::collection::vec(any::<u8>(), 0..3000)) {
        spmc::partition_manager::fuzz_calls(&data);
    }
}
