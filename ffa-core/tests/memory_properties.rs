//! Property tests: build -> parse round trips in every layout, fragmented and whole, conversion
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test and benchmark code: a failed expectation should abort loudly"
)]
//! round trips, value-type round trips, and parsing arbitrary bytes never panics.

use ffa_core::memory::*;
use ffa_core::EndpointId;
use proptest::prelude::*;

fn attributes() -> impl Strategy<Value = MemoryRegionAttributes> {
    (0u16..0x80)
        .prop_filter_map("reserved encoding", |value| MemoryRegionAttributes::from_v1_1(value).ok())
        .prop_map(|attributes| MemoryRegionAttributes { non_secure: false, ..attributes })
}

fn permissions() -> impl Strategy<Value = AccessPermissions> {
    (0u8..16).prop_filter_map("reserved encoding", |value| AccessPermissions::try_from(value).ok())
}

fn receivers() -> impl Strategy<Value = Vec<ReceiverAccess>> {
    proptest::collection::btree_set(any::<u16>(), 1..6).prop_flat_map(|ids| {
        let ids: Vec<u16> = ids.into_iter().collect();
        let count = ids.len();
        (
            Just(ids),
            proptest::collection::vec((permissions(), any::<bool>(), any::<[u64; 2]>()), count),
        )
            .prop_map(|(ids, rest)| {
                ids.into_iter()
                    .zip(rest)
                    .map(|(id, (permissions, flag, impdef))| ReceiverAccess {
                        receiver: EndpointId(id),
                        permissions,
                        flags: if flag {
                            ReceiverFlags::MULTI_BORROWER_BIT_0
                        } else {
                            ReceiverFlags::empty()
                        },
                        impdef,
                    })
                    .collect()
            })
    })
}

fn ranges() -> impl Strategy<Value = Vec<AddressRange>> {
    proptest::collection::vec(
        (0u64..(1 << 40), 1u32..1024)
            .prop_map(|(page, page_count)| AddressRange { address: page << 12, page_count }),
        1..200,
    )
}

fn fields() -> impl Strategy<Value = TransactionFields> {
    (any::<u16>(), attributes(), 0u32..0x800, any::<u64>(), any::<u64>()).prop_map(
        |(sender, attributes, flags, handle, tag)| TransactionFields {
            sender: EndpointId(sender),
            attributes,
            flags: TransactionFlags(flags),
            handle: MemoryHandle(handle),
            tag,
        },
    )
}

fn layout() -> impl Strategy<Value = Layout> {
    prop_oneof![Just(Layout::V1_0), Just(Layout::V1_1), Just(Layout::V1_2)]
}

