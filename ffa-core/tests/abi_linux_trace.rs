//! The Linux 6.12 arm_ffa probe trace (shared/vectors/linux-6.12-arm_ffa-probe.md): every
//! request decodes to the expected call and every answer encodes to exactly the logged registers.

use ffa_core::call::NO_TARGET;
use ffa_core::direct_message::{DirectBody, DirectMessage};
use ffa_core::features::{FeatureId, FeaturesQuery};
use ffa_core::partition_info::PartitionInfoGetFlags;
use ffa_core::rxtx::RxtxMapArgs;
use ffa_core::version::{negotiate, VersionResponse};
use ffa_core::{Call, EndpointId, FfaError, FunctionId, Return, SuccessArgs, Uuid, Version};

fn registers(values: &[(usize, u64)]) -> [u64; 18] {
    let mut registers = [0u64; 18];
    for &(index, value) in values {
        registers[index] = value;
    }
    registers
}

const V: Version = Version::V1_1;

fn not_supported() -> [u64; 18] {
    registers(&[(0, 0x8400_0060), (2, 0xffff_ffff)])
}

fn features(id: u64) -> Call {
    Call::decode(&registers(&[(0, 0x8400_0064), (1, id)]), V).unwrap()
}

#[test]
fn version_exchange() {
    let call = Call::decode(&registers(&[(0, 0x8400_0063), (1, 0x10001)]), Version::V1_0).unwrap();
    assert_eq!(call, Call::Version { requested: 0x10001 });
    let Call::Version { requested } = call else { unreachable!() };
    let answer = Return::Version(negotiate(Version::V1_2, requested));
    let encoded = answer.encode(Version::V1_0);
    // The trace's firmware left x1 = 0x10001; the reference (and matrix D01) make w1-w7 MBZ,
    // so our encoding differs from the log in x1 only.
    assert_eq!(encoded, registers(&[(0, 0x10002)]));
    let logged = registers(&[(0, 0x10002), (1, 0x10001)]);
    assert_eq!(
        Return::decode_version(&logged),
        Ok(Return::Version(VersionResponse::Supported(Version::V1_2)))
    );
}

#[test]
fn id_get_and_rxtx_map() {
    assert_eq!(Call::decode(&registers(&[(0, 0x8400_0069)]), V), Ok(Call::IdGet));
    assert_eq!(
        Return::success(SuccessArgs::id(EndpointId(1))).encode(V),
        registers(&[(0, 0x8400_0061), (2, 1)])
    );
    assert_eq!(
        features(0xc400_0066),
        Call::Features(FeaturesQuery::Function { function: FunctionId::RxtxMap64, properties: 0 })
    );
    assert_eq!(Return::success(SuccessArgs::EMPTY).encode(V), registers(&[(0, 0x8400_0061)]));
    let map = registers(&[(0, 0xc400_0066), (1, 0x401a_2000), (2, 0x401a_1000), (3, 1)]);
    assert_eq!(
        Call::decode(&map, V),
        Ok(Call::RxtxMap {
            buffers: RxtxMapArgs::Buffers {
                tx_address: 0x401a_2000,
                rx_address: 0x401a_1000,
                page_count: 1
            },
            is_64: true
        })
    );
    assert_eq!(Call::decode(&map, V).unwrap().encode(V), map);
}

#[test]
fn refused_features() {
    for function in [0xc400_0072u64, 0xc400_0073, 0x8400_007d] {
        assert!(matches!(features(function), Call::Features(FeaturesQuery::Function { .. })));
    }
    // REQ2, RESP2 and PARTITION_INFO_GET_REGS are v1.2 IDs; they still decode as queries.
    for function in [0xc400_008du64, 0xc400_008e, 0xc400_008b] {
        assert!(matches!(features(function), Call::Features(FeaturesQuery::Function { .. })));
    }
    assert_eq!(features(2), Call::Features(FeaturesQuery::Feature(FeatureId::ScheduleReceiverInterrupt)));
    assert_eq!(features(1), Call::Features(FeaturesQuery::Feature(FeatureId::NotificationPendingInterrupt)));
    assert_eq!(Return::error(FfaError::NotSupported).encode(V), not_supported());
}

#[test]
fn partition_discovery() {
    let count_only = registers(&[(0, 0x8400_0068), (5, 1)]);
    assert_eq!(
        Call::decode(&count_only, V),
        Ok(Call::PartitionInfoGet { uuid: Uuid::NIL, flags: PartitionInfoGetFlags::COUNT_ONLY })
    );
    assert_eq!(
        Call::decode(&registers(&[(0, 0x8400_0068)]), V),
        Ok(Call::PartitionInfoGet { uuid: Uuid::NIL, flags: PartitionInfoGetFlags::empty() })
    );
    assert_eq!(
        Return::success(SuccessArgs::partition_count(1, 0x18)).encode(V),
        registers(&[(0, 0x8400_0061), (2, 1), (3, 0x18)])
    );
    assert_eq!(Call::decode(&registers(&[(0, 0x8400_0065)]), V), Ok(Call::RxRelease { vm_id: EndpointId(0) }));
}

fn direct(source: u16, destination: u16, words: [u32; 5]) -> DirectMessage {
    DirectMessage {
        source: EndpointId(source),
        destination: EndpointId(destination),
        body: DirectBody::Partition32(words),
    }
}

#[test]
fn optee_direct_requests_and_share() {
    let cases: [([u64; 18], Call, [u32; 5]); 4] = [
        (registers(&[(0, 0x8400_006f), (1, 0x18001)]), Call::MsgSendDirectReq(direct(1, 0x8001, [0; 5])), [1, 0, 0, 0, 0]),
        (registers(&[(0, 0x8400_006f), (1, 0x18001), (3, 1)]), Call::MsgSendDirectReq(direct(1, 0x8001, [1, 0, 0, 0, 0])), [4, 0, 0, 0, 0]),
        (registers(&[(0, 0x8400_006f), (1, 0x18001), (3, 2)]), Call::MsgSendDirectReq(direct(1, 0x8001, [2, 0, 0, 0, 0])), [0; 5]),
        (
            registers(&[(0, 0x8400_006f), (1, 0x18001), (3, 0x8000_0000), (4, 1)]),
            Call::MsgSendDirectReq(direct(1, 0x8001, [0x8000_0000, 1, 0, 0, 0])),
            [0; 5],
        ),
    ];
    for (input, expected, answer_words) in cases {
        assert_eq!(Call::decode(&input, V), Ok(expected));
        let answer = Return::DirectResponse(direct(0x8001, 1, answer_words));
        let mut logged = registers(&[(0, 0x8400_0070), (1, 0x8001_0001)]);
        logged[3] = answer_words[0].into();
        assert_eq!(answer.encode(V), logged);
        assert_eq!(Return::decode(&logged, V), Ok(answer));
    }
    let share = registers(&[(0, 0x8400_0073), (1, 0x60), (2, 0x60)]);
    let call = Call::decode(&share, V).unwrap();
    let Call::MemShare { transaction, is_64: false } = call else { panic!("{call:?}") };
    assert_eq!((transaction.total_length, transaction.fragment_length, transaction.buffer), (0x60, 0x60, None));
    assert_eq!(
        Return::Success { target: NO_TARGET, args: SuccessArgs::handle(1) }.encode(V),
        registers(&[(0, 0x8400_0061), (2, 1)])
    );
}
