//! VM availability and VM teardown in the forwarder: the VM_CREATED and VM_DESTROYED passes to
//! subscribed partitions (retry rules), and `destroy_vm` with memory shared mid-transaction,
//! notifications and unfinished calls.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

#[path = "core_harness.rs"]
mod harness;

use ffa_core::call::{MemoryTransaction, ReclaimFlags, Return};
use ffa_core::direct_message::{DirectBody, DirectMessage};
use ffa_core::framework_message::FrameworkMessage;
use ffa_core::memory::{
    build_relinquish, build_transaction, AccessPermissions, AddressRange, DataAccess,
    InstructionAccess, Layout, MemoryHandle, MemoryRegionAttributes, ReceiverAccess,
    RelinquishFlags, TransactionFields, TransactionFlags, TransactionType,
};
use ffa_core::rxtx::RxtxMapArgs;
use ffa_core::{Call, EndpointId, FfaError, FunctionId, SuccessArgs, TargetInfo, VcpuId, Version};
use harness::*;
use spmc::manifest::{MessagingMethod, VmAvailabilityMessages};
use spmc::partition_manager::{
    Configuration, ContextId, ContextState, Delivery, EndpointDescription, FeatureInterrupts,
    MemoryActivity, PartitionProgress, PartitionStatus, Role, Transfer, VmEvent,
};

const HYPERVISOR: EndpointId = EndpointId(0);
const BOTH: VmAvailabilityMessages =
    VmAvailabilityMessages::VM_CREATED.union(VmAvailabilityMessages::VM_DESTROYED);

fn page(vm: EndpointId, n: u64) -> u64 {
    vm_page(vm, n)
}

fn tx_of(vm: EndpointId) -> u64 {
    vm_tx(vm)
}

fn forwarder() -> Manager {
    memory_forwarder()
}

/// The SPMC answers whatever the forwarder sent on `cpu`.
fn spmc_answers(manager: &Manager, cpu: u16, answer: Return) -> Delivery {
    let delivery = manager.handle(ec(SPMC_ID, cpu), &answer.encode(Version::V1_2));
    manager.check_invariants().unwrap();
    delivery
}

/// The framework response `partition` gives to the hypervisor.
fn acknowledgement(partition: EndpointId, response: FrameworkMessage) -> Return {
    Return::DirectResponse(DirectMessage {
        source: partition,
        destination: HYPERVISOR,
        body: DirectBody::Framework32(response),
    })
}

fn created_ack(partition: EndpointId, status: Result<(), FfaError>) -> Return {
    acknowledgement(partition, FrameworkMessage::VmCreatedResponse(status))
}

fn destroyed_ack(partition: EndpointId, status: Result<(), FfaError>) -> Return {
    acknowledgement(partition, FrameworkMessage::VmDestroyedResponse(status))
}

/// Asserts `delivery` carries the VM availability message for `vm` to `partition` on `cpu`.
fn assert_message(
    delivery: &Delivery,
    partition: EndpointId,
    cpu: u16,
    event: VmEvent,
    vm: EndpointId,
) {
    assert_eq!(
        (delivery.to, delivery.transfer),
        (ec(partition, cpu), Transfer::OtherWorld),
        "{delivery:?}"
    );
    let handle = MemoryHandle::INVALID.0;
    let message = match event {
        VmEvent::Created => FrameworkMessage::VmCreated { handle, vm_id: vm },
        VmEvent::Destroyed => FrameworkMessage::VmDestroyed { handle, vm_id: vm },
    };
    assert_eq!(
        Call::decode(&delivery.registers, Version::V1_2),
        Ok(Call::MsgSendDirectReq(DirectMessage {
            source: HYPERVISOR,
            destination: partition,
            body: DirectBody::Framework32(message),
        }))
    );
}

/// Asserts the pass ended on `cpu` with `result` (SUCCESS, or the error) for the scheduler.
fn assert_pass_end(delivery: &Delivery, cpu: u16, result: Result<(), FfaError>) {
    assert_eq!(
        (delivery.to, delivery.transfer),
        (ec(HYPERVISOR, cpu), Transfer::Scheduler),
        "{delivery:?}"
    );
    match result {
        Ok(()) => assert_eq!(delivery.registers[0], FunctionId::Success32.to_register()),
        Err(error) => assert_eq!(error_of(delivery), Some(error), "{delivery:?}"),
    }
}

