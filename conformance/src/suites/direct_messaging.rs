//! Direct messaging: FFA_MSG_SEND_DIRECT_REQ/RESP rules and FFA_RUN arguments.

use ffa_core::FfaError;

use super::id::*;
use crate::check::{Check, Expected, Outcome};
use crate::context::{Context, Endpoint};

const SUITE: &str = "direct_messaging";
const NO_PARTITION: &str = "the setup names no partition that answers direct requests";
const NO_ID: &str = "FFA_ID_GET did not answer";

fn endpoints(source: u64, destination: u64) -> u64 {
    (source << 16) | destination
}

/// M01: a direct request reaches the partition and its response comes back to the caller with
/// source and destination swapped (the suite's server answers w3 + 1).
pub const M01: Check =
    Check { suite: SUITE, name: "m01_direct_request_is_answered", source: "M01", run: m01 };
fn m01(context: &mut Context<'_>) -> Outcome {
    let Some(partition) = context.partition else { return Outcome::Skipped(NO_PARTITION) };
    let Some(own) = context.own_id() else { return Outcome::Skipped(NO_ID) };
    let answer = context.call(&[
        FFA_MSG_SEND_DIRECT_REQ_32,
        endpoints(u64::from(own.0), u64::from(partition.0)),
        0,
        41,
    ]);
    Outcome::expect(
        answer[0] == FFA_MSG_SEND_DIRECT_RESP_32
            && answer[1] == endpoints(u64::from(partition.0), u64::from(own.0))
            && answer[3] == 42,
        Expected::Text("FFA_MSG_SEND_DIRECT_RESP_32 from the partition with w3 = 42"),
        answer,
    )
}

/// M02: a direct request whose source is not the caller is INVALID_PARAMETERS.
pub const M02: Check = Check {
    suite: SUITE,
    name: "m02_direct_request_from_another_source_is_invalid",
    source: "M02",
    run: m02,
};
fn m02(context: &mut Context<'_>) -> Outcome {
    let Some(partition) = context.partition else { return Outcome::Skipped(NO_PARTITION) };
    let Some(own) = context.own_id() else { return Outcome::Skipped(NO_ID) };
    let other = u64::from(own.0 ^ 0x7);
    Outcome::expect_error(
        context.call(&[FFA_MSG_SEND_DIRECT_REQ_32, endpoints(other, u64::from(partition.0)), 0, 1]),
        FfaError::InvalidParameters,
    )
}

/// M03: a direct request to itself is INVALID_PARAMETERS.
pub const M03: Check = Check {
    suite: SUITE,
    name: "m03_direct_request_to_itself_is_invalid",
    source: "M03",
    run: m03,
};
fn m03(context: &mut Context<'_>) -> Outcome {
    let Some(own) = context.own_id() else { return Outcome::Skipped(NO_ID) };
    let own = u64::from(own.0);
    Outcome::expect_error(
        context.call(&[FFA_MSG_SEND_DIRECT_REQ_32, endpoints(own, own), 0, 1]),
        FfaError::InvalidParameters,
    )
}

/// M04: before v1.2, w2 of a direct request must be zero (INVALID_PARAMETERS otherwise).
pub const M04: Check = Check {
    suite: SUITE,
    name: "m04_direct_request_w2_must_be_zero_before_v1_2",
    source: "M04",
    run: m04,
};
fn m04(context: &mut Context<'_>) -> Outcome {
    if context.version.minor() >= 2 {
        return Outcome::Skipped("the agreed version is 1.2 or later, where w2 carries flags");
    }
    let Some(partition) = context.partition else { return Outcome::Skipped(NO_PARTITION) };
    let Some(own) = context.own_id() else { return Outcome::Skipped(NO_ID) };
    Outcome::expect_error(
        context.call(&[
            FFA_MSG_SEND_DIRECT_REQ_32,
            endpoints(u64::from(own.0), u64::from(partition.0)),
            1,
            1,
        ]),
        FfaError::InvalidParameters,
    )
}

/// M06: a direct response from the normal world with no request pending is an error.
pub const M06: Check = Check {
    suite: SUITE,
    name: "m06_direct_response_without_a_request_is_an_error",
    source: "M06",
    run: m06,
};
fn m06(context: &mut Context<'_>) -> Outcome {
    if context.endpoint == Endpoint::SecurePartition {
        return Outcome::Skipped("a partition's direct response ends its own run");
    }
    let Some(partition) = context.partition else { return Outcome::Skipped(NO_PARTITION) };
    let Some(own) = context.own_id() else { return Outcome::Skipped(NO_ID) };
    let answer = context.call(&[
        FFA_MSG_SEND_DIRECT_RESP_32,
        endpoints(u64::from(own.0), u64::from(partition.0)),
        0,
        1,
    ]);
    Outcome::expect(answer[0] == FFA_ERROR, Expected::Text("FFA_ERROR"), answer)
}

/// M09: a partition's direct request to a normal-world endpoint is INVALID_PARAMETERS.
pub const M09: Check = Check {
    suite: SUITE,
    name: "m09_partition_to_normal_world_request_is_invalid",
    source: "M09",
    run: m09,
};
fn m09(context: &mut Context<'_>) -> Outcome {
    if context.endpoint != Endpoint::SecurePartition {
        return Outcome::Skipped("only a partition can try this");
    }
    let Some(own) = context.own_id() else { return Outcome::Skipped(NO_ID) };
    Outcome::expect_error(
        context.call(&[FFA_MSG_SEND_DIRECT_REQ_32, endpoints(u64::from(own.0), 1), 0, 1]),
        FfaError::InvalidParameters,
    )
}

/// M14: FFA_RUN of an endpoint that does not exist is INVALID_PARAMETERS.
pub const M14: Check = Check {
    suite: SUITE,
    name: "m14_run_of_an_unknown_endpoint_is_invalid",
    source: "M14",
    run: m14,
};
fn m14(context: &mut Context<'_>) -> Outcome {
    if context.endpoint == Endpoint::SecurePartition {
        return Outcome::Skipped("FFA_RUN is the normal world's scheduler's call");
    }
    if !context.offers(FFA_RUN) {
        return Outcome::Skipped("FFA_RUN is not offered");
    }
    Outcome::expect_error(
        context.call(&[FFA_RUN, endpoints(0x7FFE, 0)]),
        FfaError::InvalidParameters,
    )
}
