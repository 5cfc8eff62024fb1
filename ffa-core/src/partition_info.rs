//! Partition discovery: info descriptors (8/24/48 bytes), properties, GET flags and GET_REGS packing.

use crate::{EndpointId, FfaError, SuccessArgs, Uuid, Version};
use zerocopy::little_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

bitflags::bitflags! {
    /// FFA_PARTITION_INFO_GET `w5` (v1.1+); `[31:1]` MBZ, and all of it MBZ in v1.0.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct PartitionInfoGetFlags: u32 {
        /// Return only the count; do not write descriptors to the RX buffer.
        const COUNT_ONLY = 1 << 0;
    }
}

bitflags::bitflags! {
    /// Partition properties bits (reference §4.3), without the `[5:4]` ID-type field.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct PartitionPropertyFlags: u32 {
        /// 0: receives FFA_MSG_SEND_DIRECT_REQ.
        const DIRECT_REQUEST_RECEIVE = 1 << 0;
        /// 1: sends FFA_MSG_SEND_DIRECT_REQ.
        const DIRECT_REQUEST_SEND = 1 << 1;
        /// 2: sends and receives indirect messages.
        const INDIRECT_MESSAGES = 1 << 2;
        /// 3 (v1.1): receives notifications.
        const NOTIFICATIONS = 1 << 3;
        /// 6 (v1.1): wants VM-created messages.
        const VM_CREATED_MESSAGES = 1 << 6;
        /// 7 (v1.1): wants VM-destroyed messages.
        const VM_DESTROYED_MESSAGES = 1 << 7;
        /// 8 (v1.1): AArch64 (clear: AArch32).
        const AARCH64 = 1 << 8;
        /// 9 (v1.2): receives FFA_MSG_SEND_DIRECT_REQ2.
        const DIRECT_REQUEST2_RECEIVE = 1 << 9;
        /// 10 (v1.2): sends FFA_MSG_SEND_DIRECT_REQ2.
        const DIRECT_REQUEST2_SEND = 1 << 10;
        /// 11 (v1.3): supports live activation.
        const LIVE_ACTIVATION = 1 << 11;
        /// 12 (v1.3): needs CPU rendezvous for live activation.
        const LIVE_ACTIVATION_RENDEZVOUS = 1 << 12;
    }
}

/// Properties `[5:4]` (v1.1): what the partition ID names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PartitionIdType {
    /// 00: a PE endpoint.
    PeEndpoint,
    /// 01: SEPID of an independent peripheral device.
    IndependentPeripheral,
    /// 10: SEPID of a dependent peripheral device (the count field is a proxy ID).
    DependentPeripheral,
    /// 11: an auxiliary ID.
    Auxiliary,
}

/// The partition properties word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PartitionProperties {
    /// Single-bit properties.
    pub flags: PartitionPropertyFlags,
    /// ID type.
    pub id_type: PartitionIdType,
}

impl PartitionProperties {
    /// The flags defined at `version` (v1.0: bits `[2:0]`; v1.1: up to 8; v1.2: up to 10).
    pub fn defined_at(version: Version) -> PartitionPropertyFlags {
        let mask = if version >= Version::V1_3 {
            0x1FFF
        } else if version >= Version::V1_2 {
            0x7FF
        } else if version >= Version::V1_1 {
            0x1FF
        } else {
            0x7
        };
        PartitionPropertyFlags::from_bits_truncate(mask)
    }

    /// The word.
    pub const fn to_word(self) -> u32 {
        let id_type = match self.id_type {
            PartitionIdType::PeEndpoint => 0,
            PartitionIdType::IndependentPeripheral => 1,
            PartitionIdType::DependentPeripheral => 2,
            PartitionIdType::Auxiliary => 3,
        };
        self.flags.bits() | id_type << 4
    }

