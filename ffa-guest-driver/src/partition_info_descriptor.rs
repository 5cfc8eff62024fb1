//! Private wire layout of the partition information descriptor (8, 24 or 48 bytes).
//!
//! Belongs in ffa-core's `partition_info` module once that lands (it is being written on
//! another branch); kept private here so the driver does not fix its API.

use zerocopy::little_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Reference §4.3, "Partition information descriptor", v1.0 layout (8 bytes).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Debug, Clone, Copy)]
#[repr(C)]
pub(crate) struct PartitionInfoDescriptorV1_0 {
    pub(crate) partition_id: U16,
    pub(crate) execution_context_count: U16,
    pub(crate) properties: U32,
}
const _: () = assert!(size_of::<PartitionInfoDescriptorV1_0>() == 8);

/// Reference §4.3, the v1.1/v1.2 layout (24 bytes): the v1.0 fields and the UUID.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Debug, Clone, Copy)]
#[repr(C)]
pub(crate) struct PartitionInfoDescriptorV1_1 {
    pub(crate) base: PartitionInfoDescriptorV1_0,
    pub(crate) uuid: [u8; 16],
}
const _: () = assert!(size_of::<PartitionInfoDescriptorV1_1>() == 24);

/// Reference §4.3, the v1.3 layout (48 bytes): protocol UUID, image UUID, FF-A version.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Debug, Clone, Copy)]
#[repr(C)]
pub(crate) struct PartitionInfoDescriptorV1_3 {
    pub(crate) base: PartitionInfoDescriptorV1_1,
    pub(crate) image_uuid: [u8; 16],
    pub(crate) version: U32,
    pub(crate) reserved: U32,
}
const _: () = assert!(size_of::<PartitionInfoDescriptorV1_3>() == 48);

/// The fields one descriptor of `size` bytes carries; `None` if `bytes` is too short or the
/// size is below the v1.0 minimum. Larger sizes are read by their longest known prefix.
pub(crate) struct ParsedDescriptor {
    pub(crate) base: PartitionInfoDescriptorV1_0,
    pub(crate) uuid: Option<[u8; 16]>,
    pub(crate) image_uuid: Option<[u8; 16]>,
    pub(crate) version: Option<u32>,
}

pub(crate) fn parse(bytes: &[u8]) -> Option<ParsedDescriptor> {
    if let Ok((wide, _)) = PartitionInfoDescriptorV1_3::read_from_prefix(bytes) {
        return Some(ParsedDescriptor {
            base: wide.base.base,
            uuid: Some(wide.base.uuid),
            image_uuid: Some(wide.image_uuid),
            version: Some(wide.version.get()),
        });
    }
    if let Ok((middle, _)) = PartitionInfoDescriptorV1_1::read_from_prefix(bytes) {
        return Some(ParsedDescriptor {
            base: middle.base,
            uuid: Some(middle.uuid),
            image_uuid: None,
            version: None,
        });
    }
    let (base, _) = PartitionInfoDescriptorV1_0::read_from_prefix(bytes).ok()?;
    Some(ParsedDescriptor { base, uuid: None, image_uuid: None, version: None })
}
