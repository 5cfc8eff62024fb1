//! Every rejection path of the manifest parsers, each checked for the exact node, property
//! and problem it reports.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

#[path = "manifest_builder.rs"]
mod manifest_builder;

use manifest_builder::{cells, string, valid_spmc, valid_v1_0, Tree};
use spmc::manifest::{
    ManifestError, NsInterruptsAction, PartitionManifest, Problem, SpmcManifest, ValueKind,
};

fn partition_error(tree: &Tree) -> ManifestError {
    PartitionManifest::parse(&tree.to_dtb()).expect_err("manifest must be rejected")
}

#[track_caller]
fn rejects(tree: &Tree, node: &str, property: &str, problem: Problem) {
    let error = partition_error(tree);
    assert_eq!((error.node.as_str(), error.property, error.problem), (node, property, problem));
}

#[track_caller]
fn rejects_spmc(tree: &Tree, node: &str, property: &str, problem: Problem) {
    let error = SpmcManifest::parse(&tree.to_dtb()).expect_err("SPMC manifest must be rejected");
    assert_eq!((error.node.as_str(), error.property, error.problem), (node, property, problem));
}

/// Applies `change` to the root of a valid 1.0 manifest.
fn with(change: impl FnOnce(&mut Tree)) -> Tree {
    let mut tree = valid_v1_0();
    change(&mut tree);
    tree
}

/// Applies `change` to the node at `path` of a valid 1.0 manifest.
fn with_node(path: &str, change: impl FnOnce(&mut Tree)) -> Tree {
    let mut tree = valid_v1_0();
    change(tree.node(path));
    tree
}

fn valid_v1_1() -> Tree {
    Tree::new("")
        .string("compatible", "arm,ffa-manifest-1.1")
        .u32("ffa-version", 0x0001_0002)
        .u32("execution-ctx-count", 1)
        .u32("exception-level", 1)
        .u32("execution-state", 0)
        .u32("xlat-granule", 0)
        .child(
            Tree::new("services").string("compatible", "arm,ffa-manifest-services").child(
                Tree::new("echo")
                    .string("uuid", "b4b5671e-4a90-4fe1-b81f-fb13dae1dacb")
                    .u32("messaging-method", 1),
            ),
        )
}

#[test]
fn the_valid_bases_parse() {
    PartitionManifest::parse(&valid_v1_0().to_dtb()).expect("1.0 base");
    PartitionManifest::parse(&valid_v1_1().to_dtb()).expect("1.1 base");
    SpmcManifest::parse(&valid_spmc().to_dtb()).expect("SPMC base");
}

#[test]
fn display_names_node_property_and_problem() {
    let tree = with_node("memory-regions/rx", |node| node.remove("pages-count"));
    let error = partition_error(&tree);
    assert_eq!(
        error,
        ManifestError {
            node: error.node.clone(),
            property: "pages-count",
            problem: Problem::Missing
        }
    );
    assert_eq!(error.node, "memory-regions/rx");
    assert_eq!(error.to_string(), "memory-regions/rx: pages-count: missing");

    let tree = with(|root| root.set("ffa-version", cells(&[1, 0])));
    assert_eq!(
        partition_error(&tree).to_string(),
        "/: ffa-version: expected a u32 (4 bytes), found 8 bytes"
    );
    let tree = with_node("memory-regions/tx", |node| node.set("base-address", cells(&[0x7301800])));
    assert_eq!(
        partition_error(&tree).to_string(),
        "memory-regions/tx: base-address: 0x7301800 is not aligned to 0x1000"
    );
}

// ---- root compatible and the blob ----

#[test]
fn root_compatible() {
    rejects(&with(|root| root.remove("compatible")), "/", "compatible", Problem::Missing);
    let tree = with(|root| root.set("compatible", string("arm,ffa-manifest-2.0")));
    let error = partition_error(&tree);
    assert!(matches!(error.problem, Problem::Invalid(_)), "{error}");
    rejects(
        &with(|root| root.set("compatible", cells(&[1]))),
        "/",
        "compatible",
        Problem::WrongType { expected: ValueKind::StringList, length: 4 },
    );
    // A list naming the binding among others is fine.
    let mut list = string("vendor,partition");
    list.extend(string("arm,ffa-manifest-1.0"));
    PartitionManifest::parse(&with(|root| root.set("compatible", list)).to_dtb())
        .expect("compatible list");
}

