//! The forwarder's side of VM mailboxes at the SPMC: registering a VM's RX/TX buffers with
//! the forwarded FFA_RXTX_MAP, taking a registered RX buffer with FFA_RX_ACQUIRE before the
//! forwarder writes into it, passing FFA_RX_RELEASE on, and unmapping at teardown.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

#[path = "core_harness.rs"]
mod harness;

use ffa_core::call::{MsgWaitFlags, Return};
use ffa_core::indirect_message::{MessageHeader, MsgSend2Flags};
use ffa_core::partition_info::PartitionInfoGetFlags;
use ffa_core::rxtx::{EndpointRxTxDescriptor, ForwardedBuffer, RxtxMapArgs};
use ffa_core::{Call, EndpointId, FfaError, FunctionId, SuccessArgs, Uuid, Version};
use harness::*;
use spmc::partition_manager::{ContextState, Delivery, Transfer};

fn spmc_answers(manager: &Manager, cpu: u16, answer: Return) -> Delivery {
    let delivery = manager.handle(ec(SPMC_ID, cpu), &answer.encode(Version::V1_2));
    manager.check_invariants().unwrap();
    delivery
}

fn forward_buffer(manager: &Manager) -> Vec<u8> {
    manager.with_memory_platform(|platform| platform.forward_buffer.clone()).unwrap()
}

/// Registers VM1's buffers on CPU 2 and lets the SPMC agree.
fn register_vm1(manager: &Manager) {
    manager.register_vm_mailbox(VM1, 2).unwrap();
    let done = spmc_answers(manager, 2, Return::success(SuccessArgs::EMPTY));
    assert_eq!((done.to, done.transfer), (ec(NWD, 2), Transfer::Scheduler));
    assert!(manager.vm_mailbox_registered(VM1));
}

fn partition_info() -> Call {
    Call::PartitionInfoGet { uuid: Uuid::NIL, flags: PartitionInfoGetFlags::empty() }
}

/// Asserts `delivery` forwards `call` to the SPMC on `cpu` with its caller blocked.
fn assert_forwarded(
    manager: &Manager,
    delivery: &Delivery,
    cpu: u16,
    call: Call,
    caller: EndpointId,
) {
    assert_eq!((delivery.to, delivery.transfer), (ec(SPMC_ID, cpu), Transfer::OtherWorld));
    assert_eq!(Call::decode(&delivery.registers, Version::V1_2), Ok(call));
    assert_eq!(manager.context_state(ec(caller, 0)), Some(ContextState::Blocked { cpu }));
}

#[test]
fn registering_sends_the_endpoint_rx_tx_descriptor_with_physical_addresses() {
    let manager = memory_forwarder();
    let sent = manager.register_vm_mailbox(VM1, 2).unwrap();
    assert_eq!((sent.to, sent.transfer), (ec(SPMC_ID, 2), Transfer::OtherWorld));
    assert_eq!(
        Call::decode(&sent.registers, Version::V1_2),
        Ok(Call::RxtxMap { buffers: RxtxMapArgs::Forwarded, is_64: true })
    );
    let descriptor = EndpointRxTxDescriptor::parse(&forward_buffer(&manager)).unwrap();
    assert_eq!(
        descriptor,
        EndpointRxTxDescriptor {
            endpoint: VM1,
            rx: ForwardedBuffer { address: vm_rx(VM1), page_count: 1 },
            tx: ForwardedBuffer { address: vm_tx(VM1), page_count: 1 },
        }
    );
    // CPU 2 waits on the SPMC meanwhile.
    assert_eq!(manager.start(ec(VM1, 1), 2), Err(FfaError::Denied));
    assert_eq!(manager.register_vm_mailbox(VM2, 3), Err(FfaError::Busy));
    // A refusal leaves it unregistered.
    let refused = spmc_answers(&manager, 2, Return::error(FfaError::InvalidParameters));
    assert_eq!((refused.to, refused.transfer), (ec(NWD, 2), Transfer::Scheduler));
    assert_eq!(error_of(&refused), Some(FfaError::InvalidParameters));
    assert!(!manager.vm_mailbox_registered(VM1));
    register_vm1(&manager);
    assert_eq!(manager.register_vm_mailbox(VM1, 2), Err(FfaError::Denied), "registered already");
    assert_eq!(manager.register_vm_mailbox(EndpointId(9), 2), Err(FfaError::InvalidParameters));
    assert_eq!(manager.register_vm_mailbox(VM2, 1), Err(FfaError::Denied), "CPU 1 runs VM2");
    // Without buffers there is nothing to register.
    assert_success(
        &call(&manager, ec(VM2, 0), Call::RxtxUnmap { vm_id: EndpointId(0) }),
        ec(VM2, 0),
    );
    assert_eq!(manager.register_vm_mailbox(VM2, 3), Err(FfaError::Denied));
    // The SPMC role does not forward anything.
    assert_eq!(booted_spmc().register_vm_mailbox(VM1, 0), Err(FfaError::NotSupported));
}

