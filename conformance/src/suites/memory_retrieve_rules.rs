//! Retrieve and relinquish rules with the server as the borrower (matrix MM02, MM15-MM17,
//! MM19, MM28, MM30) and the RX/TX pages' isolation (D21).
#![allow(
    clippy::result_large_err,
    reason = "a failed step is the check's Outcome (with the registers that came back), passed up once"
)]

use ffa_core::memory::AccessPermissions;
use ffa_core::FfaError;
use ffa_guest_driver::memory::MemorySend;
use ffa_guest_driver::{MemoryOperation, PageRange};

use super::memory_flow::*;
use super::support::{answer_failed, command, driver_failed, step_failed, with_driver};
use crate::check::{Check, Outcome};
use crate::context::Context;
use crate::server::{Answer, Command, Status};

cycle_check!(MM15_TAG, "mm15_retrieve_with_the_wrong_tag_is_invalid", "MM15", wrong_tag);
/// MM15: a retrieve request naming another tag than the send's is INVALID_PARAMETERS.
fn wrong_tag(context: &mut Context<'_>) -> Outcome {
    around_share(context, 16, 0x7A6, MemoryOperation::Share, |driver, server, handle| {
        let own = driver.id();
        let order = Command::Retrieve {
            handle: handle.0,
            sender: own,
            operation: Some(MemoryOperation::Share),
            permissions: AccessPermissions::READ_WRITE,
            tag: 0x7A7,
            flags: 0,
        };
        refused(
            driver,
            server,
            "FFA_ERROR(INVALID_PARAMETERS) for the wrong tag",
            order,
            Some(FfaError::InvalidParameters),
        )
    })
}

cycle_check!(MM15_HANDLE, "mm15_retrieve_of_an_unknown_handle_is_invalid", "MM15", unknown_handle);
/// MM15: a retrieve request for a handle that names no transaction is INVALID_PARAMETERS.
fn unknown_handle(context: &mut Context<'_>) -> Outcome {
    let server = match prepare(context, &[RETRIEVE], 0) {
        Ok(server) => server,
        Err(skip) => return skip,
    };
    with_driver(context, |driver, _| {
        let own = driver.id();
        let order = Command::Retrieve {
            handle: 0x7FFF_FFFF_FFFF_FFF0,
            sender: own,
            operation: Some(MemoryOperation::Share),
            permissions: AccessPermissions::READ_WRITE,
            tag: 0,
            flags: 0,
        };
        finish(refused(
            driver,
            server,
            "FFA_ERROR(INVALID_PARAMETERS) for an unknown handle",
            order,
            Some(FfaError::InvalidParameters),
        ))
    })
}

cycle_check!(
    MM16_TYPE,
    "mm16_retrieve_naming_another_transaction_type_is_invalid",
    "MM16",
    wrong_type
);
/// MM16: retrieving a LEND as a SHARE is INVALID_PARAMETERS.
fn wrong_type(context: &mut Context<'_>) -> Outcome {
    around_share(context, 18, 0, MemoryOperation::Lend, |driver, server, handle| {
        let own = driver.id();
        let order = retrieve(handle, own, MemoryOperation::Share);
        refused(
            driver,
            server,
            "FFA_ERROR(INVALID_PARAMETERS) for the wrong type",
            order,
            Some(FfaError::InvalidParameters),
        )
    })
}

cycle_check!(MM17_SENDER, "mm17_retrieve_naming_another_sender_is_denied", "MM17", wrong_sender);
/// MM17: a retrieve request whose sender is not the owner is DENIED.
fn wrong_sender(context: &mut Context<'_>) -> Outcome {
    around_share(context, 20, 0, MemoryOperation::Share, |driver, server, handle| {
        // The server names itself as the owner.
        let order = retrieve(handle, server, MemoryOperation::Share);
        refused(
            driver,
            server,
            "FFA_ERROR(DENIED) for the wrong sender",
            order,
            Some(FfaError::Denied),
        )
    })
}

