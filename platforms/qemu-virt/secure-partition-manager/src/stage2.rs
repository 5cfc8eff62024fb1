//! Secure stage-2 translation per partition: identity maps of exactly what each may touch.
//!
//! 4 KiB granule, 32-bit IPA space starting at level 1. Each partition has its own tables and
//! VMID, so switching partitions needs no TLB invalidation. VTCR_EL2 is programmed as well as
//! VSTCR_EL2: QEMU 7.2 takes the physical address size for the secure stage-2 from VTCR_EL2.

use core::cell::UnsafeCell;

use platform_common::write_sysreg;

/// Most partitions the image supports.
pub const MAXIMUM_PARTITIONS: usize = 4;

const ENTRIES: usize = 512;
const TABLE: u64 = 0b11;
const BLOCK: u64 = 0b01;
const PAGE: u64 = 0b11;
const ACCESS_FLAG: u64 = 1 << 10;
const READ_WRITE: u64 = 0b11 << 6;
const INNER_SHAREABLE: u64 = 0b11 << 8;
/// MemAttr: normal memory, outer and inner write-back cacheable.
const NORMAL_WRITE_BACK: u64 = 0b1111 << 2;
/// MemAttr: device nGnRE.
const DEVICE: u64 = 0b0001 << 2;
const EXECUTE_NEVER: u64 = 0b10 << 53;
const TWO_MIB: u64 = 2 << 20;
const DEVICE_WINDOW: u64 = 0x0900_0000;

#[repr(C, align(4096))]
struct Table(UnsafeCell<[u64; ENTRIES]>);

impl Table {
    const fn new() -> Self {
        Self(UnsafeCell::new([0; ENTRIES]))
    }

    fn address(&self) -> u64 {
        self.0.get() as u64
    }

    /// # Safety
    /// Only while the partition these tables belong to cannot run (see `build`).
    unsafe fn set(&self, index: usize, value: u64) {
        // SAFETY: per this function's contract nothing reads or writes the table now.
        unsafe { (*self.0.get())[index % ENTRIES] = value };
    }
}

/// One partition's three tables: level 1, level 2 for the first GiB, level 3 for devices.
struct PartitionTables {
    level1: Table,
    level2: Table,
    level3: Table,
}

struct AllTables([PartitionTables; MAXIMUM_PARTITIONS]);

// SAFETY: a partition's tables are written only by `build`, on the boot CPU, before that
// partition first runs; afterwards only the MMU reads them.
unsafe impl Sync for AllTables {}

static TABLES: AllTables = AllTables(
    [const { PartitionTables { level1: Table::new(), level2: Table::new(), level3: Table::new() } };
        MAXIMUM_PARTITIONS],
);

/// What a partition may reach.
#[derive(Debug, Clone, Copy)]
pub struct PartitionMemory {
    /// A 2 MiB-aligned block of secure RAM holding the partition's package and image.
    pub memory_base: u64,
    /// One device page (its log UART), inside 0x0900_0000..0x0920_0000.
    pub device_page: u64,
}

/// Builds partition `index`'s tables. Call once per partition, before it first runs.
pub fn build(index: usize, partition: PartitionMemory) {
    let Some(tables) = TABLES.0.get(index) else { return };
    let memory_index = ((partition.memory_base >> 21) & 511) as usize;
    let device_index = ((partition.device_page - DEVICE_WINDOW) >> 12) as usize;
    // SAFETY: per `AllTables`, the partition cannot run yet.
    unsafe {
        tables.level1.set(0, tables.level2.address() | TABLE);
        tables.level2.set(
            memory_index,
            (partition.memory_base & !(TWO_MIB - 1))
                | BLOCK
                | ACCESS_FLAG
                | READ_WRITE
                | INNER_SHAREABLE
                | NORMAL_WRITE_BACK,
        );
        tables.level2.set((DEVICE_WINDOW >> 21) as usize, tables.level3.address() | TABLE);
        tables.level3.set(
            device_index,
            partition.device_page | PAGE | ACCESS_FLAG | READ_WRITE | DEVICE | EXECUTE_NEVER,
        );
    }
}

/// Programs this CPU's stage-2 controls and drops anything it cached for partitions.
pub fn configure_cpu() {
    // VTCR_EL2: RES1 bit 31, PS = 40 bits, SH0 inner, ORGN0/IRGN0 write-back, SL0 = level 1,
    // T0SZ = 32 (4 GiB of IPA).
    let vtcr = (1 << 31) | (2 << 16) | (3 << 12) | (1 << 10) | (1 << 8) | (1 << 6) | 32;
    write_sysreg!("vtcr_el2", vtcr);
    // VSTCR_EL2: secure IPA space translated to the secure PA space (SA = SW = 0), same shape.
    write_sysreg!("s3_4_c2_c6_2", (1 << 6) | 32);
    #[cfg(target_arch = "aarch64")]
    // SAFETY: barriers and a TLB invalidation of stage-1+2 EL1&0 entries; no memory is touched.
    unsafe {
        core::arch::asm!("dsb ishst", "tlbi vmalls12e1is", "dsb ish", "isb", options(nostack))
    };
}

/// Makes partition `index`'s tables (and VMID `index + 1`) the ones this CPU translates with.
pub fn switch_to(index: usize) {
    let Some(tables) = TABLES.0.get(index) else { return };
    let base = tables.level1.address();
    // VSTTBR_EL2 for the secure IPA space; VTTBR_EL2 for the non-secure IPA space (the same
    // tables until memory sharing maps NS memory) and, for both, the VMID.
    write_sysreg!("s3_4_c2_c6_0", base);
    write_sysreg!("vttbr_el2", ((index as u64 + 1) << 48) | base);
    #[cfg(target_arch = "aarch64")]
    // SAFETY: a barrier only.
    unsafe {
        core::arch::asm!("isb", options(nostack))
    };
}