fn blob_problem(blob: &[u8]) -> (String, &'static str) {
    let error = PartitionManifest::parse(blob).expect_err("malformed blob must be rejected");
    assert_eq!(error.node, "<dtb>");
    assert!(matches!(error.problem, Problem::Malformed(_)), "{error}");
    (error.to_string(), error.property)
}

#[test]
fn malformed_blobs() {
    let good = valid_v1_0().to_dtb();
    assert_eq!(blob_problem(&[]).1, "magic");
    assert_eq!(blob_problem(&good[..39]).1, "totalsize");

    let mut bad_magic = good.clone();
    bad_magic[0] ^= 0xFF;
    assert_eq!(blob_problem(&bad_magic).1, "magic");

    assert_eq!(blob_problem(&good[..good.len() - 1]).1, "totalsize");

    let mut old_version = good.clone();
    old_version[20..24].copy_from_slice(&16u32.to_be_bytes());
    assert_eq!(blob_problem(&old_version).1, "version");

    let mut struct_outside = good.clone();
    struct_outside[36..40].copy_from_slice(&0x10_0000u32.to_be_bytes());
    assert_eq!(blob_problem(&struct_outside).1, "off_dt_struct");

    let mut strings_outside = good.clone();
    strings_outside[32..36].copy_from_slice(&0xFFFF_FFF0u32.to_be_bytes());
    assert_eq!(blob_problem(&strings_outside).1, "off_dt_strings");
}

/// Offset of the structure block in a builder blob.
fn structure_offset(blob: &[u8]) -> usize {
    u32::from_be_bytes(blob[8..12].try_into().unwrap()) as usize
}

#[test]
fn malformed_structure_blocks() {
    // A NOP right after the root's name (offset 8 in the structure block: token + empty name).
    let mut with_nop = valid_v1_0().to_dtb();
    let start = structure_offset(&with_nop);
    // Replace the first property token by NOP: the walker refuses NOPs outright.
    with_nop[start + 8..start + 12].copy_from_slice(&4u32.to_be_bytes());
    assert!(blob_problem(&with_nop).0.contains("FDT_NOP"));

    // An unknown token.
    let mut unknown = valid_v1_0().to_dtb();
    unknown[start + 8..start + 12].copy_from_slice(&7u32.to_be_bytes());
    assert!(blob_problem(&unknown).0.contains("unknown structure token"));

    // A property length running past the block.
    let mut long_property = valid_v1_0().to_dtb();
    long_property[start + 12..start + 16].copy_from_slice(&0x00FF_FFFFu32.to_be_bytes());
    assert!(blob_problem(&long_property).0.contains("beyond the block"));

    // A property name offset outside the strings block.
    let mut bad_name = valid_v1_0().to_dtb();
    bad_name[start + 16..start + 20].copy_from_slice(&0x00FF_FFFFu32.to_be_bytes());
    assert!(blob_problem(&bad_name).0.contains("property name"));

    // Missing FDT_END: shrink the structure block by its last token.
    let mut no_end = valid_v1_0().to_dtb();
    let size = u32::from_be_bytes(no_end[36..40].try_into().unwrap());
    no_end[36..40].copy_from_slice(&(size - 4).to_be_bytes());
    assert!(blob_problem(&no_end).0.contains("without FDT_END"));
}

#[test]
fn properties_after_children_and_deep_nesting_are_refused() {
    // Hand-made structure: root { child { }; prop; } - a property after a child node.
    let mut tree = Tree::new("").string("compatible", "arm,ffa-manifest-1.0");
    tree.children.push(Tree::new("child"));
    let mut blob = tree.to_dtb();
    let start = structure_offset(&blob);
    // Layout: BEGIN "" | PROP(len, name, 24 bytes value) | BEGIN "child" | END | END | FDT_END.
    let property_length = 12 + 24;
    let property = blob[start + 8..start + 8 + property_length].to_vec();
    let child = blob[start + 8 + property_length..start + 8 + property_length + 16].to_vec();
    let mut reordered = child.clone();
    reordered.extend_from_slice(&property);
    blob[start + 8..start + 8 + reordered.len()].copy_from_slice(&reordered);
    assert!(blob_problem(&blob).0.contains("property after a child node"));

    let mut deep = Tree::new("leaf");
    for level in 0..20 {
        deep = Tree::new(&format!("level{level}")).child(deep);
    }
    let tree = valid_v1_0().child(deep);
    assert!(blob_problem(&tree.to_dtb()).0.contains("nested too deeply"));
}

