//! A Linux guest at NS-EL1: a real FF-A client in place of the test VMs.
//!
//! `cargo xtask linux` has QEMU place three files in a VM's RAM (device tree at +1 MiB,
//! kernel Image at +2 MiB, initramfs at +10 MiB; the device tree names the initramfs). When
//! the hypervisor finds a device tree in VM 1's RAM, it runs Linux as VM 1 instead of its test
//! VMs; when it finds one in VM 2's RAM too, a second Linux runs as VM 2 on CPU 1 at the same
//! time (`linux_pair.rs`).
//!
//! - Memory: each Linux *is* its VM, with that VM's RAM (board `GUESTS[slot]`, 16 MiB seen at
//!   IPA 0x4000_0000), stage-2 tables and VMID. So everything that knows the VM's memory
//!   (RX/TX buffer translation, memory sharing's IPA walk and the SPMC's ledger, which gives
//!   each VM its RAM) applies to Linux unchanged. The first MiB holds the test VM's image copy
//!   the monitor loaded; Linux does not mind.
//! - Devices (`linux_devices.rs`): the PL011 console and the GICv3 distributor are emulated
//!   per guest, as is the RD_base frame of the guest's own CPU's redistributor; its SGI_base
//!   frame is mapped, so the guest's private interrupts (its timer) go straight to EL1
//!   (HCR_EL2.IMO/FMO stay clear). The architected timer is the CPU's own (CNTHCTL_EL2 lets
//!   EL1 use the physical counter and timer; Linux at EL1 uses the virtual timer,
//!   CNTVOFF_EL2 = 0). VMPIDR_EL2 is the CPU's real MPIDR, so Linux finds its redistributor.
//! - EL2 controls from docs/qemu-virt notes: HCR_EL2.APK/API, CPTR_EL2 not trapping FP/SIMD,
//!   ICC_SRE_EL2.{SRE,Enable}.
//! - Calls: the device tree's PSCI method is HVC (so FF-A is HVC too: Linux's FF-A driver
//!   uses PSCI's conduit); a trapped SMC is answered the same way. PSCI 1.1 and SMCCC 1.2 are
//!   answered here (PSCI_FEATURES must offer SMCCC_VERSION, or Linux stays at SMCCC 1.0 and
//!   its FF-A driver refuses to start); FF-A calls go to the spmc crate's forwarder role like a
//!   test VM's, one at a time for both guests. Nothing here knows about OP-TEE or any other
//!   service.

use crate::forwarder::{self, Manager};
use crate::linux_devices::{self, Devices};
use crate::linux_memory::MemoryAccount;
use crate::linux_pair;
use crate::vm::{self, GUEST_RAM_IPA, GUEST_RAM_SIZE};
use aarch64_cpu::registers::ESR_EL2;
use platform_common::board;
use platform_common::el1_context::El1Registers;
use platform_common::guest::{self, GuestRegisters};
use platform_common::stage2::{MemoryKind, VTCR};
use platform_common::write_sysreg;

/// Where the files are in the guest's RAM (the xtask's `linux/device_tree.rs` writes the same
/// numbers into the device tree and the QEMU loaders).
pub const DEVICE_TREE_OFFSET: u64 = 1 << 20;
const KERNEL_OFFSET: u64 = 2 << 20;
/// The flattened-device-tree magic as a little-endian load of its big-endian bytes.
const FDT_MAGIC_LOADED: u32 = 0xEDFE_0DD0;

const EC_HVC64: u64 = ESR_EL2::EC::Value::HVC64 as u64;
const EC_SMC64: u64 = ESR_EL2::EC::Value::SMC64 as u64;
const EC_DATA_ABORT_LOWER: u64 = 0x24;
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
const FFA_SUCCESS_32: u64 = 0x8400_0061;
const FFA_SUCCESS_64: u64 = 0xC400_0061;
const FFA_FEATURES: u64 = 0x8400_0064;
const FFA_MEM_LEND: u64 = 0x8400_0072;
const FFA_MEM_SHARE: u64 = 0x8400_0073;
const FFA_MEM_RECLAIM: u64 = 0x8400_0077;
const FFA_NOT_SUPPORTED: u64 = 0xFFFF_FFFF;
/// SMC64 bit of a function ID.
const SMC64: u64 = 1 << 30;

