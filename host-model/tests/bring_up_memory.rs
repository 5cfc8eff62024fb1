//! The guest driver brought up against the model unchanged, and RX/TX buffers through the
//! simulated memory: stage-2 translation, refusals of memory a VM cannot offer (matrix D17-D20).
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod common;

use common::*;
use ffa_core::rxtx::RxtxMapArgs;
use ffa_core::{Call, EndpointId, FfaError, FunctionId, Uuid, Version};
use ffa_guest_driver::partition::RequestHandler;
use ffa_guest_driver::{Buffers, Driver, PartitionInfo, PartitionProperties};
use host_model::builder::{VM_RAM_ADDRESS, VM_RAM_PHYSICAL};
use host_model::endpoints::{test_uuid, virtual_machine};
use host_model::memory::{lock, Access, MemoryError};
use host_model::{IntermediateAddress, ModelBuffers, ModelConduit, PhysicalAddress};
use spmc::partition_manager::Role;

#[test]
fn bring_up_negotiates_version_id_and_features_with_the_forwarder() {
    let report = three_partitions()
        .run(|conduit, _| {
            let driver = driver(conduit);
            (driver.version(), driver.id(), *driver.features())
        })
        .expect("run");
    let (version, id, features) = report.value;
    assert_eq!(version, Version::V1_2);
    assert_eq!(id, VM1);
    assert!(features.rxtx_map_64);
    assert_eq!(features.buffers.minimum_size, 4096);
    assert_eq!(features.buffers.maximum_pages, None);
    assert_eq!(features.offers(FunctionId::PartitionInfoGetRegs), Some(true));
    assert_eq!(features.offers(FunctionId::MsgSendDirectReq2), Some(true));
    // Memory sharing is on in both managers; notifications are not in the forwarder.
    assert_eq!(features.offers(FunctionId::MemShare32), Some(true));
    assert_eq!(features.offers(FunctionId::NotificationBind), Some(false));
    assert_eq!(features.schedule_receiver_interrupt, None);
    // Bring-up never leaves the forwarder: the only calls the SPMC saw are the hypervisor's
    // boot (the SPMD's version framework message, the hypervisor's own RX/TX buffers and one
    // PARTITION_INFO_GET_REGS).
    let crossed: Vec<u64> = report.secure_world_calls().map(|registers| registers[0]).collect();
    assert_eq!(
        crossed,
        [
            FunctionId::MsgSendDirectReq32.to_register(),
            FunctionId::RxtxMap64.to_register(),
            FunctionId::PartitionInfoGetRegs.to_register()
        ]
    );
}

#[test]
fn rx_buffer_bytes_are_the_physical_pages_the_stage_2_maps() {
    let report = three_partitions()
        .run(|conduit, memory| {
            let mut driver = driver_with_buffers(conduit, &memory);
            let mut found = [PartitionInfo::EMPTY; 8];
            let count = driver.partition_info(Uuid::NIL, &mut found).expect("PARTITION_INFO_GET");
            let rx = driver.unmap_buffers().expect("unmap").rx_address();
            (count, found, rx)
        })
        .expect("run");
    let (count, found, rx) = report.value;
    assert_eq!(count, 4);
    let ids: Vec<u16> = found[..count].iter().map(|info| info.id.0).collect();
    assert_eq!(ids, [1, 0x8001, 0x8002, 0x8003]);
    // The forwarder wrote the descriptors into the physical page behind VM 1's RX IPA.
    let memory = lock(&report.memory);
    let physical = memory.translate(VM1, IntermediateAddress(rx), Access::READ).expect("mapped");
    assert_ne!(physical.0, rx, "a VM's addresses are not physical addresses");
    assert_eq!(physical.0, VM_RAM_PHYSICAL.0 + (rx - VM_RAM_ADDRESS.0));
    let mut bytes = [0u8; 48];
    memory.physical().read(physical, &mut bytes).expect("RAM");
    assert_eq!(u16::from_le_bytes([bytes[0], bytes[1]]), 1);
    assert_eq!(u16::from_le_bytes([bytes[24], bytes[25]]), 0x8001);
    assert_eq!(&bytes[32..48], &test_uuid(1).0, "the partition's UUID in its descriptor");
    // Unmapped again: no endpoint's buffer is left in either manager (only the hypervisor's
    // own, at the SPMC).
    let left: Vec<_> = memory.mailboxes().map(|mailbox| mailbox.owner).collect();
    assert_eq!(left, [EndpointId::HYPERVISOR; 2], "its TX and RX buffers");
}

