//! Stage-2 translation tables for one guest: what its intermediate addresses (IPAs) reach.
//!
//! 4 KiB granule, 32-bit IPA space starting at level 1 (four 1 GiB entries). Memory is mapped
//! with 2 MiB blocks where IPA, PA and size allow, else 4 KiB pages. Tables come from a fixed
//! pool inside the struct (`LEVEL2` level-2 and `LEVEL3` level-3 tables), so building never
//! allocates; running out of tables is an error, not a panic.
//!
//! Memory sharing changes live tables: `map_pages` maps with explicit permissions,
//! `unmap` removes pages (splitting a 2 MiB block into pages first, break-before-make) and
//! `translate` walks the tables. Removing a mapping invalidates the TLBs through
//! [`TlbScope`], which names the VMID (and secure or non-secure IPA space) the tables are used
//! with; the invalidation itself is in [`tlb`].

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
/// S2AP read-only (bits [7:6] = 0b01).
const READ_ONLY: u64 = 0b01 << 6;
/// Bit 5 of a secure stage-2 block or page descriptor: the output address is non-secure.
const NON_SECURE: u64 = 1 << 5;
/// Lower and upper attribute bits of a block or page descriptor (everything but the address).
const ATTRIBUTE_MASK: u64 = !ADDRESS_MASK & !0b11;
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

/// What a page mapped for memory sharing allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageAccess {
    /// Writable (else read-only).
    pub write: bool,
    /// Executable at EL1/EL0 (else execute-never).
    pub execute: bool,
    /// The physical address is in the non-secure address space (set only in a secure
    /// stage-2: in a non-secure one bit 5 is RES0 and all output is non-secure anyway).
    pub non_secure: bool,
}

impl PageAccess {
    fn attributes(self) -> u64 {
        let mut value = ACCESS_FLAG | INNER_SHAREABLE | NORMAL_WRITE_BACK;
        value |= if self.write { READ_WRITE } else { READ_ONLY };
        if !self.execute {
            value |= EXECUTE_NEVER;
        }
        if self.non_secure {
            value |= NON_SECURE;
        }
        value
    }
}

