//! Transaction flags (reference §7.6), reclaim and relinquish flags (§7.8), receiver flags (§7.3).

use crate::FfaError;

use super::Layout;

/// The kind of memory transaction: which send call created it (flags bits `[4:3]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransactionType {
    /// FFA_MEM_SHARE (`01`).
    Share,
    /// FFA_MEM_LEND (`10`).
    Lend,
    /// FFA_MEM_DONATE (`11`).
    Donate,
}

impl TransactionType {
    const fn bits(self) -> u32 {
        match self {
            Self::Share => 0b01,
            Self::Lend => 0b10,
            Self::Donate => 0b11,
        }
    }
}

/// The 32-bit flags word of a memory transaction descriptor (offset 4).
///
/// The raw word is kept as it arrived; which bits are legal depends on the call, so it is
/// checked with [`check_send`](Self::check_send), [`check_retrieve_request`](Self::check_retrieve_request)
/// or [`check_retrieve_response`](Self::check_retrieve_response).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TransactionFlags(pub u32);

impl TransactionFlags {
    /// Bit 0: zero the memory before mapping it for the receiver (LEND/DONATE and retrieve).
    pub const CLEAR_MEMORY: u32 = 1 << 0;
    /// Bit 1: the operation may be time-sliced.
    pub const TIME_SLICING: u32 = 1 << 1;
    /// Bit 2: zero the memory after the borrower relinquishes it (retrieve, not SHARE).
    pub const CLEAR_AFTER_RELINQUISH: u32 = 1 << 2;
    /// Bits `[4:3]`: transaction type.
    pub const TYPE_MASK: u32 = 0b11 << 3;
    /// Bits `[8:5]`: address-range alignment hint.
    pub const ALIGNMENT_HINT_MASK: u32 = 0b1111 << 5;
    /// Bit 9: the alignment hint is valid.
    pub const ALIGNMENT_HINT_VALID: u32 = 1 << 9;
    /// Bit 10 (v1.2, ◐ Hafnium only): bypass the multiple-borrower identifier check.
    pub const BYPASS_MULTI_BORROWER_CHECK: u32 = 1 << 10;

    /// Flags for a send of the given type with the given bits (type bits left zero, as
    /// Hafnium and Linux send them).
    pub const fn new(bits: u32) -> Self {
        Self(bits)
    }

    /// Flags carrying a transaction type in bits `[4:3]` (for retrieve requests and responses).
    pub const fn with_type(self, transaction_type: TransactionType) -> Self {
        Self((self.0 & !Self::TYPE_MASK) | transaction_type.bits() << 3)
    }

    /// Bit 0.
    pub const fn clear_memory(self) -> bool {
        self.0 & Self::CLEAR_MEMORY != 0
    }

    /// Bit 1.
    pub const fn time_slicing(self) -> bool {
        self.0 & Self::TIME_SLICING != 0
    }

    /// Bit 2.
    pub const fn clear_after_relinquish(self) -> bool {
        self.0 & Self::CLEAR_AFTER_RELINQUISH != 0
    }

    /// Bits `[4:3]`; `None` for "not specified".
    pub const fn transaction_type(self) -> Option<TransactionType> {
        match (self.0 >> 3) & 0b11 {
            0b01 => Some(TransactionType::Share),
            0b10 => Some(TransactionType::Lend),
            0b11 => Some(TransactionType::Donate),
            _ => None,
        }
    }

    /// Bits `[8:5]` when bit 9 says they are valid.
    pub const fn alignment_hint(self) -> Option<u8> {
        if self.0 & Self::ALIGNMENT_HINT_VALID != 0 {
            Some(((self.0 >> 5) & 0b1111) as u8)
        } else {
            None
        }
    }

    /// Bit 10 (v1.2).
    pub const fn bypass_multi_borrower_check(self) -> bool {
        self.0 & Self::BYPASS_MULTI_BORROWER_CHECK != 0
    }

    /// Checks the flags of FFA_MEM_DONATE/LEND/SHARE (reference §7.6, §7.10 rule 14,
    /// conformance MM04), all INVALID_PARAMETERS:
    /// - bit 0 (clear memory) is refused with SHARE;
    /// - bit 1 (time slicing) is refused: Hafnium and TF-A's EL3 SPMC both refuse it;
    /// - bits `[4:3]` may carry the call's own type (TF-A tolerates that) or zero;
    /// - every other bit is MBZ.
    pub fn check_send(self, call: TransactionType) -> Result<(), FfaError> {
        let type_ok = match self.transaction_type() {
            None => true,
            Some(kind) => kind == call,
        };
        let rest = self.0 & !(Self::CLEAR_MEMORY | Self::TYPE_MASK);
        if !type_ok || rest != 0 || (call == TransactionType::Share && self.clear_memory()) {
            return Err(FfaError::InvalidParameters);
        }
        Ok(())
    }

