//! Building descriptors into a caller's buffer, whole or as FFA_MEM_FRAG_TX-sized fragments.

use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, IntoBytes};

use super::constituents::{check_ranges, copy_checked_constituents, write_constituents};
use super::receivers::{check_no_duplicates, MAX_RECEIVERS};
use super::wire::{
    AccessDescriptor, AccessDescriptorV1_2Tail, CompositeDescriptor, ConstituentDescriptor,
    TransactionDescriptorV1_0, TransactionDescriptorV1_1, CONSTITUENT_SIZE,
};
use super::{AddressRange, Layout, ReceiverAccess, TransactionFields};
use crate::FfaError;

/// Length of the header part our builders emit: MTD, EMADs right after it, composite header
/// (when `with_composite`) right after those. `None` for 0 or too many receivers.
pub(crate) fn header_length(
    layout: Layout,
    receiver_count: usize,
    with_composite: bool,
) -> Option<usize> {
    if receiver_count == 0 || receiver_count > MAX_RECEIVERS {
        return None;
    }
    let composite = if with_composite { CONSTITUENT_SIZE } else { 0 };
    Some(layout.header_size() + receiver_count * layout.access_descriptor_size() + composite)
}

/// Rejects a receiver named twice (INVALID_PARAMETERS). A single receiver, the usual case,
/// cannot repeat, so it skips the sort.
fn check_distinct(count: usize, ids: impl Iterator<Item = u16>) -> Result<(), FfaError> {
    if count > 1 {
        check_no_duplicates(ids)
    } else {
        Ok(())
    }
}

/// Writes the header part. `composite` is `(total_page_count, address_range_count)`, or `None`
/// for a descriptor without a composite (retrieve request). Returns the header length.
/// Errors: receiver count 0, above [`MAX_RECEIVERS`] or duplicated (INVALID_PARAMETERS);
/// `out` too short (NO_MEMORY).
pub(crate) fn write_header<I>(
    out: &mut [u8],
    layout: Layout,
    fields: &TransactionFields,
    receivers: I,
    composite: Option<(u32, u32)>,
) -> Result<usize, FfaError>
where
    I: ExactSizeIterator<Item = ReceiverAccess> + Clone,
{
    let count = receivers.len();
    let length =
        header_length(layout, count, composite.is_some()).ok_or(FfaError::InvalidParameters)?;
    check_distinct(count, receivers.clone().map(|access| access.receiver.0))?;
    let out = out.get_mut(..length).ok_or(FfaError::NoMemory)?;
    let array_offset = layout.header_size();
    let array_end = array_offset + count * layout.access_descriptor_size();
    let composite_offset = if composite.is_some() { array_end as u32 } else { 0 };
    // `count` is at most MAX_RECEIVERS, so it fits in 32 bits.
    let count_field = U32::new(count as u32);
    let (header, rest) = out.split_at_mut(array_offset);
    match layout {
        Layout::V1_0 => {
            let header = TransactionDescriptorV1_0::mut_from_bytes(header)
                .map_err(|_| FfaError::NoMemory)?;
            *header = TransactionDescriptorV1_0 {
                sender: U16::new(fields.sender.0),
                attributes: fields.attributes.to_v1_0(),
                reserved_3: 0,
                flags: U32::new(fields.flags.0),
                handle: U64::new(fields.handle.0),
                tag: U64::new(fields.tag),
                reserved_24: U32::ZERO,
                access_descriptor_count: count_field,
            };
        }
        Layout::V1_1 | Layout::V1_2 => {
            let header = TransactionDescriptorV1_1::mut_from_bytes(header)
                .map_err(|_| FfaError::NoMemory)?;
            *header = TransactionDescriptorV1_1 {
                sender: U16::new(fields.sender.0),
                attributes: U16::new(fields.attributes.to_v1_1()),
                flags: U32::new(fields.flags.0),
                handle: U64::new(fields.handle.0),
                tag: U64::new(fields.tag),
                access_descriptor_size: U32::new(layout.access_descriptor_size() as u32),
                access_descriptor_count: count_field,
                access_descriptor_offset: U32::new(array_offset as u32),
                reserved_36: [0; 12],
            };
        }
    }
    let (array, composite_bytes) = rest.split_at_mut(array_end - array_offset);
    for (chunk, access) in array.chunks_exact_mut(layout.access_descriptor_size()).zip(receivers) {
        let (head, tail) = chunk.split_at_mut(size_of::<AccessDescriptor>());
        let first_word = if layout == Layout::V1_2 { access.impdef[0] } else { 0 };
        AccessDescriptor {
            receiver: U16::new(access.receiver.0),
            permissions: access.permissions.to_byte(),
            flags: access.flags.bits(),
            composite_offset: U32::new(composite_offset),
            word_8: U64::new(first_word),
        }
        .write_to(head)
        .map_err(|_| FfaError::NoMemory)?;
        if layout == Layout::V1_2 {
            AccessDescriptorV1_2Tail {
                impdef_high: U64::new(access.impdef[1]),
                reserved_24: U64::ZERO,
            }
            .write_to(tail)
            .map_err(|_| FfaError::NoMemory)?;
        }
    }
    if let Some((total_page_count, address_range_count)) = composite {
        CompositeDescriptor {
            total_page_count: U32::new(total_page_count),
            address_range_count: U32::new(address_range_count),
            reserved_8: U64::ZERO,
        }
        .write_to(composite_bytes)
        .map_err(|_| FfaError::NoMemory)?;
    }
    Ok(length)
}

