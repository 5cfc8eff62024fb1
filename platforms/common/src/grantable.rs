//! Which physical memory an SPMC may map for a partition: partition memory, or normal-world
//! memory; everything else (the SPMC's own, the monitor's, devices, secure memory no partition
//! owns) never. Also the one page of a test VM's RAM the VM may only read (and so may share
//! only read-only, and never have zeroed: matrix MM13), and its RAM cut around that page.

use core::ops::Range;

/// Where a range that may be mapped for a partition lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grantable {
    /// Wholly inside one partition's memory block (secure).
    PartitionMemory,
    /// Wholly inside normal-world memory (non-secure).
    NormalWorld,
}

/// Classifies `length` bytes at `start`: inside one of the blocks of `block_size` bytes at
/// `partition_blocks`, or inside `normal_world` (which must hold no secure memory). `None` for
/// anything else, an empty range, or one that wraps the address space.
pub fn classify(
    start: u64,
    length: u64,
    partition_blocks: impl IntoIterator<Item = u64>,
    block_size: u64,
    normal_world: &Range<u64>,
) -> Option<Grantable> {
    let end = start.checked_add(length)?;
    if length == 0 {
        return None;
    }
    let in_partition = partition_blocks
        .into_iter()
        .any(|base| start >= base && base.checked_add(block_size).is_some_and(|top| end <= top));
    if in_partition {
        return Some(Grantable::PartitionMemory);
    }
    (start >= normal_world.start && end <= normal_world.end).then_some(Grantable::NormalWorld)
}

/// Where in a test VM's RAM its read-only page is, in bytes from the RAM's start: the last
/// page of its 16 MiB (IPA 0x40FF_F000), which the test VM's image and the suite's pages never
/// reach (docs/src/memory-map.md). The hypervisor maps it read-only in the VM's stage-2 and
/// its ledger marks it read-only.
pub const GUEST_READ_ONLY_PAGE: u64 = (16 << 20) - 4096;

/// One piece of a VM's RAM, in 4 KiB pages: `page_count` pages from `base`, read-only or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RamPiece {
    pub base: u64,
    pub page_count: u32,
    pub read_only: bool,
}

/// `page_count` pages of RAM at `base` cut around the page `read_only_offset` bytes in (4 KiB
/// aligned): the pages before it, the page itself (read-only), the pages after it; empty
/// pieces are `None`. An offset outside the RAM (or unaligned) leaves it whole and writable.
pub fn around_read_only(
    base: u64,
    page_count: u32,
    read_only_offset: u64,
) -> [Option<RamPiece>; 3] {
    let page = read_only_offset / 4096;
    let whole = RamPiece { base, page_count, read_only: false };
    if !read_only_offset.is_multiple_of(4096) || page >= u64::from(page_count) {
        return [Some(whole), None, None];
    }
    // `page < page_count`, so both counts fit in u32.
    let before = page as u32;
    let after = page_count - before - 1;
    let piece = |base, page_count, read_only| {
        (page_count > 0).then_some(RamPiece { base, page_count, read_only })
    };
    [
        piece(base, before, false),
        piece(base + read_only_offset, 1, true),
        piece(base + read_only_offset + 4096, after, false),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLOCKS: [u64; 2] = [0x0E40_0000, 0x0E60_0000];
    const BLOCK: u64 = 2 << 20;
    const NORMAL_WORLD: Range<u64> = 0x4000_0000..0x8000_0000;

    fn place(start: u64, length: u64) -> Option<Grantable> {
        classify(start, length, BLOCKS, BLOCK, &NORMAL_WORLD)
    }

    #[test]
    fn partition_and_normal_world_memory_are_grantable() {
        assert_eq!(place(0x0E40_0000, 4096), Some(Grantable::PartitionMemory));
        assert_eq!(place(0x0E7F_F000, 4096), Some(Grantable::PartitionMemory));
        assert_eq!(place(0x4100_0000, 8 * 4096), Some(Grantable::NormalWorld));
        assert_eq!(place(0x7FFF_F000, 4096), Some(Grantable::NormalWorld));
    }

    #[test]
    fn the_spmc_devices_and_straddling_ranges_are_not() {
        // The SPMC's own image and the monitor's secure RAM.
        assert_eq!(place(0x0E10_0000, 4096), None);
        assert_eq!(place(0x0E00_0000, 4096), None);
        // The secure UART, and secure RAM above the partitions.
        assert_eq!(place(0x0904_0000, 4096), None);
        assert_eq!(place(0x0E80_0000, 4096), None);
        // A range that starts in a partition block and leaves it, and one leaving DRAM.
        assert_eq!(place(0x0E5F_F000, 2 * 4096), None);
        assert_eq!(place(0x7FFF_F000, 2 * 4096), None);
        assert_eq!(place(0x3FFF_F000, 2 * 4096), None);
        // Empty and wrapping ranges.
        assert_eq!(place(0x4100_0000, 0), None);
        assert_eq!(place(u64::MAX - 4095, 8192), None);
    }

    #[test]
    fn ram_is_cut_around_the_read_only_page() {
        let base = 0x4100_0000;
        let pages = 4096;
        let [before, page, after] = around_read_only(base, pages, GUEST_READ_ONLY_PAGE);
        assert_eq!(before, Some(RamPiece { base, page_count: 4095, read_only: false }));
        assert_eq!(page, Some(RamPiece { base: 0x41FF_F000, page_count: 1, read_only: true }));
        assert_eq!(after, None);
        let [before, page, after] = around_read_only(base, pages, 0);
        assert_eq!(before, None);
        assert_eq!(page, Some(RamPiece { base, page_count: 1, read_only: true }));
        assert_eq!(after, Some(RamPiece { base: base + 4096, page_count: 4095, read_only: false }));
        let [before, page, after] = around_read_only(base, pages, 0x8000);
        assert_eq!(before.map(|piece| piece.page_count), Some(8));
        assert_eq!(page.map(|piece| piece.base), Some(base + 0x8000));
        assert_eq!(after.map(|piece| (piece.base, piece.page_count)), Some((base + 0x9000, 4087)));
    }

    #[test]
    fn an_offset_outside_the_ram_or_unaligned_leaves_it_whole() {
        let whole = Some(RamPiece { base: 0x4100_0000, page_count: 16, read_only: false });
        assert_eq!(around_read_only(0x4100_0000, 16, 16 * 4096), [whole, None, None]);
        assert_eq!(around_read_only(0x4100_0000, 16, 0x800), [whole, None, None]);
        assert_eq!(around_read_only(0x4100_0000, 16, u64::MAX - 4095), [whole, None, None]);
    }
}
