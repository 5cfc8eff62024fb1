//! A Linux guest at NS-EL1: a real FF-A client in place of the test VMs.
//!
//! `cargo xtask linux` has QEMU place three files in VM 1's RAM (device tree at +1 MiB,
//! kernel Image at +2 MiB, initramfs at +10 MiB; the device tree names the initramfs). When
//! the hypervisor finds a device tree there, it runs Linux as VM 1 instead of its test VMs:
//!
//! - Memory: Linux *is* VM 1, with VM 1's RAM (board `GUESTS[0]`, 16 MiB seen at IPA
//!   0x4000_0000), VM 1's stage-2 tables and VMID. So everything that knows VM 1's memory
//!   (RX/TX buffer translation, memory sharing's IPA walk and the SPMC's ledger, which gives
//!   VM 1 its RAM) applies to Linux unchanged. The first MiB holds the test VM's image copy the
//!   monitor loaded; Linux does not mind.
//! - Devices are passed through, which is simplest for one guest: the PL011 console, the GICv3
//!   distributor and the redistributors (the guest's interrupts go straight to EL1:
//!   HCR_EL2.IMO/FMO stay clear) and the architected timer (CNTHCTL_EL2 lets EL1 use the
//!   physical counter and timer; Linux at EL1 uses the virtual timer, CNTVOFF_EL2 = 0).
//! - EL2 controls from docs/qemu-virt notes: HCR_EL2.APK/API, CPTR_EL2 not trapping FP/SIMD,
//!   ICC_SRE_EL2.{SRE,Enable}.
//! - Calls: the device tree's PSCI method is HVC (so FF-A is HVC too: Linux's FF-A driver
//!   uses PSCI's conduit); a trapped SMC is answered the same way. PSCI 1.1 and SMCCC 1.2 are
//!   answered here (PSCI_FEATURES must offer SMCCC_VERSION, or Linux stays at SMCCC 1.0 and
//!   its FF-A driver refuses to start); FF-A calls go to the spmc crate's forwarder role like a
//!   test VM's. Nothing here knows about OP-TEE or any other service.

use core::fmt::Write;

use crate::forwarder::{self, Manager};
use crate::linux_memory::MemoryAccount;
use crate::vm::{self, GUEST_RAM_IPA, GUEST_RAM_SIZE};
use aarch64_cpu::registers::ESR_EL2;
use platform_common::board;
use platform_common::el1_context::El1Registers;
use platform_common::guest::{self, GuestRegisters};
use platform_common::pl011::Pl011;
use platform_common::stage2::{MemoryKind, VTCR};
use platform_common::write_sysreg;

/// Where the files are in the guest's RAM (the xtask's `linux/device_tree.rs` writes the same
/// numbers into the device tree and the QEMU loaders).
const DEVICE_TREE_OFFSET: u64 = 1 << 20;
const KERNEL_OFFSET: u64 = 2 << 20;
/// The flattened-device-tree magic as a little-endian load of its big-endian bytes.
const FDT_MAGIC_LOADED: u32 = 0xEDFE_0DD0;
/// VM 1: its board slot.
const SLOT: usize = 0;

const UART: u64 = 0x0900_0000;
const GIC_DISTRIBUTOR: u64 = 0x0800_0000;
const GIC_DISTRIBUTOR_SIZE: u64 = 0x1_0000;
const GIC_REDISTRIBUTOR: u64 = 0x080A_0000;
/// All four CPUs' redistributors: Linux reads every frame until the one marked Last.
const GIC_REDISTRIBUTOR_SIZE: u64 = 4 * 0x2_0000;

