//! `cargo xtask linux`: two real Linux 6.12 guests on our stack, using FF-A and a TEE through
//! it, and unable to take each other's memory.
//!
//! Builds (or reuses) the kernel, the cross-guest module and the initramfs, writes a device
//! tree per guest, builds the images, and boots QEMU with the files placed in VM 1's and VM
//! 2's RAM with `-device loader`. The hypervisor finds the device trees there and runs Linux
//! at NS-EL1 as VM 1 (CPU 0) and VM 2 (CPU 1) instead of its test VMs, printing each guest's
//! console lines prefixed with `[vm N] `. Each guest's lines show its FF-A driver finding our
//! firmware and partitions, the OP-TEE driver probing against the OP-TEE-ABI test partition,
//! and the userspace TEE test's PASS/FAIL lines; VM 2's show the `ffa_cross` module's refused
//! attempts on VM 1's live handle, VM 1's its reclaim of that handle afterwards. See
//! docs/src/linux-guest.md.

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

/// What each guest's lines (prefix `[vm N] ` removed) must show: (text, what it proves).
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
    ("0 outstanding;", "every share the guest made was reclaimed"),
    (
        "handles gone, 0 left behind",
        "the SPMC's ledger holds none of the guest's handles afterwards",
    ),
    ("hypervisor: Linux guest ended: PoweredOff", "the guest powered off through PSCI"),
];

/// What VM 1's lines must show besides: the cross-guest check from the owner's side.
pub const FIRST_GUEST_EXPECTATIONS: &[(&str, &str)] = &[
    (
        "hypervisor: holding VM 1's FFA_MEM_RECLAIM of",
        "VM 1's reclaim of its first share waited until VM 2 had ended",
    ),
    (
        "hypervisor: cross-guest: owner VM 1 reclaimed",
        "then VM 1, the owner, reclaimed that handle: nothing had disturbed it",
    ),
    (
        "forwarder: 0 live in the secure world",
        "after both guests, nothing is left shared in the forwarder's ledger",
    ),
];

/// What VM 2's lines must show besides: its attempts on VM 1's live handle refused.
pub const SECOND_GUEST_EXPECTATIONS: &[(&str, &str)] = &[
    ("init: cross-guest check: handle 0x", "VM 2 was started with VM 1's live handle"),
    (
        "ffa_cross: PASS VM 0x2 FFA_MEM_RECLAIM of VM 0x1's handle",
        "VM 2 could not reclaim VM 1's memory (FFA_ERROR)",
    ),
    (
        "ffa_cross: PASS VM 0x2 FFA_MEM_RETRIEVE_REQ of VM 0x1's handle",
        "VM 2 could not retrieve VM 1's memory (FFA_ERROR)",
    ),
    ("ffa_cross: done, 0 failures", "every cross-guest attempt was refused"),
    (
        "refused: FFA_ERROR -6 (DENIED)",
        "the reclaim got DENIED: only the owner reclaims (reference 7.10 rule 17)",
    ),
    (
        "refused: FFA_ERROR -2 (INVALID_PARAMETERS)",
        "the retrieve got INVALID_PARAMETERS: VM 2 is no borrower (reference 7.10 rule 15)",
    ),
];

/// The whole run: both guests started.
const RUN_EXPECTATIONS: &[(&str, &str)] = &[(
    "hypervisor: Linux guests: VM 1 on CPU 0, VM 2 on CPU 1 (two guests)",
    "the hypervisor found both guests' files and ran them at once",
)];

/// The lines VM `vm` printed (through the hypervisor's emulated console, or the hypervisor
/// about it), with the `[vm N] ` prefix removed.
pub fn guest_lines(console: &str, vm: u16) -> String {
    let prefix = format!("[vm {vm}] ");
    let mut lines = String::new();
    for line in console.lines() {
        if let Some(text) = line.trim_end_matches('\r').strip_prefix(&prefix) {
            lines.push_str(text);
            lines.push('\n');
        }
    }
    lines
}

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

/// The guests' files, built: the Image and the initramfs both guests boot, and one device tree
/// per guest (`device_tree::GUESTS` order).
pub struct GuestFiles {
    pub kernel: std::path::PathBuf,
    pub initramfs: std::path::PathBuf,
    pub device_trees: Vec<std::path::PathBuf>,
}

/// Builds (or reuses) the kernel, and builds the module, the initramfs and the device trees.
pub fn build_guest() -> Result<GuestFiles, String> {
    ensure_host_tools()?;
    let kernel = kernel::build()?;
    let module = kernel::build_cross_module(&kernel)?;
    let cache = kernel::cache_directory();
    let initramfs = initramfs::build(&cache, &module)?;
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
    let mut device_trees = Vec::new();
    for guest in device_tree::GUESTS {
        let blob = device_tree::build(guest, initramfs_size)?;
        let path = cache.join(format!("guest-vm{}.dtb", guest.vm));
        std::fs::write(&path, blob).map_err(|error| format!("{}: {error}", path.display()))?;
        device_trees.push(path);
    }
    println!(
        "    kernel {} ({} bytes, {footprint:#x} in memory), initramfs {initramfs_size} bytes, {} device trees",
        kernel.display(),
        image.len(),
        device_trees.len()
    );
    Ok(GuestFiles { kernel, initramfs, device_trees })
}

