//! `cargo xtask fuzz`: runs every cargo-fuzz target in `fuzz/` for a bounded time.
//!
//! libFuzzer needs `-Zsanitizer` flags; on a stable toolchain they are allowed with
//! `RUSTC_BOOTSTRAP=1` (stable ships the sanitizer runtimes), so no nightly is required.

use std::process::Command;

use crate::progress::Step;
use crate::shell;

/// The fuzz targets: every `fuzz/fuzz_targets/*.rs`.
pub fn targets() -> Result<Vec<String>, String> {
    let directory = shell::repository_root().join("fuzz").join("fuzz_targets");
    let mut names: Vec<String> = std::fs::read_dir(&directory)
        .map_err(|error| format!("{}: {error}", directory.display()))?
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let stem = path.file_stem()?.to_string_lossy().into_owned();
            (path.extension()? == "rs").then_some(stem)
        })
        .collect();
    names.sort();
    Ok(names)
}

fn ensure_cargo_fuzz() -> Result<(), String> {
    if shell::output(Command::new("cargo").args(["fuzz", "--version"])).is_some() {
        return Ok(());
    }
    let step = Step::start("installing cargo-fuzz (cargo install cargo-fuzz --locked); compiles once, about two minutes");
    shell::run(Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]))?;
    step.done();
    Ok(())
}

/// Runs each target for `seconds`; any crash fails with the reproducer's path.
pub fn run(seconds: u64) -> Result<(), String> {
    ensure_cargo_fuzz()?;
    let fuzz_dir = shell::repository_root().join("fuzz");
    let names = targets()?;
    if names.is_empty() {
        return Err("no fuzz targets in fuzz/fuzz_targets".into());
    }
    let step = Step::start(&format!("building {} fuzz targets with AddressSanitizer", names.len()));
    shell::run(
        Command::new("cargo")
            .current_dir(&fuzz_dir)
            .env("RUSTC_BOOTSTRAP", "1")
            .args(["fuzz", "build"]),
    )?;
    step.done();
    for name in &names {
        let step = Step::start(&format!("fuzzing {name} for {seconds}s"));
        let corpus = fuzz_dir.join("corpus").join(name);
        std::fs::create_dir_all(&corpus)
            .map_err(|error| format!("{}: {error}", corpus.display()))?;
        shell::run(Command::new("cargo").current_dir(&fuzz_dir).env("RUSTC_BOOTSTRAP", "1").args(
            [
                "fuzz",
                "run",
                name,
                "--",
                &format!("-max_total_time={seconds}"),
                "-print_final_stats=1",
            ],
        ))
        .map_err(|error| {
            format!("fuzz target {name} found a failure (see fuzz/artifacts/{name}/): {error}")
        })?;
        step.done();
    }
    Ok(())
}
