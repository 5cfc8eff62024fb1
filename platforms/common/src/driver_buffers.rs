//! RX/TX buffers for ffa-guest-driver in an image's own memory: two static pages, handed out once.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

use ffa_guest_driver::Buffers;

const SIZE: usize = 4096;

#[repr(C, align(4096))]
struct Page(UnsafeCell<[u8; SIZE]>);

// SAFETY: the pages are reached only through the one `StaticBuffers` `take` hands out.
unsafe impl Sync for Page {}

static TRANSMIT: Page = Page(UnsafeCell::new([0; SIZE]));
static RECEIVE: Page = Page(UnsafeCell::new([0; SIZE]));
static TAKEN: AtomicBool = AtomicBool::new(false);

/// The RX/TX pages. The test VMs and partitions run with their MMU off, so these addresses are
/// what their partition manager sees: a VM's IPAs (the hypervisor translates them), a
/// partition's IPA = PA.
#[derive(Debug)]
pub struct StaticBuffers(());

impl StaticBuffers {
    /// The buffers, the first time only (so no two values reach the same pages).
    pub fn take() -> Option<Self> {
        (!TAKEN.swap(true, Ordering::AcqRel)).then_some(Self(()))
    }
}

impl Buffers for StaticBuffers {
    fn tx_address(&self) -> u64 {
        TRANSMIT.0.get() as u64
    }

    fn rx_address(&self) -> u64 {
        RECEIVE.0.get() as u64
    }

    fn size(&self) -> usize {
        SIZE
    }

    fn with_tx<R>(&mut self, access: impl FnOnce(&mut [u8]) -> R) -> R {
        // SAFETY: only this value reaches the TX page (see `take`), and `&mut self` keeps the
        // borrow exclusive for the closure's duration.
        access(unsafe { &mut *TRANSMIT.0.get() })
    }

    fn with_rx<R>(&mut self, access: impl FnOnce(&[u8]) -> R) -> R {
        // SAFETY: the partition manager writes RX only while this endpoint is stopped in a call,
        // never while this closure runs; the slice does not outlive it.
        access(unsafe { &*RECEIVE.0.get() })
    }
}