/// The forwarder's core is handed one guest call at a time: two Linux guests on two CPUs
/// take turns here (the forwarder shares the hypervisor's one TX buffer with the SPMC).
static FORWARDER_TURN: spin::Mutex<()> = spin::Mutex::new(());

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

/// One Linux guest: which board VM slot, its FF-A ID, the CPU it runs on.
#[derive(Debug, Clone, Copy)]
pub struct Guest {
    pub slot: usize,
    pub id: u64,
    pub cpu: u16,
}

impl Guest {
    /// The Linux guest in board VM slot `slot`, run on CPU `cpu`.
    pub fn new(slot: usize, cpu: u16) -> Option<Self> {
        let placement = board::GUESTS.get(slot)?;
        Some(Self { slot, id: placement.id, cpu })
    }

    /// The VM's RAM (physical).
    pub fn ram_physical(&self) -> u64 {
        board::GUESTS.get(self.slot).map_or(0, |placement| placement.ram)
    }
}

/// Whether `cargo xtask linux` placed a guest in the RAM of VM slot `slot` for this run.
pub fn present(slot: usize) -> bool {
    let Some(placement) = board::GUESTS.get(slot) else { return false };
    // SAFETY: a VM's RAM, which no VM uses yet; QEMU zeroes it at start unless a loader wrote
    // the guest's device tree there. The hypervisor runs with its MMU off.
    unsafe {
        core::ptr::read_volatile((placement.ram + DEVICE_TREE_OFFSET) as *const u32)
            == FDT_MAGIC_LOADED
    }
}

fn function_is_ffa(function: u64) -> bool {
    let number = function & 0xFFFF;
    function & !(1 << 30) & 0xFFFF_0000 == 0x8400_0000 && (0x60..=0xFF).contains(&number)
}

fn succeeded(reply: &[u64; 18]) -> bool {
    reply[0] == FFA_SUCCESS_32 || reply[0] == FFA_SUCCESS_64
}

fn map_memory(guest: &Guest, devices: &Devices) -> Option<()> {
    let tables = vm::tables(guest.slot)?;
    // SAFETY: built once, before the guest runs (no test VM runs with it); the RAM is the
    // VM's, and the only device mapped is the SGI_base frame of the redistributor of the CPU
    // the guest runs on (the other devices are emulated: `linux_devices.rs`).
    unsafe {
        tables.map(GUEST_RAM_IPA, guest.ram_physical(), GUEST_RAM_SIZE, MemoryKind::Memory).ok()?;
        tables
            .map(
                linux_devices::REDISTRIBUTOR_IPA + linux_devices::FRAME_SIZE,
                devices.redistributor_sgi_frame(),
                linux_devices::FRAME_SIZE,
                MemoryKind::Device,
            )
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
    let _turn = FORWARDER_TURN.lock();
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

/// Hands one FF-A call to the forwarder; its answer.
fn forward(manager: &Manager, guest: &Guest, call: &[u64; 18]) -> [u64; 18] {
    let context = forwarder::context_of(guest.id);
    // `None`: the guest gave its CPU away (FFA_MSG_WAIT, FFA_YIELD). A Linux guest has
    // nothing else to run: it gets NOT_SUPPORTED back.
    let mut registers = [0u64; 18];
    let _turn = FORWARDER_TURN.lock();
    let delivery = manager.handle(context, call);
    if !forwarder::drive(manager, context, delivery, &mut registers) {
        registers = [0u64; 18];
        registers[0] = FFA_ERROR;
        registers[2] = FFA_NOT_SUPPORTED;
    }
    registers
}

/// Answers one call; `Err` ends the run.
fn answer(
    manager: &Manager,
    guest: &Guest,
    call: &[u64; 18],
    account: &mut MemoryAccount,
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
            let operation = function & !SMC64;
            if operation == FFA_MEM_RECLAIM {
                let handle = (call[1] & 0xFFFF_FFFF) | ((call[2] & 0xFFFF_FFFF) << 32);
                linux_pair::before_reclaim(guest, handle);
            }
            let registers = forward(manager, guest, call);
            account.observe(call, &registers);
            if matches!(operation, FFA_MEM_SHARE | FFA_MEM_LEND) && succeeded(&registers) {
                let handle = (registers[2] & 0xFFFF_FFFF) | (registers[3] << 32);
                linux_pair::after_share(guest, handle);
            }
            if operation == FFA_MEM_RECLAIM {
                linux_pair::after_reclaim(guest, call, &registers);
            }
            // FFA_FEATURES answers NOT_SUPPORTED for every optional feature Linux asks about.
            if registers[0] == FFA_ERROR && call[0] != FFA_FEATURES {
                linux_devices::say(
                    guest.id,
                    format_args!(
                        "hypervisor: Linux guest: FF-A call {:#x} -> FFA_ERROR {}",
                        call[0], registers[2] as u32 as i32
                    ),
                );
            }
            return Ok(Reply::Registers(registers));
        }
        _ => NOT_SUPPORTED,
    };
    Ok(Reply::Value(value))
}