    /// What a caller at `version` is shown: newer bits and (v1.0) the ID type dropped.
    pub fn restricted_to(self, version: Version) -> Self {
        let id_type =
            if version >= Version::V1_1 { self.id_type } else { PartitionIdType::PeEndpoint };
        Self { flags: self.flags & Self::defined_at(version), id_type }
    }

    /// Parses a word from a peer at `version`; bits not defined there are INVALID_PARAMETERS.
    pub fn from_word(word: u32, version: Version) -> Result<Self, FfaError> {
        let id_type = match (word >> 4) & 3 {
            0 => PartitionIdType::PeEndpoint,
            1 => PartitionIdType::IndependentPeripheral,
            2 => PartitionIdType::DependentPeripheral,
            _ => PartitionIdType::Auxiliary,
        };
        if version < Version::V1_1 && id_type != PartitionIdType::PeEndpoint {
            return Err(FfaError::InvalidParameters);
        }
        let flags = PartitionPropertyFlags::from_bits(word & !0x30)
            .filter(|flags| Self::defined_at(version).contains(*flags))
            .ok_or(FfaError::InvalidParameters)?;
        Ok(Self { flags, id_type })
    }
}

/// One partition's information.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PartitionInfo {
    /// Partition ID.
    pub id: EndpointId,
    /// Execution-context count (or proxy ID for dependent peripherals).
    pub execution_context_count: u16,
    /// Properties.
    pub properties: PartitionProperties,
    /// (Protocol) UUID, v1.1+; Nil unless the Nil UUID was queried.
    pub uuid: Uuid,
    /// Image UUID (48-byte form only).
    pub image_uuid: Uuid,
    /// The partition's FF-A version (48-byte form only; v1.0 in smaller forms).
    pub ffa_version: Version,
}

/// Table "Partition information descriptor", v1.0 (8 bytes).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct PartitionInfoDescriptorV1_0 {
    id: U16,
    execution_context_count: U16,
    properties: U32,
}
const _: () = assert!(size_of::<PartitionInfoDescriptorV1_0>() == 8);

/// Table "Partition information descriptor", v1.1/v1.2 (24 bytes).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct PartitionInfoDescriptorV1_1 {
    base: PartitionInfoDescriptorV1_0,
    uuid: [u8; 16],
}
const _: () = assert!(size_of::<PartitionInfoDescriptorV1_1>() == 24);

/// Table "Partition information descriptor", v1.3 (48 bytes).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct PartitionInfoDescriptorV1_3 {
    base: PartitionInfoDescriptorV1_0,
    uuid: [u8; 16],
    image_uuid: [u8; 16],
    ffa_version: U32,
    reserved: U32,
}
const _: () = assert!(size_of::<PartitionInfoDescriptorV1_3>() == 48);

/// The descriptor size a caller at `version` receives: 8 (v1.0), 24 (v1.1, v1.2), 48 (v1.3).
pub const fn descriptor_size(version: Version) -> usize {
    if version.major() == 1 && version.minor() == 0 {
        8
    } else if version.major() == 1 && version.minor() < 3 {
        24
    } else {
        48
    }
}

impl PartitionInfo {
    fn base(&self, version: Version) -> PartitionInfoDescriptorV1_0 {
        PartitionInfoDescriptorV1_0 {
            id: self.id.0.into(),
            execution_context_count: self.execution_context_count.into(),
            properties: self.properties.restricted_to(version).to_word().into(),
        }
    }

    fn from_base(base: &PartitionInfoDescriptorV1_0, version: Version) -> Result<Self, FfaError> {
        Ok(Self {
            id: EndpointId(base.id.get()),
            execution_context_count: base.execution_context_count.get(),
            properties: PartitionProperties::from_word(base.properties.get(), version)?,
            uuid: Uuid::NIL,
            image_uuid: Uuid::NIL,
            ffa_version: Version::V1_0,
        })
    }