fn statuses(manager: &Manager, vm: EndpointId) -> Vec<(EndpointId, PartitionStatus)> {
    let report = manager.vm_lifecycle_report(vm).expect("a job");
    report
        .partitions
        .iter()
        .map(|PartitionProgress { partition, status }| (*partition, *status))
        .collect()
}

#[test]
fn vm_created_tells_subscribers_and_retries_those_that_were_not_ready() {
    let manager = forwarder();
    manager.set_vm_availability(SP1, BOTH).unwrap();
    manager.set_vm_availability(SP2, VmAvailabilityMessages::VM_DESTROYED).unwrap();
    manager.set_vm_availability(SP3, VmAvailabilityMessages::VM_CREATED).unwrap();
    manager.set_vm_availability(SP4, VmAvailabilityMessages::VM_CREATED).unwrap();
    manager.set_vm_availability(SP5, VmAvailabilityMessages::VM_CREATED).unwrap();
    assert_eq!(manager.vm_availability(SP2), VmAvailabilityMessages::VM_DESTROYED);
    // VM1 is re-announced (e.g. after a reset); the pass runs on idle CPU 2.
    let first = manager.vm_created(VM1, 2).unwrap();
    assert_message(&first, SP1, 2, VmEvent::Created, VM1);
    // While the pass waits on the other world, CPU 2 is taken and no second pass starts.
    assert_eq!(manager.start(ec(VM1, 1), 2), Err(FfaError::Denied));
    assert_eq!(manager.vm_created(VM2, 3), Err(FfaError::Busy));
    assert_eq!(manager.destroy_vm(VM2, 3), Err(FfaError::Busy));
    // SP1 acknowledges; SP3 is asked next and is not ready (RETRY in its response); SP4's
    // context is busy at the SPMC (FFA_ERROR(BUSY)).
    let next = spmc_answers(&manager, 2, created_ack(SP1, Ok(())));
    assert_message(&next, SP3, 2, VmEvent::Created, VM1);
    let next = spmc_answers(&manager, 2, created_ack(SP3, Err(FfaError::Retry)));
    assert_message(&next, SP4, 2, VmEvent::Created, VM1);
    let next = spmc_answers(&manager, 2, Return::error(FfaError::Busy));
    // SP5 has not finished starting up.
    assert_message(&next, SP5, 2, VmEvent::Created, VM1);
    let end = spmc_answers(&manager, 2, created_ack(SP5, Err(FfaError::NotReady)));
    assert_pass_end(&end, 2, Err(FfaError::Retry));
    assert_eq!(
        statuses(&manager, VM1),
        vec![
            (SP1, PartitionStatus::Acknowledged),
            (SP3, PartitionStatus::Waiting),
            (SP4, PartitionStatus::Waiting),
            (SP5, PartitionStatus::Waiting),
        ]
    );
    assert!(!manager.vm_lifecycle_report(VM1).unwrap().is_complete());
    // The CPU is free again.
    assert_eq!(manager.start(ec(VM1, 1), 2).map(|delivery| delivery.transfer), Ok(Transfer::Start));
    call(
        &manager,
        ec(VM1, 1),
        Call::MsgWait { flags: ffa_core::call::MsgWaitFlags::empty(), is_64: false },
    );
    // Second pass: only SP3 and SP4. SP3 is preempted while it handles the message.
    let again = manager.vm_created(VM1, 3).unwrap();
    assert_message(&again, SP3, 3, VmEvent::Created, VM1);
    let target = TargetInfo { endpoint: SP3, vcpu: VcpuId(0) };
    let interrupted = Return::Interrupt { target, interrupt_id: 0, is_64: false };
    let next = spmc_answers(&manager, 3, interrupted);
    assert_message(&next, SP4, 3, VmEvent::Created, VM1);
    let next = spmc_answers(&manager, 3, created_ack(SP4, Ok(())));
    assert_message(&next, SP5, 3, VmEvent::Created, VM1);
    let end = spmc_answers(&manager, 3, created_ack(SP5, Ok(())));
    assert_pass_end(&end, 3, Err(FfaError::Retry));
    assert_eq!(statuses(&manager, VM1)[1], (SP3, PartitionStatus::Preempted(target)));
    // Third pass: SP3 is resumed with FFA_RUN, not sent the message again.
    let resume = manager.vm_created(VM1, 3).unwrap();
    assert_eq!((resume.to, resume.transfer), (ec(SP3, 3), Transfer::OtherWorld));
    assert_eq!(
        Call::decode(&resume.registers, Version::V1_2),
        Ok(Call::Run { target, is_64: false })
    );
    // The SPMC cannot run it yet: it stays preempted.
    let end = spmc_answers(&manager, 3, Return::error(FfaError::Busy));
    assert_pass_end(&end, 3, Err(FfaError::Retry));
    assert_eq!(statuses(&manager, VM1)[1], (SP3, PartitionStatus::Preempted(target)));
    manager.vm_created(VM1, 3).unwrap();
    let end = spmc_answers(&manager, 3, created_ack(SP3, Ok(())));
    assert_pass_end(&end, 3, Ok(()));
    let report = manager.vm_lifecycle_report(VM1).unwrap();
    assert!(report.is_complete());
    assert_eq!(report.event, VmEvent::Created);
    assert!(report
        .partitions
        .iter()
        .all(|progress| progress.status == PartitionStatus::Acknowledged));
    // A new announcement starts over for every subscriber.
    let fresh = manager.vm_created(VM1, 3).unwrap();
    assert_message(&fresh, SP1, 3, VmEvent::Created, VM1);
}

