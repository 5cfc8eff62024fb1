//! Indirect-messaging rows of the conformance matrix (I01-I05) against the core in both roles:
//! FFA_MSG_SEND2 checks, the copy into the receiver's RX buffer, RX ownership, the "RX buffer
//! full" notification and the SRI/NPI requests.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

#[path = "core_harness.rs"]
mod harness;

use ffa_core::call::MsgWaitFlags;
use ffa_core::indirect_message::{MessageHeader, MsgSend2Flags};
use ffa_core::notification::{GetFlags, NotificationGetResult, NotificationInfo};
use ffa_core::{Call, EndpointId, FfaError, FunctionId, VcpuId, Version};
use harness::*;
use spmc::manifest::MessagingMethod;
use spmc::partition_manager::{
    Configuration, ContextId, EndpointDescription, FeatureInterrupts, InterruptRequests, Role,
    Transfer,
};

const VM2: EndpointId = EndpointId(2);

/// Where an endpoint's one-page TX buffer lives (its RX buffer is the next page).
fn transmit(endpoint: EndpointId) -> u64 {
    0x100_0000
        + u64::from(endpoint.0 & 0xFF) * 0x10_0000
        + if endpoint.is_secure() { 0x8_0000 } else { 0 }
}

fn receive(endpoint: EndpointId) -> u64 {
    transmit(endpoint) + 0x1000
}

/// A message in the layout of `version` (20-byte v1.1 or 40-byte v1.2 header).
fn message(sender: EndpointId, receiver: EndpointId, payload: &[u8], version: Version) -> Vec<u8> {
    let mut buffer = vec![0u8; 4096];
    let used =
        MessageHeader::write(sender, receiver, uuid(9), payload, version, &mut buffer).unwrap();
    buffer.truncate(used);
    buffer
}

/// The sender (an endpoint with a mapped TX buffer) writes `bytes` into it.
fn write_tx(manager: &Manager, sender: EndpointId, bytes: &[u8]) {
    manager.with_memory(|memory| memory.fill(transmit(sender), 0, bytes));
}

fn rx_contents(manager: &Manager, receiver: EndpointId) -> Vec<u8> {
    manager.with_memory(|memory| memory.contents(receive(receiver)).to_vec())
}

fn send2() -> Call {
    Call::MsgSend2 { sender_vm: EndpointId(0), flags: MsgSend2Flags::empty() }
}

fn send2_delayed() -> Call {
    Call::MsgSend2 { sender_vm: EndpointId(0), flags: MsgSend2Flags::DELAY_SCHEDULE_RECEIVER }
}

fn rx_release() -> Call {
    Call::RxRelease { vm_id: EndpointId(0) }
}

fn sri() -> InterruptRequests {
    InterruptRequests { schedule_receiver: true, notification_pending: None }
}

/// Maps mailboxes for `endpoints` (partitions through FFA_RUN on CPU 0, then FFA_MSG_WAIT;
/// normal-world endpoints directly).
fn map_all(manager: &Manager, endpoints: &[EndpointId]) {
    for &endpoint in endpoints {
        if endpoint.is_secure() {
            run(manager, ec(endpoint, 0), 0);
            map_mailbox(manager, ec(endpoint, 0), transmit(endpoint), receive(endpoint));
            wait(manager, ec(endpoint, 0));
        } else {
            let from = ContextId { endpoint, vcpu: VcpuId(0) };
            map_mailbox(manager, from, transmit(endpoint), receive(endpoint));
        }
    }
    assert_eq!(manager.take_interrupt_requests(0), InterruptRequests::default());
}

fn get(
    manager: &Manager,
    from: ContextId,
    receiver: EndpointId,
    flags: GetFlags,
) -> NotificationGetResult {
    let delivery = call(manager, from, Call::NotificationGet { receiver, vcpu: from.vcpu, flags });
    assert_eq!(delivery.registers[0], FunctionId::Success32.to_register(), "{delivery:?}");
    NotificationGetResult::from_words(core::array::from_fn(|index| {
        delivery.registers[2 + index] as u32
    }))
}

#[test]
fn i01_i02_sender_as_receiver_and_receiver_ffff_are_invalid() {
    let manager = booted_notification_spmc();
    map_all(&manager, &[SP1, SP2]);
    let me = ec(SP1, 0);
    run(&manager, me, 0);
    for receiver in [SP1, EndpointId(0xFFFF)] {
        write_tx(&manager, SP1, &message(SP1, receiver, &[1; 8], Version::V1_2));
        assert_error(&call(&manager, me, send2()), me, FfaError::InvalidParameters);
    }
    // Nothing changed: SP2's RX buffer is untouched and free, no interrupt was requested.
    wait(&manager, me);
    assert_eq!(manager.take_interrupt_requests(0), InterruptRequests::default());
    run(&manager, ec(SP2, 0), 1);
    assert_error(&call(&manager, ec(SP2, 0), rx_release()), ec(SP2, 0), FfaError::Denied);
    assert!(rx_contents(&manager, SP2).iter().all(|&byte| byte == 0));
}

