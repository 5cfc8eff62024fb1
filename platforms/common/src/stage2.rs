//! Stage-2 translation tables for one guest: what its intermediate addresses (IPAs) reach.
//!
//! 4 KiB granule, 32-bit IPA space starting at level 1 (a 64-byte root of four 1 GiB entries).
//! Memory is mapped with 2 MiB blocks where IPA, PA and size allow, else 4 KiB pages. The
//! level-2 and level-3 tables come from a fixed pool, so building never allocates; running out
//! of tables is an error, not a panic. [`Stage2`] has a pool of its own (`LEVEL2` level-2 and
//! `LEVEL3` level-3 tables); [`PooledStage2`] roots share a [`TablePool`] (the SPMC's
//! partitions), which is sized to what is mapped at once rather than to the most each guest
//! could map. Either way a table an unmap empties goes back to its pool.
//!
//! Memory sharing changes live tables: `map_pages` maps with explicit permissions (checking
//! first that every table it needs is there, so a failure maps nothing), `unmap` removes
//! pages (splitting a 2 MiB block into pages first, break-before-make) and `translate` walks
//! the tables. Removing a mapping invalidates the TLBs through [`TlbScope`], which names the
//! VMID (and secure or non-secure IPA space) the tables are used with; the invalidation itself
//! is in [`tlb`]. An emptied table is detached, and given back only after that invalidation.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

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
/// The IPA space the tables translate (T0SZ = 32).
const IPA_SPACE: u64 = 1 << 32;

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
    /// The VMID the tables run with (VTTBR_EL2 bits \[63:48\]).
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

/// One 4 KiB translation table (512 entries) at level 2 or 3.
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
        // SAFETY: the contract of the `unsafe` methods that change tables: nothing writes
        // them concurrently.
        unsafe { (*self.0.get())[index % ENTRIES] }
    }

    fn set(&self, index: usize, value: u64) {
        // SAFETY: the contract of the `unsafe` methods that change tables: no other CPU
        // changes them at the same time.
        unsafe { (*self.0.get())[index % ENTRIES] = value };
    }

    fn is_empty(&self) -> bool {
        (0..ENTRIES).all(|index| self.get(index) == 0)
    }
}

impl core::fmt::Debug for Table {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter.debug_struct("Table").field("address", &self.address()).finish()
    }
}

/// Entries of the level-1 table: one per GiB of the 4 GiB IPA space (T0SZ = 32).
const ROOT_ENTRIES: usize = 4;

/// The level-1 (root) table: four entries, 32 bytes. VTTBR_EL2/VSTTBR_EL2 need it aligned to
/// its size; 64 bytes is what a table base may always be aligned to.
#[repr(C, align(64))]
struct Root(UnsafeCell<[u64; ROOT_ENTRIES]>);

impl Root {
    const fn new() -> Self {
        Self(UnsafeCell::new([0; ROOT_ENTRIES]))
    }

    fn address(&self) -> u64 {
        self.0.get() as u64
    }

    fn get(&self, index: usize) -> u64 {
        // SAFETY: as for `Table::get`.
        unsafe { (*self.0.get())[index % ROOT_ENTRIES] }
    }

    fn set(&self, index: usize, value: u64) {
        // SAFETY: as for `Table::set`.
        unsafe { (*self.0.get())[index % ROOT_ENTRIES] = value };
    }
}

/// Which tables of an array are in use: one bit per table (at most 64 tables).
struct Allocation {
    used: AtomicU64,
    /// The most tables in use at once so far.
    peak: AtomicUsize,
}

impl Allocation {
    const fn new() -> Self {
        Self { used: AtomicU64::new(0), peak: AtomicUsize::new(0) }
    }

    fn in_use(&self) -> usize {
        self.used.load(Ordering::Relaxed).count_ones() as usize
    }

    fn free(&self, capacity: usize) -> usize {
        capacity - self.in_use()
    }

    /// Takes the first free table of `tables`, which must be empty (tables are returned empty).
    fn take<'t>(&self, tables: &'t [Table]) -> Result<&'t Table, MapError> {
        let used = self.used.load(Ordering::Relaxed);
        let index = (!used).trailing_zeros() as usize;
        let table = tables.get(index).ok_or(MapError::NoTables)?;
        self.used.store(used | (1 << index), Ordering::Relaxed);
        self.peak.fetch_max(self.in_use(), Ordering::Relaxed);
        Ok(table)
    }

    /// The table of `tables` at `address`, if it is one and in use.
    fn find<'t>(&self, tables: &'t [Table], address: u64) -> Option<&'t Table> {
        let first = tables.first()?.address();
        let index = usize::try_from(address.checked_sub(first)? / PAGE_SIZE).ok()?;
        let table = tables.get(index)?;
        let in_use = self.used.load(Ordering::Relaxed) & (1 << index) != 0;
        (in_use && table.address() == address).then_some(table)
    }

    /// Gives `table` (of `tables`, empty, no longer referenced or cached) back.
    fn give_back(&self, tables: &[Table], table: &Table) {
        let Some(first) = tables.first() else { return };
        let index = (table.address().wrapping_sub(first.address()) / PAGE_SIZE) as usize;
        if index < tables.len() {
            self.used.fetch_and(!(1 << index), Ordering::Relaxed);
        }
    }
}