fn constituent_slots(
    out: &mut [u8],
    start: usize,
    count: usize,
) -> Result<&mut [ConstituentDescriptor], FfaError> {
    let end = count.checked_mul(CONSTITUENT_SIZE).and_then(|bytes| bytes.checked_add(start));
    let bytes = end.and_then(|end| out.get_mut(start..end)).ok_or(FfaError::NoMemory)?;
    <[ConstituentDescriptor]>::mut_from_bytes(bytes).map_err(|_| FfaError::NoMemory)
}

/// Builds a whole memory transaction descriptor into `out`; returns its length.
///
/// With `ranges` empty no composite is written and every EMAD's composite offset is 0 (the
/// retrieve-request form). Errors: INVALID_PARAMETERS for what the parser would refuse
/// (receiver count 0 or above [`MAX_RECEIVERS`], duplicate receivers, misaligned or empty
/// ranges, a page total above `u32::MAX`); NO_MEMORY when `out` is too short. On error the
/// contents of `out` are unspecified.
pub fn build_transaction(
    out: &mut [u8],
    layout: Layout,
    fields: &TransactionFields,
    receivers: &[ReceiverAccess],
    ranges: &[AddressRange],
) -> Result<usize, FfaError> {
    let with_composite = !ranges.is_empty();
    let start = header_length(layout, receivers.len(), with_composite)
        .ok_or(FfaError::InvalidParameters)?;
    let slots = constituent_slots(out, start, ranges.len())?;
    let total_page_count = write_constituents(ranges, slots)?;
    let composite = if with_composite {
        // `write_constituents` refused more than u32::MAX ranges.
        let count = u32::try_from(ranges.len()).map_err(|_| FfaError::InvalidParameters)?;
        Some((total_page_count, count))
    } else {
        None
    };
    write_header(out, layout, fields, receivers.iter().copied(), composite)?;
    Ok(start + ranges.len() * CONSTITUENT_SIZE)
}

/// Emits a memory transaction descriptor as fragments (FFA_MEM_SHARE/LEND/DONATE then
/// FFA_MEM_FRAG_TX, or FFA_MEM_RETRIEVE_RESP then FFA_MEM_FRAG_TX from a relayer).
///
/// The first fragment holds the header part and as many whole constituents as fit; each later
/// one holds only whole constituents (reference §7.9, §7.10 rule 5). Ranges are validated once,
/// in [`new`](Self::new).
#[derive(Debug, Clone)]
pub struct FragmentWriter<'a> {
    layout: Layout,
    fields: TransactionFields,
    receivers: &'a [ReceiverAccess],
    ranges: &'a [AddressRange],
    total_page_count: u32,
    header_length: usize,
    total_length: u32,
    next_range: usize,
    started: bool,
}

impl<'a> FragmentWriter<'a> {
    /// Validates the transaction (same errors as [`build_transaction`], without NO_MEMORY); at
    /// least one range is required.
    pub fn new(
        layout: Layout,
        fields: TransactionFields,
        receivers: &'a [ReceiverAccess],
        ranges: &'a [AddressRange],
    ) -> Result<Self, FfaError> {
        if ranges.is_empty() {
            return Err(FfaError::InvalidParameters);
        }
        let header_length =
            header_length(layout, receivers.len(), true).ok_or(FfaError::InvalidParameters)?;
        check_distinct(receivers.len(), receivers.iter().map(|access| access.receiver.0))?;
        let total_page_count = check_ranges(ranges)?;
        let total_length = ranges
            .len()
            .checked_mul(CONSTITUENT_SIZE)
            .and_then(|bytes| bytes.checked_add(header_length))
            .and_then(|total| u32::try_from(total).ok())
            .ok_or(FfaError::InvalidParameters)?;
        Ok(Self {
            layout,
            fields,
            receivers,
            ranges,
            total_page_count,
            header_length,
            total_length,
            next_range: 0,
            started: false,
        })
    }

    /// The total length (`w1` of the send call).
    pub fn total_length(&self) -> u32 {
        self.total_length
    }

    /// Length of the header part, which the first fragment must hold.
    pub fn header_length(&self) -> usize {
        self.header_length
    }

    /// Whether every fragment has been emitted.
    pub fn is_done(&self) -> bool {
        self.started && self.next_range >= self.ranges.len()
    }

    /// Writes the next fragment into `out` (its length is the fragment size to use); returns
    /// its length, or `None` when all was emitted. NO_MEMORY if `out` cannot hold the header
    /// part (first fragment) or one constituent (later ones).
    pub fn next_fragment(&mut self, out: &mut [u8]) -> Result<Option<usize>, FfaError> {
        if self.is_done() {
            return Ok(None);
        }
        let start = if self.started {
            0
        } else {
            let composite = Some((self.total_page_count, self.ranges.len() as u32));
            write_header(out, self.layout, &self.fields, self.receivers.iter().copied(), composite)?
        };
        let remaining = self.ranges.get(self.next_range..).unwrap_or_default();
        let fit = out.len().saturating_sub(start) / CONSTITUENT_SIZE;
        let count = fit.min(remaining.len());
        if count == 0 && self.started {
            return Err(FfaError::NoMemory);
        }
        let slots = constituent_slots(out, start, count)?;
        let batch = remaining.get(..count).unwrap_or_default();
        copy_checked_constituents(batch, slots);
        self.started = true;
        self.next_range += count;
        Ok(Some(start + count * CONSTITUENT_SIZE))
    }
}
