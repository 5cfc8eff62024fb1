//! Setup and discovery rows of the conformance matrix (D01-D26) against the SPMC core, plus
//! the SPMD's framework messages.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

#[path = "core_harness.rs"]
mod harness;

use ffa_core::call::{MsgWaitFlags, Return};
use ffa_core::direct_message::{DirectBody, DirectMessage};
use ffa_core::features::{FeatureId, FeaturesQuery};
use ffa_core::framework_message::FrameworkMessage;
use ffa_core::partition_info::PartitionInfoGetFlags;
use ffa_core::version::VersionResponse;
use ffa_core::{Call, EndpointId, FfaError, FunctionId, SuccessArgs, Uuid, Version};
use harness::*;
use spmc::partition_manager::{ContextState, Transfer};

fn version_word(delivery: &spmc::partition_manager::Delivery) -> u32 {
    delivery.registers[0] as u32
}

fn features(
    manager: &Manager,
    from: spmc::partition_manager::ContextId,
    query: FeaturesQuery,
) -> Result<u32, FfaError> {
    let delivery = call(manager, from, Call::Features(query));
    assert_eq!(delivery.to, from);
    match error_of(&delivery) {
        Some(error) => Err(error),
        None => {
            assert_eq!(delivery.registers[0], FunctionId::Success32.to_register());
            assert!(delivery.registers[3..8].iter().all(|&value| value == 0), "w3-w7 MBZ");
            Ok(delivery.registers[2] as u32)
        }
    }
}

fn function(function: FunctionId) -> FeaturesQuery {
    FeaturesQuery::Function { function, properties: 0 }
}

fn map(
    manager: &Manager,
    from: spmc::partition_manager::ContextId,
    tx: u64,
    rx: u64,
    pages: u32,
) -> spmc::partition_manager::Delivery {
    let registers = {
        let mut registers = [0u64; 18];
        registers[0] = FunctionId::RxtxMap64.to_register();
        registers[1] = tx;
        registers[2] = rx;
        registers[3] = pages.into();
        registers
    };
    let delivery = manager.handle(from, &registers);
    manager.check_invariants().unwrap();
    delivery
}

fn is_success(delivery: &spmc::partition_manager::Delivery) -> bool {
    delivery.registers[0] == FunctionId::Success32.to_register()
}

#[test]
fn boot_runs_every_partition_then_reports_msg_wait_to_the_spmd() {
    let manager = new_spmc();
    let end = boot_cpu(&manager, 0, |context| {
        assert_eq!(
            manager.context_state(context),
            Some(ContextState::Running { cpu: 0, booting: true })
        );
        msg_wait()
    });
    assert_eq!(end.transfer, Transfer::OtherWorld);
    assert_eq!(end.registers[0], FunctionId::MsgWait32.to_register());
    for sp in ALL_SPS {
        assert_eq!(manager.context_state(ec(sp, 0)), Some(ContextState::Waiting), "{sp}");
    }
    // SP4 is MP: its context 1 boots only when CPU 1 does.
    assert_eq!(manager.context_state(ec(SP4, 1)), Some(ContextState::NotStarted));
    let first = manager.boot(1).unwrap();
    assert_eq!((first.to, first.transfer), (ec(SP4, 1), Transfer::Start));
}

#[test]
fn boot_error_aborts_the_partition_and_boot_continues() {
    let manager = new_spmc();
    let end = boot_cpu(&manager, 0, |context| {
        if context.endpoint == SP2 {
            Call::Error {
                target: ffa_core::call::NO_TARGET,
                error: FfaError::Aborted,
                is_64: false,
            }
            .encode(Version::V1_2)
        } else {
            msg_wait()
        }
    });
    assert_eq!(end.registers[0], FunctionId::MsgWait32.to_register());
    assert_eq!(manager.context_state(ec(SP2, 0)), Some(ContextState::Aborted));
    assert_eq!(manager.context_state(ec(SP3, 0)), Some(ContextState::Waiting));
    let delivery = call(&manager, nwd(0), request32(NWD, SP2, [1; 5]));
    assert_error(&delivery, nwd(0), FfaError::Aborted);
}

