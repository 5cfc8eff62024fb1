//! Partition discovery: info descriptors (8/24/48 bytes), properties, GET flags and GET_REGS packing.

use crate::FfaError;

bitflags::bitflags! {
    /// FFA_PARTITION_INFO_GET `w5` (v1.1+); `[31:1]` MBZ, and all of it MBZ in v1.0.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct PartitionInfoGetFlags: u32 {
        /// Return only the count; do not write descriptors to the RX buffer.
        const COUNT_ONLY = 1 << 0;
    }
}
