//! Memory the owner may share only read-only (matrix MM13): a read-write SHARE of it, a LEND
//! or DONATE of it with the zero flag, and a reclaim of it with the zero flag are DENIED, and
//! each refusal leaves the page as it was (a read-only LEND of it still succeeds).
#![allow(
    clippy::result_large_err,
    reason = "a failed step is the check's Outcome (with the registers that came back), passed up once"
)]

use ffa_core::memory::AccessPermissions;
use ffa_core::{EndpointId, FfaError};
use ffa_guest_driver::memory::MemorySend;
use ffa_guest_driver::{DriverError, ErrorKind, PageRange};

use super::memory_flow::*;
use super::support::{driver_failed, error_registers, step_failed, with_driver};
use crate::check::{Check, Expected, Got, Outcome};
use crate::context::{Context, SuiteDriver};

/// The runner's read-only page and the server, or the reason to skip.
fn read_only_setup(
    context: &mut Context<'_>,
    calls: &[(u64, &'static str)],
) -> Result<EndpointId, Outcome> {
    let server = prepare(context, calls, 0)?;
    let lent = context.memory.as_deref().and_then(|memory| memory.read_only_page());
    if lent.is_none() {
        return Err(Outcome::Skipped("the runner lends no read-only memory"));
    }
    Ok(server)
}

/// Runs `body` with a driver, the server and the read-only page.
fn with_read_only(
    context: &mut Context<'_>,
    calls: &[(u64, &'static str)],
    body: impl FnOnce(&mut SuiteDriver<'_>, EndpointId, [PageRange; 1]) -> Result<(), Outcome>,
) -> Outcome {
    let server = match read_only_setup(context, calls) {
        Ok(server) => server,
        Err(skip) => return skip,
    };
    with_driver(context, |driver, memory| {
        let Some(address) = memory.and_then(|memory| memory.read_only_page()) else {
            return step_failed("the read-only page's address");
        };
        finish(body(driver, server, [PageRange { address, page_count: 1 }]))
    })
}

/// Expects `result` to be FFA_ERROR(DENIED); a success is undone with `undo`.
fn denied<T>(
    result: ffa_guest_driver::Result<T>,
    step: &'static str,
    undo: impl FnOnce(T),
) -> Result<(), Outcome> {
    match result {
        Err(DriverError { kind: ErrorKind::Ffa(FfaError::Denied), .. }) => Ok(()),
        Err(DriverError { kind: ErrorKind::Ffa(other), .. }) => Err(Outcome::Failed {
            expected: Expected::Error(FfaError::Denied),
            got: Got(error_registers(other)),
        }),
        Err(other) => Err(driver_failed(step, other)),
        Ok(value) => {
            undo(value);
            let mut registers = [0u64; 18];
            registers[0] = 0x8400_0061;
            Err(Outcome::Failed {
                expected: Expected::Error(FfaError::Denied),
                got: Got(registers),
            })
        }
    }
}

/// A read-only LEND of the page without the zero flag succeeds and is reclaimed: the refusal
/// before it changed nothing.
fn still_lendable(
    driver: &mut SuiteDriver<'_>,
    server: EndpointId,
    pages: &[PageRange; 1],
) -> Result<(), Outcome> {
    let receivers = receivers(server, LEND_READ_ONLY);
    let handle = send(
        driver,
        &MemorySend::lend(&receivers, pages),
        "a read-only LEND of the page after the refusal succeeds",
    )?;
    reclaim(driver, handle, false)
}

cycle_check!(MM13_SHARE, "mm13_read_write_share_of_read_only_memory_is_denied", "MM13", share);
/// MM13: a read-write SHARE of memory the owner may only read is DENIED; a read-only SHARE
/// of it succeeds.
fn share(context: &mut Context<'_>) -> Outcome {
    with_read_only(context, &[SHARE, RECLAIM], |driver, server, pages| {
        let read_write = receivers(server, AccessPermissions::READ_WRITE);
        let result = driver.memory_send(&MemorySend::share(&read_write, &pages));
        denied(result, "the read-write SHARE reaches the implementation", |handle| {
            let _ = driver_reclaim(driver, handle);
        })?;
        let read_only = receivers(server, AccessPermissions::READ_ONLY);
        let handle = send(
            driver,
            &MemorySend::share(&read_only, &pages),
            "a read-only SHARE of the page succeeds",
        )?;
        reclaim(driver, handle, false)
    })
}

fn driver_reclaim(
    driver: &mut SuiteDriver<'_>,
    handle: ffa_guest_driver::MemoryHandle,
) -> ffa_guest_driver::Result<()> {
    driver.memory_reclaim(handle, false)
}

cycle_check!(
    MM13_LEND_ZERO,
    "mm13_lend_of_read_only_memory_with_zero_flag_is_denied",
    "MM13",
    lend
);
/// MM13: a LEND of read-only memory asking to zero it is DENIED.
fn lend(context: &mut Context<'_>) -> Outcome {
    with_read_only(context, &[LEND, RECLAIM], |driver, server, pages| {
        let receivers = receivers(server, LEND_READ_ONLY);
        let zeroing = MemorySend { zero_memory: true, ..MemorySend::lend(&receivers, &pages) };
        let result = driver.memory_send(&zeroing);
        denied(result, "the LEND reaches the implementation", |handle| {
            let _ = driver_reclaim(driver, handle);
        })?;
        still_lendable(driver, server, &pages)
    })
}

cycle_check!(
    MM13_DONATE_ZERO,
    "mm13_donate_of_read_only_memory_with_zero_flag_is_denied",
    "MM13",
    donate
);
/// MM13: a DONATE of read-only memory asking to zero it is DENIED.
fn donate(context: &mut Context<'_>) -> Outcome {
    with_read_only(context, &[DONATE, LEND, RECLAIM], |driver, server, pages| {
        let receivers = receivers(server, AccessPermissions::NOT_SPECIFIED);
        let zeroing = MemorySend { zero_memory: true, ..MemorySend::donate(&receivers, &pages) };
        // A DONATE that is granted cannot be undone by the owner.
        denied(driver.memory_send(&zeroing), "the DONATE reaches the implementation", drop)?;
        still_lendable(driver, server, &pages)
    })
}

cycle_check!(
    MM13_RECLAIM_ZERO,
    "mm13_reclaim_of_read_only_memory_with_zero_flag_is_denied",
    "MM13",
    reclaim_zero
);
/// MM13: reclaiming lent read-only memory with the zero flag is DENIED; the plain reclaim
/// then succeeds.
fn reclaim_zero(context: &mut Context<'_>) -> Outcome {
    with_read_only(context, &[LEND, RECLAIM], |driver, server, pages| {
        let receivers = receivers(server, LEND_READ_ONLY);
        let handle =
            send(driver, &MemorySend::lend(&receivers, &pages), "the read-only LEND succeeds")?;
        let zeroing = driver.memory_reclaim(handle, true);
        denied(zeroing, "the reclaim reaches the implementation", drop)?;
        reclaim(driver, handle, false)
    })
}