#[test]
fn d01_version_answers_own_version_with_same_major() {
    let manager = booted_spmc();
    for requested in [0x0001_0000, 0x0001_0001, 0x0001_0002] {
        let fresh = new_spmc();
        let first = boot_cpu(&fresh, 0, |context| {
            if context.endpoint == SP1 {
                // Ask for the version before anything else; the answer goes straight back.
                let answer =
                    fresh.handle(context, &Call::Version { requested }.encode(Version::V1_2));
                assert_eq!(answer.to, context);
                assert_eq!(version_word(&answer), 0x0001_0002);
                assert!(answer.registers[1..8].iter().all(|&value| value == 0), "w1-w7 MBZ");
            }
            msg_wait()
        });
        assert_eq!(first.transfer, Transfer::OtherWorld);
    }
    let delivery = call(&manager, nwd(0), Call::Version { requested: 0x0001_0001 });
    assert_eq!(version_word(&delivery), 0x0001_0002);
}

#[test]
fn d02_version_with_bit31_is_not_supported() {
    let manager = new_spmc();
    let delivery =
        manager.handle(nwd(0), &Call::Version { requested: 0x8001_0002 }.encode(Version::V1_2));
    assert_eq!(delivery.registers[0], 0xFFFF_FFFF);
    assert_eq!(delivery.to, nwd(0));
}

#[test]
fn d03_version_other_major_is_not_supported() {
    let manager = new_spmc();
    for requested in [0x0002_0000, 0x0000_0009] {
        let delivery = manager.handle(nwd(1), &Call::Version { requested }.encode(Version::V1_2));
        assert_eq!(delivery.registers[0], 0xFFFF_FFFF, "{requested:#x}");
    }
}

#[test]
fn d04_version_locked_after_other_call() {
    let manager = new_spmc();
    // Before any other call, several FFA_VERSION calls renegotiate.
    assert_eq!(
        version_word(&call(&manager, nwd(0), Call::Version { requested: 0x0001_0002 })),
        0x0001_0002
    );
    assert_eq!(
        version_word(&call(&manager, nwd(0), Call::Version { requested: 0x0001_0001 })),
        0x0001_0002
    );
    // Any other call freezes the negotiated version (1.1).
    assert!(is_success(&call(&manager, nwd(0), Call::IdGet)));
    let lower = call(&manager, nwd(0), Call::Version { requested: 0x0001_0000 });
    assert_eq!(lower.registers[0], 0xFFFF_FFFF);
    let same = call(&manager, nwd(0), Call::Version { requested: 0x0001_0001 });
    assert_eq!(version_word(&same), 0x0001_0002);

    // The same for a partition: SP1 negotiates 1.1 at boot, calls ID_GET, then cannot move.
    let fresh = new_spmc();
    boot_cpu(&fresh, 0, |context| {
        if context.endpoint == SP1 {
            let first = fresh
                .handle(context, &Call::Version { requested: 0x0001_0001 }.encode(Version::V1_2));
            assert_eq!(version_word(&first), 0x0001_0002);
            let id = fresh.handle(context, &Call::IdGet.encode(Version::V1_1));
            assert_eq!(id.registers[2], u64::from(SP1.0));
            let again = fresh
                .handle(context, &Call::Version { requested: 0x0001_0000 }.encode(Version::V1_1));
            assert_eq!(again.registers[0], 0xFFFF_FFFF);
            let same = fresh
                .handle(context, &Call::Version { requested: 0x0001_0001 }.encode(Version::V1_1));
            assert_eq!(version_word(&same), 0x0001_0002);
        }
        msg_wait()
    });
    assert_eq!(fresh.negotiated_version(SP1), Some(Version::V1_1));
}

