//! EL3 monitor for QEMU virt: loads the images, starts the SPMC at S-EL2, then the normal world
//! at NS-EL2, and relays FF-A calls between them (SPMD-compatible) while answering PSCI/SMCCC.
#![no_std]
#![no_main]

mod context;
mod dispatch;
mod entry;
mod fatal;
mod gic;
mod loader;
mod psci;
mod world;

use core::fmt::Write;

use aarch64_cpu::registers::{CurrentEL, Readable};
use platform_common::pl011::Pl011;
use platform_common::write_sysreg;

use context::GeneralRegisters;
use world::{World, CPU_COUNT};

use platform_common::board::{self, CONSOLE_UART, LOG_LOCK, LOG_UART};
/// SPSR for entering EL2 in AArch64 using SP_EL2 (EL2h), with D, A, I and F masked.
const SPSR_EL2H_MASKED: u64 = 0x3c9;

/// The plain-text console.
pub fn console() -> Pl011 {
    // SAFETY: the board's console PL011; interleaved output is harmless.
    unsafe { Pl011::new(CONSOLE_UART) }
}

/// Powers the machine off (QEMU exits 0).
pub fn power_off() -> ! {
    console().flush();
    board::power_off()
}

/// Resets the machine.
pub fn reset() -> ! {
    console().flush();
    board::reset()
}

fn current_exception_level() -> u64 {
    CurrentEL.read(CurrentEL::EL)
}

extern "C" {
    static monitor_vectors: u8;
}

/// Programs EL3's own controls: vectors, no FP/SIMD traps, GICv3 system registers for all ELs.
fn configure_el3() {
    // Only the symbol's address is taken; it is never read through.
    let vectors = core::ptr::addr_of!(monitor_vectors) as u64;
    write_sysreg!("vbar_el3", vectors);
    write_sysreg!("cptr_el3", 0);
    write_sysreg!("mdcr_el3", 0);
    // ICC_SRE_EL3: SRE, DFB, DIB, and Enable (lower ELs may use the system register interface).
    write_sysreg!("s3_6_c12_c12_5", 0xF);
    #[cfg(target_arch = "aarch64")]
    // SAFETY: a barrier only.
    unsafe {
        core::arch::asm!("isb", options(nostack))
    };
}

/// Called by `entry.rs` on the boot CPU with a stack and zeroed .bss.
#[no_mangle]
extern "C" fn monitor_main() -> ! {
    // SAFETY: on QEMU virt this is the secure PL011, reserved for the log stream.
    unsafe {
        platform_common::logger::init_shared(
            LOG_UART,
            platform_common::logger::ImageId::El3Monitor,
            LOG_LOCK,
        )
    };
    let level = current_exception_level();
    defmt::info!("el3-monitor: running at EL{=u64}, {=usize} CPUs supported", level, CPU_COUNT);
    let _ = writeln!(console(), "el3-monitor: hello from EL{level} on {}", board::NAME);
    configure_el3();
    if let Some((routine, length, destination, source)) =
        platform_common::memory_routines::self_check()
    {
        let _ = writeln!(
            console(),
            "el3-monitor: {routine} is wrong for {length} bytes at offsets {destination}/{source}"
        );
        platform_common::semihosting::exit(2)
    }
    gic::give_interrupts_to_the_normal_world();

    let images = match loader::load_all() {
        Ok(images) => images,
        Err(problem) => {
            let _ = writeln!(console(), "el3-monitor: cannot load the boot images: {problem}");
            defmt::error!("el3-monitor: boot directory unusable");
            platform_common::semihosting::exit(2)
        }
    };

    psci::mark_on(0);
    let secure_entry = Some((images.spmc_entry, images.spmc_manifest));
    start_worlds(0, secure_entry, (images.hypervisor_entry, board::DEVICE_TREE))
}

/// Prepares this CPU's two worlds and enters the first: the SPMC (at `secure_entry`, with x0 as
/// given and x4 = the CPU index) if there is one, else the normal world directly.
fn start_worlds(cpu: usize, secure_entry: Option<(u64, u64)>, normal_entry: (u64, u64)) -> ! {
    // SAFETY: this CPU's state, taken once here before any exception can occur on this CPU.
    let state = unsafe { world::locate_this_cpu() };
    for world in [World::Secure, World::NonSecure] {
        let context = state.world(world);
        context.el2.save();
        context.floating_point.save();
        context.general = Default::default();
        context.general.spsr = SPSR_EL2H_MASKED;
    }
    state.pending_framework_request = None;
    let stack_top = entry::stack_top(cpu);
    for world in [World::Secure, World::NonSecure] {
        state.world(world).general.el3_stack_top = stack_top;
    }
    let normal = &mut state.world(World::NonSecure).general;
    normal.elr = normal_entry.0;
    normal.x[0] = normal_entry.1;
    match secure_entry {
        Some((entry, argument)) => {
            let secure = &mut state.world(World::Secure).general;
            secure.elr = entry;
            secure.x[0] = argument;
            secure.x[4] = cpu as u64;
            state.current = World::Secure;
            state.secure_world_ready = false;
            defmt::info!(
                "el3-monitor: cpu {=usize}: entering the SPMC at S-EL2 ({=u64:#x}, x0 {=u64:#x})",
                cpu,
                entry,
                argument
            );
        }
        None => {
            state.current = World::NonSecure;
            state.secure_world_ready = false;
            defmt::info!(
                "el3-monitor: cpu {=usize}: no SPMC secondary entry, normal world only",
                cpu
            );
        }
    }
    write_sysreg!("scr_el3", state.current.secure_configuration());
    // The FP/SIMD registers hold the normal world's values (see `CpuState`).
    state.secure_floating_point_loaded = false;
    let trap = if state.current == World::Secure { world::CPTR_EL3_TFP } else { 0 };
    write_sysreg!("cptr_el3", trap);
    let first: *mut GeneralRegisters = state.frame();
    // SAFETY: `first` is the running world's complete register frame, in this CPU's static
    // monitor state, with this CPU's EL3 stack top in its last slot; the EL3 stack is reset
    // because nothing on it is needed again (later entries come through the vectors).
    unsafe { entry::monitor_enter_lower(first) }
}

/// A secondary CPU released by PSCI CPU_ON, on its own stack.
#[no_mangle]
extern "C" fn monitor_secondary_main(cpu: usize) -> ! {
    configure_el3();
    psci::mark_on(cpu);
    let secure_entry = psci::secure_secondary_entry().map(|entry| (entry, 0));
    start_worlds(cpu, secure_entry, psci::normal_world_start(cpu))
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    let _ = writeln!(console(), "el3-monitor: PANIC: {info}");
    defmt::error!("el3-monitor: panic");
    platform_common::semihosting::exit(101)
}
