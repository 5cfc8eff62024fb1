//! Two Linux guests at once: VM 2 on CPU 1 next to VM 1 on CPU 0, in an order that makes the
//! cross-guest check deterministic without any sleep.
//!
//! When `cargo xtask linux` placed a second guest in VM 2's RAM, the hypervisor starts CPU 1
//! (PSCI CPU_ON, on a stack of its own here) and holds it until VM 1's first FFA_MEM_SHARE
//! (or LEND) has succeeded: that handle is the *victim*. CPU 1 then writes the handle and VM
//! 1's ID into the fixed-width placeholders of VM 2's boot arguments
//! (`ffa_cross.victim=0x0000000000000000 ffa_cross.owner=0x0000`) and starts VM 2, whose
//! `/init` hands them to the `ffa_cross` module. The module tries to reclaim and to retrieve
//! the victim; both must be refused. Meanwhile VM 1 runs on; its FFA_MEM_RECLAIM of the
//! victim is held here until VM 2 has ended, so the handle is live for all of VM 2's
//! attempts, and its reclaim succeeding afterwards shows nothing disturbed it. The hypervisor
//! only sees calls pass: nothing here knows what the guests run.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use aarch64_cpu::registers::{Readable, CNTFRQ_EL0, CNTPCT_EL0};

use crate::forwarder::Manager;
use crate::linux_devices;
use crate::linux_guest::{self, Guest, DEVICE_TREE_OFFSET};

/// Board VM slots and the CPUs the two guests run on.
const FIRST_SLOT: usize = 0;
const SECOND_SLOT: usize = 1;
const SECOND_CPU: u16 = 1;
const PSCI_CPU_ON_64: u64 = 0xC400_0003;
const PSCI_CPU_OFF: u64 = 0x8400_0002;
const FFA_SUCCESS_32: u64 = 0x8400_0061;
/// How long one guest waits for the other, in seconds of counter time (a hang is QEMU's
/// deadline's to catch; this only keeps the machine from waiting forever).
const WAIT_SECONDS: u64 = 240;
/// The placeholders in VM 2's boot arguments (the xtask writes them, all zero digits).
const VICTIM_PLACEHOLDER: &[u8] = b"ffa_cross.victim=0x";
const VICTIM_DIGITS: usize = 16;
const OWNER_PLACEHOLDER: &[u8] = b"ffa_cross.owner=0x";
const OWNER_DIGITS: usize = 4;
/// Largest device tree looked into.
const DEVICE_TREE_LIMIT: usize = 1 << 20;
const STACK_SIZE: usize = 64 * 1024;

/// Whether a second guest runs this time.
static PAIRED: AtomicBool = AtomicBool::new(false);
/// VM 1's first shared handle, once it exists.
static VICTIM: AtomicU64 = AtomicU64::new(0);
static VICTIM_KNOWN: AtomicBool = AtomicBool::new(false);
/// VM 1 has ended (VM 2 then gives up waiting for a victim).
static FIRST_ENDED: AtomicBool = AtomicBool::new(false);
/// VM 2 has ended (or will never start).
static SECOND_ENDED: AtomicBool = AtomicBool::new(false);
/// The forwarder, for CPU 1.
static MANAGER: spin::Once<&'static Manager> = spin::Once::new();

/// CPU 1's stack while it runs VM 2 (the secondary CPUs' own 16 KiB are for the stress phase).
#[repr(C, align(16))]
struct Stack(core::cell::UnsafeCell<[u8; STACK_SIZE]>);
// SAFETY: only CPU 1 uses it, as its stack, from `linux_second_start` on.
unsafe impl Sync for Stack {}
#[no_mangle]
static LINUX_SECOND_STACK: Stack = Stack(core::cell::UnsafeCell::new([0; STACK_SIZE]));

extern "C" {
    fn linux_second_start() -> !;
}

#[cfg(target_arch = "aarch64")]
core::arch::global_asm!(
    r#"
    .section .text, "ax"
    .global linux_second_start
linux_second_start:
    ldr     x1, =LINUX_SECOND_STACK + {size}
    mov     sp, x1
    bl      linux_second_main
    b       .
    .ltorg
"#,
    size = const STACK_SIZE,
);