#[test]
fn d05_id_get_returns_the_callers_id() {
    let manager = booted_spmc();
    let delivery = call(&manager, nwd(2), Call::IdGet);
    assert_eq!(returned(&delivery, Version::V1_2), Return::success(SuccessArgs::id(NWD)));
    // From a partition: its own ID, w2[31:16] and w3-w7 zero.
    let request = call(&manager, nwd(0), request32(NWD, SP3, [0; 5]));
    assert_eq!(request.to, ec(SP3, 0));
    let id = call(&manager, ec(SP3, 0), Call::IdGet);
    assert_eq!(id.to, ec(SP3, 0));
    assert_eq!(id.registers[2], u64::from(SP3.0));
    assert!(id.registers[3..8].iter().all(|&value| value == 0));
}

#[test]
fn d06_spm_id_get_returns_the_spmc_id() {
    let manager = booted_spmc();
    let delivery = call(&manager, nwd(0), Call::SpmIdGet);
    assert_eq!(returned(&delivery, Version::V1_2), Return::success(SuccessArgs::id(SPMC_ID)));
}

#[test]
fn d07_mandatory_interfaces_are_reported() {
    let manager = booted_spmc();
    for id in [
        FunctionId::Error32,
        FunctionId::Interrupt32,
        FunctionId::Version,
        FunctionId::Features,
        FunctionId::RxRelease,
        FunctionId::RxtxUnmap,
        FunctionId::PartitionInfoGet,
        FunctionId::IdGet,
        FunctionId::Success32,
        FunctionId::RxtxMap64,
    ] {
        assert!(features(&manager, nwd(0), function(id)).is_ok(), "{id}");
    }
}

#[test]
fn d08_features_rxtx_map_reports_4k_and_maximum_pages() {
    let manager = booted_spmc();
    let word = features(&manager, nwd(0), function(FunctionId::RxtxMap32)).unwrap();
    assert_eq!(word & 3, 0, "4 KiB minimum");
    assert_eq!(word & 0xFFFC, 0);
    assert_eq!(word >> 16, 4, "v1.2 caller sees the page limit");
}

#[test]
fn d09_features_of_an_unknown_function_is_not_supported() {
    let manager = booted_spmc();
    let mut registers = [0u64; 18];
    registers[0] = FunctionId::Features.to_register();
    registers[1] = 0x8FFF_FFFF;
    let delivery = manager.handle(nwd(0), &registers);
    assert_error(&delivery, nwd(0), FfaError::NotSupported);
}

#[test]
fn d10_normal_world_resume_and_rx_acquire_are_not_supported() {
    let manager = booted_spmc();
    assert_eq!(
        features(&manager, nwd(0), function(FunctionId::NormalWorldResume32)),
        Err(FfaError::NotSupported)
    );
    call(&manager, nwd(0), request32(NWD, SP1, [0; 5]));
    for id in [FunctionId::NormalWorldResume32, FunctionId::RxAcquire] {
        assert_eq!(
            features(&manager, ec(SP1, 0), function(id)),
            Err(FfaError::NotSupported),
            "{id}"
        );
    }
}

#[test]
fn d11_features_direct_messaging_follows_partition_properties() {
    let manager = booted_spmc();
    // SP1 has every direct-messaging property (v1.2).
    call(&manager, nwd(0), request32(NWD, SP1, [0; 5]));
    for id in [
        FunctionId::MsgSendDirectReq32,
        FunctionId::MsgSendDirectResp64,
        FunctionId::MsgSendDirectReq2,
        FunctionId::MsgSendDirectResp2,
    ] {
        assert!(features(&manager, ec(SP1, 0), function(id)).is_ok(), "{id}");
    }
    // Memory sharing is not supported, so neither is reclaim (consistency holds).
    for id in [FunctionId::MemShare32, FunctionId::MemReclaim, FunctionId::MemRetrieveReq32] {
        assert_eq!(features(&manager, ec(SP1, 0), function(id)), Err(FfaError::NotSupported));
    }
    // SP4 (v1.1, no REQ2 bits) sees REQ/RESP but not REQ2.
    call(&manager, ec(SP1, 0), response32(SP1, NWD, [0; 5]));
    call(&manager, nwd(0), request32(NWD, SP4, [0; 5]));
    assert!(features(&manager, ec(SP4, 0), function(FunctionId::MsgSendDirectReq64)).is_ok());
    assert_eq!(
        features(&manager, ec(SP4, 0), function(FunctionId::MsgSendDirectReq2)),
        Err(FfaError::NotSupported)
    );
}

