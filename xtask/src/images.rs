//! Building the bare-metal images and laying them out for the machine (the boot flash).

use std::path::{Path, PathBuf};

use object::{Object, ObjectSection};

use crate::progress::Step;
use crate::shell;
use crate::toolchain::{CrossToolchain, TARGET};

/// Which board's memory map the images are built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    QemuVirt,
    FvpBaseRevC,
}

/// Where a platform's images go in memory, and how they are built.
#[derive(Debug)]
struct PlatformLayout {
    /// The `--cfg` that selects the board in `platform_common::board`, if not the default.
    board_cfg: Option<&'static str>,
    /// Its own directory under platforms/target, so builds for two boards never mix.
    target_subdirectory: &'static str,
    /// Where the SPMC core manifest is loaded.
    spmc_manifest: u64,
    /// Where each partition package (in `QEMU_PARTITIONS` order) is placed.
    partition_packages: [u64; 3],
    /// Where each guest VM's copy of the guest image goes (its RAM).
    guest_copies: [u64; 2],
    /// The boot flash file name.
    flash_name: &'static str,
}

impl Platform {
    fn layout(self) -> PlatformLayout {
        match self {
            Self::QemuVirt => PlatformLayout {
                board_cfg: None,
                target_subdirectory: "qemu-virt",
                spmc_manifest: 0x0E0F_F000,
                partition_packages: [0x0E40_0000, 0x0E60_0000, 0x0E80_0000],
                guest_copies: [0x4100_0000, 0x4200_0000],
                flash_name: "qemu-virt-flash.bin",
            },
            // Trusted DRAM at 0x0600_0000 holds the SPMC and partitions; DRAM at 0x8000_0000 the
            // normal world (platform_common::board::fvp_base has the device side).
            Self::FvpBaseRevC => PlatformLayout {
                board_cfg: Some("ffa_board_fvp"),
                target_subdirectory: "fvp-base-revc",
                spmc_manifest: 0x060F_F000,
                partition_packages: [0x0640_0000, 0x0660_0000, 0x0680_0000],
                guest_copies: [0x8100_0000, 0x8200_0000],
                flash_name: "fvp-flash.bin",
            },
        }
    }
}

impl Platform {
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            "qemu" | "qemu-virt" => Ok(Self::QemuVirt),
            "fvp" => Ok(Self::FvpBaseRevC),
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
    PartitionPackage = 4,
    /// A guest VM image the hypervisor runs; loaded once per VM.
    GuestImage = 5,
}

/// One image: its crate, its role, the most its loaded bytes (text+rodata+data) may take, and
/// the most RAM it may take in all (text, data, bss, page tables, stacks and the padding
/// between them: from its first section's start to its last one's end), where it has a RAM
/// budget.
#[derive(Debug)]
struct ImageSpec {
    package: &'static str,
    kind: BlobKind,
    budget_bytes: u64,
    ram_budget_bytes: Option<u64>,
    stacks: Option<StackCheck>,
}

/// An image whose stack area (`__stack_size`) is `cpus` equal per-CPU stacks, each of which
/// must hold the deepest call path from every entry in `roots` (`crate::stack_bound`).
#[derive(Debug)]
struct StackCheck {
    cpus: u64,
    /// Each entry function, with the functions that call it on the way in (their frames are
    /// added; their other callees are not on a serving CPU's path).
    roots: &'static [(&'static str, &'static [&'static str])],
}

/// The SPMC: a CPU the EL3 monitor starts enters at `image_secondary_main`; the boot CPU
/// serves from `boot_cpu` under `image_main` (whose `set_up` runs before any other CPU starts,
/// and may use their stacks: `secure-partition-manager/src/stack.rs`).
const SPMC_STACKS: StackCheck = StackCheck {
    cpus: 4,
    roots: &[
        ("image_secondary_main", &[]),
        ("secure_partition_manager::boot_cpu", &["image_main"]),
    ],
};

