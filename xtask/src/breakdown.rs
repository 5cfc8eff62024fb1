//! `cargo xtask bench --qemu --breakdown`: where a round trip's instructions go, image by image.
//!
//! QEMU runs with one instruction per translation block and logs every block it executes
//! (`-d exec,nochain`), so each log line is one guest instruction with its address. The
//! images' ELF files say which address belongs to which image and function. A *call span*
//! starts when an origin image (the hypervisor, or a test VM) leaves for the layer below it
//! (the hypervisor's SMC enters the EL3 monitor; a VM's trap enters the hypervisor) and ends
//! when execution is back in the origin image. The benchmark loops make many spans of exactly
//! the same length (QEMU with `-icount` is deterministic), so the most frequent span length
//! of each origin is its benchmarked call, and its instructions are attributed to images and
//! functions.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use object::{Object, ObjectSegment, ObjectSymbol, SymbolKind};

use crate::progress::Step;

/// (origin image, the image its calls enter first, what the span is).
const ORIGINS: &[(&str, &str, &str)] = &[
    (
        "hypervisor",
        "el3-monitor",
        "direct request from NS-EL2 (hypervisor -> EL3 -> SPMC -> partition and back)",
    ),
    ("test-vm", "hypervisor", "FF-A call from a guest VM at NS-EL1 (through the forwarder)"),
];

/// Spans of one length must occur at least this often to count as a benchmark loop.
const LOOP_MINIMUM: u32 = 50;

/// One image: its address ranges and its function symbols (start, end, name), sorted.
struct Image {
    name: String,
    ranges: Vec<(u64, u64)>,
    functions: Vec<(u64, u64, String)>,
}

fn load_image(path: &Path) -> Result<Image, String> {
    let bytes = std::fs::read(path).map_err(|error| format!("{}: {error}", path.display()))?;
    let file = object::File::parse(&*bytes)
        .map_err(|error| format!("{}: not an ELF file: {error}", path.display()))?;
    let ranges = file
        .segments()
        .filter(|segment| segment.size() > 0)
        .map(|segment| (segment.address(), segment.address() + segment.size()))
        .collect();
    let mut functions: Vec<(u64, u64, String)> = file
        .symbols()
        .filter(|symbol| symbol.kind() == SymbolKind::Text && symbol.address() != 0)
        .filter_map(|symbol| {
            let name = symbol.name().ok()?;
            let end = symbol.address() + symbol.size().max(1);
            Some((symbol.address(), end, rustc_demangle::demangle(name).to_string()))
        })
        .collect();
    functions.sort_by_key(|function| function.0);
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    Ok(Image { name, ranges, functions })
}

impl Image {
    fn contains(&self, address: u64) -> bool {
        self.ranges.iter().any(|&(start, end)| address >= start && address < end)
    }

    /// The index of the function holding `address` (the last one starting at or before it).
    fn function_at(&self, address: u64) -> Option<usize> {
        let after = self.functions.partition_point(|function| function.0 <= address);
        after.checked_sub(1)
    }
}

/// Which image an address belongs to (the first that contains it).
fn image_of(images: &[Image], address: u64) -> Option<usize> {
    images.iter().position(|image| image.contains(address))
}

/// Instruction counts of every span of one origin and one length, added up.
#[derive(Default)]
struct Aggregate {
    spans: u32,
    per_image: HashMap<Option<usize>, u64>,
    per_function: HashMap<(usize, usize), u64>,
}

/// A span being counted on one CPU.
#[derive(Default)]
struct OpenSpan {
    length: u64,
    per_image: HashMap<Option<usize>, u64>,
    per_function: HashMap<(usize, usize), u64>,
}

/// Reads an exec trace line's CPU index and guest address (`Trace N: host [cs_base/pc/...`).
fn parse_line(line: &str) -> Option<(usize, u64)> {
    let rest = line.strip_prefix("Trace ")?;
    let (cpu, rest) = rest.split_once(':')?;
    let fields = rest.split_once('[')?.1;
    let pc = fields.split('/').nth(1)?;
    Some((cpu.trim().parse().ok()?, u64::from_str_radix(pc, 16).ok()?))
}

/// The spans of each origin, grouped by length.
type Spans = Vec<HashMap<u64, Aggregate>>;

