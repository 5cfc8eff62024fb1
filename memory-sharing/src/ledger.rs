//! The ledger: pools, handles, the committed-range index and the memory map API.

use ffa_core::memory::{AddressRange, HandleAllocator, MemoryHandle};
use ffa_core::{EndpointId, FfaError};

use crate::region::{bounds, check_range, MemoryKind, MemoryMap, Region};
use crate::storage::{
    encode_handle, IndexEntry, LedgerStorage, RangeSlot, ReceiverSlot, SlotState, TransactionSlot,
    GENERATION_MASK, NONE,
};

/// The memory transaction ledger: who owns which pages, which transactions are live, which
/// borrower holds what. See `docs/src/ledger.md` for the states and rules.
#[derive(Debug)]
pub struct Ledger<'a> {
    pub(crate) map: MemoryMap<'a>,
    pub(crate) transactions: &'a mut [TransactionSlot],
    pub(crate) ranges: &'a mut [RangeSlot],
    pub(crate) index: &'a mut [IndexEntry],
    pub(crate) index_len: usize,
    pub(crate) scratch: &'a mut [IndexEntry],
    pub(crate) receivers: &'a mut [ReceiverSlot],
    pub(crate) allocator: HandleAllocator,
    free_transaction: u32,
    free_range: u32,
    free_receiver: u32,
    pub(crate) free_transaction_count: usize,
    pub(crate) free_range_count: usize,
    pub(crate) free_receiver_count: usize,
}

/// Free slots left in each pool (for tests, diagnostics and FFA_FEATURES-style reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Capacity {
    /// Transaction slots.
    pub transactions: usize,
    /// Constituent slots.
    pub ranges: usize,
    /// Receiver slots.
    pub receivers: usize,
    /// Memory map entries.
    pub regions: usize,
    /// Committed-index entries.
    pub index: usize,
}

/// Chains `count` slots `0 -> 1 -> ... -> count - 1` through `link`; returns the head.
fn build_free_list<T>(slots: &mut [T], mut link: impl FnMut(&mut T, u32)) -> (u32, usize) {
    let usable = slots.len().min(NONE as usize - 1);
    for (position, slot) in slots.iter_mut().enumerate().take(usable) {
        let next = if position + 1 < usable { position as u32 + 1 } else { NONE };
        link(slot, next);
    }
    (if usable == 0 { NONE } else { 0 }, usable)
}

impl<'a> Ledger<'a> {
    /// A ledger with nothing owned and nothing in flight, keeping its state in `storage` and
    /// handing out handles with `allocator`'s bit 63. O(total slots).
    pub fn new(storage: LedgerStorage<'a>, allocator: HandleAllocator) -> Self {
        let LedgerStorage { regions, transactions, ranges, index, scratch, receivers } = storage;
        let (free_transaction, free_transaction_count) =
            build_free_list(transactions, |slot, next| {
                let generation = slot.generation;
                *slot = TransactionSlot { generation, next_free: next, ..TransactionSlot::EMPTY };
            });
        let (free_range, free_range_count) =
            build_free_list(ranges, |slot, next| *slot = RangeSlot { next, ..RangeSlot::EMPTY });
        let (free_receiver, free_receiver_count) = build_free_list(receivers, |slot, next| {
            *slot = ReceiverSlot { next, ..ReceiverSlot::EMPTY }
        });
        Self {
            map: MemoryMap::new(regions),
            transactions,
            ranges,
            index,
            index_len: 0,
            scratch,
            receivers,
            allocator,
            free_transaction,
            free_range,
            free_receiver,
            free_transaction_count,
            free_range_count,
            free_receiver_count,
        }
    }

    // ---- Memory map ----------------------------------------------------------------------

    /// Records that `owner` owns `page_count` pages from `base`. Overlapping an existing region
    /// or a malformed range is INVALID_PARAMETERS; a full map is NO_MEMORY. The caller maps the
    /// pages for the owner itself (the ledger only changes mappings during transactions).
    pub fn add_region(
        &mut self,
        owner: EndpointId,
        base: u64,
        page_count: u32,
        kind: MemoryKind,
    ) -> Result<(), FfaError> {
        check_range(AddressRange { address: base, page_count })?;
        self.map.add(Region {
            owner,
            base,
            page_count: u64::from(page_count),
            kind,
            read_only: false,
            rxtx: false,
        })
    }

    /// Marks pages of `owner` as its RX/TX buffers (they can then never be sent, conformance
    /// D21). The range must lie in one region of `owner` (INVALID_PARAMETERS otherwise) and in
    /// no live transaction (DENIED).
    pub fn mark_rxtx(&mut self, owner: EndpointId, range: AddressRange) -> Result<(), FfaError> {
        self.change_region(owner, range, |region| region.rxtx = true)
    }

    /// Clears the RX/TX mark of pages of `owner` (after FFA_RXTX_UNMAP), so they can be sent
    /// again. Same rules as [`Self::mark_rxtx`].
    pub fn unmark_rxtx(&mut self, owner: EndpointId, range: AddressRange) -> Result<(), FfaError> {
        self.change_region(owner, range, |region| region.rxtx = false)
    }

