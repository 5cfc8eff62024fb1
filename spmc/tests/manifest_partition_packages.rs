//! The SPMC core manifest's list of partition packages (Hafnium's `hypervisor` node binding).
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

#[path = "manifest_builder.rs"]
mod manifest_builder;

use manifest_builder::{valid_spmc, Tree};
use spmc::manifest::{Problem, SpmcManifest, MAX_PARTITION_PACKAGES};

fn with_hypervisor(children: Vec<Tree>) -> Tree {
    let mut hypervisor = Tree::new("hypervisor").string("compatible", "hafnium,hafnium");
    for child in children {
        hypervisor = hypervisor.child(child);
    }
    valid_spmc().child(hypervisor)
}

#[test]
fn lists_ffa_partitions_in_order_with_one_or_two_cell_addresses() {
    let tree = with_hypervisor(vec![
        Tree::new("vm1").flag("is_ffa_partition").u64("load_address", 0x0E40_0000),
        Tree::new("vm2").string("debug_name", "not a partition").u64("load_address", 0x1234_0000),
        Tree::new("vm3").flag("is_ffa_partition").u32("load_address", 0x0E60_0000),
    ]);
    let manifest = SpmcManifest::parse(&tree.to_dtb()).expect("valid");
    assert_eq!(manifest.partition_packages.as_slice(), &[0x0E40_0000, 0x0E60_0000]);
}

#[test]
fn no_hypervisor_node_means_no_packages() {
    let manifest = SpmcManifest::parse(&valid_spmc().to_dtb()).expect("valid");
    assert!(manifest.partition_packages.is_empty());
}

#[test]
fn a_partition_without_load_address_is_named() {
    let tree = with_hypervisor(vec![Tree::new("vm1").flag("is_ffa_partition")]);
    let error = SpmcManifest::parse(&tree.to_dtb()).expect_err("missing address");
    assert_eq!(error.node, "hypervisor/vm1");
    assert_eq!(error.property, "load_address");
    assert_eq!(error.problem, Problem::Missing);
}

#[test]
fn more_partitions_than_capacity_is_an_error_not_a_panic() {
    let children = (0..=MAX_PARTITION_PACKAGES)
        .map(|index| {
            Tree::new(&format!("vm{index}"))
                .flag("is_ffa_partition")
                .u64("load_address", 0x1000 * index as u64)
        })
        .collect();
    let error = SpmcManifest::parse(&with_hypervisor(children).to_dtb()).expect_err("too many");
    assert_eq!(error.problem, Problem::TooMany { capacity: MAX_PARTITION_PACKAGES });
}
