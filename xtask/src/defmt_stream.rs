//! Decoding the shared defmt log stream: frames tagged by image, each decoded with its own table.

use defmt_decoder::Table;

/// Knows every image's defmt table and turns stream bytes into text lines.
pub struct LogDecoder {
    /// (tag byte, image name, table)
    tables: Vec<(u8, String, Table)>,
    pending: Vec<u8>,
}

impl std::fmt::Debug for LogDecoder {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("LogDecoder").field("images", &self.tables.len()).finish()
    }
}

impl LogDecoder {
    /// `images`: (tag byte, name, ELF bytes). Images without defmt data are skipped.
    pub fn new(images: &[(u8, String, Vec<u8>)]) -> Result<Self, String> {
        let mut tables = Vec::new();
        for (tag, name, elf) in images {
            match Table::parse(elf) {
                Ok(Some(table)) => tables.push((*tag, name.clone(), table)),
                Ok(None) => {}
                Err(error) => return Err(format!("{name}: cannot read its defmt table: {error}")),
            }
        }
        Ok(Self { tables, pending: Vec::new() })
    }

    /// Feeds bytes from the stream; returns every line completed by them.
    pub fn received(&mut self, bytes: &[u8]) -> Vec<String> {
        self.pending.extend_from_slice(bytes);
        let mut lines = Vec::new();
        while let Some(end) = self.pending.iter().position(|&byte| byte == 0) {
            let chunk: Vec<u8> = self.pending.drain(..=end).collect();
            if let Some(line) = self.decode_frame(&chunk) {
                lines.push(line);
            }
        }
        lines
    }

    fn decode_frame(&self, chunk: &[u8]) -> Option<String> {
        let (&tag, frame) = chunk.split_first()?;
        if frame.is_empty() {
            return None;
        }
        let Some((_, name, table)) = self.tables.iter().find(|(known, _, _)| *known == tag) else {
            return Some(format!("[log] undecodable frame from unknown image tag {tag:#04x}"));
        };
        let mut decoder = table.new_stream_decoder();
        decoder.received(frame);
        match decoder.decode() {
            Ok(frame) => {
                let level =
                    frame.level().map(|level| level.as_str().to_uppercase()).unwrap_or_default();
                Some(format!("[{name}] {level:<5} {}", frame.display_message()))
            }
            Err(error) => Some(format!("[{name}] undecodable frame ({error})")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_frames_at_zero_bytes_and_names_unknown_images() {
        let mut decoder = LogDecoder::new(&[]).expect("no tables is fine");
        // A leading separator, then two tagged frames from an image nobody registered,
        // the second arriving in two pieces.
        assert_eq!(decoder.received(&[0x00, 0x07, 0x11, 0x00]).len(), 1);
        assert!(decoder.received(&[0x07, 0x22]).is_empty(), "an unfinished frame waits");
        let lines = decoder.received(&[0x33, 0x00]);
        assert_eq!(lines.len(), 1);
        assert!(lines[0].contains("unknown image tag 0x07"), "{}", lines[0]);
    }
}
