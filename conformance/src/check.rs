//! A conformance check: where it comes from, what it expects, and how it went.

use core::fmt;

use crate::context::Context;

/// What a check expected, for failure messages (`expected <X>, got <Y>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// An FFA_ERROR with this status.
    Error(ffa_core::FfaError),
    /// FFA_SUCCESS (32 or 64).
    Success,
    /// A particular function ID in w0.
    Function(u64),
    /// A bare value in w0 (FFA_VERSION answers this way).
    Value(u64),
    /// Free text.
    Text(&'static str),
}

impl fmt::Display for Expected {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Error(error) => write!(formatter, "FFA_ERROR({})", error.name()),
            Self::Success => write!(formatter, "FFA_SUCCESS"),
            Self::Function(id) => write!(formatter, "{}", Got::function_name(*id)),
            Self::Value(value) => write!(formatter, "w0={value:#x}"),
            Self::Text(text) => write!(formatter, "{text}"),
        }
    }
}

/// What came back, described for a failure message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Got(pub [u64; 18]);

impl Got {
    fn function_name(id: u64) -> &'static str {
        ffa_core::FunctionId::from_register(id)
            .map(|function| function.name())
            .unwrap_or("an unknown function")
    }
}

impl fmt::Display for Got {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [w0, _, w2, ..] = self.0;
        match w0 as u32 {
            0x8400_0060 | 0xC400_0060 => match ffa_core::FfaError::from_register(w2) {
                Some(error) => write!(formatter, "FFA_ERROR({})", error.name()),
                None => write!(formatter, "FFA_ERROR(unknown status {:#x})", w2 as u32),
            },
            _ if ffa_core::FunctionId::from_register(w0).is_ok() => {
                write!(formatter, "{}", Self::function_name(w0))
            }
            _ => write!(formatter, "w0={w0:#x}"),
        }
    }
}

/// How a check went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The implementation behaved as the matrix line says.
    Passed,
    /// It did not: what was expected and what came back.
    Failed { expected: Expected, got: Got },
    /// The check could not apply (the call is not offered, or the setup does not allow it).
    Skipped(&'static str),
}

impl Outcome {
    /// Passed if `condition`, else failed with `expected` and `got`.
    pub fn expect(condition: bool, expected: Expected, got: [u64; 18]) -> Self {
        if condition {
            Self::Passed
        } else {
            Self::Failed { expected, got: Got(got) }
        }
    }

    /// Passed if `got` is FFA_ERROR with `error`.
    pub fn expect_error(got: [u64; 18], error: ffa_core::FfaError) -> Self {
        let is_error = matches!(got[0] as u32, 0x8400_0060 | 0xC400_0060);
        Self::expect(
            is_error && got[2] as u32 == error.to_register() as u32,
            Expected::Error(error),
            got,
        )
    }

    /// Passed if `got` is FFA_SUCCESS_32/64.
    pub fn expect_success(got: [u64; 18]) -> Self {
        Self::expect(matches!(got[0] as u32, 0x8400_0061 | 0xC400_0061), Expected::Success, got)
    }

    /// The first non-passing outcome of several, or Passed.
    pub fn all(outcomes: &[Outcome]) -> Self {
        outcomes
            .iter()
            .copied()
            .find(|outcome| *outcome != Outcome::Passed)
            .unwrap_or(Outcome::Passed)
    }
}

/// One conformance check.
#[derive(Clone, Copy)]
pub struct Check {
    /// Its suite (setup_discovery, direct_messaging, indirect_messaging, memory_management,
    /// notifications, interrupts).
    pub suite: &'static str,
    /// Its name, starting with the matrix line it follows (e.g. `d02_...`).
    pub name: &'static str,
    /// The matrix line or specification rule, as text (e.g. "D02").
    pub source: &'static str,
    /// The check itself.
    pub run: fn(&mut Context<'_>) -> Outcome,
}

impl fmt::Debug for Check {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Check")
            .field("suite", &self.suite)
            .field("name", &self.name)
            .finish()
    }
}
