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
    /// The FP/SIMD registers hold the secure world's values (else the normal world's). The
    /// secure images are soft-float, so the normal world's values stay in the registers across
    /// a secure excursion: the secure world runs with FP/SIMD trapped to EL3 (CPTR_EL3.TFP), and
    /// only its first FP/SIMD instruction makes the monitor swap the registers
    /// ([`Self::take_floating_point_for_secure_world`]). (A bool, so the state stays in .bss.)
    pub secure_floating_point_loaded: bool,
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
            secure_floating_point_loaded: false,
        }
    }

    pub fn world(&mut self, world: World) -> &mut WorldContext {
        match world {
            World::Secure => &mut self.worlds[0],
            World::NonSecure => &mut self.worlds[1],
        }
    }

    /// The running world's general registers (stored by the exception entry code).
    pub fn frame(&mut self) -> &mut GeneralRegisters {
        let current = self.current;
        &mut self.world(current).general
    }

    /// Switches the CPU from the current world to `to`: the EL2 system registers are saved and
    /// the other world's loaded, and FP/SIMD is trapped in the secure world while the registers
    /// hold the normal world's values. General registers stay in each world's frame; the exit
    /// path resumes `to`'s frame. The EL1 registers are not switched: the SPMC preserves the
    /// normal world's (see `context`).
    pub fn switch_to(&mut self, to: World) {
        let from = self.current;
        if from == to {
            return;
        }
        let outgoing = &mut self.worlds[from.index()];
        outgoing.el2.save();
        self.worlds[to.index()].el2.restore();
        match to {
            World::NonSecure => {
                if self.secure_floating_point_loaded {
                    self.worlds[World::Secure.index()].floating_point.save();
                    self.worlds[World::NonSecure.index()].floating_point.restore();
                    self.secure_floating_point_loaded = false;
                }
                write_sysreg!("cptr_el3", 0);
            }
            World::Secure => {
                if !self.secure_floating_point_loaded {
                    write_sysreg!("cptr_el3", CPTR_EL3_TFP);
                }
            }
        }
        write_sysreg!("scr_el3", to.secure_configuration());
        self.current = to;
    }

    /// The secure world used FP/SIMD while the registers held the normal world's values: saves
    /// those, loads the secure world's, and stops trapping until the next switch to the normal
    /// world. The trapped instruction then runs again. Returns false (nothing done) when the
    /// trap is not explained by the lazy switch.
    pub fn take_floating_point_for_secure_world(&mut self) -> bool {
        if self.current != World::Secure || self.secure_floating_point_loaded {
            return false;
        }
        write_sysreg!("cptr_el3", 0);
        #[cfg(target_arch = "aarch64")]
        // SAFETY: a barrier only: the CPTR_EL3 write takes effect before EL3's own FP accesses.
        unsafe {
            core::arch::asm!("isb", options(nostack))
        };
        self.worlds[World::NonSecure.index()].floating_point.save();
        self.worlds[World::Secure.index()].floating_point.restore();
        self.secure_floating_point_loaded = true;
        true
    }

    /// Copies the FF-A message registers x0-x17 of the running world's frame into `to`'s frame
    /// (an SMC32 call's x1-x7 truncated to 32 bits and x8-x17 zeroed) and switches to `to`.
    pub fn relay_to(&mut self, to: World, wide: bool) {
        let from = self.current;
        if from == to {
            return;
        }
        let [secure, non_secure] = &mut self.worlds;
        let (source, destination) = match to {
            World::Secure => (&non_secure.general, &mut secure.general),
            World::NonSecure => (&secure.general, &mut non_secure.general),
        };
        destination.take_message(source, wide);
        self.switch_to(to);
    }
}

/// CPTR_EL3.TFP: FP/SIMD instructions below EL3 (and at EL3) trap to EL3.
pub const CPTR_EL3_TFP: u64 = 1 << 10;

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

/// The running CPU's state, found by its MPIDR_EL1; also records its address in TPIDR_EL3,
/// where [`this_cpu`] finds it on every later exception.
///
/// # Safety
/// Must not be called while a reference to this CPU's state is alive (it is called once per
/// CPU start, before the CPU first leaves EL3).
pub unsafe fn locate_this_cpu() -> &'static mut CpuState {
    let index = cpu_index().min(CPU_COUNT - 1);
    // SAFETY: per this function's contract and `PerCpu`'s, this is the only live reference to
    // this CPU's element.
    let state = unsafe { &mut (*CPUS.0.get())[index] };
    write_sysreg!("tpidr_el3", state as *mut CpuState as u64);
    state
}

/// The running CPU's state, from the address [`locate_this_cpu`] left in TPIDR_EL3 (one
/// register read on the hot path instead of an MPIDR_EL1 decode and an index computation).
///
/// # Safety
/// [`locate_this_cpu`] must have run on this CPU (so it must, for a lower EL to have run), and
/// this must not be called again while a reference it returned is alive (EL3 code takes it
/// once per exception, at the top of the handler).
pub unsafe fn this_cpu() -> &'static mut CpuState {
    let state = platform_common::read_sysreg!("tpidr_el3") as *mut CpuState;
    // SAFETY: TPIDR_EL3 holds this CPU's element of `CPUS` (only `locate_this_cpu` writes it),
    // and per the contract this is the only live reference to it.
    unsafe { &mut *state }
}