// ---- scalar properties of the root ----

#[test]
fn ffa_version() {
    rejects(&with(|root| root.remove("ffa-version")), "/", "ffa-version", Problem::Missing);
    rejects(
        &with(|root| root.set("ffa-version", cells(&[0x8001_0000]))),
        "/",
        "ffa-version",
        Problem::OutOfRange { value: 0x8001_0000 },
    );
    rejects(
        &with(|root| root.set("ffa-version", cells(&[0x0000_0001]))),
        "/",
        "ffa-version",
        Problem::OutOfRange { value: 1 },
    );
}

#[test]
fn uuid_tuples() {
    rejects(&with(|root| root.remove("uuid")), "/", "uuid", Problem::Missing);
    rejects(
        &with(|root| root.set("uuid", cells(&[1, 2, 3]))),
        "/",
        "uuid",
        Problem::WrongType { expected: ValueKind::U32Quads, length: 12 },
    );
    rejects(
        &with(|root| root.set("uuid", Vec::new())),
        "/",
        "uuid",
        Problem::WrongType { expected: ValueKind::U32Quads, length: 0 },
    );
    let nil = with(|root| {
        root.set("uuid", cells(&[0, 0, 0, 0]));
        root.set("messaging-method", cells(&[1]));
    });
    rejects(&nil, "/", "uuid", Problem::Invalid("the Nil UUID is reserved"));
    let duplicate = with(|root| root.set("uuid", cells(&[1, 2, 3, 4, 1, 2, 3, 4])));
    rejects(&duplicate, "/", "uuid", Problem::Invalid("duplicate UUID"));
    let five: Vec<u32> = (1..=20).collect();
    let too_many = with(|root| {
        root.set("uuid", cells(&five));
        root.set("messaging-method", cells(&[1]));
    });
    rejects(&too_many, "/", "uuid", Problem::TooMany { capacity: 4 });
}

#[test]
fn messaging_method() {
    rejects(
        &with(|root| root.remove("messaging-method")),
        "/",
        "messaging-method",
        Problem::Missing,
    );
    rejects(
        &with(|root| root.set("messaging-method", cells(&[1, 2, 3]))),
        "/",
        "messaging-method",
        Problem::WrongType { expected: ValueKind::U32, length: 12 },
    );
    rejects(
        &with(|root| root.set("messaging-method", cells(&[0x8]))),
        "/",
        "messaging-method",
        Problem::UnknownBits { bits: 0x8 },
    );
    // One value for every UUID.
    let manifest_bytes = with(|root| root.set("messaging-method", cells(&[0x4]))).to_dtb();
    let manifest = PartitionManifest::parse(&manifest_bytes).expect("one method for all");
    assert!(manifest.services.iter().all(|service| service.messaging_method.bits() == 0x4));
}

#[test]
fn execution_context_count() {
    rejects(
        &with(|root| root.remove("execution-ctx-count")),
        "/",
        "execution-ctx-count",
        Problem::Missing,
    );
    rejects(
        &with(|root| root.set("execution-ctx-count", cells(&[0]))),
        "/",
        "execution-ctx-count",
        Problem::Zero,
    );
    rejects(
        &with(|root| root.set("execution-ctx-count", cells(&[0x1_0000]))),
        "/",
        "execution-ctx-count",
        Problem::OutOfRange { value: 0x1_0000 },
    );
}

#[test]
fn exception_level_and_execution_state() {
    rejects(&with(|root| root.remove("exception-level")), "/", "exception-level", Problem::Missing);
    rejects(
        &with(|root| root.set("exception-level", cells(&[7]))),
        "/",
        "exception-level",
        Problem::OutOfRange { value: 7 },
    );
    rejects(&with(|root| root.remove("execution-state")), "/", "execution-state", Problem::Missing);
    rejects(
        &with(|root| root.set("execution-state", cells(&[2]))),
        "/",
        "execution-state",
        Problem::OutOfRange { value: 2 },
    );
    // An AArch32 processor mode needs execution-state AArch32.
    rejects(
        &with(|root| root.set("exception-level", cells(&[5]))),
        "/",
        "exception-level",
        Problem::Conflicts { with: "execution-state" },
    );
}