#[test]
fn the_forwarder_acquires_a_registered_rx_buffer_before_writing_and_releases_it_with_the_vm() {
    let manager = memory_forwarder();
    register_vm1(&manager);
    let vm1 = ec(VM1, 0);
    // FFA_PARTITION_INFO_GET writes VM1's RX buffer: the SPMC is asked first.
    let asked = call(&manager, vm1, partition_info());
    assert_forwarded(&manager, &asked, 0, Call::RxAcquire { vm_id: VM1 }, VM1);
    // The SPMC refuses (it wrote a message VM1 has not released): BUSY, nothing written.
    let busy = spmc_answers(&manager, 0, Return::error(FfaError::Denied));
    assert_error(&busy, vm1, FfaError::Busy);
    assert!(manager.with_memory(|memory| memory.contents(vm_rx(VM1)).iter().all(|&byte| byte == 0)));
    // VM1 releases its buffer: that goes to the SPMC, whose answer VM1 gets.
    let release = call(&manager, vm1, Call::RxRelease { vm_id: EndpointId(0) });
    assert_forwarded(&manager, &release, 0, Call::RxRelease { vm_id: VM1 }, VM1);
    assert_success(&spmc_answers(&manager, 0, Return::success(SuccessArgs::EMPTY)), vm1);
    // Now the SPMC agrees and the call runs: VM1 gets its answer and owns its buffer.
    call(&manager, vm1, partition_info());
    let answered = spmc_answers(&manager, 0, Return::success(SuccessArgs::EMPTY));
    assert_success(&answered, vm1);
    assert_eq!(answered.registers[2], 2 + secure_partitions().len() as u64, "two VMs and the SPs");
    assert!(manager.with_memory(|memory| memory.contents(vm_rx(VM1)).iter().any(|&byte| byte != 0)));
    assert!(!manager.rx_acquired(VM2));
    // Its buffer is the VM's now: a second PARTITION_INFO_GET is BUSY without asking anyone.
    assert_error(&call(&manager, vm1, partition_info()), vm1, FfaError::Busy);
    // Its RX_RELEASE hands the forwarder's acquisition back to the SPMC.
    let release = call(&manager, vm1, Call::RxRelease { vm_id: EndpointId(0) });
    assert_forwarded(&manager, &release, 0, Call::RxRelease { vm_id: VM1 }, VM1);
    assert_success(&spmc_answers(&manager, 0, Return::success(SuccessArgs::EMPTY)), vm1);
    // An acquisition whose call then fails writes nothing: the forwarder keeps the buffer
    // from the SPMC and VM1 owns nothing to release (D14), without asking the SPMC.
    let unknown =
        Call::PartitionInfoGet { uuid: uuid(0x42), flags: PartitionInfoGetFlags::empty() };
    call(&manager, vm1, unknown);
    let refused = spmc_answers(&manager, 0, Return::success(SuccessArgs::EMPTY));
    assert_error(&refused, vm1, FfaError::InvalidParameters);
    let denied = call(&manager, vm1, Call::RxRelease { vm_id: EndpointId(0) });
    assert_error(&denied, vm1, FfaError::Denied);
    // The next write needs no new acquisition.
    assert_success(&call(&manager, vm1, partition_info()), vm1);
    let release = call(&manager, vm1, Call::RxRelease { vm_id: EndpointId(0) });
    assert_forwarded(&manager, &release, 0, Call::RxRelease { vm_id: VM1 }, VM1);
    assert_success(&spmc_answers(&manager, 0, Return::success(SuccessArgs::EMPTY)), vm1);
    // A count-only query writes nothing and asks nobody.
    let count =
        Call::PartitionInfoGet { uuid: Uuid::NIL, flags: PartitionInfoGetFlags::COUNT_ONLY };
    assert_success(&call(&manager, vm1, count), vm1);
    // VM2's buffers are not registered: its calls never go to the SPMC.
    let vm2 = ec(VM2, 0);
    assert_success(&call(&manager, vm2, partition_info()), vm2);
    assert_success(&call(&manager, vm2, Call::RxRelease { vm_id: EndpointId(0) }), vm2);
}

