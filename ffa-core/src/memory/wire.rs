//! Private little-endian wire layouts of the memory-management descriptors (reference §7.2-§7.8).

use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Memory transaction descriptor, v1.0 layout (reference §7.2, left column): 32 bytes.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Default, Debug)]
#[repr(C)]
pub(crate) struct TransactionDescriptorV1_0 {
    pub sender: U16,
    pub attributes: u8,
    pub reserved_3: u8,
    pub flags: U32,
    pub handle: U64,
    pub tag: U64,
    pub reserved_24: U32,
    pub access_descriptor_count: U32,
}
const _: () = assert!(size_of::<TransactionDescriptorV1_0>() == 32);

/// Memory transaction descriptor, v1.1+ layout (reference §7.2, right column): 48 bytes.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Default, Debug)]
#[repr(C)]
pub(crate) struct TransactionDescriptorV1_1 {
    pub sender: U16,
    pub attributes: U16,
    pub flags: U32,
    pub handle: U64,
    pub tag: U64,
    pub access_descriptor_size: U32,
    pub access_descriptor_count: U32,
    pub access_descriptor_offset: U32,
    pub reserved_36: [u8; 12],
}
const _: () = assert!(size_of::<TransactionDescriptorV1_1>() == 48);

/// Endpoint memory access descriptor, v1.0/v1.1 layout (reference §7.3): 16 bytes. The v1.2
/// layout is this followed by [`AccessDescriptorV1_2Tail`].
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Default, Debug)]
#[repr(C)]
pub(crate) struct AccessDescriptor {
    pub receiver: U16,
    pub permissions: u8,
    pub flags: u8,
    pub composite_offset: U32,
    /// Reserved (MBZ) in v1.0/v1.1; the first half of the implementation-defined value in v1.2.
    pub word_8: U64,
}
const _: () = assert!(size_of::<AccessDescriptor>() == 16);

/// The second 16 bytes of a v1.2 endpoint memory access descriptor (reference §7.3, offsets 16-31).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Default, Debug)]
#[repr(C)]
pub(crate) struct AccessDescriptorV1_2Tail {
    /// Second half of the implementation-defined value.
    pub impdef_high: U64,
    pub reserved_24: U64,
}
const _: () = assert!(size_of::<AccessDescriptorV1_2Tail>() == 16);

/// Composite memory region descriptor header (reference §7.4): 16 bytes.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Default, Debug)]
#[repr(C)]
pub(crate) struct CompositeDescriptor {
    pub total_page_count: U32,
    pub address_range_count: U32,
    pub reserved_8: U64,
}
const _: () = assert!(size_of::<CompositeDescriptor>() == 16);

/// Constituent memory region (address range) descriptor (reference §7.4): 16 bytes.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Default, Debug)]
#[repr(C)]
pub(crate) struct ConstituentDescriptor {
    pub address: U64,
    pub page_count: U32,
    pub reserved_12: U32,
}
const _: () = assert!(size_of::<ConstituentDescriptor>() == 16);

/// Memory relinquish descriptor header (reference §7.8, FFA_MEM_RELINQUISH row): 16 bytes,
/// followed by `endpoint_count` u16 endpoint IDs.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Default, Debug)]
#[repr(C)]
pub(crate) struct RelinquishDescriptor {
    pub handle: U64,
    pub flags: U32,
    pub endpoint_count: U32,
}
const _: () = assert!(size_of::<RelinquishDescriptor>() == 16);

/// Size of one composite or constituent descriptor, and the unit fragments are cut at.
pub(crate) const CONSTITUENT_SIZE: usize = 16;
