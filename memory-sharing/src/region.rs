//! The memory map: which endpoint owns which pages, of what kind, and which are RX/TX buffers.

use ffa_core::memory::{AccessPermissions, AddressRange, DataAccess, InstructionAccess, PAGE_SIZE};
use ffa_core::{EndpointId, FfaError};

/// What kind of memory a region is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemoryKind {
    /// Normal memory, secure or non-secure.
    Normal {
        /// Whether the pages are in the secure physical address space.
        secure: bool,
    },
    /// Device memory (MMIO): never shared, lent or donated (conformance MM12).
    Device,
}

/// A run of pages `[base, base + page_count * 4096)` owned by one endpoint, with one kind,
/// one owner permission and one RX/TX marking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Region {
    /// The owner.
    pub owner: EndpointId,
    /// Base address, 4 KiB aligned.
    pub base: u64,
    /// Number of 4 KiB pages, non-zero.
    pub page_count: u64,
    /// Memory kind.
    pub kind: MemoryKind,
    /// Whether the owner itself only has read access (then it cannot grant write access, nor
    /// ask for the pages to be zeroed: conformance MM13).
    pub read_only: bool,
    /// Whether the pages are (part of) the owner's RX/TX buffers (conformance D21).
    pub rxtx: bool,
}

impl Region {
    /// An unused entry.
    pub const EMPTY: Self = Self {
        owner: EndpointId(0),
        base: 0,
        page_count: 0,
        kind: MemoryKind::Device,
        read_only: false,
        rxtx: false,
    };

    /// One past the last byte.
    pub const fn end(&self) -> u64 {
        self.base + self.page_count * PAGE_SIZE
    }

    /// The permissions the owner has its own pages mapped with.
    pub const fn owner_permissions(&self) -> AccessPermissions {
        AccessPermissions {
            data: if self.read_only { DataAccess::ReadOnly } else { DataAccess::ReadWrite },
            instruction: InstructionAccess::NotSpecified,
        }
    }

    fn same_attributes(&self, other: &Self) -> bool {
        self.owner == other.owner
            && self.kind == other.kind
            && self.read_only == other.read_only
            && self.rxtx == other.rxtx
    }
}

/// Addresses must be below 2^52 (as ffa-core's constituent parser requires).
pub(crate) const ADDRESS_LIMIT_BITS: u32 = 52;

/// Start and end (exclusive) of a range in bytes; addresses are checked below 2^52 and page
/// counts are 32-bit, so this never overflows.
pub(crate) fn bounds(range: AddressRange) -> (u64, u64) {
    (range.address, range.address + u64::from(range.page_count) * PAGE_SIZE)
}

/// Rejects what no descriptor may carry (reference §7.10 rule 8): an unaligned address, an
/// address at or above 2^52, or zero pages. INVALID_PARAMETERS.
pub(crate) fn check_range(range: AddressRange) -> Result<(), FfaError> {
    if range.address % PAGE_SIZE != 0
        || range.address >> ADDRESS_LIMIT_BITS != 0
        || range.page_count == 0
    {
        return Err(FfaError::InvalidParameters);
    }
    Ok(())
}

/// The memory map: regions sorted by base, never overlapping, neighbours with equal attributes
/// merged.
#[derive(Debug)]
pub(crate) struct MemoryMap<'a> {
    slots: &'a mut [Region],
    len: usize,
}

impl<'a> MemoryMap<'a> {
    pub(crate) fn new(slots: &'a mut [Region]) -> Self {
        Self { slots, len: 0 }
    }

    pub(crate) fn regions(&self) -> &[Region] {
        self.slots.get(..self.len).unwrap_or(&[])
    }

    pub(crate) fn free_slots(&self) -> usize {
        self.slots.len() - self.len
    }

    /// Index of the region holding `address`, if any. O(log n).
    pub(crate) fn find(&self, address: u64) -> Option<usize> {
        let regions = self.regions();
        let position = regions.partition_point(|region| region.end() <= address);
        regions.get(position).filter(|region| region.base <= address).map(|_| position)
    }

