//! What VM 1 lends the conformance suite: RX/TX buffers of its own, a region of its RAM past
//! the image to share, lend and donate, with accesses that detect the hypervisor's skipped
//! stage-2 faults, and the one page of its RAM it may only read (for the MM13 checks).

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

use conformance::{AccessFault, SuiteMemory};
use ffa_guest_driver::Buffers;

const PAGE_SIZE: usize = 4096;
/// The VM's RAM (IPA 0x4000_0000, 16 MiB): the image sits at its start, the suite's pages at
/// its second half, on a 2 MiB boundary.
const SUITE_MEMORY_BASE: u64 = 0x4080_0000;
/// Pages the suite may share: 4 MiB (the fragmentation check needs 664).
const SUITE_MEMORY_PAGES: usize = 1024;
/// The page the hypervisor maps read-only and the forwarder's ledger marks read-only: the last
/// page of the RAM, past the suite's pages (docs/src/memory-map.md).
const READ_ONLY_PAGE: u64 = 0x4000_0000 + platform_common::grantable::GUEST_READ_ONLY_PAGE;
const _: () = assert!(
    READ_ONLY_PAGE >= SUITE_MEMORY_BASE + (SUITE_MEMORY_PAGES * PAGE_SIZE) as u64
        && READ_ONLY_PAGE < 0x4000_0000 + (16 << 20)
);
/// Two values a load from an unreachable page leaves in its register: the hypervisor skips the
/// load, so two loads of one word that each keep their own preset value were both skipped (a
/// load that ran returns the same word twice, which cannot equal both).
const UNTOUCHED: [u64; 2] = [0xDEAD_BEEF_0BAD_F00D, 0x0123_4567_89AB_CDEF];

extern "C" {
    /// The end of the image (code, data, .bss and stack), from the linker script.
    static __image_end: u8;
}

#[repr(C, align(4096))]
struct Page(UnsafeCell<[u8; PAGE_SIZE]>);

// SAFETY: the pages are reached only through the one `SuiteBuffers` `take` hands out.
unsafe impl Sync for Page {}

static TRANSMIT: Page = Page(UnsafeCell::new([0; PAGE_SIZE]));
static RECEIVE: Page = Page(UnsafeCell::new([0; PAGE_SIZE]));
static TAKEN: AtomicBool = AtomicBool::new(false);

/// The suite's RX/TX pages (not the demo's: the suite maps and unmaps them per check). The VM
/// runs with its MMU off, so their addresses are its IPAs.
#[derive(Debug)]
pub struct SuiteBuffers(());

impl SuiteBuffers {
    /// The buffers, the first time only.
    pub fn take() -> Option<Self> {
        (!TAKEN.swap(true, Ordering::AcqRel)).then_some(Self(()))
    }
}

impl Buffers for SuiteBuffers {
    fn tx_address(&self) -> u64 {
        TRANSMIT.0.get() as u64
    }

    fn rx_address(&self) -> u64 {
        RECEIVE.0.get() as u64
    }

    fn size(&self) -> usize {
        PAGE_SIZE
    }

    fn with_tx<R>(&mut self, access: impl FnOnce(&mut [u8]) -> R) -> R {
        // SAFETY: only this value reaches the TX page (see `take`); `&mut self` keeps the
        // borrow exclusive while the closure runs.
        access(unsafe { &mut *TRANSMIT.0.get() })
    }

    fn with_rx<R>(&mut self, access: impl FnOnce(&[u8]) -> R) -> R {
        // SAFETY: the hypervisor writes RX only while the VM is stopped in a call, never while
        // this closure runs; the slice does not outlive it.
        access(unsafe { &*RECEIVE.0.get() })
    }
}