/// Where a walk gets its level-2 and level-3 tables from.
trait TableSource {
    /// An empty table for `level` (2 or 3).
    fn allocate(&self, level: usize) -> Result<&Table, MapError>;
    /// The table for `level` at `address` that this source handed out.
    fn table_at(&self, address: u64, level: usize) -> Option<&Table>;
    /// Takes back an empty table that no entry points to and no TLB holds any more.
    fn release(&self, table: &Table, level: usize);
    /// Whether `level2` more level-2 and `level3` more level-3 tables can be allocated.
    fn can_allocate(&self, level2: usize, level3: usize) -> bool;
    /// Whether `table` is linked into more than one stage-2 (and so may not change).
    fn is_linked(&self, _table: &Table) -> bool {
        false
    }
}

/// Most tables for emptied regions an unmap holds before invalidating the TLBs and releasing
/// them (more only means more invalidations).
const PENDING_RELEASES: usize = 4;

/// One stage-2's tables walked: its root and where the tables below come from.
struct Walk<'t, S: TableSource> {
    root: &'t Root,
    source: &'t S,
}

impl<'t, S: TableSource> Walk<'t, S> {
    fn base(&self) -> u64 {
        self.root.address()
    }

    /// The level-2 table for the GiB holding `ipa`, created if missing.
    fn level2(&self, ipa: u64) -> Result<&'t Table, MapError> {
        let index = (ipa >> 30) as usize;
        let entry = self.root.get(index);
        if entry == 0 {
            let table = self.source.allocate(2)?;
            self.root.set(index, table.address() | TABLE);
            return Ok(table);
        }
        self.existing(entry, 2).ok_or(MapError::Overlap)
    }

    /// The level-3 table behind entry `index` of `level2`, created if the entry is empty.
    fn level3(&self, level2: &Table, index: usize) -> Result<&'t Table, MapError> {
        let entry = level2.get(index);
        if entry == 0 {
            let table = self.source.allocate(3)?;
            level2.set(index, table.address() | TABLE);
            return Ok(table);
        }
        let table = self.existing(entry, 3).ok_or(MapError::Overlap)?;
        if self.source.is_linked(table) {
            return Err(MapError::Overlap);
        }
        Ok(table)
    }

    /// Whether the 2 MiB region holding `ipa` translates through a linked table.
    fn region_linked(&self, ipa: u64) -> bool {
        self.existing(self.root.get((ipa >> 30) as usize), 2)
            .and_then(|level2| self.existing(level2.get(((ipa >> 21) & 511) as usize), 3))
            .is_some_and(|table| self.source.is_linked(table))
    }

    /// The table an existing table entry points to.
    fn existing(&self, entry: u64, level: usize) -> Option<&'t Table> {
        if entry & 0b11 != TABLE {
            return None;
        }
        self.source.table_at(entry & ADDRESS_MASK, level)
    }

    unsafe fn map(&self, ipa: u64, pa: u64, size: u64, kind: MemoryKind) -> Result<(), MapError> {
        if !(ipa | pa | size).is_multiple_of(PAGE_SIZE) {
            return Err(MapError::Unaligned);
        }
        let end = ipa.checked_add(size).ok_or(MapError::OutOfRange)?;
        if end > IPA_SPACE {
            return Err(MapError::OutOfRange);
        }
        let mut offset = 0;
        while offset < size {
            let (here, target) = (ipa + offset, pa + offset);
            let level2 = self.level2(here)?;
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
                let level3 = self.level3(level2, block_index)?;
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

    unsafe fn map_pages(
        &self,
        ipa: u64,
        pa: u64,
        size: u64,
        access: PageAccess,
    ) -> Result<(), MapError> {
        check_range(ipa, pa, size)?;
        // Check first, so a failure leaves nothing half mapped: no page may be mapped, and
        // every table the range needs must be available.
        let (mut level2_needed, mut level3_needed) = (0, 0);
        let mut offset = 0;
        while offset < size {
            let here = ipa + offset;
            match self.leaf(here) {
                Leaf::Page(..) | Leaf::Block(..) => return Err(MapError::Overlap),
                Leaf::Missing => {}
            }
            let region_start = here == ipa || here.is_multiple_of(BLOCK_SIZE);
            if region_start && self.region_linked(here) {
                return Err(MapError::Overlap);
            }
            if region_start {
                let level2 = self.existing(self.root.get((here >> 30) as usize), 2);
                let gib_start = here == ipa || here.is_multiple_of(1 << 30);
                if level2.is_none() && gib_start {
                    level2_needed += 1;
                }
                let has_level3 = level2.is_some_and(|level2| {
                    self.existing(level2.get(((here >> 21) & 511) as usize), 3).is_some()
                });
                if !has_level3 {
                    level3_needed += 1;
                }
            }
            offset += PAGE_SIZE;
        }
        if !self.source.can_allocate(level2_needed, level3_needed) {
            return Err(MapError::NoTables);
        }
        let mut offset = 0;
        while offset < size {
            let here = ipa + offset;
            let level2 = self.level2(here)?;
            let level3 = self.level3(level2, ((here >> 21) & 511) as usize)?;
            level3.set(((here >> 12) & 511) as usize, (pa + offset) | PAGE | access.attributes());
            offset += PAGE_SIZE;
        }
        tlb::publish();
        Ok(())
    }

    unsafe fn unmap(&self, ipa: u64, size: u64, scope: TlbScope) -> Result<(), MapError> {
        check_range(ipa, ipa, size)?;
        let mut splits = 0;
        let mut offset = 0;
        while offset < size {
            let here = ipa + offset;
            match self.leaf(here) {
                Leaf::Missing => return Err(MapError::NotMapped),
                Leaf::Block(..) if here == ipa || here.is_multiple_of(BLOCK_SIZE) => splits += 1,
                Leaf::Page(..)
                    if (here == ipa || here.is_multiple_of(BLOCK_SIZE))
                        && self.region_linked(here) =>
                {
                    return Err(MapError::Overlap)
                }
                _ => {}
            }
            offset += PAGE_SIZE;
        }
        if !self.source.can_allocate(0, splits) {
            return Err(MapError::NoTables);
        }
        let end = ipa + size;
        // Tables emptied by this unmap: detached now, given back once no TLB holds them.
        let mut pending: [Option<(&Table, usize)>; PENDING_RELEASES] = [None; PENDING_RELEASES];
        let mut pending_count = 0;
        let mut invalidated_to = ipa;
        let mut here = ipa;
        while here < end {
            let region_end = end.min((here | (BLOCK_SIZE - 1)) + 1);
            if let Leaf::Block(..) = self.leaf(here) {
                self.split(here, scope)?;
            }
            let level2 = self.level2(here)?;
            let block_index = ((here >> 21) & 511) as usize;
            let level3 = self.level3(level2, block_index)?;
            let mut page = here;
            while page < region_end {
                level3.set(((page >> 12) & 511) as usize, 0);
                page += PAGE_SIZE;
            }
            if level3.is_empty() {
                level2.set(block_index, 0);
                if let Some(slot) = pending.get_mut(pending_count) {
                    *slot = Some((level3, 3));
                    pending_count += 1;
                }
                if level2.is_empty() {
                    self.root.set((here >> 30) as usize, 0);
                    if let Some(slot) = pending.get_mut(pending_count) {
                        *slot = Some((level2, 2));
                        pending_count += 1;
                    }
                }
            }
            // Invalidate before the pending tables can be reused, at the latest when the list
            // could not take two more (a level-3 and a level-2 table).
            if pending_count + 2 > PENDING_RELEASES || region_end == end {
                tlb::invalidate(scope, self.base(), invalidated_to, region_end - invalidated_to);
                invalidated_to = region_end;
                for (table, level) in pending.iter_mut().filter_map(Option::take) {
                    self.source.release(table, level);
                }
                pending_count = 0;
            }
            here = region_end;
        }
        Ok(())
    }

    fn translate(&self, ipa: u64) -> Option<(u64, u64)> {
        match self.leaf(ipa) {
            Leaf::Block(entry) => {
                let offset = (ipa % BLOCK_SIZE) & !(PAGE_SIZE - 1);
                Some(((entry & ADDRESS_MASK) + offset, (BLOCK_SIZE - offset) / PAGE_SIZE))
            }
            Leaf::Page(entry) => Some((entry & ADDRESS_MASK, 1)),
            Leaf::Missing => None,
        }
    }

    /// The leaf entry translating `ipa`.
    fn leaf(&self, ipa: u64) -> Leaf {
        if ipa >= IPA_SPACE {
            return Leaf::Missing;
        }
        let Some(level2) = self.existing(self.root.get((ipa >> 30) as usize), 2) else {
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
        let level2 = self.level2(ipa)?;
        let index = ((ipa >> 21) & 511) as usize;
        let block = level2.get(index);
        let level3 = self.source.allocate(3)?;
        let base = block & ADDRESS_MASK;
        let attributes = block & ATTRIBUTE_MASK;
        for page in 0..ENTRIES {
            level3.set(page, (base + page as u64 * PAGE_SIZE) | PAGE | attributes);
        }
        level2.set(index, 0);
        tlb::invalidate(scope, self.base(), ipa & !(BLOCK_SIZE - 1), BLOCK_SIZE);
        level2.set(index, level3.address() | TABLE);
        tlb::publish();
        Ok(())
    }
}

fn check_range(ipa: u64, pa: u64, size: u64) -> Result<(), MapError> {
    if !(ipa | pa | size).is_multiple_of(PAGE_SIZE) {
        return Err(MapError::Unaligned);
    }
    let end = ipa.checked_add(size).ok_or(MapError::OutOfRange)?;
    if end > IPA_SPACE || pa.checked_add(size).is_none() {
        return Err(MapError::OutOfRange);
    }
    Ok(())
}

/// One guest's stage-2 tables with a pool of its own: room for `LEVEL2` level-2 tables (one
/// per GiB used) and `LEVEL3` level-3 tables (one per 2 MiB region mapped with pages), at
/// most 64 of each. A table emptied by `unmap` goes back to the pool.
pub struct Stage2<const LEVEL2: usize, const LEVEL3: usize> {
    root: Root,
    level2: [Table; LEVEL2],
    level3: [Table; LEVEL3],
    level2_used: Allocation,
    level3_used: Allocation,
}

// SAFETY: the tables are written only through the `unsafe` methods, whose contracts forbid
// concurrent changes; the MMU only reads them.
unsafe impl<const LEVEL2: usize, const LEVEL3: usize> Sync for Stage2<LEVEL2, LEVEL3> {}

impl<const LEVEL2: usize, const LEVEL3: usize> core::fmt::Debug for Stage2<LEVEL2, LEVEL3> {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter.debug_struct("Stage2").field("base", &self.base()).finish()
    }
}

impl<const LEVEL2: usize, const LEVEL3: usize> TableSource for Stage2<LEVEL2, LEVEL3> {
    fn allocate(&self, level: usize) -> Result<&Table, MapError> {
        match level {
            2 => self.level2_used.take(&self.level2),
            _ => self.level3_used.take(&self.level3),
        }
    }

    fn table_at(&self, address: u64, level: usize) -> Option<&Table> {
        match level {
            2 => self.level2_used.find(&self.level2, address),
            _ => self.level3_used.find(&self.level3, address),
        }
    }

    fn release(&self, table: &Table, level: usize) {
        match level {
            2 => self.level2_used.give_back(&self.level2, table),
            _ => self.level3_used.give_back(&self.level3, table),
        }
    }

    fn can_allocate(&self, level2: usize, level3: usize) -> bool {
        self.level2_used.free(LEVEL2) >= level2 && self.level3_used.free(LEVEL3) >= level3
    }
}

impl<const LEVEL2: usize, const LEVEL3: usize> Stage2<LEVEL2, LEVEL3> {
    const FITS: () = assert!(LEVEL2 <= 64 && LEVEL3 <= 64, "at most 64 tables per level");

    /// Empty tables (usable in a `static`).
    pub const fn new() -> Self {
        #[allow(clippy::let_unit_value, reason = "evaluates the capacity check")]
        let () = Self::FITS;
        Self {
            root: Root::new(),
            level2: [const { Table::new() }; LEVEL2],
            level3: [const { Table::new() }; LEVEL3],
            level2_used: Allocation::new(),
            level3_used: Allocation::new(),
        }
    }

    fn walk(&self) -> Walk<'_, Self> {
        Walk { root: &self.root, source: self }
    }

    /// The level-1 table's address, for VTTBR_EL2/VSTTBR_EL2.
    pub fn base(&self) -> u64 {
        self.root.address()
    }

    /// Maps `size` bytes at `ipa` to `pa`, with 2 MiB blocks where IPA, PA and size allow.
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
        // SAFETY: forwarded from this function's contract.
        unsafe { self.walk().map(ipa, pa, size, kind) }
    }

    /// Maps `size` bytes at `ipa` to `pa` with 4 KiB pages and `access` (memory shared with
    /// or lent to the guest, or given back to its owner). Never uses blocks, so each page can
    /// be unmapped on its own later. On any error nothing is mapped.
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
        // SAFETY: forwarded from this function's contract.
        unsafe { self.walk().map_pages(ipa, pa, size, access) }
    }

    /// Removes the pages of `size` bytes at `ipa`, splitting a 2 MiB block that holds some of
    /// them into pages first, invalidates the TLB entries of `scope` for them, and gives
    /// tables left empty back. Every page must be mapped (else [`MapError::NotMapped`] and
    /// nothing changes).
    ///
    /// # Safety
    /// As for [`Self::map_pages`]; `scope` must be the VMID and IPA space these tables are
    /// used with, so that no CPU keeps a translation of a removed page.
    pub unsafe fn unmap(&self, ipa: u64, size: u64, scope: TlbScope) -> Result<(), MapError> {
        // SAFETY: forwarded from this function's contract.
        unsafe { self.walk().unmap(ipa, size, scope) }
    }

    /// Where the page at `ipa` leads: its physical address, and how many pages from there
    /// are mapped to consecutive physical pages within the same leaf entry.
    pub fn translate(&self, ipa: u64) -> Option<(u64, u64)> {
        self.walk().translate(ipa)
    }
}

