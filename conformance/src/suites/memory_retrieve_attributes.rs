//! Retrieve requests the guest driver would not write, made by the server by hand
//! ([`Command::RetrieveWithAttributes`]): the NS bit (matrix MM11), execute access to Device
//! memory (MM20) and a wrong implementation-defined value (MM25). Each refusal must leave the
//! transaction as it was: a correct retrieve afterwards succeeds.
#![allow(
    clippy::result_large_err,
    reason = "a failed step is the check's Outcome (with the registers that came back), passed up once"
)]

use ffa_core::memory::{AccessPermissions, DataAccess, InstructionAccess};
use ffa_core::{EndpointId, FfaError, Version};
use ffa_guest_driver::{MemoryHandle, MemoryOperation};

use super::memory_flow::*;
use crate::check::{Check, Outcome};
use crate::context::{Context, SuiteDriver};
use crate::server::Command;

/// Normal memory, write-back, inner shareable (what the driver's SHARE asks for).
const NORMAL_WRITE_BACK_INNER: u16 = 0x2F;
/// Device memory, nGnRnE.
const DEVICE: u16 = 0x10;
/// The NS bit of the attributes field (v1.1 and later).
const NS: u16 = NS_BIT as u16;

/// Has the server ask for `handle` with a hand-written request, expects `error`, then shows
/// nothing changed: the correct request succeeds (the caller relinquishes and reclaims).
#[allow(clippy::too_many_arguments, reason = "one place for the three checks' shared steps")]
fn refused_then_granted(
    driver: &mut SuiteDriver<'_>,
    server: EndpointId,
    handle: MemoryHandle,
    operation: MemoryOperation,
    permissions: AccessPermissions,
    attributes: u16,
    impdef: [u64; 2],
    step: &'static str,
    error: FfaError,
) -> Result<(), Outcome> {
    let own = driver.id();
    let order = Command::RetrieveWithAttributes {
        handle: handle.0,
        sender: own,
        operation: Some(operation),
        permissions,
        attributes,
        impdef,
    };
    refused(driver, server, step, order, Some(error))?;
    done(
        driver,
        server,
        "a correct retrieve after the refusal succeeds (nothing changed)",
        retrieve(handle, own, operation),
    )
    .map(drop)
}

fn skip_before(context: &Context<'_>, version: Version, reason: &'static str) -> Option<Outcome> {
    (context.version < version).then_some(Outcome::Skipped(reason))
}

cycle_check!(
    MM11_RETRIEVE_NS_BIT,
    "mm11_ns_bit_in_a_retrieve_request_is_invalid",
    "MM11",
    retrieve_ns_bit
);
/// MM11: a retrieve request with the NS bit set in its attributes is INVALID_PARAMETERS.
fn retrieve_ns_bit(context: &mut Context<'_>) -> Outcome {
    if let Some(skip) = skip_before(context, Version::V1_1, "the NS bit exists from v1.1") {
        return skip;
    }
    around_share(context, 48, 0, MemoryOperation::Share, |driver, server, handle| {
        refused_then_granted(
            driver,
            server,
            handle,
            MemoryOperation::Share,
            AccessPermissions::READ_WRITE,
            NORMAL_WRITE_BACK_INNER | NS,
            [0; 2],
            "FFA_ERROR(INVALID_PARAMETERS) for the NS bit",
            FfaError::InvalidParameters,
        )
    })
}

cycle_check!(
    MM20_EXECUTABLE_DEVICE,
    "mm20_retrieve_of_executable_device_memory_is_denied",
    "MM20",
    executable_device
);
/// MM20: the borrower of a LEND asking for execute access to Device memory is DENIED.
fn executable_device(context: &mut Context<'_>) -> Outcome {
    let executable = AccessPermissions {
        data: DataAccess::ReadWrite,
        instruction: InstructionAccess::Executable,
    };
    around_share(context, 50, 0, MemoryOperation::Lend, |driver, server, handle| {
        refused_then_granted(
            driver,
            server,
            handle,
            MemoryOperation::Lend,
            executable,
            DEVICE,
            [0; 2],
            "FFA_ERROR(DENIED) for executable Device memory",
            FfaError::Denied,
        )
    })
}

cycle_check!(MM25_IMPDEF, "mm25_retrieve_with_a_wrong_impdef_value_is_invalid", "MM25", impdef);
/// MM25 (v1.2): a retrieve request whose access descriptor carries other
/// implementation-defined words than the send's (zero) is INVALID_PARAMETERS.
fn impdef(context: &mut Context<'_>) -> Outcome {
    if let Some(skip) = skip_before(context, Version::V1_2, "impdef values exist from v1.2") {
        return skip;
    }
    around_share(context, 52, 0, MemoryOperation::Share, |driver, server, handle| {
        refused_then_granted(
            driver,
            server,
            handle,
            MemoryOperation::Share,
            AccessPermissions::READ_WRITE,
            NORMAL_WRITE_BACK_INNER,
            [0x2525, 0x5252],
            "FFA_ERROR(INVALID_PARAMETERS) for the wrong impdef value",
            FfaError::InvalidParameters,
        )
    })
}