#[test]
fn wrong_answers_are_refusals_and_are_not_asked_again() {
    let manager = forwarder();
    for partition in [SP1, SP2, SP3] {
        manager.set_vm_availability(partition, BOTH).unwrap();
    }
    manager.vm_created(VM2, 2).unwrap();
    // SP1 answers with the VM-destroyed response, SP2 with a partition message, SP3 is
    // refused by the SPMC.
    spmc_answers(&manager, 2, destroyed_ack(SP1, Ok(())));
    let partition_message = Return::DirectResponse(DirectMessage {
        source: SP2,
        destination: HYPERVISOR,
        body: DirectBody::Partition32([0; 5]),
    });
    spmc_answers(&manager, 2, partition_message);
    let end = spmc_answers(&manager, 2, Return::error(FfaError::Denied));
    assert_pass_end(&end, 2, Ok(()));
    assert_eq!(
        statuses(&manager, VM2),
        vec![
            (SP1, PartitionStatus::Refused(FfaError::Aborted)),
            (SP2, PartitionStatus::Refused(FfaError::Aborted)),
            (SP3, PartitionStatus::Refused(FfaError::Denied)),
        ]
    );
    assert!(manager.vm_lifecycle_report(VM2).unwrap().is_complete());
}

#[test]
fn lifecycle_entry_points_refuse_what_they_cannot_do() {
    let manager = forwarder();
    // Unknown partitions cannot subscribe; VMs are not partitions of the secure world.
    assert_eq!(
        manager.set_vm_availability(EndpointId(0x8042), BOTH),
        Err(FfaError::InvalidParameters)
    );
    assert_eq!(manager.set_vm_availability(VM2, BOTH), Err(FfaError::InvalidParameters));
    assert_eq!(manager.vm_created(EndpointId(9), 2), Err(FfaError::InvalidParameters));
    assert_eq!(manager.vm_created(VM1, 4), Err(FfaError::InvalidParameters));
    // CPU 0 runs VM1.
    assert_eq!(manager.vm_created(VM2, 0), Err(FfaError::Denied));
    assert_eq!(manager.destroy_vm(VM2, 0), Err(FfaError::Denied));
    // VM1 runs: it cannot be destroyed until the platform stops it.
    assert_eq!(manager.destroy_vm(VM1, 2), Err(FfaError::Denied));
    assert!(!manager.is_destroyed(VM1));
    // Nobody subscribed: the pass ends at once.
    assert_pass_end(&manager.vm_created(VM2, 2).unwrap(), 2, Ok(()));
    // The SPMC has no VMs of its own to announce or destroy.
    let spmc = booted_spmc();
    assert_eq!(spmc.vm_created(VM1, 0), Err(FfaError::NotSupported));
    assert_eq!(spmc.destroy_vm(VM1, 0), Err(FfaError::NotSupported));
    assert_eq!(spmc.set_vm_availability(VM1, BOTH), Err(FfaError::InvalidParameters));
}

