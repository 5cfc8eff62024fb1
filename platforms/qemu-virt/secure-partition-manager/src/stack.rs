//! The CPUs' stacks: where each one is, and how deep each has been (painted at boot, measured).
//!
//! The linker script's `.stack` area holds `CPUS` stacks of `PER_CPU` bytes: CPU `n` (1-3, as
//! the EL3 monitor numbers them) uses the `n`-th from the bottom, the boot CPU the top one.
//! Before the secondary CPUs start, the boot CPU's `set_up` may run deeper than its own stack
//! into theirs (its frame holds the partition packages and descriptions it configures the
//! core from); it returns before any of them starts, and its depth is logged at boot.
//!
//! The area is painted with a pattern at boot; the first word from a stack's bottom that no
//! longer holds the pattern shows how deep that stack has been. `report` logs a stack's depth
//! when it has grown since the last report: the numbers `PER_CPU` is sized from.

use core::sync::atomic::{AtomicUsize, Ordering};

use crate::contexts::CPUS;

/// Bytes of stack per CPU: the deepest serving path measured on QEMU (6,944 bytes: the
/// conformance suite and the demo) and bounded at build time (7,312: `cargo xtask build`
/// fails if a path needs more); see docs/src/memory-map.md.
pub const PER_CPU: usize = 8 * 1024;

/// What unused stack words hold.
const PAINT: u64 = 0x5AC4_5AC4_5AC4_5AC4;
/// Bytes below the current stack pointer left unpainted (the painter's own callees).
const PAINT_MARGIN: usize = 512;

extern "C" {
    static __stack_bottom: u8;
    static __stack_top: u8;
}

/// Per CPU: the depth last reported (the boot CPU is entry 0).
static REPORTED: [AtomicUsize; CPUS] = [const { AtomicUsize::new(0) }; CPUS];

fn bottom() -> usize {
    core::ptr::addr_of!(__stack_bottom) as usize
}

fn top() -> usize {
    core::ptr::addr_of!(__stack_top) as usize
}

/// Whether the linker script's stack area is the `CPUS` stacks of `PER_CPU` bytes this image
/// places (the boot code checks it once).
pub fn area_matches() -> bool {
    top() - bottom() == CPUS * PER_CPU
}

/// Where CPU `cpu`'s stack is (0 is the boot CPU, at the top).
fn region(cpu: usize) -> (usize, usize) {
    let slot = if cpu == 0 { CPUS } else { cpu };
    let end = bottom() + slot * PER_CPU;
    (end - PER_CPU, end)
}

fn stack_pointer() -> usize {
    let pointer: usize;
    #[cfg(target_arch = "aarch64")]
    // SAFETY: reads SP only.
    unsafe {
        core::arch::asm!("mov {}, sp", out(reg) pointer, options(nomem, nostack, preserves_flags))
    };
    #[cfg(not(target_arch = "aarch64"))]
    {
        pointer = top();
    }
    pointer
}

/// Paints the stack area below this CPU's current stack pointer. Only on the boot CPU while
/// no other CPU runs in this image.
#[inline(never)]
pub fn paint() {
    let end = stack_pointer().saturating_sub(PAINT_MARGIN) & !7;
    let mut address = bottom();
    while address < end {
        // SAFETY: the stack area below this CPU's stack pointer (and its margin) is used by
        // no one: the other CPUs have not started.
        unsafe { core::ptr::write_volatile(address as *mut u64, PAINT) };
        address += 8;
    }
}

/// How many bytes below `end` have been used since painting, scanning up from `start`.
fn depth(start: usize, end: usize) -> usize {
    let mut address = start;
    // SAFETY: `start..end` is in the stack area; reading a word another CPU may be writing
    // gives this estimate its value or the pattern, either of which is harmless here.
    while address < end && unsafe { core::ptr::read_volatile(address as *const u64) } == PAINT {
        address += 8;
    }
    end - address
}

/// How deep the boot CPU's stack has been since painting, across the whole area (for
/// `set_up`, which may use the secondary CPUs' stacks).
pub fn boot_depth() -> usize {
    depth(bottom(), top())
}

/// Logs each CPU stack's depth that has grown since last logged. Called when a partition's
/// pages are unmapped (`shared_memory`): a scan of the four stacks' unused parts.
#[inline(never)]
#[cold]
pub fn report() {
    for (cpu, reported) in REPORTED.iter().enumerate() {
        let (start, end) = region(cpu);
        let used = depth(start, end);
        if reported.fetch_max(used, Ordering::Relaxed) < used {
            defmt::info!(
                "spmc: cpu {=usize} stack: {=usize} of {=usize} bytes used at most",
                cpu,
                used,
                PER_CPU
            );
        }
    }
}
