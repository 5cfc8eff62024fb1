//! Links the image with its board's memory script (`memory.ld`, or `memory-fvp.ld` for FVP Base
//! RevC), the shared sections and defmt's script.
fn main() {
    let script = build_support::memory_script(&build_support::manifest_directory(), "memory");
    build_support::link(None, &script, true);
}
