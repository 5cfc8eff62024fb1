//! The real Linux 6.12 MEM_SHARE descriptor (shared/vectors) parsed and rebuilt byte for byte.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test and benchmark code: a failed expectation should abort loudly"
)]

use ffa_core::memory::*;
use ffa_core::{EndpointId, FfaError};

/// The 96-byte descriptor from linux-6.12-arm_ffa-probe.md, as its little-endian u32 words.
const LINUX_SHARE_WORDS: [u32; 24] = [
    0x002f0001, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000010, 0x00000001,
    0x00000030, 0x00000000, 0x00000000, 0x00000000, 0x00028001, 0x00000040, 0x00000000, 0x00000000,
    0x00000001, 0x00000001, 0x00000000, 0x00000000, 0x402db000, 0x00000000, 0x00000001, 0x00000000,
];

fn linux_share() -> [u8; 96] {
    let mut bytes = [0u8; 96];
    for (chunk, word) in bytes.chunks_exact_mut(4).zip(LINUX_SHARE_WORDS) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    bytes
}

#[test]
fn linux_share_parses_to_exactly_its_values() {
    let bytes = linux_share();
    let descriptor = TransactionDescriptor::parse(&bytes, Layout::V1_1).unwrap();
    let header = descriptor.header;
    assert_eq!(header.fields.sender, EndpointId(1));
    assert_eq!(header.fields.attributes, MemoryRegionAttributes::NORMAL_WRITE_BACK_INNER);
    assert_eq!(header.fields.attributes.to_v1_1(), 0x2f);
    assert_eq!(header.fields.flags, TransactionFlags(0));
    assert_eq!(header.fields.handle, MemoryHandle(0));
    assert_eq!(header.fields.tag, 0);
    assert_eq!(header.receivers.len(), 1);
    let receiver = header.receivers.get(0).unwrap();
    assert_eq!(receiver.receiver, EndpointId(0x8001));
    assert_eq!(receiver.permissions, AccessPermissions::READ_WRITE);
    assert_eq!(receiver.flags, ReceiverFlags::empty());
    assert_eq!(
        header.composite,
        Some(CompositeHeader { offset: 64, total_page_count: 1, address_range_count: 1 })
    );
    let ranges: Vec<_> = descriptor.constituents.iter().collect();
    assert_eq!(ranges, [AddressRange { address: 0x402db000, page_count: 1 }]);
    header.check_send(TransactionType::Share, EndpointId(1)).unwrap();
    assert_eq!(header.check_send(TransactionType::Share, EndpointId(2)), Err(FfaError::Denied));
}

#[test]
fn builder_reproduces_linux_share_byte_for_byte() {
    let fields = TransactionFields {
        sender: EndpointId(1),
        attributes: MemoryRegionAttributes::NORMAL_WRITE_BACK_INNER,
        flags: TransactionFlags(0),
        handle: MemoryHandle(0),
        tag: 0,
    };
    let receivers = [ReceiverAccess::new(EndpointId(0x8001), AccessPermissions::READ_WRITE)];
    let ranges = [AddressRange { address: 0x402db000, page_count: 1 }];
    let mut out = [0xAAu8; 128];
    let length = build_transaction(&mut out, Layout::V1_1, &fields, &receivers, &ranges).unwrap();
    assert_eq!(length, 96);
    assert_eq!(out[..96], linux_share());

    // The fragment writer with a 4 KiB fragment emits the same single fragment.
    let mut writer = FragmentWriter::new(Layout::V1_1, fields, &receivers, &ranges).unwrap();
    assert_eq!(writer.total_length(), 96);
    let mut fragment = [0u8; 4096];
    assert_eq!(writer.next_fragment(&mut fragment), Ok(Some(96)));
    assert_eq!(fragment[..96], linux_share());
    assert_eq!(writer.next_fragment(&mut fragment), Ok(None));
}

#[test]
fn linux_share_converts_to_v1_0_and_v1_2_and_back() {
    let bytes = linux_share();
    let mut v1_0 = [0u8; 128];
    let length = convert_layout(&bytes, Layout::V1_1, &mut v1_0, Layout::V1_0).unwrap();
    assert_eq!(length, 80);
    // v1.0: 32-byte header, attributes in one byte, EMAD at 32, composite at 48.
    assert_eq!(&v1_0[..4], &[0x01, 0x00, 0x2f, 0x00]);
    assert_eq!(&v1_0[28..32], &1u32.to_le_bytes());
    assert_eq!(&v1_0[32..36], &[0x01, 0x80, 0x02, 0x00]);
    assert_eq!(&v1_0[36..40], &48u32.to_le_bytes());
    let mut v1_2 = [0u8; 128];
    let length_1_2 = convert_layout(&v1_0[..80], Layout::V1_0, &mut v1_2, Layout::V1_2).unwrap();
    assert_eq!(length_1_2, 112);
    assert_eq!(&v1_2[24..28], &32u32.to_le_bytes());
    let mut back = [0u8; 128];
    let length_back = convert_layout(&v1_2[..112], Layout::V1_2, &mut back, Layout::V1_1).unwrap();
    assert_eq!(back[..length_back], bytes);
}

#[test]
fn linux_share_streams_in_two_fragments() {
    let bytes = linux_share();
    let (mut reader, header, first) =
        TransactionReader::start(&bytes[..80], 96, Layout::V1_1).unwrap();
    assert!(first.is_empty());
    assert_eq!(header.header_length(), 80);
    let rest = reader.next_fragment(&bytes[80..]).unwrap();
    assert_eq!(rest.iter().next(), Some(AddressRange { address: 0x402db000, page_count: 1 }));
    assert!(reader.is_complete());
    reader.finish().unwrap();
}
