//! The RX/TX buffer pair a kernel lends the driver: addresses for FFA_RXTX_MAP, bytes to use.

/// The RX/TX buffers: two distinct, equally sized, page-aligned regions of memory the kernel
/// owns, whose physical (or intermediate physical) addresses the driver passes to FFA_RXTX_MAP.
///
/// Access goes through closures so that an implementation can form the slice fresh for each
/// access (the partition manager writes RX between calls), and so host tests can back the
/// buffers with shared cells.
pub trait Buffers {
    /// Physical or IPA address of the TX buffer (the driver writes, the callee reads).
    fn tx_address(&self) -> u64;
    /// Physical or IPA address of the RX buffer (the callee writes, the driver reads).
    fn rx_address(&self) -> u64;
    /// Size in bytes of each buffer (a multiple of 4 KiB).
    fn size(&self) -> usize;
    /// Runs `access` on the TX buffer's bytes (`size()` long).
    fn with_tx<R>(&mut self, access: impl FnOnce(&mut [u8]) -> R) -> R;
    /// Runs `access` on the RX buffer's bytes (`size()` long).
    fn with_rx<R>(&mut self, access: impl FnOnce(&[u8]) -> R) -> R;
}

/// What FFA_FEATURES(FFA_RXTX_MAP) asks of the buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferRequirements {
    /// Minimum size in bytes of each buffer, which is also the required address alignment.
    pub minimum_size: usize,
    /// Largest size in 4 KiB pages (v1.2), `None` for no limit.
    pub maximum_pages: Option<u16>,
}

impl BufferRequirements {
    /// Checks a proposed buffer size and addresses; the reason on failure.
    pub fn check(
        &self,
        tx_address: u64,
        rx_address: u64,
        size: usize,
    ) -> Result<u32, &'static str> {
        let alignment = self.minimum_size as u64;
        if size < self.minimum_size {
            return Err("buffers smaller than the minimum FFA_FEATURES asks for");
        }
        if size % ffa_core::rxtx::PAGE_SIZE as usize != 0 {
            return Err("buffer size is not a multiple of 4 KiB");
        }
        if tx_address % alignment != 0 || rx_address % alignment != 0 {
            return Err("buffer address not aligned to the minimum buffer size");
        }
        if tx_address == rx_address {
            return Err("TX and RX buffers are the same");
        }
        let pages = u32::try_from(size / ffa_core::rxtx::PAGE_SIZE as usize)
            .map_err(|_| "buffer too large")?;
        if let Some(maximum) = self.maximum_pages {
            if pages > u32::from(maximum) {
                return Err("buffers larger than the maximum FFA_FEATURES allows");
            }
        }
        let size_bytes = size as u64;
        let tx_end = tx_address.checked_add(size_bytes).ok_or("TX buffer wraps")?;
        let rx_end = rx_address.checked_add(size_bytes).ok_or("RX buffer wraps")?;
        if tx_address < rx_end && rx_address < tx_end {
            return Err("TX and RX buffers overlap");
        }
        Ok(pages)
    }
}

/// Buffers backed by two borrowed slices, with the addresses the partition manager should use.
///
/// Suits host tests and kernels whose buffers are statically mapped and identity-addressed;
/// a kernel whose RX buffer is written by a partition manager on another core should form the
/// slice inside [`Buffers::with_rx`] instead of holding it.
#[derive(Debug)]
pub struct SliceBuffers<'a> {
    tx: &'a mut [u8],
    rx: &'a mut [u8],
    tx_address: u64,
    rx_address: u64,
}

impl<'a> SliceBuffers<'a> {
    /// Buffers over `tx` and `rx`, which must have the same length.
    pub fn new(
        tx: &'a mut [u8],
        tx_address: u64,
        rx: &'a mut [u8],
        rx_address: u64,
    ) -> Option<Self> {
        (tx.len() == rx.len()).then_some(Self { tx, rx, tx_address, rx_address })
    }
}

impl Buffers for SliceBuffers<'_> {
    fn tx_address(&self) -> u64 {
        self.tx_address
    }
    fn rx_address(&self) -> u64 {
        self.rx_address
    }
    fn size(&self) -> usize {
        self.tx.len()
    }
    fn with_tx<R>(&mut self, access: impl FnOnce(&mut [u8]) -> R) -> R {
        access(self.tx)
    }
    fn with_rx<R>(&mut self, access: impl FnOnce(&[u8]) -> R) -> R {
        access(self.rx)
    }
}
