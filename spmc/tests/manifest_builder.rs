//! A small flattened-device-tree writer for tests, so error cases need no dtc.
//!
//! Other test files include it with `#[path = "manifest_builder.rs"] mod manifest_builder;`;
//! as its own test target it checks itself against a dtc-compiled fixture.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]
#![allow(dead_code)]

/// A device tree node: properties (in order) and children.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    pub name: String,
    pub properties: Vec<(String, Vec<u8>)>,
    pub children: Vec<Tree>,
}

pub fn cells(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|value| value.to_be_bytes()).collect()
}

pub fn string(text: &str) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    bytes.push(0);
    bytes
}

impl Tree {
    pub fn new(name: &str) -> Self {
        Self { name: name.to_owned(), ..Self::default() }
    }

    pub fn raw(mut self, name: &str, value: Vec<u8>) -> Self {
        self.set(name, value);
        self
    }

    pub fn u32(self, name: &str, value: u32) -> Self {
        self.raw(name, cells(&[value]))
    }

    pub fn u64(self, name: &str, value: u64) -> Self {
        self.raw(name, cells(&[(value >> 32) as u32, value as u32]))
    }

    pub fn cells(self, name: &str, values: &[u32]) -> Self {
        self.raw(name, cells(values))
    }

    pub fn string(self, name: &str, text: &str) -> Self {
        self.raw(name, string(text))
    }

    pub fn flag(self, name: &str) -> Self {
        self.raw(name, Vec::new())
    }

    pub fn child(mut self, child: Tree) -> Self {
        self.children.push(child);
        self
    }

    /// Sets (replacing) a property.
    pub fn set(&mut self, name: &str, value: Vec<u8>) {
        match self.properties.iter_mut().find(|(existing, _)| existing == name) {
            Some((_, slot)) => *slot = value,
            None => self.properties.push((name.to_owned(), value)),
        }
    }

    /// Removes a property (panics if absent, so a test cannot silently test nothing).
    pub fn remove(&mut self, name: &str) {
        let before = self.properties.len();
        self.properties.retain(|(existing, _)| existing != name);
        assert_ne!(before, self.properties.len(), "property {name} not present");
    }

    /// The node at `path` ("" for self, "memory-regions/rx" for a grandchild).
    pub fn node(&mut self, path: &str) -> &mut Tree {
        let mut node = self;
        for part in path.split('/').filter(|part| !part.is_empty()) {
            node = node
                .children
                .iter_mut()
                .find(|child| child.name == part)
                .unwrap_or_else(|| panic!("no node {part}"));
        }
        node
    }

    /// Removes the child `name` of the node at `path`.
    pub fn remove_child(&mut self, path: &str, name: &str) {
        let node = self.node(path);
        let before = node.children.len();
        node.children.retain(|child| child.name != name);
        assert_ne!(before, node.children.len(), "child {name} not present");
    }

    /// Serialises the tree (as the root) into a version-17 DTB.
    pub fn to_dtb(&self) -> Vec<u8> {
        let mut structure = Vec::new();
        let mut strings = Vec::new();
        self.write(&mut structure, &mut strings);
        structure.extend_from_slice(&9u32.to_be_bytes());
        let header_size = 40u32;
        let reservations_offset = header_size;
        let reservations = [0u8; 16];
        let structure_offset = reservations_offset + reservations.len() as u32;
        let strings_offset = structure_offset + structure.len() as u32;
        let total = strings_offset + strings.len() as u32;
        let mut blob = Vec::new();
        for word in [
            0xd00d_feed,
            total,
            structure_offset,
            strings_offset,
            reservations_offset,
            17,
            16,
            0,
            strings.len() as u32,
            structure.len() as u32,
        ] {
            blob.extend_from_slice(&u32::to_be_bytes(word));
        }
        blob.extend_from_slice(&reservations);
        blob.extend_from_slice(&structure);
        blob.extend_from_slice(&strings);
        blob
    }

    fn write(&self, structure: &mut Vec<u8>, strings: &mut Vec<u8>) {
        structure.extend_from_slice(&1u32.to_be_bytes());
        structure.extend_from_slice(self.name.as_bytes());
        structure.push(0);
        pad(structure);
        for (name, value) in &self.properties {
            let offset = string_offset(strings, name);
            structure.extend_from_slice(&3u32.to_be_bytes());
            structure.extend_from_slice(&(value.len() as u32).to_be_bytes());
            structure.extend_from_slice(&offset.to_be_bytes());
            structure.extend_from_slice(value);
            pad(structure);
        }
        for child in &self.children {
            child.write(structure, strings);
        }
        structure.extend_from_slice(&2u32.to_be_bytes());
    }
}

fn pad(bytes: &mut Vec<u8>) {
    while bytes.len() % 4 != 0 {
        bytes.push(0);
    }
}

