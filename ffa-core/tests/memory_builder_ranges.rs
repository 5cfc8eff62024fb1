//! The builders' range checks (one pass, tallied and tested once at the end) against a plain
//! per-range model: every fault at every position, the page-total limit, and what is written.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test and benchmark code: a failed expectation should abort loudly"
)]

use ffa_core::memory::*;
use ffa_core::{EndpointId, FfaError};
use proptest::prelude::*;

const INVALID: FfaError = FfaError::InvalidParameters;
/// What an unused byte of an output buffer is filled with, to see what the builder touched.
const UNTOUCHED: u8 = 0xA5;

fn fields() -> TransactionFields {
    TransactionFields {
        sender: EndpointId(1),
        attributes: MemoryRegionAttributes::NORMAL_WRITE_BACK_INNER,
        flags: TransactionFlags(0),
        handle: MemoryHandle(0),
        tag: 0,
    }
}

fn receivers() -> [ReceiverAccess; 1] {
    [ReceiverAccess::new(EndpointId(0x8001), AccessPermissions::READ_WRITE)]
}

fn valid_ranges(count: usize) -> Vec<AddressRange> {
    (0..count as u64)
        .map(|index| AddressRange { address: 0x4000_0000 + index * 0x3000, page_count: 2 })
        .collect()
}

/// The rules written out one range at a time: 4 KiB aligned, below 2^52, at least one page,
/// and a total page count that fits the composite descriptor's 32-bit field.
fn model_accepts(ranges: &[AddressRange]) -> bool {
    let each = ranges.iter().all(|range| {
        range.address % PAGE_SIZE == 0 && range.address < 1 << 52 && range.page_count != 0
    });
    let total: u64 = ranges.iter().map(|range| u64::from(range.page_count)).sum();
    each && total <= u64::from(u32::MAX)
}

