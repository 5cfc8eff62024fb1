//! `cargo xtask bench`: each benchmark's own timing table, then instruction counts per case.
//!
//! Instruction counts come from valgrind's callgrind, which counts instructions rather than
//! time, so they repeat exactly run to run whatever else the machine is doing. Each benchmark
//! binary follows one protocol: `--list` prints its case names, `--case NAME --iterations N`
//! runs one case N times, and every case is an `#[inline(never)] fn case_NAME`, so callgrind
//! can count only inside it (`--toggle-collect`).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::progress::Step;
use crate::shell;

/// A benchmark target: (package, bench name).
pub const BENCHES: &[(&str, &str)] = &[("ffa-core", "descriptors"), ("memory-sharing", "ledger")];

/// How many times each case runs under callgrind (the per-call figure is the total over this).
const ITERATIONS: u64 = 200;

fn bench_executable(package: &str, bench: &str) -> Result<PathBuf, String> {
    let output = shell::output(Command::new("cargo").current_dir(shell::repository_root()).args([
        "bench",
        "--package",
        package,
        "--bench",
        bench,
        "--no-run",
        "--message-format=json",
    ]))
    .ok_or(format!("could not build the `{bench}` benchmark of {package}"))?;
    output
        .lines()
        .filter(|line| {
            line.contains("\"executable\":\"") && line.contains(&format!("\"name\":\"{bench}\""))
        })
        .find_map(|line| {
            let start = line.find("\"executable\":\"")? + "\"executable\":\"".len();
            let end = line.get(start..)?.find('"')? + start;
            line.get(start..end).map(PathBuf::from)
        })
        .ok_or(format!("cargo did not report the `{bench}` benchmark executable"))
}

/// Reads the total instruction count from a callgrind output file (`totals:`/`summary:` line).
pub fn callgrind_total(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix("totals:").or_else(|| line.strip_prefix("summary:")))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
}

fn instructions_per_call(executable: &Path, case: &str, scratch: &Path) -> Result<f64, String> {
    let out_file = scratch.join(format!("callgrind.{case}.out"));
    let status = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .arg("--collect-atstart=no")
        .arg(format!("--toggle-collect=*case_{case}*"))
        .arg(executable)
        .args(["--case", case, "--iterations", &ITERATIONS.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map_err(|error| format!("could not run valgrind: {error}"))?;
    if !status.success() {
        return Err(format!("case {case} failed under callgrind ({status})"));
    }
    let text = std::fs::read_to_string(&out_file)
        .map_err(|error| format!("{}: {error}", out_file.display()))?;
    let total =
        callgrind_total(&text).ok_or(format!("no instruction total in {}", out_file.display()))?;
    Ok(total as f64 / ITERATIONS as f64)
}

pub fn run() -> Result<(), String> {
    let root = shell::repository_root();
    let scratch = root.join("target").join("bench-callgrind");
    std::fs::create_dir_all(&scratch).map_err(|error| format!("{}: {error}", scratch.display()))?;
    let have_valgrind = shell::have("valgrind");
    for (package, bench) in BENCHES {
        let step = Step::start(&format!("benchmark {package}/{bench}: time per operation"));
        shell::run(Command::new("cargo").current_dir(&root).args([
            "bench",
            "--package",
            package,
            "--bench",
            bench,
        ]))?;
        step.done();
        if !have_valgrind {
            println!("    (valgrind is not installed, so no instruction counts: apt-get install valgrind)");
            continue;
        }
        let step = Step::start(&format!("benchmark {package}/{bench}: instructions per call (callgrind, {ITERATIONS} iterations each)"));
        let executable = bench_executable(package, bench)?;
        let list = shell::output(Command::new(&executable).arg("--list"))
            .ok_or(format!("{} does not answer --list", executable.display()))?;
        println!("    {:<44} {:>14}", "case", "instructions");
        for case in list.lines().map(str::trim).filter(|line| !line.is_empty()) {
            let count = instructions_per_call(&executable, case, &scratch)?;
            println!("    {case:<44} {count:>14.1}");
        }
        step.done();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_callgrind_totals() {
        let text = "version: 1\ncmd: x\nevents: Ir\nsummary: 123456\n";
        assert_eq!(callgrind_total(text), Some(123456));
        assert_eq!(callgrind_total("events: Ir\ntotals: 99 1\n"), Some(99));
        assert_eq!(callgrind_total("events: Ir\n"), None);
    }
}
