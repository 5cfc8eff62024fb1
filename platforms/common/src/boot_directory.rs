//! The boot flash's image directory: which blobs the EL3 monitor loads, where, and how to enter them.
//!
//! `cargo xtask build` writes it at [`FLASH_OFFSET`] in the boot flash; the EL3 monitor reads
//! it (as TF-A's BL2 reads a FIP) to place the SPMC, its manifest, secure partition packages
//! and the normal-world images. Little-endian throughout:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `0x4241_4646` ("FFAB" in memory) |
//! | 4 | 4 | version (1) |
//! | 8 | 4 | entry count |
//! | 12 | 4 | reserved, zero |
//! | 16 + 48 i | 48 | entry i: name (16 bytes, NUL padded), flash offset (u32), size (u32), load address (u64), entry point (u64, 0 for data), kind (u32), reserved (u32) |

/// Where the directory starts in the boot flash.
pub const FLASH_OFFSET: usize = 0x10_0000;
/// The directory's magic number.
pub const MAGIC: u32 = 0x4241_4646;
/// The only version so far.
pub const VERSION: u32 = 1;
/// Bytes in the header.
pub const HEADER_SIZE: usize = 16;
/// Bytes in one entry.
pub const ENTRY_SIZE: usize = 48;

/// What a blob is, and so who loads or uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobKind {
    /// The SPMC image, entered at S-EL2.
    SpmcImage,
    /// The SPMC core manifest (DTB), passed to the SPMC in x0.
    SpmcManifest,
    /// The normal-world image entered at NS-EL2 (hypervisor).
    Hypervisor,
    /// A secure partition package (SPKG), found by the SPMC through its manifest.
    PartitionPackage,
    /// Any other blob a normal-world image loads itself (a guest VM).
    NormalWorldPayload,
}

impl BlobKind {
    /// The kind's number in an entry.
    pub const fn code(self) -> u32 {
        match self {
            Self::SpmcImage => 1,
            Self::SpmcManifest => 2,
            Self::Hypervisor => 3,
            Self::PartitionPackage => 4,
            Self::NormalWorldPayload => 5,
        }
    }

    fn from_code(code: u32) -> Option<Self> {
        [
            Self::SpmcImage,
            Self::SpmcManifest,
            Self::Hypervisor,
            Self::PartitionPackage,
            Self::NormalWorldPayload,
        ]
        .into_iter()
        .find(|kind| kind.code() == code)
    }
}

/// One blob of the directory.
#[derive(Debug, Clone, Copy)]
pub struct Blob {
    /// Its name, for logs.
    pub name: [u8; 16],
    /// Where it starts, from the start of the flash.
    pub flash_offset: usize,
    /// Its length in bytes.
    pub size: usize,
    /// Where it must be copied.
    pub load_address: u64,
    /// Where to enter it (images), or 0.
    pub entry_point: u64,
    /// What it is.
    pub kind: BlobKind,
}

impl Blob {
    /// The name without its NUL padding.
    pub fn name(&self) -> &str {
        let length = self.name.iter().position(|&byte| byte == 0).unwrap_or(self.name.len());
        self.name.get(..length).and_then(|bytes| core::str::from_utf8(bytes).ok()).unwrap_or("?")
    }
}

/// Why a directory could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectoryError {
    /// No directory: the magic number is wrong.
    BadMagic,
    /// A version this monitor does not know.
    BadVersion,
    /// The entries run past the bytes given.
    Truncated,
    /// An entry has an unknown kind.
    BadKind,
}

fn u32_at(bytes: &[u8], offset: usize) -> Option<u32> {
    let word = bytes.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_le_bytes(word.try_into().ok()?))
}

fn u64_at(bytes: &[u8], offset: usize) -> Option<u64> {
    let word = bytes.get(offset..offset.checked_add(8)?)?;
    Some(u64::from_le_bytes(word.try_into().ok()?))
}

/// A checked view of a directory.
#[derive(Debug, Clone, Copy)]
pub struct Directory<'a> {
    bytes: &'a [u8],
    count: usize,
}

