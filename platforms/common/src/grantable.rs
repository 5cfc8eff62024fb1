//! Which physical memory an SPMC may map for a partition: partition memory, or normal-world
//! memory; everything else (the SPMC's own, the monitor's, devices, secure memory no partition
//! owns) never.

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
}
