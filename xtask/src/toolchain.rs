//! `cargo xtask setup`: find an aarch64 bare-metal Rust toolchain and QEMU, installing on Debian.
//!
//! Two ways to build the images are supported, tried in this order:
//! 1. rustup with the `aarch64-unknown-none-softfloat` target installed (a normal developer
//!    machine: `rustup target add aarch64-unknown-none-softfloat`), linking with rust-lld;
//! 2. Debian's `rustc-web`/`cargo-web`/`rust-web-src` (/usr/bin, library source under
//!    /usr/lib/rustlib/src) building `core` itself with `-Zbuild-std`, linking with binutils'
//!    `aarch64-linux-gnu-ld`. This is what `setup` installs on a Debian machine run as root.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::progress::Step;
use crate::shell;

pub const TARGET: &str = "aarch64-unknown-none-softfloat";
const DEBIAN_RUSTC: &str = "/usr/bin/rustc";
const DEBIAN_CARGO: &str = "/usr/bin/cargo";
const DEBIAN_LIBRARY_SOURCE: &str = "/usr/lib/rustlib/src/rust/library/core/src/lib.rs";
const GNU_LINKER: &str = "aarch64-linux-gnu-ld";
const QEMU: &str = "qemu-system-aarch64";

/// How to build aarch64 images on this machine.
#[derive(Debug, Clone)]
pub enum CrossToolchain {
    /// rustup's own toolchain with the target's prebuilt `core`.
    Rustup,
    /// Debian's rustc/cargo building `core` from source, linked with GNU ld.
    Debian,
}

impl CrossToolchain {
    pub fn describe(&self) -> &'static str {
        match self {
            Self::Rustup => "rustup toolchain with the aarch64-unknown-none-softfloat target",
            Self::Debian => "Debian rustc-web + rust-web-src (-Zbuild-std) linked with GNU ld",
        }
    }

    /// A `cargo` command for the platforms workspace, with the toolchain's environment set.
    pub fn cargo(&self, subcommand: &str) -> Command {
        let mut command = match self {
            Self::Rustup => Command::new("cargo"),
            Self::Debian => Command::new(DEBIAN_CARGO),
        };
        // Nothing from the outer `cargo xtask` invocation may leak into the cross build.
        for variable in
            ["RUSTC", "RUSTC_WRAPPER", "RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "RUSTDOC"]
        {
            command.env_remove(variable);
        }
        command.arg(subcommand).arg("--target").arg(TARGET);
        if let Self::Debian = self {
            command
                .env("RUSTC", DEBIAN_RUSTC)
                .env("RUSTC_BOOTSTRAP", "1")
                .env("CARGO_TARGET_AARCH64_UNKNOWN_NONE_SOFTFLOAT_LINKER", GNU_LINKER)
                .arg("-Zbuild-std=core,compiler_builtins")
                .arg("-Zbuild-std-features=compiler-builtins-mem");
        }
        command
    }

    /// Whether `cargo clippy` can check aarch64 code with this toolchain (Debian's rustc-web
    /// ships no clippy, so there the platforms are linted for the host architecture instead).
    pub fn has_aarch64_clippy(&self) -> bool {
        matches!(self, Self::Rustup)
    }
}

/// What setup found.
#[derive(Debug, Clone)]
pub struct Toolchain {
    pub cross: CrossToolchain,
    pub qemu: PathBuf,
}

fn rustup_has_target() -> bool {
    shell::have("rustup")
        && shell::output(Command::new("rustup").args(["target", "list", "--installed"]))
            .is_some_and(|list| list.lines().any(|line| line.trim() == TARGET))
}

fn debian_toolchain_present() -> bool {
    Path::new(DEBIAN_RUSTC).is_file()
        && Path::new(DEBIAN_CARGO).is_file()
        && Path::new(DEBIAN_LIBRARY_SOURCE).is_file()
        && shell::have(GNU_LINKER)
}

fn detect_cross() -> Option<CrossToolchain> {
    if rustup_has_target() {
        Some(CrossToolchain::Rustup)
    } else if debian_toolchain_present() {
        Some(CrossToolchain::Debian)
    } else {
        None
    }
}

fn find_qemu() -> Option<PathBuf> {
    shell::have(QEMU).then(|| PathBuf::from(QEMU))
}

