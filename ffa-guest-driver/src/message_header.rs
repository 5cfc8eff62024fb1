//! Private wire layout of the FFA_MSG_SEND2 partition message header (20 or 40 bytes).
//!
//! Belongs in ffa-core's `indirect_message` module once that lands (another branch).

use zerocopy::little_endian::U32;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Reference §9, "Partition message header", v1.1 layout (20 bytes).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Debug, Clone, Copy, Default)]
#[repr(C)]
pub(crate) struct PartitionMessageHeaderV1_1 {
    pub(crate) flags: U32,
    pub(crate) reserved: U32,
    pub(crate) payload_offset: U32,
    /// `[31:16]` sender, `[15:0]` receiver.
    pub(crate) endpoints: U32,
    pub(crate) payload_size: U32,
}
const _: () = assert!(size_of::<PartitionMessageHeaderV1_1>() == 20);

/// Reference §9, the v1.2 layout (40 bytes): the v1.1 fields, a reserved word, a UUID.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Debug, Clone, Copy, Default)]
#[repr(C)]
pub(crate) struct PartitionMessageHeaderV1_2 {
    pub(crate) base: PartitionMessageHeaderV1_1,
    pub(crate) reserved: U32,
    pub(crate) uuid: [u8; 16],
}
const _: () = assert!(size_of::<PartitionMessageHeaderV1_2>() == 40);
