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

/// Table "Endpoint RX/TX descriptor" (hypervisor-forwarded FFA_RXTX_MAP, 16 bytes).
#[derive(
    zerocopy::FromBytes,
    zerocopy::IntoBytes,
    zerocopy::KnownLayout,
    zerocopy::Immutable,
    zerocopy::Unaligned,
)]
#[repr(C)]
struct EndpointRxTxDescriptorWire {
    endpoint: zerocopy::little_endian::U16,
    reserved: zerocopy::little_endian::U16,
    rx_offset: zerocopy::little_endian::U32,
    tx_offset: zerocopy::little_endian::U32,
    padding: zerocopy::little_endian::U32,
}
const _: () = assert!(size_of::<EndpointRxTxDescriptorWire>() == 16);

/// Table "Composite memory region descriptor" header followed by one constituent (32 bytes).
#[derive(
    zerocopy::FromBytes,
    zerocopy::IntoBytes,
    zerocopy::KnownLayout,
    zerocopy::Immutable,
    zerocopy::Unaligned,
)]
#[repr(C)]
struct SingleRangeCompositeWire {
    total_page_count: zerocopy::little_endian::U32,
    range_count: zerocopy::little_endian::U32,
    reserved: zerocopy::little_endian::U64,
    address: zerocopy::little_endian::U64,
    page_count: zerocopy::little_endian::U32,
    range_reserved: zerocopy::little_endian::U32,
}
const _: () = assert!(size_of::<SingleRangeCompositeWire>() == 32);

/// A buffer named by a forwarded RXTX_MAP: its (intermediate) physical address and pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ForwardedBuffer {
    /// 4 KiB-aligned address.
    pub address: u64,
    /// 4 KiB pages.
    pub page_count: u32,
}

/// The endpoint RX/TX descriptor a hypervisor places in its TX buffer when it forwards a VM's
/// FFA_RXTX_MAP (single source: Hafnium), checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EndpointRxTxDescriptor {
    /// The VM whose buffers are mapped.
    pub endpoint: crate::EndpointId,
    /// Its RX buffer.
    pub rx: ForwardedBuffer,
    /// Its TX buffer.
    pub tx: ForwardedBuffer,
}

fn forwarded_buffer(bytes: &[u8], offset: u32) -> Result<ForwardedBuffer, FfaError> {
    let invalid = FfaError::InvalidParameters;
    let offset = usize::try_from(offset).map_err(|_| invalid)?;
    if offset % 8 != 0 || offset < size_of::<EndpointRxTxDescriptorWire>() {
        return Err(invalid);
    }
    let composite = bytes.get(offset..).ok_or(invalid)?;
    let (wire, _) = zerocopy::FromBytes::ref_from_prefix(composite).map_err(|_| invalid)?;
    let wire: &SingleRangeCompositeWire = wire;
    // Only single-range buffers are accepted; reserved fields are MBZ.
    if wire.range_count.get() != 1
        || wire.reserved.get() != 0
        || wire.range_reserved.get() != 0
        || wire.page_count.get() == 0
        || wire.page_count.get() != wire.total_page_count.get()
        || wire.address.get() % PAGE_SIZE != 0
    {
        return Err(invalid);
    }
    Ok(ForwardedBuffer { address: wire.address.get(), page_count: wire.page_count.get() })
}

fn composite_wire(buffer: ForwardedBuffer) -> SingleRangeCompositeWire {
    use zerocopy::little_endian::{U32, U64};
    SingleRangeCompositeWire {
        total_page_count: U32::new(buffer.page_count),
        range_count: U32::new(1),
        reserved: U64::new(0),
        address: U64::new(buffer.address),
        page_count: U32::new(buffer.page_count),
        range_reserved: U32::new(0),
    }
}

impl EndpointRxTxDescriptor {
    /// Bytes [`Self::write`] produces: the descriptor, then the RX and the TX composite.
    pub const WRITTEN_SIZE: usize =
        size_of::<EndpointRxTxDescriptorWire>() + 2 * size_of::<SingleRangeCompositeWire>();

    /// Writes the descriptor with its RX composite at offset 16 and its TX composite at 48
    /// (what a hypervisor places in its TX buffer); returns the length
    /// ([`Self::WRITTEN_SIZE`]). A buffer shorter than that, a zero page count or an
    /// unaligned address is INVALID_PARAMETERS.
    pub fn write(&self, out: &mut [u8]) -> Result<usize, FfaError> {
        use zerocopy::little_endian::{U16, U32};
        use zerocopy::IntoBytes;
        let invalid = FfaError::InvalidParameters;
        for buffer in [self.rx, self.tx] {
            if buffer.page_count == 0 || buffer.address % PAGE_SIZE != 0 {
                return Err(invalid);
            }
        }
        let header_size = size_of::<EndpointRxTxDescriptorWire>();
        let composite_size = size_of::<SingleRangeCompositeWire>();
        let rx_offset = header_size;
        let tx_offset = header_size + composite_size;
        let header = EndpointRxTxDescriptorWire {
            endpoint: U16::new(self.endpoint.0),
            reserved: U16::new(0),
            rx_offset: U32::new(u32::try_from(rx_offset).map_err(|_| invalid)?),
            tx_offset: U32::new(u32::try_from(tx_offset).map_err(|_| invalid)?),
            padding: U32::new(0),
        };
        let out = out.get_mut(..Self::WRITTEN_SIZE).ok_or(invalid)?;
        let (header_bytes, rest) = out.split_at_mut_checked(header_size).ok_or(invalid)?;
        let (rx_bytes, tx_bytes) = rest.split_at_mut_checked(composite_size).ok_or(invalid)?;
        header_bytes.copy_from_slice(header.as_bytes());
        rx_bytes.copy_from_slice(composite_wire(self.rx).as_bytes());
        tx_bytes.copy_from_slice(composite_wire(self.tx).as_bytes());
        Ok(Self::WRITTEN_SIZE)
    }