    /// Checks the flags of FFA_MEM_RETRIEVE_REQ (reference §7.6, §7.10 rule 15, conformance
    /// MM18, MM23), all INVALID_PARAMETERS:
    /// - bits above 9 MBZ, bit 10 allowed from [`Layout::V1_2`] on;
    /// - alignment hint bits `[8:5]` must be zero unless bit 9 marks them valid;
    /// - with type SHARE, bits 0 and 2 (clear before / after) are refused.
    ///
    /// Matching the type against the original transaction, and bit 10 against its borrower
    /// count (MM26), are the ledger's checks.
    pub fn check_retrieve_request(self, layout: Layout) -> Result<(), FfaError> {
        let allowed = match layout {
            Layout::V1_2 => 0x7FF,
            Layout::V1_0 | Layout::V1_1 => 0x3FF,
        };
        if self.0 & !allowed != 0 {
            return Err(FfaError::InvalidParameters);
        }
        if self.0 & Self::ALIGNMENT_HINT_VALID == 0 && self.0 & Self::ALIGNMENT_HINT_MASK != 0 {
            return Err(FfaError::InvalidParameters);
        }
        if self.transaction_type() == Some(TransactionType::Share)
            && (self.clear_memory() || self.clear_after_relinquish())
        {
            return Err(FfaError::InvalidParameters);
        }
        Ok(())
    }

    /// Checks the flags of FFA_MEM_RETRIEVE_RESP: only bits `[4:0]`, and the type must be given
    /// (the relayer reports it). INVALID_PARAMETERS otherwise.
    pub fn check_retrieve_response(self) -> Result<(), FfaError> {
        if self.0 & !0x1F != 0 || self.transaction_type().is_none() {
            return Err(FfaError::InvalidParameters);
        }
        Ok(())
    }
}

/// The `w3` flags of FFA_MEM_RECLAIM (reference §7.8): bit 0 zero before return, bit 1 time
/// slicing (◐ crate only), `[31:2]` MBZ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ReclaimFlags {
    /// Bit 0: zero the memory before returning it to the owner.
    pub clear_memory: bool,
    /// Bit 1: the operation may be time-sliced.
    pub time_slicing: bool,
}

impl TryFrom<u32> for ReclaimFlags {
    type Error = FfaError;

    /// Bits `[31:2]` set are INVALID_PARAMETERS.
    fn try_from(value: u32) -> Result<Self, Self::Error> {
        if value >> 2 != 0 {
            return Err(FfaError::InvalidParameters);
        }
        Ok(Self { clear_memory: value & 1 != 0, time_slicing: value & 2 != 0 })
    }
}

impl From<ReclaimFlags> for u32 {
    fn from(value: ReclaimFlags) -> Self {
        u32::from(value.clear_memory) | u32::from(value.time_slicing) << 1
    }
}

/// The flags word of a memory relinquish descriptor (reference §7.8): bit 0 zero after
/// relinquish (not for SHARE), bit 1 time slicing, the rest MBZ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RelinquishFlags {
    /// Bit 0: zero the memory after relinquishing it.
    pub clear_memory: bool,
    /// Bit 1: the operation may be time-sliced.
    pub time_slicing: bool,
}

impl RelinquishFlags {
    /// Checks the flags against the transaction type: clearing a shared region is
    /// INVALID_PARAMETERS (conformance MM27).
    pub fn check(self, transaction_type: TransactionType) -> Result<(), FfaError> {
        if self.clear_memory && transaction_type == TransactionType::Share {
            Err(FfaError::InvalidParameters)
        } else {
            Ok(())
        }
    }
}

impl TryFrom<u32> for RelinquishFlags {
    type Error = FfaError;

    /// Bits `[31:2]` set are INVALID_PARAMETERS.
    fn try_from(value: u32) -> Result<Self, Self::Error> {
        let ReclaimFlags { clear_memory, time_slicing } = ReclaimFlags::try_from(value)?;
        Ok(Self { clear_memory, time_slicing })
    }
}

impl From<RelinquishFlags> for u32 {
    fn from(value: RelinquishFlags) -> Self {
        u32::from(value.clear_memory) | u32::from(value.time_slicing) << 1
    }
}

bitflags::bitflags! {
    /// The flags byte of an endpoint memory access descriptor (reference §7.3); bits `[7:1]` MBZ.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct ReceiverFlags: u8 {
        /// Bit 0, used in multi-borrower retrieve requests. Sources disagree on its name and
        /// polarity (reference §11 item 4: TF-A "non-retrieval borrower", Linux "retrieve self
        /// borrower"); it is carried through unchanged and not interpreted here.
        const MULTI_BORROWER_BIT_0 = 1;
    }
}

impl TryFrom<u8> for ReceiverFlags {
    type Error = FfaError;

    /// Reserved bits set are INVALID_PARAMETERS.
    fn try_from(value: u8) -> Result<Self, Self::Error> {
        Self::from_bits(value).ok_or(FfaError::InvalidParameters)
    }
}
