//! The SPMC core manifest TF-A's SPMD hands the SPMC (`arm,ffa-core-manifest-1.0`, §10.3).

use ffa_core::EndpointId;

use super::blob;
use super::error::{ManifestError, NodePath, Problem};
use super::node::Node;
use super::values::{ExecutionState, FfaVersion};

const COMPATIBLE: &str = "arm,ffa-core-manifest-1.0";

/// Most partition packages a core manifest may list.
pub const MAX_PARTITION_PACKAGES: usize = 8;

/// A checked SPMC core manifest (node `attribute`, and the partition packages it lists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpmcManifest {
    /// `spmc_id`: the SPMC's endpoint ID (bit 15 set).
    pub spmc_id: EndpointId,
    /// `maj_ver` / `min_ver`: the FF-A version the SPMC implements.
    pub version: FfaVersion,
    /// `exec_state`: always AArch64 (the SPMD refuses an AArch32 SPMC).
    pub execution_state: ExecutionState,
    /// `load_address`: physical base of the SPMC image.
    pub load_address: u64,
    /// `entrypoint`: primary cold-boot entry, inside `[load_address, load_address + binary_size)`.
    pub entrypoint: u64,
    /// `binary_size`: the image's maximum size (never zero).
    pub binary_size: u32,
    /// Where the loader placed each SP package, in the order listed: the `load_address` of
    /// every child of the optional `hypervisor` node (Hafnium's binding, compatible
    /// "hafnium,hafnium") that has the `is_ffa_partition` flag.
    pub partition_packages: heapless::Vec<u64, MAX_PARTITION_PACKAGES>,
}

impl SpmcManifest {
    /// Parses and checks an SPMC core manifest device tree blob.
    pub fn parse(dtb: &[u8]) -> Result<Self, ManifestError> {
        let tree = blob::open(dtb)?;
        let root_path = NodePath::root();
        let root = Node::new(blob::root(&tree)?, &root_path);
        let mut compatible = root
            .string_list("compatible")?
            .ok_or_else(|| root.error("compatible", Problem::Missing))?;
        if !compatible.any(|entry| entry == COMPATIBLE) {
            return Err(
                root.error("compatible", Problem::Invalid("not \"arm,ffa-core-manifest-1.0\""))
            );
        }
        let attribute =
            root.child("attribute").ok_or_else(|| root.error("attribute", Problem::Missing))?;
        let path = root_path.child(attribute.name);
        let node = Node::new(attribute, &path);

        let raw_id = node.required_u32("spmc_id")?;
        let id = u16::try_from(raw_id)
            .map_err(|_| node.error("spmc_id", Problem::OutOfRange { value: raw_id.into() }))?;
        let spmc_id = EndpointId(id);
        if !spmc_id.is_secure() {
            return Err(
                node.error("spmc_id", Problem::Invalid("bit 15 (secure world) must be set"))
            );
        }

        let major = node.required_u32("maj_ver")?;
        let major = u16::try_from(major)
            .ok()
            .filter(|major| *major <= 0x7FFF && *major >= 1)
            .ok_or_else(|| node.error("maj_ver", Problem::OutOfRange { value: major.into() }))?;
        let minor = node.required_u32("min_ver")?;
        let minor = u16::try_from(minor)
            .map_err(|_| node.error("min_ver", Problem::OutOfRange { value: minor.into() }))?;

        let raw_state = node.required_u32("exec_state")?;
        let execution_state = match ExecutionState::from_value(raw_state) {
            Some(ExecutionState::AArch64) => ExecutionState::AArch64,
            Some(ExecutionState::AArch32) => {
                return Err(
                    node.error("exec_state", Problem::Invalid("an AArch32 SPMC is not supported"))
                )
            }
            None => {
                return Err(
                    node.error("exec_state", Problem::OutOfRange { value: raw_state.into() })
                )
            }
        };

        let load_address = node.required_u64("load_address")?;
        let entrypoint = node.required_u64("entrypoint")?;
        let binary_size = node.required_u32("binary_size")?;
        if binary_size == 0 {
            return Err(node.error("binary_size", Problem::Zero));
        }
        let end = load_address
            .checked_add(u64::from(binary_size))
            .ok_or_else(|| node.error("binary_size", Problem::Overflow))?;
        if entrypoint < load_address || entrypoint >= end {
            return Err(node.error(
                "entrypoint",
                Problem::Invalid("outside [load_address, load_address + binary_size)"),
            ));
        }
        let partition_packages = partition_packages(&root, &root_path)?;
        Ok(Self {
            spmc_id,
            version: FfaVersion { major, minor },
            execution_state,
            load_address,
            entrypoint,
            binary_size,
            partition_packages,
        })
    }
}

/// The `load_address` of every `is_ffa_partition` child of the `hypervisor` node, if any.
fn partition_packages(
    root: &Node<'_, '_, '_>,
    root_path: &NodePath,
) -> Result<heapless::Vec<u64, MAX_PARTITION_PACKAGES>, ManifestError> {
    let mut packages = heapless::Vec::new();
    let Some(hypervisor) = root.child("hypervisor") else { return Ok(packages) };
    let hypervisor_path = root_path.child(hypervisor.name);
    for child in hypervisor.children() {
        let path = hypervisor_path.child(child.name);
        let node = Node::new(child, &path);
        if !node.flag("is_ffa_partition")? {
            continue;
        }
        let address = node.required_u64("load_address")?;
        packages.push(address).map_err(|_| {
            node.error("is_ffa_partition", Problem::TooMany { capacity: MAX_PARTITION_PACKAGES })
        })?;
    }
    Ok(packages)
}