#[test]
fn d12_feature_interrupts_depend_on_the_caller() {
    let manager = booted_spmc();
    let sri = FeaturesQuery::Feature(FeatureId::ScheduleReceiverInterrupt);
    let npi = FeaturesQuery::Feature(FeatureId::NotificationPendingInterrupt);
    let mei = FeaturesQuery::Feature(FeatureId::ManagedExitInterrupt);
    assert_eq!(features(&manager, nwd(0), sri), Ok(SRI));
    call(&manager, nwd(0), request32(NWD, SP1, [0; 5]));
    assert_eq!(features(&manager, ec(SP1, 0), sri), Err(FfaError::NotSupported));
    assert_eq!(features(&manager, ec(SP1, 0), npi), Ok(NPI));
    assert_eq!(features(&manager, ec(SP1, 0), mei), Ok(MEI));
    call(&manager, ec(SP1, 0), response32(SP1, NWD, [0; 5]));
    // SP4 runs at S-EL0.
    call(&manager, nwd(0), request32(NWD, SP4, [0; 5]));
    assert_eq!(features(&manager, ec(SP4, 0), npi), Err(FfaError::NotSupported));
    assert_eq!(features(&manager, ec(SP4, 0), mei), Err(FfaError::NotSupported));
}

#[test]
fn d14_rx_release_without_an_owned_buffer_is_denied() {
    let manager = booted_spmc();
    assert_error(
        &call(&manager, nwd(0), Call::RxRelease { vm_id: EndpointId(0) }),
        nwd(0),
        FfaError::Denied,
    );
    assert!(is_success(&map(&manager, nwd(0), 0x10_0000, 0x20_0000, 1)));
    assert_error(
        &call(&manager, nwd(0), Call::RxRelease { vm_id: EndpointId(0) }),
        nwd(0),
        FfaError::Denied,
    );
}

#[test]
fn d15_rxtx_map_unaligned_buffers_are_invalid() {
    let manager = booted_spmc();
    assert_error(
        &map(&manager, nwd(0), 0x10_0100, 0x20_0000, 1),
        nwd(0),
        FfaError::InvalidParameters,
    );
    assert_error(
        &map(&manager, nwd(0), 0x10_0000, 0x20_0100, 1),
        nwd(0),
        FfaError::InvalidParameters,
    );
}

#[test]
fn d16_rxtx_map_zero_pages_is_invalid() {
    let manager = booted_spmc();
    assert_error(
        &map(&manager, nwd(0), 0x10_0000, 0x20_0000, 0),
        nwd(0),
        FfaError::InvalidParameters,
    );
    // Above the advertised maximum (4 pages), or with TX and RX overlapping.
    assert_error(
        &map(&manager, nwd(0), 0x10_0000, 0x20_0000, 5),
        nwd(0),
        FfaError::InvalidParameters,
    );
    assert_error(
        &map(&manager, nwd(0), 0x10_0000, 0x10_1000, 2),
        nwd(0),
        FfaError::InvalidParameters,
    );
}

#[test]
fn d17_rxtx_map_twice_is_denied() {
    let manager = booted_spmc();
    assert!(is_success(&map(&manager, nwd(0), 0x10_0000, 0x20_0000, 1)));
    assert_error(&map(&manager, nwd(0), 0x30_0000, 0x40_0000, 1), nwd(0), FfaError::Denied);
}

#[test]
fn d18_rxtx_unmap_with_nothing_mapped_is_invalid() {
    let manager = booted_spmc();
    let unmap = Call::RxtxUnmap { vm_id: EndpointId(0) };
    assert_error(&call(&manager, nwd(0), unmap), nwd(0), FfaError::InvalidParameters);
    assert!(is_success(&map(&manager, nwd(0), 0x10_0000, 0x20_0000, 1)));
    assert!(is_success(&call(&manager, nwd(0), unmap)));
    assert_eq!(manager.with_memory(|memory| memory.mapped_count()), 0);
    assert_error(&call(&manager, nwd(0), unmap), nwd(0), FfaError::InvalidParameters);
    // On behalf of an unknown VM (matrix D22).
    let unknown = Call::RxtxUnmap { vm_id: EndpointId(0x55) };
    assert_error(&call(&manager, nwd(0), unknown), nwd(0), FfaError::InvalidParameters);
}

