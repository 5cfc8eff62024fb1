//! Retrieve and relinquish requests the guest driver never makes, written by the server:
//! lengths that disagree with the descriptor (matrix MM17) and the zero flag from a read-only
//! borrower (MM28).
#![allow(
    clippy::result_large_err,
    reason = "a failed step is the check's Outcome (with the registers that came back), passed up once"
)]

use ffa_core::FfaError;
use ffa_guest_driver::memory::MemorySend;
use ffa_guest_driver::MemoryOperation;

use super::memory_flow::*;
use super::support::{command, step_failed, with_driver};
use crate::check::{Check, Outcome};
use crate::context::Context;
use crate::server::Command;

/// A total length no descriptor in a 4 KiB TX buffer has.
const TOO_LONG: u32 = 0x0010_0000;
/// A length too short for any retrieve request (less than its header).
const TOO_SHORT: u32 = 16;

cycle_check!(
    MM17_LENGTH,
    "mm17_retrieve_with_a_bad_total_length_is_invalid",
    "MM17",
    bad_total_length
);
/// MM17: a retrieve request whose total length (w1) is not the descriptor's is
/// INVALID_PARAMETERS: longer than the fragment sent (w2 the real length), both too long for
/// the buffer, both too short for the descriptor. Afterwards the correct request succeeds.
fn bad_total_length(context: &mut Context<'_>) -> Outcome {
    around_share(context, 54, 0, MemoryOperation::Lend, |driver, server, handle| {
        let own = driver.id();
        for (total_length, fragment_length) in
            [(TOO_LONG, 0), (TOO_LONG, TOO_LONG), (TOO_SHORT, TOO_SHORT)]
        {
            let order = Command::RetrieveWithLengths {
                handle: handle.0,
                sender: own,
                operation: Some(MemoryOperation::Lend),
                permissions: BORROW_READ_WRITE,
                total_length,
                fragment_length,
            };
            refused(
                driver,
                server,
                "FFA_ERROR(INVALID_PARAMETERS) for a bad total length",
                order,
                Some(FfaError::InvalidParameters),
            )?;
        }
        done(
            driver,
            server,
            "afterwards the correct retrieve succeeds",
            retrieve(handle, own, MemoryOperation::Lend),
        )
        .map(drop)
    })
}

cycle_check!(
    MM28_ZERO_READ_ONLY,
    "mm28_relinquish_with_the_zero_flag_by_a_read_only_borrower_is_denied",
    "MM28",
    zero_read_only
);
/// MM28: a borrower holding a LEND read-only that relinquishes it with the zero flag (bit 0)
/// is DENIED (it could not write the zeros); it still holds the memory, and relinquishes it
/// without the flag.
fn zero_read_only(context: &mut Context<'_>) -> Outcome {
    let server = match prepare(context, &[LEND, RETRIEVE, RELINQUISH, RECLAIM], 57) {
        Ok(server) => server,
        Err(skip) => return skip,
    };
    with_driver(context, |driver, memory| {
        let Some(pages) = memory.and_then(|memory| ranges(memory, [56])) else {
            return step_failed("page addresses");
        };
        finish((|| {
            let receivers = receivers(server, LEND_READ_ONLY);
            let handle = send(
                driver,
                &MemorySend::lend(&receivers, &pages),
                "FFA_MEM_LEND read-only succeeds",
            )?;
            let own = driver.id();
            let order = Command::Retrieve {
                handle: handle.0,
                sender: own,
                operation: Some(MemoryOperation::Lend),
                permissions: BORROW_READ_ONLY,
                tag: 0,
                flags: 0,
            };
            let result = done(driver, server, "a read-only retrieve succeeds", order)
                .and_then(|_| {
                    refused(
                        driver,
                        server,
                        "FFA_ERROR(DENIED) for the zero flag",
                        Command::RelinquishWithFlags { handle: handle.0, flags: 1 },
                        Some(FfaError::Denied),
                    )
                })
                .and_then(|()| {
                    done(
                        driver,
                        server,
                        "afterwards relinquish without the flag succeeds",
                        Command::RelinquishWithFlags { handle: handle.0, flags: 0 },
                    )
                    .map(drop)
                });
            if result.is_err() {
                let _ = command(driver, server, Command::Relinquish { handle: handle.0 });
            }
            result.and(reclaim(driver, handle, false))
        })())
    })
}
