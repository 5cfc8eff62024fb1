//! VMs' RX/TX buffers: their IPAs translated through the VM's memory map, copies in and out.
//!
//! Every VM sees its RAM at IPA `GUEST_RAM_IPA` (16 MiB, one physical block each, board
//! `GUESTS`). A buffer must lie inside that RAM (anything else is DENIED), and the same pages
//! cannot be two buffers. The hypervisor runs with its MMU off, so physical addresses are used
//! as they are.

use ffa_core::{EndpointId, FfaError};
use platform_common::board;
use spmc::partition_manager::EndpointMemory;

use crate::vm::{GUEST_RAM_IPA, GUEST_RAM_SIZE};

/// A TX and an RX per VM.
const MAXIMUM_BUFFERS: usize = 2 * board::GUESTS.len();
const PAGE_SIZE: u64 = 4096;

/// A mapped buffer: its owner and physical range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VmBuffer {
    endpoint: EndpointId,
    physical: u64,
    length: u64,
}

/// The buffers the forwarder mapped on VMs' behalf.
#[derive(Debug)]
pub struct VmMailboxes {
    buffers: [Option<VmBuffer>; MAXIMUM_BUFFERS],
}

impl VmMailboxes {
    /// Nothing mapped.
    pub const fn new() -> Self {
        Self { buffers: [None; MAXIMUM_BUFFERS] }
    }

    /// The physical address of `length` bytes at `ipa` in VM `endpoint`'s RAM.
    fn translate(endpoint: EndpointId, ipa: u64, length: u64) -> Option<u64> {
        let guest = board::GUESTS.iter().find(|guest| guest.id == u64::from(endpoint.0))?;
        let offset = ipa.checked_sub(GUEST_RAM_IPA)?;
        (offset.checked_add(length)? <= GUEST_RAM_SIZE).then_some(guest.ram + offset)
    }

    fn span(buffer: VmBuffer, offset: usize, length: usize) -> Result<u64, FfaError> {
        let end = offset.checked_add(length).ok_or(FfaError::InvalidParameters)?;
        if end as u64 > buffer.length {
            return Err(FfaError::InvalidParameters);
        }
        Ok(buffer.physical + offset as u64)
    }
}

impl EndpointMemory for VmMailboxes {
    type Buffer = VmBuffer;

    fn map_buffer(
        &mut self,
        endpoint: EndpointId,
        address: u64,
        page_count: u32,
    ) -> Result<VmBuffer, FfaError> {
        if page_count == 0 || !address.is_multiple_of(PAGE_SIZE) {
            return Err(FfaError::InvalidParameters);
        }
        let length = u64::from(page_count) * PAGE_SIZE;
        let physical = Self::translate(endpoint, address, length).ok_or(FfaError::Denied)?;
        let overlaps = |buffer: &VmBuffer| {
            physical < buffer.physical + buffer.length && buffer.physical < physical + length
        };
        if self.buffers.iter().flatten().any(overlaps) {
            return Err(FfaError::InvalidParameters);
        }
        let slot = self.buffers.iter_mut().find(|slot| slot.is_none()).ok_or(FfaError::NoMemory)?;
        let buffer = VmBuffer { endpoint, physical, length };
        *slot = Some(buffer);
        Ok(buffer)
    }

    fn unmap_buffer(&mut self, buffer: VmBuffer) {
        if let Some(slot) = self.buffers.iter_mut().find(|slot| **slot == Some(buffer)) {
            *slot = None;
        }
    }

    fn write(&mut self, buffer: VmBuffer, offset: usize, bytes: &[u8]) -> Result<(), FfaError> {
        let address = Self::span(buffer, offset, bytes.len())?;
        for (index, byte) in bytes.iter().enumerate() {
            // SAFETY: `buffer` lies inside the VM's own RAM (checked by `map_buffer`), never
            // the hypervisor's; the VM is stopped while the forwarder handles its call.
            unsafe { core::ptr::write_volatile((address as usize + index) as *mut u8, *byte) };
        }
        Ok(())
    }

    fn read(&mut self, buffer: VmBuffer, offset: usize, bytes: &mut [u8]) -> Result<(), FfaError> {
        let address = Self::span(buffer, offset, bytes.len())?;
        for (index, byte) in bytes.iter_mut().enumerate() {
            // SAFETY: as for `write`: checked memory of the VM's own RAM.
            *byte = unsafe { core::ptr::read_volatile((address as usize + index) as *const u8) };
        }
        Ok(())
    }
}