#[test]
fn a_message_to_a_registered_vm_waits_for_its_rx_buffer_from_the_spmc() {
    let manager = memory_forwarder();
    register_vm1(&manager);
    let vm2 = ec(VM2, 0);
    let mut message = vec![0u8; 4096];
    let length =
        MessageHeader::write(VM2, VM1, uuid(3), b"vm2 to vm1", Version::V1_2, &mut message)
            .unwrap();
    manager.with_memory(|memory| memory.fill(vm_tx(VM2), 0, &message[..length]));
    let send2 = Call::MsgSend2 { sender_vm: EndpointId(0), flags: MsgSend2Flags::empty() };
    let asked = call(&manager, vm2, send2);
    assert_forwarded(&manager, &asked, 1, Call::RxAcquire { vm_id: VM1 }, VM2);
    assert_error(&spmc_answers(&manager, 1, Return::error(FfaError::Denied)), vm2, FfaError::Busy);
    call(&manager, vm2, send2);
    let sent = spmc_answers(&manager, 1, Return::success(SuccessArgs::EMPTY));
    assert_success(&sent, vm2);
    let delivered = manager.with_memory(|memory| memory.contents(vm_rx(VM1))[..length].to_vec());
    assert_eq!(delivered, message[..length]);
    // VM1's buffer is full now: the next message is BUSY at once.
    assert_error(&call(&manager, vm2, send2), vm2, FfaError::Busy);
}

#[test]
fn teardown_unmaps_a_registered_mailbox_at_the_spmc() {
    let manager = memory_forwarder();
    register_vm1(&manager);
    let vm1 = ec(VM1, 0);
    call(&manager, vm1, Call::MsgWait { flags: MsgWaitFlags::empty(), is_64: false });
    let unmapping = manager.destroy_vm(VM1, 2).unwrap();
    assert_eq!((unmapping.to, unmapping.transfer), (ec(SPMC_ID, 2), Transfer::OtherWorld));
    assert_eq!(
        Call::decode(&unmapping.registers, Version::V1_2),
        Ok(Call::RxtxUnmap { vm_id: VM1 })
    );
    // Refused once: the report says the buffers are still mapped there and the pass retries.
    let end = spmc_answers(&manager, 2, Return::error(FfaError::Busy));
    assert_eq!(error_of(&end), Some(FfaError::Retry));
    let report = manager.vm_lifecycle_report(VM1).unwrap();
    assert!(report.mapped_at_spmc && !report.is_complete());
    let again = manager.destroy_vm(VM1, 2).unwrap();
    assert_eq!(Call::decode(&again.registers, Version::V1_2), Ok(Call::RxtxUnmap { vm_id: VM1 }));
    let end = spmc_answers(&manager, 2, Return::success(SuccessArgs::EMPTY));
    assert_eq!(end.registers[0], FunctionId::Success32.to_register(), "{end:?}");
    assert!(manager.vm_lifecycle_report(VM1).unwrap().is_complete());
}

