//! SMC handling at EL3: SMCCC and PSCI answered here, FF-A relayed between the two worlds.
//!
//! The relay follows TF-A's SPMD where it matters to an SPMC: x0-x17 cross for SMC64 calls,
//! x0-x7 (with x8-x17 zeroed) for SMC32 calls; the SPMC's first FFA_MSG_WAIT ends its boot and
//! starts the normal world; the normal world's FFA_VERSION reaches the SPMC as a VERSION_REQ
//! framework message and its VERSION_RESP comes back as a plain version in w0; the SPMC's own
//! FFA_VERSION, FFA_SPM_ID_GET and FFA_SECONDARY_EP_REGISTER are answered here.

use aarch64_cpu::registers::{Readable, ESR_EL3};

use crate::context::GeneralRegisters;
use crate::world::{this_cpu, CpuState, FrameworkRequest, World};
use crate::{fatal, psci};

mod function {
    pub const SMCCC_VERSION: u32 = 0x8000_0000;
    pub const SMCCC_ARCH_FEATURES: u32 = 0x8000_0001;
    pub const FFA_ERROR: u64 = 0x8400_0060;
    pub const FFA_SUCCESS_32: u64 = 0x8400_0061;
    pub const FFA_SUCCESS_64: u64 = 0xC400_0061;
    pub const FFA_VERSION: u32 = 0x8400_0063;
    pub const FFA_MSG_WAIT: u32 = 0x8400_006B;
    pub const FFA_SPM_ID_GET: u32 = 0x8400_0085;
    pub const FFA_MSG_SEND_DIRECT_REQ_32: u64 = 0x8400_006F;
    pub const FFA_MSG_SEND_DIRECT_RESP_32: u32 = 0x8400_0070;
    pub const FFA_SECONDARY_EP_REGISTER_64: u32 = 0xC400_0087;
}

/// SMCCC version this monitor implements (1.2: x0-x17 for SMC64 calls).
const SMCCC_VERSION_1_2: u64 = 0x1_0002;
/// The FF-A version of this monitor's relay (1.2).
const FFA_VERSION_1_2: u64 = 0x1_0002;
/// SMCCC "unknown function" and FF-A NOT_SUPPORTED share the value -1 in w0/w2.
const NOT_SUPPORTED: u64 = 0xFFFF_FFFF;
const INVALID_PARAMETERS: u64 = 0xFFFF_FFFE;
/// The ID TF-A's SPMD answers FFA_SPM_ID_GET with when the SPMC asks.
const SPMD_ID: u64 = 0xFFFF;
/// The SPMC's endpoint ID (its core manifest's `spmc_id`).
const SPMC_ID: u64 = 0x8000;
/// w2 of a framework message: bit 31 and the message type.
const FRAMEWORK_VERSION_REQUEST: u64 = 0x8000_0008;
const FRAMEWORK_VERSION_RESPONSE: u64 = 0x8000_0009;
const DENIED: u64 = 0xFFFF_FFFA;
/// ESR_EL3.EC of a trapped FP/SIMD access (CPTR_EL3.TFP).
const FLOATING_POINT_ACCESS: u64 = 0x07;
/// ESR_EL3.EC of an SMC from AArch64.
const SMC64: u64 = 0x17;

fn is_ffa(function: u32) -> bool {
    (function & !(1 << 30)) & 0xFFFF_FF00 == 0x8400_0000 && (function & 0xFF) >= 0x60
}

fn is_psci(function: u32) -> bool {
    (function & !(1 << 30)) & 0xFFFF_FFE0 == 0x8400_0000
}

fn is_64bit(function: u32) -> bool {
    function & (1 << 30) != 0
}

fn set_result(frame: &mut GeneralRegisters, values: &[u64]) {
    for (index, register) in frame.x.iter_mut().take(18).enumerate() {
        *register = values.get(index).copied().unwrap_or(0);
    }
}

fn ffa_error(frame: &mut GeneralRegisters, code: u64) {
    set_result(frame, &[function::FFA_ERROR, 0, code]);
}

/// Relays the FF-A message in the running world's x0-x17 to the other world, as wide as the
/// call allows.
fn relay(cpu: &mut CpuState, to: World) {
    let function = cpu.frame().x[0] as u32;
    cpu.relay_to(to, is_64bit(function));
}

fn handle_smccc(function: u32, frame: &mut GeneralRegisters) -> bool {
    match function {
        function::SMCCC_VERSION => set_result(frame, &[SMCCC_VERSION_1_2]),
        function::SMCCC_ARCH_FEATURES => {
            let queried = frame.x[1] as u32;
            let supported =
                matches!(queried, function::SMCCC_VERSION | function::SMCCC_ARCH_FEATURES);
            set_result(frame, &[if supported { 0 } else { NOT_SUPPORTED }]);
        }
        _ => return false,
    }
    true
}