const QEMU_IMAGES: &[ImageSpec] = &[
    ImageSpec {
        package: "el3-monitor",
        kind: BlobKind::ResetVector,
        budget_bytes: 32 * 1024,
        ram_budget_bytes: None,
        stacks: None,
    },
    // Issue #8: the SPMC in at most 128 KiB of text+data and 256 KiB of RAM in all (no heap);
    // docs/src/memory-map.md has what takes how much.
    ImageSpec {
        package: "secure-partition-manager",
        kind: BlobKind::SpmcImage,
        budget_bytes: 128 * 1024,
        ram_budget_bytes: Some(256 * 1024),
        stacks: Some(SPMC_STACKS),
    },
    ImageSpec {
        package: "hypervisor",
        kind: BlobKind::Hypervisor,
        budget_bytes: 256 * 1024,
        ram_budget_bytes: None,
        stacks: None,
    },
    ImageSpec {
        package: "test-partition",
        kind: BlobKind::PartitionPackage,
        budget_bytes: 64 * 1024,
        ram_budget_bytes: None,
        stacks: None,
    },
    ImageSpec {
        package: "test-partition-2",
        kind: BlobKind::PartitionPackage,
        budget_bytes: 64 * 1024,
        ram_budget_bytes: None,
        stacks: None,
    },
    ImageSpec {
        package: "optee-test-partition",
        kind: BlobKind::PartitionPackage,
        budget_bytes: 64 * 1024,
        ram_budget_bytes: None,
        stacks: None,
    },
    // The conformance suite (164 checks, through the guest driver) and the platform demo; a
    // test image, not a product one: the budget only catches runaway growth (16 MiB of RAM).
    ImageSpec {
        package: "test-vm",
        kind: BlobKind::GuestImage,
        budget_bytes: 256 * 1024,
        ram_budget_bytes: None,
        stacks: None,
    },
];

/// Where a guest image is linked: the VM's RAM at IPA 0x4000_0000 (the same on every board;
/// each VM's copy goes where `PlatformLayout::guest_copies` says, `board::GUESTS` in the images).
const GUEST_LINK_ADDRESS: u64 = 0x4000_0000;

/// A secure partition's identity, written into its FF-A manifest.
#[derive(Debug)]
struct PartitionSpec {
    package: &'static str,
    id: u32,
    uuid: [u32; 4],
}

const QEMU_PARTITIONS: &[PartitionSpec] = &[
    PartitionSpec {
        package: "test-partition",
        id: 0x8001,
        // Words as TF-A's manifests take them (the UUID's bytes read as little-endian u32s), so
        // the UUID itself, as Linux prints it, is a0c1f55f-1d4c-0f7e-3f0b-589a418a6e2d.
        uuid: [0x5ff5_c1a0, 0x7e0f_4c1d, 0x9a58_0b3f, 0x2d6e_8a41],
    },
    PartitionSpec {
        package: "test-partition-2",
        id: 0x8002,
        // Likewise: the UUID 2e4b6c0d-9e4c-a158-2a7e-f3b1605f4d9c.
        uuid: [0x0d6c_4b2e, 0x58a1_4c9e, 0xb1f3_7e2a, 0x9c4d_5f60],
    },
    PartitionSpec {
        package: "optee-test-partition",
        id: 0x8003,
        // 486178e0-e7f8-11e3-bc5e-0002a5d5c51b, the UUID Linux's OP-TEE driver binds to. The
        // manifest's words are the UUID's bytes read as little-endian u32s (the convention of
        // TF-A's and Hafnium's manifests), so FFA_PARTITION_INFO_GET returns the bytes in order.
        uuid: [0xe078_6148, 0xe311_f8e7, 0x0200_5ebc, 0x1bc5_d5a5],
    },
];

/// SP package (SPKG version 2) layout, with sptool's default offsets.
const SP_MAGIC: u32 = 0x474B_5053;
const SP_MANIFEST_OFFSET: usize = 0x1000;
const SP_IMAGE_OFFSET: usize = 0x4000;

