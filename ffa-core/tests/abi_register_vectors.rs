//! Register vectors written from the reference tables for each call family, and the MBZ /
// Tests may unwrap and panic: either is a test failure.
#![allow(clippy::unwrap_used, clippy::panic)]
//! unknown-value rejections (every rejection names the error the reference or matrix gives).

use ffa_core::call::{MsgWaitFlags, ReclaimFlags, NO_TARGET};
use ffa_core::direct_message::{DirectBody, DirectMessage, DirectMessage2};
use ffa_core::framework_message::FrameworkMessage;
use ffa_core::notification::{BindFlags, GetFlags, NotificationBitmap, SetFlags};
use ffa_core::partition_info::{
    parse_regs_results, read_descriptors, regs_results, write_descriptors, PartitionIdType,
    PartitionInfo, PartitionProperties, PartitionPropertyFlags, RegsHeader,
};
use ffa_core::version::VersionResponse;
use ffa_core::{
    Call, EndpointId, FfaError, Return, SuccessArgs, TargetInfo, Uuid, VcpuId, Version,
};

fn registers(values: &[(usize, u64)]) -> [u64; 18] {
    let mut registers = [0u64; 18];
    for &(index, value) in values {
        registers[index] = value;
    }
    registers
}

/// Decodes `input` to `expected` and encodes `expected` back to exactly `input`.
fn both_ways(input: [u64; 18], version: Version, expected: Call) {
    assert_eq!(Call::decode(&input, version), Ok(expected), "decode {input:x?}");
    assert_eq!(expected.encode(version), input, "encode {expected:?}");
}

fn rejected(input: &[(usize, u64)], version: Version, error: FfaError) {
    assert_eq!(Call::decode(&registers(input), version), Err(error), "{input:x?}");
}

const V12: Version = Version::V1_2;

#[test]
fn status_and_scheduling_vectors() {
    let target = TargetInfo { endpoint: EndpointId(0x8001), vcpu: VcpuId(2) };
    both_ways(
        registers(&[(0, 0x8400_0060), (2, 0xFFFF_FFFE)]),
        V12,
        Call::Error { target: NO_TARGET, error: FfaError::InvalidParameters, is_64: false },
    );
    both_ways(
        registers(&[(0, 0xC400_0060), (2, 0xFFFF_FFFF)]),
        V12,
        Call::Error { target: NO_TARGET, error: FfaError::NotSupported, is_64: true },
    );
    both_ways(
        registers(&[(0, 0x8400_0062), (1, 0x8001_0002), (2, 27)]),
        V12,
        Call::Interrupt { target, interrupt_id: 27, is_64: false },
    );
    both_ways(
        registers(&[(0, 0x8400_006D), (1, 0x8001_0002)]),
        V12,
        Call::Run { target, is_64: false },
    );
    both_ways(
        registers(&[(0, 0x8400_006C), (1, 0x8001_0002), (2, 5), (3, 1)]),
        V12,
        Call::Yield { target, timeout: 0x1_0000_0005, is_64: false },
    );
    both_ways(
        registers(&[(0, 0x8400_006B), (2, 1)]),
        V12,
        Call::MsgWait { flags: MsgWaitFlags::RETAIN_RX_BUFFER, is_64: false },
    );
    both_ways(registers(&[(0, 0x8400_007C)]), V12, Call::NormalWorldResume { is_64: false });
    both_ways(registers(&[(0, 0x8400_008C)]), V12, Call::El3IntrHandle);
    both_ways(
        registers(&[(0, 0xC400_0087), (1, 0x6000_0000_1000)]),
        V12,
        Call::SecondaryEpRegister { entry_point: 0x6000_0000_1000, is_64: true },
    );
    // SUCCESS_64 at v1.2 carries x8-x17; at v1.1 they are not part of the call.
    let wide = registers(&[(0, 0xC400_0061), (2, 1), (17, 0xABCD)]);
    let mut values = [0u64; 16];
    values[0] = 1;
    values[15] = 0xABCD;
    both_ways(wide, V12, Call::Success { target: NO_TARGET, args: SuccessArgs::Args64(values) });
    values[15] = 0;
    assert_eq!(
        Call::decode(&wide, Version::V1_1),
        Ok(Call::Success { target: NO_TARGET, args: SuccessArgs::Args64(values) })
    );
}

