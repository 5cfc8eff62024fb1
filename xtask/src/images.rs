//! Building the bare-metal images and laying them out for the machine (the boot flash).

use std::path::{Path, PathBuf};

use object::{Object, ObjectSection, ObjectSegment};

use crate::progress::Step;
use crate::shell;
use crate::toolchain::{CrossToolchain, TARGET};

/// Which board's memory map the images are built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    QemuVirt,
}

impl Platform {
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            "qemu" | "qemu-virt" => Ok(Self::QemuVirt),
            "fvp" => Err("the FVP Base RevC images are not built yet (tracked by the QEMU/FVP \
                          platform issue); use --platform qemu"
                .into()),
            other => Err(format!("unknown platform `{other}`; expected `qemu` or `fvp`")),
        }
    }
}

/// What the EL3 monitor does with a blob (numbers of `platform_common::boot_directory::BlobKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlobKind {
    /// The EL3 monitor itself: flash offset 0, the reset vector.
    ResetVector,
    SpmcImage = 1,
    SpmcManifest = 2,
    Hypervisor = 3,
}

/// One image: its crate, its role, and the most its loaded bytes (text+rodata+data) may take.
#[derive(Debug)]
struct ImageSpec {
    package: &'static str,
    kind: BlobKind,
    budget_bytes: u64,
}

const QEMU_IMAGES: &[ImageSpec] = &[
    ImageSpec { package: "el3-monitor", kind: BlobKind::ResetVector, budget_bytes: 32 * 1024 },
    ImageSpec {
        package: "secure-partition-manager",
        kind: BlobKind::SpmcImage,
        budget_bytes: 128 * 1024,
    },
    ImageSpec { package: "hypervisor", kind: BlobKind::Hypervisor, budget_bytes: 256 * 1024 },
];

/// The boot flash image directory (see platforms/common/src/boot_directory.rs for the format).
const DIRECTORY_OFFSET: usize = 0x10_0000;
const DIRECTORY_MAGIC: u32 = 0x4241_4646;
/// Where the SPMC core manifest is loaded (secure RAM, just below the SPMC).
const SPMC_MANIFEST_ADDRESS: u64 = 0x0E0F_F000;
/// The SPMC's endpoint ID and FF-A version, as its core manifest states them.
const SPMC_ID: u32 = 0x8000;
const SPMC_VERSION: (u32, u32) = (1, 2);

#[derive(Debug)]
struct Blob {
    name: String,
    bytes: Vec<u8>,
    load_address: u64,
    entry_point: u64,
    kind: BlobKind,
}

/// The SPMC core manifest ("arm,ffa-core-manifest-1.0") TF-A's SPMD would pass in x0.
fn spmc_core_manifest(
    load_address: u64,
    entry_point: u64,
    binary_size: u32,
) -> Result<Vec<u8>, String> {
    let fail = |error: vm_fdt::Error| format!("writing the SPMC manifest: {error}");
    let mut writer = vm_fdt::FdtWriter::new().map_err(fail)?;
    let root = writer.begin_node("").map_err(fail)?;
    writer.property_string("compatible", "arm,ffa-core-manifest-1.0").map_err(fail)?;
    writer.property_u32("#address-cells", 2).map_err(fail)?;
    writer.property_u32("#size-cells", 1).map_err(fail)?;
    let attribute = writer.begin_node("attribute").map_err(fail)?;
    writer.property_u32("spmc_id", SPMC_ID).map_err(fail)?;
    writer.property_u32("maj_ver", SPMC_VERSION.0).map_err(fail)?;
    writer.property_u32("min_ver", SPMC_VERSION.1).map_err(fail)?;
    writer.property_u32("exec_state", 0).map_err(fail)?;
    writer.property_u64("load_address", load_address).map_err(fail)?;
    writer.property_u64("entrypoint", entry_point).map_err(fail)?;
    writer.property_u32("binary_size", binary_size).map_err(fail)?;
    writer.end_node(attribute).map_err(fail)?;
    writer.end_node(root).map_err(fail)?;
    writer.finish().map_err(fail)
}

fn align_up(value: usize, alignment: usize) -> usize {
    value.div_ceil(alignment) * alignment
}

