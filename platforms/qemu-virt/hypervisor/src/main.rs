//! The NS-EL2 hypervisor for QEMU virt.
//!
//! It runs the normal world's side of the platform checks. It negotiates the FF-A version, asks
//! its ID, sends direct requests to partition 0x8001 and counts what a round trip costs with
//! the generic counter; then the stress phase: it starts the other CPUs with PSCI CPU_ON, has
//! all four send 10,000 direct requests each at once (a busy partition answers BUSY and the
//! request is retried) while the boot CPU also shares, has written, checks and reclaims pages
//! of its own memory 100 times (`stress.rs`), and turns the secondaries off again. Then it
//! runs the test VMs through the spmc crate's forwarder role (`forwarder.rs`, `vm.rs`), checks
//! fault isolation (after the VMs, so VM 1's conformance suite has both partitions as its
//! servers) and powers off.
#![no_std]
#![no_main]

platform_common::simple_entry!();

mod forwarder;
mod linux_devices;
mod linux_guest;
mod linux_memory;
mod linux_pair;
mod mailbox;
mod policy;
mod shared_memory;
mod stress;
mod vm;

use core::fmt::Write;
use core::sync::atomic::{AtomicU64, Ordering};

use aarch64_cpu::registers::{CurrentEL, Readable, CNTFRQ_EL0, CNTPCT_EL0};
use platform_common::pl011::Pl011;
use platform_common::smc::smc;

use platform_common::board::{self, CONSOLE_UART};
const FFA_ERROR: u64 = 0x8400_0060;
const FFA_VERSION: u64 = 0x8400_0063;
const FFA_ID_GET: u64 = 0x8400_0069;
const FFA_MSG_SEND_DIRECT_REQ_32: u64 = 0x8400_006F;
const FFA_MSG_SEND_DIRECT_RESP_32: u64 = 0x8400_0070;
const BUSY: u64 = 0xFFFF_FFFC;
const PSCI_CPU_OFF: u64 = 0x8400_0002;
const PSCI_CPU_ON_64: u64 = 0xC400_0003;
const PSCI_AFFINITY_INFO_64: u64 = 0xC400_0004;
const PSCI_SYSTEM_OFF: u64 = 0x8400_0008;
const SMCCC_VERSION: u64 = 0x8000_0000;
const PARTITION: u64 = 0x8001;
const SECOND_PARTITION: u64 = 0x8002;
/// w3 that makes a test partition write outside its memory (see test-partition).
const FAULT_COMMAND: u64 = 0xFA17;
const ABORTED: u64 = 0xFFFF_FFF8;
const ROUND_TRIPS: u64 = 1000;
const CPUS: usize = 4;
/// CNTFRQ under `cargo xtask bench --qemu`'s instruction-counting run.
const INSTRUCTION_COUNTING_FREQUENCY: u64 = 1_000_000_000;
/// How long the boot CPU waits for the others, in seconds of generic-counter time.
const SECONDARY_DEADLINE_SECONDS: u64 = 40;
/// Direct requests each CPU sends in the stress phase.
const STRESS_REQUESTS: u64 = 10_000;
/// Share rounds the boot CPU runs among its requests in the stress phase.
const SHARE_ROUNDS: u64 = 100;

/// Per CPU: (requests answered correctly, wrong answers, BUSY retries), and how many finished.
static ANSWERED: [AtomicU64; CPUS] = [const { AtomicU64::new(0) }; CPUS];
static WRONG: [AtomicU64; CPUS] = [const { AtomicU64::new(0) }; CPUS];
static BUSY_RETRIES: [AtomicU64; CPUS] = [const { AtomicU64::new(0) }; CPUS];
static FINISHED: AtomicU64 = AtomicU64::new(0);
/// Share rounds of the stress phase: completed (shared, written, checked, reclaimed), failed.
static SHARES_DONE: AtomicU64 = AtomicU64::new(0);
static SHARES_FAILED: AtomicU64 = AtomicU64::new(0);

/// Counter ticks of each of the boot CPU's timed round trips (only the boot CPU writes it,
/// before any other CPU starts).
struct RoundTrips(core::cell::UnsafeCell<[u64; ROUND_TRIPS as usize]>);
// SAFETY: written and read only by the boot CPU (see above).
unsafe impl Sync for RoundTrips {}
static ROUND_TRIP_TICKS: RoundTrips =
    RoundTrips(core::cell::UnsafeCell::new([0; ROUND_TRIPS as usize]));

extern "C" {
    fn hypervisor_secondary_start() -> !;
}

