//! The TF-A secure partition package ("SPKG"): a checked view and a builder (§10.5).
//!
//! A package is a 24-byte header of six little-endian u32 words followed, at the offsets the
//! header gives, by the partition manifest (a device tree blob) and the partition image.
//! Version 1 puts the manifest right after the header; version 2 page-aligns both and leaves
//! the space before the manifest for the boot-information blob.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::panic))]

use core::fmt;

use zerocopy::little_endian::U32;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// The `magic` word: ASCII "SPKG" in memory.
pub const SP_PACKAGE_MAGIC: u32 = 0x474B_5053;
/// The header version the builder writes.
pub const SP_PACKAGE_VERSION_2: u32 = 2;
/// The older header version, still accepted by the parser.
pub const SP_PACKAGE_VERSION_1: u32 = 1;
/// Size of the header in bytes.
pub const SP_PACKAGE_HEADER_SIZE: usize = 24;
/// The alignment of page-aligned offsets: an FF-A page.
pub const SP_PACKAGE_PAGE_SIZE: usize = 0x1000;
/// sptool's default manifest offset.
pub const DEFAULT_MANIFEST_OFFSET: usize = 0x1000;
/// sptool's default image offset, used when the manifest fits before it.
pub const DEFAULT_IMAGE_OFFSET: usize = 0x4000;

/// SP package header (ffa-reference.md §10.5: six little-endian u32 words at offset 0).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct SpPackageHeader {
    magic: U32,
    version: U32,
    pm_offset: U32,
    pm_size: U32,
    img_offset: U32,
    img_size: U32,
}
const _: () = assert!(size_of::<SpPackageHeader>() == SP_PACKAGE_HEADER_SIZE);

/// What is wrong with a package field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageProblem {
    /// The buffer is shorter than the field (or the output buffer than the package) needs.
    TooShort {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// `magic` is not "SPKG".
    BadMagic {
        /// The value found.
        found: u32,
    },
    /// `version` is neither 1 nor 2.
    UnsupportedVersion {
        /// The value found.
        found: u32,
    },
    /// The value must not be zero.
    Zero,
    /// The offset is not aligned as the version requires.
    Misaligned {
        /// The value found.
        value: usize,
        /// The required alignment.
        alignment: usize,
    },
    /// Version 1 requires this offset to be exactly the given value.
    NotAt {
        /// The value found.
        value: usize,
        /// The required value.
        required: usize,
    },
    /// offset + size wraps, or a size does not fit in the 32-bit header field.
    Overflow,
    /// The area ends beyond the end of the package.
    OutOfBounds {
        /// Where the area ends.
        end: usize,
        /// The package length.
        length: usize,
    },
    /// The area overlaps the one named (or comes before it where it must come after).
    Overlaps {
        /// The other area.
        with: &'static str,
    },
}

impl fmt::Display for PackageProblem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::TooShort { needed, available } => {
                write!(formatter, "needs {needed:#x} bytes, have {available:#x}")
            }
            Self::BadMagic { found } => write!(formatter, "{found:#010x} is not \"SPKG\""),
            Self::UnsupportedVersion { found } => write!(formatter, "version {found} unsupported"),
            Self::Zero => formatter.write_str("must not be zero"),
            Self::Misaligned { value, alignment } => {
                write!(formatter, "{value:#x} is not aligned to {alignment:#x}")
            }
            Self::NotAt { value, required } => {
                write!(formatter, "{value:#x} must be {required:#x}")
            }
            Self::Overflow => formatter.write_str("offset + size overflows"),
            Self::OutOfBounds { end, length } => {
                write!(formatter, "ends at {end:#x}, past the package end {length:#x}")
            }
            Self::Overlaps { with } => {
                formatter.write_str("overlaps ")?;
                formatter.write_str(with)
            }
        }
    }
}