    /// Marks pages of `owner` as read-only for it (conformance MM13). Same rules as
    /// [`Self::mark_rxtx`].
    pub fn mark_read_only(
        &mut self,
        owner: EndpointId,
        range: AddressRange,
    ) -> Result<(), FfaError> {
        self.change_region(owner, range, |region| region.read_only = true)
    }

    fn change_region(
        &mut self,
        owner: EndpointId,
        range: AddressRange,
        change: impl FnOnce(&mut Region),
    ) -> Result<(), FfaError> {
        check_range(range)?;
        let (start, end) = bounds(range);
        let region = self.map.containing(start, end).ok_or(FfaError::InvalidParameters)?;
        if region.owner != owner {
            return Err(FfaError::InvalidParameters);
        }
        if self.overlaps_committed(start, end) {
            return Err(FfaError::Denied);
        }
        let needed = self.map.splits_needed(start, end).ok_or(FfaError::InvalidParameters)?;
        if needed > self.map.free_slots() {
            return Err(FfaError::NoMemory);
        }
        self.map.rewrite(start, end, change)
    }

    /// The memory map, sorted by base address.
    pub fn regions(&self) -> &[Region] {
        self.map.regions()
    }

    /// The owner of the page at `address`, if any endpoint owns it.
    pub fn owner_of(&self, address: u64) -> Option<EndpointId> {
        let index = self.map.find(address)?;
        self.map.regions().get(index).map(|region| region.owner)
    }

    /// Free slots in every pool.
    pub fn capacity(&self) -> Capacity {
        Capacity {
            transactions: self.free_transaction_count,
            ranges: self.free_range_count,
            receivers: self.free_receiver_count,
            regions: self.map.free_slots(),
            index: self.index.len() - self.index_len,
        }
    }