    /// The region wholly containing `[start, end)`, if one does.
    pub(crate) fn containing(&self, start: u64, end: u64) -> Option<&Region> {
        let index = self.find(start)?;
        self.regions().get(index).filter(|region| end <= region.end())
    }

    /// Adds a new region; overlapping an existing one is INVALID_PARAMETERS, a full map is
    /// NO_MEMORY. O(n).
    pub(crate) fn add(&mut self, region: Region) -> Result<(), FfaError> {
        let end = region.end();
        let position = self.regions().partition_point(|existing| existing.end() <= region.base);
        if self.regions().get(position).is_some_and(|next| next.base < end) {
            return Err(FfaError::InvalidParameters);
        }
        self.insert(position, region)?;
        self.coalesce_around(position);
        Ok(())
    }

    fn insert(&mut self, position: usize, region: Region) -> Result<(), FfaError> {
        if self.len >= self.slots.len() {
            return Err(FfaError::NoMemory);
        }
        let tail = self.slots.get_mut(position..=self.len).ok_or(FfaError::NoMemory)?;
        tail.rotate_right(1);
        *tail.first_mut().ok_or(FfaError::NoMemory)? = region;
        self.len += 1;
        Ok(())
    }

    fn remove(&mut self, position: usize) {
        if let Some(tail) = self.slots.get_mut(position..self.len) {
            tail.rotate_left(1);
            self.len -= 1;
        }
    }

    /// Merges the region at `position` with equal neighbours.
    fn coalesce_around(&mut self, position: usize) {
        let mut position = position;
        if position > 0 && self.try_merge(position - 1) {
            position -= 1;
        }
        self.try_merge(position);
    }

    /// Merges regions `first` and `first + 1` if they touch and have equal attributes.
    fn try_merge(&mut self, first: usize) -> bool {
        let (Some(left), Some(right)) =
            (self.regions().get(first).copied(), self.regions().get(first + 1).copied())
        else {
            return false;
        };
        if left.end() != right.base || !left.same_attributes(&right) {
            return false;
        }
        if let Some(slot) = self.slots.get_mut(first) {
            slot.page_count += right.page_count;
        }
        self.remove(first + 1);
        true
    }

    /// How many extra entries [`Self::rewrite`] needs for `[start, end)` (0, 1 or 2), or
    /// `None` if no single region holds it.
    pub(crate) fn splits_needed(&self, start: u64, end: u64) -> Option<usize> {
        let region = self.containing(start, end)?;
        Some(usize::from(region.base != start) + usize::from(region.end() != end))
    }

    /// Changes the attributes of `[start, end)`, which must lie in one region, splitting that
    /// region as needed and merging equal neighbours. The caller has checked
    /// [`Self::splits_needed`] against [`Self::free_slots`].
    pub(crate) fn rewrite(
        &mut self,
        start: u64,
        end: u64,
        change: impl FnOnce(&mut Region),
    ) -> Result<(), FfaError> {
        let mut position = self.find(start).ok_or(FfaError::InvalidParameters)?;
        let original = *self.regions().get(position).ok_or(FfaError::InvalidParameters)?;
        if end > original.end() {
            return Err(FfaError::InvalidParameters);
        }
        if original.base < start {
            let before = Region { page_count: (start - original.base) / PAGE_SIZE, ..original };
            self.insert(position, before)?;
            position += 1;
        }
        if end < original.end() {
            let after =
                Region { base: end, page_count: (original.end() - end) / PAGE_SIZE, ..original };
            self.insert(position + 1, after)?;
        }
        let slot = self.slots.get_mut(position).ok_or(FfaError::InvalidParameters)?;
        *slot = Region { base: start, page_count: (end - start) / PAGE_SIZE, ..original };
        change(slot);
        self.coalesce_around(position);
        Ok(())
    }
}
