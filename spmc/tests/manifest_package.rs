//! SP package ("SPKG") view and builder: round trips and every bad-header case.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use spmc::manifest::PartitionManifest;
use spmc::package::{
    build_sp_package, PackageError, PackageProblem, PackageVersion, SpPackage, SP_PACKAGE_MAGIC,
};

const MANIFEST: &[u8] = include_bytes!("data/sp_manifest_v1_0.dtb");

fn header(words: [u32; 6]) -> Vec<u8> {
    words.iter().flat_map(|word| word.to_le_bytes()).collect()
}

/// A package of `length` bytes with the given header words, filled with 0xAA after the header.
fn package(words: [u32; 6], length: usize) -> Vec<u8> {
    let mut bytes = header(words);
    bytes.resize(length.max(24), 0xAA);
    bytes
}

#[track_caller]
fn rejects(bytes: &[u8], field: &str, problem: PackageProblem) {
    let error = SpPackage::parse(bytes).expect_err("package must be rejected");
    assert_eq!((error.field, error.problem), (field, problem), "{error}");
}

#[test]
fn round_trip_with_default_offsets() {
    let image: Vec<u8> = (0..5000u32).map(|value| value as u8).collect();
    let mut out = vec![0xFFu8; 0x8000];
    let length = build_sp_package(MANIFEST, &image, &mut out).expect("fits");
    assert_eq!(length, 0x4000 + image.len());
    assert_eq!(&out[..4], b"SPKG");
    assert_eq!(
        &out[..24],
        &header([SP_PACKAGE_MAGIC, 2, 0x1000, MANIFEST.len() as u32, 0x4000, image.len() as u32])
    );
    // Gaps are zero-filled, not left as they were.
    assert!(out[24..0x1000].iter().all(|&byte| byte == 0));
    assert!(out[0x1000 + MANIFEST.len()..0x4000].iter().all(|&byte| byte == 0));

    let package = SpPackage::parse(&out[..length]).expect("round trip");
    assert_eq!(package.version, PackageVersion::V2);
    assert_eq!(package.manifest_offset, 0x1000);
    assert_eq!(package.image_offset, 0x4000);
    assert_eq!(package.manifest, MANIFEST);
    assert_eq!(package.image, image.as_slice());
    PartitionManifest::parse(package.manifest).expect("the manifest inside parses");
}

#[test]
fn large_manifest_moves_the_image_to_the_next_page() {
    let manifest = vec![0x5A; 0x3001];
    let image = [1u8, 2, 3];
    let mut out = vec![0u8; 0x6000];
    let length = build_sp_package(&manifest, &image, &mut out).expect("fits");
    let package = SpPackage::parse(&out[..length]).expect("round trip");
    assert_eq!(package.manifest_offset, 0x1000);
    assert_eq!(package.image_offset, 0x5000);
    assert_eq!(package.manifest, manifest.as_slice());
    assert_eq!(package.image, &image);
    // Exactly filling the space before 0x4000 keeps the default.
    let manifest = vec![0x5A; 0x3000];
    let length = build_sp_package(&manifest, &image, &mut out).expect("fits");
    assert_eq!(SpPackage::parse(&out[..length]).expect("parse").image_offset, 0x4000);
}

#[test]
fn builder_errors() {
    let mut out = vec![0u8; 0x4000];
    let error = build_sp_package(MANIFEST, &[1], &mut out).expect_err("one byte short");
    assert_eq!(
        error,
        PackageError {
            field: "out",
            problem: PackageProblem::TooShort { needed: 0x4001, available: 0x4000 }
        }
    );
    assert_eq!(error.to_string(), "out: needs 0x4001 bytes, have 0x4000");
    assert_eq!(build_sp_package(&[], &[1], &mut out).expect_err("empty manifest").field, "pm_size");
    assert_eq!(
        build_sp_package(MANIFEST, &[], &mut out).expect_err("empty image").field,
        "img_size"
    );
}