// ---- Teardown with memory mid-transaction ------------------------------------------------

fn range(address: u64, page_count: u32) -> AddressRange {
    AddressRange { address, page_count }
}

fn send_bytes(
    call: TransactionType,
    sender: EndpointId,
    borrower: EndpointId,
    pages: AddressRange,
) -> Vec<u8> {
    let (attributes, permissions) = match call {
        TransactionType::Share => {
            (MemoryRegionAttributes::NORMAL_WRITE_BACK_INNER, AccessPermissions::READ_WRITE)
        }
        _ => (MemoryRegionAttributes::NOT_SPECIFIED, AccessPermissions::READ_WRITE),
    };
    let fields = TransactionFields {
        sender,
        attributes,
        flags: TransactionFlags(0),
        handle: MemoryHandle(0),
        tag: 0,
    };
    let receivers = [ReceiverAccess::new(borrower, permissions)];
    let mut out = vec![0u8; 4096];
    let length = build_transaction(&mut out, Layout::V1_2, &fields, &receivers, &[pages]).unwrap();
    out.truncate(length);
    out
}

fn with_tx(manager: &Manager, from: ContextId, bytes: &[u8], made: Call) -> Delivery {
    manager.with_memory(|memory| memory.write_at(tx_of(from.endpoint), 0, bytes));
    call(manager, from, made)
}

fn send(
    manager: &Manager,
    from: ContextId,
    kind: TransactionType,
    borrower: EndpointId,
    pages: AddressRange,
) -> Delivery {
    let bytes = send_bytes(kind, from.endpoint, borrower, pages);
    let length = bytes.len() as u32;
    let transaction =
        MemoryTransaction { total_length: length, fragment_length: length, buffer: None };
    let made = match kind {
        TransactionType::Share => Call::MemShare { transaction, is_64: false },
        TransactionType::Lend => Call::MemLend { transaction, is_64: false },
        TransactionType::Donate => Call::MemDonate { transaction, is_64: false },
    };
    with_tx(manager, from, &bytes, made)
}

fn handle_of(delivery: &Delivery) -> MemoryHandle {
    assert_eq!(delivery.registers[0], FunctionId::Success32.to_register(), "{delivery:?}");
    MemoryHandle(delivery.registers[2] | delivery.registers[3] << 32)
}

fn retrieve(
    manager: &Manager,
    from: ContextId,
    handle: MemoryHandle,
    sender: EndpointId,
    kind: TransactionType,
) -> Delivery {
    let instruction = if kind == TransactionType::Share {
        InstructionAccess::NotSpecified
    } else {
        InstructionAccess::NotExecutable
    };
    let fields = TransactionFields {
        sender,
        attributes: MemoryRegionAttributes::NOT_SPECIFIED,
        flags: TransactionFlags(0).with_type(kind),
        handle,
        tag: 0,
    };
    let access = AccessPermissions { data: DataAccess::ReadWrite, instruction };
    let receivers = [ReceiverAccess::new(from.endpoint, access)];
    let mut out = vec![0u8; 4096];
    let length = build_transaction(&mut out, Layout::V1_2, &fields, &receivers, &[]).unwrap();
    let transaction = MemoryTransaction {
        total_length: length as u32,
        fragment_length: length as u32,
        buffer: None,
    };
    with_tx(manager, from, &out[..length], Call::MemRetrieveReq { transaction, is_64: false })
}

fn relinquish(manager: &Manager, from: ContextId, handle: MemoryHandle) -> Delivery {
    let mut out = [0u8; 64];
    let flags = RelinquishFlags { clear_memory: false, time_slicing: false };
    let length = build_relinquish(&mut out, handle, flags, &[from.endpoint]).unwrap();
    with_tx(manager, from, &out[..length], Call::MemRelinquish)
}

