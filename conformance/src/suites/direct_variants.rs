//! Direct messaging variants: the 64-bit calls, non-existent destinations, FFA_MSG_SEND_DIRECT_REQ2
//! argument rules (matrix M01-M03, M10).

use ffa_core::FfaError;

use super::id::*;
use crate::check::{Check, Expected, Outcome};
use crate::context::Context;

const SUITE: &str = "direct_messaging";
const NO_PARTITION: &str = "the setup names no partition that answers direct requests";
const NO_ID: &str = "FFA_ID_GET did not answer";
const FFA_MSG_SEND_DIRECT_REQ_64: u64 = 0xC400_006F;
const FFA_MSG_SEND_DIRECT_RESP_64: u64 = 0xC400_0070;
const FFA_MSG_SEND_DIRECT_REQ2: u64 = 0xC400_008D;
/// A secure endpoint ID no setup uses.
const NO_SUCH_PARTITION: u64 = 0x80FE;

fn endpoints(source: u64, destination: u64) -> u64 {
    (source << 16) | destination
}

/// The caller's ID and the server's, or the reason to skip.
fn ids(context: &mut Context<'_>) -> Result<(u64, u64), &'static str> {
    let partition = context.partition.ok_or(NO_PARTITION)?;
    let own = context.own_id().ok_or(NO_ID)?;
    Ok((u64::from(own.0), u64::from(partition.0)))
}

macro_rules! check {
    ($constant:ident, $name:literal, $source:literal, $function:ident) => {
        #[doc = concat!($source, ": see `", stringify!($function), "`.")]
        pub const $constant: Check =
            Check { suite: SUITE, name: $name, source: $source, run: $function };
    };
}

check!(M01_64, "m01_direct_request_64_is_answered", "M01", m01_64);
/// A 64-bit direct request reaches the server and its answer comes back (the server adds one
/// to x3), as DIRECT_RESP_64 or, from a 32-bit-only server, DIRECT_RESP_32.
fn m01_64(context: &mut Context<'_>) -> Outcome {
    let (own, partition) = match ids(context) {
        Ok(ids) => ids,
        Err(reason) => return Outcome::Skipped(reason),
    };
    if !context.offers(FFA_MSG_SEND_DIRECT_REQ_64) {
        return Outcome::Skipped("FFA_MSG_SEND_DIRECT_REQ_64 is not offered");
    }
    let answer = context.call(&[FFA_MSG_SEND_DIRECT_REQ_64, endpoints(own, partition), 0, 41]);
    Outcome::expect(
        matches!(answer[0], FFA_MSG_SEND_DIRECT_RESP_64 | FFA_MSG_SEND_DIRECT_RESP_32)
            && answer[1] == endpoints(partition, own)
            && answer[3] == 42,
        Expected::Text("a direct response from the partition with x3 = 42"),
        answer,
    )
}

check!(M01_REPEATED, "m01_direct_requests_in_a_row_are_each_answered", "M01", m01_repeated);
/// Three direct requests in a row are each answered with their own payload plus one.
fn m01_repeated(context: &mut Context<'_>) -> Outcome {
    let (own, partition) = match ids(context) {
        Ok(ids) => ids,
        Err(reason) => return Outcome::Skipped(reason),
    };
    for payload in [7u64, 1000, 0xFFFF_0000] {
        let answer =
            context.call(&[FFA_MSG_SEND_DIRECT_REQ_32, endpoints(own, partition), 0, payload]);
        if answer[0] != FFA_MSG_SEND_DIRECT_RESP_32 || answer[3] != payload + 1 {
            return Outcome::expect(
                false,
                Expected::Text("FFA_MSG_SEND_DIRECT_RESP_32 with w3 = payload + 1"),
                answer,
            );
        }
    }
    Outcome::Passed
}

check!(M02_64, "m02_direct_request_64_from_another_source_is_invalid", "M02", m02_64);
/// A 64-bit direct request whose source is not the caller is INVALID_PARAMETERS.
fn m02_64(context: &mut Context<'_>) -> Outcome {
    let (own, partition) = match ids(context) {
        Ok(ids) => ids,
        Err(reason) => return Outcome::Skipped(reason),
    };
    if !context.offers(FFA_MSG_SEND_DIRECT_REQ_64) {
        return Outcome::Skipped("FFA_MSG_SEND_DIRECT_REQ_64 is not offered");
    }
    Outcome::expect_error(
        context.call(&[FFA_MSG_SEND_DIRECT_REQ_64, endpoints(own ^ 0x7, partition), 0, 1]),
        FfaError::InvalidParameters,
    )
}

check!(M03_64, "m03_direct_request_64_to_itself_is_invalid", "M03", m03_64);
/// A 64-bit direct request to the caller itself is INVALID_PARAMETERS.
fn m03_64(context: &mut Context<'_>) -> Outcome {
    let (own, _) = match ids(context) {
        Ok(ids) => ids,
        Err(reason) => return Outcome::Skipped(reason),
    };
    if !context.offers(FFA_MSG_SEND_DIRECT_REQ_64) {
        return Outcome::Skipped("FFA_MSG_SEND_DIRECT_REQ_64 is not offered");
    }
    Outcome::expect_error(
        context.call(&[FFA_MSG_SEND_DIRECT_REQ_64, endpoints(own, own), 0, 1]),
        FfaError::InvalidParameters,
    )
}

check!(
    M03_NO_SUCH_PARTITION,
    "m03_direct_request_to_a_missing_partition_is_invalid",
    "M03",
    m03_no_such_partition
);
/// A direct request to an ID no endpoint has is INVALID_PARAMETERS.
fn m03_no_such_partition(context: &mut Context<'_>) -> Outcome {
    let Some(own) = context.own_id() else { return Outcome::Skipped(NO_ID) };
    Outcome::expect_error(
        context.call(&[
            FFA_MSG_SEND_DIRECT_REQ_32,
            endpoints(u64::from(own.0), NO_SUCH_PARTITION),
            0,
            1,
        ]),
        FfaError::InvalidParameters,
    )
}

/// The caller's and server's IDs when FFA_MSG_SEND_DIRECT_REQ2 is offered.
fn request2(context: &mut Context<'_>) -> Result<(u64, u64), &'static str> {
    let ids = ids(context)?;
    if !context.offers(FFA_MSG_SEND_DIRECT_REQ2) {
        return Err("FFA_MSG_SEND_DIRECT_REQ2 is not offered");
    }
    Ok(ids)
}

check!(
    M10_WRONG_UUID,
    "m10_direct_request2_with_an_unknown_uuid_is_invalid",
    "M10",
    m10_wrong_uuid
);
/// FFA_MSG_SEND_DIRECT_REQ2 naming a UUID the destination does not have is INVALID_PARAMETERS.
fn m10_wrong_uuid(context: &mut Context<'_>) -> Outcome {
    let (own, partition) = match request2(context) {
        Ok(ids) => ids,
        Err(reason) => return Outcome::Skipped(reason),
    };
    Outcome::expect_error(
        context.call(&[
            FFA_MSG_SEND_DIRECT_REQ2,
            endpoints(own, partition),
            0xFACE_0FF0_0BAD_0BAD,
            0x9ABC_DEF0_1234_5678,
            1,
        ]),
        FfaError::InvalidParameters,
    )
}

check!(M10_SPOOF, "m10_direct_request2_from_another_source_is_invalid", "M10", m10_spoof);
/// FFA_MSG_SEND_DIRECT_REQ2 whose source is not the caller is INVALID_PARAMETERS.
fn m10_spoof(context: &mut Context<'_>) -> Outcome {
    let (own, partition) = match request2(context) {
        Ok(ids) => ids,
        Err(reason) => return Outcome::Skipped(reason),
    };
    Outcome::expect_error(
        context.call(&[FFA_MSG_SEND_DIRECT_REQ2, endpoints(own ^ 0x7, partition), 0, 0, 1]),
        FfaError::InvalidParameters,
    )
}

check!(M10_TO_ITSELF, "m10_direct_request2_to_itself_is_invalid", "M10", m10_to_itself);
/// FFA_MSG_SEND_DIRECT_REQ2 to the caller itself is INVALID_PARAMETERS.
fn m10_to_itself(context: &mut Context<'_>) -> Outcome {
    let (own, _) = match request2(context) {
        Ok(ids) => ids,
        Err(reason) => return Outcome::Skipped(reason),
    };
    Outcome::expect_error(
        context.call(&[FFA_MSG_SEND_DIRECT_REQ2, endpoints(own, own), 0, 0, 1]),
        FfaError::InvalidParameters,
    )
}
