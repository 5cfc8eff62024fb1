//! Links each test partition binary with its board's memory script (shared sections) and defmt's.
//!
//! `memory.ld`/`memory-2.ld` are QEMU virt's; the `-fvp` variants are used for FVP Base RevC
//! (`--cfg ffa_board_fvp`, set by `cargo xtask build --platform fvp`).
fn main() {
    let here = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let fvp = std::env::var_os("CARGO_CFG_FFA_BOARD_FVP").is_some();
    let script =
        |name: &str| here.join(if fvp { format!("{name}-fvp.ld") } else { format!("{name}.ld") });
    println!("cargo:rustc-link-search={}", here.join("../../link").display());
    println!("cargo:rustc-link-arg-bin=test-partition=-T{}", script("memory").display());
    println!("cargo:rustc-link-arg-bin=test-partition-2=-T{}", script("memory-2").display());
    println!("cargo:rustc-link-arg-bins=-Tdefmt.x");
    for name in
        ["memory.ld", "memory-2.ld", "memory-fvp.ld", "memory-2-fvp.ld", "../../link/sections.ld"]
    {
        println!("cargo:rerun-if-changed={name}");
    }
}
