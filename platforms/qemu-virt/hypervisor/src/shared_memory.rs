//! The forwarder's side of memory sharing: VMs' stage-2 changes, IPA-to-PA translation, and
//! the hypervisor's own TX buffer towards the SPMC.
//!
//! A VM's addresses are IPAs; `translate` walks the VM's stage-2, so only pages the VM can
//! reach now (its RAM, minus what it has lent) can be sent, and anything else (the console
//! page, IPAs outside its RAM) is DENIED. LEND and DONATE unmap the lender's pages (the
//! ledger calls `unmap`); reclaim maps them back at the same IPA (`map`). A VM borrowing
//! another VM's memory would need a place in its IPA space, which this hypervisor does not
//! choose yet: mapping memory outside a VM's own RAM is NOT_SUPPORTED. Partitions' stage-2
//! is the SPMC's business, so maps and unmaps for them change nothing here.
//!
//! Transactions with partitions go to the SPMC: the core writes the translated descriptor
//! into the hypervisor's TX buffer (mapped with the SPMC with FFA_RXTX_MAP at boot, see
//! `map_with_spmc`) and forwards the call.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

use ffa_core::memory::{AccessPermissions, AddressRange, DataAccess, InstructionAccess, PAGE_SIZE};
use ffa_core::{EndpointId, FfaError};
use memory_sharing::AddressSpace;
use platform_common::board;
use platform_common::smc::smc;
use platform_common::stage2::{MapError, PageAccess, TlbScope};
use spmc::partition_manager::{MemoryPlatform, PhysicalRun};

use crate::vm::{self, GUEST_RAM_IPA, GUEST_RAM_SIZE};

const FFA_RXTX_MAP_64: u64 = 0xC400_0066;
const FFA_SUCCESS_32: u64 = 0x8400_0061;
const FFA_SUCCESS_64: u64 = 0xC400_0061;
/// The hypervisor's RX/TX buffers with the SPMC: one page each.
const MAILBOX_SIZE: usize = 4096;

#[repr(C, align(4096))]
struct Page(UnsafeCell<[u8; MAILBOX_SIZE]>);

// SAFETY: the TX page is written only through `VmStage2::write_forward_buffer`, under the
// core's memory lock; the RX page is written only by the SPMC.
unsafe impl Sync for Page {}

static TRANSMIT: Page = Page(UnsafeCell::new([0; MAILBOX_SIZE]));
static RECEIVE: Page = Page(UnsafeCell::new([0; MAILBOX_SIZE]));

/// Maps the hypervisor's RX/TX pages with the SPMC (FFA_RXTX_MAP_64, endpoint 0), once: later
/// calls report the first one's success. The hypervisor runs with its MMU off, so their
/// addresses are physical.
pub fn map_with_spmc() -> Result<(), u64> {
    if MAPPED.load(Ordering::Acquire) {
        return Ok(());
    }
    let mut registers = [0u64; 18];
    registers[0] = FFA_RXTX_MAP_64;
    registers[1] = TRANSMIT.0.get() as u64;
    registers[2] = RECEIVE.0.get() as u64;
    registers[3] = 1;
    let reply = smc(registers);
    match reply[0] {
        FFA_SUCCESS_32 | FFA_SUCCESS_64 => {
            MAPPED.store(true, Ordering::Release);
            Ok(())
        }
        _ => Err(reply[2]),
    }
}

/// Runs `write` on the TX page (the stress phase's descriptors, written before the forwarder
/// exists).
pub fn with_transmit<R>(write: impl FnOnce(&mut [u8]) -> R) -> R {
    // SAFETY: called only by the boot CPU before the forwarder (the page's other writer) is
    // built, so nothing else reaches the page while the slice lives; the SPMC reads it only
    // during a call, after the closure has returned.
    write(unsafe { &mut *TRANSMIT.0.get() })
}

/// Whether the buffers are mapped with the SPMC (`map_with_spmc` succeeded once).
static MAPPED: AtomicBool = AtomicBool::new(false);

/// The VMs' stage-2 tables as the forwarder's memory platform.
#[derive(Debug)]
pub struct VmStage2 {
    /// Whether `map_with_spmc` succeeded (else there is no buffer to forward through).
    forward_buffer: bool,
}

impl VmStage2 {
    pub fn new(forward_buffer: bool) -> Self {
        Self { forward_buffer }
    }
}

/// The board slot of VM `endpoint`.
fn guest_of(endpoint: EndpointId) -> Option<(usize, board::GuestPlacement)> {
    board::GUESTS.into_iter().enumerate().find(|(_, guest)| guest.id == u64::from(endpoint.0))
}

