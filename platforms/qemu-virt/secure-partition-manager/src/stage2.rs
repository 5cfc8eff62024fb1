//! Secure stage-2 translation per partition: identity maps of exactly what each may touch.
//!
//! Each partition has its own root table and VMID, so switching partitions needs no TLB
//! invalidation. The level-2 and level-3 tables below the roots come from one pool all
//! partitions share (`platform_common::stage2::TablePool`): a partition takes a table when it
//! first maps into a GiB or a 2 MiB region and gives it back when an unmap empties it, so the
//! pool is sized to what is mapped at once (docs/src/memory-map.md has the arithmetic).
//! Memory sharing adds and removes pages (`map_shared`, `unmap`, under the core's memory
//! lock, which also serialises use of the pool); removing invalidates the TLBs of the
//! partition's VMID. VTCR_EL2 is programmed as well as VSTCR_EL2: QEMU 7.2 takes the physical
//! address size for the secure stage-2 from VTCR_EL2.

use core::sync::atomic::{AtomicUsize, Ordering};

use platform_common::stage2::{
    MapError, MemoryKind, PageAccess, PoolTables, PooledStage2, TablePool, TlbScope, VSTCR, VTCR,
};
use platform_common::write_sysreg;

/// Most partitions the image supports: the three test partitions the boot flash carries on
/// both boards (`xtask/src/images.rs`); each costs a 64-byte root table and its contexts.
pub const MAXIMUM_PARTITIONS: usize = 3;

/// The size of each partition's memory block.
pub const PARTITION_BLOCK: u64 = 2 << 20;

/// Tables in the shared pool. At boot the partitions take four: each the level-2 table of
/// GiB 0 (its 2 MiB block, mapped as one block entry, and its log UART), and one level-3
/// table for the UART's 2 MiB region, which the first partition maps and the others link
/// (`PooledStage2::link_region`). Memory sharing takes, per borrowing partition, a level-2
/// table for normal-world DRAM (GiB 1) and one level-3 table per 2 MiB region it has pages in
/// (a 256-page share: two at most; the conformance suite's fragmented 300-page share: three),
/// and a level-3 table for a lender whose block is split. The peak measured on QEMU (the
/// conformance suite, the demo) is logged as `stage-2 table pool: peak`: 8 of 12.
const POOL_TABLES: usize = 12;

/// The pool's tables. In `.page_tables`, after the rest of .bss, so that their page alignment
/// costs no padding between small variables.
#[link_section = ".page_tables"]
static TABLES: PoolTables<POOL_TABLES> = PoolTables::new();

/// The partitions' level-2 and level-3 tables.
static POOL: TablePool<'static> = TablePool::new(&TABLES);

/// Each partition's root table.
static ROOTS: [PooledStage2; MAXIMUM_PARTITIONS] =
    [const { PooledStage2::new() }; MAXIMUM_PARTITIONS];

/// The pool's peak use last logged.
static REPORTED_PEAK: AtomicUsize = AtomicUsize::new(0);

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
    let Some(root) = ROOTS.get(index) else {
        return Err(platform_common::stage2::MapError::NoTables);
    };
    let first = ROOTS.first().filter(|_| index > 0);
    // SAFETY: called on the boot CPU before any partition first runs (so nothing else uses
    // the pool); identity maps of the partition's own block and its log UART only (linked
    // from the first partition, whose stage-2 maps only the UART page in that region).
    let built = unsafe {
        root.map(&POOL, partition.memory_base, partition.memory_base, 2 << 20, MemoryKind::Memory)
            .and_then(|()| {
                let linked = match first {
                    Some(first) => root.link_region(&POOL, first, partition.device_page),
                    None => Err(MapError::NotMapped),
                };
                linked.or_else(|_| {
                    root.map(
                        &POOL,
                        partition.device_page,
                        partition.device_page,
                        4096,
                        MemoryKind::Device,
                    )
                })
            })
    };
    report_peak();
    built
}

/// Logs the pool's peak use when it has grown since last logged (a few lines per run: what
/// sizes `POOL_TABLES`).
fn report_peak() {
    let peak = POOL.peak();
    if REPORTED_PEAK.fetch_max(peak, Ordering::Relaxed) < peak {
        defmt::info!(
            "spmc: stage-2 table pool: peak {=usize} of {=usize} tables in use",
            peak,
            POOL.capacity()
        );
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
    let root = ROOTS.get(index).ok_or(MapError::NoTables)?;
    // SAFETY: the core's memory lock serialises every change to partition tables and the
    // pool; pages go from invalid to valid, which a running partition may observe at any
    // time without harm.
    let mapped = unsafe { root.map_pages(&POOL, address, address, length, access) };
    report_peak();
    mapped
}

/// Removes `length` bytes at `address` from partition `index`'s stage-2 and drops what every
/// CPU cached of them for its VMID.
pub fn unmap(index: usize, address: u64, length: u64) -> Result<(), MapError> {
    let root = ROOTS.get(index).ok_or(MapError::NoTables)?;
    let scope = TlbScope { vmid: vmid(index), secure: true };
    // SAFETY: the core's memory lock serialises every change to partition tables and the
    // pool, and the scope is the VMID and IPA space these tables are used with (`switch_to`).
    let unmapped = unsafe { root.unmap(&POOL, address, length, scope) };
    // Splitting the lender's block may have taken a table.
    report_peak();
    unmapped
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
    let Some(root) = ROOTS.get(index) else { return };
    let base = root.base();
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