/// The QEMU arguments that place the guests' files in their RAM.
fn loader_arguments(files: &GuestFiles) -> Vec<String> {
    let place = |path: &Path, address: u64| {
        vec![
            "-device".to_owned(),
            format!("loader,file={},addr={address:#x},force-raw=on", path.display()),
        ]
    };
    let mut arguments = Vec::new();
    for (guest, device_tree) in device_tree::GUESTS.iter().zip(&files.device_trees) {
        let ram = guest.ram_physical;
        arguments.extend(place(device_tree, ram + device_tree::DEVICE_TREE_OFFSET));
        arguments.extend(place(&files.kernel, ram + device_tree::KERNEL_OFFSET));
        arguments.extend(place(&files.initramfs, ram + device_tree::INITRAMFS_OFFSET));
    }
    arguments
}

/// The expectations for VM `vm`'s lines: the common ones and its own.
fn expectations_of(vm: u16) -> impl Iterator<Item = &'static (&'static str, &'static str)> {
    let own = if vm == 1 { FIRST_GUEST_EXPECTATIONS } else { SECOND_GUEST_EXPECTATIONS };
    EXPECTATIONS.iter().chain(own)
}

/// What a run lacked, one line per missing expectation.
pub fn check(outcome: &qemu::Outcome) -> Vec<String> {
    let mut failures = Vec::new();
    if outcome.exit_code != Some(0) {
        failures.push(format!("QEMU exited with {:?}, expected 0 (power-off)", outcome.exit_code));
    }
    for (text, meaning) in RUN_EXPECTATIONS {
        if !outcome.console.contains(text) {
            failures.push(format!("missing `{text}` on the console ({meaning})"));
        }
    }
    for guest in device_tree::GUESTS {
        let lines = guest_lines(&outcome.console, guest.vm);
        for (text, meaning) in expectations_of(guest.vm) {
            if !lines.contains(text) {
                failures.push(format!("VM {}: missing `{text}` ({meaning})", guest.vm));
            }
        }
        // The OP-TEE driver's message buffer, the test's allocation and its registration.
        match memory_transactions(&lines) {
            Some((shared, reclaimed)) if shared >= 3 && shared == reclaimed => {}
            other => failures.push(format!(
                "VM {}: memory transactions (shared, reclaimed) = {other:?}: expected at least 3 shares, all reclaimed",
                guest.vm
            )),
        }
    }
    let identities = ffa_identities(&outcome.console);
    if identities.len() != 2 || identities[0] == identities[1] {
        failures.push(format!("the guests' FF-A IDs {identities:?}: expected two different IDs"));
    }
    failures
}

/// Each guest's FF-A ID, from the hypervisor's `starting as VM N` line.
fn ffa_identities(console: &str) -> Vec<u16> {
    device_tree::GUESTS
        .iter()
        .filter_map(|guest| {
            let lines = guest_lines(console, guest.vm);
            let rest = lines.split("hypervisor: Linux guest: starting as VM ").nth(1)?;
            rest.split(' ').next()?.parse().ok()
        })
        .collect()
}

/// What the reference expects of a cross-guest attempt, when the answer is not that.
/// Reclaim by anyone but the owner: DENIED (docs/src/ledger.md; reference 7.10 rule 17).
/// Retrieve by an endpoint that is no borrower of the transaction: INVALID_PARAMETERS
/// (reference 7.10 rule 15: the borrower list must match) or DENIED (matrix MM17).
fn conformance_note(answer: &str) -> Option<&'static str> {
    if answer.contains("FFA_MEM_RECLAIM") && !answer.contains("(DENIED)") {
        Some("the reference expects DENIED for a reclaim by anyone but the owner (7.10 rule 17, ledger rule)")
    } else if answer.contains("FFA_MEM_RETRIEVE_REQ")
        && !(answer.contains("(INVALID_PARAMETERS)") || answer.contains("(DENIED)"))
    {
        Some(
            "the reference expects INVALID_PARAMETERS (7.10 rule 15: the borrower list must match) \
             or DENIED (matrix MM17)",
        )
    } else {
        None
    }
}

/// The errors the cross-guest attempts got (`FFA_ERROR -6 (DENIED)`), as VM 2 printed them.
fn cross_guest_answers(console: &str) -> Vec<String> {
    guest_lines(console, 2)
        .lines()
        .filter(|line| line.contains("ffa_cross: PASS") || line.contains("ffa_cross: FAIL"))
        .map(|line| line.split("ffa_cross: ").nth(1).unwrap_or(line).to_owned())
        .collect()
}