cycle_check!(
    MM19_READ_ONLY,
    "mm19_lend_read_only_then_retrieve_read_write_is_denied",
    "MM19",
    read_only_lend
);
/// MM19: a page lent read-only cannot be retrieved read-write (DENIED); read-only works.
fn read_only_lend(context: &mut Context<'_>) -> Outcome {
    let server = match prepare(context, &[LEND, RETRIEVE, RELINQUISH, RECLAIM], 23) {
        Ok(server) => server,
        Err(skip) => return skip,
    };
    with_driver(context, |driver, memory| {
        let Some(pages) = memory.and_then(|memory| ranges(memory, [22])) else {
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
            let result = refused(
                driver,
                server,
                "FFA_ERROR(DENIED) for read-write",
                retrieve(handle, own, MemoryOperation::Lend),
                Some(FfaError::Denied),
            )
            .and_then(|()| {
                let order = Command::Retrieve {
                    handle: handle.0,
                    sender: own,
                    operation: Some(MemoryOperation::Lend),
                    permissions: BORROW_READ_ONLY,
                    tag: 0,
                    flags: 0,
                };
                done(driver, server, "a read-only retrieve succeeds", order).map(drop)
            });
            let _ = command(driver, server, Command::Relinquish { handle: handle.0 });
            result.and(reclaim(driver, handle, false))
        })())
    })
}

cycle_check!(MM02_RESEND, "mm02_a_borrower_cannot_lend_what_it_borrowed", "MM02", borrower_resends);
/// MM02: a borrower that LENDs memory it was lent is DENIED.
fn borrower_resends(context: &mut Context<'_>) -> Outcome {
    let second = context.second_partition;
    around_share(context, 24, 0, MemoryOperation::Lend, |driver, server, handle| {
        let own = driver.id();
        done(
            driver,
            server,
            "the borrower retrieves",
            retrieve(handle, own, MemoryOperation::Lend),
        )?;
        let order = Command::SendMemory {
            handle: handle.0,
            receiver: second.unwrap_or(own),
            operation: MemoryOperation::Lend,
        };
        refused(
            driver,
            server,
            "FFA_ERROR(DENIED) for the borrower's LEND",
            order,
            Some(FfaError::Denied),
        )
    })
}

cycle_check!(MM28_EARLY, "mm28_relinquish_before_retrieve_is_an_error", "MM28", early_relinquish);
/// MM28: relinquishing memory never retrieved is an error.
fn early_relinquish(context: &mut Context<'_>) -> Outcome {
    around_share(context, 26, 0, MemoryOperation::Share, |driver, server, handle| {
        refused(
            driver,
            server,
            "an error for relinquish before retrieve",
            Command::Relinquish { handle: handle.0 },
            None,
        )
    })
}

cycle_check!(
    MM30_RELINQUISHED,
    "mm30_borrower_loses_access_at_relinquish",
    "MM30",
    relinquished_access
);
/// MM30: after relinquish the borrower can no longer reach the memory (where the server
/// survives faults).
fn relinquished_access(context: &mut Context<'_>) -> Outcome {
    around_share(context, 32, 0, MemoryOperation::Share, |driver, server, handle| {
        let own = driver.id();
        done(
            driver,
            server,
            "the borrower retrieves",
            retrieve(handle, own, MemoryOperation::Share),
        )?;
        done(
            driver,
            server,
            "the borrower relinquishes",
            Command::Relinquish { handle: handle.0 },
        )?;
        match command(driver, server, Command::Probe { handle: handle.0 }) {
            Ok(Answer { status: Status::AccessFault, .. }) => Ok(()),
            Ok(Answer { status: Status::CannotProbe, .. }) => {
                Err(Outcome::Skipped("the server partition cannot survive a fault"))
            }
            Ok(answer) => {
                Err(answer_failed("the borrower's access faults after relinquish", answer))
            }
            Err(error) => Err(error.outcome("the probe")),
        }
    })
}

cycle_check!(D21_BUFFER, "d21_share_of_the_rx_tx_buffers_is_denied", "D21", share_buffers);
/// D21: sending the pages of one's own mapped TX buffer is DENIED.
fn share_buffers(context: &mut Context<'_>) -> Outcome {
    let server = match prepare(context, &[SHARE, RECLAIM], 0) {
        Ok(server) => server,
        Err(skip) => return skip,
    };
    let Some(address) = context.buffers.as_deref().map(|buffers| buffers.tx_address()) else {
        return Outcome::Skipped("the runner lends no RX/TX buffers");
    };
    with_driver(context, |driver, _| {
        let pages = [PageRange { address, page_count: 1 }];
        match driver.memory_share(server, &pages) {
            Err(error) if error.is(FfaError::Denied) => Outcome::Passed,
            Err(error) => driver_failed("FFA_ERROR(DENIED) for the TX buffer's page", error),
            Ok(handle) => {
                let _ = driver.memory_reclaim(handle, false);
                step_failed("FFA_ERROR(DENIED) for the TX buffer's page, not a handle")
            }
        }
    })
}