fn reclaim(manager: &Manager, from: ContextId, handle: MemoryHandle) -> Delivery {
    call(manager, from, Call::MemReclaim { handle: handle.0, flags: ReclaimFlags::empty() })
}

fn mapped(manager: &Manager, endpoint: EndpointId, address: u64) -> Option<AccessPermissions> {
    manager.with_memory_platform(|platform| platform.mapped(endpoint, address)).unwrap()
}

fn handles(manager: &Manager) -> Vec<MemoryHandle> {
    manager.with_ledger(|ledger| ledger.handles().collect()).unwrap()
}

fn mailbox_mapped(manager: &Manager, endpoint: EndpointId) -> bool {
    manager.with_memory(|memory| {
        memory.buffers.iter().any(|buffer| buffer.mapped && buffer.endpoint == endpoint)
    })
}

#[test]
fn vm_destroyed_mid_transaction_reclaims_once_borrowers_let_go_and_leaves_nothing() {
    let manager = forwarder();
    manager.set_vm_availability(SP1, VmAvailabilityMessages::VM_DESTROYED).unwrap();
    let (vm1, vm2) = (ec(VM1, 0), ec(VM2, 0));
    // VM1 lends a page to SP1 (forwarded; the SPMC's handle comes back; SP1 retrieves it
    // there) ...
    let forwarded = send(&manager, vm1, TransactionType::Lend, SP1, range(page(VM1, 3), 1));
    assert_eq!(forwarded.transfer, Transfer::OtherWorld);
    let spmc_handle = MemoryHandle(0x0000_0003_0000_0005);
    let lent = spmc_answers(&manager, 0, Return::success(SuccessArgs::handle(spmc_handle.0)));
    assert_eq!(handle_of(&lent), spmc_handle);
    let local_record = handles(&manager)[0];
    // ... shares a page with VM2, which retrieves it ...
    let shared =
        handle_of(&send(&manager, vm1, TransactionType::Share, VM2, range(page(VM1, 5), 1)));
    assert_eq!(
        retrieve(&manager, vm2, shared, VM1, TransactionType::Share).registers[0],
        FunctionId::MemRetrieveResp.to_register()
    );
    assert_success(&call(&manager, vm2, Call::RxRelease { vm_id: EndpointId(0) }), vm2);
    // ... lends VM2 a page it never retrieves, and borrows a page of VM2's.
    let idle = handle_of(&send(&manager, vm1, TransactionType::Lend, VM2, range(page(VM1, 7), 1)));
    let borrowed =
        handle_of(&send(&manager, vm2, TransactionType::Lend, VM1, range(page(VM2, 9), 1)));
    retrieve(&manager, vm1, borrowed, VM2, TransactionType::Lend);
    assert_success(&call(&manager, vm1, Call::RxRelease { vm_id: EndpointId(0) }), vm1);
    assert!(mapped(&manager, VM1, page(VM2, 9)).is_some());
    // Another VM can neither reclaim nor retrieve VM1's handles.
    for handle in [spmc_handle, shared, idle] {
        assert_error(&reclaim(&manager, vm2, handle), vm2, FfaError::Denied);
    }
    let foreign = retrieve(&manager, vm2, local_record, VM1, TransactionType::Lend);
    assert_error(&foreign, vm2, FfaError::Denied);
    assert_eq!(mapped(&manager, VM2, page(VM1, 3)), None);

    // The platform stops VM1 (it waits) and destroys it on CPU 0.
    call(
        &manager,
        vm1,
        Call::MsgWait { flags: ffa_core::call::MsgWaitFlags::empty(), is_64: false },
    );
    let told = manager.destroy_vm(VM1, 0).unwrap();
    assert!(manager.is_destroyed(VM1));
    assert!(!mailbox_mapped(&manager, VM1), "its RX/TX buffers are unmapped");
    assert_eq!(mapped(&manager, VM1, page(VM2, 9)), None, "what it borrowed is given back");
    assert!(!handles(&manager).contains(&idle), "what nobody holds is reclaimed at once");
    assert_eq!(mapped(&manager, VM1, page(VM1, 7)), Some(AccessPermissions::READ_WRITE));
    // SP1 is told, then the SPMC is asked for the lent page: SP1 still holds it.
    assert_message(&told, SP1, 0, VmEvent::Destroyed, VM1);
    let reclaiming = spmc_answers(&manager, 0, destroyed_ack(SP1, Ok(())));
    assert_eq!((reclaiming.to, reclaiming.transfer), (ec(SPMC_ID, 0), Transfer::OtherWorld));
    assert_eq!(
        Call::decode(&reclaiming.registers, Version::V1_2),
        Ok(Call::MemReclaim { handle: spmc_handle.0, flags: ReclaimFlags::empty() })
    );
    let end = spmc_answers(&manager, 0, Return::error(FfaError::Denied));
    assert_pass_end(&end, 0, Err(FfaError::Retry));
    let report = manager.vm_lifecycle_report(VM1).unwrap();
    assert_eq!(report.outstanding_transactions, 2, "the share VM2 holds and the lend SP1 holds");
    assert_eq!(report.partitions[0].status, PartitionStatus::Acknowledged);
    assert_eq!(mapped(&manager, VM1, page(VM1, 3)), None, "still lent");

    // The destroyed VM's ID is unknown now.
    assert_error(
        &call(&manager, vm2, request32(VM2, VM1, [0; 5])),
        vm2,
        FfaError::InvalidParameters,
    );
    let to_dead = send(&manager, vm2, TransactionType::Share, VM1, range(page(VM2, 11), 1));
    assert_error(&to_dead, vm2, FfaError::InvalidParameters);
    let from_dead = manager.handle(vm1, &Call::IdGet.encode(Version::V1_2));
    assert_error(&from_dead, vm1, FfaError::Denied);
    assert_eq!(manager.start(ec(VM1, 1), 2), Err(FfaError::Denied));
    assert_eq!(manager.context_state(vm1), Some(ContextState::Aborted));
    assert_eq!(manager.vm_created(VM1, 2), Err(FfaError::Denied), "teardown is not finished");
    let partition_info = call(
        &manager,
        vm2,
        Call::PartitionInfoGet {
            uuid: ffa_core::Uuid::NIL,
            flags: ffa_core::partition_info::PartitionInfoGetFlags::COUNT_ONLY,
        },
    );
    assert_eq!(
        partition_info.registers[2],
        1 + secure_partitions().len() as u64,
        "VM2 and the SPs"
    );

    // The borrowers let go: VM2 relinquishes, SP1 relinquishes at the SPMC. The next pass
    // does not tell SP1 again and both reclaims succeed.
    assert_success(&relinquish(&manager, vm2, shared), vm2);
    let reclaiming = manager.destroy_vm(VM1, 2).unwrap();
    assert_eq!(
        Call::decode(&reclaiming.registers, Version::V1_2),
        Ok(Call::MemReclaim { handle: spmc_handle.0, flags: ReclaimFlags::empty() })
    );
    let end = spmc_answers(&manager, 2, Return::success(SuccessArgs::EMPTY));
    assert_pass_end(&end, 2, Ok(()));
    let report = manager.vm_lifecycle_report(VM1).unwrap();
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.outstanding_transactions, 0);
    // Nothing leaks: VM2's own lend is the only transaction left, no forwarded record, no
    // mapping of VM1's memory by anyone else, VM1's buffers gone.
    assert_eq!(handles(&manager), vec![borrowed]);
    assert_eq!(manager.memory_activity(), MemoryActivity::default());
    for n in [3, 5, 7] {
        assert_eq!(mapped(&manager, VM2, page(VM1, n)), None);
        assert_eq!(mapped(&manager, VM1, page(VM1, n)), Some(AccessPermissions::READ_WRITE));
    }
    assert!(!mailbox_mapped(&manager, VM1));
    // VM2 reclaims its lend (VM1 gave it back at teardown).
    assert_success(&reclaim(&manager, vm2, borrowed), vm2);
    // VM1 can be created again and runs from the start.
    assert_pass_end(&manager.vm_created(VM1, 2).unwrap(), 2, Ok(()));
    assert!(!manager.is_destroyed(VM1));
    assert_eq!(manager.start(vm1, 2).map(|delivery| delivery.transfer), Ok(Transfer::Start));
}