/// Where `range` (physical) is in VM `index`'s IPA space, and its length: it must lie in the
/// VM's own RAM.
fn ipa_of(guest: board::GuestPlacement, range: AddressRange) -> Result<(u64, u64), FfaError> {
    let length =
        u64::from(range.page_count).checked_mul(PAGE_SIZE).ok_or(FfaError::InvalidParameters)?;
    let offset = range.address.checked_sub(guest.ram).ok_or(FfaError::NotSupported)?;
    if offset.checked_add(length).is_none_or(|end| end > GUEST_RAM_SIZE) {
        return Err(FfaError::NotSupported);
    }
    Ok((GUEST_RAM_IPA + offset, length))
}

fn map_error(error: MapError) -> FfaError {
    match error {
        MapError::NoTables => FfaError::NoMemory,
        MapError::Unaligned | MapError::OutOfRange => FfaError::InvalidParameters,
        MapError::Overlap | MapError::NotMapped => FfaError::Denied,
    }
}

impl AddressSpace for VmStage2 {
    fn map(
        &mut self,
        endpoint: EndpointId,
        range: AddressRange,
        permissions: AccessPermissions,
    ) -> Result<(), FfaError> {
        let Some((index, guest)) = guest_of(endpoint) else { return Ok(()) };
        let (ipa, length) = ipa_of(guest, range)?;
        let tables = vm::tables(index).ok_or(FfaError::NoMemory)?;
        let access = PageAccess {
            write: permissions.data == DataAccess::ReadWrite,
            // The VM's own RAM: "not specified" is its usual, executable mapping.
            execute: permissions.instruction != InstructionAccess::NotExecutable,
            non_secure: false,
        };
        // SAFETY: the core's memory lock serialises every change to VM tables; the pages are
        // the VM's own RAM coming back to it (`ipa_of` checked the range).
        unsafe { tables.map_pages(ipa, range.address, length, access) }.map_err(map_error)
    }

    fn unmap(&mut self, endpoint: EndpointId, range: AddressRange) -> Result<(), FfaError> {
        let Some((index, guest)) = guest_of(endpoint) else { return Ok(()) };
        let (ipa, length) = ipa_of(guest, range)?;
        let tables = vm::tables(index).ok_or(FfaError::NoMemory)?;
        // SAFETY: the core's memory lock serialises every change to VM tables; the scope is
        // the VM's VMID (the one `Vm::run` programs) in the non-secure IPA space.
        unsafe { tables.unmap(ipa, length, TlbScope { vmid: vm::vmid(index), secure: false }) }
            .map_err(map_error)
    }

    fn zero(&mut self, range: AddressRange) {
        let inside = board::GUESTS.into_iter().find_map(|guest| ipa_of(guest, range).ok());
        let Some((_, length)) = inside else { return };
        for offset in (0..length).step_by(8) {
            // SAFETY: the range lies inside a VM's RAM (checked above), never the
            // hypervisor's; the hypervisor runs with its MMU off.
            unsafe { core::ptr::write_volatile((range.address + offset) as *mut u64, 0) };
        }
    }
}

impl MemoryPlatform for VmStage2 {
    fn translate(&mut self, endpoint: EndpointId, address: u64) -> Result<PhysicalRun, FfaError> {
        let (index, _) = guest_of(endpoint).ok_or(FfaError::Denied)?;
        let offset = address.checked_sub(GUEST_RAM_IPA).ok_or(FfaError::Denied)?;
        if offset >= GUEST_RAM_SIZE {
            return Err(FfaError::Denied);
        }
        let tables = vm::tables(index).ok_or(FfaError::Denied)?;
        let (physical, page_count) = tables.translate(address).ok_or(FfaError::Denied)?;
        let left = (GUEST_RAM_SIZE - (offset & !(PAGE_SIZE - 1))) / PAGE_SIZE;
        Ok(PhysicalRun { address: physical, page_count: page_count.min(left) })
    }

    fn forward_buffer_size(&self) -> usize {
        if self.forward_buffer {
            MAILBOX_SIZE
        } else {
            0
        }
    }

    fn write_forward_buffer(&mut self, offset: usize, bytes: &[u8]) -> Result<(), FfaError> {
        let end = offset.checked_add(bytes.len()).ok_or(FfaError::InvalidParameters)?;
        if !self.forward_buffer || end > MAILBOX_SIZE {
            return Err(FfaError::InvalidParameters);
        }
        let base = TRANSMIT.0.get() as *mut u8;
        for (index, byte) in bytes.iter().enumerate() {
            // SAFETY: `offset + index < MAILBOX_SIZE` (checked above), inside the TX page,
            // which only this method writes, under the core's memory lock. Volatile: the SPMC
            // reads the page on another world's behalf.
            unsafe { core::ptr::write_volatile(base.add(offset + index), *byte) };
        }
        Ok(())
    }
}
