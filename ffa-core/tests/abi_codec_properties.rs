//! Property tests: every call variant survives encode -> decode, and decoding arbitrary
//! registers at arbitrary versions never panics.

use ffa_core::call::{ConsoleLogMessage, DescriptorBuffer, MemoryTransaction, MsgWaitFlags, ReclaimFlags};
use ffa_core::direct_message::{DirectBody, DirectMessage, DirectMessage2};
use ffa_core::features::{FeatureId, FeaturesQuery};
use ffa_core::framework_message::{FrameworkMessage, WarmBootType};
use ffa_core::indirect_message::MsgSend2Flags;
use ffa_core::notification::{BindFlags, GetFlags, NotificationBitmap, SetFlags};
use ffa_core::partition_info::PartitionInfoGetFlags;
use ffa_core::rxtx::RxtxMapArgs;
use ffa_core::version::VersionResponse;
use ffa_core::{
    Call, EndpointId, FfaError, FunctionId, Return, SuccessArgs, TargetInfo, Uuid, VcpuId, Version,
};
use proptest::prelude::*;
use proptest::strategy::Union;

const VERSIONS: [Version; 4] = [Version::V1_0, Version::V1_1, Version::V1_2, Version::V1_3];

fn endpoint() -> impl Strategy<Value = EndpointId> {
    any::<u16>().prop_map(EndpointId)
}

fn target() -> impl Strategy<Value = TargetInfo> {
    (any::<u16>(), any::<u16>())
        .prop_map(|(endpoint, vcpu)| TargetInfo { endpoint: EndpointId(endpoint), vcpu: VcpuId(vcpu) })
}

fn uuid() -> impl Strategy<Value = Uuid> {
    any::<[u8; 16]>().prop_map(Uuid)
}

fn error() -> impl Strategy<Value = FfaError> {
    proptest::sample::select(FfaError::ALL.to_vec())
}

/// An address that fits the call's width.
fn address(is_64: bool) -> BoxedStrategy<u64> {
    if is_64 { any::<u64>().boxed() } else { any::<u32>().prop_map(u64::from).boxed() }
}

fn pages(is_64: bool) -> BoxedStrategy<u64> {
    address(is_64).prop_map(|value| value & !0xFFF).boxed()
}

fn pair() -> impl Strategy<Value = (EndpointId, EndpointId)> {
    (endpoint(), endpoint()).prop_filter("source differs from destination", |(a, b)| a != b)
}

fn framework(is_64: bool) -> BoxedStrategy<FrameworkMessage> {
    let status = prop_oneof![Just(Ok(())), error().prop_map(Err)];
    prop_oneof![
        (any::<u32>(), address(is_64), address(is_64), address(is_64))
            .prop_map(|(function, a, b, c)| FrameworkMessage::PsciRequest { function, arguments: [a, b, c] }),
        prop_oneof![Just(WarmBootType::ExitFromSuspend), Just(WarmBootType::ExitFromLowPower)]
            .prop_map(FrameworkMessage::WarmBootRequest),
        any::<i32>().prop_map(|status| FrameworkMessage::PowerManagementResponse { status }),
        (any::<u64>(), endpoint()).prop_map(|(handle, vm_id)| FrameworkMessage::VmCreated { handle, vm_id }),
        (any::<u64>(), endpoint()).prop_map(|(handle, vm_id)| FrameworkMessage::VmDestroyed { handle, vm_id }),
        status.clone().prop_map(FrameworkMessage::VmCreatedResponse),
        status.prop_map(FrameworkMessage::VmDestroyedResponse),
        any::<u32>().prop_map(|requested| FrameworkMessage::VersionRequest { requested }),
        prop_oneof![
            Just(VersionResponse::NotSupported),
            (0..=0x7FFFu16, any::<u16>()).prop_map(|(major, minor)| VersionResponse::Supported(
                Version::new(major, minor).unwrap()
            ))
        ]
        .prop_map(FrameworkMessage::VersionResponse),
    ]
    .boxed()
}

fn direct() -> impl Strategy<Value = DirectMessage> {
    let body = prop_oneof![
        any::<[u32; 5]>().prop_map(DirectBody::Partition32),
        any::<[u64; 5]>().prop_map(DirectBody::Partition64),
        framework(false).prop_map(DirectBody::Framework32),
        framework(true).prop_map(DirectBody::Framework64),
    ];
    (pair(), body).prop_map(|((source, destination), body)| DirectMessage { source, destination, body })
}

