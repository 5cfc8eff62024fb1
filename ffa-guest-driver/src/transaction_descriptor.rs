//! Private wire layout of v1.1 memory transaction descriptors: build (in fragments) and parse.
//!
//! Belongs in ffa-core's memory module once that lands (it is being written on another
//! branch). Layout: reference §7.2-§7.4 and the Linux 6.12 MEM_SHARE descriptor in
//! shared/vectors: a 48-byte header, 16-byte endpoint memory access descriptors, a 16-byte
//! composite descriptor, then 16-byte constituents.

use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::memory::{PageRange, Receiver};

/// Reference §7.2, "Memory transaction descriptor", v1.1 layout (48 bytes).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Debug, Clone, Copy, Default)]
#[repr(C)]
pub(crate) struct MemoryTransactionDescriptor {
    pub(crate) sender: U16,
    pub(crate) attributes: U16,
    pub(crate) flags: U32,
    pub(crate) handle: U64,
    pub(crate) tag: U64,
    pub(crate) access_descriptor_size: U32,
    pub(crate) access_descriptor_count: U32,
    pub(crate) access_descriptor_offset: U32,
    pub(crate) reserved: [u8; 12],
}
const _: () = assert!(size_of::<MemoryTransactionDescriptor>() == 48);

/// Reference §7.3, "Endpoint memory access descriptor", v1.0/v1.1 layout (16 bytes).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Debug, Clone, Copy, Default)]
#[repr(C)]
pub(crate) struct EndpointMemoryAccessDescriptor {
    pub(crate) receiver: U16,
    pub(crate) permissions: u8,
    pub(crate) flags: u8,
    pub(crate) composite_offset: U32,
    pub(crate) reserved: U64,
}
const _: () = assert!(size_of::<EndpointMemoryAccessDescriptor>() == 16);

/// Reference §7.4, "Composite memory region descriptor" (16 bytes).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Debug, Clone, Copy, Default)]
#[repr(C)]
pub(crate) struct CompositeMemoryRegionDescriptor {
    pub(crate) total_page_count: U32,
    pub(crate) address_range_count: U32,
    pub(crate) reserved: U64,
}
const _: () = assert!(size_of::<CompositeMemoryRegionDescriptor>() == 16);

/// Reference §7.4, "Constituent memory region descriptor" (16 bytes).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Debug, Clone, Copy, Default)]
#[repr(C)]
pub(crate) struct ConstituentMemoryRegionDescriptor {
    pub(crate) address: U64,
    pub(crate) page_count: U32,
    pub(crate) reserved: U32,
}
const _: () = assert!(size_of::<ConstituentMemoryRegionDescriptor>() == 16);

/// Reference §7.8, the FFA_MEM_RELINQUISH descriptor header (16 bytes; endpoint IDs follow).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Debug, Clone, Copy, Default)]
#[repr(C)]
pub(crate) struct RelinquishDescriptor {
    pub(crate) handle: U64,
    pub(crate) flags: U32,
    pub(crate) endpoint_count: U32,
}
const _: () = assert!(size_of::<RelinquishDescriptor>() == 16);

pub(crate) const HEADER_SIZE: usize = 48;
pub(crate) const ACCESS_DESCRIPTOR_SIZE: usize = 16;
/// Reference §7.5: from v1.2 an endpoint memory access descriptor ends with 16 bytes of
/// implementation-defined value (written as zeros), 32 bytes in all.
pub(crate) const ACCESS_DESCRIPTOR_SIZE_V1_2: usize = 32;

/// The access descriptor size the layout of `version` uses.
pub(crate) fn access_descriptor_size(version: ffa_core::Version) -> usize {
    if version >= ffa_core::Version::V1_2 {
        ACCESS_DESCRIPTOR_SIZE_V1_2
    } else {
        ACCESS_DESCRIPTOR_SIZE
    }
}

/// Writes `access` and zeros up to `size` bytes at the start of `out`.
fn write_access(
    access: &EndpointMemoryAccessDescriptor,
    size: usize,
    out: &mut [u8],
) -> Option<()> {
    let slot = out.get_mut(..size)?;
    slot.fill(0);
    access.write_to_prefix(slot).ok()
}
pub(crate) const COMPOSITE_SIZE: usize = 16;
pub(crate) const CONSTITUENT_SIZE: usize = 16;

