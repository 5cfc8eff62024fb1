//! Every rejection path of the descriptor parsers, each mutating one field of a valid descriptor.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test and benchmark code: a failed expectation should abort loudly"
)]

use ffa_core::memory::*;
use ffa_core::{EndpointId, FfaError};

const INVALID: Result<(), FfaError> = Err(FfaError::InvalidParameters);

fn fields() -> TransactionFields {
    TransactionFields {
        sender: EndpointId(1),
        attributes: MemoryRegionAttributes::NORMAL_WRITE_BACK_INNER,
        flags: TransactionFlags(0),
        handle: MemoryHandle(0),
        tag: 0,
    }
}

/// A v1.1 SHARE to 0x8001 and 0x8002 of two ranges (1 + 2 pages): 48 + 32 + 16 + 32 = 128 bytes.
fn two_receivers(layout: Layout) -> Vec<u8> {
    let receivers = [
        ReceiverAccess::new(EndpointId(0x8001), AccessPermissions::READ_WRITE),
        ReceiverAccess::new(EndpointId(0x8002), AccessPermissions::READ_WRITE),
    ];
    let ranges = [
        AddressRange { address: 0x1000, page_count: 1 },
        AddressRange { address: 0x10000, page_count: 2 },
    ];
    let mut out = vec![0u8; 256];
    let length = build_transaction(&mut out, layout, &fields(), &receivers, &ranges).unwrap();
    out.truncate(length);
    out
}

fn parse(bytes: &[u8], layout: Layout) -> Result<(), FfaError> {
    TransactionDescriptor::parse(bytes, layout).map(|_| ())
}

fn patched(layout: Layout, offset: usize, value: &[u8]) -> Result<(), FfaError> {
    let mut bytes = two_receivers(layout);
    bytes[offset..offset + value.len()].copy_from_slice(value);
    parse(&bytes, layout)
}

#[test]
fn baseline_is_valid_in_every_layout() {
    for layout in Layout::ALL {
        let bytes = two_receivers(layout);
        let descriptor = TransactionDescriptor::parse(&bytes, layout).unwrap();
        assert_eq!(descriptor.header.receivers.len(), 2);
        assert_eq!(descriptor.constituents.len(), 2);
    }
}

#[test]
fn header_fields_are_checked() {
    let l = Layout::V1_1;
    // Short buffers, and any truncation.
    assert_eq!(parse(&[0; 47], l), INVALID);
    let bytes = two_receivers(l);
    for cut in 0..bytes.len() {
        assert_eq!(parse(&bytes[..cut], l), INVALID, "cut at {cut}");
    }
    // Trailing bytes: length no longer matches (MM08).
    let mut longer = bytes.clone();
    longer.extend_from_slice(&[0; 16]);
    assert_eq!(parse(&longer, l), INVALID);
    // Attribute reserved bits, reserved memory type, reserved cacheability and shareability.
    assert_eq!(patched(l, 2, &[0x2f, 0x01]), INVALID);
    assert_eq!(patched(l, 2, &[0x3f, 0x00]), INVALID);
    assert_eq!(patched(l, 2, &[0x23, 0x00]), INVALID);
    assert_eq!(patched(l, 2, &[0x2d, 0x00]), INVALID);
    assert_eq!(patched(l, 2, &[0x01, 0x00]), INVALID);
    // EMAD size not the layout's, EMAD count 0, offset misaligned or inside the header.
    assert_eq!(patched(l, 24, &32u32.to_le_bytes()), INVALID);
    assert_eq!(patched(Layout::V1_2, 24, &16u32.to_le_bytes()), INVALID);
    assert_eq!(patched(l, 28, &0u32.to_le_bytes()), INVALID);
    assert_eq!(patched(l, 28, &3u32.to_le_bytes()), INVALID);
    assert_eq!(patched(l, 28, &(MAX_RECEIVERS as u32 + 1).to_le_bytes()), INVALID);
    assert_eq!(patched(l, 32, &40u32.to_le_bytes()), INVALID);
    assert_eq!(patched(l, 32, &56u32.to_le_bytes()), INVALID);
    assert_eq!(patched(l, 32, &32u32.to_le_bytes()), INVALID);
    assert_eq!(patched(l, 32, &u32::MAX.to_le_bytes()), INVALID);
    // MTD reserved bytes.
    for offset in 36..48 {
        assert_eq!(patched(l, offset, &[1]), INVALID, "reserved byte {offset}");
    }
    // v1.0 reserved byte 3, reserved word 24, attribute bits [7:6].
    let v = Layout::V1_0;
    assert_eq!(patched(v, 3, &[1]), INVALID);
    assert_eq!(patched(v, 24, &[1]), INVALID);
    assert_eq!(patched(v, 2, &[0x6f]), INVALID);
}