/// The boot flash image directory (see platforms/common/src/boot_directory.rs for the format).
const DIRECTORY_OFFSET: usize = 0x10_0000;
const DIRECTORY_MAGIC: u32 = 0x4241_4646;
/// Where the SPMC core manifest is loaded (secure RAM, just below the SPMC).
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

/// The SPMC core manifest ("arm,ffa-core-manifest-1.0") TF-A's SPMD would pass in x0, with
/// the partition packages' addresses in Hafnium's `hypervisor` node binding.
fn spmc_core_manifest(
    load_address: u64,
    entry_point: u64,
    binary_size: u32,
    partitions: &[(&PartitionSpec, u64)],
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
    let hypervisor = writer.begin_node("hypervisor").map_err(fail)?;
    writer.property_string("compatible", "hafnium,hafnium").map_err(fail)?;
    for (index, (partition, package_address)) in partitions.iter().enumerate() {
        let node = writer.begin_node(&format!("vm{}", index + 1)).map_err(fail)?;
        writer.property_null("is_ffa_partition").map_err(fail)?;
        writer.property_string("debug_name", partition.package).map_err(fail)?;
        writer.property_u64("load_address", *package_address).map_err(fail)?;
        writer.property_u32("vcpu_count", 1).map_err(fail)?;
        writer.end_node(node).map_err(fail)?;
    }
    writer.end_node(hypervisor).map_err(fail)?;
    writer.end_node(root).map_err(fail)?;
    writer.finish().map_err(fail)
}

/// A partition's FF-A manifest ("arm,ffa-manifest-1.0").
fn partition_manifest(partition: &PartitionSpec, package_address: u64) -> Result<Vec<u8>, String> {
    let fail =
        |error: vm_fdt::Error| format!("writing the manifest of {}: {error}", partition.package);
    let mut writer = vm_fdt::FdtWriter::new().map_err(fail)?;
    let root = writer.begin_node("").map_err(fail)?;
    writer.property_string("compatible", "arm,ffa-manifest-1.0").map_err(fail)?;
    writer.property_u32("ffa-version", 0x1_0002).map_err(fail)?;
    writer.property_array_u32("uuid", &partition.uuid).map_err(fail)?;
    writer.property_u32("id", partition.id).map_err(fail)?;
    writer.property_string("description", partition.package).map_err(fail)?;
    writer.property_u32("execution-ctx-count", 1).map_err(fail)?;
    // 2 = S-EL1, 0 = AArch64, 0 = 4 KiB granule; receives and sends direct requests, 32/64-bit
    // (bits 0, 1) and REQ2 (bits 9, 10).
    writer.property_u32("exception-level", 2).map_err(fail)?;
    writer.property_u32("execution-state", 0).map_err(fail)?;
    writer.property_u64("load-address", package_address).map_err(fail)?;
    writer.property_u64("entrypoint-offset", SP_IMAGE_OFFSET as u64).map_err(fail)?;
    writer.property_u32("xlat-granule", 0).map_err(fail)?;
    writer.property_u32("boot-order", 0).map_err(fail)?;
    writer.property_u32("messaging-method", 0x603).map_err(fail)?;
    // The conformance server partitions take notifications (N08); the OP-TEE-ABI one does not.
    if partition.package != "optee-test-partition" {
        writer.property_null("notification-support").map_err(fail)?;
    }
    writer.end_node(root).map_err(fail)?;
    writer.finish().map_err(fail)
}

