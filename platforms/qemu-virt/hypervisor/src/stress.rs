//! The stress phase's memory traffic: the hypervisor (endpoint 0) shares two pages of its own
//! memory with partition 0x8001, has the partition write a pattern into them, checks it and
//! reclaims, while the other CPUs keep sending direct requests.
//!
//! The descriptor is built with `ffa_core::memory::build_transaction` straight into the
//! hypervisor's TX buffer (mapped with the SPMC at boot, `shared_memory::map_with_spmc`); only
//! the boot CPU runs this, before the forwarder (the buffer's other user) exists.

use core::cell::UnsafeCell;

use ffa_core::memory::{
    build_transaction, AccessPermissions, AddressRange, Layout, MemoryHandle,
    MemoryRegionAttributes, ReceiverAccess, ReceiverFlags, TransactionFields, TransactionFlags,
};
use ffa_core::EndpointId;
use platform_common::test_commands::{pattern, WRITE_PATTERN};

use crate::{call, shared_memory};

const FFA_ERROR: u64 = 0x8400_0060;
const FFA_SUCCESS_32: u64 = 0x8400_0061;
const FFA_MSG_SEND_DIRECT_REQ_32: u64 = 0x8400_006F;
const FFA_MSG_SEND_DIRECT_RESP_32: u64 = 0x8400_0070;
const FFA_MEM_SHARE_32: u64 = 0x8400_0073;
const FFA_MEM_RECLAIM: u64 = 0x8400_0077;
const BUSY: u64 = 0xFFFF_FFFC;
const PARTITION: u16 = 0x8001;
const PAGES: usize = 2;
const PAGE_SIZE: usize = 4096;

#[repr(C, align(4096))]
struct Pages(UnsafeCell<[u8; PAGES * PAGE_SIZE]>);

// SAFETY: touched only by the boot CPU's stress rounds (volatile accesses by address) and by
// the partition while shared.
unsafe impl Sync for Pages {}

/// The pages shared each round (in the hypervisor's image region, which the SPMC's memory map
/// lists as the hypervisor's).
static SHARED: Pages = Pages(UnsafeCell::new([0; PAGES * PAGE_SIZE]));

/// Why a round failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoundError {
    /// The descriptor could not be built.
    Descriptor,
    /// FFA_MEM_SHARE failed (error code).
    Share(u64),
    /// The partition's command answer: its status word (or the FF-A error).
    Command(u64),
    /// A word differs from the pattern.
    Pattern,
    /// FFA_MEM_RECLAIM failed (error code).
    Reclaim(u64),
}

/// One round with `seed`: share, command, check, reclaim. BUSY answers to the command (the
/// partition serving another CPU) are retried and counted in `busy`.
pub fn round(seed: u32, busy: &mut u64) -> Result<(), RoundError> {
    let base = SHARED.0.get() as u64;
    let fields = TransactionFields {
        sender: EndpointId(0),
        attributes: MemoryRegionAttributes::NORMAL_WRITE_BACK_INNER,
        flags: TransactionFlags(0),
        handle: MemoryHandle(0),
        tag: 0,
    };
    let receivers = [ReceiverAccess {
        receiver: EndpointId(PARTITION),
        permissions: AccessPermissions::READ_WRITE,
        flags: ReceiverFlags::empty(),
        impdef: [0; 2],
    }];
    let ranges = [AddressRange { address: base, page_count: PAGES as u32 }];
    let length = shared_memory::with_transmit(|transmit| {
        build_transaction(transmit, Layout::V1_2, &fields, &receivers, &ranges)
    })
    .map_err(|_| RoundError::Descriptor)? as u64;
    let shared = call(&[FFA_MEM_SHARE_32, length, length, 0, 0]);
    if shared[0] != FFA_SUCCESS_32 {
        return Err(RoundError::Share(shared[2]));
    }
    let handle = (shared[2] & 0xFFFF_FFFF) | (shared[3] << 32);
    let answer = loop {
        let answer = call(&[
            FFA_MSG_SEND_DIRECT_REQ_32,
            u64::from(PARTITION),
            0,
            u64::from(WRITE_PATTERN),
            handle & 0xFFFF_FFFF,
            handle >> 32,
            0,
            u64::from(seed),
        ]);
        if answer[0] == FFA_ERROR && answer[2] == BUSY {
            *busy += 1;
            continue;
        }
        break answer;
    };
    let command = match answer[0] {
        FFA_MSG_SEND_DIRECT_RESP_32 if answer[3] == 0 && answer[4] == PAGES as u64 => Ok(()),
        FFA_MSG_SEND_DIRECT_RESP_32 => Err(RoundError::Command(answer[3])),
        _ => Err(RoundError::Command(answer[2])),
    };
    let written = (base..base + (PAGES * PAGE_SIZE) as u64).step_by(8).all(|address| {
        // SAFETY: a word of `SHARED`, the hypervisor's own memory, which the partition has
        // relinquished by now (its answer came after its FFA_MEM_RELINQUISH).
        let word = unsafe { core::ptr::read_volatile(address as *const u64) };
        word == pattern(u64::from(seed), address)
    });
    let reclaimed = call(&[FFA_MEM_RECLAIM, handle & 0xFFFF_FFFF, handle >> 32, 0]);
    command?;
    if !written {
        return Err(RoundError::Pattern);
    }
    if reclaimed[0] != FFA_SUCCESS_32 {
        return Err(RoundError::Reclaim(reclaimed[2]));
    }
    Ok(())
}