/// Runs the guest on this CPU (which must be `guest.cpu`) until it powers off or faults.
pub fn run(manager: &Manager, guest: &Guest) -> Ending {
    let cpu_affinity = platform_common::read_sysreg!("mpidr_el1");
    let mut devices = Devices::new(guest.id, cpu_affinity & 0xFF);
    if map_memory(guest, &devices).is_none() {
        return Ending::NotStarted;
    }
    let started = {
        let _turn = FORWARDER_TURN.lock();
        manager.start(forwarder::context_of(guest.id), guest.cpu)
    };
    if started.is_err() {
        return Ending::NotStarted;
    }
    linux_devices::say(
        guest.id,
        format_args!(
            "hypervisor: Linux guest: starting as VM {} on CPU {}: {} MiB RAM at IPA {GUEST_RAM_IPA:#x} (PA {:#x}), kernel at IPA {:#x}, device tree at IPA {:#x}",
            guest.id,
            guest.cpu,
            GUEST_RAM_SIZE >> 20,
            guest.ram_physical(),
            GUEST_RAM_IPA + KERNEL_OFFSET,
            GUEST_RAM_IPA + DEVICE_TREE_OFFSET
        ),
    );
    let mut el1 = El1Registers::ZERO;
    el1.sctlr = SCTLR_EL1_RESET;
    el1.restore();
    write_sysreg!("vtcr_el2", VTCR);
    let Some(tables) = vm::tables(guest.slot) else { return Ending::NotStarted };
    write_sysreg!("vttbr_el2", (u64::from(vm::vmid(guest.slot)) << 48) | tables.base());
    write_sysreg!("vmpidr_el2", cpu_affinity);
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
        // SAFETY: VTTBR_EL2 points at the guest's stage-2, which maps only its RAM and its
        // CPU's redistributor SGI frame; its registers hold its entry or the state it trapped in.
        let exit = unsafe { guest::run(&mut registers) };
        match exit.class() {
            Some(class @ (EC_SMC64 | EC_HVC64)) => {
                // A trapped SMC returns to the SMC itself; an HVC to the next instruction.
                if class == EC_SMC64 {
                    registers.elr += 4;
                }
                let mut call = [0u64; 18];
                call.copy_from_slice(&registers.x[..18]);
                match answer(manager, guest, &call, &mut account) {
                    Ok(Reply::Value(value)) => registers.x[0] = value,
                    Ok(Reply::Registers(reply)) => registers.x[..18].copy_from_slice(&reply),
                    Err(ending) => break ending,
                }
            }
            Some(EC_DATA_ABORT_LOWER) if devices.emulate(&mut registers, exit.syndrome) => {}
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
    devices.flush_console();
    let activity = manager.memory_activity();
    linux_devices::say(
        guest.id,
        format_args!(
            "hypervisor: Linux guest: memory transactions: {} shared, {} reclaimed, {} refused, {} outstanding; forwarder: {} live in the secure world",
            account.shared,
            account.reclaimed,
            account.refused,
            account.outstanding(),
            activity.forwarded
        ),
    );
    release(manager, guest.id);
    let ledger = {
        let _turn = FORWARDER_TURN.lock();
        account.ask_the_spmc()
    };
    linux_devices::say(
        guest.id,
        format_args!(
            "hypervisor: Linux guest: SPMC ledger: {} of the guest's {} handles gone, {} left behind",
            ledger.gone,
            ledger.gone + ledger.left_behind,
            ledger.left_behind
        ),
    );
    write_sysreg!("hcr_el2", 0);
    ending
}
