//! A memory-sharing ledger's slots in a `static`: in .bss, made valid in place at boot.
//!
//! `memory_sharing::Pools::new()` handed to `spin::Once::call_once` is built on the boot
//! CPU's stack and then moved (with 320 constituents, 17 KiB, more than once: the SPMC's
//! set-up took 48 KiB of stack and the hypervisor's 52 KiB), and a constant initialiser would
//! put the slots' non-zero empty values in .data. [`LedgerSlots`] is uninitialised memory in
//! .bss whose slots [`LedgerSlots::take`] writes one by one.

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicBool, Ordering};

use memory_sharing::{IndexEntry, LedgerStorage, RangeSlot, ReceiverSlot, Region, TransactionSlot};

/// `N` slots of `T`, uninitialised until `fill`.
struct Slots<T, const N: usize>(UnsafeCell<[MaybeUninit<T>; N]>);

impl<T: Copy, const N: usize> Slots<T, N> {
    const fn new() -> Self {
        Self(UnsafeCell::new([const { MaybeUninit::uninit() }; N]))
    }

    /// Writes `value` into every slot and lends them all out.
    ///
    /// # Safety
    /// At most once per object (the slice is exclusive for `'a`).
    #[allow(clippy::mut_from_ref, reason = "the slots are in an UnsafeCell and lent out once")]
    unsafe fn fill(&self, value: T) -> &mut [T] {
        // SAFETY: the caller guarantees nothing else refers to the slots.
        let slots = unsafe { &mut *self.0.get() };
        for slot in slots.iter_mut() {
            slot.write(value);
        }
        // SAFETY: every element was just initialised, and `MaybeUninit<T>` has `T`'s layout.
        unsafe { &mut *(slots as *mut [MaybeUninit<T>; N] as *mut [T; N]) }
    }
}

/// A ledger's storage: `REGIONS` memory-map entries, `TRANSACTIONS` transactions, `RANGES`
/// constituents of all transactions together (with as many index and sort entries, 48 bytes
/// each in all; `RANGES` is also the most one transaction may have) and `RECEIVERS` receivers.
/// Use it in a `static` and [`take`](Self::take) it once.
pub struct LedgerSlots<
    const REGIONS: usize,
    const TRANSACTIONS: usize,
    const RANGES: usize,
    const RECEIVERS: usize,
> {
    regions: Slots<Region, REGIONS>,
    transactions: Slots<TransactionSlot, TRANSACTIONS>,
    ranges: Slots<RangeSlot, RANGES>,
    index: Slots<IndexEntry, RANGES>,
    scratch: Slots<IndexEntry, RANGES>,
    receivers: Slots<ReceiverSlot, RECEIVERS>,
    taken: AtomicBool,
}

// SAFETY: the slots are reached only through `take`, which lends them out once.
unsafe impl<const G: usize, const T: usize, const R: usize, const V: usize> Sync
    for LedgerSlots<G, T, R, V>
{
}

impl<const G: usize, const T: usize, const R: usize, const V: usize> core::fmt::Debug
    for LedgerSlots<G, T, R, V>
{
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter
            .debug_struct("LedgerSlots")
            .field("taken", &self.taken.load(Ordering::Relaxed))
            .finish()
    }
}

impl<
        const REGIONS: usize,
        const TRANSACTIONS: usize,
        const RANGES: usize,
        const RECEIVERS: usize,
    > LedgerSlots<REGIONS, TRANSACTIONS, RANGES, RECEIVERS>
{
    /// Uninitialised slots (for a `static`, which then takes no .data).
    pub const fn new() -> Self {
        Self {
            regions: Slots::new(),
            transactions: Slots::new(),
            ranges: Slots::new(),
            index: Slots::new(),
            scratch: Slots::new(),
            receivers: Slots::new(),
            taken: AtomicBool::new(false),
        }
    }

    /// The ledger's storage, every slot empty; `None` after the first call.
    pub fn take(&self) -> Option<LedgerStorage<'_>> {
        if self.taken.swap(true, Ordering::Relaxed) {
            return None;
        }
        // SAFETY: `taken` lets this run once per object, so each pool is filled and lent out
        // once.
        unsafe {
            Some(LedgerStorage {
                regions: self.regions.fill(Region::EMPTY),
                transactions: self.transactions.fill(TransactionSlot::EMPTY),
                ranges: self.ranges.fill(RangeSlot::EMPTY),
                index: self.index.fill(IndexEntry::EMPTY),
                scratch: self.scratch.fill(IndexEntry::EMPTY),
                receivers: self.receivers.fill(ReceiverSlot::EMPTY),
            })
        }
    }
}

impl<const G: usize, const T: usize, const R: usize, const V: usize> Default
    for LedgerSlots<G, T, R, V>
{
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_lent_out_once_with_every_slot_empty() {
        let slots: LedgerSlots<2, 3, 5, 7> = LedgerSlots::new();
        let storage = slots.take().expect("the first take");
        assert_eq!(storage.regions.len(), 2);
        assert_eq!(storage.transactions.len(), 3);
        assert_eq!((storage.ranges.len(), storage.index.len(), storage.scratch.len()), (5, 5, 5));
        assert_eq!(storage.receivers.len(), 7);
        assert!(storage.regions.iter().all(|region| *region == Region::EMPTY));
        assert!(storage.index.iter().all(|entry| *entry == IndexEntry::EMPTY));
        assert!(slots.take().is_none(), "lent out once");
    }
}
