//! FFA_ERROR and FFA_SUCCESS (32 and 64) in registers.

use super::{Call, Reader, Writer};
use crate::{FfaError, TargetInfo};

/// The function-specific results of an FFA_SUCCESS; the variant picks SUCCESS_32 or SUCCESS_64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SuccessArgs {
    /// FFA_SUCCESS_32: `w2`-`w7`.
    Args32([u32; 6]),
    /// FFA_SUCCESS_64: `x2`-`x17` (x8-x17 only at v1.2+, else zero).
    Args64([u64; 16]),
}

impl SuccessArgs {
    /// No results (SUCCESS_32 with w2-w7 zero).
    pub const EMPTY: Self = Self::Args32([0; 6]);

    /// Whether this is FFA_SUCCESS_64.
    pub const fn is_64bit(&self) -> bool {
        matches!(self, Self::Args64(_))
    }

    /// FFA_ID_GET / FFA_SPM_ID_GET results: `w2[15:0]` the ID.
    pub const fn id(id: crate::EndpointId) -> Self {
        Self::Args32([id.0 as u32, 0, 0, 0, 0, 0])
    }

    /// A memory transaction handle in `w2` (low) and `w3` (high).
    pub const fn handle(handle: u64) -> Self {
        Self::Args32([handle as u32, (handle >> 32) as u32, 0, 0, 0, 0])
    }

    /// FFA_PARTITION_INFO_GET results: `w2` count, `w3` descriptor size.
    pub const fn partition_count(count: u32, descriptor_size: u32) -> Self {
        Self::Args32([count, descriptor_size, 0, 0, 0, 0])
    }

    /// Result register `x(index)` (2..=17), zero-extended for SUCCESS_32.
    pub fn register(&self, index: usize) -> u64 {
        let Some(position) = index.checked_sub(2) else { return 0 };
        match self {
            Self::Args32(words) => words.get(position).copied().map_or(0, u64::from),
            Self::Args64(values) => values.get(position).copied().unwrap_or(0),
        }
    }

    /// The handle read back from `w2`/`w3`.
    pub fn to_handle(&self) -> u64 {
        (self.register(3) & 0xFFFF_FFFF) << 32 | (self.register(2) & 0xFFFF_FFFF)
    }
}

#[inline]
fn target(reader: &Reader<'_>) -> Result<TargetInfo, FfaError> {
    TargetInfo::from_register(reader.x(1)).ok_or(FfaError::InvalidParameters)
}

/// FFA_ERROR: `w1` target, `w2` status (an unknown status, or `x2[63:32]` set in the SMC64
/// form, is INVALID_PARAMETERS).
#[inline]
pub(super) fn decode_error(reader: &Reader<'_>) -> Result<Call, FfaError> {
    let error =
        FfaError::from_register(reader.x(2) & 0xFFFF_FFFF).ok_or(FfaError::InvalidParameters)?;
    if reader.x(2) >> 32 != 0 {
        return Err(FfaError::InvalidParameters);
    }
    Ok(Call::Error { target: target(reader)?, error, is_64: reader.is_64() })
}

/// FFA_SUCCESS: `w1` target, then `w2`-`w7` (SUCCESS_32) or `x2`-`x17` (SUCCESS_64).
#[inline]
pub(super) fn decode_success(reader: &Reader<'_>) -> Result<Call, FfaError> {
    let target = target(reader)?;
    let args = if reader.is_64() {
        SuccessArgs::Args64(reader.range(2))
    } else {
        SuccessArgs::Args32(reader.range::<6>(2).map(|value| value as u32))
    };
    Ok(Call::Success { target, args })
}

/// FFA_ERROR: `w1` target, `w2` status.
#[inline]
pub(super) fn encode_error(writer: &Writer, target: TargetInfo, error: FfaError) -> [u64; 18] {
    writer.registers([target.to_register(), error.to_register()])
}

/// FFA_SUCCESS: `w1` target, then the results.
#[inline]
pub(super) fn encode_success(writer: &Writer, target: TargetInfo, args: &SuccessArgs) -> [u64; 18] {
    let target = target.to_register();
    match args {
        SuccessArgs::Args32([a, b, c, d, e, f]) => writer.registers([
            target,
            (*a).into(),
            (*b).into(),
            (*c).into(),
            (*d).into(),
            (*e).into(),
            (*f).into(),
        ]),
        SuccessArgs::Args64(
            [x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, x12, x13, x14, x15, x16, x17],
        ) => writer.registers([
            target, *x2, *x3, *x4, *x5, *x6, *x7, *x8, *x9, *x10, *x11, *x12, *x13, *x14, *x15,
            *x16, *x17,
        ]),
    }
}
