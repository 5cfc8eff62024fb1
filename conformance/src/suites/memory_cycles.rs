//! Whole memory-management cycles through the guest driver, with the server partition as the
//! borrower (matrix MM01, MM22, MM29, MM30, MM32): the suite shares,
//! lends or donates pages of the runner's memory, commands the server to retrieve, write,
//! read and relinquish, reclaims, and looks at its own pages.
#![allow(
    clippy::result_large_err,
    reason = "a failed step is the check's Outcome (with the registers that came back), passed up once"
)]

use ffa_core::memory::AccessPermissions;
use ffa_core::FfaError;
use ffa_guest_driver::memory::MemorySend;
use ffa_guest_driver::{MemoryOperation, PageRange, Receiver};

use super::memory_flow::*;
use super::support::{driver_failed, step_failed, with_driver};
use crate::check::{Check, Outcome};
use crate::context::{Context, Endpoint};
use crate::server::Command;

cycle_check!(MM01_SHARE, "mm01_share_retrieve_write_relinquish_reclaim", "MM01", share_cycle);
/// MM01: SHARE of three non-contiguous pages; the borrower's retrieve response says SHARE,
/// not zeroed, not executable, NS bit set iff the owner is in the normal world; both see each
/// other's writes while shared; relinquish, reclaim, data intact.
fn share_cycle(context: &mut Context<'_>) -> Outcome {
    let server = match prepare(context, &[SHARE, RETRIEVE, RELINQUISH, RECLAIM], 5) {
        Ok(server) => server,
        Err(skip) => return skip,
    };
    let normal_world = context.endpoint != Endpoint::SecurePartition;
    with_driver(context, |driver, memory| {
        let Some(memory) = memory else {
            return Outcome::Skipped("the runner lends no memory to share");
        };
        let Some(pages) = ranges(memory, [0, 2, 4]) else { return step_failed("page addresses") };
        if !fill(memory, &pages, 0x5EED_0000) {
            return step_failed("the suite can write its own pages");
        }
        finish((|| {
            let receivers = receivers(server, AccessPermissions::READ_WRITE);
            let handle =
                send(driver, &MemorySend::share(&receivers, &pages), "FFA_MEM_SHARE succeeds")?;
            let own = driver.id();
            let got = done(
                driver,
                server,
                "the borrower retrieves",
                retrieve(handle, own, MemoryOperation::Share),
            )?;
            let [counts, _, flags, attributes] = got.values;
            if counts & 0xFFFF_FFFF != 3 || flags & 1 != 0 || (flags >> 3) & 3 != 1 {
                return Err(step_failed(
                    "RETRIEVE_RESP: 3 pages, not zeroed, transaction type SHARE",
                ));
            }
            if (attributes >> 16) & 0b1100 != NOT_EXECUTABLE {
                return Err(step_failed("RETRIEVE_RESP grants a SHARE borrower no execute access"));
            }
            if (attributes & NS_BIT != 0) != normal_world {
                return Err(step_failed(
                    "RETRIEVE_RESP NS bit set exactly when the owner is non-secure",
                ));
            }
            let read = done(
                driver,
                server,
                "the borrower reads",
                Command::Read { handle: handle.0, page: 1 },
            )?;
            if read.values[0] != 0x5EED_0001 || read.values[1] != 0x5EED_0001 {
                return Err(step_failed("the borrower reads what the owner wrote"));
            }
            done(
                driver,
                server,
                "the borrower writes",
                Command::Write { handle: handle.0, value: 0xB0B0_0000 },
            )?;
            if !holds(memory, &pages, 0xB0B0_0000) {
                return Err(step_failed("the owner keeps access and sees the borrower's writes"));
            }
            done(
                driver,
                server,
                "the borrower relinquishes",
                Command::Relinquish { handle: handle.0 },
            )?;
            reclaim(driver, handle, false)?;
            if !holds(memory, &pages, 0xB0B0_0000) {
                return Err(step_failed("data intact after reclaim"));
            }
            Ok(())
        })())
    })
}

