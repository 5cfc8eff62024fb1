//! Guest VMs at NS-EL1: their memory (stage-2), their run loop, and the calls they make.
//!
//! A VM's SMC or HVC traps here. SMCCC and PSCI are answered for the VM (PSCI SYSTEM_OFF and
//! CPU_OFF end it); every FF-A call goes to the spmc crate's forwarder role (`forwarder.rs`),
//! which enforces the VM's sender ID, keeps its version and RX/TX buffers, answers what it can
//! and forwards the rest to the secure world.

use core::fmt::Write;

use crate::forwarder::{self, Manager};
use aarch64_cpu::registers::ESR_EL2;
use platform_common::el1_context::El1Registers;
use platform_common::grantable::GUEST_READ_ONLY_PAGE;
use platform_common::guest::{self, GuestRegisters};
use platform_common::stage2::{MemoryKind, PageAccess, Stage2, TlbScope, VTCR};
use platform_common::write_sysreg;

/// Where every VM's RAM starts in its own address space, and how big it is.
pub const GUEST_RAM_IPA: u64 = 0x4000_0000;
pub const GUEST_RAM_SIZE: u64 = 16 << 20;
/// The page of its RAM every test VM may only read (`grantable::GUEST_READ_ONLY_PAGE`, matrix
/// MM13): the conformance suite's read-only page.
pub const READ_ONLY_PAGE_IPA: u64 = GUEST_RAM_IPA + GUEST_READ_ONLY_PAGE;
/// How the read-only page is mapped: like the rest of the RAM (executable), minus write.
const READ_ONLY: PageAccess = PageAccess { write: false, execute: true, non_secure: false };
/// Where every VM sees the console UART.
const GUEST_CONSOLE_IPA: u64 = 0x0900_0000;

const EC_HVC64: u64 = ESR_EL2::EC::Value::HVC64 as u64;
const EC_SMC64: u64 = ESR_EL2::EC::Value::SMC64 as u64;
/// SPSR for entering EL1 with SP_EL1 (EL1h), D/A/I/F masked.
const SPSR_EL1H_MASKED: u64 = 0x3c5;
/// SCTLR_EL1 reset value with its RES1 bits: MMU and caches off.
const SCTLR_EL1_RESET: u64 = 0x30D0_0800;
/// HCR_EL2 while VMs run: VM, SWIO, TSC (trap SMC), RW (EL1 is AArch64), APK, API.
const HCR_GUEST: u64 = 1 | (1 << 1) | (1 << 19) | (1 << 31) | (1 << 40) | (1 << 41);

const FFA_MSG_WAIT: u64 = 0x8400_006B;
const SMCCC_VERSION: u64 = 0x8000_0000;
const SMCCC_VERSION_1_2: u64 = 0x1_0002;
const PSCI_VERSION: u64 = 0x8400_0000;
const PSCI_CPU_OFF: u64 = 0x8400_0002;
const PSCI_SYSTEM_OFF: u64 = 0x8400_0008;
const NOT_SUPPORTED: u64 = 0xFFFF_FFFF;
const EC_DATA_ABORT_LOWER: u64 = 0x24;

/// Two VMs, each with one 16 MiB block of RAM and the console page; memory sharing splits
/// 2 MiB blocks of RAM into pages when a VM lends some of them (one level-3 table each).
type VmTables = Stage2<2, 8>;
static TABLES: [VmTables; 2] = [const { Stage2::new() }; 2];

/// VM `index`'s stage-2 tables (for memory sharing).
pub fn tables(index: usize) -> Option<&'static VmTables> {
    TABLES.get(index)
}

/// The VMID VM `index` runs with.
pub fn vmid(index: usize) -> u16 {
    index as u16 + 1
}

/// How a VM's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// It called PSCI SYSTEM_OFF or CPU_OFF.
    PoweredOff,
    /// It took an exception the hypervisor does not handle (ESR_EL2).
    Fault(u64),
}

/// One guest VM.
#[derive(Debug)]
pub struct Vm {
    /// Its FF-A endpoint ID.
    pub id: u64,
    index: usize,
    registers: GuestRegisters,
    el1: El1Registers,
}

fn function_is_ffa(function: u64) -> bool {
    let number = function & 0xFFFF;
    function & !(1 << 30) & 0xFFFF_0000 == 0x8400_0000 && (0x60..=0xFF).contains(&number)
}

impl Vm {
    /// A VM `index` with endpoint ID `id` whose RAM is `ram_pa` (its image is already there).
    pub fn new(index: usize, id: u64, ram_pa: u64) -> Option<Self> {
        let tables = TABLES.get(index)?;
        // SAFETY: this VM has never run; its RAM is DRAM set aside for it (docs/src/memory-map.md)
        // and the console page is the shared non-secure UART. The read-only page is part of
        // that RAM, and no CPU has used these tables yet (the TLB scope is the VM's own).
        unsafe {
            tables.map(GUEST_RAM_IPA, ram_pa, GUEST_RAM_SIZE, MemoryKind::Memory).ok()?;
            tables
                .map(
                    GUEST_CONSOLE_IPA,
                    platform_common::board::GUEST_CONSOLE,
                    4096,
                    MemoryKind::Device,
                )
                .ok()?;
            // The read-only page: its block split into pages, the page mapped again without
            // write access (the forwarder's ledger marks it read-only too).
            let scope = TlbScope { vmid: vmid(index), secure: false };
            tables.unmap(READ_ONLY_PAGE_IPA, 4096, scope).ok()?;
            tables
                .map_pages(READ_ONLY_PAGE_IPA, ram_pa + GUEST_READ_ONLY_PAGE, 4096, READ_ONLY)
                .ok()?;
        }
        let mut el1 = El1Registers::ZERO;
        el1.sctlr = SCTLR_EL1_RESET;
        let mut registers = GuestRegisters::default();
        registers.elr = GUEST_RAM_IPA;
        registers.spsr = SPSR_EL1H_MASKED;
        // x0 = 1 tells the first VM to run the conformance suite before anything else.
        registers.x[0] = u64::from(index == 0);
        Some(Self { id, index, registers, el1 })
    }

