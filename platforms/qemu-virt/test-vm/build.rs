//! Links the monitor with its memory script (which includes the shared sections) and defmt's.
fn main() {
    let here = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let shared = here.join("../../link");
    println!("cargo:rustc-link-search={}", here.display());
    println!("cargo:rustc-link-search={}", shared.display());
    println!("cargo:rustc-link-arg-bins=-Tmemory.ld");

    println!("cargo:rerun-if-changed=memory.ld");
    println!("cargo:rerun-if-changed=../../link/sections.ld");
}