cycle_check!(MM29_HELD, "mm29_reclaim_while_the_borrower_holds_it_is_denied", "MM29", reclaim_held);
/// MM29: FFA_MEM_RECLAIM while the borrower holds the memory is DENIED; after relinquish it
/// succeeds.
fn reclaim_held(context: &mut Context<'_>) -> Outcome {
    let server = match prepare(context, &[SHARE, RETRIEVE, RELINQUISH, RECLAIM], 7) {
        Ok(server) => server,
        Err(skip) => return skip,
    };
    with_driver(context, |driver, memory| {
        let Some(pages) = memory.and_then(|memory| ranges(memory, [6])) else {
            return step_failed("page addresses");
        };
        finish((|| {
            let receivers = receivers(server, AccessPermissions::READ_WRITE);
            let handle =
                send(driver, &MemorySend::share(&receivers, &pages), "FFA_MEM_SHARE succeeds")?;
            let own = driver.id();
            done(
                driver,
                server,
                "the borrower retrieves",
                retrieve(handle, own, MemoryOperation::Share),
            )?;
            match driver.memory_reclaim(handle, false) {
                Err(error) if error.is(FfaError::Denied) => {}
                Err(error) => return Err(driver_failed("FFA_ERROR(DENIED) while borrowed", error)),
                Ok(()) => return Err(step_failed("FFA_ERROR(DENIED) while borrowed, not success")),
            }
            done(
                driver,
                server,
                "the borrower relinquishes",
                Command::Relinquish { handle: handle.0 },
            )?;
            reclaim(driver, handle, false)
        })())
    })
}

cycle_check!(MM30_LEND, "mm30_lend_takes_the_owners_access_until_reclaim", "MM30", lend_cycle);
/// MM01/MM30 for LEND: the borrower gets the pages (type LEND); the owner cannot reach them
/// until it reclaims (checked where the runner survives faults), then sees the borrower's data.
fn lend_cycle(context: &mut Context<'_>) -> Outcome {
    let server = match prepare(context, &[LEND, RETRIEVE, RELINQUISH, RECLAIM], 11) {
        Ok(server) => server,
        Err(skip) => return skip,
    };
    with_driver(context, |driver, memory| {
        let Some(memory) = memory else {
            return Outcome::Skipped("the runner lends no memory to share");
        };
        let Some(pages) = ranges(memory, [8, 10]) else { return step_failed("page addresses") };
        let probe = memory.survives_faults();
        finish((|| {
            let receivers = receivers(server, LEND_READ_WRITE);
            let handle =
                send(driver, &MemorySend::lend(&receivers, &pages), "FFA_MEM_LEND succeeds")?;
            if probe && pages.iter().any(|page| reachable(memory, page)) {
                return Err(step_failed("the lender loses access at LEND"));
            }
            let own = driver.id();
            let got = done(
                driver,
                server,
                "the borrower retrieves",
                retrieve(handle, own, MemoryOperation::Lend),
            )?;
            if (got.values[2] >> 3) & 3 != 2 {
                return Err(step_failed("RETRIEVE_RESP transaction type LEND"));
            }
            done(
                driver,
                server,
                "the borrower writes",
                Command::Write { handle: handle.0, value: 0x1E4D_0000 },
            )?;
            done(
                driver,
                server,
                "the borrower relinquishes",
                Command::Relinquish { handle: handle.0 },
            )?;
            if probe && pages.iter().any(|page| reachable(memory, page)) {
                return Err(step_failed("the lender has no access between relinquish and reclaim"));
            }
            reclaim(driver, handle, false)?;
            if !holds(memory, &pages, 0x1E4D_0000) {
                return Err(step_failed("after reclaim the owner reads the borrower's writes"));
            }
            Ok(())
        })())
    })
}

cycle_check!(
    MM22_CLEAR,
    "mm22_lend_with_the_clear_flag_zeroes_before_retrieve",
    "MM22",
    lend_clear
);
/// MM22: LEND with the clear flag: the retrieve response has flags bit 0 set and the borrower
/// reads zeros.
fn lend_clear(context: &mut Context<'_>) -> Outcome {
    let server = match prepare(context, &[LEND, RETRIEVE, RELINQUISH, RECLAIM], 13) {
        Ok(server) => server,
        Err(skip) => return skip,
    };
    with_driver(context, |driver, memory| {
        let Some(memory) = memory else {
            return Outcome::Skipped("the runner lends no memory to share");
        };
        let Some(pages) = ranges(memory, [12]) else { return step_failed("page addresses") };
        if !fill(memory, &pages, 0xD1D1_0000) {
            return step_failed("the suite can write its own pages");
        }
        finish((|| {
            let receivers = receivers(server, LEND_READ_WRITE);
            let lend = MemorySend { zero_memory: true, ..MemorySend::lend(&receivers, &pages) };
            let handle = send(driver, &lend, "FFA_MEM_LEND with the clear flag succeeds")?;
            let own = driver.id();
            let got = done(
                driver,
                server,
                "the borrower retrieves",
                retrieve(handle, own, MemoryOperation::Lend),
            )?;
            if got.values[2] & 1 != 1 {
                return Err(step_failed("RETRIEVE_RESP flags bit 0: the memory was zeroed"));
            }
            let read = done(
                driver,
                server,
                "the borrower reads",
                Command::Read { handle: handle.0, page: 0 },
            )?;
            if read.values[0] != 0 || read.values[1] != 0 {
                return Err(step_failed("the borrower reads zeros"));
            }
            done(
                driver,
                server,
                "the borrower relinquishes",
                Command::Relinquish { handle: handle.0 },
            )?;
            reclaim(driver, handle, false)
        })())
    })
}

