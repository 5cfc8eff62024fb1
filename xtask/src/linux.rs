//! `cargo xtask linux`: a real Linux 6.12 guest on our stack, using FF-A and a TEE through it.
//!
//! Builds (or reuses) the kernel and the initramfs, writes the guest's device tree, builds the
//! images, and boots QEMU with the three files placed in the Linux guest's RAM with
//! `-device loader`. The hypervisor finds the device tree there and runs Linux at NS-EL1
//! instead of its test VMs. The console then shows the kernel's messages: its FF-A driver
//! finding our firmware and partitions, the OP-TEE driver probing against the OP-TEE-ABI test
//! partition, and the userspace TEE test's PASS/FAIL lines. See docs/src/linux-guest.md.

mod cpio;
mod device_tree;
mod initramfs;
mod kernel;

use std::path::Path;
use std::time::{Duration, Instant};

use crate::images::{self, Platform};
use crate::progress::Step;
use crate::qemu;
use crate::shell;
use crate::toolchain;

/// How long the whole run may take (the kernel boots under TCG emulation).
const DEADLINE: Duration = Duration::from_secs(300);

/// What the guest's run must show on the console: (text, what it proves).
pub const EXPECTATIONS: &[(&str, &str)] = &[
    ("hypervisor: Linux guest: starting", "the hypervisor found the guest's files and started it"),
    ("Booting Linux on physical CPU", "the kernel runs at NS-EL1 under the hypervisor"),
    ("psci: PSCIv1.1 detected in firmware", "the hypervisor answers PSCI 1.1 through HVC"),
    ("ARM FF-A: Firmware version 1.", "Linux's FF-A driver found FF-A (it needs SMCCC 1.2)"),
    ("partition 0x8001 uuid", "partition 0x8001 appears as an arm-ffa device"),
    ("partition 0x8003 uuid 486178e0-e7f8-11e3-bc5e-0002a5d5c51b", "the OP-TEE-ABI partition too"),
    ("optee: initialized driver", "the OP-TEE driver probed against the OP-TEE-ABI partition"),
    ("tee-test: PASS open /dev/tee0", "userspace opened the TEE device"),
    ("tee-test: PASS TEE_IOC_SHM_ALLOC", "allocated shared memory (FFA_MEM_SHARE)"),
    ("tee-test: PASS TEE_IOC_SHM_REGISTER", "registered user memory (FFA_MEM_SHARE)"),
    (
        "tee-test: done, 0 failures",
        "every userspace step passed (memory released: FFA_MEM_RECLAIM)",
    ),
    ("init: OP-TEE driver unbound", "the OP-TEE driver let go of its own message buffer"),
    (
        "0 outstanding; forwarder: 0 live in the secure world",
        "every share was reclaimed: nothing left shared in the forwarder's ledger",
    ),
    (
        "handles gone, 0 left behind",
        "the SPMC's ledger holds none of the guest's handles afterwards",
    ),
    ("hypervisor: Linux guest ended: PoweredOff", "the guest powered off through PSCI"),
];

/// The hypervisor's closing count, `memory transactions: N shared, M reclaimed, ...`:
/// (shared, reclaimed).
fn memory_transactions(console: &str) -> Option<(u32, u32)> {
    let line = console.lines().find_map(|line| line.split("memory transactions: ").nth(1))?;
    let mut words = line.split([',', ' ']);
    let shared = words.next()?.parse().ok()?;
    let reclaimed = line.split(", ").nth(1)?.split(' ').next()?.parse().ok()?;
    Some((shared, reclaimed))
}

fn ensure_host_tools() -> Result<(), String> {
    let mut missing: Vec<&str> = Vec::new();
    for (tool, package) in kernel::BUILD_TOOLS.iter().chain(initramfs::BUILD_TOOLS) {
        if !shell::have(tool) && !missing.contains(package) {
            missing.push(package);
        }
    }
    toolchain::install_debian_packages(&missing)
}

