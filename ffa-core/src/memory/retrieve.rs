//! FFA_MEM_RETRIEVE_REQ forms: an endpoint's request, and the hypervisor's handle-only request.

use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, IntoBytes};

use super::wire::{TransactionDescriptorV1_0, TransactionDescriptorV1_1};
use super::{Layout, MemoryHandle, TransactionDescriptor, TransactionHeader};
use crate::FfaError;

/// A parsed FFA_MEM_RETRIEVE_REQ descriptor.
#[derive(Debug, Clone, Copy)]
pub enum RetrieveRequest<'a> {
    /// From the hypervisor: only the handle is set and the EMAD count is 0; the relayer answers
    /// with the full descriptor (reference §7.8, conformance MM32).
    Hypervisor(MemoryHandle),
    /// From an endpoint: one EMAD per borrower it asks for, composite offsets 0; already
    /// checked with [`TransactionHeader::check_retrieve_request`].
    Endpoint(TransactionHeader<'a>),
}

impl<'a> RetrieveRequest<'a> {
    /// Parses a whole request (exactly `w1` bytes). An EMAD count of 0 selects the hypervisor
    /// form. Errors are INVALID_PARAMETERS.
    pub fn parse(bytes: &'a [u8], layout: Layout) -> Result<Self, FfaError> {
        if let Some(handle) = parse_hypervisor_request(bytes, layout)? {
            return Ok(Self::Hypervisor(handle));
        }
        let descriptor = TransactionDescriptor::parse(bytes, layout)?;
        descriptor.header.check_retrieve_request()?;
        Ok(Self::Endpoint(descriptor.header))
    }
}

/// `Ok(Some(handle))` for a well-formed hypervisor request, `Ok(None)` when the EMAD count is
/// not zero (an endpoint request), an error for a malformed handle-only request.
///
/// Accepted: a header of exactly the layout's size with sender, attributes, flags and tag zero,
/// reserved bytes zero, and (v1.1+) EMAD size either 0 or the layout's, EMAD offset either 0 or
/// the header size: Hafnium fills size and offset in, other peers may leave them zero.
fn parse_hypervisor_request(
    bytes: &[u8],
    layout: Layout,
) -> Result<Option<MemoryHandle>, FfaError> {
    let (fields_zero, count, handle) = match layout {
        Layout::V1_0 => {
            let (header, _) = TransactionDescriptorV1_0::ref_from_prefix(bytes)
                .map_err(|_| FfaError::InvalidParameters)?;
            let zero = header.sender.get() == 0
                && header.attributes == 0
                && header.reserved_3 == 0
                && header.flags.get() == 0
                && header.tag.get() == 0
                && header.reserved_24.get() == 0;
            (zero, header.access_descriptor_count.get(), header.handle.get())
        }
        Layout::V1_1 | Layout::V1_2 => {
            let (header, _) = TransactionDescriptorV1_1::ref_from_prefix(bytes)
                .map_err(|_| FfaError::InvalidParameters)?;
            let size = header.access_descriptor_size.get() as usize;
            let offset = header.access_descriptor_offset.get() as usize;
            let zero = header.sender.get() == 0
                && header.attributes.get() == 0
                && header.flags.get() == 0
                && header.tag.get() == 0
                && header.reserved_36 == [0; 12]
                && (size == 0 || size == layout.access_descriptor_size())
                && (offset == 0 || offset == layout.header_size());
            (zero, header.access_descriptor_count.get(), header.handle.get())
        }
    };
    if count != 0 {
        return Ok(None);
    }
    if !fields_zero || bytes.len() != layout.header_size() {
        return Err(FfaError::InvalidParameters);
    }
    Ok(Some(MemoryHandle(handle)))
}

/// Builds a hypervisor retrieve request for `handle` (EMAD size and offset filled in for
/// v1.1+, as Hafnium does); returns its length. NO_MEMORY if `out` is too short.
pub fn build_hypervisor_retrieve_request(
    out: &mut [u8],
    layout: Layout,
    handle: MemoryHandle,
) -> Result<usize, FfaError> {
    let length = layout.header_size();
    let out = out.get_mut(..length).ok_or(FfaError::NoMemory)?;
    match layout {
        Layout::V1_0 => {
            TransactionDescriptorV1_0 { handle: U64::new(handle.0), ..Default::default() }
                .write_to(out)
                .map_err(|_| FfaError::NoMemory)?
        }
        Layout::V1_1 | Layout::V1_2 => TransactionDescriptorV1_1 {
            sender: U16::ZERO,
            handle: U64::new(handle.0),
            access_descriptor_size: U32::new(layout.access_descriptor_size() as u32),
            access_descriptor_offset: U32::new(length as u32),
            ..Default::default()
        }
        .write_to(out)
        .map_err(|_| FfaError::NoMemory)?,
    }
    Ok(length)
}
