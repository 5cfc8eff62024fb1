//! What every image's build script does: link with its board's memory script and the shared
//! sections (and defmt's script for images that log with defmt).

use std::path::{Path, PathBuf};

/// Whether the build is for FVP Base RevC (`--cfg ffa_board_fvp`, set by `cargo xtask build
/// --platform fvp`); otherwise QEMU virt.
pub fn building_for_fvp() -> bool {
    std::env::var_os("CARGO_CFG_FFA_BOARD_FVP").is_some()
}

/// The crate's directory.
pub fn manifest_directory() -> PathBuf {
    PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default())
}

/// The memory script `name` (without `.ld`) for the board being built: `NAME-fvp.ld` for FVP
/// when it exists, else `NAME.ld`.
pub fn memory_script(directory: &Path, name: &str) -> PathBuf {
    let fvp = directory.join(format!("{name}-fvp.ld"));
    if building_for_fvp() && fvp.is_file() {
        fvp
    } else {
        directory.join(format!("{name}.ld"))
    }
}

/// Tells cargo how to link: the shared linker scripts' directory, this image's memory script
/// for every binary (or only `binary`), defmt's script if `defmt`, and what to watch.
pub fn link(binary: Option<&str>, memory: &Path, defmt: bool) {
    let directory = manifest_directory();
    println!("cargo:rustc-link-search={}", directory.join("../../link").display());
    let argument = |text: String| match binary {
        Some(binary) => println!("cargo:rustc-link-arg-bin={binary}={text}"),
        None => println!("cargo:rustc-link-arg-bins={text}"),
    };
    argument(format!("-T{}", memory.display()));
    if defmt {
        // defmt's linker script places its string table.
        argument("-Tdefmt.x".into());
    }
    println!("cargo:rerun-if-changed={}", memory.display());
    println!("cargo:rerun-if-changed={}", directory.join("../../link/sections.ld").display());
}
