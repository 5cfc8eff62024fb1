//! Finding the partitions at boot: core manifest -> SP packages (as TF-A's BL2 places them).
//!
//! Everything is read with the spmc crate's checked parsers: the core manifest (with its list
//! of partition packages in Hafnium's `hypervisor` binding), each SP package header, and each
//! partition manifest. A malformed blob is a boot error naming the field, never a panic.

#![allow(
    clippy::result_large_err,
    reason = "boot runs once; errors carry their message text in a fixed buffer because there is no heap"
)]

use platform_common::text::TextBuffer;
use spmc::manifest::{PartitionManifest, SpmcManifest};
use spmc::package::SpPackage;
use spmc::partition_manager::EndpointDescription;

/// Where one partition's package and image are, and what its manifest says about it.
#[derive(Debug, Clone)]
pub struct PartitionPackage {
    pub package_base: u64,
    pub entry: u64,
    pub partition_id: u64,
    /// The partition as the partition manager sees it (from its manifest).
    pub description: EndpointDescription,
}

/// A boot error, as text for the log.
pub type BootError = TextBuffer<160>;

const FDT_MAGIC: u32 = 0xd00d_feed;
/// Largest device tree accepted (the manifests here are a few hundred bytes).
const MAXIMUM_DEVICE_TREE: usize = 64 * 1024;
/// Largest SP package accepted (each partition has a 2 MiB block).
const MAXIMUM_PACKAGE: usize = 2 << 20;
const SP_PACKAGE_HEADER: usize = 24;

fn error(what: &dyn core::fmt::Display) -> BootError {
    BootError::format(what)
}

/// A boot error that is a fixed sentence (no formatting code involved).
fn message(text: &str) -> BootError {
    BootError::from_text(text)
}

/// # Safety
/// `address..address + length` must be readable memory the loader filled, unchanged while
/// the returned slice is used.
unsafe fn memory(address: u64, length: usize) -> &'static [u8] {
    // SAFETY: forwarded from this function's contract.
    unsafe { core::slice::from_raw_parts(address as *const u8, length) }
}

/// # Safety
/// `address` must point at readable memory holding a device tree the loader placed there.
unsafe fn device_tree_at(address: u64) -> Result<&'static [u8], BootError> {
    // SAFETY: the caller guarantees at least the 8-byte header is readable.
    let header = unsafe { memory(address, 8) };
    let word = |offset: usize| {
        header
            .get(offset..offset + 4)
            .and_then(|bytes| bytes.try_into().ok())
            .map(u32::from_be_bytes)
    };
    if word(0) != Some(FDT_MAGIC) {
        return Err(message("no device tree at the core manifest address"));
    }
    let size = word(4).unwrap_or(0) as usize;
    if size > MAXIMUM_DEVICE_TREE {
        return Err(message("core manifest larger than 64 KiB"));
    }
    // SAFETY: the header says the tree is `size` bytes long and the caller guarantees it is there.
    Ok(unsafe { memory(address, size) })
}

/// # Safety
/// `base` must be where the loader placed an SP package (readable, unchanged).
unsafe fn package_at(base: u64) -> Result<SpPackage<'static>, BootError> {
    // SAFETY: the caller guarantees the package header is readable at `base`.
    let header = unsafe { memory(base, SP_PACKAGE_HEADER) };
    let word = |index: usize| {
        header
            .get(4 * index..4 * index + 4)
            .and_then(|bytes| bytes.try_into().ok())
            .map(u32::from_le_bytes)
    };
    let end = |offset: usize, size: usize| {
        Some(word(offset)? as usize)
            .zip(word(size))
            .map(|(start, length)| start.saturating_add(length as usize))
    };
    let length = end(2, 3).max(end(4, 5)).unwrap_or(0).max(SP_PACKAGE_HEADER);
    if length > MAXIMUM_PACKAGE {
        return Err(message("an SP package claims to be larger than its 2 MiB block"));
    }
    // SAFETY: the package's header places all of it within `length` bytes of `base`, which the
    // loader filled (checked against the 2 MiB block above).
    SpPackage::parse(unsafe { memory(base, length) }).map_err(|problem| error(&problem))
}

/// Reads one partition: package header, then ID and entry from its manifest.
fn read_partition(base: u64) -> Result<PartitionPackage, BootError> {
    // SAFETY: `base` comes from the core manifest, which names where the loader put packages.
    let package = unsafe { package_at(base) }?;
    let manifest = PartitionManifest::parse(package.manifest).map_err(|problem| error(&problem))?;
    let id = manifest.id.ok_or_else(|| message("partition manifest: no id"))?;
    let description = EndpointDescription::from_manifest(&manifest, None).map_err(|problem| {
        let mut text = error(&format_args!("partition manifest of {:#x}: ", id.value()));
        // A plain write: `{}` of a string would link the padding code (size budget).
        let _ = core::fmt::Write::write_str(&mut text, problem.message());
        text
    })?;
    // TF-A's partitions state the entry from the package base (0x4000 = sptool's image offset);
    // without the property the image's first byte is the entry.
    let entry_offset = if manifest.entrypoint_offset != 0 {
        manifest.entrypoint_offset
    } else {
        package.image_offset as u64
    };
    Ok(PartitionPackage {
        package_base: base,
        entry: base + entry_offset,
        partition_id: u64::from(id.value()),
        description,
    })
}

/// Finds every FF-A partition the core manifest lists (at most `MAXIMUM` of them).
pub fn find_partitions<const MAXIMUM: usize>(
    core_manifest: u64,
) -> Result<[Option<PartitionPackage>; MAXIMUM], BootError> {
    // SAFETY: the EL3 monitor passes the address where it loaded the core manifest.
    let tree = unsafe { device_tree_at(core_manifest) }?;
    let manifest = SpmcManifest::parse(tree).map_err(|problem| error(&problem))?;
    if manifest.partition_packages.is_empty() {
        return Err(message(
            "core manifest: no partition packages (hypervisor/vmN with is_ffa_partition)",
        ));
    }
    let mut found: [Option<PartitionPackage>; MAXIMUM] = core::array::from_fn(|_| None);
    for (slot, &base) in found.iter_mut().zip(manifest.partition_packages.iter()) {
        *slot = Some(read_partition(base)?);
    }
    if manifest.partition_packages.len() > MAXIMUM {
        return Err(message("core manifest: more partitions than this SPMC supports"));
    }
    Ok(found)
}