/// A rejected package (or a package that cannot be built), naming the header field.
///
/// Displays as `field: problem`, e.g. `img_offset: 0x4010 is not aligned to 0x1000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackageError {
    /// The header field at fault (`magic`, `version`, `pm_offset`, `pm_size`, `img_offset`,
    /// `img_size`), or `header` / `out` for buffer lengths.
    pub field: &'static str,
    /// What is wrong with it.
    pub problem: PackageProblem,
}

impl fmt::Display for PackageError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.field)?;
        formatter.write_str(": ")?;
        fmt::Display::fmt(&self.problem, formatter)
    }
}

impl core::error::Error for PackageError {}

fn error(field: &'static str, problem: PackageProblem) -> PackageError {
    PackageError { field, problem }
}

/// The header version of a package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageVersion {
    /// Version 1: manifest right after the header.
    V1,
    /// Version 2: manifest and image page aligned.
    V2,
}

/// A checked view of an SP package: the manifest and image slices of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpPackage<'a> {
    /// The header version.
    pub version: PackageVersion,
    /// Offset of the manifest in the package.
    pub manifest_offset: usize,
    /// The partition manifest (device tree blob) bytes.
    pub manifest: &'a [u8],
    /// Offset of the image in the package.
    pub image_offset: usize,
    /// The partition image bytes.
    pub image: &'a [u8],
}

/// Checks that `offset..offset + size` is non-empty and inside `length`; returns its end.
fn area_end(
    offset_field: &'static str,
    size_field: &'static str,
    offset: usize,
    size: usize,
    length: usize,
) -> Result<usize, PackageError> {
    if offset >= length {
        return Err(error(offset_field, PackageProblem::OutOfBounds { end: offset, length }));
    }
    if size == 0 {
        return Err(error(size_field, PackageProblem::Zero));
    }
    let end = offset.checked_add(size).ok_or(error(size_field, PackageProblem::Overflow))?;
    if end > length {
        return Err(error(size_field, PackageProblem::OutOfBounds { end, length }));
    }
    Ok(end)
}

fn check_aligned(field: &'static str, value: usize) -> Result<(), PackageError> {
    if value % SP_PACKAGE_PAGE_SIZE != 0 {
        return Err(error(
            field,
            PackageProblem::Misaligned { value, alignment: SP_PACKAGE_PAGE_SIZE },
        ));
    }
    Ok(())
}

impl<'a> SpPackage<'a> {
    /// Parses and checks a package: magic, version, and for each area alignment, bounds,
    /// overflow and ordering (header, then manifest, then image, none overlapping).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, PackageError> {
        let (header, _) = SpPackageHeader::ref_from_prefix(bytes).map_err(|_| {
            error(
                "header",
                PackageProblem::TooShort { needed: SP_PACKAGE_HEADER_SIZE, available: bytes.len() },
            )
        })?;
        let magic = header.magic.get();
        if magic != SP_PACKAGE_MAGIC {
            return Err(error("magic", PackageProblem::BadMagic { found: magic }));
        }
        let version = match header.version.get() {
            SP_PACKAGE_VERSION_1 => PackageVersion::V1,
            SP_PACKAGE_VERSION_2 => PackageVersion::V2,
            found => return Err(error("version", PackageProblem::UnsupportedVersion { found })),
        };
        // u32 -> usize is lossless on the 32- and 64-bit targets this crate supports.
        let manifest_offset = header.pm_offset.get() as usize;
        let manifest_size = header.pm_size.get() as usize;
        let image_offset = header.img_offset.get() as usize;
        let image_size = header.img_size.get() as usize;
        let length = bytes.len();

        match version {
            PackageVersion::V1 => {
                if manifest_offset != SP_PACKAGE_HEADER_SIZE {
                    return Err(error(
                        "pm_offset",
                        PackageProblem::NotAt {
                            value: manifest_offset,
                            required: SP_PACKAGE_HEADER_SIZE,
                        },
                    ));
                }
            }
            PackageVersion::V2 => {
                check_aligned("pm_offset", manifest_offset)?;
                if manifest_offset < SP_PACKAGE_HEADER_SIZE {
                    return Err(error("pm_offset", PackageProblem::Overlaps { with: "header" }));
                }
            }
        }
        check_aligned("img_offset", image_offset)?;

