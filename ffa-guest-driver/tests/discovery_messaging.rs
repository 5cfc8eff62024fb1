//! Discovery (PARTITION_INFO_GET with 8/24/48-byte descriptors, GET_REGS, lookup), direct
//! messaging with FFA_YIELD/FFA_INTERRUPT resumption, MSG_SEND2 and notifications.
#![allow(clippy::unwrap_used, reason = "test helpers: a failed expectation is a panic")]

mod common;

use common::{Firmware, Preemption, TestBuffers, ECHO_UUID, INTERRUPT_UUID, YIELD_UUID};
use ffa_core::notification::{GetFlags, NotificationBitmap, SetFlags};
use ffa_core::{Call, EndpointId, FfaError, FunctionId, Uuid, VcpuId, Version};
use ffa_guest_driver::{Driver, ErrorKind, PartitionInfo, PartitionProperties};

type TestDriver = Driver<Firmware, TestBuffers>;

fn mapped(firmware: &Firmware) -> TestDriver {
    let mut driver = TestDriver::new(firmware.clone()).unwrap();
    let buffers = TestBuffers::new(0x4000_0000, 0x4000_1000, 4096);
    firmware.attach(&buffers);
    driver.map_buffers(buffers).unwrap();
    driver
}

fn blank() -> PartitionInfo {
    PartitionInfo {
        id: EndpointId(0),
        execution_contexts: 0,
        properties: PartitionProperties::empty(),
        uuid: Uuid::NIL,
        image_uuid: None,
        partition_version: None,
    }
}

#[test]
fn partition_info_counts_reads_descriptors_and_releases_rx() {
    for size in [24usize, 48] {
        let firmware = Firmware::new();
        firmware.model().descriptor_size = size;
        let mut driver = mapped(&firmware);
        firmware.model().log.clear();
        let mut out = [blank(); 8];
        let count = driver.partition_info(Uuid::NIL, &mut out).unwrap();
        assert_eq!(count, 4);
        assert_eq!(out[0].id, EndpointId(0x8001));
        assert_eq!(out[0].execution_contexts, 4);
        assert_eq!(out[0].uuid, Uuid::parse(ECHO_UUID).unwrap());
        assert!(out[0].accepts_direct_request2());
        assert_eq!(out[3].id, EndpointId(0x8004));
        assert_eq!(out[1].uuid, Uuid::parse(YIELD_UUID).unwrap());
        if size == 48 {
            assert_eq!(out[2].image_uuid, Some(Uuid([0xAB; 16])));
            assert_eq!(out[2].partition_version, Some(Version::V1_2));
        } else {
            assert_eq!(out[2].image_uuid, None);
        }
        // Count-only first, then descriptors, then RX_RELEASE; RX is free again.
        let calls = firmware.functions_called();
        assert_eq!(
            calls,
            vec![FunctionId::PartitionInfoGet, FunctionId::PartitionInfoGet, FunctionId::RxRelease]
        );
        assert!(!firmware.model().rx_full);
        // A short output slice gets the first descriptors and the full count.
        let mut one = [blank(); 1];
        assert_eq!(driver.partition_info(Uuid::NIL, &mut one).unwrap(), 4);
        assert_eq!(one[0].id, EndpointId(0x8001));
    }
}

#[test]
fn v1_0_descriptors_are_eight_bytes_without_count_only() {
    let firmware = Firmware::new();
    firmware.model().own_version = Version::V1_0;
    let mut driver = mapped(&firmware);
    firmware.model().log.clear();
    let mut out = [blank(); 4];
    assert_eq!(driver.partition_info(Uuid::NIL, &mut out).unwrap(), 4);
    assert_eq!(out[1].id, EndpointId(0x8002));
    assert_eq!(out[1].uuid, Uuid::NIL);
    assert_eq!(out[1].properties.bits(), 0x103);
    assert_eq!(
        firmware.functions_called(),
        vec![FunctionId::PartitionInfoGet, FunctionId::RxRelease]
    );
}

#[test]
fn partition_info_errors_are_typed() {
    let firmware = Firmware::new();
    let mut unmapped = TestDriver::new(firmware.clone()).unwrap();
    let error = unmapped.partition_info(Uuid::NIL, &mut []).unwrap_err();
    assert_eq!(error.kind, ErrorKind::BuffersNotMapped);
    let mut driver = mapped(&firmware);
    let unknown = Uuid::parse("00000000-0000-0000-0000-0000000000ff").unwrap();
    let error = driver.partition_info(unknown, &mut []).unwrap_err();
    assert_eq!(error.call, FunctionId::PartitionInfoGet);
    assert!(error.is(FfaError::InvalidParameters));
    // With RX still full (owned by us, not released), the next GET is BUSY.
    firmware.model().rx_full = true;
    let error = driver.partition_info(Uuid::NIL, &mut []).unwrap_err();
    assert_eq!(error.kind, ErrorKind::Ffa(FfaError::Busy));
    // A descriptor size the RX buffer cannot hold is malformed, and RX is still released.
    firmware.model().rx_full = false;
    firmware.model().descriptor_size = 2048;
    let error = driver.partition_info(Uuid::NIL, &mut [blank(); 4]).unwrap_err();
    assert!(matches!(error.kind, ErrorKind::MalformedResponse(_)));
    assert!(!firmware.model().rx_full);
}

