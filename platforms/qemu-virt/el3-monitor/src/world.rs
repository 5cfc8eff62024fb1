//! The two worlds on each CPU, and the switch between them (SCR_EL3.NS plus shared registers).

use core::cell::UnsafeCell;

use crate::context::{GeneralRegisters, WorldContext};
use aarch64_cpu::registers::{Readable, MPIDR_EL1};
use platform_common::write_sysreg;

/// Which security state a lower exception level runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum World {
    Secure = 0,
    NonSecure = 1,
}

/// SCR_EL3 bits the monitor sets.
mod scr {
    pub const NS: u64 = 1 << 0;
    pub const HCE: u64 = 1 << 8;
    pub const RW: u64 = 1 << 10;
    pub const APK: u64 = 1 << 16;
    pub const API: u64 = 1 << 17;
    pub const EEL2: u64 = 1 << 18;
    pub const HXEN: u64 = 1 << 38;
    /// Lower ELs are AArch64, HVC is enabled, pointer authentication and HCRX_EL2 do not trap,
    /// and the secure world has an EL2.
    pub const COMMON: u64 = HCE | RW | APK | API | EEL2 | HXEN;
}

impl World {
    /// The SCR_EL3 value that runs this world.
    pub const fn secure_configuration(self) -> u64 {
        match self {
            Self::Secure => scr::COMMON,
            Self::NonSecure => scr::COMMON | scr::NS,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The monitor's state for one CPU.
#[derive(Debug)]
pub struct CpuState {
    pub worlds: [WorldContext; 2],
    pub current: World,
    /// The SPMC finished its initialisation on this CPU (its first FFA_MSG_WAIT).
    pub secure_world_ready: bool,
    /// A framework request the monitor itself sent to the SPMC and awaits the answer to.
    pub pending_framework_request: Option<FrameworkRequest>,
}

/// Framework requests the monitor sends the SPMC on the normal world's behalf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameworkRequest {
    /// FFA_VERSION from the normal world, sent as a VERSION_REQ framework message.
    Version,
}

impl CpuState {
    const fn new() -> Self {
        Self {
            worlds: [WorldContext::zeroed(), WorldContext::zeroed()],
            current: World::Secure,
            secure_world_ready: false,
            pending_framework_request: None,
        }
    }

    pub fn world(&mut self, world: World) -> &mut WorldContext {
        match world {
            World::Secure => &mut self.worlds[0],
            World::NonSecure => &mut self.worlds[1],
        }
    }

    /// Switches the CPU from the current world to `to`. `frame` holds the outgoing world's
    /// general registers on entry and the incoming world's on return.
    pub fn switch_to(&mut self, to: World, frame: &mut GeneralRegisters) {
        let from = self.current;
        if from == to {
            return;
        }
        let outgoing = &mut self.worlds[from.index()];
        outgoing.general = *frame;
        outgoing.el2.save();
        outgoing.el1.save();
        if from == World::NonSecure {
            outgoing.floating_point.save();
        }
        let incoming = &self.worlds[to.index()];
        incoming.el2.restore();
        incoming.el1.restore();
        if to == World::NonSecure {
            incoming.floating_point.restore();
        }
        write_sysreg!("scr_el3", to.secure_configuration());
        *frame = incoming.general;
        self.current = to;
    }
}

/// Maximum CPUs (QEMU virt runs with -smp 4).
pub const CPU_COUNT: usize = 4;

struct PerCpu(UnsafeCell<[CpuState; CPU_COUNT]>);

// SAFETY: each CPU only ever touches its own element (see `this_cpu`), and EL3 runs with
// interrupts masked, so no element is reached from two contexts at once.
unsafe impl Sync for PerCpu {}

static CPUS: PerCpu = PerCpu(UnsafeCell::new([const { CpuState::new() }; CPU_COUNT]));

/// The linear index of the running CPU (Aff0 on QEMU virt).
pub fn cpu_index() -> usize {
    (MPIDR_EL1.get() & 0xff) as usize
}

/// The running CPU's state.
///
/// # Safety
/// Must not be called again while a reference it returned is alive (EL3 code takes it once per
/// exception, at the top of the handler).
pub unsafe fn this_cpu() -> &'static mut CpuState {
    let index = cpu_index().min(CPU_COUNT - 1);
    // SAFETY: per this function's contract and `PerCpu`'s, this is the only live reference to
    // this CPU's element.
    unsafe { &mut (*CPUS.0.get())[index] }
}
