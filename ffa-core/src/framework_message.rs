//! Framework messages carried in direct requests/responses (`w2` = `0x8000_0000 | type`).

use crate::version::VersionResponse;
use crate::{EndpointId, FfaError};

/// Bit 31 of `w2` in a direct message: the message is a framework message.
pub const FRAMEWORK_MESSAGE_BIT: u32 = 1 << 31;

/// Warm-boot type carried by the warm-boot framework request (reference §5.2, type 0x01).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WarmBootType {
    /// Resumed from suspend to RAM (0).
    ExitFromSuspend,
    /// Resumed from a shallower low-power state (1).
    ExitFromLowPower,
}

/// A framework message (reference §5.2). Types 0x0A-0x0F (v1.3) are not decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameworkMessage {
    /// Type 0x00: PSCI request; `w3` PSCI function ID, `x4`-`x6` its arguments.
    PsciRequest {
        /// The PSCI function ID (e.g. CPU_OFF `0x8400_0002`).
        function: u32,
        /// The PSCI arguments (x4-x6).
        arguments: [u64; 3],
    },
    /// Type 0x01: warm-boot request.
    WarmBootRequest(WarmBootType),
    /// Type 0x02: power-management response; `w3` PSCI status.
    PowerManagementResponse {
        /// PSCI status (0 success, negative failure).
        status: i32,
    },
    /// Type 0x04: a VM was created.
    VmCreated {
        /// Handle of an implementation-defined region (w3 low, w4 high).
        handle: u64,
        /// The new VM (w5 `[15:0]`).
        vm_id: EndpointId,
    },
    /// Type 0x05: answer to VM created (`w3` 0 or an FF-A error).
    VmCreatedResponse(Result<(), FfaError>),
    /// Type 0x06: a VM was destroyed.
    VmDestroyed {
        /// Handle of an implementation-defined region (w3 low, w4 high).
        handle: u64,
        /// The destroyed VM (w5 `[15:0]`).
        vm_id: EndpointId,
    },
    /// Type 0x07: answer to VM destroyed.
    VmDestroyedResponse(Result<(), FfaError>),
    /// Type 0x08: FFA_VERSION forwarded by the SPMD; `w3` the requested version word (a claim,
    /// checked by [`crate::version::negotiate`]).
    VersionRequest {
        /// The raw requested version word.
        requested: u32,
    },
    /// Type 0x09: the SPMC's answer to a forwarded FFA_VERSION.
    VersionResponse(VersionResponse),
}

fn status_to_word(status: Result<(), FfaError>) -> u64 {
    match status {
        Ok(()) => 0,
        Err(error) => error.to_register(),
    }
}

fn status_from_word(word: u32) -> Result<Result<(), FfaError>, FfaError> {
    if word == 0 {
        return Ok(Ok(()));
    }
    match FfaError::from_register(word.into()) {
        Some(error) => Ok(Err(error)),
        None => Err(FfaError::InvalidParameters),
    }
}

impl FrameworkMessage {
    /// The message type (`w2[7:0]`).
    pub const fn message_type(&self) -> u8 {
        match self {
            Self::PsciRequest { .. } => 0x00,
            Self::WarmBootRequest(_) => 0x01,
            Self::PowerManagementResponse { .. } => 0x02,
            Self::VmCreated { .. } => 0x04,
            Self::VmCreatedResponse(_) => 0x05,
            Self::VmDestroyed { .. } => 0x06,
            Self::VmDestroyedResponse(_) => 0x07,
            Self::VersionRequest { .. } => 0x08,
            Self::VersionResponse(_) => 0x09,
        }
    }

    /// Decodes from `w2` (framework bit already seen set) and the payload `x3`-`x7` (already
    /// truncated to 32 bits for SMC32). Reserved bits of `w2` (`[30:8]`) and of the used words
    /// must be zero; unknown types are INVALID_PARAMETERS.
    pub fn decode(flags: u32, payload: [u64; 5]) -> Result<Self, FfaError> {
        if flags & !(FRAMEWORK_MESSAGE_BIT | 0xFF) != 0 {
            return Err(FfaError::InvalidParameters);
        }
        let [word3, word4, word5, word6, _] = payload;
        let low32 = |value: u64| -> Result<u32, FfaError> {
            u32::try_from(value).map_err(|_| FfaError::InvalidParameters)
        };
        Ok(match flags & 0xFF {
            0x00 => Self::PsciRequest { function: low32(word3)?, arguments: [word4, word5, word6] },
            0x01 => Self::WarmBootRequest(match word3 {
                0 => WarmBootType::ExitFromSuspend,
                1 => WarmBootType::ExitFromLowPower,
                _ => return Err(FfaError::InvalidParameters),
            }),
            0x02 => Self::PowerManagementResponse { status: low32(word3)? as i32 },
            0x04 | 0x06 => {
                let handle = (word4 & 0xFFFF_FFFF) << 32 | (word3 & 0xFFFF_FFFF);
                if word3 >> 32 != 0 || word4 >> 32 != 0 || word5 >> 16 != 0 {
                    return Err(FfaError::InvalidParameters);
                }
                let vm_id = EndpointId(word5 as u16);
                if flags & 0xFF == 0x04 {
                    Self::VmCreated { handle, vm_id }
                } else {
                    Self::VmDestroyed { handle, vm_id }
                }
            }
            0x05 => Self::VmCreatedResponse(status_from_word(low32(word3)?)?),
            0x07 => Self::VmDestroyedResponse(status_from_word(low32(word3)?)?),
            0x08 => Self::VersionRequest { requested: low32(word3)? },
            0x09 => Self::VersionResponse(VersionResponse::from_word(low32(word3)?)?),
            _ => return Err(FfaError::InvalidParameters),
        })
    }

    /// Encodes to (`w2`, `x3`-`x7`).
    pub fn encode(&self) -> (u32, [u64; 5]) {
        let flags = FRAMEWORK_MESSAGE_BIT | u32::from(self.message_type());
        let payload = match *self {
            Self::PsciRequest { function, arguments: [a, b, c] } => [function.into(), a, b, c, 0],
            Self::WarmBootRequest(kind) => {
                [matches!(kind, WarmBootType::ExitFromLowPower).into(), 0, 0, 0, 0]
            }
            Self::PowerManagementResponse { status } => [u64::from(status as u32), 0, 0, 0, 0],
            Self::VmCreated { handle, vm_id } | Self::VmDestroyed { handle, vm_id } => {
                [handle & 0xFFFF_FFFF, handle >> 32, vm_id.0.into(), 0, 0]
            }
            Self::VmCreatedResponse(status) | Self::VmDestroyedResponse(status) => {
                [status_to_word(status), 0, 0, 0, 0]
            }
            Self::VersionRequest { requested } => [requested.into(), 0, 0, 0, 0],
            Self::VersionResponse(response) => [response.to_word().into(), 0, 0, 0, 0],
        };
        (flags, payload)
    }
}