/// Which translations a TLB invalidation drops: those of VMID `vmid`, for the secure IPA space
/// (a partition's VSTTBR_EL2 tables, S-EL2 only) or the non-secure one (VTTBR_EL2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlbScope {
    /// The VMID the tables run with (VTTBR_EL2 bits [63:48]).
    pub vmid: u16,
    /// The tables are a secure stage-2 (also invalidate the secure IPA space).
    pub secure: bool,
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
    /// Part of the range is not mapped (unmap).
    NotMapped,
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

    /// Maps `size` bytes at `ipa` to `pa` with 4 KiB pages and `access` (memory shared with
    /// or lent to the guest, or given back to its owner). Never uses blocks, so each page can
    /// be unmapped on its own later.
    ///
    /// # Safety
    /// No other CPU may use this object at the same time (the caller holds the lock that
    /// protects these tables). Mapping `pa` gives the guest access to it: the caller decides
    /// it may have it. The guest may run with these tables on another CPU: a page goes from
    /// invalid to valid with one store, which needs no TLB invalidation.
    pub unsafe fn map_pages(
        &self,
        ipa: u64,
        pa: u64,
        size: u64,
        access: PageAccess,
    ) -> Result<(), MapError> {
        Self::check_range(ipa, pa, size)?;
        // Check first, so a failure leaves nothing half mapped.
        let mut offset = 0;
        while offset < size {
            match self.leaf(ipa + offset) {
                Leaf::Page(..) | Leaf::Block(..) => return Err(MapError::Overlap),
                Leaf::Missing => {}
            }
            offset += PAGE_SIZE;
        }
        let mut offset = 0;
        while offset < size {
            let here = ipa + offset;
            let level2 = self.descend(&self.level1, (here >> 30) as usize, 2)?;
            let level3 = self.descend(level2, ((here >> 21) & 511) as usize, 3)?;
            level3.set(((here >> 12) & 511) as usize, (pa + offset) | PAGE | access.attributes());
            offset += PAGE_SIZE;
        }
        tlb::publish();
        Ok(())
    }

    /// Removes the pages of `size` bytes at `ipa`, splitting a 2 MiB block that holds some of
    /// them into pages first, and invalidates the TLB entries of `scope` for them. Every page
    /// must be mapped (else [`MapError::NotMapped`] and nothing changes).
    ///
    /// # Safety
    /// As for [`Self::map_pages`]; `scope` must be the VMID and IPA space these tables are
    /// used with, so that no CPU keeps a translation of a removed page.
    pub unsafe fn unmap(&self, ipa: u64, size: u64, scope: TlbScope) -> Result<(), MapError> {
        Self::check_range(ipa, ipa, size)?;
        let mut offset = 0;
        while offset < size {
            if self.leaf(ipa + offset) == Leaf::Missing {
                return Err(MapError::NotMapped);
            }
            offset += PAGE_SIZE;
        }
        let mut offset = 0;
        while offset < size {
            let here = ipa + offset;
            if let Leaf::Block(..) = self.leaf(here) {
                self.split(here, scope)?;
            }
            let level2 = self.descend(&self.level1, (here >> 30) as usize, 2)?;
            let level3 = self.descend(level2, ((here >> 21) & 511) as usize, 3)?;
            level3.set(((here >> 12) & 511) as usize, 0);
            offset += PAGE_SIZE;
        }
        tlb::invalidate(scope, ipa, size);
        Ok(())
    }

    /// Where the page at `ipa` leads: its physical address, and how many pages from there
    /// are mapped to consecutive physical pages within the same leaf entry.
    pub fn translate(&self, ipa: u64) -> Option<(u64, u64)> {
        match self.leaf(ipa) {
            Leaf::Block(entry) => {
                let offset = (ipa % BLOCK_SIZE) & !(PAGE_SIZE - 1);
                Some(((entry & ADDRESS_MASK) + offset, (BLOCK_SIZE - offset) / PAGE_SIZE))
            }
            Leaf::Page(entry) => Some((entry & ADDRESS_MASK, 1)),
            Leaf::Missing => None,
        }
    }

    fn check_range(ipa: u64, pa: u64, size: u64) -> Result<(), MapError> {
        if !(ipa | pa | size).is_multiple_of(PAGE_SIZE) {
            return Err(MapError::Unaligned);
        }
        let end = ipa.checked_add(size).ok_or(MapError::OutOfRange)?;
        if end > 1 << 32 || pa.checked_add(size).is_none() {
            return Err(MapError::OutOfRange);
        }
        Ok(())
    }

    /// The table an existing table entry points to.
    fn existing(&self, entry: u64, level: usize) -> Option<&Table> {
        if entry & 0b11 != TABLE {
            return None;
        }
        let pool: &[Table] = if level == 2 { &self.level2 } else { &self.level3 };
        pool.iter().find(|candidate| candidate.address() == entry & ADDRESS_MASK)
    }

    /// The leaf entry translating `ipa`.
    fn leaf(&self, ipa: u64) -> Leaf {
        if ipa >= 1 << 32 {
            return Leaf::Missing;
        }
        let Some(level2) = self.existing(self.level1.get((ipa >> 30) as usize), 2) else {
            return Leaf::Missing;
        };
        let entry = level2.get(((ipa >> 21) & 511) as usize);
        if entry & 0b11 == BLOCK {
            return Leaf::Block(entry);
        }
        let Some(level3) = self.existing(entry, 3) else { return Leaf::Missing };
        let entry = level3.get(((ipa >> 12) & 511) as usize);
        if entry & 0b11 == PAGE {
            Leaf::Page(entry)
        } else {
            Leaf::Missing
        }
    }

    /// Replaces the 2 MiB block holding `ipa` with a level-3 table of the same 512 pages:
    /// break (invalid entry, TLB invalidation), then make.
    fn split(&self, ipa: u64, scope: TlbScope) -> Result<(), MapError> {
        let level2 = self.descend(&self.level1, (ipa >> 30) as usize, 2)?;
        let index = ((ipa >> 21) & 511) as usize;
        let block = level2.get(index);
        let level3 = self.next_table(3)?;
        let base = block & ADDRESS_MASK;
        let attributes = block & ATTRIBUTE_MASK;
        for page in 0..ENTRIES {
            level3.set(page, (base + page as u64 * PAGE_SIZE) | PAGE | attributes);
        }
        level2.set(index, 0);
        tlb::invalidate(scope, ipa & !(BLOCK_SIZE - 1), BLOCK_SIZE);
        level2.set(index, level3.address() | TABLE);
        tlb::publish();
        Ok(())
    }
}

/// A leaf descriptor found by a table walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leaf {
    Block(u64),
    Page(u64),
    Missing,
}

/// TLB maintenance for stage-2 changes (EL2 only).
pub mod tlb {
    use super::TlbScope;

    /// Makes table writes visible to the table walkers of every CPU before a guest runs.
    pub fn publish() {
        #[cfg(target_arch = "aarch64")]
        // SAFETY: barriers only; no memory is touched.
        unsafe {
            core::arch::asm!("dsb ishst", "isb", options(nostack, preserves_flags))
        };
    }

