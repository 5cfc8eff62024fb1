//! The FFA_MEM_RELINQUISH descriptor (reference §7.8): handle, flags, endpoint list.

use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::FromBytes;

use super::wire;
use super::{MemoryHandle, RelinquishFlags};
use crate::{EndpointId, FfaError};

/// A validated relinquish descriptor, borrowing its endpoint list from the TX buffer.
#[derive(Debug, Clone, Copy)]
pub struct RelinquishDescriptor<'a> {
    /// The region being given back.
    pub handle: MemoryHandle,
    /// Its flags.
    pub flags: RelinquishFlags,
    endpoints: &'a [U16],
}

impl<'a> RelinquishDescriptor<'a> {
    /// Parses the descriptor from the start of `tx_buffer` (FFA_MEM_RELINQUISH passes no
    /// length, so trailing bytes are ignored). Errors, INVALID_PARAMETERS: too short for its
    /// endpoint list, endpoint count 0 (conformance MM27), reserved flag bits set. Hafnium and
    /// TF-A accept only one endpoint; [`single_endpoint`](Self::single_endpoint) gives that.
    pub fn parse(tx_buffer: &'a [u8]) -> Result<Self, FfaError> {
        let (header, rest) = wire::RelinquishDescriptor::ref_from_prefix(tx_buffer)
            .map_err(|_| FfaError::InvalidParameters)?;
        let count = header.endpoint_count.get() as usize;
        if count == 0 {
            return Err(FfaError::InvalidParameters);
        }
        let (endpoints, _) = <[U16]>::ref_from_prefix_with_elems(rest, count)
            .map_err(|_| FfaError::InvalidParameters)?;
        Ok(Self {
            handle: MemoryHandle(header.handle.get()),
            flags: RelinquishFlags::try_from(header.flags.get())?,
            endpoints,
        })
    }

    /// The endpoints relinquishing.
    pub fn endpoints(&self) -> impl ExactSizeIterator<Item = EndpointId> + 'a {
        self.endpoints.iter().map(|id| EndpointId(id.get()))
    }

    /// The one endpoint, or INVALID_PARAMETERS when the list has more (Hafnium, TF-A).
    pub fn single_endpoint(&self) -> Result<EndpointId, FfaError> {
        match self.endpoints {
            [only] => Ok(EndpointId(only.get())),
            _ => Err(FfaError::InvalidParameters),
        }
    }
}

/// Builds a relinquish descriptor; returns its length. INVALID_PARAMETERS for an empty list,
/// NO_MEMORY if `out` is too short.
pub fn build_relinquish(
    out: &mut [u8],
    handle: MemoryHandle,
    flags: RelinquishFlags,
    endpoints: &[EndpointId],
) -> Result<usize, FfaError> {
    let count = u32::try_from(endpoints.len()).map_err(|_| FfaError::InvalidParameters)?;
    if count == 0 {
        return Err(FfaError::InvalidParameters);
    }
    let (header, rest) =
        wire::RelinquishDescriptor::mut_from_prefix(out).map_err(|_| FfaError::NoMemory)?;
    *header = wire::RelinquishDescriptor {
        handle: U64::new(handle.0),
        flags: U32::new(flags.into()),
        endpoint_count: U32::new(count),
    };
    let (slots, _) = <[U16]>::mut_from_prefix_with_elems(rest, endpoints.len())
        .map_err(|_| FfaError::NoMemory)?;
    for (slot, endpoint) in slots.iter_mut().zip(endpoints) {
        *slot = U16::new(endpoint.0);
    }
    Ok(size_of::<wire::RelinquishDescriptor>() + endpoints.len() * 2)
}
