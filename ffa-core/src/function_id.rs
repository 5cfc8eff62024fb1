//! Every FF-A function ID of v1.0-v1.2 (and the v1.3 ones the reference lists), SMC32 and SMC64.

use crate::{FfaError, Version};

/// Bit 16 of a function ID: the SMCCC v1.3 SVE live-state hint, masked off before decoding.
pub const SVE_HINT_BIT: u32 = 1 << 16;
/// Bit 30 of a function ID: set for the SMC64/HVC64 calling convention.
pub const SMC64_BIT: u32 = 1 << 30;

macro_rules! function_ids {
    ($($variant:ident = $value:literal, $name:literal, $major:literal, $minor:literal;)*) => {
        /// An FF-A function ID (reference §2). SMC32 and SMC64 forms are separate variants.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum FunctionId {
            $(
                #[doc = concat!("`", $name, "` (`", stringify!($value), "`).")]
                $variant,
            )*
        }

        impl FunctionId {
            /// Every function ID, in table order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),*];

            /// The 32-bit function ID as it appears in `w0`.
            #[inline]
            pub const fn value(self) -> u32 {
                match self {
                    $(Self::$variant => $value,)*
                }
            }

            /// The specification's name, with `_32`/`_64` where both forms exist.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }

            /// The first FF-A version defining this ID.
            #[inline]
            pub const fn minimum_version(self) -> Version {
                match self {
                    $(Self::$variant => match Version::new($major, $minor) {
                        Some(version) => version,
                        None => Version::V1_0,
                    },)*
                }
            }

            /// Looks a masked ID up: one range check and one load from [`Self::BY_NUMBER`].
            #[inline]
            const fn from_value(value: u32) -> Option<Self> {
                // Every ID is 0x8400_00NN (SMC32) or 0xC400_00NN (SMC64), NN in 0x60..=0x9F.
                let offset = (value & !SMC64_BIT).wrapping_sub(Self::FIRST_VALUE);
                if offset >= 0x40 {
                    return None;
                }
                let slot = if value & SMC64_BIT != 0 { offset | 0x40 } else { offset };
                match Self::BY_NUMBER.split_at_checked(slot as usize) {
                    Some((_, [entry, ..])) => *entry,
                    _ => None,
                }
            }
        }
    };
}