/// The tables of a [`TablePool`]: `TABLES` 4 KiB tables and nothing else, so that a `static`
/// of them is exactly `TABLES` pages (the pool's bookkeeping is elsewhere).
pub struct PoolTables<const TABLES: usize>([Table; TABLES]);

// SAFETY: the tables are reached only through a `TablePool`, whose users' contracts forbid
// concurrent changes.
unsafe impl<const TABLES: usize> Sync for PoolTables<TABLES> {}

impl<const TABLES: usize> core::fmt::Debug for PoolTables<TABLES> {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter.debug_struct("PoolTables").field("tables", &TABLES).finish()
    }
}

impl<const TABLES: usize> PoolTables<TABLES> {
    const FITS: () = assert!(TABLES <= 64, "at most 64 tables in a pool");

    /// Empty tables (usable in a `static`).
    pub const fn new() -> Self {
        #[allow(clippy::let_unit_value, reason = "evaluates the capacity check")]
        let () = Self::FITS;
        Self([const { Table::new() }; TABLES])
    }
}

impl<const TABLES: usize> Default for PoolTables<TABLES> {
    fn default() -> Self {
        Self::new()
    }
}

/// Level-2 and level-3 tables shared by several guests' [`PooledStage2`] roots (at most 64):
/// each takes a table when it first maps into a GiB or a 2 MiB region and gives it back when
/// an unmap leaves it empty, so the pool is sized to what is mapped at once, not to the most
/// every guest could map. A table can also be linked into several guests' stage-2s
/// ([`PooledStage2::link_region`]); such a table is never changed or released again.
pub struct TablePool<'t> {
    tables: &'t [Table],
    used: Allocation,
    /// Tables linked into more than one stage-2 (one bit per table).
    linked: AtomicU64,
}