#[cfg(target_arch = "aarch64")]
core::arch::global_asm!(
    r#"
    .section .text, "ax"
    .global hypervisor_secondary_start
hypervisor_secondary_start:
    // x0 = context ID = this CPU's index (1-3); its 16 KiB of stack are the index-th from
    // the bottom of the stack area (the boot CPU uses the rest, from the top).
    ldr     x1, =__stack_bottom
    mov     x2, #16384
    madd    x1, x0, x2, x1
    mov     sp, x1
    bl      secondary_main
    b       .
    .ltorg
"#
);

pub(crate) fn call(registers: &[u64]) -> [u64; 18] {
    let mut all = [0u64; 18];
    for (slot, value) in all.iter_mut().zip(registers) {
        *slot = *value;
    }
    smc(all)
}

fn direct_request(value: u64) -> [u64; 18] {
    direct_request_to(PARTITION, value)
}

fn direct_request_to(partition: u64, value: u64) -> [u64; 18] {
    call(&[FFA_MSG_SEND_DIRECT_REQ_32, partition, 0, value])
}

/// What a direct request got back, for the console.
fn outcome(reply: &[u64; 18], value: u64) -> &'static str {
    match (reply[0], reply[2]) {
        (FFA_MSG_SEND_DIRECT_RESP_32, _) if reply[3] == value + 1 => "answered",
        (FFA_ERROR, ABORTED) => "ABORTED",
        (FFA_ERROR, BUSY) => "BUSY",
        (FFA_ERROR, _) => "another error",
        _ => "a wrong answer",
    }
}

/// Runs each test VM until it powers off.
fn run_guests(console: &mut Pl011) {
    // The core is large: it is configured in place in a static, never on a CPU's stack.
    let manager: &forwarder::Manager = match forwarder::build() {
        Ok(built) => {
            if let Some(error) = built.buffers_refused {
                let _ = writeln!(
                    console,
                    "hypervisor: the SPMC refused the hypervisor's RX/TX buffers ({error:#x}): no memory sharing with partitions"
                );
            }
            built.manager
        }
        Err(problem) => {
            let _ = writeln!(console, "hypervisor: cannot set up the FF-A forwarder: {problem:?}");
            return;
        }
    };
    let _ = writeln!(
        console,
        "hypervisor: forwarder ready (spmc crate, forwarder role): {} VMs, partitions learned from the SPMC",
        board::GUESTS.len()
    );
    platform_common::guest::install_vectors();
    if linux_guest::present(0) {
        run_linux(manager);
        return;
    }
    for (index, board::GuestPlacement { ram, id }) in board::GUESTS.into_iter().enumerate() {
        let Some(mut guest) = vm::Vm::new(index, id, ram) else {
            let _ = writeln!(console, "hypervisor: VM {id}: cannot map its memory");
            continue;
        };
        let ending = guest.run(manager);
        let _ = writeln!(console, "hypervisor: VM {} ended: {:?}", guest.id, ending);
    }
}

/// `cargo xtask linux` placed a Linux guest in VM 1's RAM: it runs as VM 1 on this CPU, and
/// when a second one is in VM 2's RAM, that one runs as VM 2 on CPU 1 at the same time
/// (`linux_pair.rs`). The guests' devices are emulated (`linux_devices.rs`), the real GIC
/// distributor is enabled here, once.
fn run_linux(manager: &'static forwarder::Manager) {
    linux_devices::enable_distributor();
    let paired =
        board::SECONDARY_CPUS && linux_pair::second_present() && linux_pair::start_second(manager);
    let Some(first) = linux_guest::Guest::new(0, 0) else { return };
    linux_devices::say_plain(format_args!(
        "hypervisor: Linux guests: VM {} on CPU 0{}",
        first.id,
        if paired { ", VM 2 on CPU 1 (two guests)" } else { " (one guest)" }
    ));
    let ending = linux_guest::run(manager, &first);
    linux_devices::say(first.id, format_args!("hypervisor: Linux guest ended: {ending:x?}"));
    linux_pair::first_ended();
}

/// Any EL2 exception that is not a guest's trap.
#[no_mangle]
extern "C" fn guest_unexpected_exception(kind: u64) -> ! {
    let syndrome = platform_common::read_sysreg!("esr_el2");
    let link = platform_common::read_sysreg!("elr_el2");
    let _ = writeln!(
        console(),
        "hypervisor: FATAL exception (vector {kind}): ESR_EL2={syndrome:#x} ELR_EL2={link:#x}"
    );
    platform_common::semihosting::exit(6)
}

