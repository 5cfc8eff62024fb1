//! One endpoint's stage-2 translation: its intermediate physical pages mapped to physical pages,
//! each with the access the endpoint has.

use std::collections::BTreeMap;

use bitflags::bitflags;
use ffa_core::EndpointId;

use super::MemoryError;
use crate::address::{IntermediateAddress, PhysicalAddress};

bitflags! {
    /// What an endpoint may do with a mapped page.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct Access: u8 {
        /// Read data.
        const READ = 1 << 0;
        /// Write data.
        const WRITE = 1 << 1;
        /// Execute instructions.
        const EXECUTE = 1 << 2;
    }
}

impl Access {
    /// Read and write: RAM and RX/TX buffers.
    pub const READ_WRITE: Self = Self::READ.union(Self::WRITE);
}

/// One mapped page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageMapping {
    /// The physical page it maps to.
    pub physical: PhysicalAddress,
    /// What the endpoint may do with it.
    pub access: Access,
}

/// An endpoint's translation table, one entry per 4 KiB page.
#[derive(Debug, Clone)]
pub struct Translation {
    endpoint: EndpointId,
    pages: BTreeMap<u64, PageMapping>,
}

impl Translation {
    /// An empty table for `endpoint`.
    pub fn new(endpoint: EndpointId) -> Self {
        Self { endpoint, pages: BTreeMap::new() }
    }

    /// Maps `page_count` pages at `address` to `physical` with `access`. Both addresses must be
    /// page-aligned and no page of the range may be mapped already; on error nothing changes.
    pub fn map(
        &mut self,
        address: IntermediateAddress,
        physical: PhysicalAddress,
        page_count: u64,
        access: Access,
    ) -> Result<(), MemoryError> {
        if !address.is_page_aligned() {
            return Err(MemoryError::Misaligned(address.0));
        }
        if !physical.is_page_aligned() {
            return Err(MemoryError::Misaligned(physical.0));
        }
        let first = address.page_number();
        let end = first.checked_add(page_count).ok_or(MemoryError::Overflow)?;
        physical.page_number().checked_add(page_count).ok_or(MemoryError::Overflow)?;
        if let Some((&page, _)) = self.pages.range(first..end).next() {
            return Err(MemoryError::Overlap(page.saturating_mul(crate::address::PAGE_SIZE)));
        }
        for index in 0..page_count {
            let target = PhysicalAddress::of_page(physical.page_number() + index)
                .ok_or(MemoryError::Overflow)?;
            self.pages.insert(first + index, PageMapping { physical: target, access });
        }
        Ok(())
    }

    /// Removes the mappings of `page_count` pages at `address`; every page must be mapped,
    /// and on error nothing changes.
    pub fn unmap(
        &mut self,
        address: IntermediateAddress,
        page_count: u64,
    ) -> Result<(), MemoryError> {
        if !address.is_page_aligned() {
            return Err(MemoryError::Misaligned(address.0));
        }
        let first = address.page_number();
        let end = first.checked_add(page_count).ok_or(MemoryError::Overflow)?;
        for page in first..end {
            if !self.pages.contains_key(&page) {
                let address = IntermediateAddress::of_page(page).ok_or(MemoryError::Overflow)?;
                return Err(MemoryError::NotMapped { endpoint: self.endpoint, address });
            }
        }
        for page in first..end {
            self.pages.remove(&page);
        }
        Ok(())
    }

    /// The physical address of `address` if the endpoint may access it with `needed`.
    pub fn translate(
        &self,
        address: IntermediateAddress,
        needed: Access,
    ) -> Result<PhysicalAddress, MemoryError> {
        let mapping = self
            .pages
            .get(&address.page_number())
            .ok_or(MemoryError::NotMapped { endpoint: self.endpoint, address })?;
        if !mapping.access.contains(needed) {
            return Err(MemoryError::PermissionDenied { endpoint: self.endpoint, address, needed });
        }
        mapping.physical.checked_add(address.page_offset()).ok_or(MemoryError::Overflow)
    }

    /// The mapping of the page holding `address`, if any.
    pub fn mapping(&self, address: IntermediateAddress) -> Option<PageMapping> {
        self.pages.get(&address.page_number()).copied()
    }

    /// Every address mapped to the physical page holding `physical` (lowest first), with its
    /// mapping.
    pub fn find_physical(
        &self,
        physical: PhysicalAddress,
    ) -> Vec<(IntermediateAddress, PageMapping)> {
        let page = physical.page_number();
        self.pages
            .iter()
            .filter(|(_, mapping)| mapping.physical.page_number() == page)
            .filter_map(|(&number, mapping)| {
                Some((IntermediateAddress::of_page(number)?, *mapping))
            })
            .collect()
    }

    /// How many pages are mapped.
    pub fn mapped_pages(&self) -> usize {
        self.pages.len()
    }
}
