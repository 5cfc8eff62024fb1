//! The platform side of memory sharing (`MemoryPlatform`: stage-2 changes, address translation,
//! the forwarder's buffer towards the other world) and IPA-to-PA translation of address ranges.

use ffa_core::memory::{AccessPermissions, AddressRange, PAGE_SIZE};
use ffa_core::{EndpointId, FfaError};
use memory_sharing::AddressSpace;

/// Physical pages an endpoint address translates to: `page_count` 4 KiB pages from `address`
/// that are contiguous in the endpoint's address space and in physical memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PhysicalRun {
    /// Physical address of the first page, 4 KiB aligned.
    pub address: u64,
    /// Pages from there that stay contiguous in both spaces (at least 1).
    pub page_count: u64,
}

/// What the platform does for memory sharing, on top of the ledger's [`AddressSpace`]
/// (map, unmap and zero physical ranges in each endpoint's stage 2).
///
/// Every method runs under the memory-sharing lock and must not call back into the core.
/// Addresses handed to [`AddressSpace`] are physical; where a borrower sees them is the
/// platform's choice (retrieve responses report the physical addresses, so a platform that maps
/// borrowers at IPA = PA, as Hafnium does, needs no more).
pub trait MemoryPlatform: AddressSpace {
    /// Translates the page at `address` in the address space of the local endpoint `endpoint`
    /// (its IPA, or whatever its descriptors use) to the physical run that starts there.
    /// DENIED when the page is not the endpoint's memory. The SPMC's platform may translate
    /// its partitions' addresses one to one.
    fn translate(&mut self, endpoint: EndpointId, address: u64) -> Result<PhysicalRun, FfaError>;

    /// Forwarder: the size in bytes of the manager's own TX buffer towards the other world's
    /// manager (mapped there with FFA_RXTX_MAP by the platform). 0 when there is none; then
    /// transactions with a borrower in the other world are NOT_SUPPORTED.
    fn forward_buffer_size(&self) -> usize {
        0
    }

    /// Forwarder: writes `bytes` at `offset` of that TX buffer.
    fn write_forward_buffer(&mut self, offset: usize, bytes: &[u8]) -> Result<(), FfaError> {
        let _ = (offset, bytes);
        Err(FfaError::NotSupported)
    }
}

/// The platform type of a manager built without memory sharing ([`super::PartitionManager::new`]):
/// it has no values, so memory-management calls are NOT_SUPPORTED.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoMemorySharing {}

impl AddressSpace for NoMemorySharing {
    fn map(
        &mut self,
        _: EndpointId,
        _: AddressRange,
        _: AccessPermissions,
    ) -> Result<(), FfaError> {
        match *self {}
    }

    fn unmap(&mut self, _: EndpointId, _: AddressRange) -> Result<(), FfaError> {
        match *self {}
    }

    fn zero(&mut self, _: AddressRange) {
        match *self {}
    }
}

impl MemoryPlatform for NoMemorySharing {
    fn translate(&mut self, _: EndpointId, _: u64) -> Result<PhysicalRun, FfaError> {
        match *self {}
    }
}

/// Turns an endpoint's ranges into physical ranges: a range is split where its physical
/// pages are not contiguous, and consecutive physical ranges that touch are merged (also
/// across calls, until [`Self::finish`]).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Translator {
    /// The last physical range, still growing.
    open: Option<AddressRange>,
}

impl Translator {
    /// Translates `range` of `endpoint` (already checked: aligned, below 2^52, non-empty) and
    /// passes every finished physical range to `emit`. DENIED for pages outside the endpoint.
    pub(crate) fn push(
        &mut self,
        platform: &mut impl MemoryPlatform,
        endpoint: EndpointId,
        range: AddressRange,
        emit: &mut impl FnMut(AddressRange) -> Result<(), FfaError>,
    ) -> Result<(), FfaError> {
        let mut address = range.address;
        let mut remaining = u64::from(range.page_count);
        while remaining > 0 {
            let run = platform.translate(endpoint, address)?;
            if run.page_count == 0 || run.address % PAGE_SIZE != 0 {
                // A platform that answers nothing usable gives nothing to share.
                return Err(FfaError::Denied);
            }
            let taken = remaining.min(run.page_count);
            self.add(run.address, taken, emit)?;
            remaining -= taken;
            address = taken
                .checked_mul(PAGE_SIZE)
                .and_then(|length| address.checked_add(length))
                .ok_or(FfaError::InvalidParameters)?;
        }
        Ok(())
    }

    /// Passes a range on unchanged (the other world's senders give physical addresses), still
    /// merging it with the previous one when they touch.
    pub(crate) fn push_physical(
        &mut self,
        range: AddressRange,
        emit: &mut impl FnMut(AddressRange) -> Result<(), FfaError>,
    ) -> Result<(), FfaError> {
        self.add(range.address, u64::from(range.page_count), emit)
    }

    fn add(
        &mut self,
        address: u64,
        page_count: u64,
        emit: &mut impl FnMut(AddressRange) -> Result<(), FfaError>,
    ) -> Result<(), FfaError> {
        let mut address = address;
        let mut page_count = page_count;
        if let Some(open) = self.open.as_mut() {
            let end = u64::from(open.page_count)
                .checked_mul(PAGE_SIZE)
                .and_then(|length| open.address.checked_add(length));
            if end == Some(address) {
                let room = u64::from(u32::MAX - open.page_count);
                let joined = page_count.min(room);
                // `joined` fits: it is at most the room left below u32::MAX.
                open.page_count += joined as u32;
                page_count -= joined;
                address += joined * PAGE_SIZE;
            }
        }
        while page_count > 0 {
            if let Some(finished) = self.open.take() {
                emit(finished)?;
            }
            let chunk = page_count.min(u64::from(u32::MAX));
            self.open = Some(AddressRange { address, page_count: chunk as u32 });
            page_count -= chunk;
            address = address.checked_add(chunk * PAGE_SIZE).ok_or(FfaError::InvalidParameters)?;
        }
        Ok(())
    }

    /// Emits the range still open.
    pub(crate) fn finish(
        &mut self,
        emit: &mut impl FnMut(AddressRange) -> Result<(), FfaError>,
    ) -> Result<(), FfaError> {
        match self.open.take() {
            Some(last) => emit(last),
            None => Ok(()),
        }
    }
}

/// Ranges collected for one `add_ranges` call.
#[derive(Debug)]
pub(crate) struct RangeBatch {
    ranges: [AddressRange; Self::CAPACITY],
    length: usize,
}

impl RangeBatch {
    /// Ranges per batch.
    pub(crate) const CAPACITY: usize = 32;

    pub(crate) const fn new() -> Self {
        Self { ranges: [AddressRange { address: 0, page_count: 0 }; Self::CAPACITY], length: 0 }
    }

    /// Adds a range; `true` when the batch is now full.
    pub(crate) fn push(&mut self, range: AddressRange) -> bool {
        if let Some(slot) = self.ranges.get_mut(self.length) {
            *slot = range;
            self.length += 1;
        }
        self.length >= Self::CAPACITY
    }

    /// The ranges collected since the last [`Self::clear`].
    pub(crate) fn as_slice(&self) -> &[AddressRange] {
        self.ranges.get(..self.length).unwrap_or(&[])
    }

    pub(crate) fn clear(&mut self) {
        self.length = 0;
    }
}