fn counter() -> u64 {
    #[cfg(target_arch = "aarch64")]
    // SAFETY: an instruction barrier so the counter read is not hoisted.
    unsafe {
        core::arch::asm!("isb", options(nostack))
    };
    CNTPCT_EL0.get()
}

/// Waits until `flag` is set or the wait deadline passes; whether it was set.
fn wait_for(flag: &AtomicBool) -> bool {
    let deadline = counter() + WAIT_SECONDS * CNTFRQ_EL0.get();
    while !flag.load(Ordering::Acquire) {
        if counter() > deadline {
            return false;
        }
        core::hint::spin_loop();
    }
    true
}

/// Whether `cargo xtask linux` placed a second guest, in VM 2's RAM.
pub fn second_present() -> bool {
    linux_guest::present(SECOND_SLOT)
}

/// Starts CPU 1, which waits for VM 1's first share and then runs VM 2. `false` if CPU 1
/// would not start (VM 1 then runs alone).
pub fn start_second(manager: &'static Manager) -> bool {
    MANAGER.call_once(|| manager);
    PAIRED.store(true, Ordering::Release);
    let result = crate::call(&[
        PSCI_CPU_ON_64,
        u64::from(SECOND_CPU),
        linux_second_start as *const () as u64,
        0,
    ])[0];
    if result != 0 {
        PAIRED.store(false, Ordering::Release);
        linux_devices::say_plain(format_args!(
            "hypervisor: PSCI CPU_ON of CPU {SECOND_CPU} for the second Linux guest failed ({result:#x})"
        ));
    }
    result == 0
}

/// CPU 1: waits for the victim handle, writes it into VM 2's boot arguments, runs VM 2.
#[no_mangle]
extern "C" fn linux_second_main() -> ! {
    platform_common::guest::install_vectors();
    let guest = Guest::new(SECOND_SLOT, SECOND_CPU);
    let first = Guest::new(FIRST_SLOT, 0);
    match (guest, first, MANAGER.get()) {
        (Some(guest), Some(first), Some(manager)) => {
            let victim_known = loop {
                if VICTIM_KNOWN.load(Ordering::Acquire) {
                    break true;
                }
                if FIRST_ENDED.load(Ordering::Acquire) {
                    break false;
                }
                core::hint::spin_loop();
            };
            if !victim_known {
                linux_devices::say(
                    guest.id,
                    format_args!(
                        "hypervisor: VM {} shared nothing: VM {} not started",
                        first.id, guest.id
                    ),
                );
            } else if write_boot_arguments(&guest, VICTIM.load(Ordering::Acquire), first.id) {
                linux_devices::say(
                    guest.id,
                    format_args!(
                        "hypervisor: VM {}'s first share is handle {:#x}: VM {} starts with it in its boot arguments; VM {}'s reclaim of it waits until VM {} has ended",
                        first.id,
                        VICTIM.load(Ordering::Acquire),
                        guest.id,
                        first.id,
                        guest.id
                    ),
                );
                let ending = linux_guest::run(manager, &guest);
                linux_devices::say(
                    guest.id,
                    format_args!("hypervisor: Linux guest ended: {ending:x?}"),
                );
            } else {
                linux_devices::say(
                    guest.id,
                    format_args!("hypervisor: VM {}'s boot arguments have no ffa_cross placeholders: not started", guest.id),
                );
            }
        }
        _ => {
            linux_devices::say_plain(format_args!("hypervisor: CPU {SECOND_CPU}: no second guest"))
        }
    }
    SECOND_ENDED.store(true, Ordering::Release);
    crate::call(&[PSCI_CPU_OFF]);
    loop {
        core::hint::spin_loop();
    }
}

/// Writes `digits` hex digits of `value` right after `placeholder` in `text`; whether it was there.
fn patch(text: &mut [u8], placeholder: &[u8], digits: usize, value: u64) -> bool {
    let Some(start) = text.windows(placeholder.len()).position(|window| window == placeholder)
    else {
        return false;
    };
    let Some(field) = text.get_mut(start + placeholder.len()..start + placeholder.len() + digits)
    else {
        return false;
    };
    if !field.iter().all(|digit| *digit == b'0') {
        return false;
    }
    for (index, digit) in field.iter_mut().enumerate() {
        let nibble = (value >> (4 * (digits - 1 - index))) & 0xF;
        *digit = b"0123456789abcdef"[nibble as usize];
    }
    true
}