#[test]
fn registers_discovery_iterates_and_lookup_uses_it() {
    let firmware = Firmware::new();
    let mut driver = TestDriver::new(firmware.clone()).unwrap();
    let mut out = [blank(); 8];
    assert_eq!(driver.partition_info_regs(Uuid::NIL, &mut out).unwrap(), 4);
    assert_eq!(out[2].id, EndpointId(0x8003));
    assert_eq!(out[2].uuid, Uuid::parse(INTERRUPT_UUID).unwrap());
    assert_eq!(out[3].id, EndpointId(0x8004));
    firmware.model().log.clear();
    // Lookup needs no RX buffer when GET_REGS is offered.
    let found = driver.find_partition(Uuid::parse(YIELD_UUID).unwrap()).unwrap();
    assert_eq!(found.id, EndpointId(0x8002));
    assert_eq!(firmware.functions_called(), vec![FunctionId::PartitionInfoGetRegs]);
    let error = driver.find_partition(Uuid::parse("00000000-0000-0000-0000-0000000000ff").unwrap());
    assert_eq!(error.unwrap_err().kind, ErrorKind::PartitionNotFound);
}

#[test]
fn lookup_falls_back_to_partition_info_get_when_regs_are_not_offered() {
    let firmware = Firmware::new();
    firmware.model().offered.retain(|function| *function != FunctionId::PartitionInfoGetRegs);
    let mut driver = mapped(&firmware);
    let error = driver.partition_info_regs(Uuid::NIL, &mut []).unwrap_err();
    assert_eq!(error.kind, ErrorKind::NotOffered);
    let found = driver.find_partition(Uuid::parse(ECHO_UUID).unwrap()).unwrap();
    assert_eq!(found.id, EndpointId(0x8001));
    // The callee leaves the UUID field zero for a specific query; the driver fills it in.
    assert_eq!(found.uuid, Uuid::parse(ECHO_UUID).unwrap());
}

#[test]
fn direct_requests_32_64_and_req2_are_answered() {
    let firmware = Firmware::new();
    let mut driver = TestDriver::new(firmware.clone()).unwrap();
    let echo = EndpointId(0x8001);
    assert_eq!(driver.direct_request_32(echo, [1, 2, 3, 4, u32::MAX]).unwrap(), [2, 3, 4, 5, 0]);
    assert_eq!(
        driver.direct_request_64(echo, [1 << 40, 0, 0, 0, 7]).unwrap(),
        [(1 << 40) + 1, 1, 1, 1, 8]
    );
    let mut payload = [0u64; 14];
    payload[13] = 99;
    let answer = driver.direct_request2(echo, Uuid::parse(ECHO_UUID).unwrap(), payload).unwrap();
    assert_eq!(answer[13], 100);
    assert_eq!(answer[0], 1);
    let wrong = Uuid::parse(YIELD_UUID).unwrap();
    let error = driver.direct_request2(echo, wrong, payload).unwrap_err();
    assert_eq!(
        (error.call, error.kind),
        (FunctionId::MsgSendDirectReq2, ErrorKind::Ffa(FfaError::InvalidParameters))
    );
    let error = driver.direct_request_32(EndpointId(0x8999), [0; 5]).unwrap_err();
    assert!(error.is(FfaError::InvalidParameters));
}

#[test]
fn yield_and_interrupt_are_resumed_with_run_on_the_returned_target() {
    for (partition, preemption) in
        [(0x8002u16, Preemption::YieldOnce), (0x8003, Preemption::InterruptOnce)]
    {
        let firmware = Firmware::new();
        let mut driver = TestDriver::new(firmware.clone()).unwrap();
        firmware.model().log.clear();
        let answer = driver.direct_request_64(EndpointId(partition), [10, 0, 0, 0, 0]).unwrap();
        assert_eq!(answer[0], 11, "{preemption:?}");
        let log = firmware.model().log.clone();
        assert_eq!(log.len(), 2);
        assert_eq!(
            log[1],
            Call::Run {
                target: ffa_core::TargetInfo { endpoint: EndpointId(partition), vcpu: VcpuId(0) },
                is_64: false
            }
        );
    }
}

#[test]
fn direct_response_from_the_wrong_endpoint_is_malformed() {
    let firmware = Firmware::new();
    let mut driver = TestDriver::new(firmware.clone()).unwrap();
    let mut answer = [0u64; 18];
    answer[0] = 0x8400_0070;
    answer[1] = 0x8002_0001; // from 0x8002, but we asked 0x8001
    firmware.model().overrides.insert(0x8400_006F, answer);
    let error = driver.direct_request_32(EndpointId(0x8001), [0; 5]).unwrap_err();
    assert_eq!(error.call, FunctionId::MsgSendDirectReq32);
    assert!(matches!(error.kind, ErrorKind::MalformedResponse(_)));
}

