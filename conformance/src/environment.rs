//! What a runner lends the suite besides the conduit: RX/TX buffers and pages of its memory to
//! share, in object-safe forms the [`crate::Context`] can hold, and the adapters that let the
//! guest driver use them.

use ffa_core::Conduit;
use ffa_guest_driver::Buffers;

/// RX/TX buffers the runner lends the suite (the object-safe form of
/// [`ffa_guest_driver::Buffers`]; every `Buffers` is one).
///
/// The suite maps them with FFA_RXTX_MAP at the start of each check that needs them and unmaps
/// them at its end, so between checks they are not mapped.
pub trait SuiteBuffers {
    /// Address of the TX buffer as the implementation sees it (IPA or PA).
    fn tx_address(&self) -> u64;
    /// Address of the RX buffer.
    fn rx_address(&self) -> u64;
    /// Size in bytes of each (a multiple of 4 KiB, at least what FFA_FEATURES asks for).
    fn size(&self) -> usize;
    /// Runs `access` once on the TX buffer's bytes.
    fn access_tx(&mut self, access: &mut dyn FnMut(&mut [u8]));
    /// Runs `access` once on the RX buffer's bytes.
    fn access_rx(&mut self, access: &mut dyn FnMut(&[u8]));
}

impl<B: Buffers> SuiteBuffers for B {
    fn tx_address(&self) -> u64 {
        Buffers::tx_address(self)
    }

    fn rx_address(&self) -> u64 {
        Buffers::rx_address(self)
    }

    fn size(&self) -> usize {
        Buffers::size(self)
    }

    fn access_tx(&mut self, access: &mut dyn FnMut(&mut [u8])) {
        self.with_tx(access);
    }

    fn access_rx(&mut self, access: &mut dyn FnMut(&[u8])) {
        self.with_rx(access);
    }
}

/// An access to the suite's memory that the endpoint's stage 2 refused (a fault the runner
/// caught).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessFault;

/// Pages of the runner's memory the suite may share, lend and donate, and access to them.
///
/// Pages are numbered from 0; the suite picks every other page where it wants a non-contiguous
/// buffer. Pages a check donates are not given back, so donation checks use the last pages.
pub trait SuiteMemory {
    /// How many pages there are.
    fn page_count(&self) -> usize;
    /// The address of page `index` as the implementation sees it in descriptors.
    fn page_address(&self, index: usize) -> Option<u64>;
    /// Reads `bytes.len()` bytes at `address` (inside the pages).
    fn read(&mut self, address: u64, bytes: &mut [u8]) -> Result<(), AccessFault>;
    /// Writes `bytes` at `address`.
    fn write(&mut self, address: u64, bytes: &[u8]) -> Result<(), AccessFault>;
    /// Whether an access the stage 2 refuses comes back as [`AccessFault`] (a model) instead
    /// of stopping the endpoint (hardware). Checks that touch memory they should no longer
    /// reach are skipped when it does not.
    fn survives_faults(&self) -> bool;
    /// The address of a page the endpoint owns but may share only read-only (its memory map
    /// says so), outside the pages above, if the runner has one; the read-only checks
    /// (matrix MM13) skip without it.
    fn read_only_page(&self) -> Option<u64> {
        None
    }
}

/// The suite's conduit as the driver's conduit.
pub(crate) struct Link<'a>(pub(crate) &'a mut dyn Conduit);

impl Conduit for Link<'_> {
    fn call(&mut self, registers: [u64; 18]) -> [u64; 18] {
        self.0.call(registers)
    }
}

/// The runner's buffers as the driver's buffers.
pub(crate) struct Lent<'a>(pub(crate) &'a mut dyn SuiteBuffers);

impl Buffers for Lent<'_> {
    fn tx_address(&self) -> u64 {
        self.0.tx_address()
    }

    fn rx_address(&self) -> u64 {
        self.0.rx_address()
    }

    fn size(&self) -> usize {
        self.0.size()
    }

    fn with_tx<R>(&mut self, access: impl FnOnce(&mut [u8]) -> R) -> R {
        let mut access = Some(access);
        let mut result = None;
        self.0.access_tx(&mut |bytes| {
            if let Some(access) = access.take() {
                result = Some(access(bytes));
            }
        });
        match (result, access) {
            (Some(result), _) => result,
            // A runner that never ran the access: the driver sees an empty buffer and fails.
            (None, Some(access)) => access(&mut []),
            (None, None) => unreachable!("the access ran, so it left a result"),
        }
    }

    fn with_rx<R>(&mut self, access: impl FnOnce(&[u8]) -> R) -> R {
        let mut access = Some(access);
        let mut result = None;
        self.0.access_rx(&mut |bytes| {
            if let Some(access) = access.take() {
                result = Some(access(bytes));
            }
        });
        match (result, access) {
            (Some(result), _) => result,
            (None, Some(access)) => access(&[]),
            (None, None) => unreachable!("the access ran, so it left a result"),
        }
    }
}
