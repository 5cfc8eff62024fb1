//! Links each test partition binary with its board's memory script (`memory[-2].ld`, or the
//! `-fvp` variants for FVP Base RevC), the shared sections and defmt's script.
fn main() {
    let directory = build_support::manifest_directory();
    build_support::link(
        Some("test-partition"),
        &build_support::memory_script(&directory, "memory"),
        true,
    );
    build_support::link(
        Some("test-partition-2"),
        &build_support::memory_script(&directory, "memory-2"),
        true,
    );
}
