//! Discovery rules that need the runner's RX/TX buffers (matrix D14, D17, D23, D24, D25):
//! FFA_PARTITION_INFO_GET into the RX buffer and its ownership, a second FFA_RXTX_MAP, and
//! the buffer and register forms of discovery agreeing.

use ffa_core::{Conduit, FfaError, Uuid};
use ffa_guest_driver::{Buffers, PartitionInfo};

use super::id::{FFA_PARTITION_INFO_GET, FFA_RXTX_MAP_64, FFA_RX_RELEASE};
use super::support::{driver_failed, step_failed, with_driver};
use crate::check::{Check, Outcome};
use crate::context::{Context, SuiteDriver};

const SUITE: &str = "setup_discovery";
const FFA_RXTX_MAP_32: u64 = 0x8400_0066;

fn raw(driver: &mut SuiteDriver<'_>, leading: &[u64]) -> [u64; 18] {
    let mut registers = [0u64; 18];
    for (slot, value) in registers.iter_mut().zip(leading) {
        *slot = *value;
    }
    driver.conduit().call(registers)
}

fn has_buffers(context: &Context<'_>) -> Option<Outcome> {
    context.buffers.is_none().then_some(Outcome::Skipped("the runner lends no RX/TX buffers"))
}

/// D17: FFA_RXTX_MAP while a pair is mapped is DENIED (the same pair again).
pub const D17: Check = Check {
    suite: SUITE,
    name: "d17_rxtx_map_while_mapped_is_denied",
    source: "D17",
    run: map_twice,
};
fn map_twice(context: &mut Context<'_>) -> Outcome {
    if let Some(skip) = has_buffers(context) {
        return skip;
    }
    with_driver(context, |driver, _| {
        let wide = driver.features().rxtx_map_64;
        let Some(buffers) = driver.buffers_mut() else { return step_failed("buffers mapped") };
        let (tx, rx, size) = (buffers.tx_address(), buffers.rx_address(), buffers.size());
        let function = if wide { FFA_RXTX_MAP_64 } else { FFA_RXTX_MAP_32 };
        let answer = raw(driver, &[function, tx, rx, (size / 4096) as u64]);
        Outcome::expect_error(answer, FfaError::Denied)
    })
}

/// D23: FFA_PARTITION_INFO_GET (Nil UUID) hands the RX buffer to the caller; asking again
/// before FFA_RX_RELEASE is BUSY; after the release it works again; a second release is
/// DENIED (D14).
pub const D23_BUSY: Check = Check {
    suite: SUITE,
    name: "d23_partition_info_get_before_rx_release_is_busy",
    source: "D23",
    run: busy,
};
fn busy(context: &mut Context<'_>) -> Outcome {
    if let Some(skip) = has_buffers(context) {
        return skip;
    }
    with_driver(context, |driver, _| {
        let first = raw(driver, &[FFA_PARTITION_INFO_GET]);
        if !matches!(first[0], 0x8400_0061 | 0xC400_0061) {
            return Outcome::expect_success(first);
        }
        let again = raw(driver, &[FFA_PARTITION_INFO_GET]);
        let released = raw(driver, &[FFA_RX_RELEASE]);
        let after = raw(driver, &[FFA_PARTITION_INFO_GET]);
        let _ = raw(driver, &[FFA_RX_RELEASE]);
        let twice = raw(driver, &[FFA_RX_RELEASE]);
        Outcome::all(&[
            Outcome::expect_error(again, FfaError::Busy),
            Outcome::expect_success(released),
            Outcome::expect_success(after),
            Outcome::expect_error(twice, FfaError::Denied),
        ])
    })
}

/// D24: the descriptors FFA_PARTITION_INFO_GET writes list the server partition (and the
/// count-only query agrees with the list).
pub const D24_LIST: Check = Check {
    suite: SUITE,
    name: "d24_partition_info_get_lists_the_server",
    source: "D24",
    run: lists_server,
};
fn lists_server(context: &mut Context<'_>) -> Outcome {
    if let Some(skip) = has_buffers(context) {
        return skip;
    }
    let Some(server) = context.partition else {
        return Outcome::Skipped("the setup names no server partition");
    };
    with_driver(context, |driver, _| {
        let mut found = [PartitionInfo::EMPTY; 16];
        let count = match driver.partition_info(Uuid::NIL, &mut found) {
            Ok(count) => count,
            Err(error) => return driver_failed("FFA_PARTITION_INFO_GET(Nil) succeeds", error),
        };
        let listed = found.iter().take(count).any(|info| info.id == server);
        let counted = driver.partition_count(Uuid::NIL);
        match counted {
            Ok(total) if total as usize == count && listed => Outcome::Passed,
            Ok(_) if !listed => step_failed("the server partition is listed"),
            Ok(_) => step_failed("the count-only query agrees with the list"),
            Err(error) => driver_failed("the count-only query succeeds", error),
        }
    })
}

/// D25: FFA_PARTITION_INFO_GET_REGS and FFA_PARTITION_INFO_GET list the same partitions
/// with the same execution-context counts.
pub const D25_AGREE: Check = Check {
    suite: SUITE,
    name: "d25_partition_info_regs_agrees_with_the_rx_buffer_form",
    source: "D25",
    run: forms_agree,
};
fn forms_agree(context: &mut Context<'_>) -> Outcome {
    if let Some(skip) = has_buffers(context) {
        return skip;
    }
    if !context.offers(0xC400_008B) {
        return Outcome::Skipped("FFA_PARTITION_INFO_GET_REGS is not offered");
    }
    with_driver(context, |driver, _| {
        let (mut buffer_form, mut register_form) =
            ([PartitionInfo::EMPTY; 16], [PartitionInfo::EMPTY; 16]);
        let listed = match driver.partition_info(Uuid::NIL, &mut buffer_form) {
            Ok(count) => count,
            Err(error) => return driver_failed("FFA_PARTITION_INFO_GET(Nil) succeeds", error),
        };
        let registered = match driver.partition_info_regs(Uuid::NIL, &mut register_form) {
            Ok(count) => count,
            Err(error) => return driver_failed("FFA_PARTITION_INFO_GET_REGS(Nil) succeeds", error),
        };
        let same = listed == registered
            && buffer_form.iter().zip(&register_form).take(listed).all(|(one, other)| {
                one.id == other.id && one.execution_contexts == other.execution_contexts
            });
        if same {
            Outcome::Passed
        } else {
            step_failed("both forms list the same partitions and context counts")
        }
    })
}
