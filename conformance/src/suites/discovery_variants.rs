//! Setup and discovery variants: more FFA_VERSION and FFA_FEATURES inputs, RX/TX argument
//! errors, PARTITION_INFO_GET count queries and PARTITION_INFO_GET_REGS rules (matrix D02-D25).

use ffa_core::FfaError;

use super::id::*;
use crate::check::{Check, Expected, Outcome};
use crate::context::Context;

const SUITE: &str = "setup_discovery";
const NOT_SUPPORTED_WORD: u32 = 0xFFFF_FFFF;
const FFA_PARTITION_INFO_GET_REGS: u64 = 0xC400_008B;
/// A UUID no setup uses, as the four 32-bit words of FFA_PARTITION_INFO_GET.
const UNKNOWN_UUID: [u64; 4] = [0x0BAD_0BAD, 0xFACE_0FF0, 0x1234_5678, 0x9ABC_DEF0];
/// Address of a page the suite never maps, plus an offset that breaks its alignment.
const SOME_PAGE: u64 = 0x4100_0000;

macro_rules! check {
    ($constant:ident, $name:literal, $source:literal, $function:ident) => {
        #[doc = concat!($source, ": see `", stringify!($function), "`.")]
        pub const $constant: Check =
            Check { suite: SUITE, name: $name, source: $source, run: $function };
    };
}

check!(D02_BIT_31_ALONE, "d02_version_of_bit_31_alone_is_not_supported", "D02", d02_bit_31_alone);
/// FFA_VERSION(0x8000_0000) answers NOT_SUPPORTED in w0.
fn d02_bit_31_alone(context: &mut Context<'_>) -> Outcome {
    let answer = context.call(&[FFA_VERSION, 1 << 31]);
    Outcome::expect(
        answer[0] as u32 == NOT_SUPPORTED_WORD,
        Expected::Value(u64::from(NOT_SUPPORTED_WORD)),
        answer,
    )
}

check!(D03_MAJOR_ZERO, "d03_version_0_0_is_not_supported", "D03", d03_major_zero);
/// FFA_VERSION(0.0) answers NOT_SUPPORTED in w0.
fn d03_major_zero(context: &mut Context<'_>) -> Outcome {
    let answer = context.call(&[FFA_VERSION, 0]);
    Outcome::expect(
        answer[0] as u32 == NOT_SUPPORTED_WORD,
        Expected::Value(u64::from(NOT_SUPPORTED_WORD)),
        answer,
    )
}

check!(
    D09_UNKNOWN_FEATURE,
    "d09_features_of_an_unknown_feature_id_is_not_supported",
    "D09",
    d09_unknown_feature
);
/// FFA_FEATURES(feature ID 0x7F) is NOT_SUPPORTED.
fn d09_unknown_feature(context: &mut Context<'_>) -> Outcome {
    Outcome::expect_error(context.call(&[FFA_FEATURES, 0x7F]), FfaError::NotSupported)
}

check!(
    D09_NO_SMC64_VARIANT,
    "d09_features_of_a_missing_smc64_variant_is_not_supported",
    "D09",
    d09_no_smc64_variant
);
/// FFA_FEATURES(0xC4000068): PARTITION_INFO_GET has no SMC64 variant, so NOT_SUPPORTED.
fn d09_no_smc64_variant(context: &mut Context<'_>) -> Outcome {
    Outcome::expect_error(context.call(&[FFA_FEATURES, 0xC400_0068]), FfaError::NotSupported)
}

check!(
    D09_UNASSIGNED_FUNCTION,
    "d09_features_of_an_unassigned_function_is_not_supported",
    "D09",
    d09_unassigned_function
);
/// FFA_FEATURES(0x840000FF), an unassigned FF-A function number, is NOT_SUPPORTED.
fn d09_unassigned_function(context: &mut Context<'_>) -> Outcome {
    Outcome::expect_error(context.call(&[FFA_FEATURES, 0x8400_00FF]), FfaError::NotSupported)
}