#[test]
fn addresses_of_the_image() {
    rejects(
        &with(|root| root.set("load-address", cells(&[0, 0x628_0100]))),
        "/",
        "load-address",
        Problem::Misaligned { value: 0x628_0100, alignment: 0x1000 },
    );
    rejects(
        &with(|root| root.set("load-address", cells(&[0, 0, 0]))),
        "/",
        "load-address",
        Problem::WrongType { expected: ValueKind::U64, length: 12 },
    );
    rejects(
        &with(|root| root.set("entrypoint-offset", cells(&[0xFFFF_FFFF, 0xFFFF_FFFF]))),
        "/",
        "entrypoint-offset",
        Problem::Overflow,
    );
    // No load-address: position independent.
    let manifest_bytes = with(|root| root.remove("load-address")).to_dtb();
    assert_eq!(PartitionManifest::parse(&manifest_bytes).expect("PIE").load_address, None);
}

#[test]
fn translation_granule() {
    rejects(&with(|root| root.remove("xlat-granule")), "/", "xlat-granule", Problem::Missing);
    rejects(
        &with(|root| root.set("xlat-granule", cells(&[3]))),
        "/",
        "xlat-granule",
        Problem::OutOfRange { value: 3 },
    );
}

#[test]
fn boot_order_and_ids() {
    rejects(
        &with(|root| root.set("boot-order", cells(&[0x1_0000]))),
        "/",
        "boot-order",
        Problem::OutOfRange { value: 0x1_0000 },
    );
    let highest = with(|root| root.set("boot-order", cells(&[0xFFFF]))).to_dtb();
    assert_eq!(PartitionManifest::parse(&highest).expect("0xFFFF").boot_order, Some(0xFFFF));
    rejects(
        &with(|root| root.set("id", cells(&[0x1_8001]))),
        "/",
        "id",
        Problem::OutOfRange { value: 0x1_8001 },
    );
    rejects(
        &with(|root| root.set("auxiliary-id", cells(&[0x1_0000]))),
        "/",
        "auxiliary-id",
        Problem::OutOfRange { value: 0x1_0000 },
    );
}

#[test]
fn strings_and_flags() {
    rejects(
        &with(|root| root.set("description", b"no terminator".to_vec())),
        "/",
        "description",
        Problem::WrongType { expected: ValueKind::String, length: 13 },
    );
    rejects(
        &with(|root| root.set("description", b"two\0strings\0".to_vec())),
        "/",
        "description",
        Problem::WrongType { expected: ValueKind::String, length: 12 },
    );
    rejects(
        &with(|root| root.set("description", vec![0xC3, 0x28, 0])),
        "/",
        "description",
        Problem::WrongType { expected: ValueKind::String, length: 3 },
    );
    rejects(
        &with(|root| root.set("notification-support", cells(&[1]))),
        "/",
        "notification-support",
        Problem::WrongType { expected: ValueKind::Empty, length: 4 },
    );
}

#[test]
fn non_secure_interrupt_action() {
    rejects(
        &with(|root| root.set("ns-interrupts-action", cells(&[3]))),
        "/",
        "ns-interrupts-action",
        Problem::OutOfRange { value: 3 },
    );
    let conflicting = with(|root| {
        root.set("managed-exit", Vec::new());
        root.set("ns-interrupts-action", cells(&[2]));
        root.remove("managed-exit-virq");
    });
    rejects(&conflicting, "/", "ns-interrupts-action", Problem::Conflicts { with: "managed-exit" });
    let virq_without_managed_exit = with(|root| root.set("ns-interrupts-action", cells(&[2])));
    rejects(
        &virq_without_managed_exit,
        "/",
        "managed-exit-virq",
        Problem::Conflicts { with: "ns-interrupts-action" },
    );
    let at_s_el0 = with(|root| root.set("exception-level", cells(&[1])));
    rejects(
        &at_s_el0,
        "/",
        "ns-interrupts-action",
        Problem::Invalid("managed exit needs an EL1 partition"),
    );
    // The deprecated flag alone means managed exit.
    let legacy = with(|root| {
        root.remove("ns-interrupts-action");
        root.set("managed-exit", Vec::new());
    })
    .to_dtb();
    assert_eq!(
        PartitionManifest::parse(&legacy).expect("managed-exit").ns_interrupts_action,
        NsInterruptsAction::ManagedExit
    );
}

