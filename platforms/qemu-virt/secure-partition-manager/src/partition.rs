//! The secure partitions: execution contexts, their EL1 state, and which CPU has it loaded.
//!
//! Each bring-up partition has one execution context ("UP migratable"): it runs on whichever
//! CPU a request arrives on, one CPU at a time (its lock). A CPU keeps the EL1 registers and
//! stage-2 of the last partition it ran; they are switched only when it runs another one.

use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use aarch64_cpu::registers::ESR_EL2;
use platform_common::el1_context::El1Registers;

use crate::stage2::{self, MAXIMUM_PARTITIONS};
use platform_common::guest::{self, GuestRegisters};

const FFA_MSG_WAIT: u64 = 0x8400_006B;
/// ESR exception class of an SMC (trapped by HCR_EL2.TSC).
const EC_SMC64: u64 = ESR_EL2::EC::Value::SMC64 as u64;
/// SPSR for entering EL1 with SP_EL1 (EL1h), D/A/I/F masked.
const SPSR_EL1H_MASKED: u64 = 0x3c5;
/// SCTLR_EL1 reset value with its RES1 bits: MMU and caches off.
const SCTLR_EL1_RESET: u64 = 0x30D0_0800;
const CPUS: usize = 4;
const NONE_LOADED: usize = usize::MAX;

/// The partitions, each behind its own lock (taken for as long as it runs).
static PARTITIONS: [spin::Mutex<Option<Partition>>; MAXIMUM_PARTITIONS] =
    [const { spin::Mutex::new(None) }; MAXIMUM_PARTITIONS];

/// The partitions' IDs, readable without taking their locks (0: no partition in that slot).
static IDS: [AtomicU64; MAXIMUM_PARTITIONS] = [const { AtomicU64::new(0) }; MAXIMUM_PARTITIONS];

/// Puts a booted partition in slot `index`.
pub fn install(index: usize, partition: Partition) {
    if let (Some(slot), Some(id)) = (PARTITIONS.get(index), IDS.get(index)) {
        id.store(partition.id, Ordering::Release);
        *slot.lock() = Some(partition);
    }
}

/// The slot of the partition with endpoint ID `id`.
pub fn find(id: u64) -> Option<&'static spin::Mutex<Option<Partition>>> {
    let index = IDS.iter().position(|slot| id != 0 && slot.load(Ordering::Acquire) == id)?;
    PARTITIONS.get(index)
}

/// Per CPU: the index of the partition whose EL1 state and stage-2 are loaded.
static LOADED: [AtomicUsize; CPUS] = [const { AtomicUsize::new(NONE_LOADED) }; CPUS];

/// A partition's saved state.
#[derive(Debug)]
pub struct Partition {
    pub id: u64,
    pub aborted: bool,
    index: usize,
    registers: GuestRegisters,
    el1: El1Registers,
}

impl Partition {
    /// Runs new partition `index` from `entry` on `cpu` until it ends its initialisation.
    pub fn boot(index: usize, id: u64, entry: u64, cpu: usize) -> Self {
        let mut el1 = El1Registers::ZERO;
        el1.sctlr = SCTLR_EL1_RESET;
        let mut partition =
            Self { id, aborted: false, index, registers: GuestRegisters::default(), el1 };
        partition.registers.elr = entry;
        partition.registers.spsr = SPSR_EL1H_MASKED;
        match partition.run_until_call(cpu) {
            Some(call) if call[0] == FFA_MSG_WAIT => {
                defmt::info!("spmc: partition {=u64:#x} initialised (FFA_MSG_WAIT)", id)
            }
            Some(call) => {
                defmt::error!(
                    "spmc: partition {=u64:#x} ended its boot with {=u64:#x}; aborted",
                    id,
                    call[0]
                );
                partition.aborted = true;
            }
            None => {}
        }
        partition
    }

    /// Runs the partition on `cpu` until it makes an FF-A call; returns that call's x0-x7, or
    /// None if it faulted (it is then marked aborted).
    fn run_until_call(&mut self, cpu: usize) -> Option<[u64; 8]> {
        let loaded = LOADED.get(cpu)?;
        if loaded.load(Ordering::Relaxed) != self.index {
            self.el1.restore();
            stage2::switch_to(self.index);
            loaded.store(self.index, Ordering::Relaxed);
        }
        // SAFETY: the partition's stage-2 (switched in above, built at boot) maps only its own
        // memory and log UART, and its registers hold a state it left or its entry at EL1.
        let exit = unsafe { guest::run(&mut self.registers) };
        // The next run may be on another CPU, which cannot read this one's registers.
        self.el1.save();
        if exit.class() != Some(EC_SMC64) {
            let fault_address = platform_common::read_sysreg!("far_el2");
            defmt::error!(
                "spmc: partition {=u64:#x} stopped with ESR_EL2 {=u64:#x} at {=u64:#x} (FAR {=u64:#x}); marked aborted",
                self.id,
                exit.syndrome,
                self.registers.elr,
                fault_address
            );
            self.aborted = true;
            return None;
        }
        // A trapped SMC returns to the SMC itself; the partition resumes after it.
        self.registers.elr += 4;
        let mut call = [0u64; 8];
        call.copy_from_slice(&self.registers.x[..8]);
        Some(call)
    }

    /// Delivers `message` in x0-x7 and runs the partition on `cpu` until its next call.
    pub fn deliver(&mut self, message: &[u64; 8], cpu: usize) -> Option<[u64; 8]> {
        self.registers.x[..8].copy_from_slice(message);
        self.run_until_call(cpu)
    }
}