/// Lays out the boot flash: the reset-vector image at 0, the directory at 1 MiB, then each blob
/// 4 KiB aligned.
fn lay_out_flash(reset_vector: &[u8], blobs: &[Blob]) -> Result<Vec<u8>, String> {
    if reset_vector.len() > DIRECTORY_OFFSET {
        return Err("the EL3 monitor does not fit below the image directory (1 MiB)".into());
    }
    let mut flash = reset_vector.to_vec();
    flash.resize(DIRECTORY_OFFSET, 0);
    let mut directory = Vec::new();
    for word in [DIRECTORY_MAGIC, 1, blobs.len() as u32, 0] {
        directory.extend_from_slice(&word.to_le_bytes());
    }
    let mut offset = align_up(DIRECTORY_OFFSET + 16 + 48 * blobs.len(), 4096);
    let mut contents = Vec::new();
    for blob in blobs {
        let mut name = [0u8; 16];
        let length = blob.name.len().min(15);
        name[..length].copy_from_slice(&blob.name.as_bytes()[..length]);
        directory.extend_from_slice(&name);
        directory.extend_from_slice(&(offset as u32).to_le_bytes());
        directory.extend_from_slice(&(blob.bytes.len() as u32).to_le_bytes());
        directory.extend_from_slice(&blob.load_address.to_le_bytes());
        directory.extend_from_slice(&blob.entry_point.to_le_bytes());
        directory.extend_from_slice(&(blob.kind as u32).to_le_bytes());
        directory.extend_from_slice(&0u32.to_le_bytes());
        contents.push((offset, &blob.bytes));
        offset = align_up(offset + blob.bytes.len(), 4096);
    }
    flash.extend_from_slice(&directory);
    for (offset, bytes) in contents {
        flash.resize(offset, 0);
        flash.extend_from_slice(bytes);
    }
    const FLASH_SIZE: usize = 64 << 20;
    if flash.len() > FLASH_SIZE {
        return Err(format!(
            "the boot flash image is {} bytes, more than the 64 MiB flash",
            flash.len()
        ));
    }
    Ok(flash)
}

/// Sizes of one linked image.
#[derive(Debug, Clone)]
pub struct ImageSize {
    pub name: String,
    pub text: u64,
    pub data: u64,
    pub bss: u64,
}

/// The result of a build: where the images are and what QEMU should boot.
#[derive(Debug, Clone)]
pub struct BuiltImages {
    pub flash: PathBuf,
    pub elves: Vec<PathBuf>,
    pub sizes: Vec<ImageSize>,
}

pub fn platforms_dir() -> PathBuf {
    shell::repository_root().join("platforms")
}

fn output_dir(release: bool) -> PathBuf {
    platforms_dir().join("target").join(TARGET).join(if release { "release" } else { "debug" })
}

/// Compiles the platforms workspace for aarch64. Warnings are errors here: on the Debian path
/// this build is the only lint the aarch64 code gets besides the host clippy pass.
pub fn compile(cross: &CrossToolchain, release: bool) -> Result<(), String> {
    let step = Step::start(&format!(
        "building aarch64 images ({}, {})",
        if release { "release" } else { "debug" },
        cross.describe()
    ));
    let mut command = cross.cargo("build");
    command
        .current_dir(platforms_dir())
        .env("DEFMT_LOG", "info")
        .env("RUSTFLAGS", "-D warnings")
        .arg("--workspace");
    if release {
        command.arg("--release");
    }
    shell::run(&mut command)?;
    step.done();
    Ok(())
}

fn section_sizes(name: &str, bytes: &[u8]) -> Result<ImageSize, String> {
    let file =
        object::File::parse(bytes).map_err(|error| format!("{name}: not an ELF: {error}"))?;
    let mut size = ImageSize { name: name.to_owned(), text: 0, data: 0, bss: 0 };
    for section in file.sections() {
        let section_name = section.name().unwrap_or_default();
        let length = section.size();
        match section_name {
            ".text" | ".rodata" => size.text += length,
            ".data" => size.data += length,
            ".bss" | ".stack" => size.bss += length,
            _ => {}
        }
    }
    Ok(size)
}

/// The loaded bytes of an ELF as one flat binary starting at its lowest load address.
pub fn flatten(name: &str, bytes: &[u8]) -> Result<(u64, Vec<u8>), String> {
    let file =
        object::File::parse(bytes).map_err(|error| format!("{name}: not an ELF: {error}"))?;
    let segments: Vec<_> = file
        .segments()
        .filter_map(|segment| {
            let data = segment.data().ok()?;
            (!data.is_empty()).then(|| (segment.address(), data))
        })
        .collect();
    let base = segments
        .iter()
        .map(|(address, _)| *address)
        .min()
        .ok_or(format!("{name}: no loadable segment"))?;
    let mut flat = Vec::new();
    for (address, data) in segments {
        let offset =
            usize::try_from(address - base).map_err(|_| format!("{name}: segment out of range"))?;
        if flat.len() < offset + data.len() {
            flat.resize(offset + data.len(), 0);
        }
        flat[offset..offset + data.len()].copy_from_slice(data);
    }
    Ok((base, flat))
}

fn entry_point(name: &str, bytes: &[u8]) -> Result<u64, String> {
    let file =
        object::File::parse(bytes).map_err(|error| format!("{name}: not an ELF: {error}"))?;
    Ok(file.entry())
}