check!(D14_TWICE, "d14_rx_release_twice_is_denied_both_times", "D14", d14_twice);
/// FFA_RX_RELEASE with no RX buffer owned is DENIED, and stays so.
fn d14_twice(context: &mut Context<'_>) -> Outcome {
    let first = context.call(&[FFA_RX_RELEASE]);
    let second = context.call(&[FFA_RX_RELEASE]);
    Outcome::all(&[
        Outcome::expect_error(first, FfaError::Denied),
        Outcome::expect_error(second, FfaError::Denied),
    ])
}

check!(D15_TX, "d15_rxtx_map_of_an_unaligned_tx_is_invalid", "D15", d15_tx);
/// FFA_RXTX_MAP with the TX address 0x100 past a page boundary is INVALID_PARAMETERS.
fn d15_tx(context: &mut Context<'_>) -> Outcome {
    Outcome::expect_error(
        context.call(&[FFA_RXTX_MAP_64, SOME_PAGE + 0x100, SOME_PAGE + 0x1_0000, 1]),
        FfaError::InvalidParameters,
    )
}

check!(D15_RX, "d15_rxtx_map_of_an_unaligned_rx_is_invalid", "D15", d15_rx);
/// FFA_RXTX_MAP with the RX address 0x100 past a page boundary is INVALID_PARAMETERS.
fn d15_rx(context: &mut Context<'_>) -> Outcome {
    Outcome::expect_error(
        context.call(&[FFA_RXTX_MAP_64, SOME_PAGE, SOME_PAGE + 0x1_0100, 1]),
        FfaError::InvalidParameters,
    )
}

check!(D16_SMC32, "d16_rxtx_map_32_of_zero_pages_is_invalid", "D16", d16_smc32);
/// FFA_RXTX_MAP_32 with a page count of zero is INVALID_PARAMETERS.
fn d16_smc32(context: &mut Context<'_>) -> Outcome {
    if !context.offers(FFA_RXTX_MAP_32) {
        return Outcome::Skipped("FFA_RXTX_MAP_32 is not offered");
    }
    Outcome::expect_error(
        context.call(&[FFA_RXTX_MAP_32, SOME_PAGE, SOME_PAGE + 0x1_0000, 0]),
        FfaError::InvalidParameters,
    )
}

check!(D18_TWICE, "d18_rxtx_unmap_twice_with_nothing_mapped_is_invalid", "D18", d18_twice);
/// FFA_RXTX_UNMAP with nothing mapped is INVALID_PARAMETERS, and stays so.
fn d18_twice(context: &mut Context<'_>) -> Outcome {
    let first = context.call(&[FFA_RXTX_UNMAP]);
    let second = context.call(&[FFA_RXTX_UNMAP]);
    Outcome::all(&[
        Outcome::expect_error(first, FfaError::InvalidParameters),
        Outcome::expect_error(second, FfaError::InvalidParameters),
    ])
}

/// FFA_PARTITION_INFO_GET with the count-only flag (w5 bit 0), which needs no RX buffer.
fn count_only(context: &mut Context<'_>, uuid: [u64; 4]) -> [u64; 18] {
    context.call(&[FFA_PARTITION_INFO_GET, uuid[0], uuid[1], uuid[2], uuid[3], 1])
}

check!(
    D23_UNKNOWN_UUID,
    "d23_partition_info_count_of_an_unknown_uuid_is_invalid",
    "D23",
    d23_unknown_uuid
);
/// FFA_PARTITION_INFO_GET(unknown UUID, count only) is INVALID_PARAMETERS.
fn d23_unknown_uuid(context: &mut Context<'_>) -> Outcome {
    Outcome::expect_error(count_only(context, UNKNOWN_UUID), FfaError::InvalidParameters)
}

check!(D24_COUNT, "d24_partition_info_count_of_nil_counts_the_partitions", "D24", d24_count);
/// FFA_PARTITION_INFO_GET(Nil, count only) succeeds with a count of at least one when the
/// setup has a partition, a descriptor size of zero in w3, and w4-w7 zero.
fn d24_count(context: &mut Context<'_>) -> Outcome {
    let answer = count_only(context, [0; 4]);
    let minimum = u64::from(context.partition.is_some());
    Outcome::expect(
        answer[0] == FFA_SUCCESS_32
            && answer[2] >= minimum
            && answer[3] == 0
            && answer.get(4..=7).is_some_and(|slice| slice.iter().all(|&value| value == 0)),
        Expected::Text("FFA_SUCCESS_32, w2 = count (>= 1 with a server), w3 = 0, w4-w7 zero"),
        answer,
    )
}

