//! The memory-sharing ledger's slots: in .bss, made valid in place at boot, never on a stack.
//!
//! `memory_sharing::Pools::new()` built in `set_up` would be a stack temporary (twice: the
//! value, then the lock around it) before landing in a static, and a constant initialiser
//! would put the slots' non-zero empty values in .data. Here each pool is an uninitialised
//! array in .bss whose slots are written one by one.

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicBool, Ordering};

use memory_sharing::{IndexEntry, LedgerStorage, RangeSlot, ReceiverSlot, Region, TransactionSlot};

/// Memory-map entries.
const REGIONS: usize = 32;
/// Transactions live or being sent at once.
const TRANSACTIONS: usize = 8;
/// Constituents of all transactions together (48 bytes each, with their index and sort
/// entries): one transaction may have 300 separate pages (the conformance suite's fragmented
/// share, matrix MM32), with room for others alongside.
const RANGES: usize = 320;
/// Receivers of all transactions together.
const RECEIVERS: usize = 16;

/// `N` slots of `T`, uninitialised until `fill`.
struct Slots<T, const N: usize>(UnsafeCell<[MaybeUninit<T>; N]>);

// SAFETY: the slots are reached only through `take`, which hands them out once.
unsafe impl<T, const N: usize> Sync for Slots<T, N> {}

impl<T: Copy, const N: usize> Slots<T, N> {
    const fn new() -> Self {
        Self(UnsafeCell::new([const { MaybeUninit::uninit() }; N]))
    }

    /// Writes `value` into every slot and lends them all out.
    ///
    /// # Safety
    /// At most once per object (the slice is `'static` and exclusive).
    #[allow(
        clippy::mut_from_ref,
        reason = "the slots are in an UnsafeCell and lent out once (`take`)"
    )]
    unsafe fn fill(&'static self, value: T) -> &'static mut [T] {
        // SAFETY: the caller guarantees nothing else refers to the slots.
        let slots = unsafe { &mut *self.0.get() };
        for slot in slots.iter_mut() {
            slot.write(value);
        }
        // SAFETY: every element was just initialised, and `MaybeUninit<T>` has `T`'s layout.
        unsafe { &mut *(slots as *mut [MaybeUninit<T>; N] as *mut [T; N]) }
    }
}

static REGION_SLOTS: Slots<Region, REGIONS> = Slots::new();
static TRANSACTION_SLOTS: Slots<TransactionSlot, TRANSACTIONS> = Slots::new();
static RANGE_SLOTS: Slots<RangeSlot, RANGES> = Slots::new();
static INDEX_SLOTS: Slots<IndexEntry, RANGES> = Slots::new();
static SCRATCH_SLOTS: Slots<IndexEntry, RANGES> = Slots::new();
static RECEIVER_SLOTS: Slots<ReceiverSlot, RECEIVERS> = Slots::new();
static TAKEN: AtomicBool = AtomicBool::new(false);

/// The ledger's storage, empty; `None` after the first call.
pub fn take() -> Option<LedgerStorage<'static>> {
    if TAKEN.swap(true, Ordering::Relaxed) {
        return None;
    }
    // SAFETY: `TAKEN` lets this run once, so each pool is filled and lent out once.
    unsafe {
        Some(LedgerStorage {
            regions: REGION_SLOTS.fill(Region::EMPTY),
            transactions: TRANSACTION_SLOTS.fill(TransactionSlot::EMPTY),
            ranges: RANGE_SLOTS.fill(RangeSlot::EMPTY),
            index: INDEX_SLOTS.fill(IndexEntry::EMPTY),
            scratch: SCRATCH_SLOTS.fill(IndexEntry::EMPTY),
            receivers: RECEIVER_SLOTS.fill(ReceiverSlot::EMPTY),
        })
    }
}
