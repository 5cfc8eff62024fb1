//! Building the Linux guest's kernel: Debian's linux-source-6.12, `tinyconfig` plus our fragment.
//!
//! Everything lives in a cache directory outside the work tree (`$XDG_CACHE_HOME/ffa-rs/linux-6.12`
//! or `~/.cache/ffa-rs/linux-6.12`): the unpacked source, one build directory (`O=`) per hash
//! of the configuration inputs (`build-<hash>`), and in it a stamp holding that hash. A build
//! whose stamp matches is reused as it is; a change to the fragment (or to the source package)
//! configures and builds in a new directory, so a checkout with another fragment keeps its own
//! build. The build makes `Image` and `modules` (whose Module.symvers the `ffa_cross` module
//! links against).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::progress::Step;
use crate::shell;

/// The source package Debian ships (bookworm-backports / trixie) and the tarball it installs.
const SOURCE_PACKAGE: &str = "linux-source-6.12";
const SOURCE_TARBALL: &str = "/usr/src/linux-source-6.12.tar.xz";
/// The directory the tarball unpacks to.
const SOURCE_DIRECTORY: &str = "linux-source-6.12";
const CROSS_COMPILE: &str = "aarch64-linux-gnu-";
/// The fragment applied on top of `tinyconfig`, relative to the repository root.
pub const FRAGMENT: &str = "platforms/qemu-virt/linux/kernel.config";
/// Options `olddefconfig` must leave set, or the guest cannot show what it is for.
const REQUIRED: &[&str] = &[
    "CONFIG_ARM_FFA_TRANSPORT=y",
    "CONFIG_TEE=y",
    "CONFIG_OPTEE=y",
    "CONFIG_ARM_PSCI_FW=y",
    "CONFIG_SERIAL_AMBA_PL011_CONSOLE=y",
    "CONFIG_BLK_DEV_INITRD=y",
    "CONFIG_DEVTMPFS=y",
    "CONFIG_BINFMT_ELF=y",
    "CONFIG_MODULES=y",
];
/// Name of the stamp file in the build directory.
const STAMP: &str = ".ffa-rs-configuration-hash";

/// Host tools the kernel build needs: (program or file that proves it is there, Debian package).
pub const BUILD_TOOLS: &[(&str, &str)] = &[
    (SOURCE_TARBALL, SOURCE_PACKAGE),
    ("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu"),
    ("make", "make"),
    ("flex", "flex"),
    ("bison", "bison"),
    ("bc", "bc"),
    ("xz", "xz-utils"),
    ("perl", "perl"),
    ("/usr/include/openssl/ssl.h", "libssl-dev"),
    ("/usr/include/gelf.h", "libelf-dev"),
];

/// The cache directory for everything Linux-related.
pub fn cache_directory() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("ffa-rs").join("linux-6.12")
}

/// 64-bit FNV-1a: a hash that stays the same from one Rust release to the next (unlike std's).
pub fn stable_hash(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.iter().chain(&[0xFF]) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// The required options `configuration` (a `.config`) does not have set as required.
pub fn missing_options(configuration: &str) -> Vec<&'static str> {
    REQUIRED
        .iter()
        .copied()
        .filter(|wanted| !configuration.lines().any(|line| line.trim() == *wanted))
        .collect()
}

fn make(source: &Path, build: &Path) -> Command {
    let mut command = Command::new("make");
    command
        .current_dir(source)
        .arg(format!("O={}", build.display()))
        .env("ARCH", "arm64")
        .env("CROSS_COMPILE", CROSS_COMPILE);
    command
}

fn unpack(cache: &Path) -> Result<PathBuf, String> {
    let source = cache.join(SOURCE_DIRECTORY);
    let marker = cache.join(".unpacked");
    if marker.is_file() && source.join("Makefile").is_file() {
        return Ok(source);
    }
    let step = Step::start(&format!("unpacking {SOURCE_TARBALL} into {}", cache.display()));
    if source.exists() {
        std::fs::remove_dir_all(&source)
            .map_err(|error| format!("{}: {error}", source.display()))?;
    }
    shell::run(Command::new("tar").current_dir(cache).arg("-xf").arg(SOURCE_TARBALL))?;
    std::fs::write(&marker, b"").map_err(|error| format!("{}: {error}", marker.display()))?;
    step.done();
    Ok(source)
}