#[test]
fn teardown_ends_unfinished_sends_and_leaves_other_vms_alone() {
    let manager = forwarder();
    let (vm1, vm2) = (ec(VM1, 0), ec(VM2, 0));
    // VM1 starts a fragmented send it never finishes.
    let bytes = send_bytes(TransactionType::Share, VM1, VM2, range(page(VM1, 2), 1));
    // The header part now, the constituent never.
    let transaction = MemoryTransaction {
        total_length: bytes.len() as u32,
        fragment_length: bytes.len() as u32 - 16,
        buffer: None,
    };
    let pending = with_tx(&manager, vm1, &bytes, Call::MemShare { transaction, is_64: false });
    assert!(matches!(returned(&pending, Version::V1_2), Return::MemFragRx { .. }), "{pending:?}");
    assert_eq!(manager.memory_activity().pending_sends, 1);
    call(
        &manager,
        vm1,
        Call::MsgWait { flags: ffa_core::call::MsgWaitFlags::empty(), is_64: false },
    );
    assert_pass_end(&manager.destroy_vm(VM1, 2).unwrap(), 2, Ok(()));
    assert_eq!(manager.memory_activity(), MemoryActivity::default());
    assert!(handles(&manager).is_empty());
    // Nothing changed for VM2.
    assert_eq!(manager.context_state(vm2), Some(ContextState::Running { cpu: 1, booting: false }));
    assert!(mailbox_mapped(&manager, VM2));
    let buffers =
        RxtxMapArgs::Buffers { tx_address: tx_of(VM2), rx_address: vm_rx(VM2), page_count: 1 };
    assert_error(
        &call(&manager, vm2, Call::RxtxMap { buffers, is_64: true }),
        vm2,
        FfaError::Denied,
    );
}

