//! Setup and discovery: FFA_VERSION, FFA_ID_GET, FFA_SPM_ID_GET, FFA_FEATURES, RX/TX buffers.

use ffa_core::FfaError;

use super::id::*;
use crate::check::{Check, Expected, Outcome};
use crate::context::{Context, Endpoint};

const SUITE: &str = "setup_discovery";
const NOT_SUPPORTED_WORD: u64 = 0xFFFF_FFFF;

fn version_word(major: u64, minor: u64) -> u64 {
    (major << 16) | minor
}

fn upper_registers_zero(registers: &[u64; 18], from: usize, to: usize) -> bool {
    registers.get(from..=to).is_some_and(|slice| slice.iter().all(|&value| value == 0))
}

/// D01: FFA_VERSION(own) answers a version with the same major; w1-w7 MBZ.
pub const D01: Check = Check {
    suite: SUITE,
    name: "d01_version_answers_a_compatible_version",
    source: "D01",
    run: d01,
};
fn d01(context: &mut Context<'_>) -> Outcome {
    let requested = version_word(1, u64::from(context.version.minor()));
    let answer = context.call(&[FFA_VERSION, requested]);
    let word = answer[0];
    let compatible = word >> 31 == 0 && word >> 16 == 1 && upper_registers_zero(&answer, 1, 7);
    if compatible {
        if let Some(agreed) = ffa_core::Version::new(1, (word & 0xFFFF) as u16) {
            if agreed.minor() < context.version.minor() {
                context.version = agreed;
            }
        }
    }
    Outcome::expect(compatible, Expected::Text("w0 = 1.x with w1-w7 zero"), answer)
}

/// D02: FFA_VERSION with bit 31 set answers NOT_SUPPORTED in w0 (not FFA_ERROR).
pub const D02: Check = Check {
    suite: SUITE,
    name: "d02_version_with_bit_31_is_not_supported",
    source: "D02",
    run: d02,
};
fn d02(context: &mut Context<'_>) -> Outcome {
    let answer = context.call(&[FFA_VERSION, (1 << 31) | version_word(1, 2)]);
    Outcome::expect(
        answer[0] as u32 == NOT_SUPPORTED_WORD as u32,
        Expected::Value(NOT_SUPPORTED_WORD),
        answer,
    )
}

/// D03: FFA_VERSION(2.0) and FFA_VERSION(0.9) answer NOT_SUPPORTED.
pub const D03: Check = Check {
    suite: SUITE,
    name: "d03_version_of_another_major_is_not_supported",
    source: "D03",
    run: d03,
};
fn d03(context: &mut Context<'_>) -> Outcome {
    let bigger = context.call(&[FFA_VERSION, version_word(2, 0)]);
    let smaller = context.call(&[FFA_VERSION, version_word(0, 9)]);
    Outcome::all(&[
        Outcome::expect(
            bigger[0] as u32 == NOT_SUPPORTED_WORD as u32,
            Expected::Value(NOT_SUPPORTED_WORD),
            bigger,
        ),
        Outcome::expect(
            smaller[0] as u32 == NOT_SUPPORTED_WORD as u32,
            Expected::Value(NOT_SUPPORTED_WORD),
            smaller,
        ),
    ])
}

/// D05: FFA_ID_GET succeeds with the caller's ID in w2[15:0], w2[31:16] and w3-w7 zero.
pub const D05: Check =
    Check { suite: SUITE, name: "d05_id_get_returns_the_callers_id", source: "D05", run: d05 };
fn d05(context: &mut Context<'_>) -> Outcome {
    let answer = context.call(&[FFA_ID_GET]);
    let shape =
        answer[0] == FFA_SUCCESS_32 && answer[2] >> 16 == 0 && upper_registers_zero(&answer, 3, 7);
    let secure = answer[2] & 0x8000 != 0;
    let side_matches = match context.endpoint {
        Endpoint::SecurePartition => secure,
        Endpoint::NormalWorld => answer[2] == 0,
        Endpoint::VirtualMachine => !secure,
    };
    Outcome::expect(
        shape && side_matches,
        Expected::Text("FFA_SUCCESS_32 with this endpoint's ID in w2[15:0]"),
        answer,
    )
}

