//! The commands: build, run, test, bench, fuzz, doc.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::defmt_stream::LogDecoder;
use crate::images::{self, BuiltImages, Platform};
use crate::progress::Step;
use crate::qemu;
use crate::shell;
use crate::toolchain::{self, Toolchain, TARGET};

/// Tag bytes of the images' defmt frames, as `platform_common::logger::ImageId` assigns them.
const IMAGE_TAGS: &[(&str, u8)] = &[
    ("el3-monitor", 1),
    ("secure-partition-manager", 2),
    ("test-partition", 3),
    ("test-partition-2", 4),
    ("optee-test-partition", 5),
];

fn option_value<'a>(arguments: &'a [String], name: &str) -> Option<&'a str> {
    arguments
        .iter()
        .position(|argument| argument == name)
        .and_then(|index| arguments.get(index + 1))
        .map(String::as_str)
}

fn reject_unknown(
    arguments: &[String],
    known_flags: &[&str],
    known_options: &[&str],
) -> Result<(), String> {
    let mut index = 0;
    while let Some(argument) = arguments.get(index) {
        if known_options.contains(&argument.as_str()) {
            index += 2;
        } else if known_flags.contains(&argument.as_str()) {
            index += 1;
        } else {
            return Err(format!("unknown argument `{argument}`"));
        }
    }
    Ok(())
}

pub fn build(arguments: &[String]) -> Result<(), String> {
    reject_unknown(arguments, &["--debug"], &["--platform"])?;
    let platform = Platform::parse(option_value(arguments, "--platform").unwrap_or("qemu"))?;
    let release = !arguments.iter().any(|argument| argument == "--debug");
    let tools = toolchain::setup()?;
    let built = images::build(&tools.cross, platform, release)?;
    println!("boot flash: {}", images::shown(&built.flash));
    Ok(())
}

pub(crate) fn decoder_for(built: &BuiltImages) -> Result<LogDecoder, String> {
    let mut images = Vec::new();
    for path in &built.elves {
        let name =
            path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
        let tag =
            IMAGE_TAGS.iter().find(|(known, _)| *known == name).map(|(_, tag)| *tag).unwrap_or(0);
        let bytes = std::fs::read(path).map_err(|error| format!("{}: {error}", path.display()))?;
        images.push((tag, name, bytes));
    }
    LogDecoder::new(&images)
}

pub(crate) fn boot(
    tools: &Toolchain,
    built: &BuiltImages,
    echo: bool,
    count_instructions: bool,
) -> Result<qemu::Outcome, String> {
    let mut decoder = decoder_for(built)?;
    let work_dir = images::platforms_dir().join("target").join("qemu-run");
    let run = qemu::Run {
        qemu: &tools.qemu,
        flash: &built.flash,
        work_dir,
        // The stress phase's 4 vCPUs run as 4 QEMU threads; on a 2-core host a vCPU holding a
        // lock is often descheduled, and the run took from 12 s to 110 s for the same image.
        // The deadline only has to catch a hang.
        deadline: Duration::from_secs(300),
        echo,
        count_instructions,
    };
    qemu::boot(&run, &mut decoder)
}