/// Host tools `cargo xtask test` needs that only rustup can provide.
fn missing_host_components() -> Vec<&'static str> {
    let mut missing = Vec::new();
    if shell::output(Command::new("cargo").args(["clippy", "--version"])).is_none() {
        missing.push("clippy");
    }
    if shell::output(Command::new("cargo").args(["fmt", "--version"])).is_none() {
        missing.push("rustfmt");
    }
    missing
}

fn is_debian() -> bool {
    Path::new("/etc/debian_version").is_file() && shell::have("apt-get")
}

fn is_root() -> bool {
    shell::output(Command::new("id").arg("-u")).is_some_and(|uid| uid.trim() == "0")
}

/// Debian packages that would supply what is missing.
fn packages_for(cross_missing: bool, qemu_missing: bool) -> Vec<&'static str> {
    let mut packages = Vec::new();
    if cross_missing {
        packages.extend(["rustc-web", "cargo-web", "rust-web-src", "binutils-aarch64-linux-gnu"]);
    }
    if qemu_missing {
        packages.push("qemu-system-arm");
    }
    packages
}

fn instructions(packages: &[&str], host_missing: &[&str]) -> String {
    let mut text = String::from(
        "the aarch64 toolchain or QEMU is missing, and setup cannot install it here.\n",
    );
    if !packages.is_empty() {
        text.push_str(&format!(
            "  On Debian or Ubuntu, as root:\n    apt-get update && apt-get install -y {}\n",
            packages.join(" ")
        ));
        text.push_str(
            "  Or, with rustup (any OS):\n    rustup target add aarch64-unknown-none-softfloat\n  \
             and install QEMU >= 7.2 for aarch64 (package qemu-system-arm, qemu-system-aarch64, or `brew install qemu`).\n",
        );
    }
    if !host_missing.is_empty() {
        text.push_str(&format!(
            "  Host components: rustup component add {}\n",
            host_missing.join(" ")
        ));
    }
    text.push_str("Then run the command again.");
    text
}

fn apt_install(packages: &[&str]) -> Result<(), String> {
    let step = Step::start(&format!("installing Debian packages: {}", packages.join(" ")));
    shell::run(Command::new("apt-get").arg("update").arg("-q"))?;
    shell::run(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(packages),
    )?;
    step.done();
    Ok(())
}

/// Installs the Debian `packages` whose presence checks failed (the Linux guest's build needs
/// more than the images do); outside Debian-as-root, fails with the apt-get line to run.
pub fn install_debian_packages(packages: &[&str]) -> Result<(), String> {
    if packages.is_empty() {
        return Ok(());
    }
    if !(is_debian() && is_root()) {
        return Err(format!(
            "missing tools; on Debian or Ubuntu, as root:\n    apt-get update && apt-get install -y {}",
            packages.join(" ")
        ));
    }
    apt_install(packages)
}

/// Finds (and on Debian as root, installs) everything the images and QEMU need.
pub fn setup() -> Result<Toolchain, String> {
    let step = Step::start("setup: looking for the aarch64 toolchain and QEMU");
    let host_missing = missing_host_components();
    let mut cross = detect_cross();
    let mut qemu = find_qemu();
    let packages = packages_for(cross.is_none(), qemu.is_none());
    if !host_missing.is_empty() {
        return Err(instructions(&packages, &host_missing));
    }
    if !packages.is_empty() {
        if !(is_debian() && is_root()) {
            return Err(instructions(&packages, &host_missing));
        }
        apt_install(&packages)?;
        cross = detect_cross();
        qemu = find_qemu();
    }
    let (Some(cross), Some(qemu)) = (cross, qemu) else {
        return Err(instructions(&packages_for(true, true), &host_missing));
    };
    println!("    aarch64 images: {}", cross.describe());
    println!("    QEMU: {}", qemu.display());
    step.done();
    Ok(Toolchain { cross, qemu })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_names_packages_and_both_ways_to_install() {
        let text = instructions(&packages_for(true, true), &[]);
        assert!(text.contains(
            "apt-get install -y rustc-web cargo-web rust-web-src binutils-aarch64-linux-gnu qemu-system-arm"
        ));
        assert!(text.contains("rustup target add aarch64-unknown-none-softfloat"));
        let host = instructions(&[], &["clippy"]);
        assert!(host.contains("rustup component add clippy"));
        assert!(!host.contains("apt-get"));
    }

    #[test]
    fn only_missing_pieces_are_installed() {
        assert_eq!(packages_for(false, true), vec!["qemu-system-arm"]);
        assert!(packages_for(false, false).is_empty());
    }
}
