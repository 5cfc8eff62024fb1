//! Permission, type and flag rules of sends and retrieves (matrix MM05, MM06, MM14, MM18, MM21,
//! MM23, MM24, MM26, MM27): well-formed descriptors through the guest driver carrying values the
//! rules forbid, and retrieve requests from the server carrying forbidden flags.
#![allow(
    clippy::result_large_err,
    reason = "a failed step is the check's Outcome (with the registers that came back), passed up once"
)]

use ffa_core::memory::{AccessPermissions, DataAccess, InstructionAccess};
use ffa_core::FfaError;
use ffa_guest_driver::memory::MemorySend;
use ffa_guest_driver::{MemoryAttributes, MemoryOperation, Receiver};

use super::memory_flow::*;
use super::support::{command, driver_failed, step_failed, with_driver};
use crate::check::{Check, Outcome};
use crate::context::{Context, SuiteDriver};
use crate::server::Command;

/// The page the refused sends name.
const REFUSED_PAGE: usize = 34;
/// Transaction flags bit 0: clear memory.
const CLEAR: u32 = 1;

/// Sends `send` and expects `error`; a send that succeeds anyway is reclaimed.
fn refused_send(
    driver: &mut SuiteDriver<'_>,
    send: &MemorySend<'_>,
    step: &'static str,
    error: FfaError,
) -> Outcome {
    match driver.memory_send(send) {
        Err(failed) if failed.is(error) => Outcome::Passed,
        Err(failed) => driver_failed(step, failed),
        Ok(handle) => {
            let _ = driver.memory_reclaim(handle, false);
            step_failed(step)
        }
    }
}