const EC_HVC64: u64 = ESR_EL2::EC::Value::HVC64 as u64;
const EC_SMC64: u64 = ESR_EL2::EC::Value::SMC64 as u64;
/// SPSR for entering EL1 with SP_EL1 (EL1h), D/A/I/F masked (Linux's boot protocol).
const SPSR_EL1H_MASKED: u64 = 0x3c5;
/// SCTLR_EL1 reset value with its RES1 bits: MMU and caches off.
const SCTLR_EL1_RESET: u64 = 0x30D0_0800;
/// HCR_EL2: VM, SWIO, TSC (trap SMC), RW (EL1 is AArch64), APK, API; IMO/FMO/AMO clear.
const HCR_LINUX: u64 = 1 | (1 << 1) | (1 << 19) | (1 << 31) | (1 << 40) | (1 << 41);
/// CPTR_EL2 (E2H = 0): RES1 bits and TZ (SVE traps; the guest kernel has no SVE); TFP clear.
const CPTR_LINUX: u64 = 0x33FF;
/// CNTHCTL_EL2: EL1PCTEN | EL1PCEN.
const CNTHCTL_LINUX: u64 = 0b11;
/// ICC_SRE_EL2: SRE, DFB, DIB, Enable (EL1 may use the GIC's system registers).
const ICC_SRE_LINUX: u64 = 0xF;

const SMCCC_VERSION: u64 = 0x8000_0000;
const SMCCC_ARCH_FEATURES: u64 = 0x8000_0001;
const SMCCC_VERSION_1_2: u64 = 0x1_0002;
const PSCI_VERSION: u64 = 0x8400_0000;
const PSCI_CPU_OFF: u64 = 0x8400_0002;
const PSCI_MIGRATE_INFO_TYPE: u64 = 0x8400_0006;
const PSCI_SYSTEM_OFF: u64 = 0x8400_0008;
const PSCI_SYSTEM_RESET: u64 = 0x8400_0009;
const PSCI_FEATURES: u64 = 0x8400_000A;
const PSCI_VERSION_1_1: u64 = 0x1_0001;
/// MIGRATE_INFO_TYPE: no Trusted OS that needs migration.
const MIGRATION_NOT_NEEDED: u64 = 2;
const NOT_SUPPORTED: u64 = u64::MAX;
const FFA_MSG_WAIT: u64 = 0x8400_006B;
const FFA_ERROR: u64 = 0x8400_0060;
const FFA_FEATURES: u64 = 0x8400_0064;
const FFA_NOT_SUPPORTED: u64 = 0xFFFF_FFFF;

/// How the guest's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// PSCI SYSTEM_OFF (or CPU_OFF of its only CPU).
    PoweredOff,
    /// PSCI SYSTEM_RESET (a kernel panic with `panic=-1` ends this way).
    Reset,
    /// An exception the hypervisor does not handle: ESR_EL2, ELR_EL2, FAR_EL2.
    Fault { syndrome: u64, link: u64, fault_address: u64 },
    /// The guest's memory could not be mapped, or the forwarder refused its context.
    NotStarted,
}

/// VM 1's RAM (physical).
fn ram_physical() -> u64 {
    board::GUESTS[SLOT].ram
}

/// Whether `cargo xtask linux` placed a guest in VM 1's RAM for this run.
pub fn present() -> bool {
    // SAFETY: VM 1's RAM, which no VM uses yet; QEMU zeroes it at start unless a loader wrote
    // the guest's device tree there. The hypervisor runs with its MMU off.
    unsafe {
        core::ptr::read_volatile((ram_physical() + DEVICE_TREE_OFFSET) as *const u32)
            == FDT_MAGIC_LOADED
    }
}

fn function_is_ffa(function: u64) -> bool {
    let number = function & 0xFFFF;
    function & !(1 << 30) & 0xFFFF_0000 == 0x8400_0000 && (0x60..=0xFF).contains(&number)
}