#[test]
fn status_rejections() {
    rejected(&[(0, 0x8400_0060), (2, 0)], V12, FfaError::InvalidParameters);
    rejected(&[(0, 0x8400_0060), (2, 0xFFFF_FFF0)], V12, FfaError::InvalidParameters);
    rejected(&[(0, 0xC400_006D), (1, 1 << 40)], Version::V1_3, FfaError::InvalidParameters);
    rejected(&[(0, 0xC400_006D)], V12, FfaError::NotSupported);
    rejected(&[(0, 0x8400_006B), (2, 1)], Version::V1_1, FfaError::InvalidParameters);
    rejected(&[(0, 0x8400_006B), (2, 2)], V12, FfaError::InvalidParameters);
    rejected(&[(0, 0x8400_0091)], V12, FfaError::NotSupported);
    rejected(&[(0, 0x8400_0086)], Version::V1_0, FfaError::NotSupported);
    // MSG_SEND and MSG_POLL are recognised but left for the partition manager to refuse.
    assert!(matches!(
        Call::decode(&registers(&[(0, 0x8400_006E)]), V12),
        Ok(Call::Undecoded { .. })
    ));
}

#[test]
fn setup_vectors_and_rejections() {
    both_ways(
        registers(&[(0, 0x8400_0067), (1, 0x0005_0000)]),
        V12,
        Call::RxtxUnmap { vm_id: EndpointId(5) },
    );
    rejected(&[(0, 0x8400_0067), (1, 5)], V12, FfaError::InvalidParameters);
    both_ways(
        registers(&[(0, 0x8400_0065), (1, 5)]),
        V12,
        Call::RxRelease { vm_id: EndpointId(5) },
    );
    rejected(&[(0, 0x8400_0065), (1, 0x1_0000)], V12, FfaError::InvalidParameters);
    both_ways(
        registers(&[(0, 0x8400_0084), (1, 5)]),
        V12,
        Call::RxAcquire { vm_id: EndpointId(5) },
    );
    both_ways(registers(&[(0, 0x8400_0085)]), V12, Call::SpmIdGet);
    rejected(
        &[(0, 0x8400_0066), (1, 0x1100), (2, 0x2000), (3, 1)],
        V12,
        FfaError::InvalidParameters,
    );
    rejected(&[(0, 0x8400_0066), (1, 0x1000), (2, 0x2000)], V12, FfaError::InvalidParameters);
    // PARTITION_INFO_GET: w5 MBZ at v1.0, only bit 0 after.
    rejected(&[(0, 0x8400_0068), (5, 1)], Version::V1_0, FfaError::InvalidParameters);
    rejected(&[(0, 0x8400_0068), (5, 2)], V12, FfaError::InvalidParameters);
    let optee = Uuid::parse("486178e0-e7f8-11e3-bc5e-0002a5d5c51b").unwrap();
    both_ways(
        registers(&[
            (0, 0x8400_0068),
            (1, 0xe078_6148),
            (2, 0xe311_f8e7),
            (3, 0x0200_5ebc),
            (4, 0x1bc5_d5a5),
        ]),
        V12,
        Call::PartitionInfoGet {
            uuid: optee,
            flags: ffa_core::partition_info::PartitionInfoGetFlags::empty(),
        },
    );
    both_ways(
        registers(&[
            (0, 0xC400_008B),
            (1, 0xe311_f8e7_e078_6148),
            (2, 0x1bc5_d5a5_0200_5ebc),
            (3, 0x0007_0005),
        ]),
        V12,
        Call::PartitionInfoGetRegs { uuid: optee, start_index: 5, tag: 7 },
    );
    rejected(&[(0, 0xC400_008B), (3, 0x0007_0000)], V12, FfaError::InvalidParameters);
    rejected(&[(0, 0xC400_008B), (3, 1 << 32)], V12, FfaError::InvalidParameters);
    rejected(&[(0, 0xC400_008B)], Version::V1_1, FfaError::NotSupported);
    // FEATURES: unknown function (matrix D09) and undefined input properties.
    rejected(&[(0, 0x8400_0064), (1, 0x8FFF_FFFF)], V12, FfaError::NotSupported);
    rejected(&[(0, 0x8400_0064), (1, 0x8400_0073), (2, 1)], V12, FfaError::InvalidParameters);
    // VERSION with bit 31 set still decodes: the answer is the NOT_SUPPORTED word (D02).
    both_ways(
        registers(&[(0, 0x8400_0063), (1, 0x8001_0002)]),
        V12,
        Call::Version { requested: 0x8001_0002 },
    );
    assert_eq!(
        Return::Version(VersionResponse::NotSupported).encode(V12),
        registers(&[(0, 0xFFFF_FFFF)])
    );
}

