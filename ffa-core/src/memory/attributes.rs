//! Memory region attributes (reference §7.5): memory type, cacheability, shareability, NS bit.

use crate::FfaError;

use super::TransactionType;

/// Cacheability of Normal memory (attribute bits `[3:2]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cacheability {
    /// `01`: non-cacheable.
    NonCacheable,
    /// `11`: write-back.
    WriteBack,
}

/// Shareability of Normal memory (attribute bits `[1:0]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shareability {
    /// `00`: non-shareable.
    NonShareable,
    /// `10`: outer shareable.
    Outer,
    /// `11`: inner shareable.
    Inner,
}

/// Device memory attributes (attribute bits `[3:2]` when the type is Device).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceAttributes {
    /// `00`: Device-nGnRnE.
    NonGatheringNonReorderingNoEarlyAck,
    /// `01`: Device-nGnRE.
    NonGatheringNonReordering,
    /// `10`: Device-nGRE.
    NonGathering,
    /// `11`: Device-GRE.
    Gathering,
}

/// Memory type (attribute bits `[5:4]`) with the type-specific bits below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemoryType {
    /// `00`: the sender leaves the type to the borrower (bits `[3:0]` must then be zero).
    NotSpecified,
    /// `01`: Device memory (bits `[1:0]` must be zero).
    Device(DeviceAttributes),
    /// `10`: Normal memory.
    Normal {
        /// Bits `[3:2]`.
        cacheability: Cacheability,
        /// Bits `[1:0]`.
        shareability: Shareability,
    },
}

/// The memory region attributes field of a memory transaction descriptor.
///
/// v1.0 carries it in a u8 (bits `[7:6]` reserved); v1.1 and later in a u16 whose bit 6 is the NS
/// bit and bits `[15:7]` are MBZ. Every reserved encoding is rejected with INVALID_PARAMETERS.
/// Choice: bits `[3:0]` must be zero when the type is "not specified" and bits `[1:0]` must be zero
/// for Device memory, so that every accepted value survives a round trip unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MemoryRegionAttributes {
    /// Memory type and its type-specific attributes.
    pub memory_type: MemoryType,
    /// Bit 6 (v1.1+): the relayer says the memory is non-secure (retrieve responses only).
    pub non_secure: bool,
}

impl MemoryRegionAttributes {
    /// Normal, write-back, inner-shareable: `0x2F`, the value Linux and Xen use for SHARE.
    pub const NORMAL_WRITE_BACK_INNER: Self = Self {
        memory_type: MemoryType::Normal {
            cacheability: Cacheability::WriteBack,
            shareability: Shareability::Inner,
        },
        non_secure: false,
    };
    /// Type not specified (`0x00`), as DONATE and single-borrower LEND require.
    pub const NOT_SPECIFIED: Self =
        Self { memory_type: MemoryType::NotSpecified, non_secure: false };

    const NS_BIT: u16 = 1 << 6;

    /// Decodes the v1.1+ 16-bit field.
    pub fn from_v1_1(value: u16) -> Result<Self, FfaError> {
        if value >> 7 != 0 {
            return Err(FfaError::InvalidParameters);
        }
        let low = value & 0xF;
        let memory_type = match (value >> 4) & 0b11 {
            0b00 if low == 0 => MemoryType::NotSpecified,
            0b01 if low & 0b11 == 0 => MemoryType::Device(match low >> 2 {
                0b00 => DeviceAttributes::NonGatheringNonReorderingNoEarlyAck,
                0b01 => DeviceAttributes::NonGatheringNonReordering,
                0b10 => DeviceAttributes::NonGathering,
                _ => DeviceAttributes::Gathering,
            }),
            0b10 => {
                let cacheability = match low >> 2 {
                    0b01 => Cacheability::NonCacheable,
                    0b11 => Cacheability::WriteBack,
                    _ => return Err(FfaError::InvalidParameters),
                };
                let shareability = match low & 0b11 {
                    0b00 => Shareability::NonShareable,
                    0b10 => Shareability::Outer,
                    0b11 => Shareability::Inner,
                    _ => return Err(FfaError::InvalidParameters),
                };
                MemoryType::Normal { cacheability, shareability }
            }
            _ => return Err(FfaError::InvalidParameters),
        };
        Ok(Self { memory_type, non_secure: value & Self::NS_BIT != 0 })
    }

