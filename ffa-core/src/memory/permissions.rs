//! Access permissions of an endpoint memory access descriptor (reference §7.3) and their legality.

use crate::FfaError;

use super::{MemoryType, TransactionType};

/// Data access permission (permission bits `[1:0]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DataAccess {
    /// `00`: not specified.
    NotSpecified,
    /// `01`: read-only.
    ReadOnly,
    /// `10`: read-write.
    ReadWrite,
}

/// Instruction access permission (permission bits `[3:2]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InstructionAccess {
    /// `00`: not specified.
    NotSpecified,
    /// `01`: not executable.
    NotExecutable,
    /// `10`: executable.
    Executable,
}

/// The permission byte of an endpoint memory access descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AccessPermissions {
    /// Bits `[1:0]`.
    pub data: DataAccess,
    /// Bits `[3:2]`.
    pub instruction: InstructionAccess,
}

impl AccessPermissions {
    /// Read-write data, instruction access not specified: what a SHARE sender grants (`0x02`).
    pub const READ_WRITE: Self =
        Self { data: DataAccess::ReadWrite, instruction: InstructionAccess::NotSpecified };
    /// Read-only data, instruction access not specified (`0x01`).
    pub const READ_ONLY: Self =
        Self { data: DataAccess::ReadOnly, instruction: InstructionAccess::NotSpecified };
    /// Nothing specified (`0x00`): what a DONATE sender grants.
    pub const NOT_SPECIFIED: Self =
        Self { data: DataAccess::NotSpecified, instruction: InstructionAccess::NotSpecified };

    /// Encodes the permission byte.
    pub const fn to_byte(self) -> u8 {
        let data = match self.data {
            DataAccess::NotSpecified => 0b00,
            DataAccess::ReadOnly => 0b01,
            DataAccess::ReadWrite => 0b10,
        };
        let instruction = match self.instruction {
            InstructionAccess::NotSpecified => 0b00,
            InstructionAccess::NotExecutable => 0b01,
            InstructionAccess::Executable => 0b10,
        };
        data | instruction << 2
    }

    /// Checks what a sender grants one receiver in DONATE/LEND/SHARE (reference §7.10 rule 11,
    /// conformance MM05/MM06): instruction access not specified; SHARE and LEND grant RO or RW;
    /// DONATE leaves data access unspecified. Violations are INVALID_PARAMETERS.
    pub fn check_send(self, call: TransactionType) -> Result<(), FfaError> {
        let data_ok = match call {
            TransactionType::Donate => self.data == DataAccess::NotSpecified,
            TransactionType::Lend | TransactionType::Share => self.data != DataAccess::NotSpecified,
        };
        if data_ok && self.instruction == InstructionAccess::NotSpecified {
            Ok(())
        } else {
            Err(FfaError::InvalidParameters)
        }
    }

    /// Checks what a borrower requests in FFA_MEM_RETRIEVE_REQ against what the sender granted
    /// (reference §7.10 rule 16, conformance MM19-MM21).
    ///
    /// - data: requested must not exceed granted ("not specified" granted counts as RW, and a
    ///   request that leaves data unspecified asks for what was granted); more is DENIED;
    /// - instruction: SHARE and multi-borrower LEND must leave it unspecified, single-borrower
    ///   LEND/DONATE must ask for X or NX: otherwise INVALID_PARAMETERS;
    /// - X on Device memory is DENIED.
    pub fn check_retrieve(
        self,
        granted: DataAccess,
        call: TransactionType,
        borrower_count: usize,
        memory_type: MemoryType,
    ) -> Result<(), FfaError> {
        let granted = match granted {
            DataAccess::NotSpecified => DataAccess::ReadWrite,
            other => other,
        };
        if self.data > granted {
            return Err(FfaError::Denied);
        }
        let must_leave_unspecified = match call {
            TransactionType::Share => true,
            TransactionType::Lend => borrower_count > 1,
            TransactionType::Donate => false,
        };
        let unspecified = self.instruction == InstructionAccess::NotSpecified;
        if must_leave_unspecified != unspecified {
            return Err(FfaError::InvalidParameters);
        }
        if self.instruction == InstructionAccess::Executable
            && matches!(memory_type, MemoryType::Device(_))
        {
            return Err(FfaError::Denied);
        }
        Ok(())
    }
}

impl TryFrom<u8> for AccessPermissions {
    type Error = FfaError;

    /// Decodes the byte; the reserved encodings `11` and bits `[7:4]` are INVALID_PARAMETERS.
    fn try_from(value: u8) -> Result<Self, Self::Error> {
        let data = match value & 0b11 {
            0b00 => DataAccess::NotSpecified,
            0b01 => DataAccess::ReadOnly,
            0b10 => DataAccess::ReadWrite,
            _ => return Err(FfaError::InvalidParameters),
        };
        let instruction = match (value >> 2) & 0b11 {
            0b00 => InstructionAccess::NotSpecified,
            0b01 => InstructionAccess::NotExecutable,
            0b10 => InstructionAccess::Executable,
            _ => return Err(FfaError::InvalidParameters),
        };
        if value >> 4 != 0 {
            return Err(FfaError::InvalidParameters);
        }
        Ok(Self { data, instruction })
    }
}

impl From<AccessPermissions> for u8 {
    fn from(value: AccessPermissions) -> Self {
        value.to_byte()
    }
}