fn configure(source: &Path, build: &Path, fragment: &Path) -> Result<(), String> {
    let step = Step::start("configuring: tinyconfig + the fragment, then olddefconfig");
    shell::run(make(source, build).arg("-s").arg("tinyconfig"))?;
    shell::run(
        Command::new(source.join("scripts/kconfig/merge_config.sh"))
            .current_dir(source)
            .env("ARCH", "arm64")
            .env("CROSS_COMPILE", CROSS_COMPILE)
            .arg("-m")
            .arg("-O")
            .arg(build)
            .arg(build.join(".config"))
            .arg(fragment)
            .stdout(Stdio::null()),
    )?;
    shell::run(make(source, build).arg("-s").arg("olddefconfig"))?;
    let path = build.join(".config");
    let configuration =
        std::fs::read_to_string(&path).map_err(|error| format!("{}: {error}", path.display()))?;
    let missing = missing_options(&configuration);
    if !missing.is_empty() {
        return Err(format!(
            "after olddefconfig the kernel configuration lacks {}: a dependency of these options \
             is not enabled in {FRAGMENT} (see {} and `make menuconfig` in {})",
            missing.join(", "),
            path.display(),
            source.display()
        ));
    }
    step.done();
    Ok(())
}

/// Runs the kernel's `make Image modules`, showing one progress line per 100 files compiled.
fn compile(source: &Path, build: &Path) -> Result<(), String> {
    let jobs = std::thread::available_parallelism().map(usize::from).unwrap_or(1);
    let step = Step::start(&format!(
        "building the arm64 kernel Image with -j{jobs} (the first build takes a while)"
    ));
    let started = Instant::now();
    let mut command = make(source, build);
    // `modules` adds modpost's Module.symvers, which out-of-tree modules link against.
    command.arg(format!("-j{jobs}")).arg("Image").arg("modules").stdout(Stdio::piped());
    let shown = shell::describe(&command);
    let mut child =
        command.spawn().map_err(|error| format!("could not start `{shown}`: {error}"))?;
    let mut compiled = 0u64;
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let trimmed = line.trim_start();
            if trimmed.starts_with("CC ") || trimmed.starts_with("AS ") {
                compiled += 1;
                if compiled.is_multiple_of(100) {
                    println!(
                        "    {compiled} files compiled, {:.0}s: {}",
                        started.elapsed().as_secs_f64(),
                        trimmed
                    );
                }
            } else if !trimmed.starts_with("LD ") && !trimmed.starts_with("AR ") {
                println!("    {trimmed}");
            }
        }
    }
    let status = child.wait().map_err(|error| format!("waiting for `{shown}`: {error}"))?;
    if !status.success() {
        return Err(format!("`{shown}` failed ({status}); its errors are above"));
    }
    println!("    {compiled} files compiled");
    step.done();
    Ok(())
}

