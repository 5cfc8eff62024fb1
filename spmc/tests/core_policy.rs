//! The forwarder's access policy: a refused VM gets DENIED for direct requests, memory
//! transactions, indirect messages and notification calls to the partition, nothing reaches the
//! SPMC and nothing changes; other VMs and other partitions are unaffected.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

#[path = "core_harness.rs"]
mod harness;

use ffa_core::call::{MemoryTransaction, MsgWaitFlags};
use ffa_core::indirect_message::{MessageHeader, MsgSend2Flags};
use ffa_core::memory::{
    build_transaction, AccessPermissions, AddressRange, Layout, MemoryHandle,
    MemoryRegionAttributes, ReceiverAccess, TransactionFields, TransactionFlags,
};
use ffa_core::notification::{BindFlags, NotificationBitmap, SetFlags};
use ffa_core::{Call, EndpointId, FfaError, VcpuId, Version};
use harness::*;
use spmc::partition_manager::{
    CallKinds, ContextId, ContextState, Delivery, Policy, PolicyRule, Transfer,
};

/// A forwarder whose policy refuses VM2 everything towards SP2.
fn refusing_forwarder() -> Manager {
    let mut manager = memory_forwarder();
    let mut policy = Policy::allow_all();
    let rule = PolicyRule { vm: Some(VM2), partition: Some(SP2), calls: CallKinds::all() };
    policy.refuse(rule).unwrap();
    manager.set_policy(policy);
    manager
}

fn share(manager: &Manager, from: ContextId, borrower: EndpointId, page: u64) -> Delivery {
    let fields = TransactionFields {
        sender: from.endpoint,
        attributes: MemoryRegionAttributes::NORMAL_WRITE_BACK_INNER,
        flags: TransactionFlags(0),
        handle: MemoryHandle(0),
        tag: 0,
    };
    let receivers = [ReceiverAccess::new(borrower, AccessPermissions::READ_WRITE)];
    let pages = AddressRange { address: page, page_count: 1 };
    let mut bytes = vec![0u8; 4096];
    let length =
        build_transaction(&mut bytes, Layout::V1_2, &fields, &receivers, &[pages]).unwrap();
    manager.with_memory(|memory| memory.write_at(vm_tx(from.endpoint), 0, &bytes[..length]));
    let length = length as u32;
    let transaction =
        MemoryTransaction { total_length: length, fragment_length: length, buffer: None };
    call(manager, from, Call::MemShare { transaction, is_64: false })
}

fn send2(manager: &Manager, from: ContextId, receiver: EndpointId) -> Delivery {
    let mut bytes = vec![0u8; 4096];
    MessageHeader::write(from.endpoint, receiver, uuid(9), b"hello", Version::V1_2, &mut bytes)
        .unwrap();
    manager.with_memory(|memory| memory.write_at(vm_tx(from.endpoint), 0, &bytes));
    call(manager, from, Call::MsgSend2 { sender_vm: EndpointId(0), flags: MsgSend2Flags::empty() })
}

#[test]
fn a_refused_vm_gets_denied_for_every_kind_of_call_and_nothing_changes() {
    let manager = refusing_forwarder();
    let vm2 = ec(VM2, 0);
    let handles = |manager: &Manager| -> Vec<MemoryHandle> {
        manager.with_ledger(|ledger| ledger.handles().collect()).unwrap()
    };
    let before = handles(&manager);
    assert_error(&call(&manager, vm2, request32(VM2, SP2, [1; 5])), vm2, FfaError::Denied);
    assert_error(&call(&manager, vm2, request2(VM2, SP2, uuid(2))), vm2, FfaError::Denied);
    let running = manager.context_state(vm2);
    assert!(matches!(running, Some(ContextState::Running { cpu: 1, .. })), "{running:?}");
    // Memory: the page stays the VM's alone and no transaction is recorded.
    assert_error(&share(&manager, vm2, SP2, vm_page(VM2, 3)), vm2, FfaError::Denied);
    assert_eq!(handles(&manager), before);
    assert_eq!(
        manager.with_memory_platform(|platform| platform.mapped(VM2, vm_page(VM2, 3))).unwrap(),
        Some(AccessPermissions::READ_WRITE)
    );
    // Indirect message and notifications.
    assert_error(&send2(&manager, vm2, SP2), vm2, FfaError::Denied);
    let bind = Call::NotificationBind {
        sender: SP2,
        receiver: VM2,
        flags: BindFlags::empty(),
        bitmap: NotificationBitmap(1),
    };
    assert_error(&call(&manager, vm2, bind), vm2, FfaError::Denied);
    let set = Call::NotificationSet {
        sender: VM2,
        receiver: SP2,
        flags: SetFlags { per_vcpu: false, delay_schedule_receiver: false, vcpu: VcpuId(0) },
        bitmap: NotificationBitmap(1),
    };
    assert_error(&call(&manager, vm2, set), vm2, FfaError::Denied);
    manager.check_invariants().unwrap();
}

#[test]
fn other_vms_and_other_partitions_are_not_affected() {
    let manager = refusing_forwarder();
    // VM2 may still reach SP1, and VM1 may reach SP2: both go to the SPMC.
    let forwarded = call(&manager, ec(VM2, 0), request32(VM2, SP1, [2; 5]));
    assert_eq!((forwarded.to.endpoint, forwarded.transfer), (SP1, Transfer::OtherWorld));
    let forwarded = call(&manager, ec(VM1, 0), request32(VM1, SP2, [3; 5]));
    assert_eq!((forwarded.to.endpoint, forwarded.transfer), (SP2, Transfer::OtherWorld));
    let manager = refusing_forwarder();
    let shared = share(&manager, ec(VM1, 0), SP2, vm_page(VM1, 4));
    assert_eq!(shared.transfer, Transfer::OtherWorld, "{shared:?}");
}

#[test]
fn the_default_policy_allows_everything() {
    let manager = memory_forwarder();
    assert_eq!(manager.policy(), &Policy::allow_all());
    let forwarded = call(&manager, ec(VM2, 0), request32(VM2, SP2, [4; 5]));
    assert_eq!((forwarded.to.endpoint, forwarded.transfer), (SP2, Transfer::OtherWorld));
    let waiting =
        call(&manager, ec(VM1, 0), Call::MsgWait { flags: MsgWaitFlags::empty(), is_64: false });
    assert_eq!(waiting.transfer, Transfer::Scheduler);
}
