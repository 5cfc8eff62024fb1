//! Loading the boot flash's images into memory, as TF-A's BL2 would, with every range checked.

use platform_common::boot_directory::{self, BlobKind, Directory};

use platform_common::board::{FLASH_BASE, FLASH_SIZE, LOADABLE};

/// Where the next stages start.
#[derive(Debug, Clone, Copy)]
pub struct LoadedImages {
    pub spmc_entry: u64,
    pub spmc_manifest: u64,
    pub hypervisor_entry: u64,
}

/// What can be wrong with the boot flash.
#[derive(Debug, Clone, Copy)]
pub enum LoadError {
    Directory(boot_directory::DirectoryError),
    Missing(&'static str),
    OutsideFlash,
    NotLoadable,
}

impl core::fmt::Display for LoadError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Directory(error) => write!(formatter, "image directory: {error:?}"),
            Self::Missing(what) => write!(formatter, "no {what} in the image directory"),
            Self::OutsideFlash => write!(formatter, "a blob lies outside the boot flash"),
            Self::NotLoadable => write!(formatter, "a blob's load range is not loadable memory"),
        }
    }
}

fn flash() -> &'static [u8] {
    let start = FLASH_BASE + boot_directory::FLASH_OFFSET;
    // SAFETY: QEMU virt maps the 64 MiB secure flash at FLASH_BASE, readable from EL3 and never
    // written while the monitor runs; the slice starts 1 MiB in, so its pointer is not null.
    unsafe {
        core::slice::from_raw_parts(start as *const u8, FLASH_SIZE - boot_directory::FLASH_OFFSET)
    }
}

fn loadable(start: u64, size: u64) -> bool {
    let Some(end) = start.checked_add(size) else { return false };
    LOADABLE.iter().any(|&(low, high)| start >= low && end <= high)
}

/// Copies every blob to its load address and reports where the SPMC and hypervisor start.
pub fn load_all() -> Result<LoadedImages, LoadError> {
    let flash = flash();
    let directory = Directory::parse(flash).map_err(LoadError::Directory)?;
    for index in 0..directory.len() {
        let blob = directory.get(index).map_err(LoadError::Directory)?;
        let offset = blob
            .flash_offset
            .checked_sub(boot_directory::FLASH_OFFSET)
            .ok_or(LoadError::OutsideFlash)?;
        let end = offset.checked_add(blob.size).ok_or(LoadError::OutsideFlash)?;
        let source = flash.get(offset..end).ok_or(LoadError::OutsideFlash)?;
        if !loadable(blob.load_address, blob.size as u64) {
            return Err(LoadError::NotLoadable);
        }
        // SAFETY: the destination range was checked to lie in secure RAM above the monitor or
        // in DRAM, which nothing else uses yet; the source is flash, so they cannot overlap.
        unsafe {
            core::ptr::copy_nonoverlapping(
                source.as_ptr(),
                blob.load_address as *mut u8,
                source.len(),
            );
        }
        defmt::info!(
            "el3-monitor: loaded {=str} ({=usize} bytes) at {=u64:#x}",
            blob.name(),
            blob.size,
            blob.load_address
        );
    }
    let spmc = directory.find(BlobKind::SpmcImage).ok_or(LoadError::Missing("SPMC image"))?;
    let manifest =
        directory.find(BlobKind::SpmcManifest).ok_or(LoadError::Missing("SPMC manifest"))?;
    let hypervisor =
        directory.find(BlobKind::Hypervisor).ok_or(LoadError::Missing("hypervisor image"))?;
    Ok(LoadedImages {
        spmc_entry: spmc.entry_point,
        spmc_manifest: manifest.load_address,
        hypervisor_entry: hypervisor.entry_point,
    })
}