/// A VM that maps its buffers at the start of its RAM, then waits for messages.
fn vm_with_buffers_at_ram_start(conduit: ModelConduit, memory: host_model::GuestMemory) {
    struct Idle;
    impl RequestHandler for Idle {}
    let mut driver = Driver::<_, ModelBuffers>::new(conduit).expect("bring-up");
    let buffers =
        memory.buffers_at(VM_RAM_ADDRESS, IntermediateAddress(VM_RAM_ADDRESS.0 + 0x1000), 4096);
    driver.map_buffers(buffers).map_err(|failed| failed.error).expect("RXTX_MAP");
    let _ = driver.serve(&mut Idle);
}

fn map(driver: &mut ModelDriver, tx: u64, rx: u64) -> Result<(), FfaError> {
    let buffers = RxtxMapArgs::Buffers { tx_address: tx, rx_address: rx, page_count: 1 };
    driver
        .call(Call::RxtxMap { buffers, is_64: true })
        .map(drop)
        .map_err(|error| error.ffa_error().expect("FFA_ERROR"))
}

#[test]
fn a_vm_cannot_map_memory_it_does_not_own_or_pages_another_vm_uses() {
    const SHARED: u64 = 0x5000_0000;
    let vm2_physical = VM_RAM_PHYSICAL.0 + 4096 * 4096;
    let report = three_partitions()
        .vm(virtual_machine(2), vm_with_buffers_at_ram_start)
        // The platform maps VM 2's first two pages (its RX/TX buffers) into VM 1 as well.
        .share_memory(VM1, IntermediateAddress(SHARED), VM2, VM_RAM_ADDRESS, 2)
        .run(move |conduit, _| {
            let mut driver = driver(conduit);
            let ram = VM_RAM_ADDRESS.0;
            vec![
                // D19: the pages are VM 2's buffers (reached through VM 1's own stage 2).
                map(&mut driver, SHARED, SHARED + 0x1000),
                // D20: VM 2's physical addresses mean nothing in VM 1's address space.
                map(&mut driver, vm2_physical, vm2_physical + 0x1000),
                map(&mut driver, 0x10_0000_0000, 0x10_0000_1000),
                // The same IPAs VM 2 used are VM 1's own RAM: accepted.
                map(&mut driver, ram, ram + 0x1000),
                // D17: a pair is mapped already.
                map(&mut driver, ram + 0x2000, ram + 0x3000),
                driver
                    .call(Call::RxtxUnmap { vm_id: EndpointId(0) })
                    .map(drop)
                    .map_err(|error| error.ffa_error().expect("FFA_ERROR")),
                // D18: nothing mapped any more.
                driver
                    .call(Call::RxtxUnmap { vm_id: EndpointId(0) })
                    .map(drop)
                    .map_err(|error| error.ffa_error().expect("FFA_ERROR")),
            ]
        })
        .expect("run");
    assert_eq!(
        report.value,
        [
            Err(FfaError::InvalidParameters),
            Err(FfaError::Denied),
            Err(FfaError::Denied),
            Ok(()),
            Err(FfaError::Denied),
            Ok(()),
            Err(FfaError::InvalidParameters),
        ]
    );
    // VM 2's buffers are still mapped, at its own physical pages, by the forwarder and (the
    // forwarder registered them when VM 2 mapped them) by the SPMC; VM 1's pair is gone from
    // both (its FFA_RXTX_UNMAP went to the SPMC first).
    let memory = lock(&report.memory);
    for manager in [Role::Forwarder, Role::Spmc] {
        let mailboxes: Vec<_> = memory
            .mailboxes()
            .filter(|mailbox| mailbox.owner != EndpointId::HYPERVISOR && mailbox.manager == manager)
            .collect();
        assert_eq!(mailboxes.len(), 2, "{manager:?}");
        assert!(mailboxes.iter().all(|mailbox| mailbox.owner == VM2), "{manager:?}");
        assert_eq!(mailboxes[0].pages, [PhysicalAddress(vm2_physical)], "{manager:?}");
    }
}