    /// Handles of every committed transaction, in slot order.
    pub fn handles(&self) -> impl Iterator<Item = MemoryHandle> + '_ {
        self.transactions
            .iter()
            .enumerate()
            .filter(|(_, slot)| slot.state == SlotState::Committed)
            .map(|(position, slot)| encode_handle(self.allocator, slot.generation, position as u32))
    }

    // ---- Handles and slots ---------------------------------------------------------------

    /// The slot a handle names if it is in `state`; anything else (wrong allocator, stale
    /// generation, out of range, other state) is INVALID_PARAMETERS.
    pub(crate) fn slot_of(&self, handle: MemoryHandle, state: SlotState) -> Result<u32, FfaError> {
        if handle.allocator() != self.allocator {
            return Err(FfaError::InvalidParameters);
        }
        let position = handle.0 as u32;
        let generation = ((handle.0 >> 32) as u32) & GENERATION_MASK;
        let slot = self.transaction(position)?;
        if slot.state != state || slot.generation != generation {
            return Err(FfaError::InvalidParameters);
        }
        Ok(position)
    }

    pub(crate) fn handle_of(&self, position: u32) -> MemoryHandle {
        let generation = self.transaction(position).map(|slot| slot.generation).unwrap_or(0);
        encode_handle(self.allocator, generation, position)
    }

    pub(crate) fn transaction(&self, position: u32) -> Result<&TransactionSlot, FfaError> {
        self.transactions.get(position as usize).ok_or(FfaError::InvalidParameters)
    }

    pub(crate) fn transaction_mut(
        &mut self,
        position: u32,
    ) -> Result<&mut TransactionSlot, FfaError> {
        self.transactions.get_mut(position as usize).ok_or(FfaError::InvalidParameters)
    }

    pub(crate) fn allocate_transaction(&mut self) -> Result<u32, FfaError> {
        let position = self.free_transaction;
        let slot = self.transactions.get_mut(position as usize).ok_or(FfaError::NoMemory)?;
        self.free_transaction = slot.next_free;
        self.free_transaction_count -= 1;
        Ok(position)
    }

    /// Returns a transaction and its receiver and range chains to the pools; the generation
    /// moves on so the old handle goes stale.
    pub(crate) fn free_transaction(&mut self, position: u32) -> Result<(), FfaError> {
        let slot = *self.transaction(position)?;
        self.free_receiver_chain(slot.receivers_head);
        self.free_range_chain(slot.ranges_head, slot.ranges_tail, slot.range_count);
        let free_head = self.free_transaction;
        let entry = self.transaction_mut(position)?;
        let mut generation = (slot.generation + 1) & GENERATION_MASK;
        if generation == 0 {
            generation = 1;
        }
        *entry = TransactionSlot { generation, next_free: free_head, ..TransactionSlot::EMPTY };
        self.free_transaction = position;
        self.free_transaction_count += 1;
        Ok(())
    }

    /// Takes `count` range slots off the free list, chained in order; returns (head, tail).
    /// The caller has checked `count <= free_range_count` and `count > 0`.
    pub(crate) fn allocate_ranges(
        &mut self,
        ranges: &[AddressRange],
    ) -> Result<(u32, u32), FfaError> {
        let head = self.free_range;
        let mut tail = NONE;
        for range in ranges {
            let position = self.free_range;
            let slot = self.ranges.get_mut(position as usize).ok_or(FfaError::NoMemory)?;
            slot.address = range.address;
            slot.page_count = range.page_count;
            self.free_range = slot.next;
            tail = position;
        }
        if let Some(slot) = self.ranges.get_mut(tail as usize) {
            slot.next = NONE;
        }
        self.free_range_count -= ranges.len();
        Ok((head, tail))
    }

    fn free_range_chain(&mut self, head: u32, tail: u32, count: u32) {
        if let Some(slot) = self.ranges.get_mut(tail as usize) {
            slot.next = self.free_range;
            self.free_range = head;
            self.free_range_count += count as usize;
        }
    }

    pub(crate) fn allocate_receiver(&mut self, slot: ReceiverSlot) -> Result<u32, FfaError> {
        let position = self.free_receiver;
        let entry = self.receivers.get_mut(position as usize).ok_or(FfaError::NoMemory)?;
        self.free_receiver = entry.next;
        *entry = slot;
        self.free_receiver_count -= 1;
        Ok(position)
    }

    fn free_receiver_chain(&mut self, head: u32) {
        let mut position = head;
        while let Some(slot) = self.receivers.get_mut(position as usize) {
            let next = slot.next;
            slot.next = self.free_receiver;
            self.free_receiver = position;
            self.free_receiver_count += 1;
            position = next;
        }
    }

    /// Iterates over a transaction's receiver slots (position, slot).
    pub(crate) fn receiver_chain(&self, head: u32) -> ReceiverChain<'_> {
        ReceiverChain { receivers: self.receivers, next: head }
    }

    /// The receiver slot of `endpoint` in the chain from `head`.
    pub(crate) fn find_receiver(&self, head: u32, endpoint: EndpointId) -> Option<u32> {
        self.receiver_chain(head)
            .find(|(_, slot)| slot.access.receiver == endpoint)
            .map(|(position, _)| position)
    }

    // ---- Committed-range index ------------------------------------------------------------

    /// Whether any committed range overlaps `[start, end)`. O(log n): entries never overlap,
    /// so sorting by address also sorts by end.
    pub(crate) fn overlaps_committed(&self, start: u64, end: u64) -> bool {
        let entries = self.index.get(..self.index_len).unwrap_or(&[]);
        let first = entries.partition_point(|entry| entry.end() <= start);
        entries.get(first).is_some_and(|entry| entry.address < end)
    }

    /// Merges the sorted `scratch[..count]` into the index, from the back, in place: O(n + m).
    /// The caller has checked there is room.
    pub(crate) fn merge_scratch_into_index(&mut self, count: usize) -> Result<(), FfaError> {
        let mut old = self.index_len;
        let mut new = count;
        let mut write = old + count;
        if write > self.index.len() {
            return Err(FfaError::NoMemory);
        }
        while new > 0 {
            write -= 1;
            let candidate = *self.scratch.get(new - 1).ok_or(FfaError::NoMemory)?;
            let existing = if old > 0 { self.index.get(old - 1).copied() } else { None };
            let take = match existing {
                Some(entry) if entry.address > candidate.address => {
                    old -= 1;
                    entry
                }
                _ => {
                    new -= 1;
                    candidate
                }
            };
            *self.index.get_mut(write).ok_or(FfaError::NoMemory)? = take;
        }
        self.index_len += count;
        Ok(())
    }

    /// Drops every index entry of transaction `position`. O(m).
    pub(crate) fn remove_from_index(&mut self, position: u32) {
        let mut kept = 0;
        for read in 0..self.index_len {
            let Some(entry) = self.index.get(read).copied() else { break };
            if entry.transaction != position {
                if let Some(slot) = self.index.get_mut(kept) {
                    *slot = entry;
                }
                kept += 1;
            }
        }
        self.index_len = kept;
    }
}

/// Iterator over a chain of constituents.
#[derive(Debug, Clone)]
pub(crate) struct RangeChain<'l> {
    ranges: &'l [RangeSlot],
    next: u32,
}

impl<'l> RangeChain<'l> {
    pub(crate) fn new(ranges: &'l [RangeSlot], head: u32) -> Self {
        Self { ranges, next: head }
    }
}

impl Iterator for RangeChain<'_> {
    type Item = AddressRange;

    fn next(&mut self) -> Option<AddressRange> {
        let slot = self.ranges.get(self.next as usize)?;
        self.next = slot.next;
        Some(slot.range())
    }
}

/// Iterator over a chain of receivers.
#[derive(Debug, Clone)]
pub(crate) struct ReceiverChain<'l> {
    receivers: &'l [ReceiverSlot],
    next: u32,
}

impl<'l> Iterator for ReceiverChain<'l> {
    type Item = (u32, &'l ReceiverSlot);

    fn next(&mut self) -> Option<Self::Item> {
        let position = self.next;
        let slot = self.receivers.get(position as usize)?;
        self.next = slot.next;
        Some((position, slot))
    }
}
