//! VM availability in the SPMC role: what the hypervisor may relay to partitions (only VM
//! created/destroyed, only from ID 0, only to subscribers, answered by the matching response)
//! and the subscriptions reported in partition-properties bits 6 and 7.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

#[path = "core_harness.rs"]
mod harness;

use ffa_core::call::Return;
use ffa_core::direct_message::{DirectBody, DirectMessage};
use ffa_core::framework_message::FrameworkMessage;
use ffa_core::memory::MemoryHandle;
use ffa_core::{Call, EndpointId, FfaError, Version};
use harness::*;
use spmc::manifest::VmAvailabilityMessages;
use spmc::partition_manager::{ContextState, Delivery, Transfer};

const BOTH: VmAvailabilityMessages =
    VmAvailabilityMessages::VM_CREATED.union(VmAvailabilityMessages::VM_DESTROYED);

fn framework_request(
    source: EndpointId,
    destination: EndpointId,
    message: FrameworkMessage,
) -> Call {
    Call::MsgSendDirectReq(DirectMessage {
        source,
        destination,
        body: DirectBody::Framework32(message),
    })
}

#[test]
fn the_spmc_delivers_vm_availability_messages_only_from_the_hypervisor_to_subscribers() {
    let manager = booted_spmc();
    manager.set_vm_availability(SP1, VmAvailabilityMessages::VM_CREATED).unwrap();
    assert_eq!(
        manager.set_vm_availability(EndpointId(0x8042), BOTH),
        Err(FfaError::InvalidParameters)
    );
    let created = FrameworkMessage::VmCreated { handle: MemoryHandle::INVALID.0, vm_id: VM1 };
    let destroyed = FrameworkMessage::VmDestroyed { handle: MemoryHandle::INVALID.0, vm_id: VM1 };
    // Not subscribed to this message, or not at all: DENIED.
    let refused = call(&manager, nwd(0), framework_request(NWD, SP1, destroyed));
    assert_error(&refused, nwd(0), FfaError::Denied);
    let refused = call(&manager, nwd(0), framework_request(NWD, SP2, created));
    assert_error(&refused, nwd(0), FfaError::Denied);
    // Only the hypervisor (ID 0) sends them, and only VM availability messages go to
    // partitions.
    let refused = call(&manager, nwd(0), framework_request(VM1, SP1, created));
    assert_error(&refused, nwd(0), FfaError::InvalidParameters);
    let version = FrameworkMessage::VersionRequest { requested: 0x1_0002 };
    let refused = call(&manager, nwd(0), framework_request(NWD, SP1, version));
    assert_error(&refused, nwd(0), FfaError::InvalidParameters);
    assert_eq!(manager.context_state(ec(SP1, 0)), Some(ContextState::Waiting));
    // Delivered to a subscriber, which must answer with the matching response.
    let delivered = call(&manager, nwd(0), framework_request(NWD, SP1, created));
    assert_eq!((delivered.to, delivered.transfer), (ec(SP1, 0), Transfer::Enter));
    assert_eq!(
        Call::decode(&delivered.registers, Version::V1_2),
        Ok(framework_request(NWD, SP1, created))
    );
    let sp1 = ec(SP1, 0);
    let wrong = Call::MsgSendDirectResp(DirectMessage {
        source: SP1,
        destination: NWD,
        body: DirectBody::Framework32(FrameworkMessage::VmDestroyedResponse(Ok(()))),
    });
    assert_error(&call(&manager, sp1, wrong), sp1, FfaError::InvalidParameters);
    assert_error(
        &call(&manager, sp1, response32(SP1, NWD, [0; 5])),
        sp1,
        FfaError::InvalidParameters,
    );
    let right = Call::MsgSendDirectResp(DirectMessage {
        source: SP1,
        destination: NWD,
        body: DirectBody::Framework32(FrameworkMessage::VmCreatedResponse(Ok(()))),
    });
    let answered = call(&manager, sp1, right);
    assert_eq!((answered.to, answered.transfer), (nwd(0), Transfer::OtherWorld));
    assert_eq!(returned(&answered, Version::V1_2), Return::from_call(right).unwrap());
    assert_eq!(manager.context_state(sp1), Some(ContextState::Waiting));
}

