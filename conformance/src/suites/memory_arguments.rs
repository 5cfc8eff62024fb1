//! Memory management register-argument rules of SHARE/LEND/DONATE that need no descriptor:
//! lengths in w1/w2 (matrix MM08) and reclaim of handles never given (MM29).

use ffa_core::FfaError;

use super::id::*;
use crate::check::{Check, Outcome};
use crate::context::Context;

const SUITE: &str = "memory_management";
const FFA_MEM_DONATE_32: u64 = 0x8400_0071;
const FFA_MEM_LEND_32: u64 = 0x8400_0072;
const FFA_MEM_SHARE_32: u64 = 0x8400_0073;

macro_rules! check {
    ($constant:ident, $name:literal, $source:literal, $function:ident) => {
        #[doc = concat!($source, ": see `", stringify!($function), "`.")]
        pub const $constant: Check =
            Check { suite: SUITE, name: $name, source: $source, run: $function };
    };
}

/// `function` with total length `total` and fragment length `fragment` (no buffer address),
/// or skipped when not offered.
fn lengths(context: &mut Context<'_>, function: u64, total: u64, fragment: u64) -> Outcome {
    if !context.offers(function) {
        return Outcome::Skipped("the call is not offered");
    }
    Outcome::expect_error(
        context.call(&[function, total, fragment, 0, 0]),
        FfaError::InvalidParameters,
    )
}

check!(
    MM08_SHARE_FRAGMENT_LONGER,
    "mm08_share_with_a_fragment_longer_than_the_total_is_invalid",
    "MM08",
    mm08_share_fragment_longer
);
/// SHARE whose fragment length exceeds its total length is INVALID_PARAMETERS.
fn mm08_share_fragment_longer(context: &mut Context<'_>) -> Outcome {
    lengths(context, FFA_MEM_SHARE_32, 0x40, 0x80)
}

check!(
    MM08_LEND_FRAGMENT_LONGER,
    "mm08_lend_with_a_fragment_longer_than_the_total_is_invalid",
    "MM08",
    mm08_lend_fragment_longer
);
/// LEND whose fragment length exceeds its total length is INVALID_PARAMETERS.
fn mm08_lend_fragment_longer(context: &mut Context<'_>) -> Outcome {
    lengths(context, FFA_MEM_LEND_32, 0x40, 0x80)
}

check!(
    MM08_DONATE_FRAGMENT_LONGER,
    "mm08_donate_with_a_fragment_longer_than_the_total_is_invalid",
    "MM08",
    mm08_donate_fragment_longer
);
/// DONATE whose fragment length exceeds its total length is INVALID_PARAMETERS.
fn mm08_donate_fragment_longer(context: &mut Context<'_>) -> Outcome {
    lengths(context, FFA_MEM_DONATE_32, 0x40, 0x80)
}

check!(MM08_SHARE_EMPTY, "mm08_share_of_an_empty_descriptor_is_invalid", "MM08", mm08_share_empty);
/// SHARE with a total length of zero is INVALID_PARAMETERS.
fn mm08_share_empty(context: &mut Context<'_>) -> Outcome {
    lengths(context, FFA_MEM_SHARE_32, 0, 0)
}

check!(MM08_LEND_EMPTY, "mm08_lend_of_an_empty_descriptor_is_invalid", "MM08", mm08_lend_empty);
/// LEND with a total length of zero is INVALID_PARAMETERS.
fn mm08_lend_empty(context: &mut Context<'_>) -> Outcome {
    lengths(context, FFA_MEM_LEND_32, 0, 0)
}

check!(
    MM08_DONATE_EMPTY,
    "mm08_donate_of_an_empty_descriptor_is_invalid",
    "MM08",
    mm08_donate_empty
);
/// DONATE with a total length of zero is INVALID_PARAMETERS.
fn mm08_donate_empty(context: &mut Context<'_>) -> Outcome {
    lengths(context, FFA_MEM_DONATE_32, 0, 0)
}

check!(MM29_HANDLE_ZERO, "mm29_reclaim_of_handle_zero_is_invalid", "MM29", mm29_handle_zero);
/// RECLAIM of handle 0 (never handed out) is INVALID_PARAMETERS.
fn mm29_handle_zero(context: &mut Context<'_>) -> Outcome {
    if !context.offers(FFA_MEM_RECLAIM) {
        return Outcome::Skipped("FFA_MEM_RECLAIM is not offered");
    }
    Outcome::expect_error(context.call(&[FFA_MEM_RECLAIM, 0, 0, 0]), FfaError::InvalidParameters)
}
