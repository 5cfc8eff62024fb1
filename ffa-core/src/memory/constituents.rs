//! Address ranges (constituent descriptors, reference §7.4): one-pass validation and views.

use zerocopy::little_endian::{U32, U64};
use zerocopy::FromBytes;

use super::wire::ConstituentDescriptor;
use crate::FfaError;

/// Size of an FF-A page: always 4 KiB, whatever the translation granule (reference §0).
pub const PAGE_SIZE: u64 = 4096;

/// One address range of a memory region: `page_count` 4 KiB pages from `address`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddressRange {
    /// Base address (VA, IPA or PA depending on the caller), 4 KiB aligned.
    pub address: u64,
    /// Number of 4 KiB pages, non-zero.
    pub page_count: u32,
}

/// Per-range checks, folded into one word so the loop has no branches: a non-zero result means
/// the address is not 4 KiB aligned, the page count is zero, the reserved word is not zero, or the
/// range runs past the end of the 64-bit address space (INVALID_PARAMETERS, reference §7.10
/// rules 8 and 10).
#[inline(always)]
fn range_faults(address: u64, page_count: u32, reserved: u32) -> u64 {
    let (_, overflows) = address.overflowing_add(u64::from(page_count) << 12);
    (address & (PAGE_SIZE - 1))
        | u64::from(reserved)
        | u64::from(page_count == 0)
        | u64::from(overflows)
}

/// Validates a run of whole constituent descriptors; returns the view and the sum of their page
/// counts. O(n), one pass, no per-item bounds checks. A length that is not a multiple of 16 is
/// INVALID_PARAMETERS (fragments carry whole constituents, reference §7.9).
pub(crate) fn validate_constituents(bytes: &[u8]) -> Result<(Constituents<'_>, u64), FfaError> {
    let ranges = <[ConstituentDescriptor]>::ref_from_bytes(bytes)
        .map_err(|_| FfaError::InvalidParameters)?;
    let mut faults = 0u64;
    let mut page_sum = 0u64;
    for range in ranges {
        let page_count = range.page_count.get();
        faults |= range_faults(range.address.get(), page_count, range.reserved_12.get());
        page_sum += u64::from(page_count);
    }
    if faults != 0 {
        return Err(FfaError::InvalidParameters);
    }
    Ok((Constituents { ranges }, page_sum))
}

/// Checks and writes address ranges into a run of constituent slots of equal length; returns
/// the page sum. Ranges the parser would refuse are INVALID_PARAMETERS.
pub(crate) fn write_constituents(
    ranges: &[AddressRange],
    out: &mut [ConstituentDescriptor],
) -> Result<u64, FfaError> {
    let mut faults = 0u64;
    let mut page_sum = 0u64;
    for (slot, range) in out.iter_mut().zip(ranges) {
        faults |= range_faults(range.address, range.page_count, 0);
        page_sum += u64::from(range.page_count);
        *slot = ConstituentDescriptor {
            address: U64::new(range.address),
            page_count: U32::new(range.page_count),
            reserved_12: U32::ZERO,
        };
    }
    if faults != 0 {
        return Err(FfaError::InvalidParameters);
    }
    Ok(page_sum)
}

/// Checks address ranges without writing them; returns the page sum.
pub(crate) fn check_ranges(ranges: &[AddressRange]) -> Result<u64, FfaError> {
    let mut faults = 0u64;
    let mut page_sum = 0u64;
    for range in ranges {
        faults |= range_faults(range.address, range.page_count, 0);
        page_sum += u64::from(range.page_count);
    }
    if faults != 0 {
        return Err(FfaError::InvalidParameters);
    }
    Ok(page_sum)
}

/// A validated run of constituents (from one fragment or a whole descriptor).
#[derive(Debug, Clone, Copy, Default)]
pub struct Constituents<'a> {
    ranges: &'a [ConstituentDescriptor],
}

impl<'a> Constituents<'a> {
    /// Number of ranges.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The raw bytes (whole 16-byte constituent descriptors), for copying between layouts.
    pub fn as_bytes(&self) -> &'a [u8] {
        zerocopy::IntoBytes::as_bytes(self.ranges)
    }

    /// The ranges in descriptor order.
    pub fn iter(&self) -> ConstituentIter<'a> {
        ConstituentIter { ranges: self.ranges.iter() }
    }
}

impl<'a> IntoIterator for Constituents<'a> {
    type Item = AddressRange;
    type IntoIter = ConstituentIter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Iterator over [`Constituents`].
#[derive(Debug, Clone)]
pub struct ConstituentIter<'a> {
    ranges: core::slice::Iter<'a, ConstituentDescriptor>,
}

impl Iterator for ConstituentIter<'_> {
    type Item = AddressRange;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.ranges.next().map(|range| AddressRange {
            address: range.address.get(),
            page_count: range.page_count.get(),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.ranges.size_hint()
    }
}

impl ExactSizeIterator for ConstituentIter<'_> {}
