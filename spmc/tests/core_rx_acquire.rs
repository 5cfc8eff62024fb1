//! The hypervisor's side of VM mailboxes at the SPMC: the forwarded FFA_RXTX_MAP with the
//! endpoint RX/TX descriptor, and FFA_RX_ACQUIRE / FFA_RX_RELEASE ownership of a VM's RX
//! buffer between the hypervisor and the SPMC.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

#[path = "core_harness.rs"]
mod harness;

use ffa_core::indirect_message::{MessageHeader, MsgSend2Flags};
use ffa_core::rxtx::{EndpointRxTxDescriptor, ForwardedBuffer, RxtxMapArgs};
use ffa_core::{Call, EndpointId, FfaError, Version};
use harness::*;

const HYPERVISOR_TX: u64 = 0x200_0000;
const HYPERVISOR_RX: u64 = 0x200_1000;
const VM1_TX: u64 = 0x300_0000;
const VM1_RX: u64 = 0x300_2000;
const SP1_TX: u64 = 0x400_0000;
const SP1_RX: u64 = 0x400_1000;

fn forwarded_map() -> Call {
    Call::RxtxMap { buffers: RxtxMapArgs::Forwarded, is_64: true }
}

/// The hypervisor describes `vm`'s buffers in its TX buffer.
fn describe(manager: &Manager, vm: EndpointId, rx: ForwardedBuffer, tx: ForwardedBuffer) {
    let mut bytes = [0u8; EndpointRxTxDescriptor::WRITTEN_SIZE];
    EndpointRxTxDescriptor { endpoint: vm, rx, tx }.write(&mut bytes).unwrap();
    manager.with_memory(|memory| memory.fill(HYPERVISOR_TX, 0, &bytes));
}

fn buffer(address: u64, page_count: u32) -> ForwardedBuffer {
    ForwardedBuffer { address, page_count }
}

fn mapped_for(manager: &Manager, endpoint: EndpointId) -> Vec<u64> {
    manager.with_memory(|memory| {
        memory
            .buffers
            .iter()
            .filter(|mapped| mapped.mapped && mapped.endpoint == endpoint)
            .map(|mapped| mapped.address)
            .collect()
    })
}

fn acquire(vm: EndpointId) -> Call {
    Call::RxAcquire { vm_id: vm }
}

fn release(vm: EndpointId) -> Call {
    Call::RxRelease { vm_id: vm }
}

#[test]
fn the_hypervisor_maps_a_vms_buffers_with_the_endpoint_rx_tx_descriptor() {
    let manager = booted_notification_spmc();
    // Without its own TX buffer here the hypervisor cannot describe anything.
    assert_error(&call(&manager, nwd(0), forwarded_map()), nwd(0), FfaError::Denied);
    map_mailbox(&manager, nwd(0), HYPERVISOR_TX, HYPERVISOR_RX);
    let refusals = [
        // Not a known VM: an unknown ID, the hypervisor itself, a partition.
        (EndpointId(9), buffer(VM1_RX, 1), buffer(VM1_TX, 1)),
        (NWD, buffer(VM1_RX, 1), buffer(VM1_TX, 1)),
        (SP1, buffer(VM1_RX, 1), buffer(VM1_TX, 1)),
        // RX and TX of different sizes, the same buffer twice, overlapping buffers.
        (VM1, buffer(VM1_RX, 2), buffer(VM1_TX, 1)),
        (VM1, buffer(VM1_TX, 1), buffer(VM1_TX, 1)),
        (VM1, buffer(VM1_TX + 0x1000, 2), buffer(VM1_TX, 2)),
    ];
    for (vm, rx, tx) in refusals {
        describe(&manager, vm, rx, tx);
        let refused = call(&manager, nwd(0), forwarded_map());
        assert_error(&refused, nwd(0), FfaError::InvalidParameters);
    }
    // Reserved bytes set in the descriptor.
    describe(&manager, VM1, buffer(VM1_RX, 1), buffer(VM1_TX, 1));
    manager.with_memory(|memory| memory.fill(HYPERVISOR_TX, 2, &[1]));
    assert_error(&call(&manager, nwd(0), forwarded_map()), nwd(0), FfaError::InvalidParameters);
    assert!(mapped_for(&manager, VM1).is_empty(), "no refusal mapped anything");
    // The real thing: both buffers are mapped for VM1; a second time is DENIED.
    describe(&manager, VM1, buffer(VM1_RX, 1), buffer(VM1_TX, 1));
    assert_success(&call(&manager, nwd(0), forwarded_map()), nwd(0));
    let mut mapped = mapped_for(&manager, VM1);
    mapped.sort_unstable();
    assert_eq!(mapped, vec![VM1_TX, VM1_RX]);
    assert_error(&call(&manager, nwd(0), forwarded_map()), nwd(0), FfaError::Denied);
    // The hypervisor unmaps them for VM1 (w1[31:16]).
    assert_success(&call(&manager, nwd(0), Call::RxtxUnmap { vm_id: VM1 }), nwd(0));
    assert!(mapped_for(&manager, VM1).is_empty());
    // Secure memory is not a VM's to offer (the platform says DENIED).
    describe(&manager, VM1, buffer(SECURE_MEMORY, 1), buffer(VM1_TX, 1));
    assert_error(&call(&manager, nwd(0), forwarded_map()), nwd(0), FfaError::Denied);
}