/// What the boot must show; each entry is (where, text, what it proves).
const BOOT_EXPECTATIONS: &[(&str, &str, &str)] = &[
    ("console", "el3-monitor: hello from EL3", "the EL3 monitor booted from the secure flash"),
    ("log", "spmc: running at S-EL2", "the monitor loaded the SPMC and entered it at S-EL2"),
    ("log", "el3-monitor: SPMC initialised", "the SPMC ended its boot with FFA_MSG_WAIT"),
    ("console", "hypervisor: running at NS-EL2", "the monitor started the normal world at NS-EL2"),
    (
        "console",
        "hypervisor: SMCCC version 1.2",
        "SMCCC_VERSION reports 1.2 (Linux's FF-A driver needs it)",
    ),
    ("console", "hypervisor: FF-A version 1.2", "FFA_VERSION crossed to the SPMC and back"),
    (
        "log",
        "test-partition: running at S-EL1",
        "the SPMC loaded the SP package and ran the partition at S-EL1",
    ),
    ("log", "spmc: partition 0x8001 initialised", "the partition ended its boot with FFA_MSG_WAIT"),
    (
        "console",
        "with 41 -> 0x84000070 w3=42 (ok)",
        "a direct request reached the S-EL1 partition and came back",
    ),
    (
        "console",
        "direct-request round trips: 0 failed",
        "1000 more round trips, every answer checked",
    ),
    (
        "log",
        "spmc: secondary entry registered",
        "the SPMC registered its secondary entry (FFA_SECONDARY_EP_REGISTER)",
    ),
    (
        "console",
        "4 CPUs x 10000 direct requests at once: 40000 answered, 0 wrong, 0 missing",
        "stress: CPU_ON started 3 CPUs through the SPMC's secondary entry; 4 x 10,000 concurrent requests, every one answered correctly",
    ),
    (
        "console",
        "meanwhile 100 of 100 MEM_SHARE rounds shared, written by 0x8001, checked and reclaimed (0 failed",
        "stress: meanwhile the boot CPU shared its memory 100 times, the partition wrote it, the pattern was checked and the memory reclaimed",
    ),
    (
        "console",
        "AFFINITY_INFO: 3 of 3 secondary CPUs off",
        "the secondaries left with CPU_OFF and AFFINITY_INFO saw it",
    ),
    (
        "console",
        "fault isolation: 0x8002 answered; told to fault: ABORTED; then 0x8002 ABORTED, 0x8001 answered",
        "a faulting partition was marked aborted (FFA_ERROR(ABORTED)) and the other carried on",
    ),
    (
        "console",
        "test-vm 1: 100 of 100 direct requests answered; sending as VM 2: refused",
        "VM 1 at NS-EL1 reached the partition through the hypervisor, and could not speak as VM 2",
    ),
    (
        "console",
        "test-vm 2: 100 of 100 direct requests answered; sending as VM 1: refused",
        "VM 2, the same image behind its own stage-2, likewise",
    ),
    (
        "console",
        "test-vm 1: discovery: 5 endpoints, partitions 0x8001 and 0x8002: ok",
        "demo: VM 1 discovered both partitions with ffa-guest-driver (after the hypervisor's VMs)",
    ),
    (
        "console",
        "test-vm 1: direct messages to 0x8001: 32-bit, 64-bit and REQ2 answered: ok",
        "demo: VM 1 <-> partition direct messages, 32-bit, 64-bit and REQ2 (guest driver's service loop in the partition)",
    ),
    (
        "console",
        "test-vm 1: MEM_SHARE of 2 ranges (4 pages, 2 pages apart) to 0x8001: partition wrote the pattern, VM read it back, pages between untouched, reclaimed: ok",
        "demo: MEM_SHARE of a non-contiguous buffer; the partition retrieved and wrote it, the VM checked the pattern, reclaimed",
    ),
    (
        "console",
        "test-vm 1: MEM_SHARE of memory outside the VM's RAM (its console page, an IPA past its RAM): DENIED: ok",
        "demo: the hypervisor's walk of the VM's stage-2 refuses to share what is not the VM's RAM (DENIED)",
    ),
    (
        "console",
        "hypervisor: VM 1 stage-2 fault at IPA",
        "demo: the hypervisor saw VM 1 touch the page it had lent (stage-2 fault reported, access skipped)",
    ),
    (
        "console",
        "test-vm 1: MEM_LEND of 1 page to 0x8001: unreachable while lent (stage-2 fault), partition checksum matches, readable after MEM_RECLAIM: ok",
        "demo: MEM_LEND removed VM 1's access until MEM_RECLAIM; the partition read the page (checksum matches)",
    ),
    (
        "console",
        "test-vm 2: direct request to 0x8002: DENIED by the hypervisor's policy: ok",
        "demo: VM 2 refused by the hypervisor's policy (DENIED), where VM 1 gets the partition's answer",
    ),
    (
        "console",
        "test-vm 1: direct request to 0x8002: answered (VM 1 may reach it): ok",
        "demo: VM 1 may reach 0x8002 (it answers): the refusal is VM 2's policy",
    ),
    ("log", "el3-monitor: PSCI SYSTEM_OFF", "PSCI SYSTEM_OFF powered the machine off"),
];

