//! Writing memory transaction descriptors piece by piece: the header part for a known total,
//! and constituents straight from the ledger, so no descriptor is ever held whole.

use ffa_core::memory::{
    build_transaction, AddressRange, Layout, ReceiverAccess, TransactionFields,
};
use ffa_core::{FfaError, Version};
use memory_sharing::{Ledger, RangeCursor};
use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Composite memory region descriptor (reference §7.4, "Composite", 16 bytes): its count field
/// is rewritten after the header is built for a placeholder range.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct CompositeMemoryRegionDescriptor {
    total_page_count: U32,
    address_range_count: U32,
    reserved_8: U64,
}
const _: () = assert!(size_of::<CompositeMemoryRegionDescriptor>() == 16);

/// Constituent memory region descriptor (reference §7.4, "Constituent", 16 bytes).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct ConstituentMemoryRegionDescriptor {
    address: U64,
    page_count: U32,
    reserved_12: U32,
}
const _: () = assert!(size_of::<ConstituentMemoryRegionDescriptor>() == 16);

/// Bytes per constituent.
pub(crate) const CONSTITUENT_SIZE: usize = 16;

/// Constituents staged on the stack per write.
const STAGED_RANGES: usize = 32;

/// The descriptor layout an endpoint at `version` reads and writes.
pub(crate) fn layout_of(version: Version) -> Layout {
    if version < Version::V1_1 {
        Layout::V1_0
    } else if version < Version::V1_2 {
        Layout::V1_1
    } else {
        Layout::V1_2
    }
}

/// Length of the header part our descriptors have: header, EMADs, composite.
pub(crate) fn header_length(layout: Layout, receiver_count: usize) -> usize {
    layout.header_size() + receiver_count * layout.access_descriptor_size() + CONSTITUENT_SIZE
}

/// Writes the header part of a descriptor with `range_count` constituents adding up to
/// `total_page_count` pages into `out`; returns its length. INVALID_PARAMETERS when the total
/// does not fit the composite's 32 bits, NO_MEMORY when `out` is too short.
pub(crate) fn write_header(
    out: &mut [u8],
    layout: Layout,
    fields: &TransactionFields,
    receivers: &[ReceiverAccess],
    total_page_count: u64,
    range_count: u32,
) -> Result<usize, FfaError> {
    let placeholder = AddressRange {
        address: 0,
        page_count: u32::try_from(total_page_count).map_err(|_| FfaError::InvalidParameters)?,
    };
    let with_placeholder = build_transaction(out, layout, fields, receivers, &[placeholder])?;
    let length = with_placeholder.checked_sub(CONSTITUENT_SIZE).ok_or(FfaError::NoMemory)?;
    let composite_start = length.checked_sub(CONSTITUENT_SIZE).ok_or(FfaError::NoMemory)?;
    let bytes = out.get_mut(composite_start..length).ok_or(FfaError::NoMemory)?;
    let composite =
        CompositeMemoryRegionDescriptor::mut_from_bytes(bytes).map_err(|_| FfaError::NoMemory)?;
    composite.address_range_count = U32::new(range_count);
    Ok(length)
}

/// Reads up to `count` constituents at `cursor` from the ledger and hands them to `write` as
/// descriptor bytes, with the offset (from `offset` on) each batch goes to. Returns how many
/// were written.
pub(crate) fn write_ranges(
    ledger: &Ledger<'_>,
    cursor: &mut RangeCursor,
    count: usize,
    offset: usize,
    write: &mut impl FnMut(usize, &[u8]) -> Result<(), FfaError>,
) -> Result<usize, FfaError> {
    let mut ranges = [AddressRange { address: 0, page_count: 0 }; STAGED_RANGES];
    let mut bytes = [0u8; STAGED_RANGES * CONSTITUENT_SIZE];
    let mut written = 0;
    while written < count {
        let wanted = (count - written).min(STAGED_RANGES);
        let batch = ranges.get_mut(..wanted).ok_or(FfaError::NoMemory)?;
        let read = ledger.read_ranges(cursor, batch)?;
        if read == 0 {
            break;
        }
        for (range, slot) in batch.iter().take(read).zip(bytes.chunks_exact_mut(CONSTITUENT_SIZE)) {
            ConstituentMemoryRegionDescriptor {
                address: U64::new(range.address),
                page_count: U32::new(range.page_count),
                reserved_12: U32::ZERO,
            }
            .write_to(slot)
            .map_err(|_| FfaError::NoMemory)?;
        }
        let length = read * CONSTITUENT_SIZE;
        let at = offset + written * CONSTITUENT_SIZE;
        write(at, bytes.get(..length).ok_or(FfaError::NoMemory)?)?;
        written += read;
    }
    Ok(written)
}
