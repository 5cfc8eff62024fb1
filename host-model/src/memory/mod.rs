//! The simulated memory system: one physical memory, a stage-2 translation per endpoint, the
//! RX/TX buffers the partition managers have mapped, and a page allocator per endpoint.
//!
//! Everything lives in one [`SystemMemory`] behind a mutex ([`SharedMemory`]); the partition
//! managers reach it through [`ManagerMemory`] (their `EndpointMemory`), endpoints through
//! [`GuestMemory`] and [`ModelBuffers`] (the guest driver's `Buffers`). The per-endpoint
//! translation tables are what each manager's [`ModelPlatform`] maps and unmaps for memory
//! sharing.

mod error;
mod guest;
mod manager;
mod physical;
mod platform;
mod translation;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ffa_core::EndpointId;
use spmc::partition_manager::Role;

use crate::address::{IntermediateAddress, PhysicalAddress, PAGE_SIZE};

pub use error::MemoryError;
pub use guest::{GuestMemory, ModelBuffers};
pub use manager::{MailboxBuffer, ManagerMemory};
pub use physical::{PhysicalMemory, PhysicalRegion, SecurityState};
pub use platform::ModelPlatform;
pub use translation::{Access, PageMapping, Translation};

/// An endpoint's address space: its translation table and its RAM.
#[derive(Debug, Clone)]
pub struct EndpointSpace {
    /// The stage-2 table.
    pub translation: Translation,
    /// Where its RAM starts (IPA).
    pub ram_base: IntermediateAddress,
    /// RAM size in pages.
    pub ram_pages: u64,
    /// Pages of RAM handed out by [`SystemMemory::allocate`] so far.
    allocated_pages: u64,
}

/// An RX or TX buffer a partition manager mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    /// Which manager mapped it.
    pub manager: Role,
    /// The endpoint it belongs to.
    pub owner: EndpointId,
    /// Its physical pages, in order.
    pub pages: Vec<PhysicalAddress>,
}

/// The whole memory system.
#[derive(Debug, Default)]
pub struct SystemMemory {
    physical: PhysicalMemory,
    spaces: BTreeMap<EndpointId, EndpointSpace>,
    /// Mapped buffers by [`MailboxBuffer`] index; unmapped ones become `None` (indices are
    /// never reused, so a stale buffer cannot reach another endpoint's memory).
    mailboxes: Vec<Option<Mailbox>>,
}

/// The memory system as every party holds it.
pub type SharedMemory = Arc<Mutex<SystemMemory>>;

