//! Links the image with its board's memory script, which includes the shared sections.
//!
//! `memory.ld` is QEMU virt's; `memory-fvp.ld`, where present, is used for FVP Base RevC
//! (`--cfg ffa_board_fvp`, set by `cargo xtask build --platform fvp`).
fn main() {
    let here = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let fvp = std::env::var_os("CARGO_CFG_FFA_BOARD_FVP").is_some()
        && here.join("memory-fvp.ld").is_file();
    let script = here.join(if fvp { "memory-fvp.ld" } else { "memory.ld" });
    println!("cargo:rustc-link-search={}", here.join("../../link").display());
    println!("cargo:rustc-link-arg-bins=-T{}", script.display());
    println!("cargo:rerun-if-changed=memory.ld");
    println!("cargo:rerun-if-changed=memory-fvp.ld");
    println!("cargo:rerun-if-changed=../../link/sections.ld");
}
