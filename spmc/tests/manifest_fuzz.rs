//! Property tests: no input makes the manifest or package parsers panic, and valid packages
//! built from arbitrary contents round-trip.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

#[path = "manifest_builder.rs"]
mod manifest_builder;

use proptest::prelude::*;
use spmc::manifest::fuzz_parse_manifest;
use spmc::package::{build_sp_package, fuzz_parse_package, SpPackage};

const FIXTURES: [&[u8]; 3] = [
    include_bytes!("data/sp_manifest_v1_0.dtb"),
    include_bytes!("data/sp_manifest_v1_1.dtb"),
    include_bytes!("data/spmc_manifest.dtb"),
];

/// A fixture with some bytes overwritten and possibly truncated: reaches deep into the
/// structure walker and the property checks, unlike uniformly random bytes.
fn mutated_fixture() -> impl Strategy<Value = Vec<u8>> {
    (
        0..FIXTURES.len(),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        any::<prop::sample::Index>(),
        any::<bool>(),
    )
        .prop_map(|(which, edits, cut, truncate)| {
            let mut bytes = FIXTURES[which].to_vec();
            for (index, value) in edits {
                let position = index.index(bytes.len());
                bytes[position] = value;
            }
            if truncate {
                bytes.truncate(cut.index(bytes.len() + 1));
            }
            bytes
        })
}

/// A fixture with one aligned big-endian word replaced by an interesting value (lengths,
/// offsets and tokens are all aligned words).
fn word_mutated_fixture() -> impl Strategy<Value = Vec<u8>> {
    let interesting = prop_oneof![
        Just(0u32),
        Just(1),
        Just(2),
        Just(3),
        Just(4),
        Just(9),
        Just(u32::MAX),
        Just(0x8000_0000),
        any::<u32>()
    ];
    (0..FIXTURES.len(), any::<prop::sample::Index>(), interesting).prop_map(
        |(which, index, value)| {
            let mut bytes = FIXTURES[which].to_vec();
            let position = index.index(bytes.len() / 4) * 4;
            bytes[position..position + 4].copy_from_slice(&value.to_be_bytes());
            bytes
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        fuzz_parse_manifest(&bytes);
        fuzz_parse_package(&bytes);
    }

    #[test]
    fn mutated_manifests_never_panic(bytes in mutated_fixture()) {
        fuzz_parse_manifest(&bytes);
    }

    #[test]
    fn word_mutated_manifests_never_panic(bytes in word_mutated_fixture()) {
        fuzz_parse_manifest(&bytes);
    }

    #[test]
    fn builder_trees_never_panic(edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4)) {
        let mut bytes = manifest_builder::valid_v1_0().to_dtb();
        for (index, value) in edits {
            let position = index.index(bytes.len());
            bytes[position] = value;
        }
        fuzz_parse_manifest(&bytes);
    }

    #[test]
    fn packages_with_arbitrary_headers_never_panic(
        words in prop::array::uniform6(prop_oneof![any::<u32>(), 0u32..0x3000, Just(0x474B_5053), 1u32..3]),
        length in 0usize..0x3000,
    ) {
        let mut bytes: Vec<u8> = words.iter().flat_map(|word| word.to_le_bytes()).collect();
        bytes.resize(length.max(24), 0);
        fuzz_parse_package(&bytes);
        if let Ok(package) = SpPackage::parse(&bytes) {
            // Whatever is accepted satisfies the layout rules.
            prop_assert!(package.manifest_offset >= 24);
            prop_assert_eq!(package.image_offset % 0x1000, 0);
            prop_assert!(package.manifest_offset + package.manifest.len() <= package.image_offset);
            prop_assert!(package.image_offset + package.image.len() <= bytes.len());
            prop_assert!(!package.manifest.is_empty() && !package.image.is_empty());
        }
    }

    #[test]
    fn built_packages_round_trip(
        manifest in prop::collection::vec(any::<u8>(), 1..0x5000),
        image in prop::collection::vec(any::<u8>(), 1..0x2000),
    ) {
        let mut out = vec![0u8; 0x9000];
        let length = build_sp_package(&manifest, &image, &mut out).expect("fits in 0x9000");
        let package = SpPackage::parse(&out[..length]).expect("built package parses");
        prop_assert_eq!(package.manifest, manifest.as_slice());
        prop_assert_eq!(package.image, image.as_slice());
        prop_assert_eq!(package.manifest_offset, 0x1000);
        prop_assert!(package.image_offset == 0x4000 || package.image_offset == (0x1000 + manifest.len()).next_multiple_of(0x1000));
    }
}
