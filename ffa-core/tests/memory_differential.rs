//! Differential tests against the arm-ffa 0.5 crate (v1.1 layout, 16-byte EMADs, the only one it
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test and benchmark code: a failed expectation should abort loudly"
)]
//! speaks): what one builds the other parses to the same values, and both build the same bytes.
//!
//! arm-ffa's `pack` panics on a short buffer and its unpack accepts trailing bytes and does not
//! check reserved fields; the tests give it large buffers and compare only inputs both accept.
//! Its `unpack` is wrapped in `catch_unwind` for mutated inputs.

use arm_ffa::memory_management as oracle;
use ffa_core::memory::*;
use ffa_core::EndpointId;
use proptest::prelude::*;

struct Parsed {
    sender: u16,
    attributes: u16,
    flags: u32,
    handle: u64,
    tag: u64,
    receivers: Vec<(u16, u8, u8)>,
    ranges: Vec<(u64, u32)>,
}

fn ours(bytes: &[u8]) -> Option<Parsed> {
    let descriptor = TransactionDescriptor::parse(bytes, Layout::V1_1).ok()?;
    let fields = descriptor.header.fields;
    Some(Parsed {
        sender: fields.sender.0,
        attributes: fields.attributes.to_v1_1(),
        flags: fields.flags.0,
        handle: fields.handle.0,
        tag: fields.tag,
        receivers: descriptor
            .header
            .receivers
            .iter()
            .map(|access| (access.receiver.0, access.permissions.to_byte(), access.flags.bits()))
            .collect(),
        ranges: descriptor
            .constituents
            .iter()
            .map(|range| (range.address, range.page_count))
            .collect(),
    })
}