#[test]
fn the_normal_world_sees_subscriptions_in_partition_properties_bits_6_and_7() {
    let manager = booted_spmc();
    manager.set_vm_availability(SP1, VmAvailabilityMessages::VM_CREATED).unwrap();
    manager.set_vm_availability(SP2, BOTH).unwrap();
    // SP5 only takes indirect messages: bits 6 and 7 mean nothing without bit 0.
    manager.set_vm_availability(SP5, BOTH).unwrap();
    let by_registers =
        Call::PartitionInfoGetRegs { uuid: ffa_core::Uuid::NIL, start_index: 0, tag: 0 };
    let properties = |delivery: &Delivery| -> Vec<u32> {
        (0..5).map(|index| (delivery.registers[3 + 3 * index] >> 32) as u32).collect()
    };
    let seen = properties(&call(&manager, nwd(0), by_registers));
    let bits = |word: u32| word & (0b11 << 6);
    assert_eq!(
        seen.iter().map(|&word| bits(word)).collect::<Vec<_>>(),
        vec![1 << 6, 0b11 << 6, 0, 0, 0]
    );
    // The descriptor form says the same.
    map_mailbox(&manager, nwd(0), 0x200_0000, 0x200_1000);
    let info = Call::PartitionInfoGet {
        uuid: ffa_core::Uuid::NIL,
        flags: ffa_core::partition_info::PartitionInfoGetFlags::empty(),
    };
    assert_success(&call(&manager, nwd(0), info), nwd(0));
    let descriptors = manager.with_memory(|memory| memory.contents(0x200_1000)[..6 * 24].to_vec());
    let word = |index: usize| {
        u32::from_le_bytes(descriptors[24 * index + 4..24 * index + 8].try_into().unwrap())
    };
    assert_eq!((bits(word(0)), bits(word(1)), bits(word(4))), (1 << 6, 0b11 << 6, 0));
    // Partitions do not see them.
    let sp1 = ec(SP1, 0);
    run(&manager, sp1, 1);
    let seen = properties(&call(&manager, sp1, by_registers));
    assert!(seen.iter().all(|&word| bits(word) == 0), "{seen:x?}");
}

/// SP1 answers the VM availability message it was delivered on CPU 0.
fn acknowledge(manager: &Manager, response: FrameworkMessage) {
    let answer = Call::MsgSendDirectResp(DirectMessage {
        source: SP1,
        destination: NWD,
        body: DirectBody::Framework32(response),
    });
    let answered = call(manager, ec(SP1, 0), answer);
    assert_eq!((answered.to, answered.transfer), (nwd(0), Transfer::OtherWorld));
}

#[test]
fn a_vm_the_hypervisor_destroyed_is_unknown_to_the_spmc_until_it_is_created_again() {
    let manager = booted_spmc();
    manager.set_vm_availability(SP1, BOTH).unwrap();
    let destroyed = FrameworkMessage::VmDestroyed { handle: MemoryHandle::INVALID.0, vm_id: VM1 };
    let created = FrameworkMessage::VmCreated { handle: MemoryHandle::INVALID.0, vm_id: VM1 };
    let from_vm1 = request32(VM1, SP2, [5; 5]);
    assert!(!manager.is_remote_destroyed(VM1));
    // Relaying VM_DESTROYED tells the SPMC; from then on VM 1 is no endpoint.
    let delivered = call(&manager, nwd(0), framework_request(NWD, SP1, destroyed));
    assert_eq!(delivered.to, ec(SP1, 0));
    assert!(manager.is_remote_destroyed(VM1));
    acknowledge(&manager, FrameworkMessage::VmDestroyedResponse(Ok(())));
    assert_error(&call(&manager, nwd(0), from_vm1), nwd(0), FfaError::InvalidParameters);
    assert_eq!(manager.context_state(ec(SP2, 0)), Some(ContextState::Waiting));
    assert!(!manager.is_remote_destroyed(NWD), "only the VM named");
    // VM_CREATED makes it one again.
    let delivered = call(&manager, nwd(0), framework_request(NWD, SP1, created));
    assert_eq!(delivered.to, ec(SP1, 0));
    assert!(!manager.is_remote_destroyed(VM1));
    acknowledge(&manager, FrameworkMessage::VmCreatedResponse(Ok(())));
    let delivered = call(&manager, nwd(0), from_vm1);
    assert_eq!((delivered.to, delivered.transfer), (ec(SP2, 0), Transfer::Enter));
    let answered = call(&manager, ec(SP2, 0), response32(SP2, VM1, [6; 5]));
    assert_eq!((answered.to.endpoint, answered.transfer), (VM1, Transfer::OtherWorld));
    // The platform adding the VM again (add_remote) also clears the mark.
    call(&manager, nwd(0), framework_request(NWD, SP1, destroyed));
    acknowledge(&manager, FrameworkMessage::VmDestroyedResponse(Ok(())));
    assert!(manager.is_remote_destroyed(VM1));
    manager.add_remote(normal_world().remove(1)).unwrap();
    assert!(!manager.is_remote_destroyed(VM1));
}