#[test]
fn a_vms_own_map_registers_its_buffers_and_its_unmap_unregisters_them() {
    let manager = memory_forwarder();
    let vm2 = ec(VM2, 0);
    // The harness's map was refused by the SPMC: mapped here only.
    assert!(!manager.vm_mailbox_registered(VM2));
    let unmap = Call::RxtxUnmap { vm_id: EndpointId(0) };
    assert_success(&call(&manager, vm2, unmap), vm2);
    // Mapped again, the SPMC agrees: VM 2 waits for it, then gets SUCCESS and the buffers
    // are registered (the descriptor names their physical pages).
    let buffers =
        RxtxMapArgs::Buffers { tx_address: vm_tx(VM2), rx_address: vm_rx(VM2), page_count: 1 };
    let forwarded = call(&manager, vm2, Call::RxtxMap { buffers, is_64: true });
    let map = Call::RxtxMap { buffers: RxtxMapArgs::Forwarded, is_64: true };
    assert_forwarded(&manager, &forwarded, 1, map, VM2);
    let descriptor = EndpointRxTxDescriptor::parse(&forward_buffer(&manager)).unwrap();
    assert_eq!(descriptor.endpoint, VM2);
    assert_eq!(descriptor.rx, ForwardedBuffer { address: vm_rx(VM2), page_count: 1 });
    let done = spmc_answers(&manager, 1, Return::success(SuccessArgs::EMPTY));
    assert_success(&done, vm2);
    assert!(manager.vm_mailbox_registered(VM2));
    assert_eq!(manager.register_vm_mailbox(VM2, 3), Err(FfaError::Denied), "registered already");
    // The VM's unmap goes to the SPMC first, naming the VM. A refusal other than "nothing
    // mapped there" is the VM's answer and changes nothing.
    let forwarded = call(&manager, vm2, unmap);
    assert_forwarded(&manager, &forwarded, 1, Call::RxtxUnmap { vm_id: VM2 }, VM2);
    let refused = spmc_answers(&manager, 1, Return::error(FfaError::Denied));
    assert_error(&refused, vm2, FfaError::Denied);
    assert!(manager.vm_mailbox_registered(VM2));
    let forwarded = call(&manager, vm2, unmap);
    assert_forwarded(&manager, &forwarded, 1, Call::RxtxUnmap { vm_id: VM2 }, VM2);
    assert_success(&spmc_answers(&manager, 1, Return::success(SuccessArgs::EMPTY)), vm2);
    assert!(!manager.vm_mailbox_registered(VM2));
    // Unmapped here too: a second unmap is answered here (nothing mapped, matrix D18).
    assert_error(&call(&manager, vm2, unmap), vm2, FfaError::InvalidParameters);
    // An SPMC that has nothing mapped for the VM any more (INVALID_PARAMETERS) does not keep
    // the VM's buffers mapped here.
    let forwarded = call(&manager, vm2, Call::RxtxMap { buffers, is_64: true });
    assert_eq!(forwarded.transfer, Transfer::OtherWorld);
    assert_success(&spmc_answers(&manager, 1, Return::success(SuccessArgs::EMPTY)), vm2);
    let forwarded = call(&manager, vm2, unmap);
    assert_eq!(forwarded.transfer, Transfer::OtherWorld);
    let answered = spmc_answers(&manager, 1, Return::error(FfaError::InvalidParameters));
    assert_success(&answered, vm2);
    assert_error(&call(&manager, vm2, unmap), vm2, FfaError::InvalidParameters);
}

#[test]
fn a_forwarder_without_a_forward_buffer_maps_a_vms_buffers_here_only() {
    // The notification forwarder has no memory sharing: nothing to describe to the SPMC.
    let manager = forwarder_without_memory_sharing();
    let vm1 = ec(VM1, 0);
    map_mailbox(&manager, vm1, vm_tx(VM1), vm_rx(VM1));
    assert!(!manager.vm_mailbox_registered(VM1));
    let unmap = call(&manager, vm1, Call::RxtxUnmap { vm_id: EndpointId(0) });
    assert_success(&unmap, vm1);
}