#[test]
fn i03_endpoints_without_indirect_messaging_are_denied() {
    let manager = booted_notification_spmc();
    map_all(&manager, &[SP1, SP3, SP6]);
    let me = ec(SP1, 0);
    run(&manager, me, 0);
    // SP3 takes no indirect messages; SP6 claims to but speaks FF-A v1.0.
    for receiver in [SP3, SP6] {
        write_tx(&manager, SP1, &message(SP1, receiver, &[2; 8], Version::V1_2));
        assert_error(&call(&manager, me, send2()), me, FfaError::Denied);
        assert!(rx_contents(&manager, receiver).iter().all(|&byte| byte == 0));
    }
    wait(&manager, me);
    // SP3 cannot send one either.
    run(&manager, ec(SP3, 0), 0);
    write_tx(&manager, SP3, &message(SP3, SP1, &[3; 8], Version::V1_2));
    assert_error(&call(&manager, ec(SP3, 0), send2()), ec(SP3, 0), FfaError::Denied);
    wait(&manager, ec(SP3, 0));
    assert_eq!(manager.take_interrupt_requests(0), InterruptRequests::default());
}

#[test]
fn i04_busy_until_the_receiver_gives_its_rx_buffer_back() {
    let manager = booted_notification_spmc();
    map_all(&manager, &[SP1]);
    let me = ec(SP1, 0);
    // SP2 has no RX buffer yet: BUSY.
    run(&manager, me, 0);
    write_tx(&manager, SP1, &message(SP1, SP2, b"first", Version::V1_2));
    assert_error(&call(&manager, me, send2()), me, FfaError::Busy);
    wait(&manager, me);
    map_all(&manager, &[SP2]);
    run(&manager, me, 0);
    assert_success(&call(&manager, me, send2()), me);
    write_tx(&manager, SP1, &message(SP1, SP2, b"second", Version::V1_2));
    assert_error(&call(&manager, me, send2()), me, FfaError::Busy);
    wait(&manager, me);
    // The first message is still there, untouched by the refused second.
    let delivered = rx_contents(&manager, SP2);
    let (header, payload) = MessageHeader::parse(&delivered, Version::V1_2).unwrap();
    assert_eq!((header.sender, header.receiver, payload), (SP1, SP2, &b"first"[..]));
    // RX_RELEASE frees the buffer; so does FFA_MSG_WAIT without "retain" (matrix D26).
    run(&manager, ec(SP2, 0), 1);
    assert_success(&call(&manager, ec(SP2, 0), rx_release()), ec(SP2, 0));
    assert_error(&call(&manager, ec(SP2, 0), rx_release()), ec(SP2, 0), FfaError::Denied);
    wait(&manager, ec(SP2, 0));
    run(&manager, me, 0);
    assert_success(&call(&manager, me, send2()), me);
    assert_error(&call(&manager, me, send2()), me, FfaError::Busy);
    wait(&manager, me);
    run(&manager, ec(SP2, 0), 1);
    let retain = Call::MsgWait { flags: MsgWaitFlags::RETAIN_RX_BUFFER, is_64: false };
    assert_eq!(call(&manager, ec(SP2, 0), retain).transfer, Transfer::OtherWorld);
    run(&manager, me, 0);
    assert_error(&call(&manager, me, send2()), me, FfaError::Busy);
    wait(&manager, me);
    run(&manager, ec(SP2, 0), 1);
    wait(&manager, ec(SP2, 0));
    run(&manager, me, 0);
    assert_success(&call(&manager, me, send2()), me);
}

