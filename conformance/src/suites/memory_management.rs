//! Memory management rules that need no descriptor: reclaim and permission calls (matrix MM29,
//! MM31). Descriptor-based checks arrive with the guest driver's buffers.

use ffa_core::FfaError;

use super::id::*;
use crate::check::Check;
use crate::check::Outcome;
use crate::context::{Context, Endpoint};

const SUITE: &str = "memory_management";

/// A handle no implementation hands out: the SPMC allocator bit clear, every other bit set.
const UNKNOWN_HANDLE: u64 = 0x7FFF_FFFF_FFFF_FFF0;

/// MM29: FFA_MEM_RECLAIM of a handle that names no transaction is INVALID_PARAMETERS.
pub const MM29: Check = Check {
    suite: SUITE,
    name: "mm29_reclaim_of_an_unknown_handle_is_invalid",
    source: "MM29",
    run: mm29,
};
fn mm29(context: &mut Context<'_>) -> Outcome {
    if !context.offers(FFA_MEM_RECLAIM) {
        return Outcome::Skipped("FFA_MEM_RECLAIM is not offered");
    }
    Outcome::expect_error(
        context.call(&[FFA_MEM_RECLAIM, UNKNOWN_HANDLE & 0xFFFF_FFFF, UNKNOWN_HANDLE >> 32, 0]),
        FfaError::InvalidParameters,
    )
}

/// MM29: FFA_MEM_RECLAIM with undefined flag bits set is INVALID_PARAMETERS.
pub const MM29_FLAGS: Check = Check {
    suite: SUITE,
    name: "mm29_reclaim_with_undefined_flags_is_invalid",
    source: "MM29",
    run: mm29_flags,
};
fn mm29_flags(context: &mut Context<'_>) -> Outcome {
    if !context.offers(FFA_MEM_RECLAIM) {
        return Outcome::Skipped("FFA_MEM_RECLAIM is not offered");
    }
    Outcome::expect_error(
        context.call(&[
            FFA_MEM_RECLAIM,
            UNKNOWN_HANDLE & 0xFFFF_FFFF,
            UNKNOWN_HANDLE >> 32,
            1 << 20,
        ]),
        FfaError::InvalidParameters,
    )
}

/// MM31: FFA_MEM_PERM_GET and FFA_MEM_PERM_SET from a VM are NOT_SUPPORTED (S-EL0 partitions
/// only).
pub const MM31: Check = Check {
    suite: SUITE,
    name: "mm31_memory_permission_calls_from_a_vm_are_not_supported",
    source: "MM31",
    run: mm31,
};
fn mm31(context: &mut Context<'_>) -> Outcome {
    if context.endpoint == Endpoint::SecurePartition {
        return Outcome::Skipped("the rule is for normal-world endpoints");
    }
    Outcome::all(&[
        Outcome::expect_error(
            context.call(&[FFA_MEM_PERM_GET_32, 0x4000_0000]),
            FfaError::NotSupported,
        ),
        Outcome::expect_error(
            context.call(&[FFA_MEM_PERM_SET_32, 0x4000_0000, 1, 0b101]),
            FfaError::NotSupported,
        ),
    ])
}