#[test]
fn rx_acquire_keeps_the_spmc_out_of_a_vms_rx_buffer_until_rx_release() {
    let manager = booted_notification_spmc();
    map_mailbox(&manager, nwd(0), HYPERVISOR_TX, HYPERVISOR_RX);
    // No buffers for VM1 yet.
    assert_error(&call(&manager, nwd(0), acquire(VM1)), nwd(0), FfaError::Denied);
    describe(&manager, VM1, buffer(VM1_RX, 1), buffer(VM1_TX, 1));
    assert_success(&call(&manager, nwd(0), forwarded_map()), nwd(0));
    // VM ID 0 and unknown VMs are INVALID_PARAMETERS.
    assert_error(&call(&manager, nwd(0), acquire(NWD)), nwd(0), FfaError::InvalidParameters);
    let unknown = acquire(EndpointId(9));
    assert_error(&call(&manager, nwd(0), unknown), nwd(0), FfaError::InvalidParameters);
    // The hypervisor takes VM1's buffer; taking it twice is DENIED.
    assert_success(&call(&manager, nwd(0), acquire(VM1)), nwd(0));
    assert!(manager.rx_acquired(VM1));
    assert_error(&call(&manager, nwd(0), acquire(VM1)), nwd(0), FfaError::Denied);
    // Meanwhile SP1's message to VM1 finds the buffer busy.
    let sp1 = ec(SP1, 0);
    run(&manager, sp1, 1);
    map_mailbox(&manager, sp1, SP1_TX, SP1_RX);
    let mut message = vec![0u8; 4096];
    let length =
        MessageHeader::write(SP1, VM1, uuid(9), b"to vm1", Version::V1_2, &mut message).unwrap();
    manager.with_memory(|memory| memory.fill(SP1_TX, 0, &message[..length]));
    let send2 = Call::MsgSend2 { sender_vm: EndpointId(0), flags: MsgSend2Flags::empty() };
    assert_error(&call(&manager, sp1, send2), sp1, FfaError::Busy);
    // The hypervisor gives it back (FFA_RX_RELEASE for VM1): the message goes through, and
    // then the VM owns the buffer, which the hypervisor cannot acquire.
    assert_success(&call(&manager, nwd(0), release(VM1)), nwd(0));
    assert!(!manager.rx_acquired(VM1));
    assert_success(&call(&manager, sp1, send2), sp1);
    let delivered = manager.with_memory(|memory| memory.contents(VM1_RX)[..length].to_vec());
    assert_eq!(delivered, message[..length]);
    wait(&manager, sp1);
    assert_error(&call(&manager, nwd(0), acquire(VM1)), nwd(0), FfaError::Denied);
    assert_success(&call(&manager, nwd(0), release(VM1)), nwd(0));
    assert_success(&call(&manager, nwd(0), acquire(VM1)), nwd(0));
    // Partitions never use it.
    run(&manager, sp1, 1);
    assert_error(&call(&manager, sp1, acquire(VM1)), sp1, FfaError::NotSupported);
}