#[test]
fn receiver_descriptors_are_checked() {
    for layout in Layout::ALL {
        let emad = 48 + if layout == Layout::V1_0 { -16i32 } else { 0 };
        let first = emad as usize;
        let second = first + layout.access_descriptor_size();
        // Duplicate receiver (rule 3).
        assert_eq!(patched(layout, second, &0x8001u16.to_le_bytes()), INVALID);
        // Reserved permission encodings and bits.
        assert_eq!(patched(layout, first + 2, &[0x03]), INVALID);
        assert_eq!(patched(layout, first + 2, &[0x0e]), INVALID);
        assert_eq!(patched(layout, first + 2, &[0x12]), INVALID);
        // Reserved EMAD flag bits.
        assert_eq!(patched(layout, first + 3, &[0x02]), INVALID);
        // Composite offsets differ (rule 4), or point into the EMAD array or are misaligned.
        assert_eq!(patched(layout, second + 4, &0u32.to_le_bytes()), INVALID);
        let composite = (second + layout.access_descriptor_size()) as u32;
        for bad in [composite - 16, composite + 4, 0x1_0000] {
            let mut bytes = two_receivers(layout);
            bytes[first + 4..first + 8].copy_from_slice(&bad.to_le_bytes());
            bytes[second + 4..second + 8].copy_from_slice(&bad.to_le_bytes());
            assert_eq!(parse(&bytes, layout), INVALID, "{layout:?} composite offset {bad}");
        }
        // Reserved EMAD bytes (8-15 before v1.2, 24-31 in v1.2).
        let reserved = if layout == Layout::V1_2 { first + 24 } else { first + 8 };
        assert_eq!(patched(layout, reserved, &[1]), INVALID);
    }
    // The v1.2 impdef value is carried, not rejected.
    let mut bytes = two_receivers(Layout::V1_2);
    bytes[48 + 8] = 7;
    bytes[48 + 16] = 9;
    let descriptor = TransactionDescriptor::parse(&bytes, Layout::V1_2).unwrap();
    assert_eq!(descriptor.header.receivers.get(0).unwrap().impdef, [7, 9]);
}

#[test]
fn composite_and_constituents_are_checked() {
    let l = Layout::V1_1;
    let composite = 48 + 32;
    let ranges = composite + 16;
    // Total page count mismatch (rule 7, MM09), in both directions.
    assert_eq!(patched(l, composite, &2u32.to_le_bytes()), INVALID);
    assert_eq!(patched(l, composite, &4u32.to_le_bytes()), INVALID);
    // Range count disagreeing with the length, or zero.
    assert_eq!(patched(l, composite + 4, &1u32.to_le_bytes()), INVALID);
    assert_eq!(patched(l, composite + 4, &3u32.to_le_bytes()), INVALID);
    assert_eq!(patched(l, composite + 4, &0u32.to_le_bytes()), INVALID);
    assert_eq!(patched(l, composite + 4, &u32::MAX.to_le_bytes()), INVALID);
    // Composite reserved bytes.
    assert_eq!(patched(l, composite + 8, &[1]), INVALID);
    // Misaligned address, zero pages, reserved word, range past the end of the address space.
    assert_eq!(patched(l, ranges, &0x1800u64.to_le_bytes()), INVALID);
    assert_eq!(patched(l, ranges + 8, &0u32.to_le_bytes()), INVALID);
    assert_eq!(patched(l, ranges + 12, &1u32.to_le_bytes()), INVALID);
    assert_eq!(patched(l, ranges, &0xFFFF_FFFF_FFFF_F000u64.to_le_bytes()), INVALID);
    // Page sum overflowing u32 cannot match a u32 total.
    let mut bytes = two_receivers(l);
    bytes[ranges + 8..ranges + 12].copy_from_slice(&u32::MAX.to_le_bytes());
    bytes[composite..composite + 4].copy_from_slice(&1u32.to_le_bytes());
    assert_eq!(parse(&bytes, l), INVALID);
}