#[test]
fn i05_vm_to_sp_message_raises_sri_lists_the_sp_and_signals_it_on_run() {
    let manager = booted_notification_spmc();
    map_all(&manager, &[NWD, SP1]);
    let payload = [0xABu8; 32];
    write_tx(&manager, NWD, &message(NWD, SP1, &payload, Version::V1_2));
    assert_success(&call(&manager, nwd(2), send2()), nwd(2));
    assert_eq!(manager.take_interrupt_requests(2), sri());
    assert_eq!(manager.take_interrupt_requests(2), InterruptRequests::default());
    // The scheduler finds SP1 with FFA_NOTIFICATION_INFO_GET_64.
    let delivery = call(&manager, nwd(2), Call::NotificationInfoGet { is_64: true });
    assert_eq!(delivery.registers[0], FunctionId::Success64.to_register());
    let registers: [u64; 6] = core::array::from_fn(|index| delivery.registers[2 + index]);
    let info = NotificationInfo::decode(registers, true).unwrap();
    assert_eq!(info.lists().map(|list| list.partition).collect::<Vec<_>>(), vec![SP1]);
    assert_eq!(delivery.registers[3], u64::from(SP1.0), "x3 holds the partition ID");
    // FFA_RUN: SP1 gets the NPI and finds "RX buffer full" from a VM.
    run(&manager, ec(SP1, 0), 2);
    assert_eq!(
        manager.take_interrupt_requests(2),
        InterruptRequests { schedule_receiver: false, notification_pending: Some(ec(SP1, 0)) }
    );
    assert_eq!(
        get(&manager, ec(SP1, 0), SP1, GetFlags::SPM_FRAMEWORK),
        NotificationGetResult::default()
    );
    let framework = get(&manager, ec(SP1, 0), SP1, GetFlags::HYPERVISOR_FRAMEWORK);
    assert_eq!(framework.hypervisor_framework, 1);
    // The payload sits at the header's offset, intact.
    let delivered = rx_contents(&manager, SP1);
    let (header, received) = MessageHeader::parse(&delivered, Version::V1_2).unwrap();
    assert_eq!((header.sender, header.receiver, header.uuid), (NWD, SP1, uuid(9)));
    assert_eq!(header.payload_offset, 40);
    assert_eq!(received, &payload[..]);
    assert_success(&call(&manager, ec(SP1, 0), rx_release()), ec(SP1, 0));
    wait(&manager, ec(SP1, 0));
    // A VM named by the hypervisor must have a TX buffer here.
    let for_vm = Call::MsgSend2 { sender_vm: VM1, flags: MsgSend2Flags::empty() };
    assert_error(&call(&manager, nwd(0), for_vm), nwd(0), FfaError::Denied);
    // The normal world's messages to itself are not the SPMC's to deliver; it may not delay.
    write_tx(&manager, NWD, &message(NWD, VM1, &payload, Version::V1_2));
    assert_error(&call(&manager, nwd(0), send2()), nwd(0), FfaError::InvalidParameters);
    write_tx(&manager, NWD, &message(NWD, SP1, &payload, Version::V1_2));
    assert_error(&call(&manager, nwd(0), send2_delayed()), nwd(0), FfaError::InvalidParameters);
    assert_eq!(manager.take_interrupt_requests(0), InterruptRequests::default());
}

#[test]
fn header_and_sender_checks() {
    let manager = booted_notification_spmc();
    map_all(&manager, &[SP1, SP2]);
    let me = ec(SP1, 0);
    run(&manager, me, 0);
    let invalid = FfaError::InvalidParameters;
    // The header's sender must be the caller.
    write_tx(&manager, SP1, &message(SP5, SP2, b"spoof", Version::V1_2));
    assert_error(&call(&manager, me, send2()), me, invalid);
    // w1 names a VM only when a hypervisor forwards; a partition may name only itself.
    write_tx(&manager, SP1, &message(SP1, SP2, b"ok", Version::V1_2));
    let other = Call::MsgSend2 { sender_vm: SP2, flags: MsgSend2Flags::empty() };
    assert_error(&call(&manager, me, other), me, invalid);
    // A v1.1 layout (payload at 20) is inside a v1.2 caller's 40-byte header.
    write_tx(&manager, SP1, &message(SP1, SP2, b"short", Version::V1_1));
    assert_error(&call(&manager, me, send2()), me, invalid);
    // A message bigger than one page.
    let mut header = message(SP1, SP2, b"x", Version::V1_2);
    header[16..20].copy_from_slice(&4060u32.to_le_bytes());
    write_tx(&manager, SP1, &header);
    assert_error(&call(&manager, me, send2()), me, invalid);
    assert!(rx_contents(&manager, SP2).iter().all(|&byte| byte == 0), "nothing delivered");
    // The largest message that fits: header and 4056 bytes.
    let big = message(SP1, SP2, &[0x5A; 4056], Version::V1_2);
    write_tx(&manager, SP1, &big);
    let sent = call(&manager, me, Call::MsgSend2 { sender_vm: SP1, flags: MsgSend2Flags::empty() });
    assert_success(&sent, me);
    assert_eq!(rx_contents(&manager, SP2), big);
    wait(&manager, me);
    // A partition without a TX buffer is DENIED.
    run(&manager, ec(SP7, 0), 0);
    assert_error(&call(&manager, ec(SP7, 0), send2()), ec(SP7, 0), FfaError::Denied);
}

