//! The driver's one error type: an FF-A status or a transport failure, tagged with the call.

use ffa_core::{FfaError, FunctionId, Version};

/// What went wrong, independent of which call it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The callee answered FFA_ERROR with this status.
    Ffa(FfaError),
    /// The callee answered with a function ID that this call cannot complete with (the raw
    /// `w0`, which may not even be an FF-A ID).
    UnexpectedResponse(u32),
    /// The answer had the right function ID but broke the ABI (reserved bits set, a
    /// descriptor that does not fit the buffer, a response from the wrong endpoint, ...).
    MalformedResponse(&'static str),
    /// FFA_VERSION found no version both sides implement. `offered` is the callee's answer
    /// (`None` for NOT_SUPPORTED).
    IncompatibleVersion {
        /// The highest version the driver asked for.
        requested: Version,
        /// What the callee answered.
        offered: Option<Version>,
    },
    /// FFA_FEATURES said the callee does not implement the call (nothing was sent).
    NotOffered,
    /// The caller's arguments were rejected before anything was sent.
    InvalidArgument(&'static str),
    /// The call needs the RX/TX buffers and none are mapped.
    BuffersNotMapped,
    /// FFA_RXTX_MAP was asked for while buffers are already mapped.
    BuffersAlreadyMapped,
    /// No partition has the UUID that was looked up.
    PartitionNotFound,
}

/// An error from the driver: the call that failed and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DriverError {
    /// The FF-A call that failed (or would have been made).
    pub call: FunctionId,
    /// The reason.
    pub kind: ErrorKind,
}

impl DriverError {
    /// An error of `kind` for `call`.
    pub const fn new(call: FunctionId, kind: ErrorKind) -> Self {
        Self { call, kind }
    }

    /// The FF-A status, if the callee answered FFA_ERROR.
    pub const fn ffa_error(&self) -> Option<FfaError> {
        match self.kind {
            ErrorKind::Ffa(error) => Some(error),
            _ => None,
        }
    }

    /// Whether the callee answered FFA_ERROR with `error`.
    pub fn is(&self, error: FfaError) -> bool {
        self.ffa_error() == Some(error)
    }
}

impl core::fmt::Display for DriverError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(formatter, "{}: ", self.call.name())?;
        match self.kind {
            ErrorKind::Ffa(error) => write!(formatter, "FFA_ERROR {error}"),
            ErrorKind::UnexpectedResponse(function) => {
                write!(formatter, "unexpected response function ID {function:#010x}")
            }
            ErrorKind::MalformedResponse(reason) => {
                write!(formatter, "malformed response: {reason}")
            }
            ErrorKind::IncompatibleVersion { requested, offered: Some(offered) } => {
                write!(
                    formatter,
                    "asked for FF-A {requested}, callee implements incompatible {offered}"
                )
            }
            ErrorKind::IncompatibleVersion { requested, offered: None } => {
                write!(formatter, "asked for FF-A {requested}, callee answered NOT_SUPPORTED")
            }
            ErrorKind::NotOffered => formatter.write_str("not offered by FFA_FEATURES"),
            ErrorKind::InvalidArgument(reason) => write!(formatter, "invalid argument: {reason}"),
            ErrorKind::BuffersNotMapped => formatter.write_str("RX/TX buffers are not mapped"),
            ErrorKind::BuffersAlreadyMapped => formatter.write_str("RX/TX buffers already mapped"),
            ErrorKind::PartitionNotFound => formatter.write_str("no partition with that UUID"),
        }
    }
}

/// The driver's result type.
pub type Result<T> = core::result::Result<T, DriverError>;