fn check_boot(outcome: &qemu::Outcome) -> Vec<String> {
    let mut failures = Vec::new();
    if outcome.exit_code != Some(0) {
        failures.push(format!("QEMU exited with {:?}, expected 0 (power-off)", outcome.exit_code));
    }
    // A demo step that went wrong says so on its own line, whatever the list above expects.
    for line in outcome.console.lines().filter(|line| line.starts_with("test-vm")) {
        if line.contains(": FAILED") || line.contains("PANIC") {
            failures.push(format!("the console reports a failed step: `{line}`"));
        }
    }
    for (place, text, meaning) in BOOT_EXPECTATIONS {
        let found = match *place {
            "console" => outcome.console.contains(text),
            _ => outcome.log.iter().any(|line| line.contains(text)),
        };
        if !found {
            failures.push(format!("missing `{text}` in the {place} ({meaning})"));
        }
    }
    failures
}

/// Shows what went wrong in a run: each image's last log lines, the console's last lines, and
/// every exception syndrome found in them, decoded.
fn failure_report(outcome: &qemu::Outcome) {
    println!("\nlast log lines of each image:");
    for (image, _) in IMAGE_TAGS {
        let prefix = format!("[{image}]");
        let lines: Vec<&String> =
            outcome.log.iter().filter(|line| line.starts_with(&prefix)).collect();
        for line in &lines[lines.len().saturating_sub(8)..] {
            println!("  {line}");
        }
    }
    println!("last console lines:");
    for line in qemu::tail(&outcome.console, 12).lines() {
        println!("  {line}");
    }
    let syndromes: Vec<String> = outcome
        .log
        .iter()
        .map(String::as_str)
        .chain(outcome.console.lines())
        .filter_map(crate::syndrome::explain_line)
        .collect();
    if !syndromes.is_empty() {
        println!("exception syndromes:");
        for explanation in syndromes {
            println!("  {explanation}");
        }
    }
}

pub fn run(arguments: &[String]) -> Result<(), String> {
    reject_unknown(arguments, &["--verbose"], &[])?;
    let verbose = arguments.iter().any(|argument| argument == "--verbose");
    let tools = toolchain::setup()?;
    let built = images::build(&tools.cross, Platform::QemuVirt, true)?;
    let step = Step::start(&format!(
        "booting QEMU virt: EL3 monitor, SPMC at S-EL2, partitions at S-EL1, hypervisor at NS-EL2, VMs at NS-EL1{}",
        if verbose { "" } else { " (raw streams in platforms/target/qemu-run/; --verbose shows them)" }
    ));
    let outcome = boot(&tools, &built, verbose, false)?;
    step.done();
    let failures = check_boot(&outcome);
    println!("\nwhat the normal world saw:");
    for line in outcome
        .console
        .lines()
        .filter(|line| line.starts_with("hypervisor:") || line.starts_with("test-vm"))
    {
        println!("  {line}");
    }
    println!("\nchecks:");
    for (place, text, meaning) in BOOT_EXPECTATIONS {
        let ok = !failures.iter().any(|failure| failure.contains(text));
        let _ = place;
        println!("  [{}] {meaning}", if ok { "ok" } else { "FAILED" });
    }
    println!(
        "  QEMU exit code {:?} after {:.2}s",
        outcome.exit_code,
        outcome.elapsed.as_secs_f64()
    );
    for size in &built.sizes {
        println!(
            "  image {}: {} bytes text, {} data, {} bss+stack",
            size.name, size.text, size.data, size.bss
        );
    }
    if failures.is_empty() {
        Ok(())
    } else {
        failure_report(&outcome);
        Err(format!("the boot did not go as expected:\n  {}", failures.join("\n  ")))
    }
}

/// Counts from `cargo test` output lines such as `test result: ok. 3 passed; 0 failed; 1 ignored`.
fn count_results(line: &str, passed: &mut u64, failed: &mut u64) {
    let Some(rest) = line.trim().strip_prefix("test result:") else { return };
    for part in rest.split(';') {
        let words: Vec<&str> = part.split_whitespace().collect();
        let number = |index: usize| words.get(index).and_then(|word| word.parse::<u64>().ok());
        match words.as_slice() {
            [.., _, "passed"] => *passed += number(words.len() - 2).unwrap_or(0),
            [_, "failed"] => *failed += number(0).unwrap_or(0),
            _ => {}
        }
    }
}

