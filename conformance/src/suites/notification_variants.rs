//! Notification variants: more ID and bitmap rules of BITMAP_DESTROY, BIND, UNBIND and SET
//! (matrix N02-N05).

use ffa_core::FfaError;

use super::id::*;
use crate::check::{Check, Outcome};
use crate::context::{Context, Endpoint};

const SUITE: &str = "notifications";
const NOT_OFFERED: &str = "notifications are not offered";
const NO_ID: &str = "FFA_ID_GET did not answer";
const FFA_NOTIFICATION_BITMAP_DESTROY: u64 = 0x8400_007E;
/// A secure endpoint ID no setup uses.
const NO_SUCH_ENDPOINT: u64 = 0x80FE;

fn endpoints(sender: u64, receiver: u64) -> u64 {
    (sender << 16) | receiver
}

/// The caller's ID and a partition to name as the other side, if `function` is offered.
fn setup(context: &mut Context<'_>, function: u64) -> Result<(u64, u64), &'static str> {
    if !context.offers(function) {
        return Err(NOT_OFFERED);
    }
    let own = context.own_id().ok_or(NO_ID)?;
    let other = context.partition.map_or(0x8001, |partition| partition.0);
    Ok((u64::from(own.0), u64::from(other)))
}

macro_rules! check {
    ($constant:ident, $name:literal, $source:literal, $function:ident) => {
        #[doc = concat!($source, ": see `", stringify!($function), "`.")]
        pub const $constant: Check =
            Check { suite: SUITE, name: $name, source: $source, run: $function };
    };
}

macro_rules! ids_or_skip {
    ($context:expr, $function:expr) => {
        match setup($context, $function) {
            Ok(ids) => ids,
            Err(reason) => return Outcome::Skipped(reason),
        }
    };
}

check!(
    N02_FROM_PARTITION,
    "n02_bitmap_destroy_from_a_partition_is_not_supported",
    "N02",
    n02_from_partition
);
/// FFA_NOTIFICATION_BITMAP_DESTROY from a partition is NOT_SUPPORTED.
fn n02_from_partition(context: &mut Context<'_>) -> Outcome {
    if context.endpoint != Endpoint::SecurePartition {
        return Outcome::Skipped("only a partition can try this");
    }
    Outcome::expect_error(
        context.call(&[FFA_NOTIFICATION_BITMAP_DESTROY, 0]),
        FfaError::NotSupported,
    )
}

check!(N03_UNKNOWN_SENDER, "n03_bind_to_a_missing_sender_is_invalid", "N03", n03_unknown_sender);
/// BIND naming a sender no endpoint has is INVALID_PARAMETERS.
fn n03_unknown_sender(context: &mut Context<'_>) -> Outcome {
    let (own, _) = ids_or_skip!(context, FFA_NOTIFICATION_BIND);
    Outcome::expect_error(
        context.call(&[FFA_NOTIFICATION_BIND, endpoints(NO_SUCH_ENDPOINT, own), 0, 1, 0]),
        FfaError::InvalidParameters,
    )
}

check!(N03_SELF, "n03_bind_to_itself_as_sender_is_invalid", "N03", n03_self);
/// BIND naming the caller as its own sender is INVALID_PARAMETERS.
fn n03_self(context: &mut Context<'_>) -> Outcome {
    let (own, _) = ids_or_skip!(context, FFA_NOTIFICATION_BIND);
    Outcome::expect_error(
        context.call(&[FFA_NOTIFICATION_BIND, endpoints(own, own), 0, 1, 0]),
        FfaError::InvalidParameters,
    )
}

check!(N04_SPOOF, "n04_unbind_for_another_receiver_is_invalid", "N04", n04_spoof);
/// UNBIND naming a receiver other than the caller is INVALID_PARAMETERS.
fn n04_spoof(context: &mut Context<'_>) -> Outcome {
    let (own, other) = ids_or_skip!(context, FFA_NOTIFICATION_UNBIND);
    Outcome::expect_error(
        context.call(&[FFA_NOTIFICATION_UNBIND, endpoints(other, own ^ 0x7), 0, 1, 0]),
        FfaError::InvalidParameters,
    )
}

check!(
    N04_UNKNOWN_SENDER,
    "n04_unbind_from_a_missing_sender_is_invalid",
    "N04",
    n04_unknown_sender
);
/// UNBIND naming a sender no endpoint has is INVALID_PARAMETERS.
fn n04_unknown_sender(context: &mut Context<'_>) -> Outcome {
    let (own, _) = ids_or_skip!(context, FFA_NOTIFICATION_UNBIND);
    Outcome::expect_error(
        context.call(&[FFA_NOTIFICATION_UNBIND, endpoints(NO_SUCH_ENDPOINT, own), 0, 1, 0]),
        FfaError::InvalidParameters,
    )
}

check!(N04_UNBOUND, "n04_unbind_of_unbound_notifications_is_invalid", "N04", n04_unbound);
/// UNBIND of notifications never bound is INVALID_PARAMETERS.
fn n04_unbound(context: &mut Context<'_>) -> Outcome {
    let (own, other) = ids_or_skip!(context, FFA_NOTIFICATION_UNBIND);
    Outcome::expect_error(
        context.call(&[FFA_NOTIFICATION_UNBIND, endpoints(other, own), 0, 0, 1 << 31]),
        FfaError::InvalidParameters,
    )
}

check!(N05_SPOOF, "n05_set_from_another_sender_is_invalid", "N05", n05_spoof);
/// SET naming a sender other than the caller is INVALID_PARAMETERS.
fn n05_spoof(context: &mut Context<'_>) -> Outcome {
    let (own, other) = ids_or_skip!(context, FFA_NOTIFICATION_SET);
    Outcome::expect_error(
        context.call(&[FFA_NOTIFICATION_SET, endpoints(own ^ 0x7, other), 0, 1, 0]),
        FfaError::InvalidParameters,
    )
}

check!(
    N05_UNKNOWN_RECEIVER,
    "n05_set_for_a_missing_receiver_is_invalid",
    "N05",
    n05_unknown_receiver
);
/// SET naming a receiver no endpoint has is INVALID_PARAMETERS.
fn n05_unknown_receiver(context: &mut Context<'_>) -> Outcome {
    let (own, _) = ids_or_skip!(context, FFA_NOTIFICATION_SET);
    Outcome::expect_error(
        context.call(&[FFA_NOTIFICATION_SET, endpoints(own, NO_SUCH_ENDPOINT), 0, 1, 0]),
        FfaError::InvalidParameters,
    )
}