#[test]
fn registers_and_subscriptions() {
    rejects(
        &with(|root| root.set("gp-register-num", cells(&[31]))),
        "/",
        "gp-register-num",
        Problem::OutOfRange { value: 31 },
    );
    rejects(
        &with(|root| root.set("power-management-messages", cells(&[0x9]))),
        "/",
        "power-management-messages",
        Problem::UnknownBits { bits: 0x8 },
    );
    rejects(
        &with(|root| root.set("vm-availability-messages", cells(&[0x4]))),
        "/",
        "vm-availability-messages",
        Problem::UnknownBits { bits: 0x4 },
    );
}

// ---- memory regions ----

#[test]
fn memory_region_pages() {
    rejects(
        &with_node("memory-regions/heap", |node| node.set("pages-count", cells(&[0]))),
        "memory-regions/heap",
        "pages-count",
        Problem::Zero,
    );
    rejects(
        &with_node("memory-regions/heap", |node| node.set("pages-count", cells(&[0, 1]))),
        "memory-regions/heap",
        "pages-count",
        Problem::WrongType { expected: ValueKind::U32, length: 8 },
    );
}

#[test]
fn memory_region_addresses() {
    // Alignment follows the translation granule: 0x7301000 is fine at 4 KiB, not at 64 KiB.
    rejects(
        &with(|root| root.set("xlat-granule", cells(&[2]))),
        "memory-regions/tx",
        "base-address",
        Problem::Misaligned { value: 0x730_1000, alignment: 0x1_0000 },
    );
    rejects(
        &with_node("memory-regions/heap", |node| {
            node.set("load-address-relative-offset", cells(&[0, 0x800]))
        }),
        "memory-regions/heap",
        "load-address-relative-offset",
        Problem::Misaligned { value: 0x800, alignment: 0x1000 },
    );
    rejects(
        &with_node("memory-regions/rx", |node| {
            node.set("base-address", cells(&[0xFFFF_FFFF, 0xFFFF_F000]));
            node.set("pages-count", cells(&[2]));
        }),
        "memory-regions/rx",
        "base-address",
        Problem::Overflow,
    );
    rejects(
        &with_node("memory-regions/heap", |node| node.set("base-address", cells(&[0x100_0000]))),
        "memory-regions/heap",
        "load-address-relative-offset",
        Problem::Conflicts { with: "base-address" },
    );
}

#[test]
fn memory_region_attributes() {
    rejects(
        &with_node("memory-regions/heap", |node| node.remove("attributes")),
        "memory-regions/heap",
        "attributes",
        Problem::Missing,
    );
    rejects(
        &with_node("memory-regions/heap", |node| node.set("attributes", cells(&[0x13]))),
        "memory-regions/heap",
        "attributes",
        Problem::UnknownBits { bits: 0x10 },
    );
    rejects(
        &with_node("memory-regions/heap", |node| node.set("attributes", cells(&[0x2]))),
        "memory-regions/heap",
        "attributes",
        Problem::Invalid("memory must be readable (R, RW, RX or RWX)"),
    );
}

#[test]
fn region_container_checks() {
    let wrong = with_node("memory-regions", |node| {
        node.set("compatible", string("arm,ffa-manifest-device-regions"))
    });
    let error = partition_error(&wrong);
    assert_eq!((error.node.as_str(), error.property), ("memory-regions", "compatible"));
    assert!(matches!(error.problem, Problem::Invalid(_)));

    let crowded = with_node("memory-regions", |node| {
        for index in 0..13 {
            node.children.push(
                Tree::new(&format!("extra{index}")).u32("pages-count", 1).u32("attributes", 1),
            );
        }
    });
    rejects(&crowded, "memory-regions", "child nodes", Problem::TooMany { capacity: 16 });
}

// ---- device regions ----

