//! Partition UUIDs: the 4-cell manifest form, the string form, and the 16-byte value.

use core::fmt;

/// A UUID as its 16 bytes in RFC 4122 text order: `a1a2a3a4-b1b2-c1c2-d1d2-d3d4d5d6d7d8` is
/// `[a1, a2, a3, a4, b1, b2, c1, c2, d1, d2, d3, d4, d5, d6, d7, d8]`.
///
/// The 1.0 manifest binding writes a UUID as four u32 cells laid out like the `w1`-`w4`
/// register form of FFA_PARTITION_INFO_GET (ffa-reference.md §4.2, §10.4): cell *n* holds
/// bytes `4n..4n+4` little-endian, so `a1a2a3a4-b1b2-c1c2-...` is written
/// `<0xa4a3a2a1 0xc2c1b2b1 0xd4d3d2d1 0xd8d7d6d5>`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uuid(pub [u8; 16]);

impl Uuid {
    /// The Nil UUID, which FFA_PARTITION_INFO_GET reserves for "all partitions".
    pub const NIL: Self = Self([0; 16]);

    /// The UUID whose register (and 1.0 manifest cell) form is `words`.
    pub fn from_register_words(words: [u32; 4]) -> Self {
        let mut bytes = [0u8; 16];
        for (chunk, word) in bytes.chunks_exact_mut(4).zip(words) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        Self(bytes)
    }

    /// The register (and 1.0 manifest cell) form, `w1`-`w4`.
    pub fn to_register_words(self) -> [u32; 4] {
        let mut words = [0u32; 4];
        for (word, chunk) in words.iter_mut().zip(self.0.chunks_exact(4)) {
            let mut array = [0u8; 4];
            array.copy_from_slice(chunk);
            *word = u32::from_le_bytes(array);
        }
        words
    }

    /// Parses the text form `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (hex digits of either case).
    pub fn parse_str(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        if bytes.len() != 36 {
            return None;
        }
        let mut result = [0u8; 16];
        let mut digits = bytes.iter().enumerate().filter_map(|(index, &byte)| match index {
            8 | 13 | 18 | 23 => None,
            _ => Some(byte),
        });
        for (index, &byte) in bytes.iter().enumerate() {
            if matches!(index, 8 | 13 | 18 | 23) && byte != b'-' {
                return None;
            }
        }
        for slot in result.iter_mut() {
            let high = hex_value(digits.next()?)?;
            let low = hex_value(digits.next()?)?;
            *slot = (high << 4) | low;
        }
        Some(Self(result))
    }
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, byte) in self.0.iter().enumerate() {
            if matches!(index, 4 | 6 | 8 | 10) {
                formatter.write_str("-")?;
            }
            write!(formatter, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Uuid {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "Uuid({self})")
    }
}