    /// Drops every CPU's cached translations of `size` bytes at `ipa` for `scope`, and the
    /// combined stage-1+2 entries of its VMID (the guest's stage 1 may have cached them).
    /// Selects the scope's VMID in VTTBR_EL2 for the operations and puts the previous value
    /// back afterwards.
    pub fn invalidate(scope: TlbScope, ipa: u64, size: u64) {
        let previous = crate::read_sysreg!("vttbr_el2");
        // The VMID is all TLBI IPAS2E1IS and VMALLE1IS look at: the base address field may
        // keep pointing at the previous tables.
        crate::write_sysreg!(
            "vttbr_el2",
            (previous & !(0xFFFF << 48)) | (u64::from(scope.vmid) << 48)
        );
        let pages = size / 4096;
        #[cfg(target_arch = "aarch64")]
        // SAFETY: barriers and TLB invalidations only; no memory is touched. The ISB makes
        // the VTTBR_EL2 write (the VMID) apply to the invalidations.
        unsafe {
            core::arch::asm!("dsb ishst", "isb", options(nostack, preserves_flags));
            if pages > 64 {
                // Cheaper than one operation per page: everything of this VMID.
                core::arch::asm!("tlbi vmalls12e1is", options(nostack, preserves_flags));
            } else {
                for page in 0..pages {
                    // Xt: IPA[47:12] in bits [35:0]; bit 63 selects the non-secure IPA space
                    // when executed in the secure state.
                    let page_number = (ipa >> 12) + page;
                    let non_secure = page_number | (1 << 63);
                    core::arch::asm!("tlbi ipas2e1is, {}", in(reg) non_secure, options(nostack, preserves_flags));
                    if scope.secure {
                        core::arch::asm!("tlbi ipas2e1is, {}", in(reg) page_number, options(nostack, preserves_flags));
                    }
                }
                core::arch::asm!("dsb ish", "tlbi vmalle1is", options(nostack, preserves_flags));
            }
            core::arch::asm!("dsb ish", "isb", options(nostack, preserves_flags));
        }
        #[cfg(not(target_arch = "aarch64"))]
        let _ = (ipa, pages);
        crate::write_sysreg!("vttbr_el2", previous);
        #[cfg(target_arch = "aarch64")]
        // SAFETY: a barrier only.
        unsafe {
            core::arch::asm!("isb", options(nostack, preserves_flags))
        };
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

    const SCOPE: TlbScope = TlbScope { vmid: 1, secure: false };
    const SHARED: PageAccess = PageAccess { write: false, execute: false, non_secure: true };

    #[test]
    fn unmap_splits_a_block_and_translate_follows_the_tables() {
        let tables: Stage2<1, 1> = Stage2::new();
        // SAFETY: a host test: no guest runs with these tables.
        unsafe {
            tables.map(0x4000_0000, 0x4100_0000, 2 << 20, MemoryKind::Memory).unwrap();
            assert_eq!(tables.translate(0x4000_3000), Some((0x4100_3000, 509)));
            tables.unmap(0x4000_3000, 2 * 4096, SCOPE).unwrap();
            assert_eq!(tables.translate(0x4000_3000), None);
            assert_eq!(tables.translate(0x4000_4000), None);
            assert_eq!(tables.translate(0x4000_5000), Some((0x4100_5000, 1)));
            assert_eq!(tables.translate(0x4000_2000), Some((0x4100_2000, 1)));
            // The split pages keep the block's attributes.
            let page = entry(&tables.level3[0], 5);
            assert_eq!(page, 0x4100_5000 | PAGE | MemoryKind::Memory.attributes());
            // Unmapping what is not mapped changes nothing.
            assert_eq!(tables.unmap(0x4000_2000, 2 * 4096, SCOPE), Err(MapError::NotMapped));
            assert_eq!(tables.translate(0x4000_2000), Some((0x4100_2000, 1)));
            // Mapping back with pages, read-only and non-secure.
            tables.map_pages(0x4000_3000, 0x4100_3000, 4096, SHARED).unwrap();
            assert_eq!(entry(&tables.level3[0], 3), 0x4100_3000 | PAGE | SHARED.attributes());
            assert_ne!(SHARED.attributes() & NON_SECURE, 0);
            assert_eq!(SHARED.attributes() & READ_WRITE, READ_ONLY);
            assert_eq!(
                tables.map_pages(0x4000_5000, 0x4100_5000, 4096, SHARED),
                Err(MapError::Overlap)
            );
            // New pages elsewhere need a level-3 table of their own: this pool has no second.
            assert_eq!(
                tables.map_pages(0x4040_0000, 0x4240_0000, 4096, SHARED),
                Err(MapError::NoTables)
            );
            assert_eq!(tables.translate(0x4040_0000), None);
        }
    }
}
