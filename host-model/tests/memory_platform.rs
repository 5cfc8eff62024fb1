//! The memory-sharing platform on its own: translation through a VM's stage 2, unmapping and
//! restoring pages at the addresses they had, borrowers at IPA = PA, zeroing, the forward
//! buffer, and leaving the other world's endpoints alone.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use std::sync::{Arc, Mutex};

use ffa_core::memory::{AccessPermissions, AddressRange, DataAccess, InstructionAccess};
use ffa_core::{EndpointId, FfaError};
use host_model::memory::{lock, Access, ModelPlatform, SecurityState, SharedMemory, SystemMemory};
use host_model::{IntermediateAddress, PhysicalAddress};
use memory_sharing::AddressSpace;
use spmc::partition_manager::{MemoryPlatform, PhysicalRun, Role};

const VM: EndpointId = EndpointId(1);
const OTHER_VM: EndpointId = EndpointId(2);
const PARTITION: EndpointId = EndpointId(0x8001);
const VM_RAM: u64 = 0x4000_0000;
const VM_PHYSICAL: u64 = 0x8000_0000;
const OTHER_PHYSICAL: u64 = 0x8100_0000;
const PAGE: u64 = 4096;

/// VM 1 (16 pages), VM 2 (16 pages) and a partition; VM 1's page 3 is also mapped at a
/// second, non-contiguous place in its own stage 2 (IPA page 8 -> physical page 12).
fn system() -> SharedMemory {
    let mut memory = SystemMemory::default();
    memory
        .add_endpoint_ram(
            VM,
            IntermediateAddress(VM_RAM),
            PhysicalAddress(VM_PHYSICAL),
            8,
            SecurityState::NonSecure,
        )
        .unwrap();
    memory
        .add_endpoint_ram(
            OTHER_VM,
            IntermediateAddress(VM_RAM),
            PhysicalAddress(OTHER_PHYSICAL),
            16,
            SecurityState::NonSecure,
        )
        .unwrap();
    memory
        .add_endpoint_ram(
            PARTITION,
            IntermediateAddress(0x0600_0000),
            PhysicalAddress(0x1_0000_0000),
            16,
            SecurityState::Secure,
        )
        .unwrap();
    // VM 1's IPA pages 8.. map to physical pages 12.. (a gap of four pages).
    memory
        .physical_mut()
        .add_region(host_model::memory::PhysicalRegion {
            name: "more VM 1 RAM".into(),
            base: PhysicalAddress(VM_PHYSICAL + 12 * PAGE),
            page_count: 4,
            security: SecurityState::NonSecure,
        })
        .unwrap();
    memory
        .map(
            VM,
            IntermediateAddress(VM_RAM + 8 * PAGE),
            PhysicalAddress(VM_PHYSICAL + 12 * PAGE),
            4,
            Access::all(),
        )
        .unwrap();
    Arc::new(Mutex::new(memory))
}

fn range(address: u64, page_count: u32) -> AddressRange {
    AddressRange { address, page_count }
}

#[test]
fn translation_follows_the_stage_2_and_refuses_what_it_does_not_map() {
    let memory = system();
    let mut forwarder = ModelPlatform::new(memory.clone(), Role::Forwarder, None);
    // IPA pages 0-7 are one physical run; page 8 starts another.
    assert_eq!(
        forwarder.translate(VM, VM_RAM + 2 * PAGE),
        Ok(PhysicalRun { address: VM_PHYSICAL + 2 * PAGE, page_count: 6 })
    );
    assert_eq!(
        forwarder.translate(VM, VM_RAM + 8 * PAGE),
        Ok(PhysicalRun { address: VM_PHYSICAL + 12 * PAGE, page_count: 4 })
    );
    // Outside the stage 2, another VM's physical address, unaligned, a partition: DENIED.
    for (endpoint, address) in
        [(VM, VM_RAM + 12 * PAGE), (VM, OTHER_PHYSICAL), (VM, VM_RAM + 1), (PARTITION, 0x0600_0000)]
    {
        assert_eq!(forwarder.translate(endpoint, address), Err(FfaError::Denied), "{address:#x}");
    }
    // The SPMC's platform translates its partitions.
    let mut spmc = ModelPlatform::new(memory, Role::Spmc, None);
    assert_eq!(spmc.translate(PARTITION, 0x0600_0000).map(|run| run.address), Ok(0x1_0000_0000));
}