    /// Parses the descriptor at the start of the hypervisor's TX buffer. Reserved fields set,
    /// offsets not 8-aligned or outside `bytes`, or composites with other than one range are
    /// INVALID_PARAMETERS.
    pub fn parse(bytes: &[u8]) -> Result<Self, FfaError> {
        let invalid = FfaError::InvalidParameters;
        let (wire, _) = <EndpointRxTxDescriptorWire as zerocopy::FromBytes>::ref_from_prefix(bytes)
            .map_err(|_| invalid)?;
        if wire.reserved.get() != 0 || wire.padding.get() != 0 {
            return Err(invalid);
        }
        Ok(Self {
            endpoint: crate::EndpointId(wire.endpoint.get()),
            rx: forwarded_buffer(bytes, wire.rx_offset.get())?,
            tx: forwarded_buffer(bytes, wire.tx_offset.get())?,
        })
    }
}

#[cfg(test)]
// Tests may unwrap: a panic is a test failure.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn map_arguments_are_checked() {
        assert_eq!(RxtxMapArgs::decode(0, 0, 0), Ok(RxtxMapArgs::Forwarded));
        assert_eq!(RxtxMapArgs::decode(0x1100, 0x2000, 1), Err(FfaError::InvalidParameters));
        assert_eq!(RxtxMapArgs::decode(0x1000, 0x2000, 0), Err(FfaError::InvalidParameters));
        assert_eq!(RxtxMapArgs::decode(0x1000, 0x1000, 1), Err(FfaError::InvalidParameters));
    }

    #[test]
    fn forwarded_descriptor_parses_and_rejects_reserved_bits() {
        let mut bytes = [0u8; 80];
        bytes[0..2].copy_from_slice(&5u16.to_le_bytes());
        bytes[4..8].copy_from_slice(&16u32.to_le_bytes());
        bytes[8..12].copy_from_slice(&48u32.to_le_bytes());
        for (offset, address) in [(16usize, 0x8000_0000u64), (48, 0x8000_1000)] {
            bytes[offset..offset + 4].copy_from_slice(&1u32.to_le_bytes());
            bytes[offset + 4..offset + 8].copy_from_slice(&1u32.to_le_bytes());
            bytes[offset + 16..offset + 24].copy_from_slice(&address.to_le_bytes());
            bytes[offset + 24..offset + 28].copy_from_slice(&1u32.to_le_bytes());
        }
        let descriptor = EndpointRxTxDescriptor::parse(&bytes).unwrap();
        assert_eq!(descriptor.endpoint, crate::EndpointId(5));
        assert_eq!(descriptor.rx, ForwardedBuffer { address: 0x8000_0000, page_count: 1 });
        assert_eq!(descriptor.tx.address, 0x8000_1000);
        let mut bad = bytes;
        bad[2] = 1;
        assert_eq!(EndpointRxTxDescriptor::parse(&bad), Err(FfaError::InvalidParameters));
        let mut bad = bytes;
        bad[8] = 60;
        assert_eq!(EndpointRxTxDescriptor::parse(&bad), Err(FfaError::InvalidParameters));
        assert_eq!(EndpointRxTxDescriptor::parse(&bytes[..60]), Err(FfaError::InvalidParameters));
    }

    #[test]
    fn a_written_descriptor_parses_back_and_short_buffers_are_refused() {
        let descriptor = EndpointRxTxDescriptor {
            endpoint: crate::EndpointId(7),
            rx: ForwardedBuffer { address: 0x8800_0000, page_count: 2 },
            tx: ForwardedBuffer { address: 0x8800_4000, page_count: 2 },
        };
        let mut out = [0xAAu8; 96];
        assert_eq!(descriptor.write(&mut out), Ok(EndpointRxTxDescriptor::WRITTEN_SIZE));
        assert_eq!(EndpointRxTxDescriptor::parse(&out), Ok(descriptor));
        assert_eq!(out[EndpointRxTxDescriptor::WRITTEN_SIZE..], [0xAA; 16], "nothing past it");
        assert_eq!(descriptor.write(&mut out[..79]), Err(FfaError::InvalidParameters));
        let unaligned = EndpointRxTxDescriptor {
            rx: ForwardedBuffer { address: 0x10, page_count: 1 },
            ..descriptor
        };
        assert_eq!(unaligned.write(&mut out), Err(FfaError::InvalidParameters));
    }
}