/// Runs `cargo test` in `directory` with `arguments`, showing its output; returns (passed, failed).
fn cargo_test(directory: &std::path::Path, arguments: &[&str]) -> Result<(u64, u64), String> {
    let mut command = Command::new("cargo");
    command
        .current_dir(directory)
        .arg("test")
        .args(arguments)
        .args(["--color", "never"])
        .stdout(Stdio::piped());
    let shown = shell::describe(&command);
    let mut child =
        command.spawn().map_err(|error| format!("could not start `{shown}`: {error}"))?;
    let (mut passed, mut failed) = (0, 0);
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("{line}");
            count_results(&line, &mut passed, &mut failed);
        }
    }
    let status = child.wait().map_err(|error| format!("waiting for `{shown}`: {error}"))?;
    if !status.success() && failed == 0 {
        return Err(format!("`{shown}` failed ({status})"));
    }
    Ok((passed, failed))
}

/// Seconds each fuzz target runs inside `cargo xtask test` (`cargo xtask fuzz` runs longer).
const FUZZ_SMOKE_SECONDS: u64 = 5;

/// One stage of `cargo xtask test` and how it went.
struct Stage {
    name: &'static str,
    result: Result<(), String>,
    seconds: f64,
}

pub fn test(arguments: &[String]) -> Result<(), String> {
    reject_unknown(arguments, &[], &[])?;
    let started = Instant::now();
    let tools = toolchain::setup()?;
    let root = shell::repository_root();
    let platforms = images::platforms_dir();
    let mut stages: Vec<Stage> = Vec::new();
    let mut stage = |name: &'static str, body: &mut dyn FnMut() -> Result<(), String>| {
        let step = Step::start(name);
        let clock = Instant::now();
        let result = body();
        if let Err(error) = &result {
            println!("    FAILED: {error}");
        }
        step.done();
        stages.push(Stage { name, result, seconds: clock.elapsed().as_secs_f64() });
    };

    stage("formatting (cargo fmt --check, host and platforms workspaces)", &mut || {
        shell::run(Command::new("cargo").current_dir(&root).args(["fmt", "--all", "--check"]))?;
        shell::run(Command::new("cargo").current_dir(&platforms).args(["fmt", "--all", "--check"]))
    });
    stage("clippy on the host workspace (warnings are errors)", &mut || {
        shell::run(Command::new("cargo").current_dir(&root).args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--quiet",
            "--",
            "-D",
            "warnings",
        ]))
    });
    stage("clippy on the platforms workspace", &mut || {
        if tools.cross.has_aarch64_clippy() {
            shell::run(Command::new("cargo").current_dir(&platforms).args([
                "clippy",
                "--workspace",
                "--quiet",
                "--target",
                TARGET,
                "--",
                "-D",
                "warnings",
            ]))
        } else {
            println!("    (Debian's rustc-web has no clippy: linting the platform code for the host architecture; the aarch64 build below denies warnings)");
            shell::run(Command::new("cargo").current_dir(&platforms).args([
                "clippy",
                "--workspace",
                "--quiet",
                "--",
                "-D",
                "warnings",
            ]))
        }
    });
    stage("API documentation (cargo doc, warnings are errors: broken links fail)", &mut || {
        shell::run(
            Command::new("cargo").current_dir(&root).env("RUSTDOCFLAGS", "-D warnings").args([
                "doc",
                "--workspace",
                "--no-deps",
                "--quiet",
            ]),
        )
    });
    let mut tests = (0u64, 0u64);
    stage(
        "unit, property and integration tests (host workspace, and platform-common on the host)",
        &mut || {
            let host = cargo_test(&root, &["--workspace", "--all-targets"])?;
            let platform = cargo_test(&platforms, &["--package", "platform-common", "--lib"])?;
            tests = (host.0 + platform.0, host.1 + platform.1);
            if tests.1 > 0 {
                return Err(format!("{} test(s) failed", tests.1));
            }
            Ok(())
        },
    );
    let mut boot_checks = (0u64, 0u64);
    let mut booted: Option<qemu::Outcome> = None;
    stage("aarch64 images and a QEMU boot", &mut || {
        let built = images::build(&tools.cross, Platform::QemuVirt, true)?;
        let outcome = boot(&tools, &built, false, false)?;
        let outcome = booted.insert(outcome);
        let failures = check_boot(outcome);
        let total = BOOT_EXPECTATIONS.len() as u64 + 1;
        boot_checks = (total - failures.len() as u64, failures.len() as u64);
        for (_, text, meaning) in BOOT_EXPECTATIONS {
            let ok = !failures.iter().any(|failure| failure.contains(text));
            println!("    [{}] {meaning}", if ok { "ok" } else { "FAILED" });
        }
        if failures.is_empty() {
            println!("    QEMU booted and powered off in {:.2}s", outcome.elapsed.as_secs_f64());
            Ok(())
        } else {
            failure_report(outcome);
            Err(failures.join("\n"))
        }
    });

    stage("FVP Base RevC images (built, not run: no FVP here)", &mut || {
        images::build(&tools.cross, Platform::FvpBaseRevC, true).map(|_| ())
    });
    let mut conformance_checks = (0u64, 0u64);
    stage("conformance suite in test VM 1 on QEMU (same boot)", &mut || {
        let outcome = booted.as_ref().ok_or("QEMU did not boot")?;
        let results = crate::conformance::parse(&outcome.console)?;
        write_conformance_json(&results)?;
        let verdict = crate::conformance::judge(&results);
        println!(
            "    {} passed, {} failed ({} known), {} skipped",
            verdict.passed,
            verdict.failed,
            verdict.known.len(),
            verdict.skipped
        );
        for (result, reason) in &verdict.known {
            println!("    known failure: {} ({reason})", result.test);
        }
        let problems = verdict.problems();
        conformance_checks = (verdict.passed as u64, problems.len() as u64);
        if verdict.is_clean() {
            Ok(())
        } else {
            Err(problems.join("\n"))
        }
    });
    stage(
        "Linux 6.12 guest: FF-A driver, OP-TEE driver, TEE test (cargo xtask linux)",
        &mut || crate::linux::test_stage(),
    );
    stage("fuzz smoke run (every cargo-fuzz target, 5 s each)", &mut || {
        crate::fuzz::run(FUZZ_SMOKE_SECONDS)
    });

    println!("\nxtask test summary ({:.0}s):", started.elapsed().as_secs_f64());
    for stage in &stages {
        println!(
            "  [{}] {} ({:.1}s)",
            if stage.result.is_ok() { "ok" } else { "FAILED" },
            stage.name,
            stage.seconds
        );
    }
    let failed_stages: Vec<&str> =
        stages.iter().filter(|stage| stage.result.is_err()).map(|stage| stage.name).collect();
    let passed = tests.0 + boot_checks.0 + conformance_checks.0;
    let failed = tests.1 + boot_checks.1 + conformance_checks.1 + failed_stages.len() as u64;
    println!("checks: {passed} passed, {failed} failed");
    if failed_stages.is_empty() {
        Ok(())
    } else {
        Err(format!("failed stages: {}", failed_stages.join("; ")))
    }
}

