//! Malformed memory transaction descriptors, written into the TX buffer by hand and sent with
//! raw calls (matrix MM03, MM04, MM07, MM09, MM11): the guest driver would refuse to build
//! them.

use ffa_core::memory::{
    build_transaction, AccessPermissions, AddressRange, MemoryHandle, MemoryRegionAttributes,
    ReceiverAccess, TransactionFields, TransactionFlags,
};
use ffa_core::{Conduit, EndpointId, FfaError};
use ffa_guest_driver::Buffers;

use super::support::{layout_of, missing, setup_lacks, step_failed, with_driver};
use crate::check::{Check, Outcome};
use crate::context::{Context, SuiteDriver};

const SUITE: &str = "memory_management";
const FFA_MEM_DONATE_32: u64 = 0x8400_0071;
const FFA_MEM_LEND_32: u64 = 0x8400_0072;
const FFA_MEM_SHARE_32: u64 = 0x8400_0073;
const FFA_MEM_RECLAIM: u64 = 0x8400_0077;

/// How a descriptor is spoiled.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// The receiver is the sender (MM03).
    ReceiverIsSender,
    /// The sender field names the server, not the caller (MM07).
    SenderIsAnother,
    /// SHARE with the clear flag (MM04).
    ClearFlag,
    /// The NS bit in the attributes (MM11).
    NsBit,
    /// The NS bit in the attributes of a LEND (MM11).
    NsBitLend,
    /// The NS bit in the attributes of a DONATE (MM11).
    NsBitDonate,
    /// The composite's total page count is not the constituents' sum (MM09).
    PageCountMismatch,
    /// Two constituents name the same page (MM09).
    Overlapping,
}

impl Fault {
    /// The call that sends the spoiled descriptor, and the reason to skip without it.
    fn call(self) -> (u64, &'static str) {
        match self {
            Self::NsBitLend => (FFA_MEM_LEND_32, "FFA_MEM_LEND is not offered"),
            Self::NsBitDonate => (FFA_MEM_DONATE_32, "FFA_MEM_DONATE is not offered"),
            _ => (FFA_MEM_SHARE_32, "FFA_MEM_SHARE is not offered"),
        }
    }
}

/// Writes a SHARE (LEND, DONATE) of page 0 of the runner's memory to `server`, spoiled by
/// `fault`, sends it with FFA_MEM_SHARE_32 (LEND_32, DONATE_32) and expects `error`.
fn spoiled_share(context: &mut Context<'_>, fault: Fault, error: Option<FfaError>) -> Outcome {
    if let Some(skip) = setup_lacks(context, 1) {
        return skip;
    }
    if let Some(skip) = missing(context, &[fault.call()]) {
        return skip;
    }
    let Some(server) = context.partition else {
        return Outcome::Skipped("the setup names no server partition");
    };
    with_driver(context, |driver, memory| {
        let Some(address) = memory.and_then(|memory| memory.page_address(0)) else {
            return step_failed("page addresses");
        };
        send_spoiled(driver, server, address, fault, error)
    })
}