fn collect_spans(trace: &Path, images: &[Image]) -> Result<Spans, String> {
    let origins: Vec<(Option<usize>, Option<usize>)> = ORIGINS
        .iter()
        .map(|(origin, first, _)| {
            let find = |name: &str| images.iter().position(|image| image.name == name);
            (find(origin), find(first))
        })
        .collect();
    let mut spans: Spans = (0..ORIGINS.len()).map(|_| HashMap::new()).collect();
    // Per CPU: the previous instruction's image, and each origin's open span.
    let mut previous: HashMap<usize, Option<usize>> = HashMap::new();
    let mut open: HashMap<(usize, usize), OpenSpan> = HashMap::new();
    let file = File::open(trace).map_err(|error| format!("{}: {error}", trace.display()))?;
    for line in BufReader::with_capacity(1 << 20, file).lines() {
        let line = line.map_err(|error| format!("{}: {error}", trace.display()))?;
        let Some((cpu, address)) = parse_line(&line) else { continue };
        let image = image_of(images, address);
        let before = previous.insert(cpu, image).flatten();
        for (index, &(origin, first)) in origins.iter().enumerate() {
            let Some(origin) = origin else { continue };
            let key = (cpu, index);
            if image == Some(origin) {
                if let Some(span) = open.remove(&key) {
                    let aggregate = spans[index].entry(span.length).or_default();
                    aggregate.spans += 1;
                    for (image, count) in span.per_image {
                        *aggregate.per_image.entry(image).or_default() += count;
                    }
                    for (function, count) in span.per_function {
                        *aggregate.per_function.entry(function).or_default() += count;
                    }
                }
                continue;
            }
            if before == Some(origin) && image.is_some() && image == first {
                open.insert(key, OpenSpan::default());
            }
            if let Some(span) = open.get_mut(&key) {
                span.length += 1;
                *span.per_image.entry(image).or_default() += 1;
                if let Some(image) = image {
                    if let Some(function) = images[image].function_at(address) {
                        *span.per_function.entry((image, function)).or_default() += 1;
                    }
                }
            }
        }
    }
    Ok(spans)
}

/// QEMU 8.1 renamed `-singlestep` to `-accel tcg,one-insn-per-tb=on` (and 9.0 dropped it).
fn one_instruction_per_block(qemu: &Path) -> Vec<&'static str> {
    let version = crate::shell::output(Command::new(qemu).arg("--version")).unwrap_or_default();
    let numbers: Vec<u32> = version
        .split_whitespace()
        .nth(3)
        .unwrap_or("7.2")
        .split('.')
        .filter_map(|part| part.parse().ok())
        .collect();
    let newer = matches!(numbers.as_slice(), [major, minor, ..] if (*major, *minor) >= (8, 1));
    if newer {
        vec!["-accel", "tcg,one-insn-per-tb=on"]
    } else {
        vec!["-singlestep"]
    }
}

fn trace_run(qemu: &Path, flash: &Path, work_dir: &Path) -> Result<PathBuf, String> {
    std::fs::create_dir_all(work_dir)
        .map_err(|error| format!("{}: {error}", work_dir.display()))?;
    let trace = work_dir.join("exec-trace.log");
    let mut command = Command::new(qemu);
    command
        .args(["-M", crate::qemu::MACHINE, "-cpu", "max,cntfrq=1000000000", "-smp", "4"])
        .args(["-m", "1G", "-icount", "shift=0,sleep=off"])
        .args(one_instruction_per_block(qemu))
        .args(["-d", "exec,nochain", "-D"])
        .arg(&trace)
        .args(["-nic", "none", "-display", "none", "-monitor", "none"])
        .args(["-semihosting-config", "enable=on,target=native"])
        .arg("-serial")
        .arg(format!("file:{}", work_dir.join("console-trace.txt").display()))
        .arg("-serial")
        .arg(format!("file:{}", work_dir.join("secure-log-trace.bin").display()))
        .arg("-bios")
        .arg(flash)
        .stdin(Stdio::null());
    let shown = crate::shell::describe(&command);
    let status =
        command.status().map_err(|error| format!("could not start QEMU (`{shown}`): {error}"))?;
    if !status.success() {
        return Err(format!("the traced QEMU run failed ({status}): `{shown}`"));
    }
    Ok(trace)
}