check!(D24_COUNT_STABLE, "d24_partition_info_count_is_stable", "D24", d24_count_stable);
/// Two count-only queries give the same count (counting takes no RX buffer ownership).
fn d24_count_stable(context: &mut Context<'_>) -> Outcome {
    let first = count_only(context, [0; 4]);
    let second = count_only(context, [0; 4]);
    Outcome::expect(
        first[0] == FFA_SUCCESS_32 && second[0] == FFA_SUCCESS_32 && first[2] == second[2],
        Expected::Text("the same count twice"),
        second,
    )
}

/// The call and the skip reason when FFA_PARTITION_INFO_GET_REGS is not offered.
fn regs(context: &mut Context<'_>, uuid_low: u64, uuid_high: u64, x3: u64) -> Option<[u64; 18]> {
    context
        .offers(FFA_PARTITION_INFO_GET_REGS)
        .then(|| context.call(&[FFA_PARTITION_INFO_GET_REGS, uuid_low, uuid_high, x3]))
}

const REGS_NOT_OFFERED: &str = "FFA_PARTITION_INFO_GET_REGS is not offered";

check!(
    D25_UNKNOWN_UUID,
    "d25_partition_info_regs_of_an_unknown_uuid_is_invalid",
    "D25",
    d25_unknown_uuid
);
/// FFA_PARTITION_INFO_GET_REGS(unknown UUID) is INVALID_PARAMETERS.
fn d25_unknown_uuid(context: &mut Context<'_>) -> Outcome {
    let uuid_low = UNKNOWN_UUID[1] << 32 | UNKNOWN_UUID[0];
    let uuid_high = UNKNOWN_UUID[3] << 32 | UNKNOWN_UUID[2];
    match regs(context, uuid_low, uuid_high, 0) {
        Some(answer) => Outcome::expect_error(answer, FfaError::InvalidParameters),
        None => Outcome::Skipped(REGS_NOT_OFFERED),
    }
}

check!(D25_NIL, "d25_partition_info_regs_of_nil_starts_at_index_zero", "D25", d25_nil);
/// FFA_PARTITION_INFO_GET_REGS(Nil, start 0) answers FFA_SUCCESS_64 whose x2 has current index
/// <= last index and a descriptor size of 24 (v1.2).
fn d25_nil(context: &mut Context<'_>) -> Outcome {
    let Some(answer) = regs(context, 0, 0, 0) else { return Outcome::Skipped(REGS_NOT_OFFERED) };
    let last = answer[2] & 0xFFFF;
    let current = answer[2] >> 16 & 0xFFFF;
    let size = answer[2] >> 48;
    Outcome::expect(
        answer[0] == FFA_SUCCESS_64 && current <= last && size == 24,
        Expected::Text("FFA_SUCCESS_64 with current <= last index and size 24 in x2"),
        answer,
    )
}

check!(
    D25_START_PAST_END,
    "d25_partition_info_regs_start_past_the_last_index_is_invalid",
    "D25",
    d25_start_past_end
);
/// FFA_PARTITION_INFO_GET_REGS with a start index past the last index is INVALID_PARAMETERS.
fn d25_start_past_end(context: &mut Context<'_>) -> Outcome {
    let Some(first) = regs(context, 0, 0, 0) else { return Outcome::Skipped(REGS_NOT_OFFERED) };
    if first[0] != FFA_SUCCESS_64 {
        return Outcome::Skipped("FFA_PARTITION_INFO_GET_REGS(Nil) did not succeed");
    }
    let past = (first[2] & 0xFFFF) + 1;
    let tag = first[2] >> 32 & 0xFFFF;
    let answer = context.call(&[FFA_PARTITION_INFO_GET_REGS, 0, 0, tag << 16 | past]);
    Outcome::expect_error(answer, FfaError::InvalidParameters)
}
