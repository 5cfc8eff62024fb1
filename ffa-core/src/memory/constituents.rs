//! Address ranges (constituent descriptors, reference §7.4): one-pass validation and views.

use zerocopy::little_endian::U64;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

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

/// Addresses must be below 2^52, the largest physical or intermediate address any Arm
/// architecture version defines (FEAT_LPA2). Page counts are 32-bit, so a range that starts
/// below 2^52 ends below 2^52 + 2^44 and can never wrap past the end of the address space.
pub const ADDRESS_LIMIT_BITS: u32 = 52;

/// Per-range checks, folded into one word so loops need no branches: a non-zero result means
/// the address is not 4 KiB aligned or not below 2^52, or the page count is zero (shown as bit
/// 63 of `page_count - 1`); INVALID_PARAMETERS, reference §7.10 rules 8 and 10.
#[inline(always)]
fn range_faults(address: u64, page_count: u64) -> u64 {
    (address & ADDRESS_FAULTS) | (page_count.wrapping_sub(1) & (1 << 63))
}

/// Constituent memory region descriptor (reference §7.4) read as its two little-endian words:
/// the address, then `page_count | reserved << 32`. Same bytes as [`ConstituentDescriptor`];
/// this view lets validation test each rule with one mask.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct ConstituentWords {
    address: U64,
    count_and_reserved: U64,
}
const _: () = assert!(size_of::<ConstituentWords>() == 16);

/// Address bits that must be clear: the 4 KiB offset and everything from bit 52 up.
const ADDRESS_FAULTS: u64 = !((1 << ADDRESS_LIMIT_BITS) - 1) | (PAGE_SIZE - 1);
/// The reserved word (bytes 12-15) must be zero.
const RESERVED_FAULTS: u64 = 0xFFFF_FFFF_0000_0000;
const PAGE_COUNT: u64 = 0xFFFF_FFFF;

/// Validates a run of whole constituent descriptors; returns the view and the sum of their page
/// counts. O(n), one pass, no per-item bounds checks or branches: each rule is a mask on the
/// descriptor's two words (a zero page count shows as bit 63 of `count - 1`). A length that is
/// not a multiple of 16 is INVALID_PARAMETERS (fragments carry whole constituents, reference
/// §7.9); so is any range `range_faults` refuses.
pub(crate) fn validate_constituents(bytes: &[u8]) -> Result<(Constituents<'_>, u64), FfaError> {
    let words =
        <[ConstituentWords]>::ref_from_bytes(bytes).map_err(|_| FfaError::InvalidParameters)?;
    let mut faults = 0u64;
    let mut page_sum = 0u64;
    for range in words {
        let address = range.address.get();
        let second = range.count_and_reserved.get();
        let page_count = second & PAGE_COUNT;
        faults |= range_faults(address, page_count) | (second & RESERVED_FAULTS);
        page_sum += page_count;
    }
    if faults != 0 {
        return Err(FfaError::InvalidParameters);
    }
    let ranges = <[ConstituentDescriptor]>::ref_from_bytes(bytes)
        .map_err(|_| FfaError::InvalidParameters)?;
    Ok((Constituents { ranges }, page_sum))
}

/// Checks and writes address ranges into a run of constituent slots of equal length; returns
/// the page sum. Ranges the parser would refuse are INVALID_PARAMETERS.
pub(crate) fn write_constituents(
    ranges: &[AddressRange],
    out: &mut [ConstituentDescriptor],
) -> Result<u64, FfaError> {
    let words = <[ConstituentWords]>::mut_from_bytes(out.as_mut_bytes())
        .map_err(|_| FfaError::InvalidParameters)?;
    let mut faults = 0u64;
    let mut page_sum = 0u64;
    let mut write = |slot: &mut ConstituentWords, range: &AddressRange| {
        let page_count = u64::from(range.page_count);
        faults |= range_faults(range.address, page_count);
        page_sum += page_count;
        // The page count and the zero reserved word go out as one little-endian word.
        *slot = ConstituentWords {
            address: U64::new(range.address),
            count_and_reserved: U64::new(page_count),
        };
    };
    // Four at a time, so the loop's own bookkeeping is paid once per four ranges.
    let mut slots = words.chunks_exact_mut(4);
    let mut sources = ranges.chunks_exact(4);
    for (slot_block, range_block) in (&mut slots).zip(&mut sources) {
        for (slot, range) in slot_block.iter_mut().zip(range_block) {
            write(slot, range);
        }
    }
    for (slot, range) in slots.into_remainder().iter_mut().zip(sources.remainder()) {
        write(slot, range);
    }
    if faults != 0 {
        return Err(FfaError::InvalidParameters);
    }
    Ok(page_sum)
}

/// Writes address ranges already checked by [`check_ranges`] (the fragment writer checks them
/// all once, before the first fragment, because the header carries their page total).
pub(crate) fn copy_checked_constituents(
    ranges: &[AddressRange],
    out: &mut [ConstituentDescriptor],
) {
    let Ok(words) = <[ConstituentWords]>::mut_from_bytes(out.as_mut_bytes()) else { return };
    let copy = |slot: &mut ConstituentWords, range: &AddressRange| {
        *slot = ConstituentWords {
            address: U64::new(range.address),
            count_and_reserved: U64::new(u64::from(range.page_count)),
        };
    };
    let mut slots = words.chunks_exact_mut(4);
    let mut sources = ranges.chunks_exact(4);
    for (slot_block, range_block) in (&mut slots).zip(&mut sources) {
        for (slot, range) in slot_block.iter_mut().zip(range_block) {
            copy(slot, range);
        }
    }
    for (slot, range) in slots.into_remainder().iter_mut().zip(sources.remainder()) {
        copy(slot, range);
    }
}

/// Checks address ranges without writing them; returns the page sum.
pub(crate) fn check_ranges(ranges: &[AddressRange]) -> Result<u64, FfaError> {
    let mut faults = 0u64;
    let mut page_sum = 0u64;
    for range in ranges {
        let page_count = u64::from(range.page_count);
        faults |= range_faults(range.address, page_count);
        page_sum += page_count;
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
        self.ranges.as_bytes()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn descriptor(address: u64, page_count: u32, reserved: u32) -> [u8; 16] {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&address.to_le_bytes());
        bytes[8..12].copy_from_slice(&page_count.to_le_bytes());
        bytes[12..].copy_from_slice(&reserved.to_le_bytes());
        bytes
    }

    #[test]
    fn addresses_must_be_below_two_to_the_52() {
        let highest = (1u64 << ADDRESS_LIMIT_BITS) - PAGE_SIZE;
        let (_, pages) = validate_constituents(&descriptor(highest, u32::MAX, 0)).unwrap();
        assert_eq!(pages, u64::from(u32::MAX));
        assert_eq!(
            validate_constituents(&descriptor(1 << ADDRESS_LIMIT_BITS, 1, 0)).err(),
            Some(FfaError::InvalidParameters)
        );
        assert_eq!(
            validate_constituents(&descriptor(!(PAGE_SIZE - 1), 1, 0)).err(),
            Some(FfaError::InvalidParameters)
        );
    }

    #[test]
    fn each_fault_alone_is_refused() {
        for (address, pages, reserved) in [(0x1001, 1, 0), (0x1000, 0, 0), (0x1000, 1, 1)] {
            assert_eq!(
                validate_constituents(&descriptor(address, pages, reserved)).err(),
                Some(FfaError::InvalidParameters),
                "{address:#x} {pages} {reserved}"
            );
        }
        assert!(validate_constituents(&descriptor(0x1000, 1, 0)).is_ok());
    }
}