/// The `image_size` field of an arm64 Image header (offset 16): what the kernel occupies,
/// BSS included, from where it is loaded.
fn kernel_footprint(image: &[u8]) -> Option<u64> {
    let field: [u8; 8] = image.get(16..24)?.try_into().ok()?;
    let magic = image.get(56..60)?;
    (magic == b"ARM\x64").then(|| u64::from_le_bytes(field))
}

/// The guest's files, built: (Image, initramfs, device tree) paths.
pub struct GuestFiles {
    pub kernel: std::path::PathBuf,
    pub initramfs: std::path::PathBuf,
    pub device_tree: std::path::PathBuf,
}

/// Builds (or reuses) the kernel, and builds the initramfs and the device tree.
pub fn build_guest() -> Result<GuestFiles, String> {
    ensure_host_tools()?;
    let kernel = kernel::build()?;
    let cache = kernel::cache_directory();
    let initramfs = initramfs::build(&cache)?;
    let read_length = |path: &Path| {
        std::fs::metadata(path)
            .map(|data| data.len())
            .map_err(|error| format!("{}: {error}", path.display()))
    };
    let image = std::fs::read(&kernel).map_err(|error| format!("{}: {error}", kernel.display()))?;
    let footprint = kernel_footprint(&image)
        .ok_or_else(|| format!("{} is not an arm64 Image", kernel.display()))?;
    if device_tree::KERNEL_OFFSET + footprint > device_tree::INITRAMFS_OFFSET {
        return Err(format!(
            "the kernel needs {footprint:#x} bytes, more than the {:#x} before the initramfs",
            device_tree::INITRAMFS_OFFSET - device_tree::KERNEL_OFFSET
        ));
    }
    let initramfs_size = read_length(&initramfs)?;
    if device_tree::INITRAMFS_OFFSET + initramfs_size > device_tree::RAM_SIZE {
        return Err(format!("the initramfs ({initramfs_size} bytes) is too big"));
    }
    let blob = device_tree::build(initramfs_size)?;
    let device_tree = cache.join("guest.dtb");
    std::fs::write(&device_tree, blob)
        .map_err(|error| format!("{}: {error}", device_tree.display()))?;
    println!(
        "    kernel {} ({} bytes, {footprint:#x} in memory), initramfs {initramfs_size} bytes",
        kernel.display(),
        image.len()
    );
    Ok(GuestFiles { kernel, initramfs, device_tree })
}

/// The QEMU arguments that place the guest's files in its RAM.
fn loader_arguments(files: &GuestFiles) -> Vec<String> {
    let place = |path: &Path, offset: u64| {
        vec![
            "-device".to_owned(),
            format!(
                "loader,file={},addr={:#x},force-raw=on",
                path.display(),
                device_tree::RAM_PHYSICAL + offset
            ),
        ]
    };
    let mut arguments = place(&files.device_tree, device_tree::DEVICE_TREE_OFFSET);
    arguments.extend(place(&files.kernel, device_tree::KERNEL_OFFSET));
    arguments.extend(place(&files.initramfs, device_tree::INITRAMFS_OFFSET));
    arguments
}

/// What a run lacked, one line per missing expectation.
pub fn check(outcome: &qemu::Outcome) -> Vec<String> {
    let mut failures = Vec::new();
    if outcome.exit_code != Some(0) {
        failures.push(format!("QEMU exited with {:?}, expected 0 (power-off)", outcome.exit_code));
    }
    for (text, meaning) in EXPECTATIONS {
        if !outcome.console.contains(text) {
            failures.push(format!("missing `{text}` on the console ({meaning})"));
        }
    }
    // The OP-TEE driver's message buffer, the test's allocation and its registration.
    match memory_transactions(&outcome.console) {
        Some((shared, reclaimed)) if shared >= 3 && shared == reclaimed => {}
        other => failures.push(format!(
            "memory transactions (shared, reclaimed) = {other:?}: expected at least 3 shares, all reclaimed"
        )),
    }
    failures
}