fn string_offset(strings: &mut Vec<u8>, name: &str) -> u32 {
    let mut needle = name.as_bytes().to_vec();
    needle.push(0);
    let mut start = 0;
    for entry in strings.split(|&byte| byte == 0) {
        if entry == name.as_bytes() && start + entry.len() < strings.len() {
            return start as u32;
        }
        start += entry.len() + 1;
    }
    let offset = strings.len() as u32;
    strings.extend_from_slice(&needle);
    offset
}

/// The 1.0 fixture (tests/data/sp_manifest_v1_0.dts) as a builder tree.
pub fn valid_v1_0() -> Tree {
    let region = |name: &str, pages: u32, attributes: u32| {
        Tree::new(name).u32("pages-count", pages).u32("attributes", attributes)
    };
    Tree::new("")
        .string("compatible", "arm,ffa-manifest-1.0")
        .u32("ffa-version", 0x0001_0001)
        .cells(
            "uuid",
            &[
                0xe0786148, 0xe311f8e7, 0x02005ebc, 0x1bc5d5a5, 0x67452301, 0xefcdab89, 0x67452301,
                0xefcdab89,
            ],
        )
        .cells("messaging-method", &[0x3, 0x607])
        .u32("id", 0x8001)
        .u32("auxiliary-id", 0x8101)
        .string("description", "test-sp")
        .u32("execution-ctx-count", 8)
        .u32("exception-level", 2)
        .u32("execution-state", 0)
        .u64("load-address", 0x628_0000)
        .u32("entrypoint-offset", 0x1000)
        .u32("xlat-granule", 0)
        .u32("boot-order", 3)
        .u32("ns-interrupts-action", 1)
        .flag("managed-exit-virq")
        .flag("notification-support")
        .u32("gp-register-num", 0)
        .u32("power-management-messages", 0x5)
        .u32("vm-availability-messages", 0x3)
        .child(
            Tree::new("rx-tx-buffer")
                .string("compatible", "arm,ffa-manifest-rx_tx-buffer")
                .u32("rx-buffer", 0x10)
                .u32("tx-buffer", 0x11),
        )
        .child(
            Tree::new("memory-regions")
                .string("compatible", "arm,ffa-manifest-memory-regions")
                .child(
                    Tree::new("rx")
                        .string("description", "rx-buffer")
                        .u32("pages-count", 1)
                        .u32("attributes", 0x1)
                        .u64("base-address", 0x730_0000)
                        .u32("phandle", 0x10),
                )
                .child(
                    Tree::new("tx")
                        .string("description", "tx-buffer")
                        .u32("pages-count", 1)
                        .u32("attributes", 0x3)
                        .u64("base-address", 0x730_1000)
                        .u32("phandle", 0x11),
                )
                .child(
                    Tree::new("heap")
                        .string("description", "heap")
                        .u32("pages-count", 16)
                        .u32("attributes", 0x3)
                        .u64("load-address-relative-offset", 0x10_0000),
                )
                .child(region("shared", 4, 0xb)),
        )
        .child(
            Tree::new("device-regions")
                .string("compatible", "arm,ffa-manifest-device-regions")
                .child(
                    Tree::new("uart1")
                        .string("description", "uart")
                        .u64("base-address", 0x1c0a_0000)
                        .u32("pages-count", 1)
                        .u32("attributes", 0x3)
                        .cells("interrupts", &[37, 0x900, 8, 0x1a0])
                        .flag("exclusive-access"),
                ),
        )
}

/// The SPMC core manifest fixture as a builder tree.
pub fn valid_spmc() -> Tree {
    Tree::new("").string("compatible", "arm,ffa-core-manifest-1.0").child(
        Tree::new("attribute")
            .u32("spmc_id", 0x8000)
            .u32("maj_ver", 1)
            .u32("min_ver", 2)
            .u32("exec_state", 0)
            .u64("load_address", 0x600_0000)
            .u64("entrypoint", 0x600_0000)
            .u32("binary_size", 0x8_0000),
    )
}

#[test]
fn builder_matches_the_dtc_fixture() {
    let from_dtc = include_bytes!("data/sp_manifest_v1_0.dtb");
    let built = valid_v1_0().to_dtb();
    let expected = spmc::manifest::PartitionManifest::parse(from_dtc).expect("fixture");
    let actual = spmc::manifest::PartitionManifest::parse(&built).expect("built tree");
    assert_eq!(actual, expected);
    let spmc_from_dtc = include_bytes!("data/spmc_manifest.dtb");
    assert_eq!(
        spmc::manifest::SpmcManifest::parse(&valid_spmc().to_dtb()),
        spmc::manifest::SpmcManifest::parse(spmc_from_dtc)
    );
}

#[test]
fn builder_output_reads_back_with_the_fdt_crate() {
    let built = valid_v1_0().to_dtb();
    let tree = fdt::Fdt::new(&built).expect("header");
    let node = tree.find_node("/memory-regions/heap").expect("heap node");
    assert_eq!(node.property("pages-count").and_then(|p| p.as_usize()), Some(16));
}