impl<'a> Directory<'a> {
    /// Checks the header and that every entry is inside `bytes`.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, DirectoryError> {
        if u32_at(bytes, 0) != Some(MAGIC) {
            return Err(DirectoryError::BadMagic);
        }
        if u32_at(bytes, 4) != Some(VERSION) {
            return Err(DirectoryError::BadVersion);
        }
        let count = u32_at(bytes, 8).ok_or(DirectoryError::Truncated)? as usize;
        let end = count.checked_mul(ENTRY_SIZE).and_then(|size| size.checked_add(HEADER_SIZE));
        if end.is_none_or(|end| end > bytes.len()) {
            return Err(DirectoryError::Truncated);
        }
        Ok(Self { bytes, count })
    }

    /// Number of blobs.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether there are no blobs.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Blob `index`.
    pub fn get(&self, index: usize) -> Result<Blob, DirectoryError> {
        if index >= self.count {
            return Err(DirectoryError::Truncated);
        }
        let base = HEADER_SIZE + index * ENTRY_SIZE;
        let entry = self.bytes.get(base..base + ENTRY_SIZE).ok_or(DirectoryError::Truncated)?;
        let mut name = [0u8; 16];
        name.copy_from_slice(entry.get(..16).ok_or(DirectoryError::Truncated)?);
        let field32 = |offset| u32_at(entry, offset).ok_or(DirectoryError::Truncated);
        let field64 = |offset| u64_at(entry, offset).ok_or(DirectoryError::Truncated);
        Ok(Blob {
            name,
            flash_offset: field32(16)? as usize,
            size: field32(20)? as usize,
            load_address: field64(24)?,
            entry_point: field64(32)?,
            kind: BlobKind::from_code(field32(40)?).ok_or(DirectoryError::BadKind)?,
        })
    }

    /// The first blob of `kind`.
    pub fn find(&self, kind: BlobKind) -> Option<Blob> {
        (0..self.count).filter_map(|index| self.get(index).ok()).find(|blob| blob.kind == kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn directory(entries: &[(u32, u32, u64, u64, u32)]) -> [u8; 256] {
        let mut bytes = [0u8; 256];
        let mut put = |offset: usize, value: &[u8]| {
            bytes[offset..offset + value.len()].copy_from_slice(value)
        };
        put(0, &MAGIC.to_le_bytes());
        put(4, &VERSION.to_le_bytes());
        put(8, &(entries.len() as u32).to_le_bytes());
        for (index, (offset, size, load, entry, kind)) in entries.iter().enumerate() {
            let base = HEADER_SIZE + index * ENTRY_SIZE;
            put(base, b"spmc\0");
            put(base + 16, &offset.to_le_bytes());
            put(base + 20, &size.to_le_bytes());
            put(base + 24, &load.to_le_bytes());
            put(base + 32, &entry.to_le_bytes());
            put(base + 40, &kind.to_le_bytes());
        }
        bytes
    }

    #[test]
    fn reads_entries_and_finds_by_kind() {
        let bytes = directory(&[
            (0x10_1000, 4096, 0x0E10_0000, 0x0E10_0000, 1),
            (0x10_2000, 100, 0x4020_0000, 0x4020_0040, 3),
        ]);
        let parsed = Directory::parse(&bytes).unwrap();
        assert_eq!(parsed.len(), 2);
        let hypervisor = parsed.find(BlobKind::Hypervisor).unwrap();
        assert_eq!(
            (hypervisor.load_address, hypervisor.entry_point, hypervisor.size),
            (0x4020_0000, 0x4020_0040, 100)
        );
        assert_eq!(parsed.get(0).unwrap().name(), "spmc");
        assert!(parsed.find(BlobKind::PartitionPackage).is_none());
    }

    #[test]
    fn rejects_bad_magic_version_kind_and_truncation() {
        let good = directory(&[(0, 0, 0, 0, 1)]);
        let mut bad = good;
        bad[0] = 0;
        assert_eq!(Directory::parse(&bad).err(), Some(DirectoryError::BadMagic));
        let mut bad = good;
        bad[4] = 9;
        assert_eq!(Directory::parse(&bad).err(), Some(DirectoryError::BadVersion));
        assert_eq!(Directory::parse(&good[..40]).err(), Some(DirectoryError::Truncated));
        let mut bad = good;
        bad[HEADER_SIZE + 40] = 77;
        assert_eq!(Directory::parse(&bad).unwrap().get(0).err(), Some(DirectoryError::BadKind));
        let mut huge = good;
        huge[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(Directory::parse(&huge).err(), Some(DirectoryError::Truncated));
    }
}
