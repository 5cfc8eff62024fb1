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

/// One image: its crate, and the most its loaded bytes (text+rodata+data) may take.
#[derive(Debug)]
struct ImageSpec {
    package: &'static str,
    budget_bytes: u64,
}

const QEMU_IMAGES: &[ImageSpec] = &[ImageSpec { package: "el3-monitor", budget_bytes: 32 * 1024 }];

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
    let mut flash = Vec::new();
    for spec in specs {
        let path = directory.join(spec.package);
        let bytes = std::fs::read(&path).map_err(|error| format!("{}: {error}", path.display()))?;
        let size = section_sizes(spec.package, &bytes)?;
        let loaded = size.text + size.data;
        println!(
            "    {:<14} text {:>7}  data {:>6}  bss+stack {:>7}   (budget {} for text+data)",
            spec.package, size.text, size.data, size.bss, spec.budget_bytes
        );
        if loaded > spec.budget_bytes {
            return Err(format!(
                "{} is {loaded} bytes of text+data, over its budget of {} bytes",
                spec.package, spec.budget_bytes
            ));
        }
        // The EL3 monitor is the first image and sits at flash offset 0 (the reset vector).
        if flash.is_empty() {
            flash = flatten(spec.package, &bytes)?.1;
        }
        sizes.push(size);
        elves.push(path);
    }
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
    fn flatten_rejects_non_elf_input() {
        assert!(flatten("junk", b"not an elf at all").is_err());
    }
}