/// Builds (or reuses) the kernel; returns the path of `arch/arm64/boot/Image` (its parent's
/// parent's parent is the build directory that out-of-tree modules are built against).
pub fn build() -> Result<PathBuf, String> {
    let root = shell::repository_root();
    let fragment = root.join(FRAGMENT);
    let fragment_text =
        std::fs::read(&fragment).map_err(|error| format!("{}: {error}", fragment.display()))?;
    let cache = cache_directory();
    std::fs::create_dir_all(&cache).map_err(|error| format!("{}: {error}", cache.display()))?;
    let package_version =
        shell::output(Command::new("dpkg-query").args(["-W", "-f=${Version}", SOURCE_PACKAGE]))
            .unwrap_or_default();
    let hash = format!(
        "{:016x}",
        stable_hash(&[&fragment_text, package_version.as_bytes(), CROSS_COMPILE.as_bytes()])
    );
    // One build directory per configuration: a different fragment (another branch, an older
    // checkout) keeps its own build instead of rebuilding over this one.
    let build = cache.join(format!("build-{hash}"));
    let image = build.join("arch/arm64/boot/Image");
    let stamp = build.join(STAMP);
    if image.is_file() && std::fs::read_to_string(&stamp).is_ok_and(|text| text.trim() == hash) {
        println!("==> kernel: cached build for this fragment (hash {hash}) at {}", image.display());
        return Ok(image);
    }
    let source = unpack(&cache)?;
    std::fs::create_dir_all(&build).map_err(|error| format!("{}: {error}", build.display()))?;
    let _ = std::fs::remove_file(&stamp);
    configure(&source, &build, &fragment)?;
    compile(&source, &build)?;
    std::fs::write(&stamp, &hash).map_err(|error| format!("{}: {error}", stamp.display()))?;
    Ok(image)
}

/// The out-of-tree module the two-guest run loads in VM 2, relative to the repository root.
pub const CROSS_MODULE_SOURCE: &str = "platforms/qemu-virt/linux/ffa_cross.c";

/// Builds the cross-guest check module (`ffa_cross.ko`) against the kernel whose Image is
/// `image` (`make M=...` in the kernel's build directory); returns the module's path.
pub fn build_cross_module(image: &Path) -> Result<PathBuf, String> {
    let build = image
        .ancestors()
        .nth(4)
        .ok_or_else(|| format!("{} is not in a kernel build directory", image.display()))?;
    let source = shell::repository_root().join(CROSS_MODULE_SOURCE);
    let directory = cache_directory().join("ffa-cross");
    std::fs::create_dir_all(&directory)
        .map_err(|error| format!("{}: {error}", directory.display()))?;
    let copy = directory.join("ffa_cross.c");
    std::fs::copy(&source, &copy).map_err(|error| format!("{}: {error}", source.display()))?;
    let kbuild = directory.join("Kbuild");
    std::fs::write(&kbuild, "obj-m := ffa_cross.o\nccflags-y := -Werror\n")
        .map_err(|error| format!("{}: {error}", kbuild.display()))?;
    let step = Step::start("building the ffa_cross module against the kernel");
    shell::run(
        Command::new("make")
            .current_dir(build)
            .env("ARCH", "arm64")
            .env("CROSS_COMPILE", CROSS_COMPILE)
            .arg("-s")
            .arg(format!("M={}", directory.display()))
            .arg("modules")
            .stdout(Stdio::null()),
    )?;
    let module = directory.join("ffa_cross.ko");
    if !module.is_file() {
        return Err(format!("the module build left no {}", module.display()));
    }
    step.done();
    Ok(module)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_changes_with_any_input_and_is_stable() {
        let base = stable_hash(&[b"CONFIG_TEE=y\n", b"6.12.117-1"]);
        assert_eq!(base, stable_hash(&[b"CONFIG_TEE=y\n", b"6.12.117-1"]));
        assert_ne!(base, stable_hash(&[b"CONFIG_TEE=n\n", b"6.12.117-1"]));
        assert_ne!(base, stable_hash(&[b"CONFIG_TEE=y\n", b"6.12.118-1"]));
        // Moving bytes between parts is a different input.
        assert_ne!(stable_hash(&[b"ab", b"c"]), stable_hash(&[b"a", b"bc"]));
    }

    #[test]
    fn a_configuration_without_ffa_is_refused() {
        let complete = REQUIRED.join("\n");
        assert!(missing_options(&complete).is_empty());
        let without =
            complete.replace("CONFIG_ARM_FFA_TRANSPORT=y", "# CONFIG_ARM_FFA_TRANSPORT is not set");
        assert_eq!(missing_options(&without), vec!["CONFIG_ARM_FFA_TRANSPORT=y"]);
    }
}
