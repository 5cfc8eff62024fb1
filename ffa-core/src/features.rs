//! FFA_FEATURES: the queried function or feature ID and the per-function property words (§3.3).

use crate::{FfaError, FunctionId};

/// A feature ID (w1 bit 31 clear, `[7:0]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeatureId {
    /// 1: Notification Pending Interrupt; answers its INTID.
    NotificationPendingInterrupt,
    /// 2: Schedule Receiver Interrupt; answers its INTID.
    ScheduleReceiverInterrupt,
    /// 3: Managed Exit Interrupt; answers its INTID.
    ManagedExitInterrupt,
    /// 4: notification features (v1.3, single source).
    NotificationFeatures,
}

impl FeatureId {
    /// The 8-bit ID.
    pub const fn value(self) -> u8 {
        match self {
            Self::NotificationPendingInterrupt => 1,
            Self::ScheduleReceiverInterrupt => 2,
            Self::ManagedExitInterrupt => 3,
            Self::NotificationFeatures => 4,
        }
    }
}

/// What FFA_FEATURES asks about, with its checked input properties (`w2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeaturesQuery {
    /// A function ID (w1 bit 31 set).
    Function {
        /// The queried function.
        function: FunctionId,
        /// Input properties; only FFA_MEM_RETRIEVE_REQ defines one (bit 1, NS-bit handling).
        properties: u32,
    },
    /// A feature ID (w1 bit 31 clear; w2 MBZ).
    Feature(FeatureId),
}

/// FFA_FEATURES(MEM_RETRIEVE_REQ) input bit 1: the caller handles the NS bit.
pub const RETRIEVE_INPUT_NS_BIT: u32 = 1 << 1;

impl FeaturesQuery {
    /// Decodes `w1`, `w2`. An unknown function or feature ID, or a feature ID with `[30:8]`
    /// set, is NOT_SUPPORTED (matrix D09); undefined input-property bits are
    /// INVALID_PARAMETERS.
    pub fn decode(word1: u32, word2: u32) -> Result<Self, FfaError> {
        if word1 & 0x8000_0000 != 0 {
            let function = FunctionId::from_register(word1.into())?;
            let allowed = match function {
                FunctionId::MemRetrieveReq32 | FunctionId::MemRetrieveReq64 => {
                    RETRIEVE_INPUT_NS_BIT
                }
                _ => 0,
            };
            if word2 & !allowed != 0 {
                return Err(FfaError::InvalidParameters);
            }
            return Ok(Self::Function { function, properties: word2 });
        }
        let feature = match word1 {
            1 => FeatureId::NotificationPendingInterrupt,
            2 => FeatureId::ScheduleReceiverInterrupt,
            3 => FeatureId::ManagedExitInterrupt,
            4 => FeatureId::NotificationFeatures,
            _ => return Err(FfaError::NotSupported),
        };
        if word2 != 0 {
            return Err(FfaError::InvalidParameters);
        }
        Ok(Self::Feature(feature))
    }

    /// Encodes (`w1`, `w2`).
    pub const fn encode(self) -> (u32, u32) {
        match self {
            Self::Function { function, properties } => (function.value(), properties),
            Self::Feature(feature) => (feature.value() as u32, 0),
        }
    }
}

/// FFA_FEATURES(RXTX_MAP) `w2` `[1:0]`: minimum buffer size and alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MinimumBufferSize {
    /// 0: 4 KiB.
    Size4K,
    /// 1: 64 KiB.
    Size64K,
    /// 2: 16 KiB.
    Size16K,
}

impl MinimumBufferSize {
    /// Size in bytes.
    pub const fn bytes(self) -> usize {
        match self {
            Self::Size4K => 4096,
            Self::Size64K => 65536,
            Self::Size16K => 16384,
        }
    }
}

/// The FFA_FEATURES(RXTX_MAP) answer `w2` (reference §3.3, matrix D08).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RxtxMapProperties {
    /// `[1:0]`.
    pub minimum_size: MinimumBufferSize,
    /// `[31:16]` (v1.2): maximum buffer size in 4 KiB pages, 0 = no limit. MBZ before v1.2.
    pub maximum_pages: u16,
}

