//! Caller-provided pool storage: slot types and the slices a [`crate::Ledger`] runs in.

use ffa_core::memory::{
    AccessPermissions, AddressRange, MemoryHandle, MemoryRegionAttributes, ReceiverAccess,
    TransactionFlags, TransactionType,
};
use ffa_core::EndpointId;

use crate::region::Region;

/// "No slot": the end of a free list or of a transaction's chain.
pub(crate) const NONE: u32 = u32::MAX;

/// Life of a transaction slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SlotState {
    /// On the free list.
    Free,
    /// Begun by a sender, constituents still arriving; invisible to everyone else.
    Pending,
    /// Committed: retrievable by its borrowers, reclaimable by its owner.
    Committed,
}

/// One transaction: the fields of its descriptor and the heads of its receiver and range chains.
#[derive(Debug, Clone, Copy)]
pub struct TransactionSlot {
    pub(crate) state: SlotState,
    /// Bumped each time the slot is freed, and part of the handle (bits [62:32]).
    pub(crate) generation: u32,
    pub(crate) transaction_type: TransactionType,
    pub(crate) sender: EndpointId,
    pub(crate) attributes: MemoryRegionAttributes,
    pub(crate) flags: TransactionFlags,
    pub(crate) tag: u64,
    pub(crate) receivers_head: u32,
    pub(crate) receiver_count: u32,
    pub(crate) ranges_head: u32,
    pub(crate) ranges_tail: u32,
    pub(crate) range_count: u32,
    pub(crate) page_count: u64,
    pub(crate) expected_page_count: u64,
    /// Whether the memory is non-secure (set at commit from the owner's memory map).
    pub(crate) non_secure: bool,
    /// Whether the send-time clear flag has been honoured (memory zeroed at first retrieve).
    pub(crate) zeroed: bool,
    /// Next free slot while on the free list.
    pub(crate) next_free: u32,
}

impl TransactionSlot {
    /// An unused slot.
    pub const EMPTY: Self = Self {
        state: SlotState::Free,
        generation: 1,
        transaction_type: TransactionType::Share,
        sender: EndpointId(0),
        attributes: MemoryRegionAttributes::NOT_SPECIFIED,
        flags: TransactionFlags(0),
        tag: 0,
        receivers_head: NONE,
        receiver_count: 0,
        ranges_head: NONE,
        ranges_tail: NONE,
        range_count: 0,
        page_count: 0,
        expected_page_count: 0,
        non_secure: false,
        zeroed: false,
        next_free: NONE,
    };
}

/// One constituent of one transaction, chained in the order the sender gave them.
#[derive(Debug, Clone, Copy)]
pub struct RangeSlot {
    pub(crate) address: u64,
    pub(crate) page_count: u32,
    pub(crate) next: u32,
}

impl RangeSlot {
    /// An unused slot.
    pub const EMPTY: Self = Self { address: 0, page_count: 0, next: NONE };

    pub(crate) const fn range(&self) -> AddressRange {
        AddressRange { address: self.address, page_count: self.page_count }
    }
}

const _: () = assert!(size_of::<RangeSlot>() == 16);
const _: () = assert!(size_of::<IndexEntry>() == 16);

/// One receiver of one transaction and what it currently holds.
#[derive(Debug, Clone, Copy)]
pub struct ReceiverSlot {
    pub(crate) access: ReceiverAccess,
    /// Whether the receiver has retrieved (and so has the memory mapped).
    pub(crate) retrieved: bool,
    /// What it was mapped with at retrieve.
    pub(crate) mapped: AccessPermissions,
    /// Retrieve flag bit 2: zero the memory when this borrower relinquishes.
    pub(crate) clear_after_relinquish: bool,
    pub(crate) next: u32,
}

impl ReceiverSlot {
    /// An unused slot.
    pub const EMPTY: Self = Self {
        access: ReceiverAccess::new(EndpointId(0), AccessPermissions::READ_WRITE),
        retrieved: false,
        mapped: AccessPermissions::READ_WRITE,
        clear_after_relinquish: false,
        next: NONE,
    };
}

/// One committed range in the global address-sorted index: `page_count` pages from
/// `address` belong to transaction slot `transaction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct IndexEntry {
    pub(crate) address: u64,
    pub(crate) page_count: u32,
    pub(crate) transaction: u32,
}