#[test]
fn unmapped_pages_come_back_where_they_were_and_borrowers_get_ipa_equal_pa() {
    let memory = system();
    let mut forwarder = ModelPlatform::new(memory.clone(), Role::Forwarder, None);
    let physical = VM_PHYSICAL + 12 * PAGE;
    forwarder.unmap(VM, range(physical, 2)).unwrap();
    assert_eq!(forwarder.parked_pages(), 2);
    let ipa = IntermediateAddress(VM_RAM + 8 * PAGE);
    assert!(lock(&memory).translate(VM, ipa, Access::READ).is_err(), "the owner lost it");
    // Unmapping what is not mapped changes nothing.
    assert_eq!(forwarder.unmap(VM, range(physical, 1)), Err(FfaError::Denied));
    // The owner's usual mapping comes back at the same IPA, read-write-execute as before.
    let usual = AccessPermissions {
        data: DataAccess::NotSpecified,
        instruction: InstructionAccess::NotSpecified,
    };
    forwarder.map(VM, range(physical, 2), usual).unwrap();
    assert_eq!(lock(&memory).translate(VM, ipa, Access::all()).unwrap().0, physical);
    assert_eq!(forwarder.parked_pages(), 0);
    // A borrower (VM 2) that never had the page gets it at IPA = PA, read-only and not
    // executable as granted.
    let read_only = AccessPermissions {
        data: DataAccess::ReadOnly,
        instruction: InstructionAccess::NotExecutable,
    };
    forwarder.map(OTHER_VM, range(physical, 1), read_only).unwrap();
    let system = lock(&memory);
    assert_eq!(
        system.translate(OTHER_VM, IntermediateAddress(physical), Access::READ).unwrap().0,
        physical
    );
    assert!(system.translate(OTHER_VM, IntermediateAddress(physical), Access::WRITE).is_err());
    assert!(system.translate(OTHER_VM, IntermediateAddress(physical), Access::EXECUTE).is_err());
}

#[test]
fn each_platform_leaves_the_other_worlds_endpoints_alone() {
    let memory = system();
    let mut spmc = ModelPlatform::new(memory.clone(), Role::Spmc, None);
    // The SPMC's platform does not touch a VM's stage 2 (the forwarder does).
    spmc.unmap(VM, range(VM_PHYSICAL, 1)).unwrap();
    spmc.map(VM, range(OTHER_PHYSICAL, 1), AccessPermissions::READ_WRITE).unwrap();
    let system = lock(&memory);
    assert!(system.translate(VM, IntermediateAddress(VM_RAM), Access::READ).is_ok());
    assert!(system.translate(VM, IntermediateAddress(OTHER_PHYSICAL), Access::READ).is_err());
}

#[test]
fn zeroing_and_the_forward_buffer_write_physical_memory() {
    let memory = system();
    lock(&memory).write_as(VM, IntermediateAddress(VM_RAM), &[0xAB; 16]).unwrap();
    let buffer = PhysicalAddress(OTHER_PHYSICAL + 15 * PAGE);
    let mut forwarder = ModelPlatform::new(memory.clone(), Role::Forwarder, Some((buffer, 4096)));
    forwarder.zero(range(VM_PHYSICAL, 1));
    let mut bytes = [0xFFu8; 16];
    lock(&memory).read_as(VM, IntermediateAddress(VM_RAM), &mut bytes).unwrap();
    assert_eq!(bytes, [0; 16]);
    assert_eq!(forwarder.forward_buffer_size(), 4096);
    forwarder.write_forward_buffer(4090, &[1, 2, 3, 4, 5, 6]).unwrap();
    assert_eq!(forwarder.write_forward_buffer(4091, &[0; 6]), Err(FfaError::InvalidParameters));
    let mut written = [0u8; 6];
    lock(&memory).physical().read(PhysicalAddress(buffer.0 + 4090), &mut written).unwrap();
    assert_eq!(written, [1, 2, 3, 4, 5, 6]);
    // Without a forward buffer there is nothing to forward through.
    let mut spmc = ModelPlatform::new(memory, Role::Spmc, None);
    assert_eq!(spmc.forward_buffer_size(), 0);
    assert_eq!(spmc.write_forward_buffer(0, &[1]), Err(FfaError::NotSupported));
}