// SAFETY: as for `Stage2`: the tables change only through `PooledStage2`'s `unsafe` methods,
// whose contracts forbid concurrent changes to any stage-2 using the pool.
unsafe impl Sync for TablePool<'_> {}

impl core::fmt::Debug for TablePool<'_> {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter
            .debug_struct("TablePool")
            .field("tables", &self.capacity())
            .field("in_use", &self.in_use())
            .field("peak", &self.peak())
            .finish()
    }
}

impl TableSource for TablePool<'_> {
    fn allocate(&self, _level: usize) -> Result<&Table, MapError> {
        self.used.take(self.tables)
    }

    fn table_at(&self, address: u64, _level: usize) -> Option<&Table> {
        self.used.find(self.tables, address)
    }

    fn release(&self, table: &Table, _level: usize) {
        if !self.is_linked(table) {
            self.used.give_back(self.tables, table);
        }
    }

    fn can_allocate(&self, level2: usize, level3: usize) -> bool {
        self.used.free(self.capacity()) >= level2 + level3
    }

    fn is_linked(&self, table: &Table) -> bool {
        self.index_of(table)
            .is_some_and(|index| self.linked.load(Ordering::Relaxed) & (1 << index) != 0)
    }
}

impl<'t> TablePool<'t> {
    /// A pool of `tables`, none in use (usable in a `static`).
    pub const fn new<const TABLES: usize>(tables: &'t PoolTables<TABLES>) -> Self {
        Self { tables: &tables.0, used: Allocation::new(), linked: AtomicU64::new(0) }
    }

