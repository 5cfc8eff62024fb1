//! `cargo xtask bench`: each benchmark's own timing table, then instruction counts per case.
//!
//! Instruction counts come from valgrind's callgrind, which counts instructions rather than
//! time, so they repeat exactly run to run whatever else the machine is doing. Each benchmark
//! binary follows one protocol: `--list` prints one case a line (its function's name, then
//! optionally a tab and how many items one call handles), `--case NAME --iterations N` runs
//! one case N times, and every case is an `#[inline(never)] fn NAME`, so callgrind can count
//! only inside it (`--toggle-collect`). The count per call is (total for N - total for 1) /
//! (N - 1), which removes one-time setup inside the case's first call.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::progress::Step;
use crate::shell;

/// A benchmark target: (package, bench name).
pub const BENCHES: &[(&str, &str)] = &[
    ("ffa-core", "descriptors"),
    ("ffa-core", "registers"),
    ("memory-sharing", "ledger"),
    ("spmc", "dispatcher"),
];

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

fn instructions_total(
    executable: &Path,
    case: &str,
    iterations: u64,
    scratch: &Path,
) -> Result<u64, String> {
    let out_file = scratch.join(format!("callgrind.{case}.{iterations}.out"));
    let status = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .arg("--collect-atstart=no")
        .arg(format!("--toggle-collect=*{case}"))
        .arg(executable)
        .args(["--case", case, "--iterations", &iterations.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map_err(|error| format!("could not run valgrind: {error}"))?;
    if !status.success() {
        return Err(format!("case {case} failed under callgrind ({status})"));
    }
    let text = std::fs::read_to_string(&out_file)
        .map_err(|error| format!("{}: {error}", out_file.display()))?;
    callgrind_total(&text).ok_or(format!("no instruction total in {}", out_file.display()))
}

fn instructions_per_call(executable: &Path, case: &str, scratch: &Path) -> Result<f64, String> {
    let once = instructions_total(executable, case, 1, scratch)?;
    let many = instructions_total(executable, case, ITERATIONS + 1, scratch)?;
    Ok(many.saturating_sub(once) as f64 / ITERATIONS as f64)
}

pub fn run() -> Result<(), String> {
    let root = shell::repository_root();
    let scratch = root.join("target").join("bench-callgrind");
    std::fs::create_dir_all(&scratch).map_err(|error| format!("{}: {error}", scratch.display()))?;
    let have_valgrind = shell::have("valgrind");
    for (package, bench) in BENCHES {
        let source = root.join(package).join("benches").join(format!("{bench}.rs"));
        if !source.is_file() {
            println!(
                "==> benchmark {package}/{bench}: not written yet ({} is missing)",
                crate::images::shown(&source)
            );
            continue;
        }
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
        println!("    {:<36} {:>14} {:>16}", "case", "instructions", "per item");
        for line in list.lines().map(str::trim).filter(|line| !line.is_empty()) {
            let mut fields = line.split('\t');
            let case = fields.next().unwrap_or_default();
            let items: Option<f64> = fields.next().and_then(|count| count.trim().parse().ok());
            let count = instructions_per_call(&executable, case, &scratch)?;
            let per_item = items.map(|items| format!("{:.1}", count / items)).unwrap_or_default();
            println!("    {case:<36} {count:>14.1} {per_item:>16}");
        }
        step.done();
    }
    Ok(())
}

/// Reads the number after `label` in `text` (e.g. `p50 ` in `... p50 2746 min ...`).
pub fn number_after(text: &str, label: &str) -> Option<u64> {
    let start = text.find(label)? + label.len();
    let digits: String = text.get(start..)?.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// `cargo xtask bench --qemu`: the platform's figures, from two boots of the full image (and a
/// third, traced one with `--breakdown`).
pub fn run_qemu(breakdown: bool) -> Result<(), String> {
    let tools = crate::toolchain::setup()?;
    let built = crate::images::build(&tools.cross, crate::images::Platform::QemuVirt, true)?;
    let step = Step::start("booting with -icount shift=0 (one counter tick = one instruction)");
    let counted = crate::tasks::boot(&tools, &built, false, true)?;
    step.done();
    let step = Step::start("booting in real time (62.5 MHz generic counter)");
    let timed = crate::tasks::boot(&tools, &built, false, false)?;
    step.done();
    let figure = |outcome: &crate::qemu::Outcome, label: &str| {
        number_after(&outcome.console, label).ok_or(format!(
            "the run printed no `{label}` figure; console:\n{}",
            crate::qemu::tail(&outcome.console, 20)
        ))
    };
    const TICKS_PER_MICROSECOND: f64 = 62.5;
    let microseconds = |ticks: u64| ticks as f64 / TICKS_PER_MICROSECOND;
    println!("\nQEMU figures (NS-EL2 -> EL3 -> S-EL2 SPMC -> S-EL1 partition and back):");
    println!(
        "  direct request round trip: {} instructions (mean of 1000; p50 {}, min {}, max {})",
        figure(&counted, "round trips: 0 failed, ")?,
        figure(&counted, "p50 ")?,
        figure(&counted, "min ")?,
        figure(&counted, "max ")?
    );
    println!(
        "  direct request round trip, wall clock: p50 {:.1} us (min {:.1}, max {:.1})",
        microseconds(figure(&timed, "p50 ")?),
        microseconds(figure(&timed, "min ")?),
        microseconds(figure(&timed, "max ")?)
    );
    println!(
        "  reset -> normal world: {} instructions, {:.2} ms; reset -> first partition message: {} instructions, {:.2} ms",
        figure(&counted, "normal world at tick ")?,
        microseconds(figure(&timed, "normal world at tick ")?) / 1000.0,
        figure(&counted, "first message at tick ")?,
        microseconds(figure(&timed, "first message at tick ")?) / 1000.0
    );
    println!("  image sizes (bytes):");
    for size in &built.sizes {
        println!(
            "    {:<26} text {:>7}  data {:>6}  bss+stack {:>7}",
            size.name, size.text, size.data, size.bss
        );
    }
    if breakdown {
        crate::breakdown::run(&tools.qemu, &built.flash, &built.elves)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_figures_after_labels() {
        let line = "hypervisor: round trip ticks: p50 2746 min 2700 max 9000; boot: normal world at tick 12";
        assert_eq!(number_after(line, "p50 "), Some(2746));
        assert_eq!(number_after(line, "max "), Some(9000));
        assert_eq!(number_after(line, "normal world at tick "), Some(12));
        assert_eq!(number_after(line, "median "), None);
    }

    #[test]
    fn reads_callgrind_totals() {
        let text = "version: 1\ncmd: x\nevents: Ir\nsummary: 123456\n";
        assert_eq!(callgrind_total(text), Some(123456));
        assert_eq!(callgrind_total("events: Ir\ntotals: 99 1\n"), Some(99));
        assert_eq!(callgrind_total("events: Ir\n"), None);
    }
}