#[test]
fn v1_1_sender_uses_the_20_byte_header_and_sp_delay_defers_the_sri() {
    let manager = booted_notification_spmc();
    map_all(&manager, &[SP5, SP2]);
    let me = ec(SP5, 0);
    run(&manager, me, 3);
    let short = message(SP5, SP2, b"from v1.1", Version::V1_1);
    write_tx(&manager, SP5, &short);
    assert_success(&call(&manager, me, send2_delayed()), me);
    assert_eq!(manager.take_interrupt_requests(3), InterruptRequests::default(), "delayed");
    wait(&manager, me);
    assert_eq!(manager.take_interrupt_requests(3), sri());
    assert_eq!(&rx_contents(&manager, SP2)[..short.len()], &short[..]);
    run(&manager, ec(SP2, 0), 1);
    let framework =
        get(&manager, ec(SP2, 0), SP2, GetFlags::SPM_FRAMEWORK | GetFlags::HYPERVISOR_FRAMEWORK);
    assert_eq!(
        (framework.spm_framework, framework.hypervisor_framework),
        (1, 0),
        "from a partition"
    );
}

#[test]
fn sp_to_normal_world_message_lands_in_its_rx_buffer() {
    let manager = booted_notification_spmc();
    map_all(&manager, &[NWD, SP1]);
    assert_success(
        &call(&manager, nwd(0), Call::NotificationBitmapCreate { vm_id: NWD, vcpu_count: 4 }),
        nwd(0),
    );
    let me = ec(SP1, 0);
    run(&manager, me, 1);
    let sent = message(SP1, NWD, b"hello normal world", Version::V1_2);
    write_tx(&manager, SP1, &sent);
    assert_success(&call(&manager, me, send2()), me);
    assert_error(&call(&manager, me, send2()), me, FfaError::Busy);
    // Unknown normal-world endpoints, and known ones without an RX buffer.
    write_tx(&manager, SP1, &message(SP1, EndpointId(0x42), b"who", Version::V1_2));
    assert_error(&call(&manager, me, send2()), me, FfaError::InvalidParameters);
    write_tx(&manager, SP1, &message(SP1, VM1, b"no buffer", Version::V1_2));
    assert_error(&call(&manager, me, send2()), me, FfaError::Busy);
    wait(&manager, me);
    assert_eq!(manager.take_interrupt_requests(1), sri());
    assert_eq!(&rx_contents(&manager, NWD)[..sent.len()], &sent[..]);
    let framework = get(&manager, nwd(1), NWD, GetFlags::SPM_FRAMEWORK);
    assert_eq!(framework.spm_framework, 1);
    assert_success(&call(&manager, nwd(1), rx_release()), nwd(1));
    run(&manager, me, 1);
    write_tx(&manager, SP1, &sent);
    assert_success(&call(&manager, me, send2()), me);
}

#[test]
fn receiver_without_notifications_gets_the_message_without_signals() {
    // In the standard set SP5 takes indirect messages but no notifications.
    let manager = booted_spmc();
    map_mailbox(&manager, nwd(0), transmit(NWD), receive(NWD));
    run(&manager, ec(SP5, 0), 0);
    map_mailbox(&manager, ec(SP5, 0), transmit(SP5), receive(SP5));
    wait(&manager, ec(SP5, 0));
    write_tx(&manager, NWD, &message(NWD, SP5, b"quiet", Version::V1_2));
    assert_success(&call(&manager, nwd(0), send2()), nwd(0));
    assert_eq!(manager.take_interrupt_requests(0), InterruptRequests::default());
    assert_error(
        &call(&manager, nwd(0), Call::NotificationInfoGet { is_64: false }),
        nwd(0),
        FfaError::NoData,
    );
    run(&manager, ec(SP5, 0), 0);
    assert_eq!(manager.take_interrupt_requests(0), InterruptRequests::default());
    assert_success(&call(&manager, ec(SP5, 0), rx_release()), ec(SP5, 0));
}