// ---- Teardown of notification state ------------------------------------------------------

fn notification_call(manager: &Manager, from: ContextId, made: Call) -> Delivery {
    call(manager, from, made)
}

#[test]
fn teardown_drops_the_vms_bindings_and_the_notifications_it_left_pending() {
    use ffa_core::notification::{BindFlags, GetFlags, NotificationBitmap, SetFlags};
    let messaging = MessagingMethod::SEND_DIRECT_REQUEST | MessagingMethod::INDIRECT;
    let mut vm1 = EndpointDescription::virtual_machine(VM1, 1, Version::V1_2, messaging);
    vm1.notification_support = true;
    let mut vm2 = EndpointDescription::virtual_machine(VM2, 1, Version::V1_2, messaging);
    vm2.notification_support = true;
    let local = vec![vm1, vm2];
    let remote = secure_partitions();
    let configuration = Configuration {
        role: Role::Forwarder,
        own_id: HYPERVISOR,
        spm_id: SPMC_ID,
        version: Version::V1_2,
        local: &local,
        remote: &remote,
        interrupts: FeatureInterrupts { notification_pending: Some(NPI), ..Default::default() },
        maximum_mailbox_pages: 0,
    };
    let manager = Manager::new(&configuration, FakeMemory::default()).unwrap();
    let (vm1, vm2) = (ec(VM1, 0), ec(VM2, 0));
    manager.start(vm1, 0).unwrap();
    manager.start(vm2, 1).unwrap();
    let bind = |sender, receiver, bits| Call::NotificationBind {
        sender,
        receiver,
        flags: BindFlags::empty(),
        bitmap: NotificationBitmap(bits),
    };
    let set = |sender, receiver, bits| Call::NotificationSet {
        sender,
        receiver,
        flags: SetFlags { per_vcpu: false, delay_schedule_receiver: false, vcpu: VcpuId(0) },
        bitmap: NotificationBitmap(bits),
    };
    // VM2 lets VM1 signal bits 0-1 (one pending) and VM1 lets VM2 signal bit 5 (pending).
    assert_success(&notification_call(&manager, vm2, bind(VM1, VM2, 0b11)), vm2);
    assert_success(&notification_call(&manager, vm1, bind(VM2, VM1, 1 << 5)), vm1);
    assert_success(&notification_call(&manager, vm1, set(VM1, VM2, 0b01)), vm1);
    assert_success(&notification_call(&manager, vm2, set(VM2, VM1, 1 << 5)), vm2);
    manager.take_interrupt_requests(0);
    manager.take_interrupt_requests(1);
    call(
        &manager,
        vm1,
        Call::MsgWait { flags: ffa_core::call::MsgWaitFlags::empty(), is_64: false },
    );
    assert_pass_end(&manager.destroy_vm(VM1, 0).unwrap(), 0, Ok(()));
    manager.check_invariants().unwrap();
    // Nothing from VM1 is pending for VM2 any more (the invariants also check that every
    // pending bit is bound), and VM1 is unknown as a sender.
    let get = Call::NotificationGet { receiver: VM2, vcpu: VcpuId(0), flags: GetFlags::VM };
    let got = notification_call(&manager, vm2, get);
    assert_eq!(got.registers[0], FunctionId::Success32.to_register(), "{got:?}");
    assert_eq!((got.registers[4], got.registers[5]), (0, 0), "VM bitmap empty");
    assert_error(
        &notification_call(&manager, vm2, bind(VM1, VM2, 0b11)),
        vm2,
        FfaError::InvalidParameters,
    );
    // Nor can VM2 signal the destroyed VM.
    assert_error(
        &notification_call(&manager, vm2, set(VM2, VM1, 1 << 5)),
        vm2,
        FfaError::InvalidParameters,
    );
}