        let manifest_end =
            area_end("pm_offset", "pm_size", manifest_offset, manifest_size, length)?;
        let image_end = area_end("img_offset", "img_size", image_offset, image_size, length)?;
        if image_offset < manifest_end {
            return Err(error("img_offset", PackageProblem::Overlaps { with: "manifest" }));
        }
        let manifest = bytes
            .get(manifest_offset..manifest_end)
            .ok_or(error("pm_size", PackageProblem::OutOfBounds { end: manifest_end, length }))?;
        let image = bytes
            .get(image_offset..image_end)
            .ok_or(error("img_size", PackageProblem::OutOfBounds { end: image_end, length }))?;
        Ok(Self { version, manifest_offset, manifest, image_offset, image })
    }
}

/// Rounds `value` up to a page boundary.
fn page_align_up(value: usize) -> Option<usize> {
    value.checked_add(SP_PACKAGE_PAGE_SIZE - 1).map(|sum| sum & !(SP_PACKAGE_PAGE_SIZE - 1))
}

/// Writes a version-2 package holding `manifest` and `image` into `out` and returns its
/// length. The manifest goes at 0x1000; the image at 0x4000 when the manifest ends by then,
/// else at the first page boundary after the manifest. Gaps are zero-filled.
pub fn build_sp_package(
    manifest: &[u8],
    image: &[u8],
    out: &mut [u8],
) -> Result<usize, PackageError> {
    if manifest.is_empty() {
        return Err(error("pm_size", PackageProblem::Zero));
    }
    if image.is_empty() {
        return Err(error("img_size", PackageProblem::Zero));
    }
    let overflow = |field| error(field, PackageProblem::Overflow);
    let manifest_offset = DEFAULT_MANIFEST_OFFSET;
    let manifest_end = manifest_offset.checked_add(manifest.len()).ok_or(overflow("pm_size"))?;
    let image_offset = if manifest_end <= DEFAULT_IMAGE_OFFSET {
        DEFAULT_IMAGE_OFFSET
    } else {
        page_align_up(manifest_end).ok_or(overflow("img_offset"))?
    };
    let total = image_offset.checked_add(image.len()).ok_or(overflow("img_size"))?;
    let word = |field: &'static str, value: usize| {
        u32::try_from(value).map(U32::new).map_err(|_| overflow(field))
    };
    let header = SpPackageHeader {
        magic: U32::new(SP_PACKAGE_MAGIC),
        version: U32::new(SP_PACKAGE_VERSION_2),
        pm_offset: word("pm_offset", manifest_offset)?,
        pm_size: word("pm_size", manifest.len())?,
        img_offset: word("img_offset", image_offset)?,
        img_size: word("img_size", image.len())?,
    };
    let available = out.len();
    let package = out
        .get_mut(..total)
        .ok_or(error("out", PackageProblem::TooShort { needed: total, available }))?;
    package.fill(0);
    let too_short = error("out", PackageProblem::TooShort { needed: total, available });
    package.get_mut(..SP_PACKAGE_HEADER_SIZE).ok_or(too_short)?.copy_from_slice(header.as_bytes());
    package.get_mut(manifest_offset..manifest_end).ok_or(too_short)?.copy_from_slice(manifest);
    package.get_mut(image_offset..total).ok_or(too_short)?.copy_from_slice(image);
    Ok(total)
}

/// Fuzzing entry point: parses `data` as a package (and its manifest), ignoring the result.
/// It must never panic, whatever `data` holds.
#[doc(hidden)]
pub fn fuzz_parse_package(data: &[u8]) {
    if let Ok(package) = SpPackage::parse(data) {
        crate::manifest::fuzz_parse_manifest(package.manifest);
    }
}