    /// Answers one call VM `id` made with x0-x17 = `registers`, writing the reply over them;
    /// `false` means the VM has ended (or gave its CPU back).
    fn answer(id: u64, manager: &Manager, registers: &mut [u64; 18]) -> bool {
        let function = registers[0];
        let (status, error) = match function {
            SMCCC_VERSION => (SMCCC_VERSION_1_2, 0),
            PSCI_VERSION => (0x1_0001, 0),
            PSCI_SYSTEM_OFF | PSCI_CPU_OFF => {
                Self::release(id, manager);
                return false;
            }
            function if function_is_ffa(function) => {
                let context = forwarder::context_of(id);
                let delivery = manager.handle(context, registers);
                return forwarder::drive(manager, context, delivery, registers);
            }
            _ => (NOT_SUPPORTED, 0),
        };
        *registers = [0; 18];
        registers[0] = status;
        registers[2] = error;
        true
    }

    /// A VM that powers off gives its context back to the core as if it waited for messages
    /// (FFA_MSG_WAIT), so the CPU is free for the next VM; the core hands back `Scheduler`.
    fn release(id: u64, manager: &Manager) {
        let mut wait = [0u64; 18];
        wait[0] = FFA_MSG_WAIT;
        let context = forwarder::context_of(id);
        let delivery = manager.handle(context, &wait);
        let _ = forwarder::drive(manager, context, delivery, &mut wait);
    }

    /// A stage-2 data abort at an IPA of the VM's RAM that its stage-2 no longer maps (a page
    /// it has lent or donated), or a write to its read-only page. Reported on the console;
    /// `true` if so.
    fn lent_page_fault(&self) -> bool {
        // HPFAR_EL2.FIPA holds IPA[47:12] in bits [43:4]; FAR_EL2 the offset in the page.
        let page = (platform_common::read_sysreg!("hpfar_el2") & 0x0FFF_FFFF_FFF0) << 8;
        let ipa = page | (platform_common::read_sysreg!("far_el2") & 0xFFF);
        let in_ram = (GUEST_RAM_IPA..GUEST_RAM_IPA + GUEST_RAM_SIZE).contains(&ipa);
        let unmapped = tables(self.index).is_some_and(|tables| tables.translate(ipa).is_none());
        let read_only = page == READ_ONLY_PAGE_IPA;
        let why = if unmapped { "page not mapped (lent)" } else { "page is read-only" };
        if in_ram && (unmapped || read_only) {
            let _ = writeln!(
                crate::console(),
                "hypervisor: VM {} stage-2 fault at IPA {ipa:#x}: {why}; access skipped",
                self.id
            );
        }
        in_ram && (unmapped || read_only)
    }

    /// Runs the VM on CPU 0 until it powers off or faults.
    pub fn run(&mut self, manager: &Manager) -> Ending {
        if manager.start(forwarder::context_of(self.id), 0).is_err() {
            return Ending::Fault(0);
        }
        let Some(tables) = TABLES.get(self.index) else { return Ending::Fault(0) };
        write_sysreg!("vtcr_el2", VTCR);
        write_sysreg!("vttbr_el2", (u64::from(vmid(self.index)) << 48) | tables.base());
        write_sysreg!("hcr_el2", HCR_GUEST);
        self.el1.restore();
        #[cfg(target_arch = "aarch64")]
        // SAFETY: barriers and a TLB invalidation for this VM's VMID; no memory is touched.
        unsafe {
            core::arch::asm!("dsb ishst", "tlbi vmalls12e1is", "dsb ish", "isb", options(nostack))
        };
        let ending = loop {
            // SAFETY: VTTBR_EL2 points at this VM's stage-2, which maps only its own RAM and
            // the console page; its registers hold its entry or the state it trapped in.
            let exit = unsafe { guest::run(&mut self.registers) };
            match exit.class() {
                Some(EC_SMC64) | Some(EC_HVC64) => {
                    // A trapped SMC returns to the SMC itself; an HVC to the next instruction.
                    if exit.class() == Some(EC_SMC64) {
                        self.registers.elr += 4;
                    }
                    // The call is answered in place: its registers become the reply.
                    let Some(registers) = self.registers.x.first_chunk_mut::<18>() else {
                        break Ending::Fault(exit.syndrome);
                    };
                    if !Self::answer(self.id, manager, registers) {
                        break Ending::PoweredOff;
                    }
                }
                Some(EC_DATA_ABORT_LOWER) if self.lent_page_fault() => {
                    // Reported and skipped: the VM sees its access had no effect.
                    self.registers.elr += 4;
                }
                _ => {
                    // The core marks the VM's context aborted; nothing waits on it here.
                    let _ = manager.abort(forwarder::context_of(self.id));
                    break Ending::Fault(exit.syndrome);
                }
            }
        };
        self.el1.save();
        write_sysreg!("hcr_el2", 0);
        ending
    }
}