cycle_check!(MM29_ZERO, "mm29_reclaim_with_the_zero_flag_zeroes", "MM29", reclaim_zero);
/// MM29: FFA_MEM_RECLAIM with flags bit 0 zeroes the memory before the owner has it back.
fn reclaim_zero(context: &mut Context<'_>) -> Outcome {
    let server = match prepare(context, &[LEND, RETRIEVE, RELINQUISH, RECLAIM], 15) {
        Ok(server) => server,
        Err(skip) => return skip,
    };
    with_driver(context, |driver, memory| {
        let Some(memory) = memory else {
            return Outcome::Skipped("the runner lends no memory to share");
        };
        let Some(pages) = ranges(memory, [14]) else { return step_failed("page addresses") };
        // Not zero before, whatever the borrower does.
        if !fill(memory, &pages, 0xF111_0000) {
            return step_failed("the suite can write its own pages");
        }
        finish((|| {
            let receivers = receivers(server, LEND_READ_WRITE);
            let handle =
                send(driver, &MemorySend::lend(&receivers, &pages), "FFA_MEM_LEND succeeds")?;
            let own = driver.id();
            done(
                driver,
                server,
                "the borrower retrieves",
                retrieve(handle, own, MemoryOperation::Lend),
            )?;
            done(
                driver,
                server,
                "the borrower writes",
                Command::Write { handle: handle.0, value: 0x2E40_0000 },
            )?;
            done(
                driver,
                server,
                "the borrower relinquishes",
                Command::Relinquish { handle: handle.0 },
            )?;
            reclaim(driver, handle, true)?;
            if !holds(memory, &pages, 0) {
                return Err(step_failed("the owner reads zeros after a zeroing reclaim"));
            }
            Ok(())
        })())
    })
}

cycle_check!(MM01_TWO_BORROWERS, "mm01_two_borrowers_see_one_share", "MM01", two_borrowers);
/// MM01 with two borrowers: both retrieve one SHARE and see each other's writes; reclaim
/// waits for both to relinquish (MM29).
fn two_borrowers(context: &mut Context<'_>) -> Outcome {
    let Some(second) = context.second_partition else {
        return Outcome::Skipped("the setup names no second server partition");
    };
    let server = match prepare(context, &[SHARE, RETRIEVE, RELINQUISH, RECLAIM], 31) {
        Ok(server) => server,
        Err(skip) => return skip,
    };
    with_driver(context, |driver, memory| {
        let Some(pages) = memory.and_then(|memory| ranges(memory, [28, 30])) else {
            return step_failed("page addresses");
        };
        finish((|| {
            let receivers = [
                Receiver { id: server, permissions: AccessPermissions::READ_WRITE },
                Receiver { id: second, permissions: AccessPermissions::READ_WRITE },
            ];
            let handle = send(
                driver,
                &MemorySend::share(&receivers, &pages),
                "FFA_MEM_SHARE to two borrowers succeeds",
            )?;
            let own = driver.id();
            // Each names only itself, which v1.2's bypass flag allows (MM26).
            let alone = with_flags(
                retrieve(handle, own, MemoryOperation::Share),
                BYPASS_MULTI_BORROWER_CHECK,
            );
            done(driver, server, "the first borrower retrieves", alone)?;
            done(driver, second, "the second borrower retrieves", alone)?;
            done(
                driver,
                server,
                "the first borrower writes",
                Command::Write { handle: handle.0, value: 0x7770_0000 },
            )?;
            let read = done(
                driver,
                second,
                "the second borrower reads",
                Command::Read { handle: handle.0, page: 1 },
            )?;
            if read.values[0] != 0x7770_0001 {
                return Err(step_failed("the second borrower sees the first one's writes"));
            }
            done(
                driver,
                server,
                "the first borrower relinquishes",
                Command::Relinquish { handle: handle.0 },
            )?;
            match driver.memory_reclaim(handle, false) {
                Err(error) if error.is(FfaError::Denied) => {}
                _ => {
                    return Err(step_failed("FFA_ERROR(DENIED) while the second borrower holds it"))
                }
            }
            done(
                driver,
                second,
                "the second borrower relinquishes",
                Command::Relinquish { handle: handle.0 },
            )?;
            reclaim(driver, handle, false)
        })())
    })
}

