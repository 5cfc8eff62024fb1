//! The Linux guests' initramfs: Debian's static busybox for arm64, our TEE test, the
//! cross-guest module and `/init` (one archive for both guests).
//!
//! busybox comes from Debian's `busybox-static` arm64 package, fetched from deb.debian.org
//! by its pinned version and checked against the pinned SHA-256 (the machine's own package
//! architecture is not changed). The test program (`platforms/qemu-virt/linux/tee-test.c`) is
//! compiled static with Debian's aarch64 cross gcc. Both land in the kernel cache directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::cpio::Archive;
use crate::progress::Step;
use crate::shell;

/// The busybox package pinned: version, file name in Debian's pool, its SHA-256.
const BUSYBOX_VERSION: &str = "1.35.0-4+deb12u1+b1";
const BUSYBOX_SHA256: &str = "732c9135564fc71337e0e05fb4da4d11e6c28c1834bce3e405e575afef2a52f5";
const BUSYBOX_POOL: &str = "http://deb.debian.org/debian/pool/main/b/busybox";
/// The C source of the userspace check, relative to the repository root.
const TEST_SOURCE: &str = "platforms/qemu-virt/linux/tee-test.c";
const CROSS_GCC: &str = "aarch64-linux-gnu-gcc";

/// Host tools the initramfs needs: (program or file, Debian package).
pub const BUILD_TOOLS: &[(&str, &str)] = &[
    ("curl", "curl"),
    ("sha256sum", "coreutils"),
    ("dpkg-deb", "dpkg"),
    (CROSS_GCC, "gcc-aarch64-linux-gnu"),
    ("/usr/aarch64-linux-gnu/lib/libc.a", "libc6-dev-arm64-cross"),
    ("/usr/aarch64-linux-gnu/include/linux/tee.h", "linux-libc-dev-arm64-cross"),
];

/// The guests' `/init`: mount the kernel's file systems, list the FF-A partitions the kernel
/// found, run the TEE test, unbind the OP-TEE driver (which releases its last shared memory);
/// in the second guest (its boot arguments name a victim handle) load `ffa_cross`, which tries
/// to reclaim and retrieve the first guest's memory; power off (PSCI SYSTEM_OFF).
const INIT: &str = r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "init: userspace is running"
for device in /sys/bus/arm_ffa/devices/*; do
    [ -e "$device" ] || continue
    echo "init: arm-ffa device $(basename "$device"): partition $(cat "$device/partition_id" 2>/dev/null) uuid $(cat "$device/uuid" 2>/dev/null)"
done
ls /dev/tee* 2>/dev/null | sed 's/^/init: found /'
/bin/tee-test
echo "init: tee-test exit status $?"
# Unbinding the OP-TEE driver frees its own message buffer (UNREGISTER_SHM, FFA_MEM_RECLAIM),
# so nothing stays shared when the guest powers off.
for device in /sys/bus/arm_ffa/drivers/optee/arm-ffa-*; do
    [ -e "$device" ] || continue
    name=$(basename "$device")
    echo "$name" > /sys/bus/arm_ffa/drivers/optee/unbind && echo "init: OP-TEE driver unbound from $name"
done
# The second guest: the hypervisor wrote the first guest's live handle and ID here.
victim=$(sed -n 's/.*ffa_cross\.victim=\(0x[0-9a-f]*\).*/\1/p' /proc/cmdline)
owner=$(sed -n 's/.*ffa_cross\.owner=\(0x[0-9a-f]*\).*/\1/p' /proc/cmdline)
if [ -n "$victim" ]; then
    echo "init: cross-guest check: handle $victim of VM $owner"
    insmod /lib/ffa_cross.ko victim="$victim" owner="$owner" || echo "init: insmod failed"
fi
echo "init: powering off"
poweroff -f
"#;

fn sha256(path: &Path) -> Option<String> {
    let output = shell::output(Command::new("sha256sum").arg(path))?;
    output.split_whitespace().next().map(str::to_owned)
}

/// Fetches (once) and unpacks busybox; returns the path of the arm64 `busybox` binary.
fn busybox(cache: &Path) -> Result<PathBuf, String> {
    let directory = cache.join("busybox");
    let binary = directory.join("bin/busybox");
    if binary.is_file() {
        return Ok(binary);
    }
    let step = Step::start(&format!("fetching Debian's busybox-static {BUSYBOX_VERSION} (arm64)"));
    std::fs::create_dir_all(cache).map_err(|error| format!("{}: {error}", cache.display()))?;
    let file_name = format!("busybox-static_{BUSYBOX_VERSION}_arm64.deb");
    let package = cache.join(&file_name);
    if sha256(&package).as_deref() != Some(BUSYBOX_SHA256) {
        shell::run(
            Command::new("curl")
                .args(["--fail", "--silent", "--show-error", "--location", "--output"])
                .arg(&package)
                .arg(format!("{BUSYBOX_POOL}/{file_name}")),
        )?;
    }
    let found = sha256(&package).unwrap_or_default();
    if found != BUSYBOX_SHA256 {
        return Err(format!(
            "{}: SHA-256 {found}, expected {BUSYBOX_SHA256} (pinned in xtask/src/linux/initramfs.rs)",
            package.display()
        ));
    }
    shell::run(Command::new("dpkg-deb").arg("-x").arg(&package).arg(&directory))?;
    if !binary.is_file() {
        return Err(format!("{} has no bin/busybox", package.display()));
    }
    step.done();
    Ok(binary)
}

/// Compiles the test program (static, arm64) into `cache`.
fn test_program(cache: &Path) -> Result<PathBuf, String> {
    let source = shell::repository_root().join(TEST_SOURCE);
    let output = cache.join("tee-test");
    shell::run(
        Command::new(CROSS_GCC)
            .args(["-static", "-s", "-O2", "-Wall", "-Wextra", "-Werror", "-o"])
            .arg(&output)
            .arg(&source),
    )?;
    Ok(output)
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|error| format!("{}: {error}", path.display()))
}

/// Builds the initramfs (an uncompressed newc cpio) with the cross-guest `module`; returns
/// its path.
pub fn build(cache: &Path, module: &Path) -> Result<PathBuf, String> {
    let step = Step::start("initramfs: busybox, tee-test, ffa_cross.ko and /init");
    let module = read(module)?;
    let busybox = read(&busybox(cache)?)?;
    let test = read(&test_program(cache)?)?;
    let mut archive = Archive::new();
    for directory in ["bin", "dev", "lib", "proc", "sys", "tmp"] {
        archive.directory(directory);
    }
    // The kernel opens /dev/console for init before devtmpfs is mounted.
    archive.character_device("dev/console", 0o600, 5, 1);
    archive.file("bin/busybox", 0o755, &busybox);
    archive.symbolic_link("bin/sh", "busybox");
    archive.file("bin/tee-test", 0o755, &test);
    archive.file("lib/ffa_cross.ko", 0o644, &module);
    archive.file("init", 0o755, INIT.as_bytes());
    let path = cache.join("initramfs-guests.cpio");
    std::fs::write(&path, archive.finish())
        .map_err(|error| format!("{}: {error}", path.display()))?;
    step.done();
    Ok(path)
}
