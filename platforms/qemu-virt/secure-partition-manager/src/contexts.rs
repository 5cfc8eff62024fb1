//! The partitions' execution contexts: saved registers, which CPU has whose state loaded, and
//! running a context at S-EL1 until its next FF-A call or fault.
//!
//! The spmc crate's core decides which context runs where (and guarantees a context runs on
//! one CPU at a time); this module only keeps each context's registers and carries out
//! `Start`, `Enter` and `Restore`. A CPU keeps the stage-2 of the partition it ran last and
//! switches it only when it runs another one. EL1 registers are saved after every run because
//! the context's next run may be on another CPU, and are loaded before a run unless the CPU
//! still holds them; the normal world's EL1 registers are set aside and given back around
//! partition runs by `normal_world_el1` (the EL3 monitor does not switch EL1 registers).

use core::sync::atomic::{AtomicUsize, Ordering};

use aarch64_cpu::registers::ESR_EL2;
use platform_common::el1_context::El1Registers;
use platform_common::guest::{self, GuestRegisters};
use platform_common::smc::smc_in_place;

use crate::normal_world_el1;
use crate::stage2::{self, MAXIMUM_PARTITIONS};

/// Execution contexts per partition (one per CPU for MP partitions).
pub const MAXIMUM_CONTEXTS: usize = 4;
/// CPUs of the board.
pub const CPUS: usize = 4;

const EC_SMC64: u64 = ESR_EL2::EC::Value::SMC64 as u64;
const EC_HVC64: u64 = ESR_EL2::EC::Value::HVC64 as u64;
/// SPSR for entering EL1 with SP_EL1 (EL1h), D/A/I/F masked.
const SPSR_EL1H_MASKED: u64 = 0x3c5;
/// SCTLR_EL1 reset value with its RES1 bits: MMU and caches off.
const SCTLR_EL1_RESET: u64 = 0x30D0_0800;
const NONE_LOADED: usize = usize::MAX;

/// One execution context's saved state.
struct SavedContext {
    registers: GuestRegisters,
    el1: El1Registers,
}

impl SavedContext {
    const EMPTY: Self = Self { registers: GuestRegisters::ZERO, el1: El1Registers::ZERO };
}

/// Every context, each behind its own lock (held only while it runs on one CPU).
static CONTEXTS: [[spin::Mutex<SavedContext>; MAXIMUM_CONTEXTS]; MAXIMUM_PARTITIONS] =
    [const { [const { spin::Mutex::new(SavedContext::EMPTY) }; MAXIMUM_CONTEXTS] };
        MAXIMUM_PARTITIONS];

/// Per CPU: which partition's stage-2 is loaded.
static STAGE2_LOADED: [AtomicUsize; CPUS] = [const { AtomicUsize::new(NONE_LOADED) }; CPUS];

/// How a context's run ended.
#[derive(Debug, Clone, Copy)]
pub enum Stop<'a> {
    /// It made an FF-A call (SMC or HVC) with these x0-x17 (its saved registers, borrowed).
    Call(&'a [u64; 18]),
    /// It took an exception the SPMC does not handle (ESR_EL2, or bit 63 for an interrupt),
    /// with FAR_EL2 and the address it would resume at.
    Fault { syndrome: u64, address: u64, resume: u64 },
}

/// Which context to run, and how.
#[derive(Debug, Clone, Copy)]
pub enum Entry<'a> {
    /// First entry at `entry` (registers zero).
    Start { entry: u64 },
    /// Resume with x0-x17 set to the registers.
    Enter(&'a [u64; 18]),
    /// Resume as it was left (after a preemption).
    Restore,
}

/// Runs context `context` of partition `partition` on `cpu` until its next call or fault,
/// and returns what `stopped` makes of how it stopped (called while the context's registers
/// are still locked, so a call's registers are read in place; its result is returned as it is,
/// not wrapped, so the caller's delivery is built in place). Indices out of range (the core
/// never names such a context) stop the SPMC.
pub fn run<R>(
    partition: usize,
    context: usize,
    cpu: usize,
    entry: Entry<'_>,
    stopped: impl FnOnce(Stop<'_>) -> R,
) -> R {
    let slot = CONTEXTS.get(partition).and_then(|contexts| contexts.get(context));
    let (Some(slot), Some(stage2_loaded)) = (slot, STAGE2_LOADED.get(cpu)) else {
        defmt::error!(
            "spmc: the core named context {=usize} of slot {=usize} on cpu {=usize}, beyond this image's capacity",
            context,
            partition,
            cpu
        );
        platform_common::semihosting::exit(6)
    };
    let key = partition * MAXIMUM_CONTEXTS + context;
    // The core runs a context on one CPU at a time, so this lock is never contended; it only
    // makes the exclusive access visible to the compiler.
    let mut saved = slot.lock();
    match entry {
        Entry::Start { entry } => {
            saved.registers = GuestRegisters::ZERO;
            saved.registers.elr = entry;
            saved.registers.spsr = SPSR_EL1H_MASKED;
            saved.el1 = El1Registers::ZERO;
            saved.el1.sctlr = SCTLR_EL1_RESET;
            // Boot information as TF-A's SPMC passes it to an S-EL1 partition: x4 = CPU index.
            saved.registers.x[4] = cpu as u64;
            normal_world_el1::forget_context(key);
            // Also after a power cycle of the CPU, whose stage-2 registers are then unknown.
            stage2_loaded.store(NONE_LOADED, Ordering::Relaxed);
        }
        Entry::Enter(_) | Entry::Restore => {}
    }
    normal_world_el1::load_context(key, &saved.el1);
    if stage2_loaded.load(Ordering::Relaxed) != partition {
        stage2::switch_to(partition);
        stage2_loaded.store(partition, Ordering::Relaxed);
    }
    // SAFETY: the partition's stage-2 (switched in above, built at boot) maps only its own
    // memory and log UART, and its registers hold a state it left or its entry at EL1 (with a
    // message in x0-x17 for `Enter`).
    let exit = unsafe {
        match entry {
            Entry::Enter(message) => guest::run_with_arguments(&mut saved.registers, message),
            Entry::Start { .. } | Entry::Restore => guest::run(&mut saved.registers),
        }
    };
    saved.el1.save();
    match exit.class() {
        Some(class @ (EC_SMC64 | EC_HVC64)) => {
            // A trapped SMC returns to the SMC itself; an HVC to the next instruction.
            if class == EC_SMC64 {
                saved.registers.elr += 4;
            }
            let (message, _) = saved.registers.x.split_first_chunk::<18>().unwrap_or_else(|| {
                // x0-x30 always have 18 leading registers.
                platform_common::semihosting::exit(6)
            });
            stopped(Stop::Call(message))
        }
        _ => stopped(Stop::Fault {
            syndrome: exit.syndrome,
            address: platform_common::read_sysreg!("far_el2"),
            resume: saved.registers.elr,
        }),
    }
}

/// Calls the EL3 monitor with `registers` for the normal world (an answer, or a message for
/// it), giving the normal world its EL1 registers back first; what the monitor returns (the
/// normal world's next call) is left in `registers`.
pub fn call_normal_world(registers: &mut [u64; 18]) {
    normal_world_el1::give_back_to_normal_world();
    smc_in_place(registers);
}