function_ids! {
    Error32 = 0x8400_0060, "FFA_ERROR_32", 1, 0;
    // Reference §2.1/§11.6: the crate says v1.3, TF-A already returns it for v1.1 calls.
    Error64 = 0xC400_0060, "FFA_ERROR_64", 1, 1;
    Success32 = 0x8400_0061, "FFA_SUCCESS_32", 1, 0;
    Success64 = 0xC400_0061, "FFA_SUCCESS_64", 1, 0;
    Interrupt32 = 0x8400_0062, "FFA_INTERRUPT_32", 1, 0;
    Interrupt64 = 0xC400_0062, "FFA_INTERRUPT_64", 1, 3;
    Version = 0x8400_0063, "FFA_VERSION", 1, 0;
    Features = 0x8400_0064, "FFA_FEATURES", 1, 0;
    RxRelease = 0x8400_0065, "FFA_RX_RELEASE", 1, 0;
    RxtxMap32 = 0x8400_0066, "FFA_RXTX_MAP_32", 1, 0;
    RxtxMap64 = 0xC400_0066, "FFA_RXTX_MAP_64", 1, 0;
    RxtxUnmap = 0x8400_0067, "FFA_RXTX_UNMAP", 1, 0;
    PartitionInfoGet = 0x8400_0068, "FFA_PARTITION_INFO_GET", 1, 0;
    IdGet = 0x8400_0069, "FFA_ID_GET", 1, 0;
    MsgPoll = 0x8400_006A, "FFA_MSG_POLL", 1, 0;
    MsgWait32 = 0x8400_006B, "FFA_MSG_WAIT_32", 1, 0;
    MsgWait64 = 0xC400_006B, "FFA_MSG_WAIT_64", 1, 3;
    Yield32 = 0x8400_006C, "FFA_YIELD_32", 1, 0;
    Yield64 = 0xC400_006C, "FFA_YIELD_64", 1, 3;
    Run32 = 0x8400_006D, "FFA_RUN_32", 1, 0;
    Run64 = 0xC400_006D, "FFA_RUN_64", 1, 3;
    MsgSend = 0x8400_006E, "FFA_MSG_SEND", 1, 0;
    MsgSendDirectReq32 = 0x8400_006F, "FFA_MSG_SEND_DIRECT_REQ_32", 1, 0;
    MsgSendDirectReq64 = 0xC400_006F, "FFA_MSG_SEND_DIRECT_REQ_64", 1, 0;
    MsgSendDirectResp32 = 0x8400_0070, "FFA_MSG_SEND_DIRECT_RESP_32", 1, 0;
    MsgSendDirectResp64 = 0xC400_0070, "FFA_MSG_SEND_DIRECT_RESP_64", 1, 0;
    MemDonate32 = 0x8400_0071, "FFA_MEM_DONATE_32", 1, 0;
    MemDonate64 = 0xC400_0071, "FFA_MEM_DONATE_64", 1, 0;
    MemLend32 = 0x8400_0072, "FFA_MEM_LEND_32", 1, 0;
    MemLend64 = 0xC400_0072, "FFA_MEM_LEND_64", 1, 0;
    MemShare32 = 0x8400_0073, "FFA_MEM_SHARE_32", 1, 0;
    MemShare64 = 0xC400_0073, "FFA_MEM_SHARE_64", 1, 0;
    MemRetrieveReq32 = 0x8400_0074, "FFA_MEM_RETRIEVE_REQ_32", 1, 0;
    MemRetrieveReq64 = 0xC400_0074, "FFA_MEM_RETRIEVE_REQ_64", 1, 0;
    MemRetrieveResp = 0x8400_0075, "FFA_MEM_RETRIEVE_RESP", 1, 0;
    MemRelinquish = 0x8400_0076, "FFA_MEM_RELINQUISH", 1, 0;
    MemReclaim = 0x8400_0077, "FFA_MEM_RECLAIM", 1, 0;
    MemOpPause = 0x8400_0078, "FFA_MEM_OP_PAUSE", 1, 0;
    MemOpResume = 0x8400_0079, "FFA_MEM_OP_RESUME", 1, 0;
    MemFragRx = 0x8400_007A, "FFA_MEM_FRAG_RX", 1, 0;
    MemFragTx = 0x8400_007B, "FFA_MEM_FRAG_TX", 1, 0;
    NormalWorldResume32 = 0x8400_007C, "FFA_NORMAL_WORLD_RESUME_32", 1, 0;
    NormalWorldResume64 = 0xC400_007C, "FFA_NORMAL_WORLD_RESUME_64", 1, 3;
    NotificationBitmapCreate = 0x8400_007D, "FFA_NOTIFICATION_BITMAP_CREATE", 1, 1;
    NotificationBitmapDestroy = 0x8400_007E, "FFA_NOTIFICATION_BITMAP_DESTROY", 1, 1;
    NotificationBind = 0x8400_007F, "FFA_NOTIFICATION_BIND", 1, 1;
    NotificationUnbind = 0x8400_0080, "FFA_NOTIFICATION_UNBIND", 1, 1;
    NotificationSet = 0x8400_0081, "FFA_NOTIFICATION_SET", 1, 1;
    NotificationGet = 0x8400_0082, "FFA_NOTIFICATION_GET", 1, 1;
    NotificationInfoGet32 = 0x8400_0083, "FFA_NOTIFICATION_INFO_GET_32", 1, 1;
    NotificationInfoGet64 = 0xC400_0083, "FFA_NOTIFICATION_INFO_GET_64", 1, 1;
    RxAcquire = 0x8400_0084, "FFA_RX_ACQUIRE", 1, 1;
    SpmIdGet = 0x8400_0085, "FFA_SPM_ID_GET", 1, 1;
    MsgSend2 = 0x8400_0086, "FFA_MSG_SEND2", 1, 1;
    SecondaryEpRegister32 = 0x8400_0087, "FFA_SECONDARY_EP_REGISTER_32", 1, 1;
    SecondaryEpRegister64 = 0xC400_0087, "FFA_SECONDARY_EP_REGISTER_64", 1, 1;
    MemPermGet32 = 0x8400_0088, "FFA_MEM_PERM_GET_32", 1, 1;
    MemPermGet64 = 0xC400_0088, "FFA_MEM_PERM_GET_64", 1, 1;
    MemPermSet32 = 0x8400_0089, "FFA_MEM_PERM_SET_32", 1, 1;
    MemPermSet64 = 0xC400_0089, "FFA_MEM_PERM_SET_64", 1, 1;
    ConsoleLog32 = 0x8400_008A, "FFA_CONSOLE_LOG_32", 1, 2;
    ConsoleLog64 = 0xC400_008A, "FFA_CONSOLE_LOG_64", 1, 2;
    PartitionInfoGetRegs = 0xC400_008B, "FFA_PARTITION_INFO_GET_REGS", 1, 2;
    El3IntrHandle = 0x8400_008C, "FFA_EL3_INTR_HANDLE", 1, 2;
    MsgSendDirectReq2 = 0xC400_008D, "FFA_MSG_SEND_DIRECT_REQ2", 1, 2;
    MsgSendDirectResp2 = 0xC400_008E, "FFA_MSG_SEND_DIRECT_RESP2", 1, 2;
    NsResInfoGet = 0xC400_008F, "FFA_NS_RES_INFO_GET", 1, 3;
    Abort32 = 0x8400_0090, "FFA_ABORT_32", 1, 3;
    Abort64 = 0xC400_0090, "FFA_ABORT_64", 1, 3;
    NotificationBind2 = 0xC400_0094, "FFA_NOTIFICATION_BIND2", 1, 3;
    NotificationUnbind2 = 0xC400_0095, "FFA_NOTIFICATION_UNBIND2", 1, 3;
    NotificationSet2 = 0xC400_0096, "FFA_NOTIFICATION_SET2", 1, 3;
    NotificationGet2 = 0xC400_0097, "FFA_NOTIFICATION_GET2", 1, 3;
}

