//! Notifications: argument rules of BIND, UNBIND, SET, GET and INFO_GET (matrix N01-N07).

use ffa_core::FfaError;

use super::id::*;
use crate::check::{Check, Expected, Outcome};
use crate::context::{Context, Endpoint};

const SUITE: &str = "notifications";
const NOT_OFFERED: &str = "notifications are not offered";
const NO_ID: &str = "FFA_ID_GET did not answer";

fn endpoints(sender: u64, receiver: u64) -> u64 {
    (sender << 16) | receiver
}

/// The caller's ID and a partition to name as the other side, if notifications are offered.
/// Fails with the reason to skip.
fn setup(context: &mut Context<'_>, function: u64) -> Result<(u64, u64), &'static str> {
    if !context.offers(function) {
        return Err(NOT_OFFERED);
    }
    let own = context.own_id().ok_or(NO_ID)?;
    let other = context.partition.map_or(0x8001, |partition| partition.0);
    Ok((u64::from(own.0), u64::from(other)))
}

/// N01: FFA_NOTIFICATION_BITMAP_CREATE from a partition is NOT_SUPPORTED.
pub const N01: Check = Check {
    suite: SUITE,
    name: "n01_bitmap_create_from_a_partition_is_not_supported",
    source: "N01",
    run: n01,
};
fn n01(context: &mut Context<'_>) -> Outcome {
    if context.endpoint != Endpoint::SecurePartition {
        return Outcome::Skipped("only a partition can try this");
    }
    Outcome::expect_error(
        context.call(&[FFA_NOTIFICATION_BITMAP_CREATE, 0, 1]),
        FfaError::NotSupported,
    )
}

/// N03: BIND with an empty bitmap is INVALID_PARAMETERS.
pub const N03_EMPTY: Check = Check {
    suite: SUITE,
    name: "n03_bind_of_no_notifications_is_invalid",
    source: "N03",
    run: n03_empty,
};
fn n03_empty(context: &mut Context<'_>) -> Outcome {
    let (own, other) = match setup(context, FFA_NOTIFICATION_BIND) {
        Ok(ids) => ids,
        Err(reason) => return Outcome::Skipped(reason),
    };
    Outcome::expect_error(
        context.call(&[FFA_NOTIFICATION_BIND, endpoints(other, own), 0, 0, 0]),
        FfaError::InvalidParameters,
    )
}

/// N03: BIND naming another receiver than the caller is INVALID_PARAMETERS.
pub const N03_SPOOF: Check = Check {
    suite: SUITE,
    name: "n03_bind_for_another_receiver_is_invalid",
    source: "N03",
    run: n03_spoof,
};
fn n03_spoof(context: &mut Context<'_>) -> Outcome {
    let (own, other) = match setup(context, FFA_NOTIFICATION_BIND) {
        Ok(ids) => ids,
        Err(reason) => return Outcome::Skipped(reason),
    };
    let impostor = own ^ 0x7;
    Outcome::expect_error(
        context.call(&[FFA_NOTIFICATION_BIND, endpoints(other, impostor), 0, 1, 0]),
        FfaError::InvalidParameters,
    )
}

/// N03: BIND with flags other than per-vCPU set is an error.
pub const N03_FLAGS: Check = Check {
    suite: SUITE,
    name: "n03_bind_with_unknown_flags_is_an_error",
    source: "N03",
    run: n03_flags,
};
fn n03_flags(context: &mut Context<'_>) -> Outcome {
    let (own, other) = match setup(context, FFA_NOTIFICATION_BIND) {
        Ok(ids) => ids,
        Err(reason) => return Outcome::Skipped(reason),
    };
    let answer = context.call(&[FFA_NOTIFICATION_BIND, endpoints(other, own), 1 << 5, 1, 0]);
    Outcome::expect(answer[0] == FFA_ERROR, Expected::Text("FFA_ERROR"), answer)
}

/// N04: UNBIND with w2 (MBZ) set is an error.
pub const N04: Check =
    Check { suite: SUITE, name: "n04_unbind_with_w2_set_is_an_error", source: "N04", run: n04 };
fn n04(context: &mut Context<'_>) -> Outcome {
    let (own, other) = match setup(context, FFA_NOTIFICATION_UNBIND) {
        Ok(ids) => ids,
        Err(reason) => return Outcome::Skipped(reason),
    };
    let answer = context.call(&[FFA_NOTIFICATION_UNBIND, endpoints(other, own), 1, 1, 0]);
    Outcome::expect(answer[0] == FFA_ERROR, Expected::Text("FFA_ERROR"), answer)
}

/// N05: SET of notifications the receiver never bound to this sender is DENIED.
pub const N05: Check = Check {
    suite: SUITE,
    name: "n05_set_of_unbound_notifications_is_denied",
    source: "N05",
    run: n05,
};
fn n05(context: &mut Context<'_>) -> Outcome {
    let (own, other) = match setup(context, FFA_NOTIFICATION_SET) {
        Ok(ids) => ids,
        Err(reason) => return Outcome::Skipped(reason),
    };
    Outcome::expect_error(
        context.call(&[FFA_NOTIFICATION_SET, endpoints(own, other), 0, 1 << 17, 0]),
        FfaError::Denied,
    )
}

/// N05: SET with a vCPU ID but without the per-vCPU flag is INVALID_PARAMETERS.
pub const N05_VCPU: Check = Check {
    suite: SUITE,
    name: "n05_set_with_a_vcpu_but_no_per_vcpu_flag_is_invalid",
    source: "N05",
    run: n05_vcpu,
};
fn n05_vcpu(context: &mut Context<'_>) -> Outcome {
    let (own, other) = match setup(context, FFA_NOTIFICATION_SET) {
        Ok(ids) => ids,
        Err(reason) => return Outcome::Skipped(reason),
    };
    Outcome::expect_error(
        context.call(&[FFA_NOTIFICATION_SET, endpoints(own, other), 3 << 16, 1, 0]),
        FfaError::InvalidParameters,
    )
}

/// N06: GET for another receiver than the caller is INVALID_PARAMETERS.
pub const N06: Check = Check {
    suite: SUITE,
    name: "n06_get_for_another_receiver_is_invalid",
    source: "N06",
    run: n06,
};
fn n06(context: &mut Context<'_>) -> Outcome {
    let (own, _) = match setup(context, FFA_NOTIFICATION_GET) {
        Ok(ids) => ids,
        Err(reason) => return Outcome::Skipped(reason),
    };
    Outcome::expect_error(
        context.call(&[FFA_NOTIFICATION_GET, own ^ 0x7, 0b1111]),
        FfaError::InvalidParameters,
    )
}

/// N07: INFO_GET from the normal world with nothing pending is NO_DATA; from a partition it is
/// NOT_SUPPORTED.
pub const N07: Check =
    Check { suite: SUITE, name: "n07_info_get_with_nothing_pending", source: "N07", run: n07 };
fn n07(context: &mut Context<'_>) -> Outcome {
    if context.endpoint == Endpoint::SecurePartition {
        return Outcome::expect_error(
            context.call(&[FFA_NOTIFICATION_INFO_GET_64]),
            FfaError::NotSupported,
        );
    }
    if context.endpoint == Endpoint::VirtualMachine {
        return Outcome::Skipped("INFO_GET is the normal-world scheduler's call, not a VM's");
    }
    if !context.offers(FFA_NOTIFICATION_INFO_GET_64) {
        return Outcome::Skipped(NOT_OFFERED);
    }
    Outcome::expect_error(context.call(&[FFA_NOTIFICATION_INFO_GET_64]), FfaError::NoData)
}