fn write_conformance_json(results: &[crate::conformance::CheckResult]) -> Result<(), String> {
    let directory = shell::repository_root().join("target").join("conformance");
    std::fs::create_dir_all(&directory)
        .map_err(|error| format!("{}: {error}", directory.display()))?;
    let path = directory.join("qemu.json");
    std::fs::write(&path, crate::conformance::to_json(results))
        .map_err(|error| format!("{}: {error}", path.display()))?;
    println!("    results: {}", images::shown(&path));
    Ok(())
}

/// `cargo xtask conformance`: boots the stack and shows every check's line.
pub fn conformance(arguments: &[String]) -> Result<(), String> {
    reject_unknown(arguments, &[], &["--suite", "--name"])?;
    let (suite, name) = (
        option_value(arguments, "--suite").unwrap_or(""),
        option_value(arguments, "--name").unwrap_or(""),
    );
    let tools = toolchain::setup()?;
    let built = images::build(&tools.cross, Platform::QemuVirt, true)?;
    let step =
        Step::start("booting QEMU; test VM 1 runs the conformance suite against 0x8001 and 0x8002");
    let outcome = boot(&tools, &built, false, false)?;
    step.done();
    let results = crate::conformance::parse(&outcome.console)?;
    let selected: Vec<_> = results
        .into_iter()
        .filter(|result| result.suite.contains(suite) && result.test.contains(name))
        .collect();
    for result in &selected {
        let word = match result.result {
            "passed" => "Passed".to_string(),
            "failed" => format!("Failed ({})", result.detail),
            _ => format!("Skipped ({})", result.detail),
        };
        println!("Suite={} : Test={} : Result={word}", result.suite, result.test);
    }
    write_conformance_json(&selected)?;
    let verdict = crate::conformance::judge(&selected);
    for (result, reason) in &verdict.known {
        println!("known failure: {} ({reason})", result.test);
    }
    for result in &verdict.unexpected_skips {
        println!("unexpected skip: {} ({})", result.test, result.detail);
    }
    println!("{} passed, {} failed, {} skipped", verdict.passed, verdict.failed, verdict.skipped);
    if verdict.is_clean() {
        Ok(())
    } else {
        Err(format!(
            "{} check(s) failed that are not known failures, {} skipped that are not expected skips",
            verdict.unexpected.len(),
            verdict.unexpected_skips.len()
        ))
    }
}