#[test]
fn direct_message_vectors_and_rejections() {
    // 64-bit direct request from a v1.0 peer: x3-x7 are 64-bit, x8-x17 ignored.
    let mut input = registers(&[(0, 0xC400_006F), (1, 0x0001_8001), (3, u64::MAX), (7, 1 << 40)]);
    let expected = Call::MsgSendDirectReq(DirectMessage {
        source: EndpointId(1),
        destination: EndpointId(0x8001),
        body: DirectBody::Partition64([u64::MAX, 0, 0, 0, 1 << 40]),
    });
    both_ways(input, Version::V1_0, expected);
    input[9] = 99;
    assert_eq!(Call::decode(&input, Version::V1_0), Ok(expected));
    // SPMD framework PSCI CPU_OFF request (reference §10.1).
    both_ways(
        registers(&[(0, 0x8400_006F), (1, 0xFFFF_8000), (2, 0x8000_0000), (3, 0x8400_0002)]),
        V12,
        Call::MsgSendDirectReq(DirectMessage {
            source: EndpointId(0xFFFF),
            destination: EndpointId(0x8000),
            body: DirectBody::Framework32(FrameworkMessage::PsciRequest {
                function: 0x8400_0002,
                arguments: [0; 3],
            }),
        }),
    );
    // FFA_VERSION response framework message.
    both_ways(
        registers(&[(0, 0x8400_0070), (1, 0x8000_FFFF), (2, 0x8000_0009), (3, 0x0001_0002)]),
        V12,
        Call::MsgSendDirectResp(DirectMessage {
            source: EndpointId(0x8000),
            destination: EndpointId(0xFFFF),
            body: DirectBody::Framework32(FrameworkMessage::VersionResponse(
                VersionResponse::Supported(Version::V1_2),
            )),
        }),
    );
    // VM created, handle split in w3/w4, VM ID in w5.
    both_ways(
        registers(&[
            (0, 0x8400_006F),
            (1, 0x0000_8001),
            (2, 0x8000_0004),
            (3, 0x2),
            (4, 0x1),
            (5, 7),
        ]),
        V12,
        Call::MsgSendDirectReq(DirectMessage {
            source: EndpointId(0),
            destination: EndpointId(0x8001),
            body: DirectBody::Framework32(FrameworkMessage::VmCreated {
                handle: 0x1_0000_0002,
                vm_id: EndpointId(7),
            }),
        }),
    );
    rejected(&[(0, 0x8400_006F), (1, 0x0001_0001)], V12, FfaError::InvalidParameters); // M03
    rejected(
        &[(0, 0x8400_006F), (1, 0x0001_8001), (2, 1)],
        Version::V1_1,
        FfaError::InvalidParameters,
    ); // M04
    assert!(Call::decode(&registers(&[(0, 0x8400_006F), (1, 0x0001_8001), (2, 1)]), V12).is_ok());
    rejected(
        &[(0, 0x8400_006F), (1, 0x0001_8001), (2, 0x8000_0003)],
        V12,
        FfaError::InvalidParameters,
    );
    rejected(
        &[(0, 0x8400_006F), (1, 0x0001_8001), (2, 0x8000_0100)],
        V12,
        FfaError::InvalidParameters,
    );
    rejected(&[(0, 0xC400_006F), (1, 1 << 32 | 0x0001_8001)], V12, FfaError::InvalidParameters);
    // REQ2: UUID in x2-x3, payload x4-x17.
    let uuid = Uuid::from_register_pair(0x1111, 0x2222);
    let mut payload = [0u64; 14];
    payload[13] = 0x17;
    both_ways(
        registers(&[(0, 0xC400_008D), (1, 0x0001_8001), (2, 0x1111), (3, 0x2222), (17, 0x17)]),
        V12,
        Call::MsgSendDirectReq2(DirectMessage2 {
            source: EndpointId(1),
            destination: EndpointId(0x8001),
            uuid,
            payload,
        }),
    );
    rejected(&[(0, 0xC400_008E), (1, 0x8001_0001), (2, 1)], V12, FfaError::InvalidParameters);
    rejected(&[(0, 0xC400_008D), (1, 0x0001_8001)], Version::V1_1, FfaError::NotSupported);
}

