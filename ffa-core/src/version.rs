//! The FF-A version word, the compatibility rule and the callee side of FFA_VERSION negotiation.

use crate::FfaError;

/// An FF-A version: 15-bit major, 16-bit minor (reference §3.1; bit 31 of the word is MBZ).
///
/// Ordering compares the major number first, then the minor number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version {
    major: u16,
    minor: u16,
}

impl Version {
    /// FF-A v1.0 (`0x0001_0000`).
    pub const V1_0: Self = Self { major: 1, minor: 0 };
    /// FF-A v1.1 (`0x0001_0001`).
    pub const V1_1: Self = Self { major: 1, minor: 1 };
    /// FF-A v1.2 (`0x0001_0002`).
    pub const V1_2: Self = Self { major: 1, minor: 2 };
    /// FF-A v1.3 (`0x0001_0003`); only used to gate the v1.3 function IDs the reference lists.
    pub const V1_3: Self = Self { major: 1, minor: 3 };
    /// The largest major number the 15-bit field can hold.
    pub const MAX_MAJOR: u16 = 0x7FFF;

    /// A version, or `None` if `major` does not fit in 15 bits.
    pub const fn new(major: u16, minor: u16) -> Option<Self> {
        if major > Self::MAX_MAJOR {
            return None;
        }
        Some(Self { major, minor })
    }

    /// The major number.
    pub const fn major(self) -> u16 {
        self.major
    }

    /// The minor number.
    pub const fn minor(self) -> u16 {
        self.minor
    }

    /// The 32-bit version word `major << 16 | minor`.
    pub const fn to_word(self) -> u32 {
        ((self.major as u32) << 16) | self.minor as u32
    }

    /// Parses a version word; bit 31 set is NOT_SUPPORTED (reference §3.1, matrix D02).
    pub const fn from_word(word: u32) -> Result<Self, FfaError> {
        if word & 0x8000_0000 != 0 {
            return Err(FfaError::NotSupported);
        }
        Ok(Self { major: (word >> 16) as u16, minor: word as u16 })
    }

    /// Whether a callee implementing `callee` can serve a caller asking for `self`: same major
    /// number and `self.minor <= callee.minor` (reference §3.2).
    pub const fn is_served_by(self, callee: Self) -> bool {
        self.major == callee.major && self.minor <= callee.minor
    }
}

impl core::fmt::Display for Version {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(formatter, "{}.{}", self.major, self.minor)
    }
}

/// What `w0` holds in the answer to FFA_VERSION: a version word or NOT_SUPPORTED (`0xFFFF_FFFF`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VersionResponse {
    /// The callee's own implemented version.
    Supported(Version),
    /// The callee cannot serve the requested version.
    NotSupported,
}

impl VersionResponse {
    /// The 32-bit `w0` value.
    pub const fn to_word(self) -> u32 {
        match self {
            Self::Supported(version) => version.to_word(),
            Self::NotSupported => FfaError::NotSupported.code() as u32,
        }
    }

    /// Reads `w0` of an FFA_VERSION answer (upper 32 bits ignored). A negative value other than
    /// NOT_SUPPORTED is not a valid answer.
    pub const fn from_word(word: u32) -> Result<Self, FfaError> {
        if word == FfaError::NotSupported.code() as u32 {
            return Ok(Self::NotSupported);
        }
        match Version::from_word(word) {
            Ok(version) => Ok(Self::Supported(version)),
            Err(_) => Err(FfaError::InvalidParameters),
        }
    }
}

/// The partition manager's answer to FFA_VERSION carrying `requested_word` in `w1`.
///
/// The callee answers with its own version when the caller's major number matches, and
/// NOT_SUPPORTED for bit 31 set or a different major number (reference §3.2, matrix D01-D03).
/// Freezing negotiation after the first other call (D04) is the caller's state, not this
/// function's.
pub const fn negotiate(own: Version, requested_word: u32) -> VersionResponse {
    match Version::from_word(requested_word) {
        Ok(requested) if requested.major == own.major => VersionResponse::Supported(own),
        _ => VersionResponse::NotSupported,
    }
}

/// The version both sides then use: the lower of the caller's request and the callee's answer,
/// or `None` when they are incompatible (reference §3.2, caller side).
pub fn agreed_version(requested: Version, answer: VersionResponse) -> Option<Version> {
    match answer {
        VersionResponse::Supported(callee) if callee.major == requested.major => {
            Some(core::cmp::min(requested, callee))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_match_the_reference() {
        assert_eq!(Version::V1_0.to_word(), 0x0001_0000);
        assert_eq!(Version::V1_1.to_word(), 0x0001_0001);
        assert_eq!(Version::V1_2.to_word(), 0x0001_0002);
        assert_eq!(Version::from_word(0x0001_0002), Ok(Version::V1_2));
        assert_eq!(Version::from_word(0x8001_0002), Err(FfaError::NotSupported));
        assert_eq!(Version::new(0x8000, 0), None);
    }

    #[test]
    fn compatibility_needs_same_major_and_enough_minor() {
        assert!(Version::V1_1.is_served_by(Version::V1_2));
        assert!(!Version::V1_2.is_served_by(Version::V1_1));
        assert!(!Version::new(2, 0).unwrap().is_served_by(Version::V1_2));
    }

    #[test]
    fn negotiation_answers_own_version_or_not_supported() {
        assert_eq!(negotiate(Version::V1_2, 0x0001_0001), VersionResponse::Supported(Version::V1_2));
        assert_eq!(negotiate(Version::V1_2, 0x0001_0005), VersionResponse::Supported(Version::V1_2));
        assert_eq!(negotiate(Version::V1_2, 0x8001_0002), VersionResponse::NotSupported);
        assert_eq!(negotiate(Version::V1_2, 0x0002_0000), VersionResponse::NotSupported);
        assert_eq!(negotiate(Version::V1_2, 0x0000_0009), VersionResponse::NotSupported);
        assert_eq!(VersionResponse::NotSupported.to_word(), 0xFFFF_FFFF);
        assert_eq!(VersionResponse::from_word(0xFFFF_FFFE), Err(FfaError::InvalidParameters));
        assert_eq!(
            agreed_version(Version::V1_1, VersionResponse::Supported(Version::V1_2)),
            Some(Version::V1_1)
        );
    }
}
