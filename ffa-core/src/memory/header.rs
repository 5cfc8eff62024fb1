//! The header part of a memory transaction descriptor: MTD, EMAD array and composite header.

use zerocopy::FromBytes;

use super::receivers::{check_no_duplicates, decode_access_descriptor, MAX_RECEIVERS};
use super::wire::{
    CompositeDescriptor, TransactionDescriptorV1_0, TransactionDescriptorV1_1, CONSTITUENT_SIZE,
};
use super::{
    Layout, MemoryHandle, MemoryRegionAttributes, Receivers, TransactionFlags, TransactionType,
};
use crate::{EndpointId, FfaError};

/// The per-transaction fields of a memory transaction descriptor (everything but the receivers
/// and the address ranges).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TransactionFields {
    /// Sender (owner) endpoint.
    pub sender: EndpointId,
    /// Memory region attributes.
    pub attributes: MemoryRegionAttributes,
    /// Transaction flags (checked per call).
    pub flags: TransactionFlags,
    /// Handle: zero in a send, the region's handle in retrieves.
    pub handle: MemoryHandle,
    /// Implementation-defined tag.
    pub tag: u64,
}

/// The composite memory region descriptor header and where it sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CompositeHeader {
    /// Offset from the start of the descriptor (the same in every EMAD).
    pub offset: u32,
    /// Total page count, to be checked against the constituents.
    pub total_page_count: u32,
    /// Number of constituent descriptors that follow it.
    pub address_range_count: u32,
}

/// A validated descriptor header, borrowing the EMAD array from the (first) fragment.
///
/// Checked on construction (all INVALID_PARAMETERS, reference §7.2-§7.4 and §7.10):
/// header present, reserved fields zero, attributes encodable, EMAD size matching the layout,
/// EMAD array offset ≥ 48 and 16-byte aligned (v1.1+), receiver count 1..=[`MAX_RECEIVERS`],
/// EMAD array inside the fragment, every EMAD well-formed, no duplicate receiver, one composite
/// offset shared by every EMAD, and, when that offset is non-zero, a composite header that lies
/// after the EMAD array, is 8-byte aligned, fits in the fragment, has zero reserved bytes and at
/// least one address range.
///
/// Choice on composite alignment (reference §11 item 3): Hafnium and TF-A want 16 bytes, the
/// arm-ffa crate produces 8-aligned offsets, so 8 is accepted; our builders always produce 16.
#[derive(Debug, Clone, Copy)]
pub struct TransactionHeader<'a> {
    /// The layout it was parsed as.
    pub layout: Layout,
    /// Sender, attributes, flags, handle and tag.
    pub fields: TransactionFields,
    /// The receivers.
    pub receivers: Receivers<'a>,
    /// The composite header; `None` when every EMAD's composite offset is 0 (retrieve requests).
    pub composite: Option<CompositeHeader>,
    header_length: u32,
}

struct RawHeader {
    fields: TransactionFields,
    access_descriptor_offset: usize,
    access_descriptor_count: usize,
}

fn read_raw_header(bytes: &[u8], layout: Layout) -> Result<RawHeader, FfaError> {
    match layout {
        Layout::V1_0 => {
            let (header, _) = TransactionDescriptorV1_0::ref_from_prefix(bytes)
                .map_err(|_| FfaError::InvalidParameters)?;
            if header.reserved_3 != 0 || header.reserved_24.get() != 0 {
                return Err(FfaError::InvalidParameters);
            }
            Ok(RawHeader {
                fields: TransactionFields {
                    sender: EndpointId(header.sender.get()),
                    attributes: MemoryRegionAttributes::from_v1_0(header.attributes)?,
                    flags: TransactionFlags(header.flags.get()),
                    handle: MemoryHandle(header.handle.get()),
                    tag: header.tag.get(),
                },
                access_descriptor_offset: layout.header_size(),
                access_descriptor_count: header.access_descriptor_count.get() as usize,
            })
        }
        Layout::V1_1 | Layout::V1_2 => {
            let (header, _) = TransactionDescriptorV1_1::ref_from_prefix(bytes)
                .map_err(|_| FfaError::InvalidParameters)?;
            let offset = header.access_descriptor_offset.get() as usize;
            if header.reserved_36 != [0; 12]
                || header.access_descriptor_size.get() as usize != layout.access_descriptor_size()
                || offset < layout.header_size()
                || offset % 16 != 0
            {
                return Err(FfaError::InvalidParameters);
            }
            Ok(RawHeader {
                fields: TransactionFields {
                    sender: EndpointId(header.sender.get()),
                    attributes: MemoryRegionAttributes::from_v1_1(header.attributes.get())?,
                    flags: TransactionFlags(header.flags.get()),
                    handle: MemoryHandle(header.handle.get()),
                    tag: header.tag.get(),
                },
                access_descriptor_offset: offset,
                access_descriptor_count: header.access_descriptor_count.get() as usize,
            })
        }
    }
}

