//! Secure stage-2 translation per partition: identity maps of exactly what each may touch.
//!
//! Each partition has its own tables (`platform_common::stage2::Stage2`) and VMID, so switching
//! partitions needs no TLB invalidation. Memory sharing adds and removes pages
//! (`map_shared`, `unmap`, under the core's memory lock); removing invalidates the TLBs of
//! the partition's VMID. VTCR_EL2 is programmed as well as VSTCR_EL2: QEMU 7.2
//! takes the physical address size for the secure stage-2 from VTCR_EL2.

use platform_common::stage2::{MapError, MemoryKind, PageAccess, Stage2, TlbScope, VSTCR, VTCR};
use platform_common::write_sysreg;

/// Most partitions the image supports: the three test partitions the boot flash carries on
/// both boards (`xtask/src/images.rs`); each costs its stage-2 tables (48 KiB) and contexts.
pub const MAXIMUM_PARTITIONS: usize = 3;

/// The size of each partition's memory block.
pub const PARTITION_BLOCK: u64 = 2 << 20;

/// A partition's memory is one 2 MiB block; devices need one level-3 table. Memory sharing
/// adds the GiB of normal-world DRAM, a level-3 table when the partition's own block is split
/// to lend a page of it, and one per 2 MiB region it borrows pages in.
type PartitionTables = Stage2<2, 8>;

static TABLES: [PartitionTables; MAXIMUM_PARTITIONS] =
    [const { Stage2::new() }; MAXIMUM_PARTITIONS];

/// What a partition may reach.
#[derive(Debug, Clone, Copy)]
pub struct PartitionMemory {
    /// A 2 MiB-aligned block of secure RAM holding the partition's package and image.
    pub memory_base: u64,
    /// One device page (its log UART).
    pub device_page: u64,
}

/// Builds partition `index`'s tables. Call once per partition, before it first runs.
pub fn build(
    index: usize,
    partition: PartitionMemory,
) -> Result<(), platform_common::stage2::MapError> {
    let Some(tables) = TABLES.get(index) else {
        return Err(platform_common::stage2::MapError::NoTables);
    };
    // SAFETY: called on the boot CPU before the partition first runs; identity maps of the
    // partition's own block and its log UART only.
    unsafe {
        tables.map(partition.memory_base, partition.memory_base, 2 << 20, MemoryKind::Memory)?;
        tables.map(partition.device_page, partition.device_page, 4096, MemoryKind::Device)
    }
}

/// The VMID partition `index` runs with.
fn vmid(index: usize) -> u16 {
    index as u16 + 1
}

/// Maps `length` bytes at `address` (IPA = PA) into partition `index`'s stage-2 with `access`.
/// The caller (`shared_memory`) has checked the range is memory a partition may be given.
pub fn map_shared(
    index: usize,
    address: u64,
    length: u64,
    access: PageAccess,
) -> Result<(), MapError> {
    let tables = TABLES.get(index).ok_or(MapError::NoTables)?;
    // SAFETY: the core's memory lock serialises every change to partition tables; pages go
    // from invalid to valid, which a running partition may observe at any time without harm.
    unsafe { tables.map_pages(address, address, length, access) }
}

/// Removes `length` bytes at `address` from partition `index`'s stage-2 and drops what every
/// CPU cached of them for its VMID.
pub fn unmap(index: usize, address: u64, length: u64) -> Result<(), MapError> {
    let tables = TABLES.get(index).ok_or(MapError::NoTables)?;
    let scope = TlbScope { vmid: vmid(index), secure: true };
    // SAFETY: the core's memory lock serialises every change to partition tables, and the
    // scope is the VMID and IPA space these tables are used with (see `switch_to`).
    unsafe { tables.unmap(address, length, scope) }
}

/// Programs this CPU's stage-2 controls and drops anything it cached for partitions.
pub fn configure_cpu() {
    write_sysreg!("vtcr_el2", VTCR);
    // VSTCR_EL2.
    write_sysreg!("s3_4_c2_c6_2", VSTCR);
    #[cfg(target_arch = "aarch64")]
    // SAFETY: barriers and a TLB invalidation of stage-1+2 EL1&0 entries; no memory is touched.
    unsafe {
        core::arch::asm!("dsb ishst", "tlbi vmalls12e1is", "dsb ish", "isb", options(nostack))
    };
}

/// Makes partition `index`'s tables (and VMID `index + 1`) the ones this CPU translates with.
pub fn switch_to(index: usize) {
    let Some(tables) = TABLES.get(index) else { return };
    let base = tables.base();
    // VSTTBR_EL2 for the secure IPA space; VTTBR_EL2 for the non-secure IPA space (the same
    // tables until memory sharing maps NS memory) and, for both, the VMID.
    write_sysreg!("s3_4_c2_c6_0", base);
    write_sysreg!("vttbr_el2", (u64::from(vmid(index)) << 48) | base);
    #[cfg(target_arch = "aarch64")]
    // SAFETY: a barrier only.
    unsafe {
        core::arch::asm!("isb", options(nostack))
    };
}
