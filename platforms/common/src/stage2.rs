//! Stage-2 translation tables for one guest: what its intermediate addresses (IPAs) reach.
//!
//! 4 KiB granule, 32-bit IPA space starting at level 1 (four 1 GiB entries). Memory is mapped
//! with 2 MiB blocks where IPA, PA and size allow, else 4 KiB pages. Tables come from a fixed
//! pool inside the struct (`LEVEL2` level-2 and `LEVEL3` level-3 tables), so building never
//! allocates; running out of tables is an error, not a panic.

use core::cell::UnsafeCell;

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
const PAGE_SIZE: u64 = 4096;
const BLOCK_SIZE: u64 = 2 << 20;
const ADDRESS_MASK: u64 = 0x0000_FFFF_FFFF_F000;

/// The VTCR_EL2 value for these tables: RES1 bit 31, PS = 40 bits, SH0 inner, ORGN0/IRGN0
/// write-back, SL0 = level 1, T0SZ = 32 (4 GiB of IPA). VSTCR_EL2 (secure stage-2) takes the
/// same T0SZ/SL0: `(1 << 6) | 32`.
pub const VTCR: u64 = (1 << 31) | (2 << 16) | (3 << 12) | (1 << 10) | (1 << 8) | (1 << 6) | 32;
/// VSTCR_EL2 for a secure stage-2 of the same shape (SA = SW = 0: secure IPA to secure PA).
pub const VSTCR: u64 = (1 << 6) | 32;

/// What a mapping is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryKind {
    /// Normal write-back memory, read-write, executable.
    Memory,
    /// Device memory (nGnRE), read-write, never executable.
    Device,
}

impl MemoryKind {
    fn attributes(self) -> u64 {
        match self {
            Self::Memory => ACCESS_FLAG | READ_WRITE | INNER_SHAREABLE | NORMAL_WRITE_BACK,
            Self::Device => ACCESS_FLAG | READ_WRITE | DEVICE | EXECUTE_NEVER,
        }
    }
}

/// Why a mapping could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    /// An address or size is not 4 KiB aligned.
    Unaligned,
    /// The IPA range leaves the 4 GiB IPA space.
    OutOfRange,
    /// The table pool is exhausted.
    NoTables,
    /// Part of the range is already mapped at a coarser or finer level.
    Overlap,
}

#[repr(C, align(4096))]
struct Table(UnsafeCell<[u64; ENTRIES]>);

impl Table {
    const fn new() -> Self {
        Self(UnsafeCell::new([0; ENTRIES]))
    }

    fn address(&self) -> u64 {
        self.0.get() as u64
    }

    fn get(&self, index: usize) -> u64 {
        // SAFETY: `Stage2::map`'s contract: nothing writes the tables concurrently.
        unsafe { (*self.0.get())[index % ENTRIES] }
    }

    fn set(&self, index: usize, value: u64) {
        // SAFETY: `Stage2::map`'s contract: the guest using these tables is not running and no
        // other CPU builds them at the same time.
        unsafe { (*self.0.get())[index % ENTRIES] = value };
    }
}

/// One guest's stage-2 tables, with room for `LEVEL2` level-2 tables (one per GiB used) and
/// `LEVEL3` level-3 tables (one per 2 MiB region mapped with pages).
pub struct Stage2<const LEVEL2: usize, const LEVEL3: usize> {
    level1: Table,
    level2: [Table; LEVEL2],
    level3: [Table; LEVEL3],
    used: UnsafeCell<(usize, usize)>,
}

// SAFETY: the tables are written only through `map`, whose contract forbids concurrent use and
// use while the guest runs; the MMU only reads them.
unsafe impl<const LEVEL2: usize, const LEVEL3: usize> Sync for Stage2<LEVEL2, LEVEL3> {}

impl<const LEVEL2: usize, const LEVEL3: usize> core::fmt::Debug for Stage2<LEVEL2, LEVEL3> {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter.debug_struct("Stage2").field("base", &self.base()).finish()
    }
}

impl<const LEVEL2: usize, const LEVEL3: usize> Stage2<LEVEL2, LEVEL3> {
    /// Empty tables (usable in a `static`).
    pub const fn new() -> Self {
        Self {
            level1: Table::new(),
            level2: [const { Table::new() }; LEVEL2],
            level3: [const { Table::new() }; LEVEL3],
            used: UnsafeCell::new((0, 0)),
        }
    }

    /// The level-1 table's address, for VTTBR_EL2/VSTTBR_EL2.
    pub fn base(&self) -> u64 {
        self.level1.address()
    }

    fn next_table(&self, level: usize) -> Result<&Table, MapError> {
        // SAFETY: `map`'s contract: no concurrent use.
        let used = unsafe { &mut *self.used.get() };
        let (count, pool): (&mut usize, &[Table]) = match level {
            2 => (&mut used.0, &self.level2),
            _ => (&mut used.1, &self.level3),
        };
        let table = pool.get(*count).ok_or(MapError::NoTables)?;
        *count += 1;
        Ok(table)
    }

