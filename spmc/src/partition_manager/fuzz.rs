//! Drives a small partition manager with an arbitrary call sequence (for a cargo-fuzz target).

/// Placeholder until the fuzz driver lands.
#[doc(hidden)]
pub fn fuzz_calls(_data: &[u8]) {}