fn direct2(is_request: bool) -> impl Strategy<Value = DirectMessage2> {
    (pair(), uuid(), any::<[u64; 14]>()).prop_map(move |((source, destination), uuid, payload)| {
        DirectMessage2 { source, destination, uuid: if is_request { uuid } else { Uuid::NIL }, payload }
    })
}

fn transaction(is_64: bool) -> impl Strategy<Value = MemoryTransaction> {
    let buffer = prop_oneof![
        Just(None),
        (pages(is_64).prop_filter("non-zero", |a| *a != 0), 1..=u32::MAX)
            .prop_map(|(address, page_count)| Some(DescriptorBuffer { address, page_count })),
    ];
    (any::<u32>(), any::<u32>(), buffer).prop_map(|(a, b, buffer)| MemoryTransaction {
        total_length: a.max(b),
        fragment_length: a.min(b),
        buffer,
    })
}

fn width() -> impl Strategy<Value = bool> {
    any::<bool>()
}

/// Every `Call` variant (some only valid from a later version: filtered by the caller).
fn call(version: Version) -> BoxedStrategy<Call> {
    let at_least_1_2 = version >= Version::V1_2;
    let at_least_1_3 = version >= Version::V1_3;
    let arms: Vec<BoxedStrategy<Call>> = vec![
        (target(), error(), width()).prop_map(|(target, error, is_64)| Call::Error { target, error, is_64 }).boxed(),
        (target(), any::<[u32; 6]>()).prop_map(|(target, words)| Call::Success { target, args: SuccessArgs::Args32(words) }).boxed(),
        (target(), any::<[u64; 16]>()).prop_map(move |(target, mut values)| {
            if !at_least_1_2 {
                values[6..].fill(0);
            }
            Call::Success { target, args: SuccessArgs::Args64(values) }
        }).boxed(),
        (target(), any::<u32>(), width()).prop_map(|(target, interrupt_id, is_64)| Call::Interrupt { target, interrupt_id, is_64 }).boxed(),
        any::<u32>().prop_map(|requested| Call::Version { requested }).boxed(),
        prop_oneof![
            proptest::sample::select(FunctionId::ALL.to_vec()).prop_map(|function| FeaturesQuery::Function { function, properties: 0 }),
            prop_oneof![Just(FunctionId::MemRetrieveReq32), Just(FunctionId::MemRetrieveReq64)]
                .prop_map(|function| FeaturesQuery::Function { function, properties: 2 }),
            proptest::sample::select(vec![
                FeatureId::NotificationPendingInterrupt,
                FeatureId::ScheduleReceiverInterrupt,
                FeatureId::ManagedExitInterrupt,
                FeatureId::NotificationFeatures,
            ])
            .prop_map(FeaturesQuery::Feature),
        ]
        .prop_map(Call::Features)
        .boxed(),
        endpoint().prop_map(|vm_id| Call::RxRelease { vm_id }).boxed(),
        endpoint().prop_map(|vm_id| Call::RxAcquire { vm_id }).boxed(),
        endpoint().prop_map(|vm_id| Call::RxtxUnmap { vm_id }).boxed(),
        width().prop_flat_map(|is_64| {
            let buffers = prop_oneof![
                Just(RxtxMapArgs::Forwarded),
                (pages(is_64), pages(is_64), 1..=u32::MAX)
                    .prop_filter("distinct, non-zero", |(tx, rx, _)| tx != rx)
                    .prop_map(|(tx_address, rx_address, page_count)| RxtxMapArgs::Buffers { tx_address, rx_address, page_count }),
            ];
            buffers.prop_map(move |buffers| Call::RxtxMap { buffers, is_64 })
        }).boxed(),
        (uuid(), any::<bool>()).prop_map(move |(uuid, count_only)| Call::PartitionInfoGet {
            uuid,
            flags: if count_only && version >= Version::V1_1 { PartitionInfoGetFlags::COUNT_ONLY } else { PartitionInfoGetFlags::empty() },
        }).boxed(),
        (uuid(), any::<u16>(), any::<u16>()).prop_map(|(uuid, start_index, tag)| Call::PartitionInfoGetRegs {
            uuid, start_index, tag: if start_index == 0 { 0 } else { tag },
        }).boxed(),
        Just(Call::IdGet).boxed(),
        Just(Call::SpmIdGet).boxed(),
        (any::<bool>(), width()).prop_map(move |(retain, is_64)| Call::MsgWait {
            flags: if retain && at_least_1_2 { MsgWaitFlags::RETAIN_RX_BUFFER } else { MsgWaitFlags::empty() },
            is_64,
        }).boxed(),
        (target(), any::<u64>(), width()).prop_map(|(target, timeout, is_64)| Call::Yield { target, timeout, is_64 }).boxed(),
        (target(), width()).prop_map(|(target, is_64)| Call::Run { target, is_64 }).boxed(),
        direct().prop_map(Call::MsgSendDirectReq).boxed(),
        direct().prop_map(Call::MsgSendDirectResp).boxed(),
        direct2(true).prop_map(Call::MsgSendDirectReq2).boxed(),
        direct2(false).prop_map(Call::MsgSendDirectResp2).boxed(),
        width().prop_flat_map(|is_64| transaction(is_64).prop_map(move |transaction| Call::MemDonate { transaction, is_64 })).boxed(),
        width().prop_flat_map(|is_64| transaction(is_64).prop_map(move |transaction| Call::MemLend { transaction, is_64 })).boxed(),
        width().prop_flat_map(|is_64| transaction(is_64).prop_map(move |transaction| Call::MemShare { transaction, is_64 })).boxed(),
        width().prop_flat_map(|is_64| transaction(is_64).prop_map(move |transaction| Call::MemRetrieveReq { transaction, is_64 })).boxed(),
        (any::<u32>(), any::<u32>()).prop_map(|(a, b)| Call::MemRetrieveResp { total_length: a.max(b), fragment_length: a.min(b) }).boxed(),
        Just(Call::MemRelinquish).boxed(),
        (any::<u64>(), 0..4u32).prop_map(|(handle, flags)| Call::MemReclaim { handle, flags: ReclaimFlags::from_bits(flags).unwrap() }).boxed(),
        any::<u64>().prop_map(|handle| Call::MemOpPause { handle }).boxed(),
        any::<u64>().prop_map(|handle| Call::MemOpResume { handle }).boxed(),
        (any::<u64>(), any::<u32>(), endpoint()).prop_map(|(handle, offset, endpoint)| Call::MemFragRx { handle, offset, endpoint }).boxed(),
        (any::<u64>(), any::<u32>(), endpoint()).prop_map(|(handle, fragment_length, endpoint)| Call::MemFragTx { handle, fragment_length, endpoint }).boxed(),
        width().prop_map(|is_64| Call::NormalWorldResume { is_64 }).boxed(),
        (endpoint(), any::<u32>()).prop_map(|(vm_id, vcpu_count)| Call::NotificationBitmapCreate { vm_id, vcpu_count }).boxed(),
        endpoint().prop_map(|vm_id| Call::NotificationBitmapDestroy { vm_id }).boxed(),
        (endpoint(), endpoint(), any::<bool>(), 1..=u64::MAX).prop_map(|(sender, receiver, per_vcpu, bitmap)| Call::NotificationBind {
            sender, receiver,
            flags: if per_vcpu { BindFlags::PER_VCPU } else { BindFlags::empty() },
            bitmap: NotificationBitmap(bitmap),
        }).boxed(),
        (endpoint(), endpoint(), any::<u64>()).prop_map(|(sender, receiver, bitmap)| Call::NotificationUnbind {
            sender, receiver, bitmap: NotificationBitmap(bitmap),
        }).boxed(),
        (endpoint(), endpoint(), any::<bool>(), any::<bool>(), any::<u16>(), any::<u64>()).prop_map(
            |(sender, receiver, per_vcpu, delay_schedule_receiver, vcpu, bitmap)| Call::NotificationSet {
                sender, receiver,
                flags: SetFlags { per_vcpu, delay_schedule_receiver, vcpu: VcpuId(if per_vcpu { vcpu } else { 0 }) },
                bitmap: NotificationBitmap(bitmap),
            }).boxed(),
        (endpoint(), any::<u16>(), 0..16u32).prop_map(|(receiver, vcpu, flags)| Call::NotificationGet {
            receiver, vcpu: VcpuId(vcpu), flags: GetFlags::from_bits(flags).unwrap(),
        }).boxed(),
        width().prop_map(|is_64| Call::NotificationInfoGet { is_64 }).boxed(),
        (endpoint(), any::<bool>()).prop_map(|(sender_vm, delay)| Call::MsgSend2 {
            sender_vm,
            flags: if delay { MsgSend2Flags::DELAY_SCHEDULE_RECEIVER } else { MsgSend2Flags::empty() },
        }).boxed(),
        width().prop_flat_map(|is_64| address(is_64).prop_map(move |entry_point| Call::SecondaryEpRegister { entry_point, is_64 })).boxed(),
        (width(), any::<u32>()).prop_flat_map(move |(is_64, count)| address(is_64).prop_map(move |address| Call::MemPermGet {
            address, page_count_minus_one: if at_least_1_3 { count } else { 0 }, is_64,
        })).boxed(),
        (width(), any::<u32>(), 0..8u32).prop_flat_map(|(is_64, page_count, permissions)| address(is_64).prop_map(move |address| Call::MemPermSet {
            address, page_count, permissions, is_64,
        })).boxed(),
        width().prop_flat_map(|is_64| {
            let maximum = if is_64 { ConsoleLogMessage::MAX_64 } else { ConsoleLogMessage::MAX_32 };
            proptest::collection::vec(any::<u8>(), 1..=maximum)
                .prop_map(move |bytes| Call::ConsoleLog { message: ConsoleLogMessage::new(&bytes, is_64).unwrap(), is_64 })
        }).boxed(),
        Just(Call::El3IntrHandle).boxed(),
        proptest::sample::select(vec![
            FunctionId::MsgPoll, FunctionId::MsgSend, FunctionId::NsResInfoGet, FunctionId::Abort32,
            FunctionId::Abort64, FunctionId::NotificationBind2, FunctionId::NotificationUnbind2,
            FunctionId::NotificationSet2, FunctionId::NotificationGet2,
        ])
        .prop_map(|function| Call::Undecoded { function })
        .boxed(),
    ];
    Union::new(arms)
        .prop_filter("function exists at this version", move |call| call.function_id().minimum_version() <= version)
        .boxed()
}