/// What a receiver looks like after passing through `layout` (impdef exists only in v1.2).
fn as_in(layout: Layout, receivers: &[ReceiverAccess]) -> Vec<ReceiverAccess> {
    receivers
        .iter()
        .map(|access| ReceiverAccess {
            impdef: if layout == Layout::V1_2 { access.impdef } else { [0; 2] },
            ..*access
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn build_then_parse_round_trips(
        layout in layout(), fields in fields(), receivers in receivers(), ranges in ranges()
    ) {
        let mut out = vec![0u8; 8192];
        let length = build_transaction(&mut out, layout, &fields, &receivers, &ranges).unwrap();
        let descriptor = TransactionDescriptor::parse(&out[..length], layout).unwrap();
        prop_assert_eq!(descriptor.header.fields, fields);
        prop_assert_eq!(descriptor.header.receivers.iter().collect::<Vec<_>>(), as_in(layout, &receivers));
        prop_assert_eq!(descriptor.constituents.iter().collect::<Vec<_>>(), ranges.clone());
        let total: u64 = ranges.iter().map(|range| u64::from(range.page_count)).sum();
        prop_assert_eq!(u64::from(descriptor.header.composite.unwrap().total_page_count), total);
    }

    #[test]
    fn fragmented_build_then_streamed_parse_round_trips(
        layout in layout(), fields in fields(), receivers in receivers(), ranges in ranges(),
        fragment_size in 0usize..2048
    ) {
        let mut writer = FragmentWriter::new(layout, fields, &receivers, &ranges).unwrap();
        let fragment_size = fragment_size + writer.header_length() + 16;
        let mut fragments: Vec<Vec<u8>> = Vec::new();
        let mut buffer = vec![0u8; fragment_size];
        while let Some(length) = writer.next_fragment(&mut buffer).unwrap() {
            prop_assert!(length <= fragment_size);
            fragments.push(buffer[..length].to_vec());
        }
        // The concatenation equals the whole build.
        let whole: Vec<u8> = fragments.concat();
        let mut out = vec![0u8; 8192];
        let length = build_transaction(&mut out, layout, &fields, &receivers, &ranges).unwrap();
        prop_assert_eq!(&whole[..], &out[..length]);
        // Streamed back, fragment by fragment.
        let (mut reader, header, first) =
            TransactionReader::start(&fragments[0], writer.total_length(), layout).unwrap();
        prop_assert_eq!(header.fields, fields);
        let mut parsed: Vec<AddressRange> = first.iter().collect();
        for fragment in &fragments[1..] {
            parsed.extend(reader.next_fragment(fragment).unwrap());
        }
        reader.finish().unwrap();
        prop_assert_eq!(&parsed, &ranges);
        // fragment_boundaries cuts a whole descriptor the same way.
        let cuts: Vec<_> = fragment_boundaries(writer.header_length(), whole.len(), fragment_size).unwrap().collect();
        prop_assert_eq!(cuts.len(), fragments.len());
        for (cut, fragment) in cuts.into_iter().zip(&fragments) {
            prop_assert_eq!(&whole[cut], &fragment[..]);
        }
    }

    #[test]
    fn conversion_round_trips(
        from in layout(), to in layout(), fields in fields(), receivers in receivers(), ranges in ranges()
    ) {
        let mut original = vec![0u8; 8192];
        let length = build_transaction(&mut original, from, &fields, &receivers, &ranges).unwrap();
        let mut converted = vec![0u8; 8192];
        let converted_length = convert_layout(&original[..length], from, &mut converted, to).unwrap();
        let descriptor = TransactionDescriptor::parse(&converted[..converted_length], to).unwrap();
        prop_assert_eq!(descriptor.header.fields, fields);
        prop_assert_eq!(
            descriptor.header.receivers.iter().collect::<Vec<_>>(),
            as_in(to, &as_in(from, &receivers))
        );
        prop_assert_eq!(descriptor.constituents.iter().collect::<Vec<_>>(), ranges.clone());
        // Going back gives the original bytes when nothing was dropped.
        let mut back = vec![0u8; 8192];
        let back_length = convert_layout(&converted[..converted_length], to, &mut back, from).unwrap();
        if from != Layout::V1_2 || to == Layout::V1_2 {
            prop_assert_eq!(&back[..back_length], &original[..length]);
        }
    }

    #[test]
    fn value_types_round_trip(attributes in 0u16..0x80, permissions in any::<u8>(), handle in any::<u64>(), flags in any::<u32>()) {
        if let Ok(decoded) = MemoryRegionAttributes::from_v1_1(attributes) {
            prop_assert_eq!(decoded.to_v1_1(), attributes);
        }
        if let Ok(decoded) = AccessPermissions::try_from(permissions) {
            prop_assert_eq!(decoded.to_byte(), permissions);
        }
        let handle = MemoryHandle(handle);
        let (low, high) = handle.to_registers();
        prop_assert_eq!(MemoryHandle::from_registers(low | 0xdead_0000_0000_0000, high), handle);
        prop_assert_eq!(handle.allocator() == HandleAllocator::Hypervisor, handle.0 >> 63 == 1);
        match ReclaimFlags::try_from(flags) {
            Ok(decoded) => prop_assert_eq!(u32::from(decoded), flags),
            Err(_) => prop_assert!(flags > 3),
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        fuzz_parse_descriptors(&bytes);
    }

    #[test]
    fn mutated_descriptors_never_panic(
        layout in layout(), fields in fields(), receivers in receivers(), ranges in ranges(),
        mutations in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)
    ) {
        let mut out = vec![0u8; 8192];
        let length = build_transaction(&mut out, layout, &fields, &receivers, &ranges).unwrap();
        let bytes = &mut out[..length];
        for (index, value) in mutations {
            let position = index.index(bytes.len());
            bytes[position] = value;
        }
        fuzz_parse_descriptors(bytes);
    }
}

#[test]
fn handle_allocator_bit_and_registers() {
    let handle = MemoryHandle::new(HandleAllocator::Hypervisor, 5);
    assert_eq!(handle.0, 0x8000_0000_0000_0005);
    assert_eq!(handle.to_registers(), (5, 0x8000_0000));
    assert_eq!(
        MemoryHandle::new(HandleAllocator::Spmc, u64::MAX).allocator(),
        HandleAllocator::Spmc
    );
    assert!(!MemoryHandle::INVALID.is_valid());
}

#[test]
fn attribute_and_permission_rules() {
    use ffa_core::FfaError::{Denied, InvalidParameters};
    let normal = MemoryRegionAttributes::NORMAL_WRITE_BACK_INNER;
    let none = MemoryRegionAttributes::NOT_SPECIFIED;
    assert_eq!(MemoryRegionAttributes::from_v1_0(0x2f), Ok(normal));
    assert_eq!(MemoryRegionAttributes { non_secure: true, ..normal }.to_v1_0(), 0x2f);
    assert_eq!(normal.check_send(TransactionType::Share, 1), Ok(()));
    assert_eq!(none.check_send(TransactionType::Share, 1), Err(InvalidParameters));
    assert_eq!(normal.check_send(TransactionType::Lend, 1), Err(InvalidParameters));
    assert_eq!(none.check_send(TransactionType::Lend, 1), Ok(()));
    assert_eq!(none.check_send(TransactionType::Lend, 2), Err(InvalidParameters));
    assert_eq!(normal.check_send(TransactionType::Donate, 1), Err(InvalidParameters));
    let rw = AccessPermissions::READ_WRITE;
    let ro_x = AccessPermissions {
        data: DataAccess::ReadOnly,
        instruction: InstructionAccess::Executable,
    };
    let rw_nx = AccessPermissions {
        data: DataAccess::ReadWrite,
        instruction: InstructionAccess::NotExecutable,
    };
    let donate_ok = AccessPermissions {
        data: DataAccess::NotSpecified,
        instruction: InstructionAccess::NotSpecified,
    };
    assert_eq!(rw.check_send(TransactionType::Share), Ok(()));
    assert_eq!(rw.check_send(TransactionType::Donate), Err(InvalidParameters));
    assert_eq!(donate_ok.check_send(TransactionType::Donate), Ok(()));
    assert_eq!(rw_nx.check_send(TransactionType::Lend), Err(InvalidParameters));
    // MM19: RW requested of RO granted is DENIED; RO of RW is fine.
    let device = MemoryType::Device(DeviceAttributes::NonGatheringNonReorderingNoEarlyAck);
    let ram = normal.memory_type;
    assert_eq!(
        rw_nx.check_retrieve(DataAccess::ReadOnly, TransactionType::Lend, 1, ram),
        Err(Denied)
    );
    assert_eq!(ro_x.check_retrieve(DataAccess::ReadWrite, TransactionType::Lend, 1, ram), Ok(()));
    // MM20: X on device memory; MM21: instruction access in a two-borrower lend; SHARE leaves it.
    assert_eq!(
        ro_x.check_retrieve(DataAccess::ReadWrite, TransactionType::Lend, 1, device),
        Err(Denied)
    );
    assert_eq!(
        rw_nx.check_retrieve(DataAccess::ReadWrite, TransactionType::Lend, 2, ram),
        Err(InvalidParameters)
    );
    assert_eq!(rw.check_retrieve(DataAccess::ReadWrite, TransactionType::Share, 1, ram), Ok(()));
    assert_eq!(
        rw.check_retrieve(DataAccess::ReadWrite, TransactionType::Donate, 1, ram),
        Err(InvalidParameters)
    );
    // Flags.
    let response = TransactionFlags(1).with_type(TransactionType::Lend);
    assert_eq!(response.check_retrieve_response(), Ok(()));
    assert_eq!(TransactionFlags(1).check_retrieve_response(), Err(InvalidParameters));
    assert_eq!(TransactionFlags(1 << 5 | 1 << 9).alignment_hint(), Some(1));
    assert_eq!(TransactionFlags(1).check_send(TransactionType::Lend), Ok(()));
}