    /// Writes this descriptor in the form for `version` at the start of `output`; returns the
    /// bytes written, NO_MEMORY if `output` is too short.
    pub fn write(&self, version: Version, output: &mut [u8]) -> Result<usize, FfaError> {
        let size = descriptor_size(version);
        let target = output.get_mut(..size).ok_or(FfaError::NoMemory)?;
        let base = self.base(version);
        let written = match size {
            8 => base.write_to(target).is_ok(),
            24 => PartitionInfoDescriptorV1_1 { base, uuid: self.uuid.0 }.write_to(target).is_ok(),
            _ => PartitionInfoDescriptorV1_3 {
                base,
                uuid: self.uuid.0,
                image_uuid: self.image_uuid.0,
                ffa_version: self.ffa_version.to_word().into(),
                reserved: 0.into(),
            }
            .write_to(target)
            .is_ok(),
        };
        if !written {
            return Err(FfaError::NoMemory);
        }
        Ok(size)
    }

    /// Reads one descriptor of the form for `version`; reserved bits set are INVALID_PARAMETERS.
    pub fn read(bytes: &[u8], version: Version) -> Result<Self, FfaError> {
        match descriptor_size(version) {
            8 => {
                let (wire, _) = PartitionInfoDescriptorV1_0::ref_from_prefix(bytes)
                    .map_err(|_| FfaError::InvalidParameters)?;
                Self::from_base(wire, version)
            }
            24 => {
                let (wire, _) = PartitionInfoDescriptorV1_1::ref_from_prefix(bytes)
                    .map_err(|_| FfaError::InvalidParameters)?;
                Ok(Self { uuid: Uuid(wire.uuid), ..Self::from_base(&wire.base, version)? })
            }
            _ => {
                let (wire, _) = PartitionInfoDescriptorV1_3::ref_from_prefix(bytes)
                    .map_err(|_| FfaError::InvalidParameters)?;
                if wire.reserved.get() != 0 {
                    return Err(FfaError::InvalidParameters);
                }
                Ok(Self {
                    uuid: Uuid(wire.uuid),
                    image_uuid: Uuid(wire.image_uuid),
                    ffa_version: Version::from_word(wire.ffa_version.get())
                        .map_err(|_| FfaError::InvalidParameters)?,
                    ..Self::from_base(&wire.base, version)?
                })
            }
        }
    }
}

/// Writes `entries` back to back for a caller at `version` (the RX buffer contents of
/// FFA_PARTITION_INFO_GET); returns the bytes used, NO_MEMORY if they do not fit.
pub fn write_descriptors(
    entries: &[PartitionInfo],
    version: Version,
    output: &mut [u8],
) -> Result<usize, FfaError> {
    let mut used = 0usize;
    for entry in entries {
        let rest = output.get_mut(used..).ok_or(FfaError::NoMemory)?;
        used = used.checked_add(entry.write(version, rest)?).ok_or(FfaError::NoMemory)?;
    }
    Ok(used)
}

/// Reads `count` descriptors of `size` bytes (from `w2`/`w3` of the answer); a size that does
/// not match `version`, or a buffer too short for them, is INVALID_PARAMETERS.
pub fn read_descriptors(
    bytes: &[u8],
    count: usize,
    size: usize,
    version: Version,
) -> Result<impl Iterator<Item = Result<PartitionInfo, FfaError>> + '_, FfaError> {
    if size != descriptor_size(version) {
        return Err(FfaError::InvalidParameters);
    }
    let total = count.checked_mul(size).ok_or(FfaError::InvalidParameters)?;
    let bytes = bytes.get(..total).ok_or(FfaError::InvalidParameters)?;
    Ok(bytes.chunks_exact(size).map(move |chunk| PartitionInfo::read(chunk, version)))
}

/// FFA_PARTITION_INFO_GET_REGS `x2` of the answer (reference §4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RegsHeader {
    /// `[15:0]`: index of the last descriptor (count − 1).
    pub last_index: u16,
    /// `[31:16]`: index of the last descriptor in this answer.
    pub current_index: u16,
    /// `[47:32]`: UUID information tag.
    pub tag: u16,
    /// `[63:48]`: descriptor size (24 for v1.2).
    pub descriptor_size: u16,
}