fn from_normal_world(cpu: &mut CpuState, function: u32) {
    // FF-A first: it is the hot path, and its function IDs overlap neither SMCCC's nor PSCI's.
    if is_ffa(function) {
        if !cpu.secure_world_ready {
            if function == function::FFA_VERSION {
                set_result(cpu.frame(), &[NOT_SUPPORTED]);
            } else {
                ffa_error(cpu.frame(), NOT_SUPPORTED);
            }
            return;
        }
        if function == function::FFA_VERSION {
            ask_spmc_version(cpu);
        } else {
            relay(cpu, World::Secure);
        }
        return;
    }
    if handle_smccc(function, cpu.frame()) {
        return;
    }
    if is_psci(function) {
        psci::handle(function, cpu.frame());
        return;
    }
    set_result(cpu.frame(), &[NOT_SUPPORTED]);
}

/// Sends the normal world's FFA_VERSION to the SPMC as a VERSION_REQ framework message.
fn ask_spmc_version(cpu: &mut CpuState) {
    let requested = cpu.frame().x[1] & 0xFFFF_FFFF;
    cpu.pending_framework_request = Some(FrameworkRequest::Version);
    set_result(
        cpu.frame(),
        &[
            function::FFA_MSG_SEND_DIRECT_REQ_32,
            (SPMD_ID << 16) | SPMC_ID,
            FRAMEWORK_VERSION_REQUEST,
            requested,
        ],
    );
    relay(cpu, World::Secure);
}

/// A direct response addressed to the monitor: the answer to its own framework request.
fn framework_response(cpu: &mut CpuState) {
    let pending = cpu.pending_framework_request.take();
    match (pending, cpu.frame().x[2]) {
        (Some(FrameworkRequest::Version), FRAMEWORK_VERSION_RESPONSE) => {
            let version = cpu.frame().x[3] & 0xFFFF_FFFF;
            cpu.switch_to(World::NonSecure);
            // The normal world's FFA_VERSION returns the version alone in w0.
            set_result(cpu.frame(), &[version]);
        }
        _ => ffa_error(cpu.frame(), DENIED),
    }
}

fn from_secure_world(cpu: &mut CpuState, function: u32) {
    match function {
        function::FFA_VERSION => set_result(cpu.frame(), &[FFA_VERSION_1_2]),
        function::FFA_SPM_ID_GET => {
            set_result(cpu.frame(), &[function::FFA_SUCCESS_32, 0, SPMD_ID])
        }
        function::FFA_SECONDARY_EP_REGISTER_64 => {
            let entry = cpu.frame().x[1];
            if psci::register_secure_secondary_entry(entry) {
                set_result(cpu.frame(), &[function::FFA_SUCCESS_64]);
            } else {
                set_result(cpu.frame(), &[0xC400_0060, 0, INVALID_PARAMETERS]);
            }
        }
        function::FFA_MSG_WAIT if !cpu.secure_world_ready => {
            defmt::info!("el3-monitor: SPMC initialised, starting the normal world at NS-EL2");
            cpu.secure_world_ready = true;
            cpu.switch_to(World::NonSecure);
        }
        function::FFA_MSG_SEND_DIRECT_RESP_32 if cpu.frame().x[1] & 0xFFFF == SPMD_ID => {
            framework_response(cpu)
        }
        _ if is_ffa(function) => relay(cpu, World::NonSecure),
        _ if handle_smccc(function, cpu.frame()) => {}
        _ if is_psci(function) => psci::handle(function, cpu.frame()),
        _ => set_result(cpu.frame(), &[NOT_SUPPORTED]),
    }
}

/// Called from the vectors for every synchronous exception from a lower EL, after the entry
/// code stored the running world's registers in its frame. Returns the frame of the world to
/// resume.
#[no_mangle]
extern "C" fn monitor_handle_lower_sync() -> *mut GeneralRegisters {
    // SAFETY: taken once per exception, here; every handler below borrows it from this one
    // reference, and the entry code touches the frames only before and after this call.
    let cpu = unsafe { this_cpu() };
    let syndrome = ESR_EL3.get();
    let class = (syndrome >> 26) & 0x3F;
    if class == FLOATING_POINT_ACCESS && cpu.take_floating_point_for_secure_world() {
        return cpu.frame();
    }
    if class != SMC64 {
        let world = cpu.current;
        fatal::lower_exception(world, syndrome, cpu.frame());
    }
    let function = cpu.frame().x[0] as u32;
    match cpu.current {
        World::NonSecure => from_normal_world(cpu, function),
        World::Secure => from_secure_world(cpu, function),
    }
    cpu.frame()
}