#[test]
fn streaming_reader_rejects_bad_fragments() {
    let l = Layout::V1_1;
    let bytes = two_receivers(l);
    let total = bytes.len() as u32;
    // Header part not in the first fragment (rule 5).
    assert!(TransactionReader::start(&bytes[..90], total, l).is_err());
    // Wrong w1 total (MM08).
    assert!(TransactionReader::start(&bytes[..96], total + 16, l).is_err());
    assert!(TransactionReader::start(&bytes[..96], total - 16, l).is_err());
    // A partial constituent in the first fragment.
    assert!(TransactionReader::start(&bytes[..100], total, l).is_err());
    let (mut reader, _, _) = TransactionReader::start(&bytes[..96], total, l).unwrap();
    assert_eq!(reader.next_fragment(&[]).unwrap_err(), FfaError::InvalidParameters);
    assert_eq!(reader.next_fragment(&bytes[96..104]).unwrap_err(), FfaError::InvalidParameters);
    assert_eq!(reader.next_fragment(&[0; 48]).unwrap_err(), FfaError::InvalidParameters);
    let first = reader.next_fragment(&bytes[96..112]).unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(reader.received(), 112);
    // Finishing early fails.
    assert_eq!(reader.clone().finish(), INVALID);
    // A fragment past the total.
    assert_eq!(reader.next_fragment(&bytes[96..128]).unwrap_err(), FfaError::InvalidParameters);
    reader.next_fragment(&bytes[112..128]).unwrap();
    reader.finish().unwrap();
    // Pages not adding up is only known at the end.
    let mut wrong = bytes.clone();
    wrong[80..84].copy_from_slice(&5u32.to_le_bytes());
    let (mut reader, _, _) = TransactionReader::start(&wrong[..96], total, l).unwrap();
    reader.next_fragment(&wrong[96..]).unwrap();
    assert_eq!(reader.finish(), INVALID);
}

#[test]
fn send_checks_follow_the_matrix() {
    let l = Layout::V1_1;
    let check = |bytes: &[u8], call| {
        TransactionDescriptor::parse(bytes, l).unwrap().header.check_send(call, EndpointId(1))
    };
    let base = two_receivers(l);
    assert_eq!(check(&base, TransactionType::Share), Ok(()));
    // MM07: sender is not the caller.
    assert_eq!(
        TransactionDescriptor::parse(&base, l)
            .unwrap()
            .header
            .check_send(TransactionType::Share, EndpointId(5)),
        Err(FfaError::Denied)
    );
    // MM03: receiver == sender, receiver 0xFFFF.
    for id in [1u16, 0xFFFF] {
        let mut bytes = base.clone();
        bytes[48..50].copy_from_slice(&id.to_le_bytes());
        assert_eq!(check(&bytes, TransactionType::Share), INVALID);
    }
    // MM04: SHARE with clear flag; time slicing; other bits; type bits of another call.
    for flags in [1u32, 2, 1 << 5, 0b10 << 3] {
        let mut bytes = base.clone();
        bytes[4..8].copy_from_slice(&flags.to_le_bytes());
        assert_eq!(check(&bytes, TransactionType::Share), INVALID, "flags {flags:#x}");
    }
    // Type bits naming the call itself are tolerated (TF-A).
    let mut bytes = base.clone();
    bytes[4..8].copy_from_slice(&(0b01u32 << 3).to_le_bytes());
    assert_eq!(check(&bytes, TransactionType::Share), Ok(()));
    // MM05: sender sets instruction access.
    let mut bytes = base.clone();
    bytes[50] = 0x06;
    assert_eq!(check(&bytes, TransactionType::Share), INVALID);
    // MM11: NS bit in a send.
    let mut bytes = base.clone();
    bytes[2] = 0x6f;
    assert_eq!(check(&bytes, TransactionType::Share), INVALID);
    // MM06 / rule 2: DONATE with two receivers; LEND to two borrowers needs a type, which is set.
    assert_eq!(check(&base, TransactionType::Donate), INVALID);
    assert_eq!(check(&base, TransactionType::Lend), Ok(()));
    // A retrieve-request shaped descriptor (no composite) is not a send.
    let mut out = [0u8; 128];
    let receivers = [ReceiverAccess::new(EndpointId(0x8001), AccessPermissions::READ_WRITE)];
    let length = build_transaction(&mut out, l, &fields(), &receivers, &[]).unwrap();
    assert_eq!(check(&out[..length], TransactionType::Share), INVALID);
}