/// One range each rule refuses.
fn faults() -> [(&'static str, AddressRange); 5] {
    [
        ("misaligned", AddressRange { address: 0x4000_0800, page_count: 1 }),
        ("last byte of the page offset", AddressRange { address: 0x4000_0001, page_count: 1 }),
        ("at 2^52", AddressRange { address: 1 << 52, page_count: 1 }),
        ("top bit", AddressRange { address: 1 << 63, page_count: 1 }),
        ("no pages", AddressRange { address: 0x4000_0000, page_count: 0 }),
    ]
}

/// Builds whole; on error also checks nothing past the descriptor's own bytes was written.
fn build_whole(layout: Layout, ranges: &[AddressRange]) -> Result<Vec<u8>, FfaError> {
    let mut out = vec![UNTOUCHED; 48 + 32 + 16 + ranges.len() * 16 + 64];
    let descriptor_end =
        layout.header_size() + layout.access_descriptor_size() + 16 + ranges.len() * 16;
    match build_transaction(&mut out, layout, &fields(), &receivers(), ranges) {
        Ok(length) => {
            assert_eq!(length, descriptor_end);
            out.truncate(length);
            Ok(out)
        }
        Err(error) => {
            assert!(
                out[descriptor_end..].iter().all(|&byte| byte == UNTOUCHED),
                "a refused build wrote past the descriptor"
            );
            Err(error)
        }
    }
}

/// Emits every fragment of `fragment_size` bytes and joins them.
fn build_fragmented(
    layout: Layout,
    ranges: &[AddressRange],
    fragment_size: usize,
) -> Result<Vec<u8>, FfaError> {
    let receivers = receivers();
    let mut writer = FragmentWriter::new(layout, fields(), &receivers, ranges)?;
    let mut joined = Vec::new();
    let mut buffer = vec![0u8; fragment_size];
    while let Some(length) = writer.next_fragment(&mut buffer)? {
        joined.extend_from_slice(&buffer[..length]);
    }
    assert_eq!(joined.len(), writer.total_length() as usize);
    Ok(joined)
}

#[test]
fn every_fault_at_every_position_is_refused_by_both_builders() {
    // Lengths around the builders' eight-range steps, and 1024 ranges fragmented into 4 KiB,
    // whose last range travels in the last fragment.
    for count in [1usize, 2, 7, 8, 9, 15, 16, 17, 64, 1024] {
        let positions = [0, count / 2, count.saturating_sub(2), count - 1];
        for (name, fault) in faults() {
            for &position in &positions {
                let mut ranges = valid_ranges(count);
                ranges[position] = fault;
                for layout in Layout::ALL {
                    let context = format!("{name} at {position} of {count}, {layout:?}");
                    assert_eq!(build_whole(layout, &ranges).err(), Some(INVALID), "{context}");
                    // The fragment writer refuses before emitting anything, so a sender never
                    // has part of a descriptor out when the last range turns out bad.
                    assert_eq!(
                        FragmentWriter::new(layout, fields(), &receivers(), &ranges).err(),
                        Some(INVALID),
                        "{context}"
                    );
                }
            }
        }
    }
}

#[test]
fn last_fragment_fault_of_a_fragmented_share_is_reported() {
    let mut ranges = valid_ranges(1024);
    let good = build_fragmented(Layout::V1_1, &ranges, 4096).unwrap();
    let descriptor = TransactionDescriptor::parse(&good, Layout::V1_1).unwrap();
    assert_eq!(descriptor.constituents.iter().collect::<Vec<_>>(), ranges);
    // The fragment boundaries put the last range in the fourth fragment.
    assert!(good.len() > 3 * 4096);
    for (name, fault) in faults() {
        ranges[1023] = fault;
        assert_eq!(build_fragmented(Layout::V1_1, &ranges, 4096).err(), Some(INVALID), "{name}");
    }
}

#[test]
fn page_total_must_fit_in_32_bits() {
    let range = |page_count| AddressRange { address: 0x1000, page_count };
    let accepted: [&[AddressRange]; 3] = [
        &[range(u32::MAX)],
        &[range(u32::MAX - 1), range(1)],
        // Nine ranges, so the last is handled after the builders' first eight-range step.
        &[
            range(u32::MAX - 11),
            range(1),
            range(1),
            range(1),
            range(1),
            range(1),
            range(1),
            range(1),
            range(4),
        ],
    ];
    let refused: [&[AddressRange]; 6] = [
        &[range(u32::MAX), range(1)],
        &[range(u32::MAX), range(u32::MAX)],
        &[range(1 << 31), range(1 << 31)],
        // A zero page count is refused whatever the other counts are.
        &[range(0), range(1)],
        &[range(1), range(1), range(1), range(1), range(1), range(1), range(1), range(1), range(0)],
        &[
            range(u32::MAX - 11),
            range(1),
            range(1),
            range(1),
            range(1),
            range(1),
            range(1),
            range(1),
            range(5),
        ],
    ];
    for layout in Layout::ALL {
        for ranges in accepted {
            let bytes = build_whole(layout, ranges)
                .unwrap_or_else(|error| panic!("{layout:?} {ranges:?}: {error:?}"));
            let descriptor = TransactionDescriptor::parse(&bytes, layout)
                .unwrap_or_else(|error| panic!("{layout:?} {ranges:?}: {error:?}"));
            let composite = descriptor.header.composite.unwrap();
            let total: u64 = ranges.iter().map(|range| u64::from(range.page_count)).sum();
            assert_eq!(u64::from(composite.total_page_count), total);
            let fragmented = build_fragmented(layout, ranges, 128).unwrap();
            assert_eq!(fragmented, bytes, "{ranges:?}");
        }
        for ranges in refused {
            assert_eq!(build_whole(layout, ranges).err(), Some(INVALID), "{ranges:?}");
            assert_eq!(
                FragmentWriter::new(layout, fields(), &receivers(), ranges).err(),
                Some(INVALID),
                "{ranges:?}"
            );
        }
    }
}

fn any_range() -> impl Strategy<Value = AddressRange> {
    let address = prop_oneof![
        8 => (0u64..1 << 40).prop_map(|page| page * PAGE_SIZE),
        1 => any::<u64>(),
        1 => (0u64..64).prop_map(|bit| 1u64 << bit),
        1 => Just((1u64 << 52) - PAGE_SIZE),
    ];
    let page_count = prop_oneof![
        8 => 1u32..64,
        1 => Just(0u32),
        1 => any::<u32>(),
        1 => Just(u32::MAX),
    ];
    (address, page_count).prop_map(|(address, page_count)| AddressRange { address, page_count })
}

proptest! {
    #[test]
    fn builders_agree_with_the_per_range_model(
        ranges in proptest::collection::vec(any_range(), 1..40),
        layout in prop_oneof![Just(Layout::V1_0), Just(Layout::V1_1), Just(Layout::V1_2)],
    ) {
        let accepted = model_accepts(&ranges);
        let whole = build_whole(layout, &ranges);
        let fragmented = build_fragmented(layout, &ranges, 256);
        if accepted {
            let whole = whole.unwrap();
            prop_assert_eq!(&fragmented.unwrap(), &whole);
            let descriptor = TransactionDescriptor::parse(&whole, layout).unwrap();
            prop_assert_eq!(descriptor.constituents.iter().collect::<Vec<_>>(), ranges);
        } else {
            prop_assert_eq!(whole.err(), Some(INVALID));
            prop_assert_eq!(fragmented.err(), Some(INVALID));
        }
    }
}