fn theirs(bytes: &[u8]) -> Option<Parsed> {
    let bytes = bytes.to_vec();
    std::panic::catch_unwind(move || {
        let (descriptor, access, constituents) = oracle::MemTransactionDesc::unpack(&bytes).ok()?;
        let receivers = access
            .map(|item| {
                item.map(|perm| {
                    (perm.endpoint_id, perm.data_access as u8 | perm.instr_access as u8, perm.flags)
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .ok()?;
        let ranges = match constituents {
            Some(iterator) => iterator
                .map(|item| item.map(|range| (range.address, range.page_cnt)))
                .collect::<Result<Vec<_>, _>>()
                .ok()?,
            None => Vec::new(),
        };
        Some(Parsed {
            sender: descriptor.sender_id,
            attributes: u16::from(descriptor.mem_region_attr),
            flags: descriptor.flags.0,
            handle: descriptor.handle.0,
            tag: descriptor.tag,
            receivers,
            ranges,
        })
    })
    .ok()
    .flatten()
}

fn assert_same(a: &Parsed, b: &Parsed) -> Result<(), TestCaseError> {
    prop_assert_eq!(a.sender, b.sender);
    prop_assert_eq!(a.attributes, b.attributes);
    prop_assert_eq!(a.flags, b.flags);
    prop_assert_eq!(a.handle, b.handle);
    prop_assert_eq!(a.tag, b.tag);
    prop_assert_eq!(&a.receivers, &b.receivers);
    prop_assert_eq!(&a.ranges, &b.ranges);
    Ok(())
}

/// Sender, attributes, flags, handle, tag, (receiver, permissions), (address, pages).
type Transaction = (u16, u16, u32, u64, u64, Vec<(u16, u8)>, Vec<(u64, u32)>);

fn transaction() -> impl Strategy<Value = Transaction> {
    (
        any::<u16>(),
        prop_oneof![Just(0x2fu16), Just(0x00), Just(0x10), Just(0x24), Just(0x2e)],
        0u32..4,
        any::<u64>(),
        any::<u64>(),
        proptest::collection::btree_map(
            any::<u16>(),
            prop_oneof![Just(1u8), Just(2), Just(5), Just(9)],
            1..5,
        )
        .prop_map(|map| map.into_iter().collect::<Vec<_>>()),
        proptest::collection::vec(
            (0u64..(1 << 36), 1u32..100_000).prop_map(|(page, count)| (page << 12, count)),
            1..64,
        ),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn both_build_the_same_bytes_and_parse_each_other(
        (sender, attributes, flags, handle, tag, receivers, ranges) in transaction()
    ) {
        // Ours.
        let fields = TransactionFields {
            sender: EndpointId(sender),
            attributes: MemoryRegionAttributes::from_v1_1(attributes).unwrap(),
            flags: TransactionFlags(flags),
            handle: MemoryHandle(handle),
            tag,
        };
        let our_receivers: Vec<ReceiverAccess> = receivers
            .iter()
            .map(|&(id, permissions)| ReceiverAccess::new(EndpointId(id), AccessPermissions::try_from(permissions).unwrap()))
            .collect();
        let our_ranges: Vec<AddressRange> =
            ranges.iter().map(|&(address, page_count)| AddressRange { address, page_count }).collect();
        let mut our_bytes = vec![0u8; 4096];
        let our_length = build_transaction(&mut our_bytes, Layout::V1_1, &fields, &our_receivers, &our_ranges).unwrap();
        our_bytes.truncate(our_length);

        // Theirs.
        let descriptor = oracle::MemTransactionDesc {
            sender_id: sender,
            mem_region_attr: oracle::MemRegionAttributes::try_from(attributes).unwrap(),
            flags: oracle::MemTransactionFlags(flags),
            handle: oracle::Handle(handle),
            tag,
        };
        let access: Vec<oracle::MemAccessPerm> = receivers
            .iter()
            .map(|&(id, permissions)| oracle::MemAccessPerm {
                endpoint_id: id,
                instr_access: oracle::InstuctionAccessPerm::try_from(permissions).unwrap(),
                data_access: oracle::DataAccessPerm::try_from(permissions).unwrap(),
                flags: 0,
            })
            .collect();
        let constituents: Vec<oracle::ConstituentMemRegion> = ranges
            .iter()
            .map(|&(address, page_cnt)| oracle::ConstituentMemRegion { address, page_cnt })
            .collect();
        let mut their_bytes = vec![0u8; 4096];
        let their_length = descriptor.pack(&constituents, &access, &mut their_bytes);
        their_bytes.truncate(their_length);

        prop_assert_eq!(&our_bytes, &their_bytes);
        let ours_of_theirs = ours(&their_bytes).expect("ours rejects arm-ffa's descriptor");
        let theirs_of_ours = theirs(&our_bytes).expect("arm-ffa rejects our descriptor");
        assert_same(&ours_of_theirs, &theirs_of_ours)?;
        prop_assert_eq!(ours_of_theirs.ranges, ranges);
    }

    #[test]
    fn mutated_descriptors_parse_alike_when_both_accept(
        (sender, attributes, flags, handle, tag, receivers, ranges) in transaction(),
        mutations in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)
    ) {
        let fields = TransactionFields {
            sender: EndpointId(sender),
            attributes: MemoryRegionAttributes::from_v1_1(attributes).unwrap(),
            flags: TransactionFlags(flags),
            handle: MemoryHandle(handle),
            tag,
        };
        let our_receivers: Vec<ReceiverAccess> = receivers
            .iter()
            .map(|&(id, permissions)| ReceiverAccess::new(EndpointId(id), AccessPermissions::try_from(permissions).unwrap()))
            .collect();
        let our_ranges: Vec<AddressRange> =
            ranges.iter().map(|&(address, page_count)| AddressRange { address, page_count }).collect();
        let mut bytes = vec![0u8; 4096];
        let length = build_transaction(&mut bytes, Layout::V1_1, &fields, &our_receivers, &our_ranges).unwrap();
        bytes.truncate(length);
        for (index, value) in mutations {
            let position = index.index(bytes.len());
            bytes[position] = value;
        }
        if let Some(our_view) = ours(&bytes) {
            // Whatever we accept, arm-ffa (which checks less) must accept identically.
            let their_view = theirs(&bytes).expect("arm-ffa rejects what we accept");
            assert_same(&our_view, &their_view)?;
        }
    }
}

#[test]
fn linux_vector_through_arm_ffa() {
    let words: [u32; 24] = [
        0x002f0001, 0, 0, 0, 0, 0, 0x10, 1, 0x30, 0, 0, 0, 0x00028001, 0x40, 0, 0, 1, 1, 0, 0,
        0x402db000, 0, 1, 0,
    ];
    let bytes: Vec<u8> = words.iter().flat_map(|word| word.to_le_bytes()).collect();
    let a = ours(&bytes).unwrap();
    let b = theirs(&bytes).unwrap();
    assert_eq!(
        (a.sender, a.attributes, a.receivers.clone(), a.ranges.clone()),
        (1, 0x2f, vec![(0x8001, 2, 0)], vec![(0x402db000, 1)])
    );
    assert_eq!(
        (b.sender, b.attributes, b.receivers, b.ranges),
        (1, 0x2f, vec![(0x8001, 2, 0)], vec![(0x402db000, 1)])
    );
}