pub fn bench(arguments: &[String]) -> Result<(), String> {
    reject_unknown(arguments, &["--qemu", "--breakdown"], &[])?;
    let breakdown = arguments.iter().any(|argument| argument == "--breakdown");
    if arguments.iter().any(|argument| argument == "--qemu") {
        return crate::bench::run_qemu(breakdown);
    }
    if breakdown {
        return Err("--breakdown goes with --qemu: `cargo xtask bench --qemu --breakdown`".into());
    }
    crate::bench::run()
}

pub fn fuzz(arguments: &[String]) -> Result<(), String> {
    reject_unknown(arguments, &[], &["--seconds"])?;
    let seconds = match option_value(arguments, "--seconds") {
        Some(text) => {
            text.parse().map_err(|_| format!("--seconds takes a whole number, not `{text}`"))?
        }
        None => 60,
    };
    crate::fuzz::run(seconds)
}

pub fn doc(arguments: &[String]) -> Result<(), String> {
    reject_unknown(arguments, &[], &[])?;
    let root = shell::repository_root();
    let step = Step::start("API documentation (cargo doc --workspace --no-deps)");
    shell::run(
        Command::new("cargo").current_dir(&root).env("RUSTDOCFLAGS", "-D warnings").args([
            "doc",
            "--workspace",
            "--no-deps",
        ]),
    )?;
    step.done();
    if !shell::have("mdbook") {
        let step = Step::start("installing mdbook (cargo install mdbook --locked); this compiles it once, a few minutes");
        shell::run(Command::new("cargo").args(["install", "mdbook", "--locked"]))?;
        step.done();
    }
    let step = Step::start("the book (mdbook build docs)");
    shell::run(Command::new("mdbook").current_dir(&root).args(["build", "docs"]))?;
    step.done();
    println!("API docs: target/doc/ffa_core/index.html\nbook: docs/book/index.html");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_cargo_test_result_lines() {
        let (mut passed, mut failed) = (0, 0);
        count_results(
            "test result: ok. 12 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s",
            &mut passed,
            &mut failed,
        );
        count_results(
            "test result: FAILED. 3 passed; 2 failed; 0 ignored",
            &mut passed,
            &mut failed,
        );
        count_results("running 5 tests", &mut passed, &mut failed);
        assert_eq!((passed, failed), (15, 2));
    }

    #[test]
    fn rejects_unknown_arguments_and_reads_options() {
        let arguments: Vec<String> = ["--platform", "qemu", "--debug"].map(String::from).to_vec();
        assert!(reject_unknown(&arguments, &["--debug"], &["--platform"]).is_ok());
        assert_eq!(option_value(&arguments, "--platform"), Some("qemu"));
        let bad: Vec<String> = vec!["--frobnicate".into()];
        assert!(reject_unknown(&bad, &["--debug"], &["--platform"]).is_err());
    }

    #[test]
    fn boot_check_reports_each_missing_line_and_a_bad_exit() {
        let outcome = qemu::Outcome {
            console: "el3-monitor: hello from EL3 on QEMU virt\n".into(),
            log: vec![],
            exit_code: Some(1),
            elapsed: Duration::ZERO,
        };
        let failures = check_boot(&outcome);
        assert_eq!(failures.len(), BOOT_EXPECTATIONS.len(), "{failures:?}");
        assert!(failures.iter().any(|failure| failure.contains("exited")));
        assert!(failures.iter().any(|failure| failure.contains("spmc: running at S-EL2")));
    }
}
