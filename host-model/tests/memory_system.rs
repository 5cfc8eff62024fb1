//! The simulated memory on its own: sparse physical pages, stage-2 tables, the allocator, and
//! the managers' `EndpointMemory` over buffers whose pages are scattered in physical memory.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use std::sync::{Arc, Mutex};

use ffa_core::{EndpointId, FfaError};
use host_model::memory::{
    lock, Access, ManagerMemory, MemoryError, PhysicalMemory, PhysicalRegion, SecurityState,
    SystemMemory, Translation,
};
use host_model::{IntermediateAddress, PhysicalAddress};
use spmc::partition_manager::{EndpointMemory, Role};

const VM: EndpointId = EndpointId(1);
const OTHER_VM: EndpointId = EndpointId(2);
const PARTITION: EndpointId = EndpointId(0x8001);

fn region(name: &str, base: u64, page_count: u64, security: SecurityState) -> PhysicalRegion {
    PhysicalRegion { name: name.into(), base: PhysicalAddress(base), page_count, security }
}

#[test]
fn physical_memory_is_sparse_and_accesses_cross_pages() {
    let mut memory = PhysicalMemory::default();
    memory.add_region(region("RAM", 0x8000_0000, 4, SecurityState::NonSecure)).unwrap();
    assert_eq!(
        memory.add_region(region("overlap", 0x8000_3000, 1, SecurityState::Secure)),
        Err(MemoryError::Overlap(0x8000_0000))
    );
    assert_eq!(
        memory.add_region(region("odd", 0x9000_0010, 1, SecurityState::Secure)),
        Err(MemoryError::Misaligned(0x9000_0010))
    );
    let mut bytes = [0xFFu8; 8];
    memory.read(PhysicalAddress(0x8000_1000), &mut bytes).unwrap();
    assert_eq!(bytes, [0; 8], "never-written memory reads as zeros");
    assert_eq!(memory.resident_pages(), 0);
    // Four bytes either side of a page boundary.
    memory.write(PhysicalAddress(0x8000_0FFC), &[1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
    assert_eq!(memory.resident_pages(), 2);
    memory.read(PhysicalAddress(0x8000_0FFC), &mut bytes).unwrap();
    assert_eq!(bytes, [1, 2, 3, 4, 5, 6, 7, 8]);
    // Running off the end of the region is an error, not a wrap.
    assert_eq!(
        memory.write(PhysicalAddress(0x8000_3FFE), &[0; 4]),
        Err(MemoryError::NoPhysicalMemory(PhysicalAddress(0x8000_4000)))
    );
}

#[test]
fn a_translation_maps_and_unmaps_whole_ranges_or_nothing() {
    let mut table = Translation::new(VM);
    let ipa = IntermediateAddress(0x4000_0000);
    table.map(ipa, PhysicalAddress(0x8000_0000), 2, Access::READ).unwrap();
    // Overlapping the second page: nothing of the new range is mapped.
    assert!(matches!(
        table.map(IntermediateAddress(0x4000_1000), PhysicalAddress(0x9000_0000), 2, Access::all()),
        Err(MemoryError::Overlap(_))
    ));
    assert_eq!(table.mapped_pages(), 2);
    assert_eq!(
        table.translate(IntermediateAddress(0x4000_1234), Access::READ),
        Ok(PhysicalAddress(0x8000_1234))
    );
    assert_eq!(
        table.translate(ipa, Access::WRITE),
        Err(MemoryError::PermissionDenied { endpoint: VM, address: ipa, needed: Access::WRITE })
    );
    // Unmapping a range with a hole changes nothing.
    assert!(matches!(table.unmap(ipa, 3), Err(MemoryError::NotMapped { .. })));
    assert_eq!(table.mapped_pages(), 2);
    table.unmap(ipa, 2).unwrap();
    assert_eq!(table.mapped_pages(), 0);
}

#[test]
fn the_allocator_aligns_and_runs_out() {
    let mut memory = SystemMemory::default();
    let base = IntermediateAddress(0x4000_0000);
    memory
        .add_endpoint_ram(VM, base, PhysicalAddress(0x8000_0000), 32, SecurityState::NonSecure)
        .unwrap();
    assert_eq!(memory.allocate(VM, 1, 4096), Ok(base));
    assert_eq!(memory.allocate(VM, 4, 0x4000), Ok(IntermediateAddress(0x4000_4000)));
    assert_eq!(memory.allocate(VM, 1, 4096), Ok(IntermediateAddress(0x4000_8000)));
    assert_eq!(memory.allocate(VM, 1, 3000), Err(MemoryError::Misaligned(3000)));
    assert_eq!(memory.allocate(VM, 24, 4096), Err(MemoryError::OutOfMemory(VM)));
    assert_eq!(memory.allocate(VM, 23, 4096), Ok(IntermediateAddress(0x4000_9000)));
    assert_eq!(memory.allocate(OTHER_VM, 1, 4096), Err(MemoryError::UnknownEndpoint(OTHER_VM)));
}

/// VM RAM at IPA 0x4000_0000 (PA 0x8000_0000, 16 pages), a second VM, a partition's secure
/// RAM, and a VM buffer range whose two pages are far apart in physical memory.
fn system() -> Arc<Mutex<SystemMemory>> {
    let mut memory = SystemMemory::default();
    let ram = IntermediateAddress(0x4000_0000);
    memory
        .add_endpoint_ram(VM, ram, PhysicalAddress(0x8000_0000), 16, SecurityState::NonSecure)
        .unwrap();
    memory
        .add_endpoint_ram(OTHER_VM, ram, PhysicalAddress(0x8100_0000), 16, SecurityState::NonSecure)
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
    // IPA 0x5000_0000: VM's page 15, then VM's page 3 (scattered, in reverse order).
    memory
        .map(
            VM,
            IntermediateAddress(0x5000_0000),
            PhysicalAddress(0x8000_F000),
            1,
            Access::READ_WRITE,
        )
        .unwrap();
    memory
        .map(
            VM,
            IntermediateAddress(0x5000_1000),
            PhysicalAddress(0x8000_3000),
            1,
            Access::READ_WRITE,
        )
        .unwrap();
    // A read-only page.
    memory
        .map(VM, IntermediateAddress(0x6000_0000), PhysicalAddress(0x8000_5000), 1, Access::READ)
        .unwrap();
    Arc::new(Mutex::new(memory))
}

#[test]
fn a_buffer_over_scattered_pages_reads_and_writes_the_right_physical_bytes() {
    let shared = system();
    let mut forwarder = ManagerMemory::new(shared.clone(), Role::Forwarder);
    let buffer = forwarder.map_buffer(VM, 0x5000_0000, 2).unwrap();
    let pattern: Vec<u8> = (0..32u8).collect();
    // 16 bytes at the end of the first page, 16 at the start of the second.
    forwarder.write(buffer, 4096 - 16, &pattern).unwrap();
    let mut back = [0u8; 32];
    forwarder.read(buffer, 4096 - 16, &mut back).unwrap();
    assert_eq!(&back[..], &pattern[..]);
    let memory = lock(&shared);
    let mut first = [0u8; 16];
    memory.physical().read(PhysicalAddress(0x8000_FFF0), &mut first).unwrap();
    assert_eq!(&first[..], &pattern[..16]);
    let mut second = [0u8; 16];
    memory.physical().read(PhysicalAddress(0x8000_3000), &mut second).unwrap();
    assert_eq!(&second[..], &pattern[16..]);
    drop(memory);
    // Past the end of the buffer.
    assert_eq!(forwarder.write(buffer, 8192 - 1, &[0, 0]), Err(FfaError::InvalidParameters));
    assert_eq!(forwarder.read(buffer, 8192, &mut [0]), Err(FfaError::InvalidParameters));
    // A stale buffer reaches nothing.
    forwarder.unmap_buffer(buffer);
    assert_eq!(forwarder.read(buffer, 0, &mut [0]), Err(FfaError::InvalidParameters));
}

#[test]
fn managers_refuse_memory_an_endpoint_cannot_offer() {
    let shared = system();
    let mut forwarder = ManagerMemory::new(shared.clone(), Role::Forwarder);
    let mut spmc = ManagerMemory::new(shared.clone(), Role::Spmc);
    // D20: not mapped, mapped read-only, or a secure endpoint at the forwarder.
    assert_eq!(forwarder.map_buffer(VM, 0x7000_0000, 1), Err(FfaError::Denied));
    assert_eq!(forwarder.map_buffer(VM, 0x6000_0000, 1), Err(FfaError::Denied));
    assert_eq!(forwarder.map_buffer(VM, 0x4000_F000, 2), Err(FfaError::Denied), "runs off RAM");
    assert_eq!(forwarder.map_buffer(PARTITION, 0x0600_0000, 1), Err(FfaError::Denied));
    // The SPMC takes physical addresses from the normal world: non-secure memory only.
    assert_eq!(spmc.map_buffer(EndpointId(0), 0x1_0000_0000, 1), Err(FfaError::Denied));
    assert_eq!(spmc.map_buffer(EndpointId(0), 0x7000_0000, 1), Err(FfaError::Denied));
    let hypervisor = spmc.map_buffer(EndpointId(0), 0x8100_8000, 1).unwrap();
    // D19: the same physical page for another endpoint, through either manager.
    assert_eq!(forwarder.map_buffer(OTHER_VM, 0x4000_8000, 1), Err(FfaError::InvalidParameters));
    // A partition's own (secure) RAM through its stage 2.
    let partition = spmc.map_buffer(PARTITION, 0x0600_1000, 1).unwrap();
    assert_ne!(hypervisor, partition);
    assert_eq!(spmc.map_buffer(PARTITION, 0x0600_1001, 1), Err(FfaError::InvalidParameters));
    let owners: Vec<(Role, EndpointId)> =
        lock(&shared).mailboxes().map(|mailbox| (mailbox.manager, mailbox.owner)).collect();
    assert_eq!(owners, [(Role::Spmc, EndpointId(0)), (Role::Spmc, PARTITION)]);
}