/// A TF-A SP package (SPKG version 2): 24-byte header, manifest at 0x1000, image at 0x4000.
fn sp_package(manifest: &[u8], image: &[u8]) -> Result<Vec<u8>, String> {
    if SP_MANIFEST_OFFSET + manifest.len() > SP_IMAGE_OFFSET {
        return Err(format!(
            "a partition manifest of {} bytes does not fit before the image",
            manifest.len()
        ));
    }
    let mut package = Vec::with_capacity(SP_IMAGE_OFFSET + image.len());
    for word in [
        SP_MAGIC,
        2,
        SP_MANIFEST_OFFSET as u32,
        manifest.len() as u32,
        SP_IMAGE_OFFSET as u32,
        image.len() as u32,
    ] {
        package.extend_from_slice(&word.to_le_bytes());
    }
    package.resize(SP_MANIFEST_OFFSET, 0);
    package.extend_from_slice(manifest);
    package.resize(SP_IMAGE_OFFSET, 0);
    package.extend_from_slice(image);
    Ok(package)
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
    /// .text and .rodata.
    pub text: u64,
    pub data: u64,
    /// .bss, .page_tables and .stack.
    pub bss: u64,
    /// RAM in all: from the lowest allocated section's start to the highest one's end
    /// (text, data, bss, page tables, stacks and the alignment padding between them).
    pub ram: u64,
}