    /// Decodes the v1.0 8-bit field (bits `[7:6]` reserved: the NS bit does not exist in v1.0).
    pub fn from_v1_0(value: u8) -> Result<Self, FfaError> {
        if value >> 6 != 0 {
            return Err(FfaError::InvalidParameters);
        }
        Self::from_v1_1(u16::from(value))
    }

    /// Encodes the v1.1+ 16-bit field.
    pub const fn to_v1_1(self) -> u16 {
        let type_bits: u16 = match self.memory_type {
            MemoryType::NotSpecified => 0,
            MemoryType::Device(device) => {
                0b01_0000
                    | (match device {
                        DeviceAttributes::NonGatheringNonReorderingNoEarlyAck => 0b00,
                        DeviceAttributes::NonGatheringNonReordering => 0b01,
                        DeviceAttributes::NonGathering => 0b10,
                        DeviceAttributes::Gathering => 0b11,
                    } << 2)
            }
            MemoryType::Normal { cacheability, shareability } => {
                0b10_0000
                    | (match cacheability {
                        Cacheability::NonCacheable => 0b01,
                        Cacheability::WriteBack => 0b11,
                    } << 2)
                    | match shareability {
                        Shareability::NonShareable => 0b00,
                        Shareability::Outer => 0b10,
                        Shareability::Inner => 0b11,
                    }
            }
        };
        if self.non_secure {
            type_bits | Self::NS_BIT
        } else {
            type_bits
        }
    }

    /// Encodes the v1.0 8-bit field. The NS bit has no v1.0 encoding and is dropped: a v1.0
    /// endpoint cannot have announced NS-bit support (that is a v1.1 FFA_FEATURES property).
    pub const fn to_v1_0(self) -> u8 {
        (self.to_v1_1() & !Self::NS_BIT) as u8
    }

    /// Checks the attributes a sender gives in FFA_MEM_DONATE/LEND/SHARE (reference §7.5 "who
    /// specifies the type", conformance MM06, MM11): NS bit clear; DONATE and single-borrower
    /// LEND leave the type unspecified; SHARE and multi-borrower LEND specify it. Every
    /// violation is INVALID_PARAMETERS.
    pub fn check_send(self, call: TransactionType, receiver_count: usize) -> Result<(), FfaError> {
        if self.non_secure {
            return Err(FfaError::InvalidParameters);
        }
        let specified = self.memory_type != MemoryType::NotSpecified;
        let must_specify = match call {
            TransactionType::Donate => false,
            TransactionType::Lend => receiver_count > 1,
            TransactionType::Share => true,
        };
        if specified == must_specify {
            Ok(())
        } else {
            Err(FfaError::InvalidParameters)
        }
    }

    /// Checks the attributes a borrower gives in FFA_MEM_RETRIEVE_REQ: the NS bit must be clear
    /// (conformance MM11: INVALID_PARAMETERS); any type, or none, may be requested.
    pub fn check_retrieve_request(self) -> Result<(), FfaError> {
        if self.non_secure {
            Err(FfaError::InvalidParameters)
        } else {
            Ok(())
        }
    }
}

impl TryFrom<u16> for MemoryRegionAttributes {
    type Error = FfaError;

    fn try_from(value: u16) -> Result<Self, Self::Error> {
        Self::from_v1_1(value)
    }
}

impl From<MemoryRegionAttributes> for u16 {
    fn from(value: MemoryRegionAttributes) -> Self {
        value.to_v1_1()
    }
}
