//! PSCI 1.1 for the normal world: version, features, CPU_ON/OFF, affinity info, power-off, reset.
//!
//! Power states are shared by all CPUs (atomics); everything else a CPU keeps is its own.

use core::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use crate::context::GeneralRegisters;
use crate::world::CPU_COUNT;

const PSCI_VERSION: u32 = 0x8400_0000;
const CPU_OFF: u32 = 0x8400_0002;
const CPU_ON_32: u32 = 0x8400_0003;
const CPU_ON_64: u32 = 0xC400_0003;
const AFFINITY_INFO_32: u32 = 0x8400_0004;
const AFFINITY_INFO_64: u32 = 0xC400_0004;
const SYSTEM_OFF: u32 = 0x8400_0008;
const SYSTEM_RESET: u32 = 0x8400_0009;
const PSCI_FEATURES: u32 = 0x8400_000A;

const SUCCESS: u64 = 0;
const fn status(code: i32) -> u64 {
    code as u32 as u64
}
const NOT_SUPPORTED: u64 = status(-1);
const INVALID_PARAMETERS: u64 = status(-2);
const ALREADY_ON: u64 = status(-4);
const ON_PENDING: u64 = status(-5);
const INVALID_ADDRESS: u64 = status(-9);
/// PSCI 1.1.
const VERSION_1_1: u64 = 0x1_0001;

/// AFFINITY_INFO's answers, also the power state kept per CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum PowerState {
    On = 0,
    Off = 1,
    OnPending = 2,
}

static POWER: [AtomicU8; CPU_COUNT] = [const { AtomicU8::new(PowerState::Off as u8) }; CPU_COUNT];
static NORMAL_WORLD_ENTRY: [AtomicU64; CPU_COUNT] = [const { AtomicU64::new(0) }; CPU_COUNT];
static NORMAL_WORLD_CONTEXT: [AtomicU64; CPU_COUNT] = [const { AtomicU64::new(0) }; CPU_COUNT];
static SECURE_SECONDARY_ENTRY: AtomicU64 = AtomicU64::new(0);

use platform_common::board::{NORMAL_WORLD_MEMORY, SECONDARY_CPUS};

/// Records the SPMC's secondary entry point (FFA_SECONDARY_EP_REGISTER); only once.
pub fn register_secure_secondary_entry(entry: u64) -> bool {
    entry != 0
        && SECURE_SECONDARY_ENTRY
            .compare_exchange(0, entry, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
}

/// The SPMC's secondary entry point, if it registered one.
pub fn secure_secondary_entry() -> Option<u64> {
    let entry = SECURE_SECONDARY_ENTRY.load(Ordering::Acquire);
    (entry != 0).then_some(entry)
}

/// Marks `cpu` as running.
pub fn mark_on(cpu: usize) {
    if let Some(state) = POWER.get(cpu) {
        state.store(PowerState::On as u8, Ordering::Release);
    }
}

/// Where the normal world asked `cpu` to start, and the context ID to hand it.
pub fn normal_world_start(cpu: usize) -> (u64, u64) {
    let load = |table: &[AtomicU64; CPU_COUNT]| {
        table.get(cpu).map_or(0, |slot| slot.load(Ordering::Acquire))
    };
    (load(&NORMAL_WORLD_ENTRY), load(&NORMAL_WORLD_CONTEXT))
}

/// The linear index of the CPU an MPIDR value names, if it exists on this machine.
fn cpu_for(mpidr: u64) -> Option<usize> {
    let index = (mpidr & 0xff) as usize;
    (mpidr & 0xff_00ff_ff00 == 0 && index < CPU_COUNT).then_some(index)
}

fn power_state(cpu: usize) -> u64 {
    POWER.get(cpu).map_or(INVALID_PARAMETERS, |state| u64::from(state.load(Ordering::Acquire)))
}

fn cpu_on(target: u64, entry: u64, context: u64) -> u64 {
    if !SECONDARY_CPUS {
        return NOT_SUPPORTED;
    }
    let Some(cpu) = cpu_for(target) else { return INVALID_PARAMETERS };
    if !NORMAL_WORLD_MEMORY.contains(&entry) {
        return INVALID_ADDRESS;
    }
    let Some(state) = POWER.get(cpu) else { return INVALID_PARAMETERS };
    match state.compare_exchange(
        PowerState::Off as u8,
        PowerState::OnPending as u8,
        Ordering::AcqRel,
        Ordering::Acquire,
    ) {
        Ok(_) => {}
        Err(current) if current == PowerState::On as u8 => return ALREADY_ON,
        Err(_) => return ON_PENDING,
    }
    NORMAL_WORLD_ENTRY[cpu].store(entry, Ordering::Release);
    NORMAL_WORLD_CONTEXT[cpu].store(context, Ordering::Release);
    defmt::info!("el3-monitor: PSCI CPU_ON cpu {=usize} at {=u64:#x}", cpu, entry);
    crate::entry::release_cpu(cpu);
    SUCCESS
}

fn cpu_off() -> ! {
    let cpu = crate::world::cpu_index();
    defmt::info!("el3-monitor: PSCI CPU_OFF cpu {=usize}", cpu);
    crate::entry::clear_slot(cpu);
    if let Some(state) = POWER.get(cpu) {
        state.store(PowerState::Off as u8, Ordering::Release);
    }
    // SAFETY: this CPU's own EL3 stack; nothing on it is needed again (the next CPU_ON starts
    // from `monitor_secondary_start` with a fresh stack).
    unsafe { crate::entry::monitor_park_cpu(crate::entry::stack_top(cpu)) }
}

fn set(frame: &mut GeneralRegisters, value: u64) {
    frame.x[0] = value;
    for register in frame.x.iter_mut().take(18).skip(1) {
        *register = 0;
    }
}

/// Answers a PSCI call in `frame`.
pub fn handle(function: u32, frame: &mut GeneralRegisters) {
    let argument = |index: usize| {
        let value = frame.x[index];
        if function & (1 << 30) == 0 {
            value & 0xFFFF_FFFF
        } else {
            value
        }
    };
    match function {
        PSCI_VERSION => set(frame, VERSION_1_1),
        PSCI_FEATURES => {
            let queried = frame.x[1] as u32;
            let known = matches!(
                queried,
                PSCI_VERSION
                    | PSCI_FEATURES
                    | CPU_OFF
                    | AFFINITY_INFO_32
                    | AFFINITY_INFO_64
                    | SYSTEM_OFF
                    | SYSTEM_RESET
            ) || (SECONDARY_CPUS && matches!(queried, CPU_ON_32 | CPU_ON_64));
            set(frame, if known { SUCCESS } else { NOT_SUPPORTED });
        }
        CPU_ON_32 | CPU_ON_64 => {
            let result = cpu_on(argument(1), argument(2), argument(3));
            set(frame, result);
        }
        CPU_OFF => cpu_off(),
        AFFINITY_INFO_32 | AFFINITY_INFO_64 => {
            let result = match (cpu_for(argument(1)), argument(2)) {
                (Some(cpu), 0) => power_state(cpu),
                _ => INVALID_PARAMETERS,
            };
            set(frame, result);
        }
        SYSTEM_OFF => {
            defmt::info!("el3-monitor: PSCI SYSTEM_OFF");
            crate::power_off();
        }
        SYSTEM_RESET => {
            defmt::info!("el3-monitor: PSCI SYSTEM_RESET");
            crate::reset();
        }
        _ => set(frame, NOT_SUPPORTED),
    }
}