#[test]
fn a_vm_in_use_cannot_be_destroyed_and_a_preempted_idle_one_can() {
    let manager = forwarder();
    let (vm1, vm2) = (ec(VM1, 0), ec(VM2, 0));
    let wait = Call::MsgWait { flags: ffa_core::call::MsgWaitFlags::empty(), is_64: false };
    // VM2 waits; VM1's direct request makes it service the request on CPU 0.
    call(&manager, vm2, wait);
    let delivered = call(&manager, vm1, request32(VM1, VM2, [1; 5]));
    assert_eq!((delivered.to, delivered.transfer), (vm2, Transfer::Enter));
    assert_eq!(manager.destroy_vm(VM2, 2), Err(FfaError::Denied), "it runs");
    assert_eq!(manager.destroy_vm(VM1, 2), Err(FfaError::Denied), "it waits in a call");
    // VM2 yields while servicing: preempted, but still owing VM1 its response.
    let yielded = call(
        &manager,
        vm2,
        Call::Yield { target: ffa_core::call::NO_TARGET, timeout: 0, is_64: false },
    );
    assert_eq!(yielded.to, vm1);
    assert_eq!(manager.context_state(vm2), Some(ContextState::Preempted));
    assert_eq!(manager.destroy_vm(VM2, 2), Err(FfaError::Denied), "it services a request");
    assert!(!manager.is_destroyed(VM2));
    // VM1 resumes it and it answers.
    let resumed = call(&manager, vm1, Call::Run { target: vm2.target_info(), is_64: false });
    assert_eq!(resumed.to, vm2);
    let answered = call(&manager, vm2, response32(VM2, VM1, [2; 5]));
    assert_eq!(answered.to, vm1);
    // VM1 waits; its second vCPU is started and preempted by the platform: stopped, with no
    // request, so VM1 may go.
    call(&manager, vm1, wait);
    manager.start(ec(VM1, 1), 2).unwrap();
    manager.preempt(ec(VM1, 1), 27).unwrap();
    assert_eq!(manager.context_state(ec(VM1, 1)), Some(ContextState::Preempted));
    assert_pass_end(&manager.destroy_vm(VM1, 3).unwrap(), 3, Ok(()));
    for vcpu in 0..2 {
        assert_eq!(manager.context_state(ec(VM1, vcpu)), Some(ContextState::Aborted));
    }
    assert_eq!(manager.context_state(vm2), Some(ContextState::Waiting));
}