#[test]
fn device_regions() {
    rejects(
        &with_node("device-regions/uart1", |node| node.remove("base-address")),
        "device-regions/uart1",
        "base-address",
        Problem::Missing,
    );
    rejects(
        &with_node("device-regions/uart1", |node| node.set("attributes", cells(&[0x5]))),
        "device-regions/uart1",
        "attributes",
        Problem::Invalid("device memory must not be executable"),
    );
    rejects(
        &with_node("device-regions/uart1", |node| node.set("pages-count", cells(&[0]))),
        "device-regions/uart1",
        "pages-count",
        Problem::Zero,
    );
    rejects(
        &with_node("device-regions/uart1", |node| node.set("exclusive-access", cells(&[1]))),
        "device-regions/uart1",
        "exclusive-access",
        Problem::WrongType { expected: ValueKind::Empty, length: 4 },
    );
    let crowded = with_node("device-regions", |node| {
        for index in 0..8 {
            node.children.push(
                Tree::new(&format!("extra{index}"))
                    .u64("base-address", 0x1000_0000)
                    .u32("pages-count", 1)
                    .u32("attributes", 1),
            );
        }
    });
    rejects(&crowded, "device-regions", "child nodes", Problem::TooMany { capacity: 8 });
}

#[test]
fn device_interrupts() {
    let node = "device-regions/uart1";
    rejects(
        &with_node(node, |uart| uart.set("interrupts", cells(&[1, 2, 3]))),
        node,
        "interrupts",
        Problem::WrongType { expected: ValueKind::U32Pairs, length: 12 },
    );
    rejects(
        &with_node(node, |uart| uart.set("interrupts", cells(&[1, 0x1900]))),
        node,
        "interrupts",
        Problem::UnknownBits { bits: 0x1000 },
    );
    rejects(
        &with_node(node, |uart| uart.set("interrupts", cells(&[1, 0xC00]))),
        node,
        "interrupts",
        Problem::Invalid("interrupt type 0b11 is reserved"),
    );
    let nine: Vec<u32> = (0..9).flat_map(|id| [32 + id, 0x900]).collect();
    rejects(
        &with_node(node, |uart| uart.set("interrupts", cells(&nine))),
        node,
        "interrupts",
        Problem::TooMany { capacity: 8 },
    );
}

// ---- rx-tx-buffer ----

#[test]
fn rx_tx_buffer() {
    rejects(
        &with_node("rx-tx-buffer", |node| node.remove("rx-buffer")),
        "rx-tx-buffer",
        "rx-buffer",
        Problem::Missing,
    );
    rejects(
        &with_node("rx-tx-buffer", |node| node.set("tx-buffer", cells(&[0x99]))),
        "rx-tx-buffer",
        "tx-buffer",
        Problem::DanglingReference { phandle: 0x99 },
    );
    rejects(
        &with_node("rx-tx-buffer", |node| node.set("tx-buffer", cells(&[0x10]))),
        "rx-tx-buffer",
        "tx-buffer",
        Problem::Conflicts { with: "rx-buffer" },
    );
    // A phandle of a node outside memory-regions does not count.
    let outside = with(|root| {
        root.node("device-regions/uart1").set("phandle", cells(&[0x20]));
        root.node("rx-tx-buffer").set("rx-buffer", cells(&[0x20]));
    });
    rejects(&outside, "rx-tx-buffer", "rx-buffer", Problem::DanglingReference { phandle: 0x20 });
}

// ---- binding 1.1 ----

#[test]
fn services_node() {
    let mut tree = valid_v1_1();
    tree.remove_child("", "services");
    rejects(&tree, "/", "services", Problem::Missing);

    let mut tree = valid_v1_1();
    tree.remove_child("services", "echo");
    rejects(&tree, "services", "uuid", Problem::Missing);

    let mut tree = valid_v1_1();
    tree.node("services/echo").set("uuid", string("b4b5671e-4a90-4fe1-b81f-fb13dae1dacZ"));
    rejects(&tree, "services/echo", "uuid", Problem::Invalid("not a UUID string"));

    let mut tree = valid_v1_1();
    tree.node("services/echo").set("uuid", string("b4b5671e4a904fe1b81ffb13dae1dacb0000"));
    rejects(&tree, "services/echo", "uuid", Problem::Invalid("not a UUID string"));

    let mut tree = valid_v1_1();
    tree.node("services/echo").set("uuid", cells(&[1, 2, 3, 4]));
    rejects(
        &tree,
        "services/echo",
        "uuid",
        Problem::WrongType { expected: ValueKind::String, length: 16 },
    );

    let mut tree = valid_v1_1();
    tree.node("services/echo").remove("messaging-method");
    rejects(&tree, "services/echo", "messaging-method", Problem::Missing);

    let mut tree = valid_v1_1();
    tree.set("uuid", cells(&[1, 2, 3, 4]));
    rejects(&tree, "/", "uuid", Problem::Conflicts { with: "services" });

    let mut tree = valid_v1_1();
    let echo = tree.node("services/echo").clone();
    tree.node("services").children.push(Tree { name: "echo2".into(), ..echo });
    rejects(&tree, "services/echo2", "uuid", Problem::Invalid("duplicate UUID"));

    // A root messaging-method overrides the union under 1.1.
    let mut tree = valid_v1_1();
    tree.set("messaging-method", cells(&[0x3]));
    let manifest_bytes = tree.to_dtb();
    let manifest = PartitionManifest::parse(&manifest_bytes).expect("root method");
    assert_eq!(manifest.messaging_method.bits(), 0x3);
    assert_eq!(manifest.services[0].messaging_method.bits(), 0x1);
}