/// Checks one image's sizes against its budgets: text+data always, RAM in all where it has a
/// RAM budget.
fn check_budgets(spec: &ImageSpec, size: &ImageSize) -> Result<(), String> {
    let loaded = size.text + size.data;
    if loaded > spec.budget_bytes {
        return Err(format!(
            "{} is {loaded} bytes of text+data, over its budget of {} bytes",
            spec.package, spec.budget_bytes
        ));
    }
    if let Some(budget) = spec.ram_budget_bytes {
        if size.ram > budget {
            return Err(format!(
                "{} takes {} bytes of RAM in all (text+data {loaded}, bss+page tables+stacks {}, \
                 the rest alignment padding), over its RAM budget of {budget} bytes; see \
                 docs/src/memory-map.md for what takes how much",
                spec.package, size.ram, size.bss
            ));
        }
    }
    Ok(())
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

fn target_dir(platform: Platform) -> PathBuf {
    platforms_dir().join("target").join(platform.layout().target_subdirectory)
}

fn output_dir(platform: Platform, release: bool) -> PathBuf {
    target_dir(platform).join(TARGET).join(if release { "release" } else { "debug" })
}

/// Compiles the platforms workspace for aarch64. Warnings are errors here: on the Debian path
/// this build is the only lint the aarch64 code gets besides the host clippy pass.
pub fn compile(cross: &CrossToolchain, platform: Platform, release: bool) -> Result<(), String> {
    let step = Step::start(&format!(
        "building aarch64 images ({}, {})",
        if release { "release" } else { "debug" },
        cross.describe()
    ));
    let mut command = cross.cargo("build");
    command
        .current_dir(platforms_dir())
        .env("DEFMT_LOG", "info")
        .env("RUSTFLAGS", rustflags(platform))
        .env("CARGO_TARGET_DIR", target_dir(platform))
        // build-support runs on the host (it is the images' build scripts' helper).
        .args(["--workspace", "--exclude", "build-support"]);
    if release {
        command.arg("--release");
    }
    shell::run(&mut command)?;
    step.done();
    Ok(())
}

fn rustflags(platform: Platform) -> String {
    match platform.layout().board_cfg {
        Some(cfg) => format!("-D warnings --cfg {cfg}"),
        None => "-D warnings".into(),
    }
}

fn section_sizes(name: &str, bytes: &[u8]) -> Result<ImageSize, String> {
    const SHF_ALLOC: u64 = 0x2;
    let file =
        object::File::parse(bytes).map_err(|error| format!("{name}: not an ELF: {error}"))?;
    let mut size = ImageSize { name: name.to_owned(), text: 0, data: 0, bss: 0, ram: 0 };
    let (mut lowest, mut highest) = (u64::MAX, 0);
    for section in file.sections() {
        let section_name = section.name().unwrap_or_default();
        let length = section.size();
        match section_name {
            ".text" | ".rodata" => size.text += length,
            ".data" => size.data += length,
            ".bss" | ".page_tables" | ".stack" => size.bss += length,
            _ => {}
        }
        let allocated = matches!(section.flags(),
            object::SectionFlags::Elf { sh_flags } if sh_flags & SHF_ALLOC != 0);
        if allocated && length > 0 {
            lowest = lowest.min(section.address());
            highest = highest.max(section.address() + length);
        }
    }
    size.ram = highest.saturating_sub(lowest);
    Ok(size)
}

/// Checks that each per-CPU stack of `elf` holds the deepest call path from each root;
/// returns a line per root for the build log.
fn check_stacks(package: &str, stacks: &StackCheck, elf: &[u8]) -> Result<Vec<String>, String> {
    use object::ObjectSymbol;
    let file =
        object::File::parse(elf).map_err(|error| format!("{package}: not an ELF: {error}"))?;
    let area = file
        .symbols()
        .find(|symbol| symbol.name() == Ok("__stack_size"))
        .map(|symbol| symbol.address())
        .ok_or(format!("{package}: no __stack_size symbol"))?;
    let per_cpu = area / stacks.cpus;
    let mut lines = Vec::new();
    for (root, callers) in stacks.roots {
        let bound = crate::stack_bound::bound(elf, root)
            .map_err(|error| format!("{package}: the stack from {root}: {error}"))?;
        let mut bytes = bound.bytes;
        for caller in *callers {
            bytes += crate::stack_bound::frame(elf, caller)
                .map_err(|error| format!("{package}: {caller}: {error}"))?;
        }
        if bytes > per_cpu {
            let path: Vec<String> =
                bound.path.iter().map(|(frame, name)| format!("{frame:>6} {name}")).collect();
            return Err(format!(
                "{package}: the deepest call path from {root} takes {bytes} bytes of stack, \
                 more than a CPU's {per_cpu} (__stack_size {area} / {} CPUs):\n{}",
                stacks.cpus,
                path.join("\n")
            ));
        }
        lines.push(format!("stack from {root}: at most {bytes} of {per_cpu} bytes per CPU"));
    }
    Ok(lines)
}

/// The loaded bytes of an ELF as one flat binary starting at its lowest allocated section
/// (sections, not segments: a linker may fold the ELF headers into the first segment).
pub fn flatten(name: &str, bytes: &[u8]) -> Result<(u64, Vec<u8>), String> {
    const SHF_ALLOC: u64 = 0x2;
    let file =
        object::File::parse(bytes).map_err(|error| format!("{name}: not an ELF: {error}"))?;
    let sections: Vec<_> = file
        .sections()
        .filter(|section| matches!(section.flags(), object::SectionFlags::Elf { sh_flags } if sh_flags & SHF_ALLOC != 0))
        .filter(|section| section.kind() != object::SectionKind::UninitializedData)
        .filter_map(|section| {
            let data = section.data().ok()?;
            (!data.is_empty()).then(|| (section.address(), data))
        })
        .collect();
    let base = sections
        .iter()
        .map(|(address, _)| *address)
        .min()
        .ok_or(format!("{name}: no loadable section"))?;
    let mut flat = Vec::new();
    for (address, data) in sections {
        let offset =
            usize::try_from(address - base).map_err(|_| format!("{name}: section out of range"))?;
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

/// One linked image, read back.
#[derive(Debug)]
struct LinkedImage {
    base: u64,
    entry: u64,
    flat: Vec<u8>,
    size: ImageSize,
}

/// Builds every image for `platform` and lays out the boot flash.
pub fn build(
    cross: &CrossToolchain,
    platform: Platform,
    release: bool,
) -> Result<BuiltImages, String> {
    compile(cross, platform, release)?;
    let step = Step::start("laying out the boot flash and checking size budgets");
    let (specs, partitions) = (QEMU_IMAGES, QEMU_PARTITIONS);
    let layout = platform.layout();
    let placed: Vec<(&PartitionSpec, u64)> =
        partitions.iter().zip(layout.partition_packages).collect();
    for partition in partitions {
        if !specs.iter().any(|spec| {
            spec.package == partition.package && spec.kind == BlobKind::PartitionPackage
        }) {
            return Err(format!(
                "partition {} is described but not built as a partition package",
                partition.package
            ));
        }
    }
    let directory = output_dir(platform, release);
    let mut elves = Vec::new();
    let mut linked = Vec::new();
    for spec in specs {
        let path = directory.join(spec.package);
        let bytes = std::fs::read(&path).map_err(|error| format!("{}: {error}", path.display()))?;
        let size = section_sizes(spec.package, &bytes)?;
        let ram_budget = match spec.ram_budget_bytes {
            Some(budget) => format!(", {budget} for RAM"),
            None => String::new(),
        };
        println!(
            "    {:<26} text {:>7}  data {:>6}  bss+stack {:>7}  RAM {:>7}   (budget {} for text+data{ram_budget})",
            spec.package, size.text, size.data, size.bss, size.ram, spec.budget_bytes
        );
        check_budgets(spec, &size)?;
        if let Some(stacks) = &spec.stacks {
            for line in check_stacks(spec.package, stacks, &bytes)? {
                println!("    {line}");
            }
        }
        let (base, flat) = flatten(spec.package, &bytes)?;
        linked.push(LinkedImage { base, entry: entry_point(spec.package, &bytes)?, flat, size });
        elves.push(path);
    }
    let mut reset_vector = Vec::new();
    let mut blobs = Vec::new();
    for (spec, image) in specs.iter().zip(&linked) {
        let name: String = spec.package.chars().take(15).collect();
        match spec.kind {
            BlobKind::ResetVector => reset_vector = image.flat.clone(),
            BlobKind::SpmcImage => {
                // Its footprint: everything from its first byte to its stacks' end.
                let footprint = image.size.ram as u32;
                blobs.push(Blob {
                    name: "spmc-manifest".into(),
                    bytes: spmc_core_manifest(image.base, image.entry, footprint, &placed)?,
                    load_address: layout.spmc_manifest,
                    entry_point: 0,
                    kind: BlobKind::SpmcManifest,
                });
                blobs.push(Blob {
                    name,
                    bytes: image.flat.clone(),
                    load_address: image.base,
                    entry_point: image.entry,
                    kind: spec.kind,
                });
            }
            BlobKind::PartitionPackage => {
                let (partition, package_address) = placed
                    .iter()
                    .find(|(partition, _)| partition.package == spec.package)
                    .copied()
                    .ok_or(format!("{} has no partition description", spec.package))?;
                if image.base != package_address + SP_IMAGE_OFFSET as u64 {
                    return Err(format!(
                        "{} is linked at {:#x}, but its package puts the image at {:#x}",
                        spec.package,
                        image.base,
                        package_address + SP_IMAGE_OFFSET as u64
                    ));
                }
                let package =
                    sp_package(&partition_manifest(partition, package_address)?, &image.flat)?;
                blobs.push(Blob {
                    name,
                    bytes: package,
                    load_address: package_address,
                    entry_point: 0,
                    kind: spec.kind,
                });
            }
            BlobKind::GuestImage => {
                if image.base != GUEST_LINK_ADDRESS {
                    return Err(format!(
                        "{} is linked at {:#x}, not at the guest RAM address {GUEST_LINK_ADDRESS:#x}",
                        spec.package, image.base
                    ));
                }
                for (index, address) in layout.guest_copies.into_iter().enumerate() {
                    blobs.push(Blob {
                        name: format!("vm{}", index + 1),
                        bytes: image.flat.clone(),
                        load_address: address,
                        entry_point: 0,
                        kind: spec.kind,
                    });
                }
            }
            BlobKind::SpmcManifest | BlobKind::Hypervisor => blobs.push(Blob {
                name,
                bytes: image.flat.clone(),
                load_address: image.base,
                entry_point: image.entry,
                kind: spec.kind,
            }),
        }
    }
    let flash = lay_out_flash(&reset_vector, &blobs)?;
    let flash_path = directory.join(layout.flash_name);
    std::fs::write(&flash_path, &flash)
        .map_err(|error| format!("{}: {error}", flash_path.display()))?;
    step.done();
    let sizes = linked.into_iter().map(|image| image.size).collect();
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
        assert_eq!(Platform::parse("fvp"), Ok(Platform::FvpBaseRevC));
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
        let placed: Vec<_> =
            QEMU_PARTITIONS.iter().map(|partition| (partition, 0x0E40_0000)).collect();
        let manifest = spmc_core_manifest(0x0E10_0000, 0x0E10_0000, 4096, &placed).expect("writes");
        assert_eq!(manifest[..4], [0xd0, 0x0d, 0xfe, 0xed]);
        let text = String::from_utf8_lossy(&manifest);
        assert!(text.contains("arm,ffa-core-manifest-1.0"));
        assert!(text.contains("hafnium,hafnium") && text.contains("is_ffa_partition"));
    }

    #[test]
    fn sp_package_has_sptool_layout() {
        let package = sp_package(&[0xd0, 0x0d, 0xfe, 0xed], &[7; 100]).expect("fits");
        let word = |index: usize| {
            u32::from_le_bytes(package[4 * index..4 * index + 4].try_into().unwrap())
        };
        assert_eq!(
            (word(0), word(1), word(2), word(3), word(4), word(5)),
            (SP_MAGIC, 2, 0x1000, 4, 0x4000, 100)
        );
        assert_eq!(package[0x1000..0x1004], [0xd0, 0x0d, 0xfe, 0xed]);
        assert_eq!(package[0x4000..], [7; 100]);
        assert!(
            sp_package(&vec![0; 0x3001], &[]).is_err(),
            "a manifest overlapping the image is refused"
        );
    }

    #[test]
    fn every_described_partition_is_built_as_a_package() {
        for partition in QEMU_PARTITIONS {
            assert!(
                QEMU_IMAGES.iter().any(|spec| spec.package == partition.package
                    && spec.kind == BlobKind::PartitionPackage),
                "{} has no image entry",
                partition.package
            );
        }
    }

    #[test]
    fn budgets_check_text_and_data_always_and_ram_where_set() {
        let spec = |ram_budget_bytes| ImageSpec {
            package: "secure-partition-manager",
            kind: BlobKind::SpmcImage,
            budget_bytes: 128 * 1024,
            ram_budget_bytes,
            stacks: None,
        };
        let size = |text, ram| ImageSize {
            name: "secure-partition-manager".into(),
            text,
            data: 64,
            bss: 100_000,
            ram,
        };
        assert!(check_budgets(&spec(Some(256 * 1024)), &size(120_000, 256 * 1024)).is_ok());
        let error = check_budgets(&spec(Some(256 * 1024)), &size(120_000, 256 * 1024 + 1))
            .expect_err("one byte over the RAM budget");
        assert!(error.contains("262145 bytes of RAM") && error.contains("262144"), "{error}");
        assert!(check_budgets(&spec(None), &size(120_000, 10 << 20)).is_ok());
        let error = check_budgets(&spec(None), &size(128 * 1024, 0)).expect_err("text+data over");
        assert!(error.contains("text+data"), "{error}");
        let spmc = QEMU_IMAGES
            .iter()
            .find(|spec| spec.kind == BlobKind::SpmcImage)
            .expect("the SPMC is built");
        assert_eq!(spmc.ram_budget_bytes, Some(256 * 1024), "issue #8's RAM budget");
    }

    #[test]
    fn flatten_rejects_non_elf_input() {
        assert!(flatten("junk", b"not an elf at all").is_err());
    }
}