impl<'a> TransactionHeader<'a> {
    /// Parses and validates the header part from the start of `first_fragment` (which may hold
    /// more: constituents, or the whole descriptor).
    pub fn parse(first_fragment: &'a [u8], layout: Layout) -> Result<Self, FfaError> {
        let raw = read_raw_header(first_fragment, layout)?;
        let count = raw.access_descriptor_count;
        if count == 0 || count > MAX_RECEIVERS {
            return Err(FfaError::InvalidParameters);
        }
        let size = layout.access_descriptor_size();
        // count <= MAX_RECEIVERS and size <= 32, so neither sum can overflow.
        let array_end = raw.access_descriptor_offset + count * size;
        let array = first_fragment
            .get(raw.access_descriptor_offset..array_end)
            .ok_or(FfaError::InvalidParameters)?;

        let mut composite_offset = None;
        for chunk in array.chunks_exact(size) {
            let (_, offset) = decode_access_descriptor(chunk, layout)?;
            match composite_offset {
                None => composite_offset = Some(offset),
                Some(first) if first != offset => return Err(FfaError::InvalidParameters),
                Some(_) => {}
            }
        }
        check_no_duplicates(array.chunks_exact(size).map(|chunk| {
            u16::from_le_bytes([
                chunk.first().copied().unwrap_or(0),
                chunk.get(1).copied().unwrap_or(0),
            ])
        }))?;

        let (composite, header_length) = match composite_offset.unwrap_or(0) {
            0 => (None, array_end),
            offset => {
                let start = offset as usize;
                if start < array_end || start % 8 != 0 {
                    return Err(FfaError::InvalidParameters);
                }
                let bytes = first_fragment.get(start..).ok_or(FfaError::InvalidParameters)?;
                let (composite, _) = CompositeDescriptor::ref_from_prefix(bytes)
                    .map_err(|_| FfaError::InvalidParameters)?;
                let address_range_count = composite.address_range_count.get();
                if composite.reserved_8.get() != 0 || address_range_count == 0 {
                    return Err(FfaError::InvalidParameters);
                }
                let header = CompositeHeader {
                    offset,
                    total_page_count: composite.total_page_count.get(),
                    address_range_count,
                };
                (Some(header), start + CONSTITUENT_SIZE)
            }
        };
        Ok(Self {
            layout,
            fields: raw.fields,
            receivers: Receivers::new_validated(array, layout),
            composite,
            header_length: u32::try_from(header_length).map_err(|_| FfaError::InvalidParameters)?,
        })
    }

    /// Bytes from the start of the descriptor to the first constituent (or to the end of the
    /// EMAD array when there is no composite).
    pub fn header_length(&self) -> u32 {
        self.header_length
    }

    /// The full descriptor length the header implies: the constituent array exactly fills the
    /// rest (reference §7.10 rule 7). `None` if that does not fit in 32 bits.
    pub fn descriptor_length(&self) -> Option<u32> {
        match self.composite {
            None => Some(self.header_length),
            Some(composite) => composite
                .address_range_count
                .checked_mul(CONSTITUENT_SIZE as u32)?
                .checked_add(self.header_length),
        }
    }

    /// Checks the header of FFA_MEM_DONATE/LEND/SHARE from `caller` (reference §7.10 rules 1-3,
    /// 10, 11, 14, §7.5; conformance MM03-MM07, MM11):
    /// sender is the caller (DENIED); a composite is present; DONATE has exactly one receiver;
    /// no receiver is the sender or 0xFFFF; flags, attributes and each receiver's permissions
    /// are legal for the call (INVALID_PARAMETERS).
    pub fn check_send(&self, call: TransactionType, caller: EndpointId) -> Result<(), FfaError> {
        if self.fields.sender != caller {
            return Err(FfaError::Denied);
        }
        let count = self.receivers.len();
        if self.composite.is_none() || (call == TransactionType::Donate && count != 1) {
            return Err(FfaError::InvalidParameters);
        }
        self.fields.flags.check_send(call)?;
        self.fields.attributes.check_send(call, count)?;
        for access in self.receivers.iter() {
            if access.receiver == self.fields.sender || access.receiver == EndpointId(0xFFFF) {
                return Err(FfaError::InvalidParameters);
            }
            access.permissions.check_send(call)?;
        }
        Ok(())
    }

    /// Checks the header of an endpoint's FFA_MEM_RETRIEVE_REQ (reference §7.8, §7.10 rule 15;
    /// conformance MM11, MM18, MM23): no composite (EMAD offsets 0), legal flags, NS bit clear;
    /// all INVALID_PARAMETERS. Matching handle, tag, sender, type and permissions against the
    /// stored transaction is the ledger's job (see [`super::AccessPermissions::check_retrieve`]).
    pub fn check_retrieve_request(&self) -> Result<(), FfaError> {
        if self.composite.is_some() {
            return Err(FfaError::InvalidParameters);
        }
        self.fields.flags.check_retrieve_request(self.layout)?;
        self.fields.attributes.check_retrieve_request()
    }

    /// Checks the header of an FFA_MEM_RETRIEVE_RESP: a composite is present and the flags are
    /// legal for a response (INVALID_PARAMETERS otherwise).
    pub fn check_retrieve_response(&self) -> Result<(), FfaError> {
        if self.composite.is_none() {
            return Err(FfaError::InvalidParameters);
        }
        self.fields.flags.check_retrieve_response()
    }
}