/// A memory send descriptor, produced fragment by fragment so it never has to exist whole.
#[derive(Debug)]
pub(crate) struct SendDescriptor<'a> {
    pub(crate) header: MemoryTransactionDescriptor,
    pub(crate) receivers: &'a [Receiver],
    pub(crate) ranges: &'a [PageRange],
    pub(crate) total_pages: u32,
    /// Bytes per access descriptor (by the negotiated version).
    pub(crate) access_descriptor_size: usize,
}

impl SendDescriptor<'_> {
    /// Offset of the composite descriptor: after the header and the access descriptors.
    pub(crate) fn composite_offset(&self) -> usize {
        HEADER_SIZE + self.access_descriptor_size * self.receivers.len()
    }

    /// Bytes up to and including the composite descriptor (always in the first fragment).
    pub(crate) fn fixed_length(&self) -> usize {
        self.composite_offset() + COMPOSITE_SIZE
    }

    /// The whole descriptor's length.
    pub(crate) fn total_length(&self) -> Option<usize> {
        self.ranges.len().checked_mul(CONSTITUENT_SIZE)?.checked_add(self.fixed_length())
    }

    /// Writes the fragment starting at constituent `first` into `out` (with the fixed part
    /// when `first` is 0), whole constituents only. Returns (bytes, constituents) written, or
    /// `None` if `out` cannot hold even the fixed part.
    pub(crate) fn write_fragment(&self, first: usize, out: &mut [u8]) -> Option<(usize, usize)> {
        let mut length = 0;
        if first == 0 {
            let composite_offset = u32::try_from(self.composite_offset()).ok()?;
            let mut header = self.header;
            header.access_descriptor_size = U32::new(self.access_descriptor_size as u32);
            header.access_descriptor_count = U32::new(u32::try_from(self.receivers.len()).ok()?);
            header.access_descriptor_offset = U32::new(HEADER_SIZE as u32);
            header.write_to_prefix(out).ok()?;
            length = HEADER_SIZE;
            for receiver in self.receivers {
                let access = EndpointMemoryAccessDescriptor {
                    receiver: U16::new(receiver.id.0),
                    permissions: receiver.permissions.to_byte(),
                    flags: 0,
                    composite_offset: U32::new(composite_offset),
                    reserved: U64::ZERO,
                };
                write_access(&access, self.access_descriptor_size, out.get_mut(length..)?)?;
                length += self.access_descriptor_size;
            }
            let composite = CompositeMemoryRegionDescriptor {
                total_page_count: U32::new(self.total_pages),
                address_range_count: U32::new(u32::try_from(self.ranges.len()).ok()?),
                reserved: U64::ZERO,
            };
            composite.write_to_prefix(out.get_mut(length..)?).ok()?;
            length += COMPOSITE_SIZE;
        }
        let mut written = 0;
        for range in self.ranges.get(first..)? {
            let Some(slot) = out.get_mut(length..length + CONSTITUENT_SIZE) else { break };
            let constituent = ConstituentMemoryRegionDescriptor {
                address: U64::new(range.address),
                page_count: U32::new(range.page_count),
                reserved: U32::ZERO,
            };
            constituent.write_to_prefix(slot).ok()?;
            length += CONSTITUENT_SIZE;
            written += 1;
        }
        Some((length, written))
    }
}

/// Writes a retrieve request (header and one access descriptor of `access_size` bytes, no
/// composite) into `out`; returns its length.
pub(crate) fn write_retrieve_request(
    header: MemoryTransactionDescriptor,
    receiver: EndpointMemoryAccessDescriptor,
    access_size: usize,
    out: &mut [u8],
) -> Option<usize> {
    let mut header = header;
    header.access_descriptor_size = U32::new(access_size as u32);
    header.access_descriptor_count = U32::new(1);
    header.access_descriptor_offset = U32::new(HEADER_SIZE as u32);
    header.write_to_prefix(out).ok()?;
    write_access(&receiver, access_size, out.get_mut(HEADER_SIZE..)?)?;
    Some(HEADER_SIZE + access_size)
}

/// Writes a relinquish descriptor for one endpoint; returns its length.
pub(crate) fn write_relinquish(handle: u64, endpoint: u16, out: &mut [u8]) -> Option<usize> {
    let descriptor = RelinquishDescriptor {
        handle: U64::new(handle),
        flags: U32::ZERO,
        endpoint_count: U32::new(1),
    };
    descriptor.write_to_prefix(out).ok()?;
    U16::new(endpoint).write_to_prefix(out.get_mut(16..)?).ok()?;
    Some(18)
}

/// What the fixed part of a retrieve response says.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetrievedHeader {
    pub(crate) header: MemoryTransactionDescriptor,
    pub(crate) permissions: u8,
    pub(crate) total_pages: u32,
    pub(crate) range_count: u32,
    /// Offset of the first constituent from the descriptor's start.
    pub(crate) constituents_offset: usize,
}