#[test]
fn d19_rxtx_map_of_another_endpoints_buffers_is_invalid() {
    let manager = booted_spmc();
    assert!(is_success(&map(&manager, nwd(0), 0x10_0000, 0x20_0000, 1)));
    call(&manager, nwd(1), request32(NWD, SP1, [0; 5]));
    assert_error(
        &map(&manager, ec(SP1, 0), 0x10_0000, 0x50_0000, 1),
        ec(SP1, 0),
        FfaError::InvalidParameters,
    );
    // Nothing stays mapped for SP1 after the failure.
    assert_eq!(manager.with_memory(|memory| memory.mapped_count()), 2);
}

#[test]
fn d20_rxtx_map_of_secure_memory_is_denied() {
    let manager = booted_spmc();
    assert_error(&map(&manager, nwd(0), SECURE_MEMORY, 0x20_0000, 1), nwd(0), FfaError::Denied);
}

#[test]
fn d23_partition_info_get_unknown_uuid_invalid_and_repeat_busy() {
    let manager = booted_spmc();
    let unknown = Call::PartitionInfoGet { uuid: uuid(99), flags: PartitionInfoGetFlags::empty() };
    assert_error(&call(&manager, nwd(0), unknown), nwd(0), FfaError::InvalidParameters);
    let all = Call::PartitionInfoGet { uuid: Uuid::NIL, flags: PartitionInfoGetFlags::empty() };
    // No RX buffer yet.
    assert_error(&call(&manager, nwd(0), all), nwd(0), FfaError::Busy);
    assert!(is_success(&map(&manager, nwd(0), 0x10_0000, 0x20_0000, 1)));
    assert!(is_success(&call(&manager, nwd(0), all)));
    assert_error(&call(&manager, nwd(0), all), nwd(0), FfaError::Busy);
    assert!(is_success(&call(&manager, nwd(0), Call::RxRelease { vm_id: EndpointId(0) })));
    assert!(is_success(&call(&manager, nwd(0), all)));
}

#[test]
fn d24_partition_info_get_nil_lists_every_partition() {
    let manager = booted_spmc();
    let count_only =
        Call::PartitionInfoGet { uuid: Uuid::NIL, flags: PartitionInfoGetFlags::COUNT_ONLY };
    let delivery = call(&manager, nwd(0), count_only);
    assert_eq!(delivery.registers[2], 6);
    assert_eq!(delivery.registers[3], 0, "count only: size 0");
    assert!(is_success(&map(&manager, nwd(0), 0x10_0000, 0x20_0000, 1)));
    let delivery = call(
        &manager,
        nwd(0),
        Call::PartitionInfoGet { uuid: Uuid::NIL, flags: PartitionInfoGetFlags::empty() },
    );
    assert_eq!(delivery.registers[2], 6);
    assert_eq!(delivery.registers[3], 24);
    assert!(delivery.registers[4..8].iter().all(|&value| value == 0));
    let rx = manager.with_memory(|memory| memory.contents(0x20_0000).to_vec());
    let partitions = secure_partitions();
    for (index, expected) in partitions.iter().enumerate() {
        let descriptor = &rx[index * 24..index * 24 + 24];
        assert_eq!(u16::from_le_bytes([descriptor[0], descriptor[1]]), expected.id.0);
        assert_eq!(
            u16::from_le_bytes([descriptor[2], descriptor[3]]),
            expected.execution_context_count
        );
        let properties = u32::from_le_bytes(descriptor[4..8].try_into().unwrap());
        assert_eq!(properties & 0x607, expected.messaging.bits() & 0x607, "{}", expected.id);
        assert_eq!(properties & (1 << 8), 1 << 8, "AArch64");
        assert_eq!(properties & (1 << 3) != 0, expected.notification_support);
        assert_eq!(&descriptor[8..24], &expected.uuids[0].0);
    }
    // One UUID: one descriptor, UUID field zero.
    call(&manager, nwd(0), Call::RxRelease { vm_id: EndpointId(0) });
    let delivery = call(
        &manager,
        nwd(0),
        Call::PartitionInfoGet { uuid: uuid(3), flags: PartitionInfoGetFlags::empty() },
    );
    assert_eq!(delivery.registers[2], 1);
    let rx = manager.with_memory(|memory| memory.contents(0x20_0000).to_vec());
    assert_eq!(u16::from_le_bytes([rx[0], rx[1]]), SP3.0);
    assert!(rx[8..24].iter().all(|&byte| byte == 0));
}

