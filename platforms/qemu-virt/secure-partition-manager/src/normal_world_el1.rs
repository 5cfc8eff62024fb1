//! Per CPU: whose EL1 registers the CPU holds, and the normal world's while a partition has them.
//!
//! The EL3 monitor switches only the EL2 registers between the worlds (as TF-A's SPMD does for
//! an S-EL2 SPMC), so the normal world's EL1 registers are still in the CPU when the SPMC runs.
//! They are set aside here only when a partition context is about to run at S-EL1 on this CPU,
//! and put back before the SPMC returns to the normal world. Calls the SPMC answers itself
//! never touch them, and a CPU that runs two partition contexts in a row (or the same one
//! again) without the normal world in between sets them aside once.
//!
//! Each CPU has its own slot, chosen by its MPIDR_EL1, and the functions below are leaves that
//! hold the slot only while they run, so no slot is ever borrowed twice.

use core::cell::UnsafeCell;

use platform_common::el1_context::El1Registers;

use crate::contexts::CPUS;

/// What the CPU's EL1 registers hold: the normal world's (nothing set aside), or else the
/// normal world's are set aside and the CPU holds a context's as last loaded or saved
/// ([`context_holder`]), or (`STALE`) registers no context's saved state matches. One word, so
/// the hot path compares it in one instruction, and zero for the normal world, so the per-CPU
/// state starts all zero and sits in .bss.
type Holder = usize;
const NORMAL_WORLD: Holder = 0;
const STALE: Holder = 1;

/// The holder value of context `key` (a context's index: partition slot times contexts per
/// partition, plus context).
const fn context_holder(key: usize) -> Holder {
    key + 2
}

struct CpuEl1 {
    holder: Holder,
    normal_world: El1Registers,
}

struct PerCpu(UnsafeCell<[CpuEl1; CPUS]>);

// SAFETY: each CPU reaches only its own element (`with_this_cpu` picks it by MPIDR_EL1), the
// SPMC runs with interrupts masked at S-EL2, and no function here calls back out while it holds
// the element, so an element is never borrowed twice at once.
unsafe impl Sync for PerCpu {}

static STATE: PerCpu = PerCpu(UnsafeCell::new(
    [const { CpuEl1 { holder: NORMAL_WORLD, normal_world: El1Registers::ZERO } }; CPUS],
));

/// Runs `action` on this CPU's element. A CPU number the board does not have stops the SPMC.
#[inline(always)]
fn with_this_cpu<R>(action: impl FnOnce(&mut CpuEl1) -> R) -> R {
    let index = (platform_common::read_sysreg!("mpidr_el1") & 0xff) as usize;
    // SAFETY: see `PerCpu`: this CPU's element, borrowed only for `action`, which (in this
    // module) only moves registers between the CPU and the element.
    let cpus = unsafe { &mut *STATE.0.get() };
    match cpus.get_mut(index) {
        Some(state) => action(state),
        None => {
            defmt::error!("spmc: running on cpu {=usize}, beyond the board's", index);
            platform_common::semihosting::exit(6)
        }
    }
}

/// Makes the CPU hold context `key`'s EL1 registers (`saved`), setting the normal world's aside
/// first if the CPU holds them. Nothing is written when the CPU already holds `key`'s.
#[inline]
pub fn load_context(key: usize, saved: &El1Registers) {
    let holder = context_holder(key);
    with_this_cpu(|state| {
        if state.holder == holder {
            return;
        }
        if state.holder == NORMAL_WORLD {
            state.normal_world.save();
        }
        saved.restore();
        state.holder = holder;
    })
}

/// Context `key`'s saved EL1 registers were replaced (a fresh start): the CPU's copy is stale.
pub fn forget_context(key: usize) {
    with_this_cpu(|state| {
        if state.holder == context_holder(key) {
            state.holder = STALE;
        }
    })
}

/// Puts the normal world's EL1 registers back if a partition has the CPU's; called before every
/// return to the normal world.
#[inline]
pub fn give_back_to_normal_world() {
    with_this_cpu(|state| {
        if state.holder != NORMAL_WORLD {
            state.normal_world.restore();
            state.holder = NORMAL_WORLD;
        }
    })
}