fn map_memory() -> Option<()> {
    let tables = vm::tables(SLOT)?;
    // SAFETY: built once, before the guest runs (no test VM runs with it); the RAM is VM 1's,
    // and the devices are the board's console UART and GIC, passed through.
    unsafe {
        tables.map(GUEST_RAM_IPA, ram_physical(), GUEST_RAM_SIZE, MemoryKind::Memory).ok()?;
        tables.map(UART, board::GUEST_CONSOLE, 4096, MemoryKind::Device).ok()?;
        tables
            .map(GIC_DISTRIBUTOR, GIC_DISTRIBUTOR, GIC_DISTRIBUTOR_SIZE, MemoryKind::Device)
            .ok()?;
        tables
            .map(GIC_REDISTRIBUTOR, GIC_REDISTRIBUTOR, GIC_REDISTRIBUTOR_SIZE, MemoryKind::Device)
            .ok()?;
    }
    Some(())
}

/// What PSCI_FEATURES says about `function`: 0 for what is answered here.
fn psci_feature(function: u64) -> u64 {
    match function {
        SMCCC_VERSION
        | PSCI_VERSION
        | PSCI_FEATURES
        | PSCI_SYSTEM_OFF
        | PSCI_SYSTEM_RESET
        | PSCI_CPU_OFF
        | PSCI_MIGRATE_INFO_TYPE => 0,
        _ => NOT_SUPPORTED,
    }
}

/// Ends the guest's FF-A context: the core sees it wait for messages, as for a test VM.
fn release(manager: &Manager, id: u64) {
    let mut wait = [0u64; 18];
    wait[0] = FFA_MSG_WAIT;
    let context = forwarder::context_of(id);
    let delivery = manager.handle(context, &wait);
    let _ = forwarder::drive(manager, context, delivery, &mut wait);
}

/// What to resume the guest with after a call.
enum Reply {
    /// An SMCCC or PSCI answer: x0 only; x1-x17 keep the caller's values (SMCCC 1.2
    /// preserves every register that is not a result).
    Value(u64),
    /// An FF-A answer: x0-x17 as the forwarder returned them.
    Registers([u64; 18]),
}

/// Answers one call; `Err` ends the run.
fn answer(
    manager: &Manager,
    id: u64,
    call: &[u64; 18],
    account: &mut MemoryAccount,
    console: &mut Pl011,
) -> Result<Reply, Ending> {
    let value = match call[0] {
        SMCCC_VERSION => SMCCC_VERSION_1_2,
        SMCCC_ARCH_FEATURES => NOT_SUPPORTED,
        PSCI_VERSION => PSCI_VERSION_1_1,
        PSCI_FEATURES => psci_feature(call[1] & 0xFFFF_FFFF),
        PSCI_MIGRATE_INFO_TYPE => MIGRATION_NOT_NEEDED,
        PSCI_SYSTEM_OFF | PSCI_CPU_OFF => return Err(Ending::PoweredOff),
        PSCI_SYSTEM_RESET => return Err(Ending::Reset),
        function if function_is_ffa(function) => {
            let context = forwarder::context_of(id);
            // `None`: the guest gave its CPU away (FFA_MSG_WAIT, FFA_YIELD). A lone Linux guest
            // has nothing else to run: it gets NOT_SUPPORTED back.
            let mut registers = [0u64; 18];
            let delivery = manager.handle(context, call);
            if !forwarder::drive(manager, context, delivery, &mut registers) {
                registers = [0u64; 18];
                registers[0] = FFA_ERROR;
                registers[2] = FFA_NOT_SUPPORTED;
            }
            account.observe(call, &registers);
            // FFA_FEATURES answers NOT_SUPPORTED for every optional feature Linux asks about.
            if registers[0] == FFA_ERROR && call[0] != FFA_FEATURES {
                let _ = writeln!(
                    console,
                    "hypervisor: Linux guest: FF-A call {:#x} -> FFA_ERROR {}",
                    call[0], registers[2] as u32 as i32
                );
            }
            return Ok(Reply::Registers(registers));
        }
        _ => NOT_SUPPORTED,
    };
    Ok(Reply::Value(value))
}