fn forwarder() -> Manager {
    let messaging = MessagingMethod::SEND_DIRECT_REQUEST | MessagingMethod::INDIRECT;
    let mut vm1 = EndpointDescription::virtual_machine(VM1, 1, Version::V1_2, messaging);
    vm1.notification_support = true;
    let mut vm2 = EndpointDescription::virtual_machine(VM2, 1, Version::V1_2, messaging);
    vm2.notification_support = true;
    let local = vec![vm1, vm2];
    let remote = secure_partitions();
    let configuration = Configuration {
        role: Role::Forwarder,
        own_id: EndpointId(0),
        spm_id: SPMC_ID,
        version: Version::V1_2,
        local: &local,
        remote: &remote,
        interrupts: FeatureInterrupts { notification_pending: Some(NPI), ..Default::default() },
        maximum_mailbox_pages: 0,
    };
    Manager::new(&configuration, FakeMemory::default()).unwrap()
}

#[test]
fn forwarder_delivers_vm_to_vm_and_passes_vm_to_sp_to_the_spmc() {
    let manager = forwarder();
    manager.start(ec(VM1, 0), 0).unwrap();
    manager.start(ec(VM2, 0), 1).unwrap();
    map_mailbox(&manager, ec(VM1, 0), transmit(VM1), receive(VM1));
    map_mailbox(&manager, ec(VM2, 0), transmit(VM2), receive(VM2));
    let sent = message(VM1, VM2, b"vm to vm", Version::V1_2);
    write_tx(&manager, VM1, &sent);
    assert_error(
        &call(&manager, ec(VM1, 0), send2_delayed()),
        ec(VM1, 0),
        FfaError::InvalidParameters,
    );
    assert_success(&call(&manager, ec(VM1, 0), send2()), ec(VM1, 0));
    assert_eq!(manager.take_interrupt_requests(0), sri());
    assert_eq!(
        manager.take_interrupt_requests(1),
        InterruptRequests { schedule_receiver: false, notification_pending: Some(ec(VM2, 0)) }
    );
    assert_eq!(&rx_contents(&manager, VM2)[..sent.len()], &sent[..]);
    let framework = get(&manager, ec(VM2, 0), VM2, GetFlags::HYPERVISOR_FRAMEWORK);
    assert_eq!(framework.hypervisor_framework, 1, "the hypervisor's own RX-full bit");
    assert_error(&call(&manager, ec(VM1, 0), send2()), ec(VM1, 0), FfaError::Busy);
    // To a partition: the SPMC copies from the VM's buffers, named in w1.
    write_tx(&manager, VM1, &message(VM1, SP1, b"vm to sp", Version::V1_2));
    let forwarded = call(&manager, ec(VM1, 0), send2());
    assert_eq!((forwarded.to, forwarded.transfer), (ec(SPMC_ID, 0), Transfer::OtherWorld));
    let expected = Call::MsgSend2 { sender_vm: VM1, flags: MsgSend2Flags::empty() };
    assert_eq!(forwarded.registers, expected.encode(Version::V1_2));
    let mut success = [0u64; 18];
    success[0] = FunctionId::Success32.to_register();
    let back = manager.handle(forwarded.to, &success);
    assert_success(&back, ec(VM1, 0));
    manager.check_invariants().unwrap();
}

/// FFA_NOTIFICATION_GET returns a framework bitmap only when its flag asks for it (reference
/// §8.2/§8.3: the flags select the bitmaps; w6/w7 of an unselected one are zero) and an
/// unselected one stays pending for a later GET.
#[test]
fn get_returns_framework_bitmaps_only_when_selected_and_keeps_the_rest_pending() {
    let manager = booted_notification_spmc();
    map_all(&manager, &[NWD, SP1, SP2]);
    // SP1 gets "RX buffer full" from a VM (hypervisor framework bitmap) ...
    write_tx(&manager, NWD, &message(NWD, SP1, b"from the normal world", Version::V1_2));
    assert_success(&call(&manager, nwd(2), send2()), nwd(2));
    let me = ec(SP1, 0);
    run(&manager, me, 2);
    // ... which a GET of every bitmap but the hypervisor framework one does not return.
    let others = GetFlags::SP | GetFlags::VM | GetFlags::SPM_FRAMEWORK;
    let delivery =
        call(&manager, me, Call::NotificationGet { receiver: SP1, vcpu: VcpuId(0), flags: others });
    assert_eq!(delivery.registers[0], FunctionId::Success32.to_register(), "{delivery:?}");
    assert_eq!(delivery.registers[2..8], [0; 6], "nothing selected is pending; w6/w7 zero");
    let framework = get(&manager, me, SP1, GetFlags::HYPERVISOR_FRAMEWORK);
    assert_eq!(framework.hypervisor_framework, 1, "still pending until asked for");
    assert_eq!(get(&manager, me, SP1, GetFlags::all()), NotificationGetResult::default());
}