/// Locks the shared memory. Only one model thread runs at a time, so the lock is never
/// contended; a poisoned lock (an endpoint panicked while holding it) is still usable.
pub fn lock(memory: &SharedMemory) -> MutexGuard<'_, SystemMemory> {
    memory.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SystemMemory {
    /// The physical memory.
    pub fn physical(&self) -> &PhysicalMemory {
        &self.physical
    }

    /// The physical memory, for writing.
    pub fn physical_mut(&mut self) -> &mut PhysicalMemory {
        &mut self.physical
    }

    /// Gives `endpoint` `page_count` pages of RAM: a new physical region at `physical`, mapped
    /// read-write-execute at `address` in the endpoint's new address space.
    pub fn add_endpoint_ram(
        &mut self,
        endpoint: EndpointId,
        address: IntermediateAddress,
        physical: PhysicalAddress,
        page_count: u64,
        security: SecurityState,
    ) -> Result<(), MemoryError> {
        if self.spaces.contains_key(&endpoint) {
            return Err(MemoryError::Overlap(address.0));
        }
        let mut translation = Translation::new(endpoint);
        translation.map(address, physical, page_count, Access::all())?;
        let name = format!("endpoint {:#06x} RAM", endpoint.0);
        self.physical.add_region(PhysicalRegion { name, base: physical, page_count, security })?;
        let space = EndpointSpace {
            translation,
            ram_base: address,
            ram_pages: page_count,
            allocated_pages: 0,
        };
        self.spaces.insert(endpoint, space);
        Ok(())
    }

    /// Maps `page_count` physical pages at `physical` into `endpoint`'s stage 2 at `address`
    /// (e.g. memory two VMs share by construction). The pages must exist.
    pub fn map(
        &mut self,
        endpoint: EndpointId,
        address: IntermediateAddress,
        physical: PhysicalAddress,
        page_count: u64,
        access: Access,
    ) -> Result<(), MemoryError> {
        for index in 0..page_count {
            let page = physical.checked_add(index * PAGE_SIZE).ok_or(MemoryError::Overflow)?;
            if self.physical.region_of(page).is_none() {
                return Err(MemoryError::NoPhysicalMemory(page));
            }
        }
        self.space_mut(endpoint)?.translation.map(address, physical, page_count, access)
    }

    /// Removes `page_count` pages at `address` from `endpoint`'s stage 2.
    pub fn unmap(
        &mut self,
        endpoint: EndpointId,
        address: IntermediateAddress,
        page_count: u64,
    ) -> Result<(), MemoryError> {
        self.space_mut(endpoint)?.translation.unmap(address, page_count)
    }

    /// `endpoint`'s address space.
    pub fn space(&self, endpoint: EndpointId) -> Result<&EndpointSpace, MemoryError> {
        self.spaces.get(&endpoint).ok_or(MemoryError::UnknownEndpoint(endpoint))
    }

    fn space_mut(&mut self, endpoint: EndpointId) -> Result<&mut EndpointSpace, MemoryError> {
        self.spaces.get_mut(&endpoint).ok_or(MemoryError::UnknownEndpoint(endpoint))
    }

    /// Translates `address` of `endpoint` for an access needing `needed`.
    pub fn translate(
        &self,
        endpoint: EndpointId,
        address: IntermediateAddress,
        needed: Access,
    ) -> Result<PhysicalAddress, MemoryError> {
        self.space(endpoint)?.translation.translate(address, needed)
    }

    /// Reads `bytes.len()` bytes at `endpoint`'s `address`, page by page through its stage 2.
    pub fn read_as(
        &self,
        endpoint: EndpointId,
        address: IntermediateAddress,
        bytes: &mut [u8],
    ) -> Result<(), MemoryError> {
        let mut done = 0usize;
        while done < bytes.len() {
            let current = address.checked_add(done as u64).ok_or(MemoryError::Overflow)?;
            let length = (bytes.len() - done).min((PAGE_SIZE - current.page_offset()) as usize);
            let physical = self.translate(endpoint, current, Access::READ)?;
            let target = bytes.get_mut(done..done + length).ok_or(MemoryError::Overflow)?;
            self.physical.read(physical, target)?;
            done += length;
        }
        Ok(())
    }

    /// Writes `bytes` at `endpoint`'s `address`, page by page through its stage 2.
    pub fn write_as(
        &mut self,
        endpoint: EndpointId,
        address: IntermediateAddress,
        bytes: &[u8],
    ) -> Result<(), MemoryError> {
        let mut done = 0usize;
        while done < bytes.len() {
            let current = address.checked_add(done as u64).ok_or(MemoryError::Overflow)?;
            let length = (bytes.len() - done).min((PAGE_SIZE - current.page_offset()) as usize);
            let physical = self.translate(endpoint, current, Access::WRITE)?;
            let source = bytes.get(done..done + length).ok_or(MemoryError::Overflow)?;
            self.physical.write(physical, source)?;
            done += length;
        }
        Ok(())
    }

    /// Hands out `page_count` fresh pages of `endpoint`'s RAM, aligned to `alignment` bytes
    /// (a power of two, at least 4 KiB). Deterministic: a bump allocator from the RAM's start.
    pub fn allocate(
        &mut self,
        endpoint: EndpointId,
        page_count: u64,
        alignment: u64,
    ) -> Result<IntermediateAddress, MemoryError> {
        if alignment < PAGE_SIZE || !alignment.is_power_of_two() {
            return Err(MemoryError::Misaligned(alignment));
        }
        let space = self.space_mut(endpoint)?;
        let alignment_pages = alignment / PAGE_SIZE;
        let base_page = space.ram_base.page_number();
        let next = base_page.checked_add(space.allocated_pages).ok_or(MemoryError::Overflow)?;
        let first = next.div_ceil(alignment_pages) * alignment_pages;
        let end = first.checked_add(page_count).ok_or(MemoryError::Overflow)?;
        if end > base_page + space.ram_pages {
            return Err(MemoryError::OutOfMemory(endpoint));
        }
        space.allocated_pages = end - base_page;
        IntermediateAddress::of_page(first).ok_or(MemoryError::Overflow)
    }

    /// Every buffer a partition manager has mapped now.
    pub fn mailboxes(&self) -> impl Iterator<Item = &Mailbox> {
        self.mailboxes.iter().flatten()
    }
}