// ---- SPMC core manifest ----

#[test]
fn spmc_manifest_structure() {
    let mut tree = valid_spmc();
    tree.remove_child("", "attribute");
    rejects_spmc(&tree, "/", "attribute", Problem::Missing);
    let mut tree = valid_spmc();
    tree.remove("compatible");
    rejects_spmc(&tree, "/", "compatible", Problem::Missing);
    for property in
        ["spmc_id", "maj_ver", "min_ver", "exec_state", "load_address", "entrypoint", "binary_size"]
    {
        let mut tree = valid_spmc();
        tree.node("attribute").remove(property);
        let error = SpmcManifest::parse(&tree.to_dtb()).expect_err("missing property");
        assert_eq!(error.to_string(), format!("attribute: {property}: missing"));
    }
}

#[test]
fn spmc_manifest_values() {
    let spmc_with = |property: &str, value: Vec<u8>| {
        let mut tree = valid_spmc();
        tree.node("attribute").set(property, value);
        tree
    };
    let error = SpmcManifest::parse(&spmc_with("spmc_id", cells(&[0x0001])).to_dtb())
        .expect_err("non-secure SPMC ID");
    assert_eq!(error.to_string(), "attribute: spmc_id: bit 15 (secure world) must be set");
    rejects_spmc(
        &spmc_with("spmc_id", cells(&[0x1_8000])),
        "attribute",
        "spmc_id",
        Problem::OutOfRange { value: 0x1_8000 },
    );
    rejects_spmc(
        &spmc_with("exec_state", cells(&[1])),
        "attribute",
        "exec_state",
        Problem::Invalid("an AArch32 SPMC is not supported"),
    );
    rejects_spmc(
        &spmc_with("exec_state", cells(&[2])),
        "attribute",
        "exec_state",
        Problem::OutOfRange { value: 2 },
    );
    rejects_spmc(
        &spmc_with("maj_ver", cells(&[0])),
        "attribute",
        "maj_ver",
        Problem::OutOfRange { value: 0 },
    );
    rejects_spmc(
        &spmc_with("min_ver", cells(&[0x1_0000])),
        "attribute",
        "min_ver",
        Problem::OutOfRange { value: 0x1_0000 },
    );
    rejects_spmc(&spmc_with("binary_size", cells(&[0])), "attribute", "binary_size", Problem::Zero);
    rejects_spmc(
        &spmc_with("entrypoint", cells(&[0, 0x608_0000])),
        "attribute",
        "entrypoint",
        Problem::Invalid("outside [load_address, load_address + binary_size)"),
    );
    rejects_spmc(
        &spmc_with("load_address", cells(&[0xFFFF_FFFF, 0xFFFF_0000])),
        "attribute",
        "binary_size",
        Problem::Overflow,
    );
    rejects_spmc(
        &spmc_with("spmc_id", cells(&[0, 0x8000])),
        "attribute",
        "spmc_id",
        Problem::WrongType { expected: ValueKind::U32, length: 8 },
    );
    // A one-cell load address is accepted as a u64.
    let manifest_bytes = spmc_with("load_address", cells(&[0x600_0000])).to_dtb();
    assert_eq!(SpmcManifest::parse(&manifest_bytes).expect("one cell").load_address, 0x600_0000);
}