#[test]
fn version_1_layout() {
    // Manifest right after the header, image page aligned.
    let mut bytes = package([SP_PACKAGE_MAGIC, 1, 24, 8, 0x1000, 4], 0x1004);
    bytes[24..32].copy_from_slice(b"manifest");
    bytes[0x1000..0x1004].copy_from_slice(b"code");
    let parsed = SpPackage::parse(&bytes).expect("v1 package");
    assert_eq!(parsed.version, PackageVersion::V1);
    assert_eq!(parsed.manifest, b"manifest");
    assert_eq!(parsed.image, b"code");
    rejects(
        &package([SP_PACKAGE_MAGIC, 1, 0x1000, 8, 0x2000, 4], 0x2004),
        "pm_offset",
        PackageProblem::NotAt { value: 0x1000, required: 24 },
    );
    rejects(
        &package([SP_PACKAGE_MAGIC, 1, 24, 8, 0x20, 4], 0x1004),
        "img_offset",
        PackageProblem::Misaligned { value: 0x20, alignment: 0x1000 },
    );
}

#[test]
fn bad_headers() {
    let good = [SP_PACKAGE_MAGIC, 2, 0x1000, 0x10, 0x2000, 0x10];
    let length = 0x2010;
    SpPackage::parse(&package(good, length)).expect("the base case is valid");

    rejects(&[0u8; 23], "header", PackageProblem::TooShort { needed: 24, available: 23 });
    let mut words = good;
    words[0] = 0x4750_5053;
    rejects(&package(words, length), "magic", PackageProblem::BadMagic { found: 0x4750_5053 });
    for version in [0, 3, u32::MAX] {
        let mut words = good;
        words[1] = version;
        rejects(
            &package(words, length),
            "version",
            PackageProblem::UnsupportedVersion { found: version },
        );
    }
    let mut words = good;
    words[2] = 0x1008;
    rejects(
        &package(words, length),
        "pm_offset",
        PackageProblem::Misaligned { value: 0x1008, alignment: 0x1000 },
    );
    let mut words = good;
    words[2] = 0;
    rejects(&package(words, length), "pm_offset", PackageProblem::Overlaps { with: "header" });
    let mut words = good;
    words[2] = 0x3000;
    rejects(
        &package(words, length),
        "pm_offset",
        PackageProblem::OutOfBounds { end: 0x3000, length },
    );
    let mut words = good;
    words[3] = 0;
    rejects(&package(words, length), "pm_size", PackageProblem::Zero);
    let mut words = good;
    words[3] = 0x1001;
    rejects(&package(words, length), "img_offset", PackageProblem::Overlaps { with: "manifest" });
    let mut words = good;
    words[3] = 0x2000;
    rejects(
        &package(words, length),
        "pm_size",
        PackageProblem::OutOfBounds { end: 0x3000, length },
    );
    let mut words = good;
    words[4] = 0x2004;
    rejects(
        &package(words, length),
        "img_offset",
        PackageProblem::Misaligned { value: 0x2004, alignment: 0x1000 },
    );
    let mut words = good;
    words[4] = 0x1000;
    rejects(&package(words, length), "img_offset", PackageProblem::Overlaps { with: "manifest" });
    let mut words = good;
    words[5] = 0;
    rejects(&package(words, length), "img_size", PackageProblem::Zero);
    let mut words = good;
    words[5] = 0x11;
    rejects(
        &package(words, length),
        "img_size",
        PackageProblem::OutOfBounds { end: 0x2011, length },
    );
    let mut words = good;
    words[5] = u32::MAX;
    rejects(
        &package(words, length),
        "img_size",
        PackageProblem::OutOfBounds { end: 0x2000 + u32::MAX as usize, length },
    );
    let mut words = good;
    words[4] = 0xFFFF_F000;
    rejects(
        &package(words, length),
        "img_offset",
        PackageProblem::OutOfBounds { end: 0xFFFF_F000, length },
    );
}

#[test]
fn error_display_names_the_field() {
    let error = SpPackage::parse(&package([SP_PACKAGE_MAGIC, 2, 0x1000, 1, 0x2004, 1], 0x3000))
        .expect_err("misaligned image");
    assert_eq!(error.to_string(), "img_offset: 0x2004 is not aligned to 0x1000");
}
