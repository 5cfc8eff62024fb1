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

/// How many ranges the builder loops handle per step: enough that the loop's own bookkeeping
/// (pointer steps, compare, branch) costs about a quarter of an instruction per range. At
/// opt-level "z" (the firmware images) the step stays a loop, so this costs no code size there.
const RANGES_PER_STEP: usize = 16;

/// Running check of the ranges a builder is handed, at one OR, one subtract and one add a range
/// (four instructions with the loads on x86-64): the addresses are OR-ed into one word, whose
/// fault bits are tested once at the end (misaligned or not below 2^52), and `page_count - 1`
/// (computed in 32 bits) is summed in 64.
///
/// That sum also catches a zero page count: it wraps to `u32::MAX`, so with `n` ranges the
/// total `sum + n` comes to at least `2^32` and fails the same "total page count fits in 32
/// bits" check the composite descriptor needs anyway. All of these are INVALID_PARAMETERS
/// (reference §7.10 rules 8 and 10, §7.4 total page count).
#[derive(Debug, Clone, Copy, Default)]
struct RangeTally {
    address_bits: u64,
    pages_less_one: u64,
}

impl RangeTally {
    #[inline(always)]
    fn add(&mut self, range: &AddressRange) {
        self.address_bits |= range.address;
        self.pages_less_one =
            self.pages_less_one.wrapping_add(u64::from(range.page_count.wrapping_sub(1)));
    }

    /// The total page count of `range_count` ranges tallied, or INVALID_PARAMETERS.
    fn total_page_count(self, range_count: usize) -> Result<u32, FfaError> {
        // With fewer than 2^32 ranges each adding below 2^32, `pages_less_one` cannot have
        // wrapped, so the checked sum below is exact.
        let count = u32::try_from(range_count).map_err(|_| FfaError::InvalidParameters)?;
        if self.address_bits & ADDRESS_FAULTS != 0 {
            return Err(FfaError::InvalidParameters);
        }
        self.pages_less_one
            .checked_add(u64::from(count))
            .and_then(|total| u32::try_from(total).ok())
            .ok_or(FfaError::InvalidParameters)
    }
}

/// The wire form of one range: the address, then the page count with the reserved word (zero)
/// above it, as one little-endian word.
#[inline(always)]
fn constituent_words(range: &AddressRange) -> ConstituentWords {
    ConstituentWords {
        address: U64::new(range.address),
        count_and_reserved: U64::new(u64::from(range.page_count)),
    }
}

/// Calls `step` on each slot and its range, [`RANGES_PER_STEP`] at a time (the two chunk
/// iterators zip without per-item bounds checks), then on the rest. Slots beyond the ranges,
/// or ranges beyond the slots, are left alone.
#[inline(always)]
fn for_each_slot(
    slots: &mut [ConstituentWords],
    ranges: &[AddressRange],
    mut step: impl FnMut(&mut ConstituentWords, &AddressRange),
) {
    let done = slots.len().min(ranges.len()) / RANGES_PER_STEP * RANGES_PER_STEP;
    let blocks = slots.chunks_exact_mut(RANGES_PER_STEP).zip(ranges.chunks_exact(RANGES_PER_STEP));
    for (slot_block, range_block) in blocks {
        for (slot, range) in slot_block.iter_mut().zip(range_block) {
            step(slot, range);
        }
    }
    let rest_slots = slots.get_mut(done..).unwrap_or_default();
    let rest_ranges = ranges.get(done..).unwrap_or_default();
    for (slot, range) in rest_slots.iter_mut().zip(rest_ranges) {
        step(slot, range);
    }
}

/// Writes address ranges into a run of constituent slots of equal length and checks them in
/// the same pass; returns their total page count. Ranges the parser would refuse, and a total
/// above `u32::MAX`, are INVALID_PARAMETERS; the slots' contents are then unspecified (they
/// may hold some or all of the ranges).
pub(crate) fn write_constituents(
    ranges: &[AddressRange],
    out: &mut [ConstituentDescriptor],
) -> Result<u32, FfaError> {
    let slots = <[ConstituentWords]>::mut_from_bytes(out.as_mut_bytes())
        .map_err(|_| FfaError::InvalidParameters)?;
    if slots.len() != ranges.len() {
        return Err(FfaError::InvalidParameters);
    }
    let mut tally = RangeTally::default();
    for_each_slot(slots, ranges, |slot, range| {
        *slot = constituent_words(range);
        tally.add(range);
    });
    tally.total_page_count(ranges.len())
}

/// Writes address ranges already checked by [`check_ranges`] (the fragment writer checks them
/// all once, before the first fragment, because the header carries their page total).
pub(crate) fn copy_checked_constituents(
    ranges: &[AddressRange],
    out: &mut [ConstituentDescriptor],
) {
    let Ok(slots) = <[ConstituentWords]>::mut_from_bytes(out.as_mut_bytes()) else { return };
    for_each_slot(slots, ranges, |slot, range| *slot = constituent_words(range));
}

/// Checks address ranges without writing them; returns their total page count (the same
/// errors as [`write_constituents`]).
pub(crate) fn check_ranges(ranges: &[AddressRange]) -> Result<u32, FfaError> {
    let mut tally = RangeTally::default();
    let mut blocks = ranges.chunks_exact(RANGES_PER_STEP);
    for block in &mut blocks {
        for range in block {
            tally.add(range);
        }
    }
    for range in blocks.remainder() {
        tally.add(range);
    }
    tally.total_page_count(ranges.len())
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