/// D04: once another call has been made, an older version can no longer be negotiated, and the
/// agreed one still answers.
pub const D04: Check = Check {
    suite: SUITE,
    name: "d04_version_is_fixed_after_another_call",
    source: "D04",
    run: d04,
};
fn d04(context: &mut Context<'_>) -> Outcome {
    let minor = u64::from(context.version.minor());
    if minor == 0 {
        return Outcome::Skipped("the agreed version is 1.0: there is no older 1.x to ask for");
    }
    let _ = context.call(&[FFA_ID_GET]);
    let older = context.call(&[FFA_VERSION, version_word(1, minor - 1)]);
    let same = context.call(&[FFA_VERSION, version_word(1, minor)]);
    Outcome::all(&[
        Outcome::expect(
            older[0] as u32 == NOT_SUPPORTED_WORD as u32,
            Expected::Value(NOT_SUPPORTED_WORD),
            older,
        ),
        Outcome::expect(same[0] >> 16 == 1 && same[0] >> 31 == 0, Expected::Text("w0 = 1.x"), same),
    ])
}

/// D06: FFA_SPM_ID_GET succeeds (v1.1+).
pub const D06: Check =
    Check { suite: SUITE, name: "d06_spm_id_get_succeeds", source: "D06", run: d06 };
fn d06(context: &mut Context<'_>) -> Outcome {
    if !context.offers(FFA_SPM_ID_GET) {
        return Outcome::Skipped("FFA_SPM_ID_GET is not offered");
    }
    Outcome::expect_success(context.call(&[FFA_SPM_ID_GET]))
}

/// D07: FFA_FEATURES succeeds for every mandatory interface, with w2-w7 zero for those
/// without properties.
pub const D07: Check = Check {
    suite: SUITE,
    name: "d07_features_reports_the_mandatory_interfaces",
    source: "D07",
    run: d07,
};
fn d07(context: &mut Context<'_>) -> Outcome {
    const MANDATORY: [u64; 8] = [
        FFA_ERROR,
        FFA_INTERRUPT,
        FFA_VERSION,
        FFA_FEATURES,
        FFA_RX_RELEASE,
        FFA_RXTX_UNMAP,
        FFA_PARTITION_INFO_GET,
        FFA_ID_GET,
    ];
    for function in MANDATORY {
        let answer = context.call(&[FFA_FEATURES, function]);
        let outcome = Outcome::expect(
            matches!(answer[0], FFA_SUCCESS_32 | FFA_SUCCESS_64),
            Expected::Text("FFA_SUCCESS for every mandatory interface"),
            answer,
        );
        if outcome != Outcome::Passed {
            return outcome;
        }
    }
    let success = [FFA_SUCCESS_32, FFA_SUCCESS_64].map(|function| context.offers(function));
    let map = [FFA_RXTX_MAP_32, FFA_RXTX_MAP_64].map(|function| context.offers(function));
    let mut probe = [0u64; 18];
    probe[0] = FFA_FEATURES;
    Outcome::expect(
        success.contains(&true) && map.contains(&true),
        Expected::Text("SUCCESS_32 or _64, and RXTX_MAP_32 or _64, offered"),
        probe,
    )
}

/// D08: FFA_FEATURES(RXTX_MAP) gives the minimum buffer size in w2[1:0] (0 = 4K, 1 = 64K,
/// 2 = 16K) and w3-w7 zero; at v1.2 w2[15:2] is zero.
pub const D08: Check = Check {
    suite: SUITE,
    name: "d08_features_of_rxtx_map_gives_the_buffer_size",
    source: "D08",
    run: d08,
};
fn d08(context: &mut Context<'_>) -> Outcome {
    let function = if context.offers(FFA_RXTX_MAP_64) { FFA_RXTX_MAP_64 } else { FFA_RXTX_MAP_32 };
    let answer = context.call(&[FFA_FEATURES, function]);
    let size_code = answer[2] & 0b11;
    let reserved_clear = context.version.minor() < 2 || (answer[2] >> 2) & 0x3FFF == 0;
    Outcome::expect(
        matches!(answer[0], FFA_SUCCESS_32 | FFA_SUCCESS_64)
            && size_code != 3
            && reserved_clear
            && upper_registers_zero(&answer, 3, 7),
        Expected::Text("FFA_SUCCESS with w2[1:0] in {0, 1, 2}"),
        answer,
    )
}