impl RxtxMapProperties {
    /// The `w2` word.
    pub const fn to_word(self) -> u32 {
        let size = match self.minimum_size {
            MinimumBufferSize::Size4K => 0,
            MinimumBufferSize::Size64K => 1,
            MinimumBufferSize::Size16K => 2,
        };
        (self.maximum_pages as u32) << 16 | size
    }

    /// Parses `w2`; the reserved size 3 or `[15:2]` set is INVALID_PARAMETERS.
    pub const fn from_word(word: u32) -> Result<Self, FfaError> {
        let minimum_size = match word & 3 {
            0 => MinimumBufferSize::Size4K,
            1 => MinimumBufferSize::Size64K,
            2 => MinimumBufferSize::Size16K,
            _ => return Err(FfaError::InvalidParameters),
        };
        if word & 0xFFFC != 0 {
            return Err(FfaError::InvalidParameters);
        }
        Ok(Self { minimum_size, maximum_pages: (word >> 16) as u16 })
    }
}

bitflags::bitflags! {
    /// FFA_FEATURES(MEM_RETRIEVE_REQ) answer `w2`; `[31:3]` MBZ.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct RetrieveProperties: u32 {
        /// Bit 0: descriptors in a dynamically allocated buffer are supported.
        const DYNAMIC_BUFFER = 1 << 0;
        /// Bit 1: the NS bit is handled (set in retrieve responses).
        const NS_BIT = 1 << 1;
        /// Bit 2: hypervisor retrieve requests are supported.
        const HYPERVISOR_RETRIEVE = 1 << 2;
    }
}

bitflags::bitflags! {
    /// FFA_FEATURES(MEM_SHARE/LEND/DONATE) answer `w2` (single source: Xen comment).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct MemorySendProperties: u32 {
        /// Bit 0: descriptors in a dynamically allocated buffer are supported.
        const DYNAMIC_BUFFER = 1 << 0;
    }
}

/// Parses a retrieve properties word, rejecting reserved bits.
pub fn retrieve_properties(word: u32) -> Result<RetrieveProperties, FfaError> {
    RetrieveProperties::from_bits(word).ok_or(FfaError::InvalidParameters)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_decode_functions_and_features() {
        assert_eq!(
            FeaturesQuery::decode(0xC400_0066, 0),
            Ok(FeaturesQuery::Function { function: FunctionId::RxtxMap64, properties: 0 })
        );
        assert_eq!(FeaturesQuery::decode(0x8FFF_FFFF, 0), Err(FfaError::NotSupported));
        assert_eq!(FeaturesQuery::decode(2, 0), Ok(FeaturesQuery::Feature(FeatureId::ScheduleReceiverInterrupt)));
        assert_eq!(FeaturesQuery::decode(9, 0), Err(FfaError::NotSupported));
        assert_eq!(FeaturesQuery::decode(0x101, 0), Err(FfaError::NotSupported));
        assert_eq!(FeaturesQuery::decode(1, 1), Err(FfaError::InvalidParameters));
        assert_eq!(FeaturesQuery::decode(0x8400_0064, 2), Err(FfaError::InvalidParameters));
        assert!(FeaturesQuery::decode(0x8400_0074, 2).is_ok());
        assert_eq!(FeaturesQuery::decode(0x8400_0074, 1), Err(FfaError::InvalidParameters));
    }

    #[test]
    fn rxtx_map_properties_word() {
        let properties = RxtxMapProperties { minimum_size: MinimumBufferSize::Size16K, maximum_pages: 8 };
        assert_eq!(properties.to_word(), 0x0008_0002);
        assert_eq!(RxtxMapProperties::from_word(0x0008_0002), Ok(properties));
        assert_eq!(RxtxMapProperties::from_word(3), Err(FfaError::InvalidParameters));
        assert_eq!(RxtxMapProperties::from_word(4), Err(FfaError::InvalidParameters));
        assert_eq!(retrieve_properties(8), Err(FfaError::InvalidParameters));
    }
}
