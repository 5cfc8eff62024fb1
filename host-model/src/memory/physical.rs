//! Simulated physical memory: named regions with a security state, backed by sparse 4 KiB
//! pages (a page never written reads as zeros).

use std::collections::BTreeMap;

use super::MemoryError;
use crate::address::{PhysicalAddress, PAGE_SIZE};

/// The security state of physical memory (what the SPMC's D20 check looks at).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecurityState {
    /// Secure memory: only the secure world may map it.
    Secure,
    /// Non-secure memory.
    NonSecure,
}

/// A range of physical memory that exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhysicalRegion {
    /// What the range is (e.g. "VM 2 RAM").
    pub name: String,
    /// First byte, page-aligned.
    pub base: PhysicalAddress,
    /// Length in 4 KiB pages.
    pub page_count: u64,
    /// Secure or non-secure.
    pub security: SecurityState,
}

impl PhysicalRegion {
    /// Whether `address` is inside the region.
    pub fn contains(&self, address: PhysicalAddress) -> bool {
        let page = address.page_number();
        let first = self.base.page_number();
        page >= first && page - first < self.page_count
    }
}

type Page = Box<[u8; PAGE_SIZE as usize]>;

/// The whole physical address space.
#[derive(Debug, Default)]
pub struct PhysicalMemory {
    regions: Vec<PhysicalRegion>,
    pages: BTreeMap<u64, Page>,
}

impl PhysicalMemory {
    /// Adds a region; it must be page-aligned and overlap no other.
    pub fn add_region(&mut self, region: PhysicalRegion) -> Result<(), MemoryError> {
        if !region.base.is_page_aligned() {
            return Err(MemoryError::Misaligned(region.base.0));
        }
        let first = region.base.page_number();
        let end = first.checked_add(region.page_count).ok_or(MemoryError::Overflow)?;
        if end > u64::MAX / PAGE_SIZE {
            return Err(MemoryError::Overflow);
        }
        let overlapping = self.regions.iter().find(|existing| {
            let other = existing.base.page_number();
            first < other + existing.page_count && other < end
        });
        if let Some(existing) = overlapping {
            return Err(MemoryError::Overlap(existing.base.0));
        }
        self.regions.push(region);
        Ok(())
    }

    /// Every region, in the order they were added.
    pub fn regions(&self) -> &[PhysicalRegion] {
        &self.regions
    }

    /// The region holding `address`.
    pub fn region_of(&self, address: PhysicalAddress) -> Option<&PhysicalRegion> {
        self.regions.iter().find(|region| region.contains(address))
    }

    /// Copies `bytes.len()` bytes at `address` into `bytes`.
    pub fn read(&self, address: PhysicalAddress, bytes: &mut [u8]) -> Result<(), MemoryError> {
        let mut done = 0;
        while let Some(rest) = bytes.get_mut(done..) {
            if rest.is_empty() {
                break;
            }
            let current = address.checked_add(done as u64).ok_or(MemoryError::Overflow)?;
            let (page, offset, length) = self.chunk(current, rest.len())?;
            let target = rest.get_mut(..length).ok_or(MemoryError::Overflow)?;
            match self.pages.get(&page) {
                Some(data) => {
                    let source = data.get(offset..offset + length).ok_or(MemoryError::Overflow)?;
                    target.copy_from_slice(source);
                }
                None => target.fill(0),
            }
            done += length;
        }
        Ok(())
    }

    /// Copies `bytes` to `address`.
    pub fn write(&mut self, address: PhysicalAddress, bytes: &[u8]) -> Result<(), MemoryError> {
        let mut done = 0;
        while let Some(rest) = bytes.get(done..) {
            if rest.is_empty() {
                break;
            }
            let current = address.checked_add(done as u64).ok_or(MemoryError::Overflow)?;
            let (page, offset, length) = self.chunk(current, rest.len())?;
            let data = self.pages.entry(page).or_insert_with(|| Box::new([0; PAGE_SIZE as usize]));
            let target = data.get_mut(offset..offset + length).ok_or(MemoryError::Overflow)?;
            target.copy_from_slice(rest.get(..length).ok_or(MemoryError::Overflow)?);
            done += length;
        }
        Ok(())
    }

    /// The page, offset and length of the next piece of an access of `remaining` bytes at
    /// `address`, which must be inside a region.
    fn chunk(
        &self,
        address: PhysicalAddress,
        remaining: usize,
    ) -> Result<(u64, usize, usize), MemoryError> {
        if self.region_of(address).is_none() {
            return Err(MemoryError::NoPhysicalMemory(address));
        }
        let offset = address.page_offset() as usize;
        let length = remaining.min(PAGE_SIZE as usize - offset);
        Ok((address.page_number(), offset, length))
    }

    /// How many pages have been written (the rest read as zeros).
    pub fn resident_pages(&self) -> usize {
        self.pages.len()
    }
}