#[test]
fn d24_partition_info_get_v1_0_caller_gets_8_byte_descriptors() {
    let manager = booted_spmc();
    // SP6 negotiated v1.0 (its manifest version); it asks from inside a request.
    call(&manager, nwd(0), request32(NWD, SP6, [0; 5]));
    assert!(is_success(&map(&manager, ec(SP6, 0), 0x60_0000, 0x70_0000, 1)));
    let delivery = manager.handle(
        ec(SP6, 0),
        &Call::PartitionInfoGet { uuid: Uuid::NIL, flags: PartitionInfoGetFlags::empty() }
            .encode(Version::V1_0),
    );
    assert_eq!(delivery.registers[2], 6);
    assert_eq!(delivery.registers[3], 0, "v1.0 returns no size");
    let rx = manager.with_memory(|memory| memory.contents(0x70_0000).to_vec());
    assert_eq!(u16::from_le_bytes([rx[8], rx[9]]), SP2.0, "second descriptor at offset 8");
    assert_eq!(
        u32::from_le_bytes(rx[4..8].try_into().unwrap()),
        0b011,
        "v1.0 sees bits [2:0] only"
    );
}

#[test]
fn d25_partition_info_get_regs() {
    let manager = booted_spmc();
    let unknown = Call::PartitionInfoGetRegs { uuid: uuid(42), start_index: 0, tag: 0 };
    assert_error(&call(&manager, nwd(0), unknown), nwd(0), FfaError::InvalidParameters);
    let first = call(
        &manager,
        nwd(0),
        Call::PartitionInfoGetRegs { uuid: Uuid::NIL, start_index: 0, tag: 0 },
    );
    assert_eq!(first.registers[0], FunctionId::Success64.to_register());
    let summary = first.registers[2];
    assert_eq!(summary & 0xFFFF, 5, "last index");
    assert_eq!((summary >> 16) & 0xFFFF, 4, "current index");
    assert_eq!(summary >> 48, 24);
    let partitions = secure_partitions();
    for (index, expected) in partitions.iter().take(5).enumerate() {
        let word = first.registers[3 + 3 * index];
        assert_eq!(word & 0xFFFF, u64::from(expected.id.0));
        assert_eq!((word >> 16) & 0xFFFF, u64::from(expected.execution_context_count));
        let [low, high] = expected.uuids[0].to_register_pair();
        assert_eq!(first.registers[4 + 3 * index], low);
        assert_eq!(first.registers[5 + 3 * index], high);
    }
    let rest = call(
        &manager,
        nwd(0),
        Call::PartitionInfoGetRegs { uuid: Uuid::NIL, start_index: 5, tag: 0 },
    );
    assert_eq!((rest.registers[2] >> 16) & 0xFFFF, 5);
    assert_eq!(rest.registers[3] & 0xFFFF, u64::from(SP6.0));
    assert_eq!(rest.registers[6], 0);
}

