//! RX/TX buffers as physical memory: which endpoint may offer which pages, and copies in and out.
//!
//! The SPMC runs with its MMU off, so a physical address is used as is (QEMU's secure address
//! space also reaches non-secure DRAM; on hardware with a TZASC the SPMC would map such pages
//! through a stage-1 with NS=1). A partition may offer pages of its own 2 MiB block; the
//! normal world pages of its DRAM. The same pages cannot be two endpoints' buffers.

use ffa_core::{EndpointId, FfaError};
use spmc::partition_manager::EndpointMemory;

use crate::stage2::MAXIMUM_PARTITIONS;

/// Buffers mapped at once: a TX and an RX per partition and per normal-world endpoint.
const MAXIMUM_BUFFERS: usize = 2 * (MAXIMUM_PARTITIONS + 4);
const PAGE_SIZE: u64 = 4096;
/// The block each partition's memory is.
const PARTITION_BLOCK: u64 = 2 << 20;

/// A mapped RX or TX buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhysicalBuffer {
    endpoint: EndpointId,
    address: u64,
    length: u64,
}

impl PhysicalBuffer {
    fn overlaps(&self, address: u64, end: u64) -> bool {
        address < self.address + self.length && self.address < end
    }
}

/// The buffers the partition manager has mapped, and where each partition's memory is.
#[derive(Debug)]
pub struct PhysicalMailboxes {
    buffers: [Option<PhysicalBuffer>; MAXIMUM_BUFFERS],
    /// Each partition's ID and the base of its 2 MiB block.
    partitions: [Option<(EndpointId, u64)>; MAXIMUM_PARTITIONS],
}

impl PhysicalMailboxes {
    /// Nothing mapped and no partition (the manager's `static` initialiser; `new` replaces it).
    pub const EMPTY: Self =
        Self { buffers: [None; MAXIMUM_BUFFERS], partitions: [None; MAXIMUM_PARTITIONS] };

    /// Nothing mapped; `partitions` gives each partition's ID and memory block base.
    pub fn new(partitions: [Option<(EndpointId, u64)>; MAXIMUM_PARTITIONS]) -> Self {
        Self { buffers: [None; MAXIMUM_BUFFERS], partitions }
    }

    /// Whether `endpoint` may offer `address..end` as a buffer.
    fn may_offer(&self, endpoint: EndpointId, address: u64, end: u64) -> bool {
        if endpoint.is_secure() {
            self.partitions.iter().flatten().any(|&(id, base)| {
                id == endpoint && address >= base && end <= base + PARTITION_BLOCK
            })
        } else {
            let memory = platform_common::board::NORMAL_WORLD_MEMORY;
            address >= memory.start && end <= memory.end
        }
    }

    fn span(buffer: PhysicalBuffer, offset: usize, length: usize) -> Result<u64, FfaError> {
        let end = offset.checked_add(length).ok_or(FfaError::InvalidParameters)?;
        if end as u64 > buffer.length {
            return Err(FfaError::InvalidParameters);
        }
        Ok(buffer.address + offset as u64)
    }
}

impl EndpointMemory for PhysicalMailboxes {
    /// This image is the SPMC only: the core's forwarder code is left out.
    const FORWARDER_ROLE: bool = false;

    type Buffer = PhysicalBuffer;

    fn map_buffer(
        &mut self,
        endpoint: EndpointId,
        address: u64,
        page_count: u32,
    ) -> Result<PhysicalBuffer, FfaError> {
        let length = u64::from(page_count) * PAGE_SIZE;
        let end = address.checked_add(length).ok_or(FfaError::InvalidParameters)?;
        if page_count == 0 || !address.is_multiple_of(PAGE_SIZE) {
            return Err(FfaError::InvalidParameters);
        }
        if !self.may_offer(endpoint, address, end) {
            return Err(FfaError::Denied);
        }
        if self.buffers.iter().flatten().any(|buffer| buffer.overlaps(address, end)) {
            return Err(FfaError::InvalidParameters);
        }
        let slot = self.buffers.iter_mut().find(|slot| slot.is_none()).ok_or(FfaError::NoMemory)?;
        let buffer = PhysicalBuffer { endpoint, address, length };
        *slot = Some(buffer);
        Ok(buffer)
    }

    fn unmap_buffer(&mut self, buffer: PhysicalBuffer) {
        if let Some(slot) = self.buffers.iter_mut().find(|slot| **slot == Some(buffer)) {
            *slot = None;
        }
    }

    fn write(
        &mut self,
        buffer: PhysicalBuffer,
        offset: usize,
        bytes: &[u8],
    ) -> Result<(), FfaError> {
        let address = Self::span(buffer, offset, bytes.len())?;
        for (index, byte) in bytes.iter().enumerate() {
            // SAFETY: `buffer` was mapped by `map_buffer`, which checked that its pages are the
            // endpoint's own memory (never the SPMC's), and the span lies inside it. The
            // endpoint may run on another CPU meanwhile, so the copy is volatile.
            unsafe { core::ptr::write_volatile((address as usize + index) as *mut u8, *byte) };
        }
        Ok(())
    }

    fn read(
        &mut self,
        buffer: PhysicalBuffer,
        offset: usize,
        bytes: &mut [u8],
    ) -> Result<(), FfaError> {
        let address = Self::span(buffer, offset, bytes.len())?;
        for (index, byte) in bytes.iter_mut().enumerate() {
            // SAFETY: as for `write`: checked, mapped endpoint memory; volatile reads because
            // the endpoint may change it from another CPU.
            *byte = unsafe { core::ptr::read_volatile((address as usize + index) as *const u8) };
        }
        Ok(())
    }
}
