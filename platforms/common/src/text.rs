//! A fixed-size text buffer, to format `Display` values (such as parser errors) without a heap.

/// Up to `N` bytes of formatted text; anything longer is cut at a character boundary.
#[derive(Debug)]
pub struct TextBuffer<const N: usize> {
    bytes: [u8; N],
    length: usize,
}

impl<const N: usize> TextBuffer<N> {
    /// Formats `value` into a new buffer.
    pub fn format(value: &dyn core::fmt::Display) -> Self {
        let mut buffer = Self { bytes: [0; N], length: 0 };
        let _ = core::fmt::write(&mut buffer, format_args!("{value}"));
        buffer
    }

    /// A buffer holding `text` (cut to `N` bytes at a character boundary); no formatting code.
    pub fn from_text(text: &str) -> Self {
        let mut buffer = Self { bytes: [0; N], length: 0 };
        let _ = core::fmt::Write::write_str(&mut buffer, text);
        buffer
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        let bytes = self.bytes.get(..self.length).unwrap_or_default();
        match core::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(error) => {
                core::str::from_utf8(bytes.get(..error.valid_up_to()).unwrap_or_default())
                    .unwrap_or_default()
            }
        }
    }
}

impl<const N: usize> core::fmt::Write for TextBuffer<N> {
    fn write_str(&mut self, text: &str) -> core::fmt::Result {
        let room = N - self.length;
        let take = text.len().min(room);
        if let (Some(target), Some(source)) =
            (self.bytes.get_mut(self.length..self.length + take), text.as_bytes().get(..take))
        {
            target.copy_from_slice(source);
            self.length += take;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_cuts_at_a_character_boundary() {
        assert_eq!(TextBuffer::<16>::format(&"magic: bad").as_str(), "magic: bad");
        assert_eq!(TextBuffer::<4>::format(&"abcdef").as_str(), "abcd");
        // "é" is two bytes; a 2-byte buffer after "a" can hold only its first byte.
        assert_eq!(TextBuffer::<2>::format(&"aé").as_str(), "a");
        assert_eq!(TextBuffer::<4>::from_text("abcdef").as_str(), "abcd");
        assert_eq!(TextBuffer::<2>::from_text("aé").as_str(), "a");
    }
}