#[test]
fn req2_is_refused_locally_when_not_offered() {
    let firmware = Firmware::new();
    firmware.model().offered.retain(|function| *function != FunctionId::MsgSendDirectReq2);
    let mut driver = TestDriver::new(firmware.clone()).unwrap();
    firmware.model().log.clear();
    let error = driver.direct_request2(EndpointId(0x8001), Uuid::NIL, [0; 14]).unwrap_err();
    assert_eq!(error.kind, ErrorKind::NotOffered);
    assert!(firmware.model().log.is_empty());
}

#[test]
fn msg_send2_writes_the_header_and_payload() {
    let firmware = Firmware::new();
    let mut driver = mapped(&firmware);
    let uuid = Uuid::parse(ECHO_UUID).unwrap();
    driver.send_indirect(EndpointId(0x8001), uuid, b"hello partition").unwrap();
    let mailbox = firmware.model().mailbox.clone();
    assert_eq!(mailbox, vec![(1, 0x8001, uuid, b"hello partition".to_vec())]);
    let error = driver.send_indirect(EndpointId(0x8001), uuid, &[0u8; 5000]).unwrap_err();
    assert!(matches!(error.kind, ErrorKind::InvalidArgument(_)));
    let error = driver.send_indirect(EndpointId(0x8999), uuid, b"x").unwrap_err();
    assert!(error.is(FfaError::InvalidParameters));
}

#[test]
fn an_indirect_message_in_rx_is_read_and_rx_released() {
    let firmware = Firmware::new();
    let buffers = TestBuffers::new(0x4000_0000, 0x4000_1000, 4096);
    let mut driver = TestDriver::new(firmware.clone()).unwrap();
    firmware.attach(&buffers);
    driver.map_buffers(buffers.clone()).unwrap();
    {
        let mut rx = buffers.rx.borrow_mut();
        rx[8..12].copy_from_slice(&40u32.to_le_bytes());
        rx[12..16].copy_from_slice(&(0x8001u32 << 16 | 1).to_le_bytes());
        rx[16..20].copy_from_slice(&5u32.to_le_bytes());
        rx[24..40].copy_from_slice(&Uuid::parse(ECHO_UUID).unwrap().0);
        rx[40..45].copy_from_slice(b"howdy");
    }
    firmware.model().rx_full = true;
    let mut out = [0u8; 16];
    let message = driver.receive_indirect(&mut out).unwrap();
    assert_eq!(message.sender, EndpointId(0x8001));
    assert_eq!(message.length, 5);
    assert_eq!(message.uuid, Uuid::parse(ECHO_UUID).unwrap());
    assert_eq!(&out[..5], b"howdy");
    assert!(!firmware.model().rx_full);
}

#[test]
fn notifications_bind_set_get_info_and_unbind() {
    let firmware = Firmware::new();
    let mut driver = TestDriver::new(firmware.clone()).unwrap();
    driver.notification_bitmap_create(EndpointId(3), 2).unwrap();
    let error = driver.notification_bitmap_create(EndpointId(3), 2).unwrap_err();
    assert_eq!(
        (error.call, error.kind),
        (FunctionId::NotificationBitmapCreate, ErrorKind::Ffa(FfaError::Denied))
    );
    assert_eq!(driver.notification_info_get().unwrap(), None);
    let me = driver.id();
    let bits = NotificationBitmap(0b1010 | 1 << 40);
    let no_flags = SetFlags { per_vcpu: false, delay_schedule_receiver: false, vcpu: VcpuId(0) };
    // Setting before binding is DENIED.
    let error = driver.notification_set(me, bits, no_flags).unwrap_err();
    assert!(error.is(FfaError::Denied));
    driver.notification_bind(me, bits, false).unwrap();
    driver.notification_set(me, bits, no_flags).unwrap();
    let info = driver.notification_info_get().unwrap().unwrap();
    assert_eq!(info.lists().map(|list| list.partition).collect::<Vec<_>>(), vec![me]);
    let pending = driver.notification_get(VcpuId(0), GetFlags::VM | GetFlags::SP).unwrap();
    assert_eq!(pending.from_vm, bits);
    let pending = driver.notification_get(VcpuId(0), GetFlags::VM).unwrap();
    assert_eq!(pending.from_vm, NotificationBitmap(0));
    driver.notification_unbind(me, bits).unwrap();
    let error = driver.notification_unbind(me, bits).unwrap_err();
    assert!(error.is(FfaError::InvalidParameters));
    let error = driver.notification_bind(me, NotificationBitmap(0), false).unwrap_err();
    assert!(matches!(error.kind, ErrorKind::InvalidArgument(_)));
}