/// Loads the aligned word at `address` twice, each time into a register preset to one of
/// [`UNTOUCHED`]; `None` when both loads kept their preset (the hypervisor skipped them: the
/// page is not mapped, it is lent or donated).
fn load(address: u64) -> Option<u64> {
    let (first, second): (u64, u64);
    // SAFETY: `address` is an aligned word of the suite's region of this VM's RAM (checked by
    // the callers): either the page is mapped and the loads read it, or the hypervisor takes
    // the stage-2 fault, skips the load and resumes after it.
    unsafe {
        core::arch::asm!(
            "ldr {first}, [{address}]",
            "ldr {second}, [{address}]",
            first = inout(reg) UNTOUCHED[0] => first,
            second = inout(reg) UNTOUCHED[1] => second,
            address = in(reg) address,
            options(nostack, readonly)
        );
    }
    if [first, second] == UNTOUCHED {
        None
    } else {
        // A load that ran: both read the same word (nothing else writes it meanwhile; a
        // partition borrowing it runs only while this VM waits in a call).
        Some(first)
    }
}

/// The region of VM RAM the suite shares: page `n` at `SUITE_MEMORY_BASE + n * 4 KiB`.
#[derive(Debug)]
pub struct SuiteRam(());

impl SuiteRam {
    /// The region, when the image ends below it (else the suite runs without memory).
    pub fn new() -> Option<Self> {
        // Only the symbol's address is taken, never its value.
        let image_end = core::ptr::addr_of!(__image_end) as u64;
        (image_end <= SUITE_MEMORY_BASE).then_some(Self(()))
    }

    /// The aligned words covering `length` bytes at `address`, if they lie in the region.
    fn words(address: u64, length: usize) -> Result<core::ops::Range<u64>, AccessFault> {
        let end = address.checked_add(length as u64).ok_or(AccessFault)?;
        let limit = SUITE_MEMORY_BASE + (SUITE_MEMORY_PAGES * PAGE_SIZE) as u64;
        if address < SUITE_MEMORY_BASE || end > limit {
            return Err(AccessFault);
        }
        Ok((address & !7)..end.next_multiple_of(8))
    }
}

impl SuiteMemory for SuiteRam {
    fn page_count(&self) -> usize {
        SUITE_MEMORY_PAGES
    }

    fn page_address(&self, index: usize) -> Option<u64> {
        (index < SUITE_MEMORY_PAGES).then(|| SUITE_MEMORY_BASE + (index * PAGE_SIZE) as u64)
    }

    fn read(&mut self, address: u64, bytes: &mut [u8]) -> Result<(), AccessFault> {
        for word in Self::words(address, bytes.len())?.step_by(8) {
            let value = load(word).ok_or(AccessFault)?.to_le_bytes();
            for (offset, byte) in value.iter().enumerate() {
                let at = word + offset as u64;
                if let Some(slot) = at.checked_sub(address).and_then(|i| bytes.get_mut(i as usize))
                {
                    *slot = *byte;
                }
            }
        }
        Ok(())
    }

    fn write(&mut self, address: u64, bytes: &[u8]) -> Result<(), AccessFault> {
        for word in Self::words(address, bytes.len())?.step_by(8) {
            // Read first: a word the VM cannot reach is reported, not written (a store the
            // hypervisor skipped would look like one that happened).
            let mut value = load(word).ok_or(AccessFault)?.to_le_bytes();
            for (offset, byte) in value.iter_mut().enumerate() {
                let at = word + offset as u64;
                if let Some(new) = at.checked_sub(address).and_then(|i| bytes.get(i as usize)) {
                    *byte = *new;
                }
            }
            // SAFETY: an aligned word of the suite's region, mapped read-write (the load just
            // succeeded; the only page mapped read-only, `READ_ONLY_PAGE`, lies past the region).
            unsafe { core::ptr::write_volatile(word as *mut u64, u64::from_le_bytes(value)) };
        }
        Ok(())
    }

    /// The hypervisor skips a faulting access and resumes the VM; the double load in
    /// [`load`] sees that, so refused accesses come back as [`AccessFault`].
    fn survives_faults(&self) -> bool {
        true
    }

    /// The page this VM may only read: the suite only names it in descriptors (`read` and
    /// `write` reach only the pages above).
    fn read_only_page(&self) -> Option<u64> {
        Some(READ_ONLY_PAGE)
    }
}