/// Puts the victim handle and its owner's ID into VM 2's boot arguments (in its device tree).
fn write_boot_arguments(guest: &Guest, victim: u64, owner: u64) -> bool {
    let base = guest.ram_physical() + DEVICE_TREE_OFFSET;
    // SAFETY: the device tree header's totalsize (big-endian, offset 4) in VM 2's RAM, which
    // no guest runs in yet; the hypervisor runs with its MMU off.
    let size = u32::from_be(unsafe { core::ptr::read_volatile((base + 4) as *const u32) });
    let size = (size as usize).min(DEVICE_TREE_LIMIT);
    // SAFETY: the device tree QEMU's loader placed in VM 2's RAM, `size` bytes inside that
    // RAM; VM 2 has not started and nothing else refers to this memory.
    let tree = unsafe { core::slice::from_raw_parts_mut(base as *mut u8, size) };
    patch(tree, VICTIM_PLACEHOLDER, VICTIM_DIGITS, victim)
        && patch(tree, OWNER_PLACEHOLDER, OWNER_DIGITS, owner)
}

/// A guest's share succeeded with `handle`: VM 1's first one is the victim.
pub fn after_share(guest: &Guest, handle: u64) {
    if guest.slot == FIRST_SLOT
        && PAIRED.load(Ordering::Acquire)
        && !VICTIM_KNOWN.load(Ordering::Acquire)
    {
        VICTIM.store(handle, Ordering::Release);
        VICTIM_KNOWN.store(true, Ordering::Release);
    }
}

fn is_victim(guest: &Guest, handle: u64) -> bool {
    guest.slot == FIRST_SLOT
        && PAIRED.load(Ordering::Acquire)
        && VICTIM_KNOWN.load(Ordering::Acquire)
        && VICTIM.load(Ordering::Acquire) == handle
}

/// Before a guest's FFA_MEM_RECLAIM of `handle` is forwarded: VM 1's reclaim of the victim
/// waits until VM 2 has ended.
pub fn before_reclaim(guest: &Guest, handle: u64) {
    if !is_victim(guest, handle) || SECOND_ENDED.load(Ordering::Acquire) {
        return;
    }
    linux_devices::say(
        guest.id,
        format_args!(
            "hypervisor: holding VM {}'s FFA_MEM_RECLAIM of {handle:#x} until VM 2 has ended",
            guest.id
        ),
    );
    let ended = wait_for(&SECOND_ENDED);
    linux_devices::say(
        guest.id,
        format_args!(
            "hypervisor: VM 2 {}: VM {}'s FFA_MEM_RECLAIM of {handle:#x} goes on",
            if ended { "has ended" } else { "did not end in time" },
            guest.id
        ),
    );
}

/// After VM 1's reclaim of the victim: what the owner got.
pub fn after_reclaim(guest: &Guest, call: &[u64; 18], reply: &[u64; 18]) {
    let handle = (call[1] & 0xFFFF_FFFF) | ((call[2] & 0xFFFF_FFFF) << 32);
    if !is_victim(guest, handle) {
        return;
    }
    if reply[0] == FFA_SUCCESS_32 {
        linux_devices::say(
            guest.id,
            format_args!(
                "hypervisor: cross-guest: owner VM {} reclaimed {handle:#x}: FFA_SUCCESS",
                guest.id
            ),
        );
    } else {
        linux_devices::say(
            guest.id,
            format_args!(
                "hypervisor: cross-guest: owner VM {} reclaim of {handle:#x} FAILED: {:#x} error {}",
                guest.id, reply[0], reply[2] as u32 as i32
            ),
        );
    }
}

/// VM 1 has ended: a VM 2 still waiting for a victim gives up; then wait for VM 2 to end.
pub fn first_ended() {
    FIRST_ENDED.store(true, Ordering::Release);
    if PAIRED.load(Ordering::Acquire) && !wait_for(&SECOND_ENDED) {
        linux_devices::say_plain(format_args!(
            "hypervisor: the second Linux guest did not end within {WAIT_SECONDS} s"
        ));
    }
}