/// Builds everything and boots the Linux guests; returns the run's outcome.
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
        "booting QEMU virt with two Linux guests{}",
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
    for guest in device_tree::GUESTS {
        println!("\nwhat VM {} said about FF-A and the TEE:", guest.vm);
        for line in guest_lines(&outcome.console, guest.vm).lines().filter(|line| {
            ["FF-A", "ffa", "optee", "tee", "init:", "hypervisor:", "psci", "Kernel panic"]
                .iter()
                .any(|word| line.contains(word))
        }) {
            println!("  {line}");
        }
    }
    println!("\ncross-guest isolation (VM 2 on VM 1's live handle):");
    for answer in cross_guest_answers(&outcome.console) {
        println!("  {answer}");
        if let Some(note) = conformance_note(&answer) {
            println!("    NOTE: {note}");
        }
    }
    let identities = ffa_identities(&outcome.console);
    let shown: Vec<String> = device_tree::GUESTS
        .iter()
        .zip(&identities)
        .map(|(guest, id)| format!("VM {} (CPU {}) has FF-A ID {id:#06x}", guest.vm, guest.cpu))
        .collect();
    println!("  FF-A IDs: {}", shown.join(", "));
    println!("\nchecks:");
    for (text, meaning) in RUN_EXPECTATIONS {
        let ok = !failures.iter().any(|failure| failure.contains(text));
        println!("  [{}] {meaning}", if ok { "ok" } else { "FAILED" });
    }
    for guest in device_tree::GUESTS {
        for (text, meaning) in expectations_of(guest.vm) {
            let failed = failures.iter().any(|failure| {
                failure.starts_with(&format!("VM {}:", guest.vm)) && failure.contains(text)
            });
            println!("  [{}] VM {}: {meaning}", if failed { "FAILED" } else { "ok" }, guest.vm);
        }
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
        Err(format!("the Linux guests' run fell short:\n  {}", failures.join("\n  ")))
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
        Err(format!("the Linux guests' run fell short:\n  {}", failures.join("\n  ")))
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
    fn the_files_are_loaded_into_both_guests_ram() {
        let files = GuestFiles {
            kernel: "Image".into(),
            initramfs: "initramfs.cpio".into(),
            device_trees: vec!["vm1.dtb".into(), "vm2.dtb".into()],
        };
        let arguments = loader_arguments(&files).join(" ");
        assert!(arguments.contains("loader,file=vm1.dtb,addr=0x41100000,force-raw=on"));
        assert!(arguments.contains("loader,file=Image,addr=0x41200000,force-raw=on"));
        assert!(arguments.contains("loader,file=initramfs.cpio,addr=0x41a00000,force-raw=on"));
        assert!(arguments.contains("loader,file=vm2.dtb,addr=0x42100000,force-raw=on"));
        assert!(arguments.contains("loader,file=Image,addr=0x42200000,force-raw=on"));
        assert!(arguments.contains("loader,file=initramfs.cpio,addr=0x42a00000,force-raw=on"));
    }

    #[test]
    fn an_answer_other_than_the_references_gets_a_note() {
        let reclaim =
            "PASS VM 0x2 FFA_MEM_RECLAIM of VM 0x1's handle 0x65 refused: FFA_ERROR -6 (DENIED)";
        assert_eq!(conformance_note(reclaim), None);
        assert!(conformance_note(&reclaim.replace("-6 (DENIED)", "-1 (NOT_SUPPORTED)")).is_some());
        let retrieve =
            "PASS VM 0x2 FFA_MEM_RETRIEVE_REQ of VM 0x1's handle 0x65 refused: FFA_ERROR -1 (NOT_SUPPORTED)";
        assert!(conformance_note(retrieve).is_some());
        let conforming = retrieve.replace("-1 (NOT_SUPPORTED)", "-2 (INVALID_PARAMETERS)");
        assert_eq!(conformance_note(&conforming), None);
    }

    #[test]
    fn each_guest_gets_its_own_lines() {
        let console = "hypervisor: x\r\n[vm 1] a\r\n[vm 2] b\n[vm 1] c\n[vm 12] d\n";
        assert_eq!(guest_lines(console, 1), "a\nc\n");
        assert_eq!(guest_lines(console, 2), "b\n");
    }

    #[test]
    fn the_ids_come_from_the_starting_lines() {
        let console = "[vm 1] hypervisor: Linux guest: starting as VM 1 on CPU 0: 16 MiB\n\
                       [vm 2] hypervisor: Linux guest: starting as VM 2 on CPU 1: 16 MiB\n";
        assert_eq!(ffa_identities(console), vec![1, 2]);
        assert_eq!(ffa_identities("[vm 1] hypervisor: Linux guest: starting as VM 1 on"), vec![1]);
    }
}
