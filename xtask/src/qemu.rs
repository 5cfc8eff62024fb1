//! Booting the images on QEMU virt: two serial streams (text console, defmt log), a deadline.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::defmt_stream::LogDecoder;
use crate::shell;

/// The machine every run uses (FF-A needs EL3, S-EL2 and EL2).
pub const MACHINE: &str = "virt,secure=on,virtualization=on,gic-version=3";

/// What a run showed.
#[derive(Debug)]
pub struct Outcome {
    pub console: String,
    pub log: Vec<String>,
    pub exit_code: Option<i32>,
    pub elapsed: Duration,
}

/// A QEMU run to start.
#[derive(Debug)]
pub struct Run<'a> {
    pub qemu: &'a Path,
    pub flash: &'a Path,
    pub work_dir: PathBuf,
    pub deadline: Duration,
    /// Print console and log lines as they arrive.
    pub echo: bool,
    /// Count instructions: `-icount shift=0,sleep=off` with a 1 GHz generic counter (and idle
    /// time skipped rather than waited out in real time), so one counter tick
    /// is one guest instruction (deterministic, run to run).
    pub count_instructions: bool,
}

fn follow(file: &mut Option<File>, path: &Path, position: &mut u64) -> Vec<u8> {
    if file.is_none() {
        *file = File::open(path).ok();
    }
    let mut bytes = Vec::new();
    if let Some(file) = file {
        if file.seek(SeekFrom::Start(*position)).is_ok() && file.read_to_end(&mut bytes).is_ok() {
            *position += bytes.len() as u64;
        }
    }
    bytes
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Boots QEMU and follows its two serial streams until it exits or the deadline passes.
pub fn boot(run: &Run<'_>, decoder: &mut LogDecoder) -> Result<Outcome, String> {
    boot_with(run, &[], decoder)
}

/// `boot` with more QEMU arguments (the Linux guest's `-device loader` files).
pub fn boot_with(
    run: &Run<'_>,
    extra_arguments: &[String],
    decoder: &mut LogDecoder,
) -> Result<Outcome, String> {
    std::fs::create_dir_all(&run.work_dir)
        .map_err(|error| format!("{}: {error}", run.work_dir.display()))?;
    let console_path = run.work_dir.join("console.txt");
    let log_path = run.work_dir.join("secure-log.bin");
    for path in [&console_path, &log_path] {
        let _ = std::fs::remove_file(path);
    }
    let mut command = Command::new(run.qemu);
    let cpu = if run.count_instructions { "max,cntfrq=1000000000" } else { "max" };
    command.args(["-M", MACHINE, "-cpu", cpu, "-smp", "4", "-m", "1G"]);
    if run.count_instructions {
        command.args(["-icount", "shift=0,sleep=off"]);
    }
    command
        .args(["-nic", "none", "-display", "none", "-monitor", "none"])
        .args(["-semihosting-config", "enable=on,target=native"])
        .arg("-serial")
        .arg(format!("file:{}", console_path.display()))
        .arg("-serial")
        .arg(format!("file:{}", log_path.display()))
        .arg("-bios")
        .arg(run.flash)
        .args(extra_arguments)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let shown = shell::describe(&command);
    let started = Instant::now();
    let mut child =
        command.spawn().map_err(|error| format!("could not start QEMU (`{shown}`): {error}"))?;

    let (mut console_file, mut log_file) = (None, None);
    let (mut console_position, mut log_position) = (0u64, 0u64);
    let mut console = String::new();
    let mut log = Vec::new();
    let mut partial_line = String::new();
    let exit_status = loop {
        let exited = child.try_wait().map_err(|error| format!("waiting for QEMU: {error}"))?;
        // Read after checking for exit, so the final bytes of an exited run are not lost.
        let text = String::from_utf8_lossy(&follow(
            &mut console_file,
            &console_path,
            &mut console_position,
        ))
        .replace('\r', "");
        console.push_str(&text);
        partial_line.push_str(&text);
        while let Some(end) = partial_line.find('\n') {
            let line: String = partial_line.drain(..=end).collect();
            if run.echo {
                println!("    [console] {}", line.trim_end());
            }
        }
        for line in decoder.received(&follow(&mut log_file, &log_path, &mut log_position)) {
            if run.echo {
                println!("    {line}");
            }
            log.push(line);
        }
        if let Some(status) = exited {
            break status;
        }
        if started.elapsed() > run.deadline {
            stop(&mut child);
            return Err(format!(
                "QEMU did not finish within {}s.\nLast console output:\n{}\nLast log lines:\n{}",
                run.deadline.as_secs(),
                tail(&console, 20),
                log.iter().rev().take(20).rev().cloned().collect::<Vec<_>>().join("\n")
            ));
        }
        // Polling the two output files; the deadline above bounds the loop.
        std::thread::sleep(Duration::from_millis(20));
    };
    if !partial_line.is_empty() && run.echo {
        println!("    [console] {}", partial_line.trim_end());
    }
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    if !stderr.trim().is_empty() {
        eprintln!("    [qemu] {}", stderr.trim());
    }
    Ok(Outcome { console, log, exit_code: exit_status.code(), elapsed: started.elapsed() })
}

/// The last `count` lines of `text`.
pub fn tail(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(count)..].join("\n")
}