    /// How many tables the pool has.
    pub fn capacity(&self) -> usize {
        self.tables.len()
    }

    /// Tables in use now.
    pub fn in_use(&self) -> usize {
        self.used.in_use()
    }

    /// The most tables that were in use at once.
    pub fn peak(&self) -> usize {
        self.used.peak.load(Ordering::Relaxed)
    }

    fn index_of(&self, table: &Table) -> Option<usize> {
        let first = self.tables.first()?.address();
        let index = (table.address().checked_sub(first)? / PAGE_SIZE) as usize;
        (index < self.tables.len()).then_some(index)
    }
}

/// One guest's stage-2 root, with its level-2 and level-3 tables from a [`TablePool`] it
/// shares with other guests. Every call must name the same pool.
pub struct PooledStage2 {
    root: Root,
}

// SAFETY: as for `Stage2`.
unsafe impl Sync for PooledStage2 {}

impl core::fmt::Debug for PooledStage2 {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter.debug_struct("PooledStage2").field("base", &self.base()).finish()
    }
}

impl Default for PooledStage2 {
    fn default() -> Self {
        Self::new()
    }
}

impl PooledStage2 {
    /// Nothing mapped (usable in a `static`).
    pub const fn new() -> Self {
        Self { root: Root::new() }
    }