/// Parses the fixed part of a retrieve response from its first fragment, picking the access
/// descriptor for `receiver`.
pub(crate) fn parse_retrieved_header(
    fragment: &[u8],
    receiver: u16,
) -> Result<RetrievedHeader, &'static str> {
    let (header, _) = MemoryTransactionDescriptor::read_from_prefix(fragment)
        .map_err(|_| "retrieve response shorter than its header")?;
    let size = header.access_descriptor_size.get() as usize;
    let count = header.access_descriptor_count.get() as usize;
    let offset = header.access_descriptor_offset.get() as usize;
    if size < ACCESS_DESCRIPTOR_SIZE || offset < HEADER_SIZE {
        return Err("bad access descriptor size or offset");
    }
    let mut own = None;
    for index in 0..count {
        let start = index.checked_mul(size).and_then(|skip| skip.checked_add(offset));
        let bytes = start
            .and_then(|start| fragment.get(start..))
            .ok_or("access descriptors outside the first fragment")?;
        let (access, _) = EndpointMemoryAccessDescriptor::read_from_prefix(bytes)
            .map_err(|_| "access descriptor outside the first fragment")?;
        if access.receiver.get() == receiver {
            own = Some(access);
        }
    }
    let access = own.ok_or("no access descriptor for this endpoint")?;
    let composite_offset = access.composite_offset.get() as usize;
    let composite_bytes =
        fragment.get(composite_offset..).ok_or("composite outside the first fragment")?;
    let (composite, _) = CompositeMemoryRegionDescriptor::read_from_prefix(composite_bytes)
        .map_err(|_| "composite outside the first fragment")?;
    if composite_offset < HEADER_SIZE {
        return Err("composite overlaps the header");
    }
    Ok(RetrievedHeader {
        header,
        permissions: access.permissions,
        total_pages: composite.total_page_count.get(),
        range_count: composite.address_range_count.get(),
        constituents_offset: composite_offset + COMPOSITE_SIZE,
    })
}

/// Reads constituents from a stream of fragments that may split one across two fragments.
#[derive(Debug)]
pub(crate) struct ConstituentReader {
    /// Descriptor offset of the next byte fed in.
    position: usize,
    /// Descriptor offset where the constituents start.
    start: usize,
    expected: usize,
    seen: usize,
    pages: u64,
    partial: [u8; CONSTITUENT_SIZE],
    partial_length: usize,
}

impl ConstituentReader {
    pub(crate) fn new(start: usize, expected: usize) -> Self {
        Self {
            position: 0,
            start,
            expected,
            seen: 0,
            pages: 0,
            partial: [0; CONSTITUENT_SIZE],
            partial_length: 0,
        }
    }

    /// Feeds the next fragment, storing constituents into `out` (those past its end are
    /// counted but dropped).
    pub(crate) fn feed(
        &mut self,
        fragment: &[u8],
        out: &mut [PageRange],
    ) -> Result<(), &'static str> {
        let skip = self.start.saturating_sub(self.position).min(fragment.len());
        self.position += fragment.len();
        for &byte in fragment.get(skip..).unwrap_or(&[]) {
            if self.seen >= self.expected {
                // Trailing bytes after the constituents (e.g. padding) are ignored.
                break;
            }
            if let Some(slot) = self.partial.get_mut(self.partial_length) {
                *slot = byte;
            }
            self.partial_length += 1;
            if self.partial_length == CONSTITUENT_SIZE {
                self.partial_length = 0;
                let (constituent, _) =
                    ConstituentMemoryRegionDescriptor::read_from_prefix(self.partial.as_slice())
                        .map_err(|_| "constituent")?;
                let range = PageRange {
                    address: constituent.address.get(),
                    page_count: constituent.page_count.get(),
                };
                self.pages += u64::from(range.page_count);
                if let Some(slot) = out.get_mut(self.seen) {
                    *slot = range;
                }
                self.seen += 1;
            }
        }
        Ok(())
    }

    /// Checks that every constituent arrived and their pages add up to `total_pages`.
    pub(crate) fn finish(&self, total_pages: u32) -> Result<usize, &'static str> {
        if self.seen != self.expected || self.partial_length != 0 {
            return Err("descriptor ended before its constituents");
        }
        if self.pages != u64::from(total_pages) {
            return Err("constituent pages do not add up to the composite total");
        }
        Ok(self.seen)
    }
}