/// Builds a one-page send to the server with `make` and expects `error`.
fn spoiled_send(
    context: &mut Context<'_>,
    call: (u64, &'static str),
    step: &'static str,
    error: FfaError,
    make: for<'a> fn(&'a [Receiver], &'a [ffa_guest_driver::PageRange]) -> MemorySend<'a>,
    permissions: AccessPermissions,
) -> Outcome {
    let server = match prepare(context, &[call, RECLAIM], REFUSED_PAGE + 1) {
        Ok(server) => server,
        Err(skip) => return skip,
    };
    with_driver(context, |driver, memory| {
        let Some(pages) = memory.and_then(|memory| ranges(memory, [REFUSED_PAGE])) else {
            return step_failed("page addresses");
        };
        let receivers = [Receiver { id: server, permissions }];
        refused_send(driver, &make(&receivers, &pages), step, error)
    })
}

const EXECUTABLE_READ_WRITE: AccessPermissions =
    AccessPermissions { data: DataAccess::ReadWrite, instruction: InstructionAccess::Executable };
const NOT_EXECUTABLE_READ_WRITE: AccessPermissions = AccessPermissions {
    data: DataAccess::ReadWrite,
    instruction: InstructionAccess::NotExecutable,
};

cycle_check!(MM05_SHARE, "mm05_share_naming_instruction_access_is_invalid", "MM05", share_nx);
/// MM05: a SHARE whose lender specifies instruction access (NX) is INVALID_PARAMETERS.
fn share_nx(context: &mut Context<'_>) -> Outcome {
    spoiled_send(
        context,
        SHARE,
        "FFA_ERROR(INVALID_PARAMETERS) for a SHARE naming NX",
        FfaError::InvalidParameters,
        |receivers, pages| MemorySend::share(receivers, pages),
        NOT_EXECUTABLE_READ_WRITE,
    )
}

cycle_check!(MM05_LEND, "mm05_lend_naming_instruction_access_is_invalid", "MM05", lend_x);
/// MM05: a single-borrower LEND whose lender specifies instruction access (X) is
/// INVALID_PARAMETERS.
fn lend_x(context: &mut Context<'_>) -> Outcome {
    spoiled_send(
        context,
        LEND,
        "FFA_ERROR(INVALID_PARAMETERS) for a LEND naming X",
        FfaError::InvalidParameters,
        |receivers, pages| MemorySend::lend(receivers, pages),
        EXECUTABLE_READ_WRITE,
    )
}

cycle_check!(
    MM06_LEND_TYPE,
    "mm06_lend_to_one_borrower_naming_a_type_is_invalid",
    "MM06",
    lend_typed
);
/// MM06: a single-borrower LEND with the memory type specified is INVALID_PARAMETERS.
fn lend_typed(context: &mut Context<'_>) -> Outcome {
    spoiled_send(
        context,
        LEND,
        "FFA_ERROR(INVALID_PARAMETERS) for a LEND naming a memory type",
        FfaError::InvalidParameters,
        |receivers, pages| MemorySend {
            attributes: MemoryAttributes::NORMAL_WRITE_BACK_INNER_SHAREABLE,
            ..MemorySend::lend(receivers, pages)
        },
        LEND_READ_WRITE,
    )
}

cycle_check!(
    MM06_DONATE_ACCESS,
    "mm06_donate_naming_data_access_is_invalid",
    "MM06",
    donate_access
);
/// MM06: a DONATE whose donor specifies data access is INVALID_PARAMETERS.
fn donate_access(context: &mut Context<'_>) -> Outcome {
    spoiled_send(
        context,
        DONATE,
        "FFA_ERROR(INVALID_PARAMETERS) for a DONATE naming read-write",
        FfaError::InvalidParameters,
        |receivers, pages| MemorySend::donate(receivers, pages),
        LEND_READ_WRITE,
    )
}

cycle_check!(MM14_TWICE, "mm14_sharing_a_shared_page_again_is_denied", "MM14", share_twice);
/// MM14: sending a page that is already in a transaction is DENIED (tftf's answer).
fn share_twice(context: &mut Context<'_>) -> Outcome {
    let server = match prepare(context, &[SHARE, RECLAIM], 37) {
        Ok(server) => server,
        Err(skip) => return skip,
    };
    with_driver(context, |driver, memory| {
        let Some(pages) = memory.and_then(|memory| ranges(memory, [36])) else {
            return step_failed("page addresses");
        };
        finish((|| {
            let receivers = receivers(server, AccessPermissions::READ_WRITE);
            let share = MemorySend::share(&receivers, &pages);
            let handle = send(driver, &share, "the first FFA_MEM_SHARE succeeds")?;
            let again = refused_send(
                driver,
                &share,
                "FFA_ERROR(DENIED) for a page already shared",
                FfaError::Denied,
            );
            let reclaimed = reclaim(driver, handle, false);
            if again != Outcome::Passed {
                return Err(again);
            }
            reclaimed
        })())
    })
}

cycle_check!(
    MM18_SHARE_CLEAR,
    "mm18_retrieve_of_a_share_with_the_clear_flag_is_invalid",
    "MM18",
    share_clear
);
/// MM18: retrieving a SHARE with the clear flag is INVALID_PARAMETERS.
fn share_clear(context: &mut Context<'_>) -> Outcome {
    around_share(context, 38, 0, MemoryOperation::Share, |driver, server, handle| {
        let own = driver.id();
        let order = with_flags(retrieve(handle, own, MemoryOperation::Share), CLEAR);
        refused(
            driver,
            server,
            "FFA_ERROR(INVALID_PARAMETERS) for a SHARE retrieved with the clear flag",
            order,
            Some(FfaError::InvalidParameters),
        )
    })
}

cycle_check!(MM24_AGAIN, "mm24_retrieving_twice_is_refused", "MM24", retrieve_twice);
/// MM24: a second retrieve by the same borrower with the clear flag is INVALID_PARAMETERS, and
/// without it DENIED (one retrieval each).
fn retrieve_twice(context: &mut Context<'_>) -> Outcome {
    around_share(context, 40, 0, MemoryOperation::Lend, |driver, server, handle| {
        let own = driver.id();
        let order = retrieve(handle, own, MemoryOperation::Lend);
        done(driver, server, "the first retrieve succeeds", order)?;
        refused(
            driver,
            server,
            "FFA_ERROR(INVALID_PARAMETERS) for a second retrieve with the clear flag",
            with_flags(order, CLEAR),
            Some(FfaError::InvalidParameters),
        )?;
        refused(
            driver,
            server,
            "FFA_ERROR(DENIED) for a second retrieve",
            order,
            Some(FfaError::Denied),
        )
    })
}

cycle_check!(MM26_BYPASS, "mm26_bypass_flag_with_one_borrower_is_invalid", "MM26", bypass_single);
/// MM26 (v1.2): the bypass-multi-borrower flag in a retrieve of a single-borrower transaction
/// is INVALID_PARAMETERS.
fn bypass_single(context: &mut Context<'_>) -> Outcome {
    if context.version < ffa_core::Version::V1_2 {
        return Outcome::Skipped("the rule is for FF-A v1.2");
    }
    around_share(context, 42, 0, MemoryOperation::Share, |driver, server, handle| {
        let own = driver.id();
        let order =
            with_flags(retrieve(handle, own, MemoryOperation::Share), BYPASS_MULTI_BORROWER_CHECK);
        refused(
            driver,
            server,
            "FFA_ERROR(INVALID_PARAMETERS) for the bypass flag with one borrower",
            order,
            Some(FfaError::InvalidParameters),
        )
    })
}

cycle_check!(
    MM27_UNKNOWN,
    "mm27_relinquish_of_an_unknown_handle_is_invalid",
    "MM27",
    relinquish_unknown
);
/// MM27: FFA_MEM_RELINQUISH of a handle that names no transaction is INVALID_PARAMETERS.
fn relinquish_unknown(context: &mut Context<'_>) -> Outcome {
    let server = match prepare(context, &[RELINQUISH], 0) {
        Ok(server) => server,
        Err(skip) => return skip,
    };
    with_driver(context, |driver, _| {
        finish(refused(
            driver,
            server,
            "FFA_ERROR(INVALID_PARAMETERS) for an unknown handle",
            Command::Relinquish { handle: 0x7FFF_FFFF_FFFF_FFF0 },
            Some(FfaError::InvalidParameters),
        ))
    })
}

cycle_check!(
    MM21_TWO_LEND,
    "mm21_borrower_of_a_two_borrower_lend_naming_nx_is_invalid",
    "MM21",
    two_borrower_lend
);
/// MM21: in a LEND to two borrowers, a retrieve that specifies instruction access is
/// INVALID_PARAMETERS.
fn two_borrower_lend(context: &mut Context<'_>) -> Outcome {
    let Some(second) = context.second_partition else {
        return Outcome::Skipped("the setup names no second server partition");
    };
    if context.version < ffa_core::Version::V1_2 {
        return Outcome::Skipped("the check names only itself, which needs v1.2's bypass flag");
    }
    let server = match prepare(context, &[LEND, RETRIEVE, RECLAIM], 45) {
        Ok(server) => server,
        Err(skip) => return skip,
    };
    with_driver(context, |driver, memory| {
        let Some(pages) = memory.and_then(|memory| ranges(memory, [44])) else {
            return step_failed("page addresses");
        };
        finish((|| {
            let receivers = [
                Receiver { id: server, permissions: LEND_READ_WRITE },
                Receiver { id: second, permissions: LEND_READ_WRITE },
            ];
            // With two borrowers the lender names the memory type, as for SHARE.
            let lend = MemorySend {
                attributes: MemoryAttributes::NORMAL_WRITE_BACK_INNER_SHAREABLE,
                ..MemorySend::lend(&receivers, &pages)
            };
            let handle = send(driver, &lend, "FFA_MEM_LEND to two borrowers succeeds")?;
            let own = driver.id();
            let order = with_flags(
                retrieve(handle, own, MemoryOperation::Lend),
                BYPASS_MULTI_BORROWER_CHECK,
            );
            let result = refused(
                driver,
                server,
                "FFA_ERROR(INVALID_PARAMETERS) for NX in a two-borrower LEND",
                order,
                Some(FfaError::InvalidParameters),
            );
            let _ = command(driver, server, Command::Relinquish { handle: handle.0 });
            result.and(reclaim(driver, handle, false))
        })())
    })
}

cycle_check!(
    MM23_HINT,
    "mm23_alignment_hint_without_its_valid_bit_is_invalid",
    "MM23",
    hint_without_valid
);
/// MM23: a retrieve request with alignment-hint bits `[8:5]` set but bit 9 (hint valid) clear
/// is INVALID_PARAMETERS.
fn hint_without_valid(context: &mut Context<'_>) -> Outcome {
    around_share(context, 46, 0, MemoryOperation::Share, |driver, server, handle| {
        let own = driver.id();
        let order = with_flags(retrieve(handle, own, MemoryOperation::Share), 1 << 5);
        refused(
            driver,
            server,
            "FFA_ERROR(INVALID_PARAMETERS) for a hint without its valid bit",
            order,
            Some(FfaError::InvalidParameters),
        )
    })
}
