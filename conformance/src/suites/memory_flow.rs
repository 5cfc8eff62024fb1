//! What the memory-management checks share: the calls they need, the pages they use, and
//! the steps of a cycle (send, command the server, reclaim) as results whose error is the
//! check's outcome.
#![allow(
    clippy::result_large_err,
    reason = "a failed step is the check's Outcome (with the registers that came back), passed up once"
)]

use ffa_core::memory::{AccessPermissions, DataAccess, InstructionAccess};
use ffa_core::{EndpointId, FfaError};
use ffa_guest_driver::memory::MemorySend;
use ffa_guest_driver::{MemoryHandle, MemoryOperation, PageRange, Receiver};

use super::support::{
    answer_failed, command, driver_failed, missing, setup_lacks, step_failed, with_driver,
};
use crate::check::Outcome;
use crate::context::{Context, SuiteDriver};
use crate::server::{Answer, Command, Status};
use crate::SuiteMemory;

pub(super) const SUITE: &str = "memory_management";
pub(super) const PAGE: u64 = 4096;

pub(super) const SHARE: (u64, &str) = (0x8400_0073, "FFA_MEM_SHARE is not offered");
pub(super) const LEND: (u64, &str) = (0x8400_0072, "FFA_MEM_LEND is not offered");
pub(super) const DONATE: (u64, &str) = (0x8400_0071, "FFA_MEM_DONATE is not offered");
pub(super) const RETRIEVE: (u64, &str) = (0x8400_0074, "FFA_MEM_RETRIEVE_REQ is not offered");
pub(super) const RELINQUISH: (u64, &str) = (0x8400_0076, "FFA_MEM_RELINQUISH is not offered");
pub(super) const RECLAIM: (u64, &str) = (0x8400_0077, "FFA_MEM_RECLAIM is not offered");

/// Permission byte bits `[3:2]` = b01: not executable (what a borrower of a SHARE gets).
pub(super) const NOT_EXECUTABLE: u64 = 0b01 << 2;
/// Attributes bit 6: the relayer says the memory is non-secure.
pub(super) const NS_BIT: u64 = 1 << 6;