fn version_and_call() -> impl Strategy<Value = (Version, Call)> {
    proptest::sample::select(VERSIONS.to_vec()).prop_flat_map(|version| (Just(version), call(version)))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, max_global_rejects: 100_000, ..ProptestConfig::default() })]

    #[test]
    fn every_call_round_trips((version, call) in version_and_call()) {
        let registers = call.encode(version);
        prop_assert_eq!(Call::decode(&registers, version), Ok(call));
        let function = call.function_id();
        prop_assert_eq!(registers[0], function.to_register());
        if !function.is_64bit() {
            prop_assert!(registers[1..8].iter().all(|value| value >> 32 == 0));
        }
        if !function.is_64bit() || version < Version::V1_2 {
            prop_assert!(registers[8..].iter().all(|value| *value == 0));
        }
        if let Ok(response) = Return::from_call(call) {
            prop_assert_eq!(Return::decode(&response.encode(version), version), Ok(response));
        }
    }

    #[test]
    fn smc32_calls_ignore_the_upper_halves((version, call) in version_and_call(), noise in any::<[u32; 17]>()) {
        prop_assume!(!call.function_id().is_64bit());
        let mut registers = call.encode(version);
        for (index, noise) in noise.into_iter().enumerate() {
            if index < 7 {
                registers[index + 1] |= u64::from(noise) << 32;
            } else {
                registers[index + 1] = u64::from(noise) << 1;
            }
        }
        registers[0] |= 0xABCD_0000_0000_0000;
        prop_assert_eq!(Call::decode(&registers, version), Ok(call));
    }

    #[test]
    fn decoding_anything_never_panics(
        function in prop_oneof![
            proptest::sample::select(FunctionId::ALL.to_vec()).prop_map(FunctionId::to_register),
            any::<u64>(),
        ],
        hint in any::<bool>(),
        mut registers in any::<[u64; 18]>(),
        major in any::<u16>(),
        minor in any::<u16>(),
        sparse in any::<u32>(),
    ) {
        registers[0] = function | if hint { 1 << 16 } else { 0 };
        // Half of the cases use small values so that field checks pass more often.
        for (index, register) in registers.iter_mut().enumerate().skip(1) {
            if sparse & (1 << index) != 0 {
                *register &= 0xFFFF;
            }
        }
        let version = Version::new(major & 0x7FFF, minor).unwrap();
        for version in [version, Version::V1_0, Version::V1_1, Version::V1_2, Version::V1_3] {
            if let Ok(call) = Call::decode(&registers, version) {
                prop_assert_eq!(Call::decode(&call.encode(version), version), Ok(call));
            }
            if let Ok(response) = Return::decode(&registers, version) {
                prop_assert_eq!(Return::decode(&response.encode(version), version), Ok(response));
            }
            let _ = Return::decode_version(&registers);
        }
    }

    #[test]
    fn fuzz_entry_point_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        ffa_core::call::fuzz_decode_registers(&data);
    }
}