#[test]
fn memory_vectors_and_rejections() {
    both_ways(
        registers(&[(0, 0x8400_0077), (1, 0x2), (2, 0x1), (3, 1)]),
        V12,
        Call::MemReclaim { handle: 0x1_0000_0002, flags: ReclaimFlags::ZERO_MEMORY },
    );
    rejected(&[(0, 0x8400_0077), (3, 4)], V12, FfaError::InvalidParameters);
    both_ways(
        registers(&[(0, 0x8400_007A), (1, 0x2), (2, 0x1), (3, 0x1000), (4, 0x0005_0000)]),
        V12,
        Call::MemFragRx { handle: 0x1_0000_0002, offset: 0x1000, endpoint: EndpointId(5) },
    );
    rejected(&[(0, 0x8400_007B), (4, 5)], V12, FfaError::InvalidParameters);
    both_ways(
        registers(&[(0, 0x8400_0075), (1, 0x2000), (2, 0x1000)]),
        V12,
        Call::MemRetrieveResp { total_length: 0x2000, fragment_length: 0x1000 },
    );
    rejected(&[(0, 0x8400_0073), (1, 0x10), (2, 0x20)], V12, FfaError::InvalidParameters);
    rejected(
        &[(0, 0x8400_0073), (1, 0x30), (2, 0x30), (3, 0x1000)],
        V12,
        FfaError::InvalidParameters,
    );
    rejected(
        &[(0, 0x8400_0073), (1, 0x30), (2, 0x30), (3, 0x1001), (4, 1)],
        V12,
        FfaError::InvalidParameters,
    );
    rejected(&[(0, 0x8400_0088), (1, 0x1000), (2, 1)], V12, FfaError::InvalidParameters);
    rejected(&[(0, 0x8400_0089), (1, 0x1000), (2, 1), (3, 8)], V12, FfaError::InvalidParameters);
    both_ways(registers(&[(0, 0x8400_0078), (1, 9)]), V12, Call::MemOpPause { handle: 9 });
}

#[test]
fn notification_vectors_and_rejections() {
    both_ways(
        registers(&[(0, 0x8400_007F), (1, 0x8001_0002), (2, 1), (3, 0x10), (4, 0x1)]),
        V12,
        Call::NotificationBind {
            sender: EndpointId(0x8001),
            receiver: EndpointId(2),
            flags: BindFlags::PER_VCPU,
            bitmap: NotificationBitmap(0x1_0000_0010),
        },
    );
    rejected(
        &[(0, 0x8400_007F), (1, 0x8001_0002), (2, 2), (3, 1)],
        V12,
        FfaError::InvalidParameters,
    );
    rejected(&[(0, 0x8400_007F), (1, 0x8001_0002)], V12, FfaError::InvalidParameters); // N03 zero bitmap
    rejected(&[(0, 0x8400_0080), (2, 1), (3, 1)], V12, FfaError::InvalidParameters); // N04 w2 MBZ
    both_ways(
        registers(&[(0, 0x8400_0081), (1, 0x0001_8001), (2, 0x0003_0003), (3, 4)]),
        V12,
        Call::NotificationSet {
            sender: EndpointId(1),
            receiver: EndpointId(0x8001),
            flags: SetFlags { per_vcpu: true, delay_schedule_receiver: true, vcpu: VcpuId(3) },
            bitmap: NotificationBitmap(4),
        },
    );
    both_ways(
        registers(&[(0, 0x8400_0082), (1, 0x0002_8001), (2, 0b0101)]),
        V12,
        Call::NotificationGet {
            receiver: EndpointId(0x8001),
            vcpu: VcpuId(2),
            flags: GetFlags::SP | GetFlags::SPM_FRAMEWORK,
        },
    );
    rejected(&[(0, 0x8400_0082), (2, 0x10)], V12, FfaError::InvalidParameters);
    both_ways(
        registers(&[(0, 0x8400_007D), (1, 3), (2, 4)]),
        V12,
        Call::NotificationBitmapCreate { vm_id: EndpointId(3), vcpu_count: 4 },
    );
    rejected(&[(0, 0x8400_007D), (1, 0x1_0003)], V12, FfaError::InvalidParameters);
    rejected(&[(0, 0x8400_007D), (1, 3)], Version::V1_0, FfaError::NotSupported);
    both_ways(registers(&[(0, 0xC400_0083)]), V12, Call::NotificationInfoGet { is_64: true });
    rejected(&[(0, 0x8400_0086), (1, 1)], V12, FfaError::InvalidParameters);
    rejected(&[(0, 0x8400_0086), (2, 1)], V12, FfaError::InvalidParameters);
}