/// Runs the guest (endpoint `id`) on this CPU until it powers off or faults.
pub fn run(manager: &Manager, id: u64, console: &mut Pl011) -> Ending {
    if map_memory().is_none() || manager.start(forwarder::context_of(id), 0).is_err() {
        return Ending::NotStarted;
    }
    let _ = writeln!(
        console,
        "hypervisor: Linux guest: starting as VM {id}: {} MiB RAM at IPA {GUEST_RAM_IPA:#x} (PA {:#x}), kernel at IPA {:#x}, device tree at IPA {:#x}",
        GUEST_RAM_SIZE >> 20,
        ram_physical(),
        GUEST_RAM_IPA + KERNEL_OFFSET,
        GUEST_RAM_IPA + DEVICE_TREE_OFFSET
    );
    console.flush();
    let mut el1 = El1Registers::ZERO;
    el1.sctlr = SCTLR_EL1_RESET;
    el1.restore();
    write_sysreg!("vtcr_el2", VTCR);
    let Some(tables) = vm::tables(SLOT) else { return Ending::NotStarted };
    write_sysreg!("vttbr_el2", (u64::from(vm::vmid(SLOT)) << 48) | tables.base());
    write_sysreg!("cptr_el2", CPTR_LINUX);
    write_sysreg!("cnthctl_el2", CNTHCTL_LINUX);
    write_sysreg!("cntvoff_el2", 0);
    write_sysreg!("s3_4_c12_c9_5", ICC_SRE_LINUX);
    write_sysreg!("hcr_el2", HCR_LINUX);
    #[cfg(target_arch = "aarch64")]
    // SAFETY: barriers and a TLB invalidation for this VMID; no memory is touched.
    unsafe {
        core::arch::asm!("dsb ishst", "tlbi vmalls12e1is", "dsb ish", "isb", options(nostack))
    };
    let mut account = MemoryAccount::default();
    let mut registers = GuestRegisters::default();
    registers.elr = GUEST_RAM_IPA + KERNEL_OFFSET;
    registers.spsr = SPSR_EL1H_MASKED;
    registers.x[0] = GUEST_RAM_IPA + DEVICE_TREE_OFFSET;
    let ending = loop {
        // SAFETY: VTTBR_EL2 points at the guest's stage-2, which maps only its RAM and the
        // passed-through devices; its registers hold its entry or the state it trapped in.
        let exit = unsafe { guest::run(&mut registers) };
        match exit.class() {
            Some(class @ (EC_SMC64 | EC_HVC64)) => {
                // A trapped SMC returns to the SMC itself; an HVC to the next instruction.
                if class == EC_SMC64 {
                    registers.elr += 4;
                }
                let mut call = [0u64; 18];
                call.copy_from_slice(&registers.x[..18]);
                match answer(manager, id, &call, &mut account, console) {
                    Ok(Reply::Value(value)) => registers.x[0] = value,
                    Ok(Reply::Registers(reply)) => registers.x[..18].copy_from_slice(&reply),
                    Err(ending) => break ending,
                }
            }
            // An interrupt or SError routed to EL2 (none is expected): resume the guest.
            None => continue,
            Some(_) => {
                break Ending::Fault {
                    syndrome: exit.syndrome,
                    link: platform_common::read_sysreg!("elr_el2"),
                    fault_address: platform_common::read_sysreg!("far_el2"),
                };
            }
        }
    };
    let activity = manager.memory_activity();
    let _ = writeln!(
        console,
        "hypervisor: Linux guest: memory transactions: {} shared, {} reclaimed, {} refused, {} outstanding; forwarder: {} live in the secure world",
        account.shared,
        account.reclaimed,
        account.refused,
        account.outstanding(),
        activity.forwarded
    );
    release(manager, id);
    let ledger = account.ask_the_spmc();
    let _ = writeln!(
        console,
        "hypervisor: Linux guest: SPMC ledger: {} of the guest's {} handles gone, {} left behind",
        ledger.gone,
        ledger.gone + ledger.left_behind,
        ledger.left_behind
    );
    write_sysreg!("hcr_el2", 0);
    ending
}