    /// The next-level table an entry points to, creating it if the entry is empty.
    fn descend<'t>(
        &'t self,
        table: &'t Table,
        index: usize,
        level: usize,
    ) -> Result<&'t Table, MapError> {
        let entry = table.get(index);
        if entry == 0 {
            let next = self.next_table(level)?;
            table.set(index, next.address() | TABLE);
            return Ok(next);
        }
        if entry & 0b11 != TABLE {
            return Err(MapError::Overlap);
        }
        let pool: &[Table] = if level == 2 { &self.level2 } else { &self.level3 };
        pool.iter()
            .find(|candidate| candidate.address() == entry & ADDRESS_MASK)
            .ok_or(MapError::Overlap)
    }

    /// Maps `size` bytes at `ipa` to `pa`.
    ///
    /// # Safety
    /// No guest may be running with these tables, and no other CPU may use this object at the
    /// same time. Mapping `pa` gives the guest access to it: the caller decides it may have it.
    pub unsafe fn map(
        &self,
        ipa: u64,
        pa: u64,
        size: u64,
        kind: MemoryKind,
    ) -> Result<(), MapError> {
        if !(ipa | pa | size).is_multiple_of(PAGE_SIZE) {
            return Err(MapError::Unaligned);
        }
        let end = ipa.checked_add(size).ok_or(MapError::OutOfRange)?;
        if end > 1 << 32 {
            return Err(MapError::OutOfRange);
        }
        let mut offset = 0;
        while offset < size {
            let (here, target) = (ipa + offset, pa + offset);
            let level2 = self.descend(&self.level1, (here >> 30) as usize, 2)?;
            let block_index = ((here >> 21) & 511) as usize;
            let whole_block =
                here % BLOCK_SIZE == 0 && target % BLOCK_SIZE == 0 && size - offset >= BLOCK_SIZE;
            if whole_block {
                if level2.get(block_index) != 0 {
                    return Err(MapError::Overlap);
                }
                level2.set(block_index, target | BLOCK | kind.attributes());
                offset += BLOCK_SIZE;
            } else {
                let level3 = self.descend(level2, block_index, 3)?;
                let page_index = ((here >> 12) & 511) as usize;
                if level3.get(page_index) != 0 {
                    return Err(MapError::Overlap);
                }
                level3.set(page_index, target | PAGE | kind.attributes());
                offset += PAGE_SIZE;
            }
        }
        Ok(())
    }
}

impl<const LEVEL2: usize, const LEVEL3: usize> Default for Stage2<LEVEL2, LEVEL3> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(table: &Table, index: usize) -> u64 {
        table.get(index)
    }

    #[test]
    fn blocks_where_aligned_pages_elsewhere() {
        let tables: Stage2<2, 2> = Stage2::new();
        // SAFETY: a host test: no guest runs with these tables.
        unsafe {
            tables.map(0x4000_0000, 0x4100_0000, 4 << 20, MemoryKind::Memory).unwrap();
            tables.map(0x0904_0000, 0x0904_0000, 4096, MemoryKind::Device).unwrap();
        }
        let gib1 = entry(&tables.level1, 1);
        assert_eq!(gib1 & 0b11, TABLE);
        assert_eq!(gib1 & ADDRESS_MASK, tables.level2[0].address());
        assert_eq!(
            entry(&tables.level2[0], 0),
            0x4100_0000 | BLOCK | MemoryKind::Memory.attributes()
        );
        assert_eq!(
            entry(&tables.level2[0], 1),
            0x4120_0000 | BLOCK | MemoryKind::Memory.attributes()
        );
        // The device page went through a level-3 table under GiB 0.
        let device_block = entry(&tables.level2[1], 0x0904_0000 >> 21);
        assert_eq!(device_block & ADDRESS_MASK, tables.level3[0].address());
        assert_eq!(
            entry(&tables.level3[0], 0x40),
            0x0904_0000 | PAGE | MemoryKind::Device.attributes()
        );
    }

    #[test]
    fn unaligned_out_of_range_overlapping_and_exhausted_requests_fail() {
        let tables: Stage2<1, 1> = Stage2::new();
        // SAFETY: a host test: no guest runs with these tables.
        unsafe {
            assert_eq!(
                tables.map(0x1000, 0x1001, 4096, MemoryKind::Memory),
                Err(MapError::Unaligned)
            );
            assert_eq!(
                tables.map(0xFFFF_F000, 0, 8192, MemoryKind::Memory),
                Err(MapError::OutOfRange)
            );
            tables.map(0x0, 0x0, 2 << 20, MemoryKind::Memory).unwrap();
            assert_eq!(
                tables.map(0x1000, 0x1000, 4096, MemoryKind::Memory),
                Err(MapError::Overlap)
            );
            tables.map(0x20_0000, 0x20_0000, 4096, MemoryKind::Memory).unwrap();
            assert_eq!(
                tables.map(0x20_0000, 0x20_0000, 4096, MemoryKind::Memory),
                Err(MapError::Overlap)
            );
            // A second GiB needs a second level-2 table, and this pool has one.
            assert_eq!(
                tables.map(0x4000_0000, 0, 4096, MemoryKind::Memory),
                Err(MapError::NoTables)
            );
            // A second page-mapped 2 MiB region needs a second level-3 table.
            assert_eq!(tables.map(0x60_0000, 0, 4096, MemoryKind::Memory), Err(MapError::NoTables));
        }
    }
}