#[test]
fn console_log_packs_characters_little_endian() {
    let call =
        Call::decode(&registers(&[(0, 0x8400_008A), (1, 5), (2, 0x6c6c_6548), (3, 0x6f)]), V12)
            .unwrap();
    let Call::ConsoleLog { message, is_64: false } = call else { panic!("{call:?}") };
    assert_eq!(message.as_bytes(), b"Hello");
    rejected(&[(0, 0x8400_008A), (1, 0)], V12, FfaError::InvalidParameters);
    rejected(&[(0, 0x8400_008A), (1, 25)], V12, FfaError::InvalidParameters);
    rejected(&[(0, 0xC400_008A), (1, 129)], V12, FfaError::InvalidParameters);
    assert!(Call::decode(&registers(&[(0, 0xC400_008A), (1, 128)]), V12).is_ok());
}

fn sample_partition() -> PartitionInfo {
    PartitionInfo {
        id: EndpointId(0x8001),
        execution_context_count: 4,
        properties: PartitionProperties {
            flags: PartitionPropertyFlags::DIRECT_REQUEST_RECEIVE
                | PartitionPropertyFlags::AARCH64
                | PartitionPropertyFlags::DIRECT_REQUEST2_RECEIVE,
            id_type: PartitionIdType::PeEndpoint,
        },
        uuid: Uuid::parse("486178e0-e7f8-11e3-bc5e-0002a5d5c51b").unwrap(),
        image_uuid: Uuid([9; 16]),
        ffa_version: Version::V1_3,
    }
}

#[test]
fn partition_descriptors_in_every_size() {
    let entry = sample_partition();
    let mut buffer = [0u8; 96];
    assert_eq!(write_descriptors(&[entry, entry], Version::V1_0, &mut buffer), Ok(16));
    // v1.0: id, count, properties filtered to bits [2:0].
    assert_eq!(&buffer[..8], &[0x01, 0x80, 4, 0, 1, 0, 0, 0]);
    assert_eq!(write_descriptors(&[entry], V12, &mut buffer), Ok(24));
    assert_eq!(&buffer[4..8], &0x301u32.to_le_bytes());
    assert_eq!(&buffer[8..12], &[0x48, 0x61, 0x78, 0xe0]);
    let parsed: Vec<_> = read_descriptors(&buffer, 1, 24, V12).unwrap().collect();
    assert_eq!(
        parsed,
        vec![Ok(PartitionInfo { image_uuid: Uuid::NIL, ffa_version: Version::V1_0, ..entry })]
    );
    assert_eq!(write_descriptors(&[entry, entry], Version::V1_3, &mut buffer), Ok(96));
    assert_eq!(PartitionInfo::read(&buffer[48..], Version::V1_3), Ok(entry));
    assert_eq!(write_descriptors(&[entry; 3], Version::V1_3, &mut buffer), Err(FfaError::NoMemory));
    assert!(read_descriptors(&buffer, 3, 48, Version::V1_3).is_err());
    assert!(read_descriptors(&buffer, 1, 8, Version::V1_3).is_err());
    // A v1.0 descriptor with a v1.1 bit set is refused.
    let bad = [1u8, 0, 1, 0, 0x08, 0, 0, 0];
    assert_eq!(PartitionInfo::read(&bad, Version::V1_0), Err(FfaError::InvalidParameters));
}

#[test]
fn partition_info_get_regs_packing() {
    let entry = sample_partition();
    let args = regs_results(6, 5, 0, &[entry, entry]).unwrap();
    assert_eq!(
        args.register(2),
        RegsHeader { last_index: 6, current_index: 6, tag: 0, descriptor_size: 24 }.to_register()
    );
    assert_eq!(args.register(2), 24 << 48 | 6 << 16 | 6);
    assert_eq!(args.register(3), 0x0000_0301_0004_8001);
    assert_eq!(args.register(4), 0xe311_f8e7_e078_6148);
    assert_eq!(args.register(9), 0);
    let (header, entries) = parse_regs_results(&args, 5).unwrap();
    assert_eq!(header.current_index, 6);
    let expected = PartitionInfo { image_uuid: Uuid::NIL, ffa_version: Version::V1_0, ..entry };
    assert_eq!(entries, [Some(expected), Some(expected), None, None, None]);
    assert_eq!(regs_results(5, 5, 0, &[entry, entry]), Err(FfaError::InvalidParameters));
    assert_eq!(regs_results(9, 0, 0, &[entry; 6]), Err(FfaError::InvalidParameters));
    assert_eq!(
        parse_regs_results(&args, 0).map(|(header, _)| header),
        Err(FfaError::InvalidParameters)
    );
}
