//! FF-A status codes (the `w2` of FFA_ERROR) and their conversion to and from register values.

/// An FF-A error status, as carried in `w2` of an `FFA_ERROR` response.
///
/// Reference: ffa-reference.md §1.5 (all v1.0-v1.2 implementations agree on -1..-9; -10 is
/// NOT_READY in Hafnium and Linux).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(i32)]
pub enum FfaError {
    /// The call or feature is not implemented or not available to this caller.
    NotSupported = -1,
    /// An argument is malformed, out of range, or inconsistent.
    InvalidParameters = -2,
    /// The callee lacks memory (or pool capacity) to complete the call.
    NoMemory = -3,
    /// The target is busy; try again later.
    Busy = -4,
    /// The call was interrupted and may be resumed.
    Interrupted = -5,
    /// The caller is not allowed to do this in the current state.
    Denied = -6,
    /// The call should be retried.
    Retry = -7,
    /// The target partition aborted.
    Aborted = -8,
    /// There is nothing to return (e.g. no pending notifications).
    NoData = -9,
    /// The callee is not ready yet.
    NotReady = -10,
}

impl FfaError {
    /// Every status, in code order (for tests and tables).
    pub const ALL: [Self; 10] = [
        Self::NotSupported,
        Self::InvalidParameters,
        Self::NoMemory,
        Self::Busy,
        Self::Interrupted,
        Self::Denied,
        Self::Retry,
        Self::Aborted,
        Self::NoData,
        Self::NotReady,
    ];

    /// The signed status code.
    pub const fn code(self) -> i32 {
        self as i32
    }

    /// The status as it appears in `w2`/`x2`: the 32-bit code, zero-extended.
    pub const fn to_register(self) -> u64 {
        self.code() as u32 as u64
    }

    /// Reads a status from `w2` (only the low 32 bits count, as for every SMC32 result).
    pub fn from_register(value: u64) -> Option<Self> {
        Self::try_from(value as u32 as i32).ok()
    }

    /// The spec's name for the status.
    pub const fn name(self) -> &'static str {
        match self {
            Self::NotSupported => "NOT_SUPPORTED",
            Self::InvalidParameters => "INVALID_PARAMETERS",
            Self::NoMemory => "NO_MEMORY",
            Self::Busy => "BUSY",
            Self::Interrupted => "INTERRUPTED",
            Self::Denied => "DENIED",
            Self::Retry => "RETRY",
            Self::Aborted => "ABORTED",
            Self::NoData => "NO_DATA",
            Self::NotReady => "NOT_READY",
        }
    }
}

/// A status code that is not one FF-A defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownErrorCode(pub i32);

impl TryFrom<i32> for FfaError {
    type Error = UnknownErrorCode;

    fn try_from(code: i32) -> Result<Self, Self::Error> {
        Self::ALL.into_iter().find(|error| error.code() == code).ok_or(UnknownErrorCode(code))
    }
}

impl core::fmt::Display for FfaError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(formatter, "{} ({})", self.name(), self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_registers() {
        for error in FfaError::ALL {
            assert_eq!(FfaError::from_register(error.to_register()), Some(error));
        }
        assert_eq!(FfaError::NotSupported.to_register(), 0xFFFF_FFFF);
        assert_eq!(FfaError::InvalidParameters.to_register(), 0xFFFF_FFFE);
    }

    #[test]
    fn upper_register_bits_are_ignored_and_unknown_codes_rejected() {
        assert_eq!(FfaError::from_register(0xDEAD_BEEF_FFFF_FFFA), Some(FfaError::Denied));
        assert_eq!(FfaError::from_register(0), None);
        assert_eq!(FfaError::try_from(-11), Err(UnknownErrorCode(-11)));
    }
}
