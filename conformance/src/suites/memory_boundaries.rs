//! Memory a sender may not give away (matrix MM10, MM12, MM33): a partition's secure memory to
//! the normal world, MMIO, and addresses outside the normal-world sender's own memory.

use ffa_core::memory::{AccessPermissions, DataAccess, InstructionAccess};
use ffa_core::{EndpointId, FfaError};
use ffa_guest_driver::memory::MemorySend;
use ffa_guest_driver::{DriverError, ErrorKind, MemoryOperation, PageRange, Receiver};

use super::support::{
    driver_failed, error_registers, missing, setup_lacks, step_failed, with_driver,
};
use crate::check::{Check, Expected, Got, Outcome};
use crate::context::{Context, Endpoint, SuiteDriver};

const SUITE: &str = "memory_management";
const FFA_MEM_DONATE_32: u64 = 0x8400_0071;
const FFA_MEM_LEND_32: u64 = 0x8400_0072;
const FFA_MEM_SHARE_32: u64 = 0x8400_0073;

/// VM 1: the normal-world endpoint a partition's refused send names.
const NORMAL_WORLD_RECEIVER: EndpointId = EndpointId(1);
/// The PL011 UART of the Arm `virt` platform (QEMU), MMIO in every address space we run in.
const UART: u64 = 0x0900_0000;
/// Memory a normal-world sender does not own: the secure RAM of QEMU's `virt` platform
/// (where the SPMC and partitions live), the secure RAM of the host model's partitions, and a
/// non-secure physical address with no memory behind it.
const NOT_THE_SENDERS: [u64; 3] = [0x0E00_0000, 0x1_0000_0000, 0x80_0000_0000];

/// Read-write for the receiver, instruction access left to it (a single-borrower LEND, MM05).
const READ_WRITE: AccessPermissions =
    AccessPermissions { data: DataAccess::ReadWrite, instruction: InstructionAccess::NotSpecified };
/// A DONATE names no access at all (MM06).
const NONE: AccessPermissions = AccessPermissions {
    data: DataAccess::NotSpecified,
    instruction: InstructionAccess::NotSpecified,
};

/// Sends one page at `address` to `receiver` with `operation`; the answer must be an error,
/// `error` when given. An accepted send is reclaimed (and fails the check).
fn refused_send(
    driver: &mut SuiteDriver<'_>,
    operation: MemoryOperation,
    receiver: EndpointId,
    address: u64,
    error: Option<FfaError>,
) -> Outcome {
    let permissions = if operation == MemoryOperation::Donate { NONE } else { READ_WRITE };
    let receivers = [Receiver { id: receiver, permissions }];
    let ranges = [PageRange { address, page_count: 1 }];
    let send = match operation {
        MemoryOperation::Share => MemorySend::share(&receivers, &ranges),
        MemoryOperation::Lend => MemorySend::lend(&receivers, &ranges),
        MemoryOperation::Donate => MemorySend::donate(&receivers, &ranges),
    };
    let expected = match error {
        Some(error) => Expected::Error(error),
        None => Expected::Text("an FFA_ERROR"),
    };
    match driver.memory_send(&send) {
        Ok(handle) => {
            // Take it back so later checks find the page where it was.
            let _ = driver.memory_reclaim(handle, false);
            let mut registers = [0u64; 18];
            registers[0] = 0x8400_0061;
            registers[2] = handle.0 & 0xFFFF_FFFF;
            registers[3] = handle.0 >> 32;
            Outcome::Failed { expected, got: Got(registers) }
        }
        Err(DriverError { kind: ErrorKind::Ffa(got), .. }) => match error {
            Some(error) if got != error => {
                Outcome::Failed { expected, got: Got(error_registers(got)) }
            }
            _ => Outcome::Passed,
        },
        Err(other) => driver_failed("the call reaches the implementation", other),
    }
}

fn offered_sends(context: &mut Context<'_>) -> Option<Outcome> {
    missing(
        context,
        &[
            (FFA_MEM_SHARE_32, "FFA_MEM_SHARE is not offered"),
            (FFA_MEM_LEND_32, "FFA_MEM_LEND is not offered"),
            (FFA_MEM_DONATE_32, "FFA_MEM_DONATE is not offered"),
        ],
    )
}

/// MM10: a partition's SHARE, LEND or DONATE of its (secure) memory to a normal-world
/// endpoint is DENIED.
pub const MM10: Check = Check {
    suite: SUITE,
    name: "mm10_partition_memory_to_the_normal_world_is_denied",
    source: "MM10",
    run: mm10,
};
fn mm10(context: &mut Context<'_>) -> Outcome {
    if context.endpoint != Endpoint::SecurePartition {
        return Outcome::Skipped("only a partition can try this");
    }
    if let Some(skip) = setup_lacks(context, 1).or_else(|| offered_sends(context)) {
        return skip;
    }
    with_driver(context, |driver, memory| {
        // The last page: no other check uses it, should a DONATE wrongly succeed.
        let Some(address) =
            memory.and_then(|memory| memory.page_address(memory.page_count().saturating_sub(1)))
        else {
            return step_failed("page addresses");
        };
        let outcomes = [MemoryOperation::Share, MemoryOperation::Lend, MemoryOperation::Donate]
            .map(|operation| {
                refused_send(
                    driver,
                    operation,
                    NORMAL_WORLD_RECEIVER,
                    address,
                    Some(FfaError::Denied),
                )
            });
        Outcome::all(&outcomes)
    })
}

/// MM12: SHARE and LEND of an MMIO page (the UART) at run time are refused (any error).
pub const MM12: Check = Check {
    suite: SUITE,
    name: "mm12_share_or_lend_of_mmio_is_refused",
    source: "MM12",
    run: mm12,
};
fn mm12(context: &mut Context<'_>) -> Outcome {
    if let Some(skip) = setup_lacks(context, 0).or_else(|| offered_sends(context)) {
        return skip;
    }
    let Some(server) = context.partition else {
        return Outcome::Skipped("the setup names no server partition");
    };
    with_driver(context, |driver, _| {
        let outcomes = [MemoryOperation::Share, MemoryOperation::Lend]
            .map(|operation| refused_send(driver, operation, server, UART, None));
        Outcome::all(&outcomes)
    })
}

/// MM33: a normal-world SHARE of memory that is not its own (the secure world's RAM, a
/// physical address with no memory) is DENIED.
pub const MM33: Check = Check {
    suite: SUITE,
    name: "mm33_normal_world_share_of_memory_not_its_own_is_denied",
    source: "MM33",
    run: mm33,
};
fn mm33(context: &mut Context<'_>) -> Outcome {
    if context.endpoint == Endpoint::SecurePartition {
        return Outcome::Skipped("the rule is for normal-world senders");
    }
    if let Some(skip) = setup_lacks(context, 0).or_else(|| offered_sends(context)) {
        return skip;
    }
    let Some(server) = context.partition else {
        return Outcome::Skipped("the setup names no server partition");
    };
    with_driver(context, |driver, _| {
        let outcomes = NOT_THE_SENDERS.map(|address| {
            refused_send(driver, MemoryOperation::Share, server, address, Some(FfaError::Denied))
        });
        Outcome::all(&outcomes)
    })
}