/// What a cycle check needs: the server, these calls, and `pages` pages of memory.
pub(super) fn prepare(
    context: &mut Context<'_>,
    calls: &[(u64, &'static str)],
    pages: usize,
) -> Result<EndpointId, Outcome> {
    if let Some(skip) = setup_lacks(context, pages) {
        return Err(skip);
    }
    if let Some(skip) = missing(context, calls) {
        return Err(skip);
    }
    context.partition.ok_or(Outcome::Skipped("the setup names no server partition"))
}

/// One-page ranges at the given page indexes of the runner's memory.
pub(super) fn ranges<const N: usize>(
    memory: &dyn SuiteMemory,
    pages: [usize; N],
) -> Option<[PageRange; N]> {
    let mut ranges = [PageRange::default(); N];
    for (range, index) in ranges.iter_mut().zip(pages) {
        *range = PageRange { address: memory.page_address(index)?, page_count: 1 };
    }
    Some(ranges)
}

/// Writes `value + n` at both ends of the n-th range's page.
pub(super) fn fill(memory: &mut dyn SuiteMemory, ranges: &[PageRange], value: u64) -> bool {
    ranges.iter().enumerate().all(|(index, range)| {
        let bytes = value.wrapping_add(index as u64).to_le_bytes();
        memory.write(range.address, &bytes).is_ok()
            && memory.write(range.address.wrapping_add(PAGE - 8), &bytes).is_ok()
    })
}

/// Whether both ends of every page hold `value + n`.
pub(super) fn holds(memory: &mut dyn SuiteMemory, ranges: &[PageRange], value: u64) -> bool {
    ranges.iter().enumerate().all(|(index, range)| {
        let (mut first, mut last) = ([0u8; 8], [0u8; 8]);
        memory.read(range.address, &mut first).is_ok()
            && memory.read(range.address.wrapping_add(PAGE - 8), &mut last).is_ok()
            && u64::from_le_bytes(first) == value.wrapping_add(index as u64)
            && u64::from_le_bytes(last) == value.wrapping_add(index as u64)
    })
}

/// Whether the suite can still read the page (only asked when faults are survivable).
pub(super) fn reachable(memory: &mut dyn SuiteMemory, range: &PageRange) -> bool {
    memory.read(range.address, &mut [0u8; 8]).is_ok()
}

/// A retrieve request for read-write access: a SHARE borrower leaves instruction access
/// unspecified, the single borrower of a LEND or DONATE asks for not-executable (MM21).
pub(super) fn retrieve(
    handle: MemoryHandle,
    sender: EndpointId,
    operation: MemoryOperation,
) -> Command {
    let permissions = match operation {
        MemoryOperation::Share => AccessPermissions::READ_WRITE,
        _ => BORROW_READ_WRITE,
    };
    Command::Retrieve {
        handle: handle.0,
        sender,
        operation: Some(operation),
        permissions,
        tag: 0,
        flags: 0,
    }
}

/// The same retrieve command with `flags` in its request.
pub(super) fn with_flags(order: Command, flags: u32) -> Command {
    match order {
        Command::Retrieve { handle, sender, operation, permissions, tag, .. } => {
            Command::Retrieve { handle, sender, operation, permissions, tag, flags }
        }
        other => other,
    }
}

/// Transaction flag bit 10 (v1.2): one of several borrowers names only itself.
pub(super) const BYPASS_MULTI_BORROWER_CHECK: u32 = 1 << 10;

/// A single borrower's read-write request: not executable.
pub(super) const BORROW_READ_WRITE: AccessPermissions = AccessPermissions {
    data: DataAccess::ReadWrite,
    instruction: InstructionAccess::NotExecutable,
};
/// A single borrower's read-only request.
pub(super) const BORROW_READ_ONLY: AccessPermissions =
    AccessPermissions { data: DataAccess::ReadOnly, instruction: InstructionAccess::NotExecutable };

/// Sends a command and expects it done.
pub(super) fn done(
    driver: &mut SuiteDriver<'_>,
    server: EndpointId,
    step: &'static str,
    order: Command,
) -> Result<Answer, Outcome> {
    match command(driver, server, order) {
        Ok(answer) if answer.status == Status::Done => Ok(answer),
        Ok(answer) => Err(answer_failed(step, answer)),
        Err(error) => Err(error.outcome(step)),
    }
}

/// Sends a command and expects this FF-A error.
pub(super) fn refused(
    driver: &mut SuiteDriver<'_>,
    server: EndpointId,
    step: &'static str,
    order: Command,
    error: Option<FfaError>,
) -> Result<(), Outcome> {
    match command(driver, server, order) {
        Ok(Answer { status: Status::Ffa(got), .. }) if error.is_none_or(|error| error == got) => {
            Ok(())
        }
        Ok(answer) => Err(answer_failed(step, answer)),
        Err(error) => Err(error.outcome(step)),
    }
}

pub(super) fn reclaim(
    driver: &mut SuiteDriver<'_>,
    handle: MemoryHandle,
    zero: bool,
) -> Result<(), Outcome> {
    driver
        .memory_reclaim(handle, zero)
        .map_err(|error| driver_failed("FFA_MEM_RECLAIM succeeds once the borrower let go", error))
}

pub(super) fn send(
    driver: &mut SuiteDriver<'_>,
    send: &MemorySend<'_>,
    step: &'static str,
) -> Result<MemoryHandle, Outcome> {
    driver.memory_send(send).map_err(|error| driver_failed(step, error))
}

pub(super) fn receivers(server: EndpointId, permissions: AccessPermissions) -> [Receiver; 1] {
    [Receiver { id: server, permissions }]
}

/// A lender's permissions for LEND and DONATE: instruction access left unspecified (MM05).
pub(super) const LEND_READ_WRITE: AccessPermissions =
    AccessPermissions { data: DataAccess::ReadWrite, instruction: InstructionAccess::NotSpecified };
pub(super) const LEND_READ_ONLY: AccessPermissions =
    AccessPermissions { data: DataAccess::ReadOnly, instruction: InstructionAccess::NotSpecified };

pub(super) fn finish(result: Result<(), Outcome>) -> Outcome {
    result.err().unwrap_or(Outcome::Passed)
}

macro_rules! cycle_check {
    ($constant:ident, $name:literal, $source:literal, $run:ident) => {
        #[doc = concat!("Matrix ", $source, ": see `", stringify!($run), "`.")]
        pub const $constant: Check =
            Check { suite: SUITE, name: $name, source: $source, run: $run };
    };
}
pub(super) use cycle_check;

/// A share of one page to the server, then `body` with the handle, then reclaim.
pub(super) fn around_share(
    context: &mut Context<'_>,
    page: usize,
    tag: u64,
    operation: MemoryOperation,
    body: impl FnOnce(&mut SuiteDriver<'_>, EndpointId, MemoryHandle) -> Result<(), Outcome>,
) -> Outcome {
    let call = match operation {
        MemoryOperation::Share => SHARE,
        MemoryOperation::Lend => LEND,
        MemoryOperation::Donate => DONATE,
    };
    let server = match prepare(context, &[call, RETRIEVE, RELINQUISH, RECLAIM], page + 1) {
        Ok(server) => server,
        Err(skip) => return skip,
    };
    with_driver(context, |driver, memory| {
        let Some(pages) = memory.and_then(|memory| ranges(memory, [page])) else {
            return step_failed("page addresses");
        };
        finish((|| {
            let permissions = if operation == MemoryOperation::Share {
                AccessPermissions::READ_WRITE
            } else {
                LEND_READ_WRITE
            };
            let receivers = receivers(server, permissions);
            let base = match operation {
                MemoryOperation::Share => MemorySend::share(&receivers, &pages),
                _ => MemorySend::lend(&receivers, &pages),
            };
            let handle = send(driver, &MemorySend { tag, ..base }, "the send succeeds")?;
            let result = body(driver, server, handle);
            // Whatever happened, the borrower lets go (an error if it holds nothing) and the
            // owner takes the page back.
            let _ = command(driver, server, Command::Relinquish { handle: handle.0 });
            let reclaimed = reclaim(driver, handle, false);
            result.and(reclaimed)
        })())
    })
}