impl IndexEntry {
    /// An unused entry.
    pub const EMPTY: Self = Self { address: 0, page_count: 0, transaction: NONE };

    /// One past the last byte (addresses are below 2^52, so this cannot overflow).
    pub(crate) const fn end(&self) -> u64 {
        self.address + self.page_count as u64 * ffa_core::memory::PAGE_SIZE
    }
}

/// The slices a ledger keeps its state in, all provided by the caller (a static, a `Vec`, a
/// `Box`), so no capacity is fixed in this crate and nothing is allocated.
///
/// - `regions`: the memory map (what each endpoint owns), one entry per run of pages with the
///   same owner and attributes;
/// - `transactions`: live and pending transactions (handles name these slots);
/// - `ranges`: constituents of all transactions together;
/// - `index`: the address-sorted index of committed constituents (only `min(ranges, index)`
///   constituents can be committed at once);
/// - `scratch`: room to sort one transaction's constituents at commit, so its length is the
///   most constituents a single transaction may have;
/// - `receivers`: receivers of all transactions together.
///
/// Every exhausted pool is NO_MEMORY.
#[derive(Debug)]
pub struct LedgerStorage<'a> {
    /// Memory map entries.
    pub regions: &'a mut [Region],
    /// Transaction slots (at most 2^32 - 1 are used).
    pub transactions: &'a mut [TransactionSlot],
    /// Constituent slots.
    pub ranges: &'a mut [RangeSlot],
    /// Committed-range index.
    pub index: &'a mut [IndexEntry],
    /// Sorting room for one commit.
    pub scratch: &'a mut [IndexEntry],
    /// Receiver slots.
    pub receivers: &'a mut [ReceiverSlot],
}

/// Fixed-size pools for a ledger in a `static` or on the heap: `REGIONS` memory-map entries,
/// `TRANSACTIONS` transactions, `RANGES` constituents (index and scratch sized alike) and
/// `RECEIVERS` receivers.
#[derive(Debug)]
pub struct Pools<
    const REGIONS: usize,
    const TRANSACTIONS: usize,
    const RANGES: usize,
    const RECEIVERS: usize,
> {
    regions: [Region; REGIONS],
    transactions: [TransactionSlot; TRANSACTIONS],
    ranges: [RangeSlot; RANGES],
    index: [IndexEntry; RANGES],
    scratch: [IndexEntry; RANGES],
    receivers: [ReceiverSlot; RECEIVERS],
}

impl<
        const REGIONS: usize,
        const TRANSACTIONS: usize,
        const RANGES: usize,
        const RECEIVERS: usize,
    > Pools<REGIONS, TRANSACTIONS, RANGES, RECEIVERS>
{
    /// Empty pools (usable in a `static`).
    pub const fn new() -> Self {
        Self {
            regions: [Region::EMPTY; REGIONS],
            transactions: [TransactionSlot::EMPTY; TRANSACTIONS],
            ranges: [RangeSlot::EMPTY; RANGES],
            index: [IndexEntry::EMPTY; RANGES],
            scratch: [IndexEntry::EMPTY; RANGES],
            receivers: [ReceiverSlot::EMPTY; RECEIVERS],
        }
    }

    /// The pools as ledger storage.
    pub fn storage(&mut self) -> LedgerStorage<'_> {
        LedgerStorage {
            regions: &mut self.regions,
            transactions: &mut self.transactions,
            ranges: &mut self.ranges,
            index: &mut self.index,
            scratch: &mut self.scratch,
            receivers: &mut self.receivers,
        }
    }
}

impl<
        const REGIONS: usize,
        const TRANSACTIONS: usize,
        const RANGES: usize,
        const RECEIVERS: usize,
    > Default for Pools<REGIONS, TRANSACTIONS, RANGES, RECEIVERS>
{
    fn default() -> Self {
        Self::new()
    }
}

/// The handle a transaction slot carries: allocator bit, generation in bits [62:32], slot index
/// in bits [31:0].
pub(crate) fn encode_handle(
    allocator: ffa_core::memory::HandleAllocator,
    generation: u32,
    slot: u32,
) -> MemoryHandle {
    MemoryHandle::new(allocator, u64::from(generation & GENERATION_MASK) << 32 | u64::from(slot))
}

/// Generations are 31 bits (bit 63 is the allocator's).
pub(crate) const GENERATION_MASK: u32 = 0x7FFF_FFFF;