impl RegsHeader {
    /// The `x2` value.
    pub const fn to_register(self) -> u64 {
        (self.descriptor_size as u64) << 48
            | (self.tag as u64) << 32
            | (self.current_index as u64) << 16
            | self.last_index as u64
    }

    /// Reads `x2`.
    pub const fn from_register(value: u64) -> Self {
        Self {
            last_index: value as u16,
            current_index: (value >> 16) as u16,
            tag: (value >> 32) as u16,
            descriptor_size: (value >> 48) as u16,
        }
    }
}

/// Descriptors per FFA_PARTITION_INFO_GET_REGS answer in the v1.2 form (3 registers each).
pub const REGS_PER_CALL: usize = 5;

/// Builds the FFA_SUCCESS_64 of FFA_PARTITION_INFO_GET_REGS: `x2` header, then per descriptor
/// `id | count << 16 | properties << 32`, UUID low, UUID high. More than five entries, or a
/// `current_index` inconsistent with `start_index` and the entry count, is INVALID_PARAMETERS.
pub fn regs_results(
    last_index: u16,
    start_index: u16,
    tag: u16,
    entries: &[PartitionInfo],
) -> Result<SuccessArgs, FfaError> {
    if entries.is_empty() || entries.len() > REGS_PER_CALL {
        return Err(FfaError::InvalidParameters);
    }
    let current_index = start_index
        .checked_add(entries.len() as u16 - 1)
        .filter(|current| *current <= last_index)
        .ok_or(FfaError::InvalidParameters)?;
    let header = RegsHeader { last_index, current_index, tag, descriptor_size: 24 };
    let mut values = [0u64; 16];
    if let Some(first) = values.first_mut() {
        *first = header.to_register();
    }
    for (entry, slots) in
        entries.iter().zip(values.get_mut(1..).unwrap_or(&mut []).chunks_exact_mut(3))
    {
        let [low, high] = entry.uuid.to_register_pair();
        let word = u64::from(entry.id.0)
            | u64::from(entry.execution_context_count) << 16
            | u64::from(entry.properties.restricted_to(Version::V1_2).to_word()) << 32;
        slots.copy_from_slice(&[word, low, high]);
    }
    Ok(SuccessArgs::Args64(values))
}

/// Parses the FFA_SUCCESS_64 of FFA_PARTITION_INFO_GET_REGS issued with `start_index`:
/// the header and the descriptors it returned, in order.
pub fn parse_regs_results(
    results: &SuccessArgs,
    start_index: u16,
) -> Result<(RegsHeader, [Option<PartitionInfo>; REGS_PER_CALL]), FfaError> {
    let SuccessArgs::Args64(values) = results else { return Err(FfaError::InvalidParameters) };
    let [header, rest @ ..] = *values;
    let header = RegsHeader::from_register(header);
    let count = header
        .current_index
        .checked_sub(start_index)
        .map(|difference| usize::from(difference) + 1)
        .filter(|count| *count <= REGS_PER_CALL && header.current_index <= header.last_index)
        .ok_or(FfaError::InvalidParameters)?;
    let mut entries = [None; REGS_PER_CALL];
    for (slot, chunk) in entries.iter_mut().zip(rest.chunks_exact(3)).take(count) {
        let [word, low, high] = [0, 1, 2].map(|index| chunk.get(index).copied().unwrap_or(0));
        *slot = Some(PartitionInfo {
            id: EndpointId(word as u16),
            execution_context_count: (word >> 16) as u16,
            properties: PartitionProperties::from_word((word >> 32) as u32, Version::V1_2)?,
            uuid: Uuid::from_register_pair(low, high),
            image_uuid: Uuid::NIL,
            ffa_version: Version::V1_0,
        });
    }
    Ok((header, entries))
}
