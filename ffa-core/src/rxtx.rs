//! FFA_RXTX_MAP arguments and the endpoint RX/TX descriptor a hypervisor forwards (§6).

use crate::FfaError;

/// The 4 KiB FF-A page.
pub const PAGE_SIZE: u64 = 4096;

/// FFA_RXTX_MAP `x1`-`w3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RxtxMapArgs {
    /// The caller maps its own buffers.
    Buffers {
        /// TX buffer address (x1), 4 KiB aligned.
        tx_address: u64,
        /// RX buffer address (x2), 4 KiB aligned, different from TX.
        rx_address: u64,
        /// Size of each buffer in 4 KiB pages (w3), at least 1.
        page_count: u32,
    },
    /// x1 = x2 = x3 = 0: a hypervisor forwards a VM's buffers, described by an
    /// [`EndpointRxTxDescriptor`] in the hypervisor's TX buffer (single source: Hafnium).
    Forwarded,
}

impl RxtxMapArgs {
    /// Checks the registers: unaligned addresses, TX = RX or a zero page count are
    /// INVALID_PARAMETERS (matrix D15, D16); all three zero is the forwarded form.
    pub fn decode(tx_address: u64, rx_address: u64, page_count: u32) -> Result<Self, FfaError> {
        if tx_address == 0 && rx_address == 0 && page_count == 0 {
            return Ok(Self::Forwarded);
        }
        if page_count == 0
            || tx_address % PAGE_SIZE != 0
            || rx_address % PAGE_SIZE != 0
            || tx_address == rx_address
        {
            return Err(FfaError::InvalidParameters);
        }
        Ok(Self::Buffers { tx_address, rx_address, page_count })
    }

    /// The (x1, x2, w3) registers.
    pub const fn encode(self) -> (u64, u64, u32) {
        match self {
            Self::Buffers { tx_address, rx_address, page_count } => {
                (tx_address, rx_address, page_count)
            }
            Self::Forwarded => (0, 0, 0),
        }
    }
}
