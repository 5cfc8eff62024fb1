//! PSCI 1.1 for the normal world: version, features, power-off, reset, affinity info.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::context::GeneralRegisters;

const PSCI_VERSION: u32 = 0x8400_0000;
const CPU_OFF: u32 = 0x8400_0002;
const CPU_ON_64: u32 = 0xC400_0003;
const AFFINITY_INFO_64: u32 = 0xC400_0004;
const SYSTEM_OFF: u32 = 0x8400_0008;
const SYSTEM_RESET: u32 = 0x8400_0009;
const PSCI_FEATURES: u32 = 0x8400_000A;

const SUCCESS: u64 = 0;
const NOT_SUPPORTED: u64 = (-1i32) as u32 as u64;
const INVALID_PARAMETERS: u64 = (-2i32) as u32 as u64;
const DENIED: u64 = (-3i32) as u32 as u64;
/// PSCI 1.1.
const VERSION_1_1: u64 = 0x1_0001;

static SECURE_SECONDARY_ENTRY: AtomicU64 = AtomicU64::new(0);

/// Records the SPMC's secondary entry point (FFA_SECONDARY_EP_REGISTER); only once.
pub fn register_secure_secondary_entry(entry: u64) -> bool {
    entry != 0
        && SECURE_SECONDARY_ENTRY
            .compare_exchange(0, entry, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
}

fn set(frame: &mut GeneralRegisters, value: u64) {
    frame.x[0] = value;
    for register in frame.x.iter_mut().take(18).skip(1) {
        *register = 0;
    }
}

/// Answers a PSCI call in `frame`.
pub fn handle(function: u32, frame: &mut GeneralRegisters) {
    match function {
        PSCI_VERSION => set(frame, VERSION_1_1),
        PSCI_FEATURES => {
            let queried = frame.x[1] as u32;
            let known = matches!(
                queried,
                PSCI_VERSION | PSCI_FEATURES | SYSTEM_OFF | SYSTEM_RESET | AFFINITY_INFO_64
            );
            set(frame, if known { SUCCESS } else { NOT_SUPPORTED });
        }
        AFFINITY_INFO_64 => {
            // Only the boot CPU runs until CPU_ON is implemented: 0 = ON, 1 = OFF.
            let target = frame.x[1] & 0xff_00ff_ffff;
            let state = if target == 0 {
                0
            } else if target < 4 {
                1
            } else {
                INVALID_PARAMETERS
            };
            set(frame, state);
        }
        SYSTEM_OFF => {
            defmt::info!("el3-monitor: PSCI SYSTEM_OFF");
            crate::power_off();
        }
        SYSTEM_RESET => {
            defmt::info!("el3-monitor: PSCI SYSTEM_RESET");
            crate::reset();
        }
        CPU_ON_64 | CPU_OFF => set(frame, DENIED),
        _ => set(frame, NOT_SUPPORTED),
    }
}