/// D09: FFA_FEATURES of an ID no version defines is NOT_SUPPORTED.
pub const D09: Check = Check {
    suite: SUITE,
    name: "d09_features_of_an_unknown_id_is_not_supported",
    source: "D09",
    run: d09,
};
fn d09(context: &mut Context<'_>) -> Outcome {
    Outcome::expect_error(context.call(&[FFA_FEATURES, 0x8FFF_FFFF]), FfaError::NotSupported)
}

/// D10: FFA_FEATURES(FFA_NORMAL_WORLD_RESUME) is NOT_SUPPORTED from any endpoint.
pub const D10_NORMAL_WORLD_RESUME: Check = Check {
    suite: SUITE,
    name: "d10_normal_world_resume_is_never_offered",
    source: "D10",
    run: d10_normal_world_resume,
};
fn d10_normal_world_resume(context: &mut Context<'_>) -> Outcome {
    Outcome::expect_error(
        context.call(&[FFA_FEATURES, FFA_NORMAL_WORLD_RESUME]),
        FfaError::NotSupported,
    )
}

/// D10: FFA_FEATURES(FFA_RX_ACQUIRE) is NOT_SUPPORTED from a partition or a VM behind a
/// hypervisor (only a hypervisor may use it).
pub const D10_RX_ACQUIRE: Check = Check {
    suite: SUITE,
    name: "d10_rx_acquire_is_not_offered_to_partitions_or_vms",
    source: "D10",
    run: d10_rx_acquire,
};
fn d10_rx_acquire(context: &mut Context<'_>) -> Outcome {
    if context.endpoint == Endpoint::NormalWorld {
        return Outcome::Skipped("the suite runs as the hypervisor, which may use FFA_RX_ACQUIRE");
    }
    Outcome::expect_error(context.call(&[FFA_FEATURES, FFA_RX_ACQUIRE]), FfaError::NotSupported)
}

/// D14: FFA_RX_RELEASE without an owned RX buffer is DENIED.
pub const D14: Check = Check {
    suite: SUITE,
    name: "d14_rx_release_without_a_buffer_is_denied",
    source: "D14",
    run: d14,
};
fn d14(context: &mut Context<'_>) -> Outcome {
    Outcome::expect_error(context.call(&[FFA_RX_RELEASE]), FfaError::Denied)
}

/// D16: FFA_RXTX_MAP with a page count of zero is INVALID_PARAMETERS.
pub const D16: Check =
    Check { suite: SUITE, name: "d16_rxtx_map_of_zero_pages_is_invalid", source: "D16", run: d16 };
fn d16(context: &mut Context<'_>) -> Outcome {
    let function = if context.offers(FFA_RXTX_MAP_64) { FFA_RXTX_MAP_64 } else { FFA_RXTX_MAP_32 };
    // Page-aligned addresses that are never checked: the page count is refused first.
    Outcome::expect_error(
        context.call(&[function, 0x1000_0000, 0x1000_1000, 0]),
        FfaError::InvalidParameters,
    )
}

/// D18: FFA_RXTX_UNMAP with nothing mapped is INVALID_PARAMETERS.
pub const D18: Check = Check {
    suite: SUITE,
    name: "d18_rxtx_unmap_without_buffers_is_invalid",
    source: "D18",
    run: d18,
};
fn d18(context: &mut Context<'_>) -> Outcome {
    Outcome::expect_error(context.call(&[FFA_RXTX_UNMAP]), FfaError::InvalidParameters)
}

/// D12: the schedule receiver interrupt (feature 2) is not offered to partitions and is offered
/// (with its interrupt ID) to the normal world when notifications are.
pub const D12: Check = Check {
    suite: SUITE,
    name: "d12_schedule_receiver_interrupt_is_for_the_normal_world",
    source: "D12",
    run: d12,
};
fn d12(context: &mut Context<'_>) -> Outcome {
    let answer = context.call(&[FFA_FEATURES, FEATURE_SCHEDULE_RECEIVER_INTERRUPT]);
    match context.endpoint {
        Endpoint::SecurePartition => Outcome::expect_error(answer, FfaError::NotSupported),
        _ if answer[0] == FFA_ERROR => Outcome::Skipped(
            "notifications (and so the schedule receiver interrupt) are not offered",
        ),
        _ => Outcome::expect(
            answer[0] == FFA_SUCCESS_32 && answer[2] < 1024,
            Expected::Text("FFA_SUCCESS_32 with an interrupt ID in w2"),
            answer,
        ),
    }
}
