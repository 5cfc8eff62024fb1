//! Links each test partition binary with its own memory script (shared sections) and defmt's.
fn main() {
    let here = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let shared = here.join("../../link");
    println!("cargo:rustc-link-search={}", shared.display());
    println!("cargo:rustc-link-arg-bin=test-partition=-T{}", here.join("memory.ld").display());
    println!("cargo:rustc-link-arg-bin=test-partition-2=-T{}", here.join("memory-2.ld").display());
    println!("cargo:rustc-link-arg-bins=-Tdefmt.x");
    println!("cargo:rerun-if-changed=memory.ld");
    println!("cargo:rerun-if-changed=memory-2.ld");
    println!("cargo:rerun-if-changed=../../link/sections.ld");
}
