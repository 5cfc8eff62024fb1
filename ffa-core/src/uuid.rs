//! UUIDs and their register (w1-w4, x2-x3) and manifest (4 x u32) forms.

/// A UUID as 16 bytes in canonical string order: `a1a2a3a4-b1b2-c1c2-d1d2-d3..d8` is
/// `[a1, a2, a3, a4, b1, b2, c1, c2, d1, ..., d8]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Uuid(pub [u8; 16]);

/// A string that is not a canonical `8-4-4-4-12` hexadecimal UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UuidParseError;

impl Uuid {
    /// The Nil UUID (all zeros): "every partition" in discovery calls.
    pub const NIL: Self = Self([0; 16]);

    /// Whether this is the Nil UUID.
    pub const fn is_nil(&self) -> bool {
        u128::from_le_bytes(self.0) == 0
    }

    /// The w1-w4 form of FFA_PARTITION_INFO_GET: bytes 0-3, 4-7, 8-11, 12-15, each read
    /// little-endian (reference §4.2).
    pub fn to_words(&self) -> [u32; 4] {
        let mut words = [0u32; 4];
        for (word, bytes) in words.iter_mut().zip(self.0.chunks_exact(4)) {
            let mut quad = [0u8; 4];
            quad.copy_from_slice(bytes);
            *word = u32::from_le_bytes(quad);
        }
        words
    }

    /// The inverse of [`Uuid::to_words`]; also reads the manifest `uuid = <a b c d>` tuple,
    /// which uses the same layout (reference §10.4).
    pub fn from_words(words: [u32; 4]) -> Self {
        let mut bytes = [0u8; 16];
        for (chunk, word) in bytes.chunks_exact_mut(4).zip(words) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        Self(bytes)
    }

    /// The x-register pair of DIRECT_REQ2 (x2, x3) and PARTITION_INFO_GET_REGS (x1, x2):
    /// bytes 0-7 and 8-15, each little-endian (byte 0 in bits `[7:0]`).
    pub fn to_register_pair(&self) -> [u64; 2] {
        let value = u128::from_le_bytes(self.0);
        [value as u64, (value >> 64) as u64]
    }

    /// The inverse of [`Uuid::to_register_pair`].
    pub fn from_register_pair(low: u64, high: u64) -> Self {
        Self((u128::from(high) << 64 | u128::from(low)).to_le_bytes())
    }

    /// Parses the canonical `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` form (either case).
    pub fn parse(text: &str) -> Result<Self, UuidParseError> {
        let text = text.as_bytes();
        if text.len() != 36 {
            return Err(UuidParseError);
        }
        let mut bytes = [0u8; 16];
        let mut digits = text.iter().enumerate().filter_map(|(position, &character)| {
            if matches!(position, 8 | 13 | 18 | 23) {
                None
            } else {
                Some((position, character))
            }
        });
        for (position, &character) in text.iter().enumerate() {
            if matches!(position, 8 | 13 | 18 | 23) && character != b'-' {
                return Err(UuidParseError);
            }
        }
        for byte in bytes.iter_mut() {
            let (Some((_, high)), Some((_, low))) = (digits.next(), digits.next()) else {
                return Err(UuidParseError);
            };
            *byte = hex_value(high)? << 4 | hex_value(low)?;
        }
        Ok(Self(bytes))
    }
}

fn hex_value(character: u8) -> Result<u8, UuidParseError> {
    match character {
        b'0'..=b'9' => Ok(character - b'0'),
        b'a'..=b'f' => Ok(character - b'a' + 10),
        b'A'..=b'F' => Ok(character - b'A' + 10),
        _ => Err(UuidParseError),
    }
}

impl core::str::FromStr for Uuid {
    type Err = UuidParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl core::fmt::Display for Uuid {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (index, byte) in self.0.iter().enumerate() {
            if matches!(index, 4 | 6 | 8 | 10) {
                formatter.write_str("-")?;
            }
            write!(formatter, "{byte:02x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTEE: &str = "486178e0-e7f8-11e3-bc5e-0002a5d5c51b";

    #[test]
    fn parses_and_displays_the_canonical_form() {
        let uuid = Uuid::parse(OPTEE).unwrap();
        assert_eq!(uuid.0[0], 0x48);
        assert_eq!(uuid.0[15], 0x1b);
        let mut text = [0u8; 36];
        let mut cursor = &mut text[..];
        core::fmt::Write::write_fmt(&mut Cursor(&mut cursor), format_args!("{uuid}")).unwrap();
        assert_eq!(&text[..], OPTEE.as_bytes());
        assert_eq!(Uuid::parse("486178e0-e7f8-11e3-bc5e-0002a5d5c51"), Err(UuidParseError));
        assert_eq!(Uuid::parse("486178e0xe7f8-11e3-bc5e-0002a5d5c51b"), Err(UuidParseError));
        assert_eq!(Uuid::parse("486178g0-e7f8-11e3-bc5e-0002a5d5c51b"), Err(UuidParseError));
    }

    struct Cursor<'a, 'b>(&'a mut &'b mut [u8]);
    impl core::fmt::Write for Cursor<'_, '_> {
        fn write_str(&mut self, text: &str) -> core::fmt::Result {
            let buffer = core::mem::take(self.0);
            let (head, tail) = buffer.split_at_mut(text.len());
            head.copy_from_slice(text.as_bytes());
            *self.0 = tail;
            Ok(())
        }
    }

    #[test]
    fn register_forms_follow_the_reference_byte_order() {
        let uuid = Uuid::parse(OPTEE).unwrap();
        // OP-TEE's manifest tuple, which is the w1-w4 form.
        assert_eq!(uuid.to_words(), [0xe078_6148, 0xe311_f8e7, 0x0200_5ebc, 0x1bc5_d5a5]);
        assert_eq!(Uuid::from_words(uuid.to_words()), uuid);
        assert_eq!(uuid.to_register_pair(), [0xe311_f8e7_e078_6148, 0x1bc5_d5a5_0200_5ebc]);
        let [low, high] = uuid.to_register_pair();
        assert_eq!(Uuid::from_register_pair(low, high), uuid);
        assert!(Uuid::NIL.is_nil() && !uuid.is_nil());
    }
}