/// A partition told to fault must be marked aborted without disturbing the others.
fn fault_isolation(console: &mut Pl011) {
    let before = outcome(&direct_request_to(SECOND_PARTITION, 7), 7);
    let fault = outcome(&direct_request_to(SECOND_PARTITION, FAULT_COMMAND), FAULT_COMMAND);
    let after = outcome(&direct_request_to(SECOND_PARTITION, 8), 8);
    let other = outcome(&direct_request_to(PARTITION, 9), 9);
    let _ = writeln!(
        console,
        "hypervisor: fault isolation: {SECOND_PARTITION:#x} {before}; told to fault: {fault}; then {SECOND_PARTITION:#x} {after}, {PARTITION:#x} {other}"
    );
}

fn counter() -> u64 {
    #[cfg(target_arch = "aarch64")]
    // SAFETY: an instruction barrier so the counter read is not hoisted.
    unsafe {
        core::arch::asm!("isb", options(nostack))
    };
    CNTPCT_EL0.get()
}

pub(crate) fn console() -> Pl011 {
    // SAFETY: on QEMU virt this is the non-secure PL011, the console; lines from several CPUs
    // may interleave, which is harmless.
    unsafe { Pl011::new(CONSOLE_UART) }
}

/// Sends direct requests with payloads `values` from `cpu`, retrying those answered BUSY, and
/// records results.
fn request_burst(cpu: usize, values: core::ops::Range<u64>) {
    for value in values {
        loop {
            let reply = direct_request(value);
            if reply[0] == FFA_ERROR && reply[2] == BUSY {
                BUSY_RETRIES[cpu].fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let ok = reply[0] == FFA_MSG_SEND_DIRECT_RESP_32 && reply[3] == value + 1;
            if ok { &ANSWERED[cpu] } else { &WRONG[cpu] }.fetch_add(1, Ordering::Relaxed);
            break;
        }
    }
}

/// A CPU started by PSCI CPU_ON: a burst of requests, then CPU_OFF.
#[no_mangle]
extern "C" fn secondary_main(cpu: usize) -> ! {
    request_burst(cpu.min(CPUS - 1), 0..STRESS_REQUESTS);
    FINISHED.fetch_add(1, Ordering::AcqRel);
    call(&[PSCI_CPU_OFF]);
    let _ = writeln!(console(), "hypervisor: cpu {cpu}: PSCI CPU_OFF returned");
    loop {
        core::hint::spin_loop();
    }
}

fn all_cpus(console: &mut Pl011) {
    let started = (1..CPUS).filter(|&cpu| {
        let result = call(&[
            PSCI_CPU_ON_64,
            cpu as u64,
            hypervisor_secondary_start as *const () as u64,
            cpu as u64,
        ])[0];
        if result != 0 {
            let _ = writeln!(console, "hypervisor: PSCI CPU_ON cpu {cpu} failed ({result:#x})");
        }
        result == 0
    });
    let started = started.count() as u64;
    // The boot CPU interleaves share rounds with its requests while the others send theirs.
    let chunk = STRESS_REQUESTS / SHARE_ROUNDS;
    let mut share_busy = 0;
    for round in 0..SHARE_ROUNDS {
        request_burst(0, round * chunk..(round + 1) * chunk);
        match stress::round(0x5EED + round as u32, &mut share_busy) {
            Ok(()) => SHARES_DONE.fetch_add(1, Ordering::Relaxed),
            Err(problem) => {
                if SHARES_FAILED.fetch_add(1, Ordering::Relaxed) == 0 {
                    let _ = writeln!(
                        console,
                        "hypervisor: stress: share round {round} failed: {problem:?}"
                    );
                }
                0
            }
        };
    }
    let deadline = counter() + SECONDARY_DEADLINE_SECONDS * CNTFRQ_EL0.get();
    while FINISHED.load(Ordering::Acquire) < started && counter() < deadline {
        core::hint::spin_loop();
    }
    let (mut answered, mut wrong, mut busy) = (0, 0, 0);
    for cpu in 0..CPUS {
        answered += ANSWERED[cpu].load(Ordering::Relaxed);
        wrong += WRONG[cpu].load(Ordering::Relaxed);
        busy += BUSY_RETRIES[cpu].load(Ordering::Relaxed);
    }
    let _ = writeln!(
        console,
        "hypervisor: {} CPUs x {STRESS_REQUESTS} direct requests at once: {answered} answered, {wrong} wrong, {} missing, {busy} BUSY retries",
        started + 1,
        (started + 1) * STRESS_REQUESTS - answered - wrong
    );
    let _ = writeln!(
        console,
        "hypervisor: meanwhile {} of {SHARE_ROUNDS} MEM_SHARE rounds shared, written by {PARTITION:#x}, checked and reclaimed ({} failed, {share_busy} BUSY retries)",
        SHARES_DONE.load(Ordering::Relaxed),
        SHARES_FAILED.load(Ordering::Relaxed)
    );
    // Secondaries call CPU_OFF right after finishing; wait until the monitor reports them off.
    let deadline = counter() + SECONDARY_DEADLINE_SECONDS * CNTFRQ_EL0.get();
    let mut off = 0;
    while counter() < deadline {
        off =
            (1..CPUS).filter(|&cpu| call(&[PSCI_AFFINITY_INFO_64, cpu as u64, 0])[0] == 1).count();
        if off == CPUS - 1 {
            break;
        }
    }
    let _ = writeln!(
        console,
        "hypervisor: PSCI AFFINITY_INFO: {off} of {} secondary CPUs off",
        CPUS - 1
    );
}

#[no_mangle]
extern "C" fn image_main(device_tree: u64) -> ! {
    // The generic counter starts at zero at reset, so this is the time from reset to here.
    let entered = counter();
    let mut console = console();
    let level = CurrentEL.read(CurrentEL::EL);
    let _ =
        writeln!(console, "hypervisor: running at NS-EL{level}, device tree at {device_tree:#x}");
    let smccc = call(&[SMCCC_VERSION])[0];
    let _ = writeln!(console, "hypervisor: SMCCC version {}.{}", smccc >> 16, smccc & 0xFFFF);
    let version = call(&[FFA_VERSION, 0x1_0002])[0];
    let _ = writeln!(console, "hypervisor: FF-A version {}.{}", version >> 16, version & 0xFFFF);
    let id = call(&[FFA_ID_GET]);
    let _ = writeln!(console, "hypervisor: FFA_ID_GET -> {:#x} id {:#x}", id[0], id[2]);
    let reply = direct_request(41);
    let first_message = counter();
    let ok =
        reply[0] == FFA_MSG_SEND_DIRECT_RESP_32 && reply[3] == 42 && reply[1] == (PARTITION << 16);
    let _ = writeln!(
        console,
        "hypervisor: direct request to {PARTITION:#x} with 41 -> {:#x} w3={} ({})",
        reply[0],
        reply[3],
        if ok { "ok" } else { "WRONG" }
    );
    let frequency = CNTFRQ_EL0.get();
    // SAFETY: only the boot CPU touches the array, and no other CPU runs yet.
    let ticks = unsafe { &mut *ROUND_TRIP_TICKS.0.get() };
    let mut failures = 0u64;
    let start = counter();
    for (value, slot) in (0..ROUND_TRIPS).zip(ticks.iter_mut()) {
        let before = counter();
        let reply = direct_request(value);
        *slot = counter().wrapping_sub(before);
        if reply[0] != FFA_MSG_SEND_DIRECT_RESP_32 || reply[3] != value + 1 {
            failures += 1;
        }
    }
    let total = counter().wrapping_sub(start);
    ticks.sort_unstable();
    let _ = writeln!(
        console,
        "hypervisor: {ROUND_TRIPS} direct-request round trips: {failures} failed, {} counter ticks each (counter at {frequency} Hz)",
        total / ROUND_TRIPS
    );
    let _ = writeln!(
        console,
        "hypervisor: round trip ticks: p50 {} min {} max {}; boot: normal world at tick {entered}, first message at tick {first_message}",
        ticks[ticks.len() / 2],
        ticks[0],
        ticks[ticks.len() - 1]
    );
    // A 1 GHz counter means QEMU runs with -icount (instruction counting): it then runs the CPUs
    // one after another, which makes a concurrency check meaningless and very slow.
    if frequency == INSTRUCTION_COUNTING_FREQUENCY {
        let _ =
            writeln!(console, "hypervisor: instruction-counting run: skipping the four-CPU phase");
    } else if !board::SECONDARY_CPUS {
        let _ = writeln!(
            console,
            "hypervisor: {}: secondary CPUs are not started on this board",
            board::NAME
        );
    } else {
        if let Err(error) = shared_memory::map_with_spmc() {
            let _ = writeln!(console, "hypervisor: FFA_RXTX_MAP with the SPMC failed ({error:#x})");
        }
        all_cpus(&mut console);
    }
    run_guests(&mut console);
    fault_isolation(&mut console);
    let _ = writeln!(console, "hypervisor: powering off through PSCI");
    console.flush();
    call(&[PSCI_SYSTEM_OFF]);
    let _ = writeln!(console, "hypervisor: PSCI SYSTEM_OFF returned");
    loop {
        core::hint::spin_loop();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    let _ = writeln!(console(), "hypervisor: PANIC: {info}");
    platform_common::semihosting::exit(101)
}