#[test]
fn d26_msg_wait_releases_rx_unless_retained() {
    for retain in [false, true] {
        let manager = booted_spmc();
        call(&manager, nwd(0), request32(NWD, SP1, [0; 5]));
        assert!(is_success(&map(&manager, ec(SP1, 0), 0x60_0000, 0x70_0000, 1)));
        let all = Call::PartitionInfoGet { uuid: Uuid::NIL, flags: PartitionInfoGetFlags::empty() };
        assert!(is_success(&call(&manager, ec(SP1, 0), all)));
        call(&manager, ec(SP1, 0), response32(SP1, NWD, [0; 5]));
        // Run SP1 and let it wait with or without keeping RX.
        let run =
            call(&manager, nwd(0), Call::Run { target: ec(SP1, 0).target_info(), is_64: false });
        assert_eq!(run.to, ec(SP1, 0));
        let flags = if retain { MsgWaitFlags::RETAIN_RX_BUFFER } else { MsgWaitFlags::empty() };
        let wait = call(&manager, ec(SP1, 0), Call::MsgWait { flags, is_64: false });
        assert_eq!(wait.to.endpoint, NWD);
        assert_eq!(wait.registers[0], FunctionId::MsgWait32.to_register());
        call(&manager, nwd(0), request32(NWD, SP1, [0; 5]));
        let release = call(&manager, ec(SP1, 0), Call::RxRelease { vm_id: EndpointId(0) });
        assert_eq!(is_success(&release), retain, "retain = {retain}");
    }
}

#[test]
fn spmd_version_request_gets_a_version_response() {
    let manager = booted_spmc();
    let request = Call::MsgSendDirectReq(DirectMessage {
        source: EndpointId::SPMD,
        destination: SPMC_ID,
        body: DirectBody::Framework32(FrameworkMessage::VersionRequest { requested: 0x0001_0001 }),
    });
    let delivery = call(&manager, nwd(0), request);
    assert_eq!(delivery.transfer, Transfer::OtherWorld);
    assert_eq!(
        returned(&delivery, Version::V1_2),
        Return::DirectResponse(DirectMessage {
            source: SPMC_ID,
            destination: EndpointId::SPMD,
            body: DirectBody::Framework32(FrameworkMessage::VersionResponse(
                VersionResponse::Supported(Version::V1_2)
            )),
        })
    );
    // The normal world's negotiated version is now 1.1: a v1.2-only call is refused.
    let regs = call(
        &manager,
        nwd(0),
        Call::PartitionInfoGetRegs { uuid: Uuid::NIL, start_index: 0, tag: 0 },
    );
    assert_error(&regs, nwd(0), FfaError::NotSupported);
}

#[test]
fn spmd_cpu_off_gets_a_power_management_response() {
    let manager = booted_spmc();
    let request = Call::MsgSendDirectReq(DirectMessage {
        source: EndpointId::SPMD,
        destination: SPMC_ID,
        body: DirectBody::Framework32(FrameworkMessage::PsciRequest {
            function: 0x8400_0002,
            arguments: [0; 3],
        }),
    });
    let delivery = call(&manager, nwd(3), request);
    assert_eq!(delivery.to, nwd(3));
    assert_eq!(
        returned(&delivery, Version::V1_2),
        Return::DirectResponse(DirectMessage {
            source: SPMC_ID,
            destination: EndpointId::SPMD,
            body: DirectBody::Framework32(FrameworkMessage::PowerManagementResponse { status: 0 }),
        })
    );
    // A framework message from anyone but the SPMD, or an unhandled one, is refused.
    let spoofed = Call::MsgSendDirectReq(DirectMessage {
        source: VM1,
        destination: SPMC_ID,
        body: DirectBody::Framework32(FrameworkMessage::WarmBootRequest(
            ffa_core::framework_message::WarmBootType::ExitFromLowPower,
        )),
    });
    assert_error(&call(&manager, nwd(0), spoofed), nwd(0), FfaError::InvalidParameters);
    let vm_created = Call::MsgSendDirectReq(DirectMessage {
        source: EndpointId::SPMD,
        destination: SPMC_ID,
        body: DirectBody::Framework32(FrameworkMessage::VmCreated { handle: 0, vm_id: VM1 }),
    });
    assert_error(&call(&manager, nwd(0), vm_created), nwd(0), FfaError::NotSupported);
}
