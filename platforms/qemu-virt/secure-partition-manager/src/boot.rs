//! Finding the partitions at boot: core manifest -> SP packages (as TF-A's BL2 places them).
//!
//! The core manifest names package locations the way Hafnium's binding does:
//! `hypervisor { compatible = "hafnium,hafnium"; vm1 { is_ffa_partition; load_address = <..>; } }`.

/// Where the partition's package and image are.
#[derive(Debug, Clone, Copy)]
pub struct PartitionPackage {
    pub package_base: u64,
    pub entry: u64,
    pub partition_id: u64,
}

const FDT_MAGIC: u32 = 0xd00d_feed;
const SP_PACKAGE_MAGIC: u32 = 0x474B_5053;
/// Largest device tree accepted (the manifests here are a few hundred bytes).
const MAXIMUM_DEVICE_TREE: usize = 64 * 1024;

/// # Safety
/// `address` must point at readable memory holding a device tree the loader placed there.
unsafe fn device_tree_at(address: u64) -> Result<&'static [u8], &'static str> {
    // SAFETY: the caller guarantees at least the 8-byte header is readable.
    let header = unsafe { core::slice::from_raw_parts(address as *const u8, 8) };
    let word = |offset: usize| {
        u32::from_be_bytes([
            header[offset],
            header[offset + 1],
            header[offset + 2],
            header[offset + 3],
        ])
    };
    if word(0) != FDT_MAGIC {
        return Err("no device tree at the manifest address");
    }
    let size = word(4) as usize;
    if size > MAXIMUM_DEVICE_TREE {
        return Err("manifest device tree larger than 64 KiB");
    }
    // SAFETY: the header says the tree is `size` bytes long and the caller guarantees it is there.
    Ok(unsafe { core::slice::from_raw_parts(address as *const u8, size) })
}

fn property_number(node: &fdt::node::FdtNode<'_, '_>, name: &str) -> Option<u64> {
    let value = node.property(name)?.value;
    match value.len() {
        4 => Some(u64::from(u32::from_be_bytes(value.try_into().ok()?))),
        8 => Some(u64::from_be_bytes(value.try_into().ok()?)),
        _ => None,
    }
}

fn package_word(base: u64, index: u64) -> u32 {
    // SAFETY: callers only read the 24-byte SPKG header at a base the core manifest named and
    // the loader filled; the address is 4-byte aligned.
    unsafe { core::ptr::read_volatile((base + 4 * index) as *const u32) }
}

/// Reads one partition's package at `base`: header check, then ID and entry from its manifest.
fn read_package(base: u64) -> Result<PartitionPackage, &'static str> {
    if package_word(base, 0) != SP_PACKAGE_MAGIC {
        return Err("no SP package (SPKG) at a partition's load_address");
    }
    let (manifest_offset, image_offset) = (u64::from(package_word(base, 2)), u64::from(package_word(base, 4)));
    // SAFETY: the package's manifest lies inside the package the loader placed at `base`.
    let manifest = unsafe { device_tree_at(base + manifest_offset) }?;
    let manifest = fdt::Fdt::new(manifest).map_err(|_| "partition manifest is not a valid device tree")?;
    let root = manifest.find_node("/").ok_or("partition manifest: no root")?;
    let partition_id = property_number(&root, "id").ok_or("partition manifest: no id")?;
    // TF-A's partitions state the entry from the package base (0x4000 = sptool's image offset);
    // without the property the image's first byte is the entry.
    let entry_offset = property_number(&root, "entrypoint-offset").unwrap_or(image_offset);
    Ok(PartitionPackage { package_base: base, entry: base + entry_offset, partition_id })
}

/// Finds every FF-A partition the core manifest lists (at most `MAXIMUM` of them).
pub fn find_partitions<const MAXIMUM: usize>(
    core_manifest: u64,
) -> Result<[Option<PartitionPackage>; MAXIMUM], &'static str> {
    // SAFETY: the EL3 monitor passes the address where it loaded the core manifest.
    let tree = unsafe { device_tree_at(core_manifest) }?;
    let tree = fdt::Fdt::new(tree).map_err(|_| "the core manifest is not a valid device tree")?;
    let hypervisor = tree.find_node("/hypervisor").ok_or("core manifest: no hypervisor node")?;
    let mut found = [None; MAXIMUM];
    let mut count = 0;
    for node in hypervisor.children().filter(|child| child.property("is_ffa_partition").is_some()) {
        let slot = found.get_mut(count).ok_or("core manifest: more partitions than this SPMC supports")?;
        let base = property_number(&node, "load_address").ok_or("core manifest: partition has no load_address")?;
        *slot = Some(read_package(base)?);
        count += 1;
    }
    if count == 0 {
        return Err("core manifest: no node with is_ffa_partition");
    }
    Ok(found)
}