#[test]
fn builders_refuse_what_the_parser_refuses() {
    let receiver = ReceiverAccess::new(EndpointId(0x8001), AccessPermissions::READ_WRITE);
    let range = AddressRange { address: 0x1000, page_count: 1 };
    let mut out = [0u8; 256];
    for layout in Layout::ALL {
        let build = |out: &mut [u8], receivers: &[ReceiverAccess], ranges: &[AddressRange]| {
            build_transaction(out, layout, &fields(), receivers, ranges)
        };
        assert_eq!(build(&mut out, &[], &[range]), Err(FfaError::InvalidParameters));
        assert_eq!(
            build(&mut out, &[receiver, receiver], &[range]),
            Err(FfaError::InvalidParameters)
        );
        let misaligned = AddressRange { address: 0x1001, page_count: 1 };
        assert_eq!(build(&mut out, &[receiver], &[misaligned]), Err(FfaError::InvalidParameters));
        let empty = AddressRange { address: 0x1000, page_count: 0 };
        assert_eq!(build(&mut out, &[receiver], &[empty]), Err(FfaError::InvalidParameters));
        let huge = AddressRange { address: 0, page_count: u32::MAX };
        assert_eq!(build(&mut out, &[receiver], &[huge, huge]), Err(FfaError::InvalidParameters));
        for short in 0..(layout.header_size() + layout.access_descriptor_size() + 32) {
            assert_eq!(build(&mut out[..short], &[receiver], &[range]), Err(FfaError::NoMemory));
        }
        let receivers = [receiver];
        let ranges = [range, range];
        let mut writer = FragmentWriter::new(layout, fields(), &receivers, &ranges).unwrap();
        assert_eq!(writer.next_fragment(&mut out[..40]), Err(FfaError::NoMemory));
        let first = writer.header_length();
        assert_eq!(writer.next_fragment(&mut out[..first + 8]), Ok(Some(first)));
        assert_eq!(writer.next_fragment(&mut out[..8]), Err(FfaError::NoMemory));
    }
}

