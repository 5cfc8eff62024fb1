//! Links the OP-TEE-ABI test partition with its board's memory script (`memory.ld`, or
//! `memory-fvp.ld` for FVP Base RevC), the shared sections and defmt's script.
fn main() {
    let directory = build_support::manifest_directory();
    build_support::link(None, &build_support::memory_script(&directory, "memory"), true);
}