/// Builds every image for `platform` and lays out the boot flash.
pub fn build(
    cross: &CrossToolchain,
    platform: Platform,
    release: bool,
) -> Result<BuiltImages, String> {
    compile(cross, release)?;
    let step = Step::start("laying out the boot flash and checking size budgets");
    let specs = match platform {
        Platform::QemuVirt => QEMU_IMAGES,
    };
    let directory = output_dir(release);
    let mut elves = Vec::new();
    let mut sizes = Vec::new();
    let mut reset_vector = Vec::new();
    let mut blobs = Vec::new();
    for spec in specs {
        let path = directory.join(spec.package);
        let bytes = std::fs::read(&path).map_err(|error| format!("{}: {error}", path.display()))?;
        let size = section_sizes(spec.package, &bytes)?;
        let loaded = size.text + size.data;
        println!(
            "    {:<26} text {:>7}  data {:>6}  bss+stack {:>7}   (budget {} for text+data)",
            spec.package, size.text, size.data, size.bss, spec.budget_bytes
        );
        if loaded > spec.budget_bytes {
            return Err(format!(
                "{} is {loaded} bytes of text+data, over its budget of {} bytes",
                spec.package, spec.budget_bytes
            ));
        }
        let (base, flat) = flatten(spec.package, &bytes)?;
        let entry = entry_point(spec.package, &bytes)?;
        match spec.kind {
            BlobKind::ResetVector => reset_vector = flat,
            kind => {
                if kind == BlobKind::SpmcImage {
                    let manifest =
                        spmc_core_manifest(base, entry, (size.text + size.data + size.bss) as u32)?;
                    blobs.push(Blob {
                        name: "spmc-manifest".into(),
                        bytes: manifest,
                        load_address: SPMC_MANIFEST_ADDRESS,
                        entry_point: 0,
                        kind: BlobKind::SpmcManifest,
                    });
                }
                blobs.push(Blob {
                    name: spec.package.chars().take(15).collect(),
                    bytes: flat,
                    load_address: base,
                    entry_point: entry,
                    kind,
                });
            }
        }
        sizes.push(size);
        elves.push(path);
    }
    let flash = lay_out_flash(&reset_vector, &blobs)?;
    let flash_path = directory.join("qemu-virt-flash.bin");
    std::fs::write(&flash_path, &flash)
        .map_err(|error| format!("{}: {error}", flash_path.display()))?;
    step.done();
    Ok(BuiltImages { flash: flash_path, elves, sizes })
}

/// For messages: a path relative to the repository root.
pub fn shown(path: &Path) -> String {
    path.strip_prefix(shell::repository_root()).unwrap_or(path).display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_names() {
        assert_eq!(Platform::parse("qemu"), Ok(Platform::QemuVirt));
        assert!(Platform::parse("fvp").is_err());
        assert!(Platform::parse("raspberry").is_err());
    }

    #[test]
    fn flash_layout_has_the_directory_at_one_mebibyte_and_aligned_blobs() {
        let blobs = [
            Blob {
                name: "first".into(),
                bytes: vec![1; 5000],
                load_address: 0x0E10_0000,
                entry_point: 0x0E10_0000,
                kind: BlobKind::SpmcImage,
            },
            Blob {
                name: "second".into(),
                bytes: vec![2; 10],
                load_address: 0x4020_0000,
                entry_point: 0,
                kind: BlobKind::Hypervisor,
            },
        ];
        let flash = lay_out_flash(&[0xAA; 100], &blobs).expect("fits");
        assert_eq!(flash[..100], [0xAA; 100]);
        let word =
            |offset: usize| u32::from_le_bytes(flash[offset..offset + 4].try_into().unwrap());
        assert_eq!(word(DIRECTORY_OFFSET), DIRECTORY_MAGIC);
        assert_eq!(word(DIRECTORY_OFFSET + 8), 2);
        let first_offset = word(DIRECTORY_OFFSET + 16 + 16) as usize;
        let second_offset = word(DIRECTORY_OFFSET + 16 + 48 + 16) as usize;
        assert_eq!(first_offset % 4096, 0);
        assert_eq!(second_offset, align_up(first_offset + 5000, 4096));
        assert_eq!(flash[second_offset..second_offset + 10], [2; 10]);
        assert_eq!(word(DIRECTORY_OFFSET + 16 + 48 + 40), BlobKind::Hypervisor as u32);
    }

    #[test]
    fn an_oversized_reset_image_is_refused() {
        assert!(lay_out_flash(&vec![0; DIRECTORY_OFFSET + 1], &[]).is_err());
    }

    #[test]
    fn spmc_manifest_is_a_device_tree() {
        let manifest = spmc_core_manifest(0x0E10_0000, 0x0E10_0000, 4096).expect("writes");
        assert_eq!(manifest[..4], [0xd0, 0x0d, 0xfe, 0xed]);
        let text = String::from_utf8_lossy(&manifest);
        assert!(text.contains("arm,ffa-core-manifest-1.0"));
    }

    #[test]
    fn flatten_rejects_non_elf_input() {
        assert!(flatten("junk", b"not an elf at all").is_err());
    }
}
