//! The secure stage-2 translation for partitions: identity maps of exactly what each may touch.
//!
//! 4 KiB granule, 32-bit IPA space starting at level 1. VTCR_EL2 is programmed as well as
//! VSTCR_EL2: QEMU 7.2 takes the physical address size for the secure stage-2 from VTCR_EL2.

use core::cell::UnsafeCell;

use platform_common::write_sysreg;

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

#[repr(C, align(4096))]
struct Table(UnsafeCell<[u64; ENTRIES]>);

// SAFETY: the tables are written only by the boot CPU in `build`, before any partition runs and
// before any other CPU starts; afterwards only the MMU reads them.
unsafe impl Sync for Table {}

impl Table {
    const fn new() -> Self {
        Self(UnsafeCell::new([0; ENTRIES]))
    }

    fn address(&self) -> u64 {
        self.0.get() as u64
    }

    /// # Safety
    /// Only during `build` (single CPU, no partition running).
    unsafe fn set(&self, index: usize, value: u64) {
        // SAFETY: per this function's contract nothing else reads or writes the table now.
        unsafe { (*self.0.get())[index % ENTRIES] = value };
    }
}

static LEVEL1: Table = Table::new();
static LEVEL2_FIRST_GIB: Table = Table::new();
static LEVEL3_DEVICES: Table = Table::new();

const TWO_MIB: u64 = 2 << 20;
const DEVICE_WINDOW: u64 = 0x0900_0000;

/// What a partition may reach.
#[derive(Debug, Clone, Copy)]
pub struct PartitionMemory {
    /// A 2 MiB-aligned block of secure RAM holding the partition's package and image.
    pub memory_base: u64,
    /// One device page (its log UART), inside 0x0900_0000..0x0920_0000.
    pub device_page: u64,
}

/// Builds the tables (once, on the boot CPU, before any partition runs).
pub fn build(partition: PartitionMemory) {
    let memory_index = ((partition.memory_base >> 21) & 511) as usize;
    let device_index = ((partition.device_page - DEVICE_WINDOW) >> 12) as usize;
    // SAFETY: called once by the boot CPU before any partition runs (see `Table`).
    unsafe {
        LEVEL1.set(0, LEVEL2_FIRST_GIB.address() | TABLE);
        LEVEL2_FIRST_GIB.set(
            memory_index,
            (partition.memory_base & !(TWO_MIB - 1))
                | BLOCK
                | ACCESS_FLAG
                | READ_WRITE
                | INNER_SHAREABLE
                | NORMAL_WRITE_BACK,
        );
        LEVEL2_FIRST_GIB.set((DEVICE_WINDOW >> 21) as usize, LEVEL3_DEVICES.address() | TABLE);
        LEVEL3_DEVICES.set(
            device_index,
            partition.device_page | PAGE | ACCESS_FLAG | READ_WRITE | DEVICE | EXECUTE_NEVER,
        );
    }
}

/// Points this CPU's stage-2 registers at the tables and invalidates its stale entries.
pub fn activate() {
    // VTCR_EL2: RES1 bit 31, PS = 40 bits, SH0 inner, ORGN0/IRGN0 write-back, SL0 = level 1,
    // T0SZ = 32 (4 GiB of IPA).
    let vtcr = (1 << 31) | (2 << 16) | (3 << 12) | (1 << 10) | (1 << 8) | (1 << 6) | 32;
    write_sysreg!("vtcr_el2", vtcr);
    // VSTCR_EL2: secure IPA space translated to the secure PA space (SA = SW = 0), same shape.
    write_sysreg!("s3_4_c2_c6_2", (1 << 6) | 32);
    // VSTTBR_EL2, and VTTBR_EL2 (non-secure IPA space: the same tables until sharing lands).
    write_sysreg!("s3_4_c2_c6_0", LEVEL1.address());
    write_sysreg!("vttbr_el2", LEVEL1.address());
    #[cfg(target_arch = "aarch64")]
    // SAFETY: barriers and a TLB invalidation of stage-1+2 EL1&0 entries; no memory is touched.
    unsafe {
        core::arch::asm!("dsb ishst", "tlbi vmalls12e1is", "dsb ish", "isb", options(nostack))
    };
}
