//! Endpoint memory access descriptors (reference §7.3): one per receiver, decoded and checked.

use zerocopy::FromBytes;

use super::wire::{AccessDescriptor, AccessDescriptorV1_2Tail};
use super::{AccessPermissions, Layout, ReceiverFlags};
use crate::{EndpointId, FfaError};

/// Most receivers one transaction may name. The format allows more; Hafnium's default build
/// allows 2. More is INVALID_PARAMETERS (Hafnium's answer to exceeding its cap). The bound keeps
/// the duplicate check an O(n log n) sort of a fixed stack array.
pub const MAX_RECEIVERS: usize = 64;

/// What one receiver is granted (or, in a retrieve request, asks for).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReceiverAccess {
    /// The receiver (borrower) endpoint.
    pub receiver: EndpointId,
    /// Its access permissions.
    pub permissions: AccessPermissions,
    /// The EMAD flags byte.
    pub flags: ReceiverFlags,
    /// The v1.2 implementation-defined value (offsets 8-23); always zero in v1.0/v1.1, where
    /// those bytes are reserved. Builders for older layouts drop it.
    pub impdef: [u64; 2],
}

impl ReceiverAccess {
    /// A receiver with the given permissions, no flags, no implementation-defined value.
    pub const fn new(receiver: EndpointId, permissions: AccessPermissions) -> Self {
        Self { receiver, permissions, flags: ReceiverFlags::empty(), impdef: [0; 2] }
    }
}

/// Decodes one EMAD of `layout` (exactly `layout.access_descriptor_size()` bytes); returns the
/// receiver access and its composite offset.
pub(crate) fn decode_access_descriptor(
    bytes: &[u8],
    layout: Layout,
) -> Result<(ReceiverAccess, u32), FfaError> {
    let (access, tail) =
        AccessDescriptor::ref_from_prefix(bytes).map_err(|_| FfaError::InvalidParameters)?;
    let mut impdef = [0u64; 2];
    match layout {
        Layout::V1_0 | Layout::V1_1 => {
            if access.word_8.get() != 0 {
                return Err(FfaError::InvalidParameters);
            }
        }
        Layout::V1_2 => {
            let tail = AccessDescriptorV1_2Tail::ref_from_bytes(tail)
                .map_err(|_| FfaError::InvalidParameters)?;
            if tail.reserved_24.get() != 0 {
                return Err(FfaError::InvalidParameters);
            }
            impdef = [access.word_8.get(), tail.impdef_high.get()];
        }
    }
    let receiver_access = ReceiverAccess {
        receiver: EndpointId(access.receiver.get()),
        permissions: AccessPermissions::try_from(access.permissions)?,
        flags: ReceiverFlags::try_from(access.flags)?,
        impdef,
    };
    Ok((receiver_access, access.composite_offset.get()))
}

/// Rejects a receiver list that names an endpoint twice (INVALID_PARAMETERS, reference §7.10
/// rule 3). `ids` must hold at most [`MAX_RECEIVERS`] entries.
pub(crate) fn check_no_duplicates(ids: impl Iterator<Item = u16>) -> Result<(), FfaError> {
    let mut ids_seen = [0u16; MAX_RECEIVERS];
    let mut count = 0usize;
    for id in ids {
        let slot = ids_seen.get_mut(count).ok_or(FfaError::InvalidParameters)?;
        *slot = id;
        count += 1;
    }
    let used = ids_seen.get(..count).ok_or(FfaError::InvalidParameters)?;
    // At most MAX_RECEIVERS entries: comparing every pair is cheaper in code and time than a
    // sort (whose generic code cost the SPMC image ~2 KB).
    let repeated = used
        .iter()
        .enumerate()
        .any(|(index, id)| used.get(index + 1..).is_some_and(|later| later.contains(id)));
    if repeated {
        return Err(FfaError::InvalidParameters);
    }
    Ok(())
}

/// A validated view of the EMAD array of a parsed descriptor.
#[derive(Debug, Clone, Copy)]
pub struct Receivers<'a> {
    bytes: &'a [u8],
    layout: Layout,
}

impl<'a> Receivers<'a> {
    /// Only built by the header parser, after every EMAD was decoded successfully.
    pub(crate) fn new_validated(bytes: &'a [u8], layout: Layout) -> Self {
        Self { bytes, layout }
    }

    /// Number of receivers.
    pub fn len(&self) -> usize {
        self.bytes.len() / self.layout.access_descriptor_size()
    }

    /// Whether there are none (never true for a parsed transaction).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The `index`th receiver.
    pub fn get(&self, index: usize) -> Option<ReceiverAccess> {
        let size = self.layout.access_descriptor_size();
        let start = index.checked_mul(size)?;
        let bytes = self.bytes.get(start..start.checked_add(size)?)?;
        decode_access_descriptor(bytes, self.layout).ok().map(|(access, _)| access)
    }

    /// The entry for `receiver`, if it is listed.
    pub fn find(&self, receiver: EndpointId) -> Option<ReceiverAccess> {
        self.iter().find(|access| access.receiver == receiver)
    }

    /// The receivers in descriptor order.
    pub fn iter(&self) -> ReceiverIter<'a> {
        ReceiverIter {
            chunks: self.bytes.chunks_exact(self.layout.access_descriptor_size()),
            layout: self.layout,
        }
    }
}

impl<'a> IntoIterator for Receivers<'a> {
    type Item = ReceiverAccess;
    type IntoIter = ReceiverIter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Iterator over [`Receivers`].
#[derive(Debug, Clone)]
pub struct ReceiverIter<'a> {
    chunks: core::slice::ChunksExact<'a, u8>,
    layout: Layout,
}

impl Iterator for ReceiverIter<'_> {
    type Item = ReceiverAccess;

    fn next(&mut self) -> Option<Self::Item> {
        // Every chunk was decoded once by the parser, so decoding cannot fail here.
        let chunk = self.chunks.next()?;
        decode_access_descriptor(chunk, self.layout).ok().map(|(access, _)| access)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.chunks.size_hint()
    }
}

impl ExactSizeIterator for ReceiverIter<'_> {}
