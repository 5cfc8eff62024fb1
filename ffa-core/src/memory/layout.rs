//! Which descriptor layout a peer speaks: v1.0, v1.1 (16-byte EMADs) or v1.2 (32-byte EMADs).

/// The memory transaction descriptor layout, chosen by the version the peer negotiated.
///
/// v1.0 has a 32-byte header with the EMAD array right after it; v1.1 and later have a 48-byte
/// header with an EMAD size, count and offset. The EMAD size is 16 bytes up to v1.1 and 32
/// bytes (with a 16-byte implementation-defined value) from v1.2 (reference §7.2-§7.3). A v1.1+
/// descriptor whose EMAD size does not match the expected layout is INVALID_PARAMETERS, as
/// Hafnium rejects it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// FF-A v1.0.
    V1_0,
    /// FF-A v1.1: 48-byte header, 16-byte EMADs.
    V1_1,
    /// FF-A v1.2 and later: 48-byte header, 32-byte EMADs.
    V1_2,
}

impl Layout {
    /// Every layout (for tests and fuzzing).
    pub const ALL: [Self; 3] = [Self::V1_0, Self::V1_1, Self::V1_2];

    /// Size of the memory transaction descriptor header.
    pub const fn header_size(self) -> usize {
        match self {
            Self::V1_0 => 32,
            Self::V1_1 | Self::V1_2 => 48,
        }
    }

    /// Size of one endpoint memory access descriptor.
    pub const fn access_descriptor_size(self) -> usize {
        match self {
            Self::V1_0 | Self::V1_1 => 16,
            Self::V1_2 => 32,
        }
    }
}
