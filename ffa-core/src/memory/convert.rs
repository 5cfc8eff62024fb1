//! Re-encoding a descriptor between the v1.0, v1.1 and v1.2 layouts (for serving older endpoints).

use super::builder::write_header;
use super::{Layout, TransactionDescriptor};
use crate::FfaError;

/// Parses `input` as `from`, validates it, and writes the same transaction in layout `to` into
/// `out`; returns the new length.
///
/// What does not exist in the target layout is dropped: the NS attribute bit going to v1.0 (a
/// v1.0 endpoint cannot have asked for it), the implementation-defined EMAD value going below
/// v1.2. Going up, the new fields are zero. Errors: whatever [`TransactionDescriptor::parse`]
/// rejects, and NO_MEMORY when `out` is too short. Works on whole descriptors; a fragmented one
/// is converted by the relayer after reassembly or per fragment with
/// [`super::TransactionReader`] (constituents are identical in every layout).
pub fn convert_layout(
    input: &[u8],
    from: Layout,
    out: &mut [u8],
    to: Layout,
) -> Result<usize, FfaError> {
    let descriptor = TransactionDescriptor::parse(input, from)?;
    let header = &descriptor.header;
    let composite = header
        .composite
        .map(|composite| (composite.total_page_count, composite.address_range_count));
    let start = write_header(out, to, &header.fields, header.receivers.iter(), composite)?;
    let constituents = descriptor.constituents.as_bytes();
    let end = start.checked_add(constituents.len()).ok_or(FfaError::NoMemory)?;
    out.get_mut(start..end).ok_or(FfaError::NoMemory)?.copy_from_slice(constituents);
    Ok(end)
}