    fn walk<'w>(&'w self, pool: &'w TablePool<'w>) -> Walk<'w, TablePool<'w>> {
        Walk { root: &self.root, source: pool }
    }

    /// The level-1 table's address, for VTTBR_EL2/VSTTBR_EL2.
    pub fn base(&self) -> u64 {
        self.root.address()
    }

    /// As [`Stage2::map`], with tables from `pool`.
    ///
    /// # Safety
    /// As for [`Stage2::map`]; besides, no other CPU may change any stage-2 that uses `pool`
    /// at the same time.
    pub unsafe fn map(
        &self,
        pool: &TablePool<'_>,
        ipa: u64,
        pa: u64,
        size: u64,
        kind: MemoryKind,
    ) -> Result<(), MapError> {
        // SAFETY: forwarded from this function's contract.
        unsafe { self.walk(pool).map(ipa, pa, size, kind) }
    }

    /// As [`Stage2::map_pages`], with tables from `pool`.
    ///
    /// # Safety
    /// As for [`Stage2::map_pages`]; besides, no other CPU may change any stage-2 that uses
    /// `pool` at the same time.
    pub unsafe fn map_pages(
        &self,
        pool: &TablePool<'_>,
        ipa: u64,
        pa: u64,
        size: u64,
        access: PageAccess,
    ) -> Result<(), MapError> {
        // SAFETY: forwarded from this function's contract.
        unsafe { self.walk(pool).map_pages(ipa, pa, size, access) }
    }

    /// As [`Stage2::unmap`]; emptied tables go back to `pool`.
    ///
    /// # Safety
    /// As for [`Stage2::unmap`]; besides, no other CPU may change any stage-2 that uses
    /// `pool` at the same time.
    pub unsafe fn unmap(
        &self,
        pool: &TablePool<'_>,
        ipa: u64,
        size: u64,
        scope: TlbScope,
    ) -> Result<(), MapError> {
        // SAFETY: forwarded from this function's contract.
        unsafe { self.walk(pool).unmap(ipa, size, scope) }
    }

    /// As [`Stage2::translate`].
    pub fn translate(&self, pool: &TablePool<'_>, ipa: u64) -> Option<(u64, u64)> {
        self.walk(pool).translate(ipa)
    }

    /// Makes the 2 MiB region holding `ipa` translate through `other`'s level-3 table for it
    /// (the same pages, one table for both: for a device page every guest maps alike). The
    /// table is never changed or released again: mapping or unmapping pages in that region
    /// of either stage-2 is refused ([`MapError::Overlap`]). `other` must map the region with
    /// pages, and this stage-2 nothing in it.
    ///
    /// # Safety
    /// As for [`Self::map`]: no guest may be running with this stage-2, and no other CPU may
    /// change any stage-2 that uses `pool`. Linking gives this guest what `other` has there.
    pub unsafe fn link_region(
        &self,
        pool: &TablePool<'_>,
        other: &PooledStage2,
        ipa: u64,
    ) -> Result<(), MapError> {
        if ipa >= IPA_SPACE {
            return Err(MapError::OutOfRange);
        }
        let theirs = other.walk(pool);
        let index = ((ipa >> 21) & 511) as usize;
        let their_level2 =
            theirs.existing(other.root.get((ipa >> 30) as usize), 2).ok_or(MapError::NotMapped)?;
        let entry = their_level2.get(index);
        let table = theirs.existing(entry, 3).ok_or(MapError::NotMapped)?;
        let walk = self.walk(pool);
        let level2 = walk.level2(ipa)?;
        if level2.get(index) != 0 {
            return Err(MapError::Overlap);
        }
        if let Some(bit) = pool.index_of(table) {
            pool.linked.fetch_or(1 << bit, Ordering::Relaxed);
        }
        level2.set(index, entry);
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
    /// For the operations this CPU's VTTBR_EL2 (and, for a secure scope, VSTTBR_EL2) select
    /// the scope's VMID and the tables at `base`, so that a speculative walk meanwhile can only
    /// fill entries the tables themselves give; the previous values are put back afterwards.
    pub fn invalidate(scope: TlbScope, base: u64, ipa: u64, size: u64) {
        let previous = crate::read_sysreg!("vttbr_el2");
        // VSTTBR_EL2 exists only with FEAT_SEL2, in the secure state.
        let previous_secure = if scope.secure { crate::read_sysreg!("s3_4_c2_c6_0") } else { 0 };
        crate::write_sysreg!("vttbr_el2", (u64::from(scope.vmid) << 48) | base);
        if scope.secure {
            crate::write_sysreg!("s3_4_c2_c6_0", base);
        }
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
        if scope.secure {
            crate::write_sysreg!("s3_4_c2_c6_0", previous_secure);
        }
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
        let gib1 = tables.root.get(1);
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

    #[test]
    fn a_failed_map_leaves_nothing_mapped_and_emptied_tables_go_back() {
        let tables: Stage2<1, 2> = Stage2::new();
        // SAFETY: a host test: no guest runs with these tables.
        unsafe {
            // Three 2 MiB regions need three level-3 tables; there are two: nothing is mapped.
            assert_eq!(
                tables.map_pages(0x4000_0000, 0x4000_0000, 5 << 20, SHARED),
                Err(MapError::NoTables)
            );
            assert_eq!(tables.translate(0x4000_0000), None);
            assert_eq!(tables.level3_used.in_use(), 0);
            assert_eq!(tables.level2_used.in_use(), 0);
            // Two regions fit; unmapping one region's pages gives its table back.
            tables.map_pages(0x401F_F000, 0x401F_F000, 2 * 4096, SHARED).unwrap();
            assert_eq!(tables.level3_used.in_use(), 2);
            tables.unmap(0x4020_0000, 4096, SCOPE).unwrap();
            assert_eq!(tables.level3_used.in_use(), 1);
            assert_eq!(tables.translate(0x401F_F000), Some((0x401F_F000, 1)));
            // The last page of the GiB gone, the level-2 table goes back as well.
            tables.unmap(0x401F_F000, 4096, SCOPE).unwrap();
            assert_eq!((tables.level2_used.in_use(), tables.level3_used.in_use()), (0, 0));
            assert_eq!(tables.root.get(1), 0);
            // And the tables can be taken again (empty).
            tables.map_pages(0x4060_0000, 0x4060_0000, 4096, SHARED).unwrap();
            assert_eq!(tables.translate(0x4060_0000), Some((0x4060_0000, 1)));
            assert_eq!(tables.translate(0x4020_0000), None);
            assert_eq!(tables.level3_used.peak.load(Ordering::Relaxed), 2);
        }
    }

    #[test]
    fn guests_share_a_pool_and_return_what_they_no_longer_use() {
        let tables: PoolTables<4> = PoolTables::new();
        let pool = TablePool::new(&tables);
        let first = PooledStage2::new();
        let second = PooledStage2::new();
        // SAFETY: a host test: no guest runs with these tables.
        unsafe {
            // Block-mapped memory: one level-2 table, no level-3 table.
            first.map(&pool, 0x0E40_0000, 0x0E40_0000, 2 << 20, MemoryKind::Memory).unwrap();
            assert_eq!(pool.in_use(), 1);
            second.map(&pool, 0x0E60_0000, 0x0E60_0000, 2 << 20, MemoryKind::Memory).unwrap();
            assert_eq!(pool.in_use(), 2);
            // The second guest borrows a page of normal-world memory: a level-2 and a level-3.
            second.map_pages(&pool, 0x4100_0000, 0x4100_0000, 4096, SHARED).unwrap();
            assert_eq!(pool.in_use(), 4);
            assert_eq!(second.translate(&pool, 0x4100_0000), Some((0x4100_0000, 1)));
            assert_eq!(first.translate(&pool, 0x4100_0000), None);
            // The pool is used up: the first guest can neither borrow nor have its block split.
            assert_eq!(
                first.map_pages(&pool, 0x4200_0000, 0x4200_0000, 4096, SHARED),
                Err(MapError::NoTables)
            );
            assert_eq!(first.unmap(&pool, 0x0E40_1000, 4096, SCOPE), Err(MapError::NoTables));
            assert_eq!(first.translate(&pool, 0x0E40_1000), Some((0x0E40_1000, 511)));
            // The second guest gives the page back; its two tables return to the pool.
            second.unmap(&pool, 0x4100_0000, 4096, SCOPE).unwrap();
            assert_eq!(pool.in_use(), 2);
            assert_eq!(pool.peak(), 4);
            first.unmap(&pool, 0x0E40_1000, 4096, SCOPE).unwrap();
            assert_eq!(pool.in_use(), 3);
            assert_eq!(first.translate(&pool, 0x0E40_1000), None);
            assert_eq!(first.translate(&pool, 0x0E40_2000), Some((0x0E40_2000, 1)));
            assert_eq!(second.translate(&pool, 0x0E60_1000), Some((0x0E60_1000, 511)));
        }
    }

    #[test]
    fn a_linked_region_is_one_table_that_neither_guest_changes() {
        let tables: PoolTables<3> = PoolTables::new();
        let pool = TablePool::new(&tables);
        let first = PooledStage2::new();
        let second = PooledStage2::new();
        // SAFETY: a host test: no guest runs with these tables.
        unsafe {
            first.map(&pool, 0x0904_0000, 0x0904_0000, 4096, MemoryKind::Device).unwrap();
            assert_eq!(pool.in_use(), 2);
            assert_eq!(second.link_region(&pool, &first, 0x0900_0000), Ok(()));
            // The second guest's level-2 table only: the level-3 table is the first one's.
            assert_eq!(pool.in_use(), 3);
            assert_eq!(second.translate(&pool, 0x0904_0000), Some((0x0904_0000, 1)));
            assert_eq!(second.translate(&pool, 0x0905_0000), None);
            assert_eq!(
                second.link_region(&pool, &first, 0x0904_0000),
                Err(MapError::Overlap),
                "linked once"
            );
            assert_eq!(
                second.link_region(&pool, &first, 0x4000_0000),
                Err(MapError::NotMapped),
                "nothing to link"
            );
            // Neither side may change the linked table, and nothing is released.
            assert_eq!(
                second.map_pages(&pool, 0x0905_0000, 0x0905_0000, 4096, SHARED),
                Err(MapError::Overlap)
            );
            assert_eq!(first.unmap(&pool, 0x0904_0000, 4096, SCOPE), Err(MapError::Overlap));
            assert_eq!(
                first.map(&pool, 0x0905_0000, 0x0905_0000, 4096, MemoryKind::Device),
                Err(MapError::Overlap)
            );
            assert_eq!(first.translate(&pool, 0x0904_0000), Some((0x0904_0000, 1)));
            assert_eq!(pool.in_use(), 3);
        }
    }

    #[test]
    fn a_long_unmap_releases_more_tables_than_it_holds_pending() {
        let tables: Stage2<2, 8> = Stage2::new();
        // SAFETY: a host test: no guest runs with these tables.
        unsafe {
            // Eight regions across two GiBs, each with pages mapped.
            tables.map_pages(0x3FA0_0000, 0x3FA0_0000, 12 << 20, SHARED).unwrap();
            assert_eq!((tables.level2_used.in_use(), tables.level3_used.in_use()), (2, 6));
            tables.map_pages(0x4100_0000, 0x4100_0000, 4 << 20, SHARED).unwrap();
            assert_eq!(tables.level3_used.in_use(), 8);
            tables.unmap(0x3FA0_0000, 12 << 20, SCOPE).unwrap();
            assert_eq!((tables.level2_used.in_use(), tables.level3_used.in_use()), (1, 2));
            assert_eq!(tables.root.get(0), 0);
            tables.unmap(0x4100_0000, 4 << 20, SCOPE).unwrap();
            assert_eq!((tables.level2_used.in_use(), tables.level3_used.in_use()), (0, 0));
        }
    }

    #[test]
    fn twelve_tables_hold_three_partitions_a_256_page_share_and_a_300_range_share() {
        // The SPMC's layout: three partitions with a 2 MiB block each and the log UART, whose
        // region's level-3 table the first one maps and the others link.
        let tables: PoolTables<12> = PoolTables::new();
        let pool = TablePool::new(&tables);
        let partitions = [PooledStage2::new(), PooledStage2::new(), PooledStage2::new()];
        let (first, rest) = partitions.split_first().unwrap();
        // SAFETY: a host test: no guest runs with these tables.
        unsafe {
            for (index, partition) in partitions.iter().enumerate() {
                let block = 0x0E40_0000 + index as u64 * (2 << 20);
                partition.map(&pool, block, block, 2 << 20, MemoryKind::Memory).unwrap();
            }
            first.map(&pool, 0x0904_0000, 0x0904_0000, 4096, MemoryKind::Device).unwrap();
            for partition in rest {
                partition.link_region(&pool, first, 0x0904_0000).unwrap();
            }
            assert_eq!(pool.in_use(), 4);
            // 256 pages (1 MiB) across a 2 MiB boundary: a level-2 and two level-3 tables.
            first.map_pages(&pool, 0x4118_0000, 0x4118_0000, 256 * 4096, SHARED).unwrap();
            assert_eq!(pool.in_use(), 7);
            // 300 separate pages, every other one over 2.4 MiB: a level-2, three level-3.
            let pages = || (0..300u64).map(|page| 0x411C_0000 + 2 * page * 4096);
            for address in pages() {
                rest[0].map_pages(&pool, address, address, 4096, SHARED).unwrap();
            }
            assert_eq!(pool.in_use(), 11);
            // A lender's block split takes the last one.
            rest[1].unmap(&pool, 0x0E80_0000, 4096, SCOPE).unwrap();
            assert_eq!(pool.in_use(), 12);
            for address in pages() {
                rest[0].unmap(&pool, address, 4096, SCOPE).unwrap();
            }
            first.unmap(&pool, 0x4118_0000, 256 * 4096, SCOPE).unwrap();
            assert_eq!(pool.in_use(), 5);
            assert_eq!(first.translate(&pool, 0x0904_0000), Some((0x0904_0000, 1)));
            assert_eq!(rest[1].translate(&pool, 0x0904_0000), Some((0x0904_0000, 1)));
        }
    }
}