impl FunctionId {
    /// The lowest SMC32 function ID (FFA_ERROR_32).
    const FIRST_VALUE: u32 = 0x8400_0060;

    /// Every ID by slot `number - 0x60`, plus `0x40` for SMC64; built from [`Self::ALL`] at
    /// compile time (the build fails if an ID does not fit its slot or two share one).
    #[allow(
        clippy::indexing_slicing,
        reason = "evaluated only at compile time: an index out of range fails the build"
    )]
    const BY_NUMBER: [Option<Self>; 0x80] = {
        let mut table = [None; 0x80];
        let mut index = 0;
        while index < Self::ALL.len() {
            let function = Self::ALL[index];
            let value = function.value();
            let offset = (value & !SMC64_BIT).wrapping_sub(Self::FIRST_VALUE);
            assert!(offset < 0x40, "function number outside 0x60..=0x9F");
            let slot = if value & SMC64_BIT != 0 { offset | 0x40 } else { offset };
            assert!(table[slot as usize].is_none(), "two function IDs share a slot");
            table[slot as usize] = Some(function);
            index += 1;
        }
        table
    };

    /// Decodes `x0` (only `w0` counts; the SVE hint bit 16 is masked off). An ID that is not an
    /// FF-A function is NOT_SUPPORTED.
    #[inline]
    pub const fn from_register(register: u64) -> Result<Self, FfaError> {
        match Self::from_value(register as u32 & !SVE_HINT_BIT) {
            Some(function) => Ok(function),
            None => Err(FfaError::NotSupported),
        }
    }

    /// The ID as it is written to `x0` (zero-extended, SVE hint clear).
    #[inline]
    pub const fn to_register(self) -> u64 {
        self.value() as u64
    }

    /// Whether this is the SMC64 form (bit 30 set).
    #[inline]
    pub const fn is_64bit(self) -> bool {
        self.value() & SMC64_BIT != 0
    }

    /// The FF-A function number, bits `[15:0]`.
    pub const fn number(self) -> u16 {
        self.value() as u16
    }
}

impl core::fmt::Display for FunctionId {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter.write_str(self.name())
    }
}

impl TryFrom<u32> for FunctionId {
    type Error = FfaError;

    fn try_from(value: u32) -> Result<Self, Self::Error> {
        Self::from_register(value.into())
    }
}

#[cfg(test)]
// Tests may unwrap: a panic is a test failure.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_id_round_trips_and_has_the_smccc_shape() {
        for &function in FunctionId::ALL {
            assert_eq!(FunctionId::from_register(function.to_register()), Ok(function));
            let expected_base = if function.is_64bit() { 0xC400_0000 } else { 0x8400_0000 };
            assert_eq!(function.value() & 0xFFFF_0000, expected_base, "{function}");
            assert!(function.name().starts_with("FFA_"));
        }
    }

    #[test]
    fn sve_hint_and_upper_half_are_ignored_unknown_is_not_supported() {
        assert_eq!(FunctionId::from_register(0x8401_0073), Ok(FunctionId::MemShare32));
        assert_eq!(
            FunctionId::from_register(0xFFFF_FFFF_C400_008D),
            Ok(FunctionId::MsgSendDirectReq2)
        );
        assert_eq!(FunctionId::from_register(0x8400_0091), Err(FfaError::NotSupported));
        assert_eq!(FunctionId::from_register(0x8FFF_FFFF), Err(FfaError::NotSupported));
        assert_eq!(FunctionId::from_register(0x8400_008B), Err(FfaError::NotSupported));
    }

    #[test]
    fn minimum_versions_follow_the_tables() {
        assert_eq!(FunctionId::MemShare64.minimum_version(), Version::V1_0);
        assert_eq!(FunctionId::MsgSend2.minimum_version(), Version::V1_1);
        assert_eq!(FunctionId::PartitionInfoGetRegs.minimum_version(), Version::V1_2);
        assert_eq!(FunctionId::Run64.minimum_version(), Version::V1_3);
    }

    #[test]
    fn table_lookup_agrees_with_a_search_of_every_id() {
        // Every word near the FF-A ranges (and each with bit 30 and the SVE hint flipped): the
        // table must answer exactly what a search of `ALL` answers.
        let blocks = [0x8400_0000u32, 0xC400_0000, 0x8401_0000, 0xC401_0000, 0x0400_0000];
        for block in blocks {
            for low in 0..0x200u32 {
                let word = block | low;
                let expected = FunctionId::ALL
                    .iter()
                    .copied()
                    .find(|function| function.value() == word & !SVE_HINT_BIT)
                    .ok_or(FfaError::NotSupported);
                assert_eq!(FunctionId::from_register(word.into()), expected, "{word:#x}");
            }
        }
    }
}
