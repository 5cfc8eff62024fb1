//! One secure partition's execution context and its migration between CPUs.
//!
//! The bring-up partition has one execution context (it is "UP migratable"): it runs on
//! whichever CPU a request arrives on, one at a time. Its EL1 registers live in the CPU while
//! it runs; they are saved after every run and loaded again only when the next run is on a
//! different CPU.

use aarch64_cpu::registers::ESR_EL2;
use platform_common::el1_context::El1Registers;

use crate::partition_run::{self, PartitionRegisters};

const FFA_MSG_WAIT: u64 = 0x8400_006B;
/// ESR exception class of an SMC (trapped by HCR_EL2.TSC).
const EC_SMC64: u64 = ESR_EL2::EC::Value::SMC64 as u64;
/// SPSR for entering EL1 with SP_EL1 (EL1h), D/A/I/F masked.
const SPSR_EL1H_MASKED: u64 = 0x3c5;
/// SCTLR_EL1 reset value with its RES1 bits: MMU and caches off.
const SCTLR_EL1_RESET: u64 = 0x30D0_0800;

/// The bring-up stage's only partition.
pub static PARTITION: spin::Mutex<Option<Partition>> = spin::Mutex::new(None);

/// A partition's saved state.
#[derive(Debug)]
pub struct Partition {
    pub id: u64,
    pub aborted: bool,
    registers: PartitionRegisters,
    el1: El1Registers,
    /// The CPU whose EL1 registers hold this partition's state, if any.
    resident_cpu: Option<usize>,
}

impl Partition {
    /// Runs a new partition from `entry` on `cpu` until it ends its initialisation.
    pub fn boot(id: u64, entry: u64, cpu: usize) -> Self {
        let mut el1 = El1Registers::ZERO;
        el1.sctlr = SCTLR_EL1_RESET;
        let mut partition = Self {
            id,
            aborted: false,
            registers: PartitionRegisters::default(),
            el1,
            resident_cpu: None,
        };
        partition.registers.elr = entry;
        partition.registers.spsr = SPSR_EL1H_MASKED;
        match partition.run_until_call(cpu) {
            Some(call) if call[0] == FFA_MSG_WAIT => {
                defmt::info!("spmc: partition {=u64:#x} initialised (FFA_MSG_WAIT)", id)
            }
            Some(call) => {
                defmt::error!("spmc: partition ended its boot with {=u64:#x}; aborted", call[0]);
                partition.aborted = true;
            }
            None => {}
        }
        partition
    }

    /// Runs the partition on `cpu` until it makes an FF-A call; returns that call's x0-x7, or
    /// None if it faulted (it is then marked aborted).
    fn run_until_call(&mut self, cpu: usize) -> Option<[u64; 8]> {
        if self.resident_cpu != Some(cpu) {
            self.el1.restore();
        }
        let exit = partition_run::run(&mut self.registers);
        self.el1.save();
        self.resident_cpu = Some(cpu);
        if exit.syndrome >> 63 != 0 || exit.class() != EC_SMC64 {
            defmt::error!(
                "spmc: partition {=u64:#x} stopped with syndrome {=u64:#x} at {=u64:#x}; marked aborted",
                self.id,
                exit.syndrome,
                self.registers.elr
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