#[test]
fn retrieve_requests() {
    for layout in Layout::ALL {
        let mut out = [0u8; 128];
        let length = build_hypervisor_retrieve_request(
            &mut out,
            layout,
            MemoryHandle(0x8000_0000_0000_0007),
        )
        .unwrap();
        assert_eq!(length, layout.header_size());
        match RetrieveRequest::parse(&out[..length], layout).unwrap() {
            RetrieveRequest::Hypervisor(handle) => assert_eq!(handle.0, 0x8000_0000_0000_0007),
            RetrieveRequest::Endpoint(_) => panic!("hypervisor request parsed as endpoint request"),
        }
        // Any other field set in a handle-only request is refused, as is a longer buffer.
        for offset in [0usize, 2, 4, 16] {
            let mut bytes = out;
            bytes[offset] = 1;
            assert!(RetrieveRequest::parse(&bytes[..length], layout).is_err(), "{offset}");
        }
        assert!(RetrieveRequest::parse(&out[..length + 16], layout).is_err());

        // An endpoint request: composite offsets 0, type flag, NS clear.
        let receivers = [ReceiverAccess::new(
            EndpointId(0x8001),
            AccessPermissions {
                data: DataAccess::ReadOnly,
                instruction: InstructionAccess::NotSpecified,
            },
        )];
        let mut request_fields = fields();
        request_fields.handle = MemoryHandle(5);
        request_fields.flags = TransactionFlags(0).with_type(TransactionType::Share);
        let length = build_transaction(&mut out, layout, &request_fields, &receivers, &[]).unwrap();
        match RetrieveRequest::parse(&out[..length], layout).unwrap() {
            RetrieveRequest::Endpoint(header) => {
                assert_eq!(header.fields.handle, MemoryHandle(5));
                assert_eq!(header.fields.flags.transaction_type(), Some(TransactionType::Share));
            }
            RetrieveRequest::Hypervisor(_) => {
                panic!("endpoint request parsed as hypervisor request")
            }
        }
        // MM23 hint bits without valid bit; MM18 clear flag with SHARE; MM11 NS bit.
        for (offset, value) in [(4usize, 0x2au32 | 1 << 5), (4, 0x09), (4, 0x0d), (4, 1 << 11)] {
            let mut bytes = out;
            bytes[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
            assert!(RetrieveRequest::parse(&bytes[..length], layout).is_err(), "flags {value:#x}");
        }
        let mut bytes = out;
        bytes[2] |= 0x40;
        assert!(RetrieveRequest::parse(&bytes[..length], layout).is_err());
        // With a composite it is not a retrieve request.
        let with_range = build_transaction(
            &mut out,
            layout,
            &request_fields,
            &receivers,
            &[AddressRange { address: 0, page_count: 1 }],
        )
        .unwrap();
        assert!(RetrieveRequest::parse(&out[..with_range], layout).is_err());
    }
    // Bit 10 only from v1.2.
    let flags = TransactionFlags(TransactionFlags::BYPASS_MULTI_BORROWER_CHECK);
    assert_eq!(flags.check_retrieve_request(Layout::V1_1), INVALID);
    assert_eq!(flags.check_retrieve_request(Layout::V1_2), Ok(()));
}

#[test]
fn relinquish_descriptor() {
    let mut out = [0u8; 64];
    let length = build_relinquish(
        &mut out,
        MemoryHandle(0x1234_5678_9abc),
        RelinquishFlags { clear_memory: true, time_slicing: false },
        &[EndpointId(0x8001)],
    )
    .unwrap();
    assert_eq!(length, 18);
    assert_eq!(
        &out[..18],
        &[0xbc, 0x9a, 0x78, 0x56, 0x34, 0x12, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0x80]
    );
    let parsed = RelinquishDescriptor::parse(&out).unwrap();
    assert_eq!(parsed.handle, MemoryHandle(0x1234_5678_9abc));
    assert_eq!(parsed.single_endpoint(), Ok(EndpointId(0x8001)));
    assert_eq!(parsed.flags.check(TransactionType::Share), INVALID);
    assert_eq!(parsed.flags.check(TransactionType::Lend), Ok(()));
    // MM27: endpoint count 0; reserved flags; endpoint list past the buffer.
    let mut bytes = out;
    bytes[12] = 0;
    assert!(RelinquishDescriptor::parse(&bytes).is_err());
    let mut bytes = out;
    bytes[8] = 4;
    assert!(RelinquishDescriptor::parse(&bytes).is_err());
    assert!(RelinquishDescriptor::parse(&out[..17]).is_err());
    let two = build_relinquish(
        &mut out,
        MemoryHandle(1),
        RelinquishFlags::default(),
        &[EndpointId(2), EndpointId(3)],
    )
    .unwrap();
    let parsed = RelinquishDescriptor::parse(&out[..two]).unwrap();
    assert_eq!(parsed.endpoints().collect::<Vec<_>>(), [EndpointId(2), EndpointId(3)]);
    assert_eq!(parsed.single_endpoint(), INVALID.map(|()| EndpointId(0)));
    assert_eq!(
        build_relinquish(&mut out, MemoryHandle(1), RelinquishFlags::default(), &[]),
        Err(FfaError::InvalidParameters)
    );
    assert_eq!(
        build_relinquish(
            &mut out[..17],
            MemoryHandle(1),
            RelinquishFlags::default(),
            &[EndpointId(2)]
        ),
        Err(FfaError::NoMemory)
    );
}
