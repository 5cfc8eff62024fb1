//! A writer for the "newc" cpio archives Linux unpacks as its initramfs.
//!
//! Each member is a 110-byte ASCII header (magic `070701` and thirteen 8-digit hex fields),
//! its NUL-terminated name padded to 4 bytes, then its data padded to 4 bytes; the archive ends
//! with a member named `TRAILER!!!`. Only what an initramfs needs is written: directories,
//! regular files, symbolic links and device nodes, all owned by root.

/// File-type bits of `st_mode`.
const DIRECTORY: u32 = 0o040_000;
const REGULAR: u32 = 0o100_000;
const SYMBOLIC_LINK: u32 = 0o120_000;
const CHARACTER_DEVICE: u32 = 0o020_000;
const FILE_TYPE: u32 = 0o170_000;
const TRAILER: &str = "TRAILER!!!";

/// An archive being written.
#[derive(Debug, Default)]
pub struct Archive {
    bytes: Vec<u8>,
    next_inode: u32,
}

fn pad_to_four(bytes: &mut Vec<u8>) {
    while !bytes.len().is_multiple_of(4) {
        bytes.push(0);
    }
}

impl Archive {
    pub fn new() -> Self {
        Self { bytes: Vec::new(), next_inode: 1 }
    }

    fn member(&mut self, name: &str, mode: u32, device: (u32, u32), data: &[u8]) {
        let inode = self.next_inode;
        self.next_inode += 1;
        let links = if mode & FILE_TYPE == DIRECTORY { 2 } else { 1 };
        let fields = [
            inode,
            mode,
            0, // uid
            0, // gid
            links,
            0, // mtime: fixed, so the archive is reproducible
            u32::try_from(data.len()).unwrap_or(u32::MAX),
            0, // devmajor
            0, // devminor
            device.0,
            device.1,
            u32::try_from(name.len() + 1).unwrap_or(u32::MAX),
            0, // check
        ];
        self.bytes.extend_from_slice(b"070701");
        for field in fields {
            self.bytes.extend_from_slice(format!("{field:08X}").as_bytes());
        }
        self.bytes.extend_from_slice(name.as_bytes());
        self.bytes.push(0);
        pad_to_four(&mut self.bytes);
        self.bytes.extend_from_slice(data);
        pad_to_four(&mut self.bytes);
    }

    pub fn directory(&mut self, name: &str) {
        self.member(name, DIRECTORY | 0o755, (0, 0), &[]);
    }

    pub fn file(&mut self, name: &str, permissions: u32, data: &[u8]) {
        self.member(name, REGULAR | (permissions & 0o7777), (0, 0), data);
    }

    pub fn symbolic_link(&mut self, name: &str, target: &str) {
        self.member(name, SYMBOLIC_LINK | 0o777, (0, 0), target.as_bytes());
    }

    pub fn character_device(&mut self, name: &str, permissions: u32, major: u32, minor: u32) {
        self.member(name, CHARACTER_DEVICE | (permissions & 0o7777), (major, minor), &[]);
    }

    /// Ends the archive and returns its bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.member(TRAILER, 0, (0, 0), &[]);
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(header: &[u8], index: usize) -> u32 {
        let start = 6 + index * 8;
        u32::from_str_radix(std::str::from_utf8(&header[start..start + 8]).unwrap(), 16).unwrap()
    }

    #[test]
    fn a_file_member_has_the_newc_layout() {
        let mut archive = Archive::new();
        archive.file("init", 0o755, b"#!/bin/sh\n");
        let bytes = archive.finish();
        assert_eq!(&bytes[..6], b"070701");
        assert_eq!(field(&bytes, 1), REGULAR | 0o755);
        assert_eq!(field(&bytes, 6), 10, "file size");
        assert_eq!(field(&bytes, 11), 5, "name size counts the NUL");
        // 110-byte header + "init\0" = 115, padded to 116; then 10 bytes of data padded to 12.
        assert_eq!(&bytes[110..115], b"init\0");
        assert_eq!(&bytes[116..126], b"#!/bin/sh\n");
        assert_eq!(&bytes[128..134], b"070701", "the trailer starts 4-byte aligned");
        assert!(bytes.windows(TRAILER.len()).any(|window| window == TRAILER.as_bytes()));
        assert_eq!(bytes.len() % 4, 0);
    }

    #[test]
    fn device_nodes_carry_their_numbers() {
        let mut archive = Archive::new();
        archive.character_device("dev/console", 0o600, 5, 1);
        let bytes = archive.finish();
        assert_eq!(field(&bytes, 1), CHARACTER_DEVICE | 0o600);
        assert_eq!((field(&bytes, 9), field(&bytes, 10)), (5, 1));
    }
}