fn report(images: &[Image], spans: &Spans) {
    for (index, (origin, _, what)) in ORIGINS.iter().enumerate() {
        let benchmarked = spans[index]
            .iter()
            .filter(|(_, aggregate)| aggregate.spans >= LOOP_MINIMUM)
            .max_by_key(|(length, aggregate)| (aggregate.spans, **length));
        let Some((length, aggregate)) = benchmarked else {
            println!(
                "\n  {what}: no loop of {LOOP_MINIMUM} identical calls from {origin} in this run"
            );
            continue;
        };
        let spans = u64::from(aggregate.spans);
        println!("\n  {what}: {} identical calls of {length} instructions", aggregate.spans);
        let mut per_image: Vec<_> = aggregate.per_image.iter().collect();
        per_image.sort_by_key(|(_, count)| std::cmp::Reverse(**count));
        for (image, count) in per_image {
            let name = image.map_or("(outside every image)", |image| images[image].name.as_str());
            let each = count / spans;
            println!("    {name:<28} {each:>6}  {:>5.1}%", each as f64 * 100.0 / *length as f64);
        }
        let mut functions: Vec<_> = aggregate.per_function.iter().collect();
        functions.sort_by_key(|(_, count)| std::cmp::Reverse(**count));
        println!("    the most expensive functions:");
        for ((image, function), count) in functions.into_iter().take(12) {
            let name: String = images[*image].functions[*function].2.chars().take(90).collect();
            println!("      {:>6}  {:<26} {name}", count / spans, images[*image].name);
        }
    }
}

/// Boots the flash image under an instruction trace and prints the per-image breakdown.
pub fn run(qemu: &Path, flash: &Path, elves: &[PathBuf]) -> Result<(), String> {
    let images = elves.iter().map(|path| load_image(path)).collect::<Result<Vec<_>, _>>()?;
    let work_dir = crate::images::platforms_dir().join("target").join("qemu-trace");
    let step = Step::start(
        "booting once more with an instruction trace (one instruction per block; ~1 GB of log, about a minute)",
    );
    let trace = trace_run(qemu, flash, &work_dir)?;
    step.done();
    let step = Step::start("attributing the traced instructions to images and functions");
    let spans = collect_spans(&trace, &images);
    let _ = std::fs::remove_file(&trace);
    let spans = spans?;
    step.done();
    println!("\nPer-layer breakdown (from the instruction trace; the counter figures above are the reference):");
    report(&images, &spans);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpu_and_address_from_exec_trace_lines() {
        let line = "Trace 2: 0x7f539c000240 [000000000030000c/000000004020d0bc/00000071/ff020201] ";
        assert_eq!(parse_line(line), Some((2, 0x4020_d0bc)));
        assert_eq!(parse_line("Linking TBs 0x1 index 0 -> 0x2"), None);
        assert_eq!(parse_line("Trace x: 0x1 [0/zz/0/0]"), None);
    }

    fn image(name: &str, start: u64, end: u64, functions: &[(u64, u64, &str)]) -> Image {
        Image {
            name: name.into(),
            ranges: vec![(start, end)],
            functions: functions.iter().map(|&(s, e, n)| (s, e, n.to_string())).collect(),
        }
    }

    #[test]
    fn spans_are_grouped_by_length_and_attributed() {
        let images = vec![
            image(
                "el3-monitor",
                0x1000,
                0x2000,
                &[(0x1000, 0x1100, "relay"), (0x1100, 0x1200, "switch")],
            ),
            image("hypervisor", 0x8000, 0x9000, &[(0x8000, 0x9000, "main")]),
            image("test-vm", 0x4000, 0x5000, &[(0x4000, 0x5000, "vm")]),
        ];
        let directory =
            std::env::temp_dir().join(format!("xtask-breakdown-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        let trace = directory.join("trace.log");
        let mut text = String::new();
        let mut line = |pc: u64| text.push_str(&format!("Trace 0: 0x7f [0/{pc:016x}/0/0] \n"));
        for _ in 0..3 {
            line(0x8000);
            line(0x1000);
            line(0x1004);
            line(0x1100);
            line(0x8004);
        }
        // A hypervisor excursion into a VM is not a call span.
        line(0x4000);
        line(0x8008);
        std::fs::write(&trace, text).unwrap();
        let spans = collect_spans(&trace, &images).unwrap();
        std::fs::remove_dir_all(&directory).unwrap();
        let hypervisor = &spans[0];
        assert_eq!(hypervisor.len(), 1);
        let aggregate = &hypervisor[&3];
        assert_eq!(aggregate.spans, 3);
        assert_eq!(aggregate.per_image[&Some(0)], 9);
        assert_eq!(aggregate.per_function[&(0, 0)], 6);
        assert_eq!(aggregate.per_function[&(0, 1)], 3);
        assert!(
            spans[1].is_empty(),
            "the VM made no call: {:?}",
            spans[1].keys().collect::<Vec<_>>()
        );
    }
}