fn send_spoiled(
    driver: &mut SuiteDriver<'_>,
    server: EndpointId,
    address: u64,
    fault: Fault,
    error: Option<FfaError>,
) -> Outcome {
    let own = driver.id();
    let layout = layout_of(driver.version());
    let mut fields = TransactionFields {
        sender: own,
        attributes: MemoryRegionAttributes::NORMAL_WRITE_BACK_INNER,
        flags: TransactionFlags(0),
        handle: MemoryHandle(0),
        tag: 0,
    };
    let mut receiver = server;
    match fault {
        Fault::ReceiverIsSender => receiver = own,
        Fault::SenderIsAnother => fields.sender = server,
        Fault::ClearFlag => fields.flags = TransactionFlags(TransactionFlags::CLEAR_MEMORY),
        Fault::NsBit => fields.attributes.non_secure = true,
        Fault::NsBitLend | Fault::NsBitDonate => {
            // A single borrower's LEND or DONATE leaves the type unspecified (MM06).
            fields.attributes = MemoryRegionAttributes::NOT_SPECIFIED;
            fields.attributes.non_secure = true;
        }
        Fault::PageCountMismatch | Fault::Overlapping => {}
    }
    let permissions = match fault {
        // A lender leaves instruction access to the borrower (MM05).
        Fault::NsBitLend | Fault::NsBitDonate => AccessPermissions {
            data: ffa_core::memory::DataAccess::ReadWrite,
            instruction: ffa_core::memory::InstructionAccess::NotSpecified,
        },
        _ => AccessPermissions::READ_WRITE,
    };
    let receivers = [ReceiverAccess::new(receiver, permissions)];
    let range = AddressRange { address, page_count: 1 };
    let both = [range, range];
    let ranges = if matches!(fault, Fault::Overlapping) { &both[..] } else { &both[..1] };
    let Some(buffers) = driver.buffers_mut() else {
        return Outcome::Skipped("the runner lends no RX/TX buffers");
    };
    let written = buffers.with_tx(|tx| {
        let length = build_transaction(tx, layout, &fields, &receivers, ranges)?;
        if matches!(fault, Fault::PageCountMismatch) {
            // The composite offset is in the (only) access descriptor, at offset 48 + 4.
            let offset = tx
                .get(52..56)
                .and_then(|bytes| bytes.try_into().ok())
                .map(u32::from_le_bytes)
                .ok_or(FfaError::NoMemory)? as usize;
            let total = tx.get_mut(offset..offset + 4).ok_or(FfaError::NoMemory)?;
            total.copy_from_slice(&2u32.to_le_bytes());
        }
        Ok::<usize, FfaError>(length)
    });
    let Ok(length) = written else {
        return step_failed("the descriptor fits the TX buffer");
    };
    let length = length as u64;
    let mut registers = [0u64; 18];
    registers[..5].copy_from_slice(&[fault.call().0, length, length, 0, 0]);
    let answer = driver.conduit().call(registers);
    if matches!(answer[0], 0x8400_0061 | 0xC400_0061) {
        // Accepted after all: take the page back so later checks find it.
        let mut reclaim = [0u64; 18];
        reclaim[..4].copy_from_slice(&[FFA_MEM_RECLAIM, answer[2], answer[3], 0]);
        let _ = driver.conduit().call(reclaim);
    }
    match error {
        Some(error) => Outcome::expect_error(answer, error),
        None => Outcome::expect(
            matches!(answer[0], 0x8400_0060 | 0xC400_0060),
            crate::check::Expected::Text("an FFA_ERROR"),
            answer,
        ),
    }
}

macro_rules! descriptor_check {
    ($constant:ident, $name:literal, $source:literal, $fault:expr, $error:expr, $doc:literal) => {
        #[doc = $doc]
        pub const $constant: Check = Check {
            suite: SUITE,
            name: $name,
            source: $source,
            run: |context| spoiled_share(context, $fault, $error.into()),
        };
    };
}

descriptor_check!(
    MM03_TO_ITSELF,
    "mm03_share_to_itself_is_invalid",
    "MM03",
    Fault::ReceiverIsSender,
    FfaError::InvalidParameters,
    "MM03: a SHARE whose receiver is the sender is INVALID_PARAMETERS."
);
descriptor_check!(
    MM07_SENDER,
    "mm07_descriptor_sender_other_than_the_caller_is_denied",
    "MM07",
    Fault::SenderIsAnother,
    FfaError::Denied,
    "MM07: a descriptor whose sender is not the caller is DENIED."
);
descriptor_check!(
    MM04_CLEAR,
    "mm04_share_with_the_clear_flag_is_invalid",
    "MM04",
    Fault::ClearFlag,
    FfaError::InvalidParameters,
    "MM04: SHARE with the clear-memory flag is INVALID_PARAMETERS."
);
descriptor_check!(
    MM11_NS_BIT,
    "mm11_ns_bit_in_a_send_is_invalid",
    "MM11",
    Fault::NsBit,
    FfaError::InvalidParameters,
    "MM11: a send with the NS bit set in its attributes is INVALID_PARAMETERS."
);
descriptor_check!(
    MM11_NS_BIT_LEND,
    "mm11_ns_bit_in_a_lend_is_invalid",
    "MM11",
    Fault::NsBitLend,
    FfaError::InvalidParameters,
    "MM11: a LEND with the NS bit set in its attributes is INVALID_PARAMETERS."
);
descriptor_check!(
    MM11_NS_BIT_DONATE,
    "mm11_ns_bit_in_a_donate_is_invalid",
    "MM11",
    Fault::NsBitDonate,
    FfaError::InvalidParameters,
    "MM11: a DONATE with the NS bit set in its attributes is INVALID_PARAMETERS."
);
descriptor_check!(
    MM09_PAGE_COUNT,
    "mm09_composite_page_count_not_the_sum_is_an_error",
    "MM09",
    Fault::PageCountMismatch,
    None::<FfaError>,
    "MM09: a composite whose total page count is not its constituents' sum is an error."
);
descriptor_check!(
    MM09_OVERLAP,
    "mm09_overlapping_constituents_are_an_error",
    "MM09",
    Fault::Overlapping,
    None::<FfaError>,
    "MM09: two constituents naming the same page are an error."
);