#[test]
fn a_partition_maps_its_buffers_with_the_spmc_in_secure_memory() {
    fn partition_with_buffers(conduit: ModelConduit, memory: host_model::GuestMemory) {
        struct Idle;
        impl RequestHandler for Idle {}
        let mut driver = Driver::<_, ModelBuffers>::new(conduit).expect("bring-up");
        let buffers = memory.allocate_buffers(4096).expect("RAM");
        driver.map_buffers(buffers).map_err(|failed| failed.error).expect("RXTX_MAP");
        let _ = driver.serve(&mut Idle);
    }
    let report = host_model::ModelBuilder::new()
        .partition(
            host_model::endpoints::secure_partition(SP1.0, test_uuid(1)),
            partition_with_buffers,
        )
        .run(|_, _| ())
        .expect("run");
    let memory = lock(&report.memory);
    let mailboxes: Vec<_> =
        memory.mailboxes().filter(|mailbox| mailbox.owner != EndpointId::HYPERVISOR).collect();
    assert_eq!(mailboxes.len(), 2);
    for mailbox in mailboxes {
        assert_eq!((mailbox.manager, mailbox.owner), (Role::Spmc, SP1));
        let region = memory.physical().region_of(mailbox.pages[0]).expect("RAM");
        assert_eq!(region.security, host_model::memory::SecurityState::Secure);
    }
}

#[test]
fn endpoint_memory_faults_are_errors_of_the_access() {
    let report = three_partitions()
        .run(|_, memory| {
            let (base, size) = memory.ram().expect("RAM");
            let mut word = [0u8; 4];
            let outside = memory.read(IntermediateAddress(base.0 + size), &mut word);
            memory.write(base, &[1, 2, 3, 4]).expect("own RAM");
            memory.read(base, &mut word).expect("own RAM");
            (outside, word)
        })
        .expect("run");
    assert_eq!(
        report.value,
        (
            Err(MemoryError::NotMapped {
                endpoint: VM1,
                address: IntermediateAddress(VM_RAM_ADDRESS.0 + 4096 * 4096)
            }),
            [1, 2, 3, 4]
        )
    );
}

#[test]
fn properties_of_discovered_partitions_come_from_the_spmc() {
    let report = three_partitions()
        .run(|conduit, _| {
            let mut driver = driver(conduit);
            let mut found = [PartitionInfo::EMPTY; 8];
            let count = driver.partition_info_regs(Uuid::NIL, &mut found).expect("GET_REGS");
            let one = driver.find_partition(test_uuid(2)).expect("by UUID");
            let missing = driver.find_partition(test_uuid(9)).map(|info| info.id);
            (found[..count].to_vec(), one, missing.map_err(|error| error.kind))
        })
        .expect("run");
    let (found, one, missing) = report.value;
    let all = PartitionProperties::DIRECT_REQUEST_RECEIVE
        | PartitionProperties::DIRECT_REQUEST_SEND
        | PartitionProperties::AARCH64
        | PartitionProperties::DIRECT_REQUEST2_RECEIVE
        | PartitionProperties::DIRECT_REQUEST2_SEND;
    assert_eq!(found.len(), 4);
    assert_eq!((found[0].id, found[0].properties), (VM1, all));
    for (info, index) in found[1..].iter().zip(1u8..) {
        assert_eq!(info.id, EndpointId(0x8000 | u16::from(index)));
        assert_eq!(
            (info.execution_contexts, info.properties, info.uuid),
            (1, all, test_uuid(index))
        );
    }
    assert_eq!(one.id, SP2);
    assert_eq!(missing, Err(ffa_guest_driver::ErrorKind::PartitionNotFound));
}