/// Builds everything and boots the Linux guest; returns the run's outcome.
pub fn boot(echo: bool) -> Result<qemu::Outcome, String> {
    let files = build_guest()?;
    let tools = toolchain::setup()?;
    let built = images::build(&tools.cross, Platform::QemuVirt, true)?;
    let mut decoder = crate::tasks::decoder_for(&built)?;
    let run = qemu::Run {
        qemu: &tools.qemu,
        flash: &built.flash,
        work_dir: images::platforms_dir().join("target").join("qemu-linux"),
        deadline: DEADLINE,
        echo,
        count_instructions: false,
    };
    let step = Step::start(&format!(
        "booting QEMU virt with the Linux guest{}",
        if echo {
            ""
        } else {
            " (console in platforms/target/qemu-linux/console.txt; --verbose shows it)"
        }
    ));
    let outcome = qemu::boot_with(&run, &loader_arguments(&files), &mut decoder)?;
    step.done();
    Ok(outcome)
}

fn report(outcome: &qemu::Outcome, failures: &[String]) {
    println!("\nwhat the guest said about FF-A and the TEE:");
    for line in outcome.console.lines().filter(|line| {
        ["FF-A", "ffa", "optee", "tee", "init:", "hypervisor: Linux", "psci", "Kernel panic"]
            .iter()
            .any(|word| line.contains(word))
    }) {
        println!("  {line}");
    }
    println!("\nchecks:");
    for (text, meaning) in EXPECTATIONS {
        let ok = !failures.iter().any(|failure| failure.contains(text));
        println!("  [{}] {meaning}", if ok { "ok" } else { "FAILED" });
    }
    println!(
        "  QEMU exit code {:?} after {:.1}s",
        outcome.exit_code,
        outcome.elapsed.as_secs_f64()
    );
}

/// The check `cargo xtask test` runs: boot the guest, require every expectation.
pub fn test_stage() -> Result<(), String> {
    let outcome = boot(false)?;
    let failures = check(&outcome);
    report(&outcome, &failures);
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("the Linux guest run fell short:\n  {}", failures.join("\n  ")))
    }
}

/// `cargo xtask linux [--build-only] [--verbose]`.
pub fn command(arguments: &[String]) -> Result<(), String> {
    for argument in arguments {
        if !["--build-only", "--verbose"].contains(&argument.as_str()) {
            return Err(format!("unknown argument `{argument}`"));
        }
    }
    let started = Instant::now();
    if arguments.iter().any(|argument| argument == "--build-only") {
        build_guest()?;
        println!("guest files built in {:.1}s", started.elapsed().as_secs_f64());
        return Ok(());
    }
    let outcome = boot(arguments.iter().any(|argument| argument == "--verbose"))?;
    let failures = check(&outcome);
    report(&outcome, &failures);
    println!("total {:.1}s", started.elapsed().as_secs_f64());
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("the Linux guest run fell short:\n  {}", failures.join("\n  ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_header_gives_the_footprint_only_for_arm64_images() {
        let mut header = vec![0u8; 64];
        header[16..24].copy_from_slice(&0x12_3000u64.to_le_bytes());
        assert_eq!(kernel_footprint(&header), None, "no ARM\\x64 magic");
        header[56..60].copy_from_slice(b"ARM\x64");
        assert_eq!(kernel_footprint(&header), Some(0x12_3000));
        assert_eq!(kernel_footprint(&header[..40]), None);
    }

    #[test]
    fn the_memory_count_is_read_from_the_hypervisor_line() {
        let console = "x\nhypervisor: Linux guest: memory transactions: 3 shared, 2 reclaimed, 0 refused, 1 outstanding; forwarder: 1 live in the secure world\n";
        assert_eq!(memory_transactions(console), Some((3, 2)));
        assert_eq!(memory_transactions("nothing"), None);
    }

    #[test]
    fn the_files_are_loaded_into_the_guest_ram() {
        let files = GuestFiles {
            kernel: "Image".into(),
            initramfs: "initramfs.cpio".into(),
            device_tree: "guest.dtb".into(),
        };
        let arguments = loader_arguments(&files).join(" ");
        assert!(arguments.contains("loader,file=guest.dtb,addr=0x41100000,force-raw=on"));
        assert!(arguments.contains("loader,file=Image,addr=0x41200000,force-raw=on"));
        assert!(arguments.contains("loader,file=initramfs.cpio,addr=0x41a00000,force-raw=on"));
    }
}