/// Pages the fragmentation check sends, one range each.
const FRAGMENTED_RANGES: usize = 300;
/// Its first page index.
const FRAGMENTED_FIRST: usize = 64;

cycle_check!(MM32_FRAGMENTS, "mm32_fragmented_share_and_retrieve", "MM32", fragmented);
/// MM32: a SHARE of 300 separate pages needs FFA_MEM_FRAG_TX to send and FFA_MEM_FRAG_RX to
/// retrieve (the descriptor is larger than a 4 KiB buffer); the borrower gets every page.
fn fragmented(context: &mut Context<'_>) -> Outcome {
    let needed = FRAGMENTED_FIRST + 2 * FRAGMENTED_RANGES;
    let calls = [
        SHARE,
        RETRIEVE,
        RELINQUISH,
        RECLAIM,
        (0x8400_007B, "FFA_MEM_FRAG_TX is not offered"),
        (0x8400_007A, "FFA_MEM_FRAG_RX is not offered"),
    ];
    let server = match prepare(context, &calls, needed) {
        Ok(server) => server,
        Err(skip) => return skip,
    };
    with_driver(context, |driver, memory| {
        let Some(memory) = memory else {
            return Outcome::Skipped("the runner lends no memory to share");
        };
        let mut pages = [PageRange::default(); FRAGMENTED_RANGES];
        for (index, range) in pages.iter_mut().enumerate() {
            let Some(address) = memory.page_address(FRAGMENTED_FIRST + 2 * index) else {
                return step_failed("page addresses");
            };
            *range = PageRange { address, page_count: 1 };
        }
        finish((|| {
            let receivers = receivers(server, AccessPermissions::READ_WRITE);
            let handle = send(
                driver,
                &MemorySend::share(&receivers, &pages),
                "a fragmented FFA_MEM_SHARE succeeds",
            )?;
            let own = driver.id();
            let got = done(
                driver,
                server,
                "a fragmented retrieve succeeds",
                retrieve(handle, own, MemoryOperation::Share),
            )?;
            let counts = got.values[0];
            if counts & 0xFFFF_FFFF != FRAGMENTED_RANGES as u64
                || counts >> 32 != FRAGMENTED_RANGES as u64
            {
                return Err(step_failed("the borrower gets every page, one range each"));
            }
            done(
                driver,
                server,
                "the borrower relinquishes",
                Command::Relinquish { handle: handle.0 },
            )?;
            reclaim(driver, handle, false)
        })())
    })
}

cycle_check!(MM01_DONATE, "mm01_donate_moves_the_pages_to_the_borrower", "MM01", donate);
/// MM01/MM30 for DONATE: the borrower retrieves a DONATE; the donor can no longer reach the
/// page (where the runner survives faults) nor reclaim it. Uses the runner's last page, which
/// it does not get back.
fn donate(context: &mut Context<'_>) -> Outcome {
    let pages_lent = context.memory.as_deref().map_or(0, |memory| memory.page_count());
    let server = match prepare(context, &[DONATE, RETRIEVE, RECLAIM], 40) {
        Ok(server) => server,
        Err(skip) => return skip,
    };
    with_driver(context, |driver, memory| {
        let Some(memory) = memory else {
            return Outcome::Skipped("the runner lends no memory to share");
        };
        let Some(pages) = ranges(memory, [pages_lent - 1]) else {
            return step_failed("page addresses");
        };
        let probe = memory.survives_faults();
        finish((|| {
            // A donor specifies no permissions (MM06).
            let receivers = receivers(server, AccessPermissions::NOT_SPECIFIED);
            let handle =
                send(driver, &MemorySend::donate(&receivers, &pages), "FFA_MEM_DONATE succeeds")?;
            let own = driver.id();
            let got = done(
                driver,
                server,
                "the borrower retrieves",
                retrieve(handle, own, MemoryOperation::Donate),
            )?;
            if (got.values[2] >> 3) & 3 != 3 {
                return Err(step_failed("RETRIEVE_RESP transaction type DONATE"));
            }
            done(
                driver,
                server,
                "the new owner writes",
                Command::Write { handle: handle.0, value: 0xD0_0000 },
            )?;
            if probe && reachable(memory, &pages[0]) {
                return Err(step_failed("the donor has no access after DONATE"));
            }
            if driver.memory_reclaim(handle, false).is_ok() {
                return Err(step_failed("the donor cannot reclaim a retrieved DONATE"));
            }
            Ok(())
        })())
    })
}
