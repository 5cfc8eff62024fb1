//! EL3 monitor for QEMU virt: loads the images, starts the SPMC at S-EL2, then the normal world
//! at NS-EL2, and relays FF-A calls between them (SPMD-compatible) while answering PSCI/SMCCC.
#![no_std]
#![no_main]

mod context;
mod dispatch;
#[cfg(target_arch = "aarch64")]
mod entry;
mod fatal;
mod loader;
mod psci;
mod world;

use core::fmt::Write;

use aarch64_cpu::registers::{CurrentEL, Readable};
use platform_common::pl011::Pl011;
use platform_common::power::PowerController;
use platform_common::write_sysreg;

use world::{World, CPU_COUNT};

/// QEMU virt's non-secure PL011: the plain-text console (first `-serial`).
const CONSOLE_UART: usize = 0x0900_0000;
/// QEMU virt's secure PL011: the defmt log stream (second `-serial`).
const LOG_UART: usize = 0x0904_0000;
/// QEMU virt's secure PL061 GPIO: pin 0 powers off, pin 1 resets.
const POWER_GPIO: usize = 0x090b_0000;
/// Where QEMU leaves its generated device tree for the firmware to hand on (start of DRAM).
const DEVICE_TREE_ADDRESS: u64 = 0x4000_0000;
/// SPSR for entering EL2 in AArch64 using SP_EL2 (EL2h), with D, A, I and F masked.
const SPSR_EL2H_MASKED: u64 = 0x3c9;

/// The plain-text console.
pub fn console() -> Pl011 {
    // SAFETY: on QEMU virt this address is the non-secure PL011; interleaved output is harmless.
    unsafe { Pl011::new(CONSOLE_UART) }
}

fn power_controller() -> PowerController {
    // SAFETY: on QEMU virt this address is the secure PL061 wired to power-off and reset.
    unsafe { PowerController::new(POWER_GPIO) }
}

/// Powers the machine off (QEMU exits 0).
pub fn power_off() -> ! {
    console().flush();
    power_controller().power_off()
}

/// Resets the machine.
pub fn reset() -> ! {
    console().flush();
    power_controller().reset()
}

fn current_exception_level() -> u64 {
    CurrentEL.read(CurrentEL::EL)
}

extern "C" {
    static monitor_vectors: u8;
    static __stack_top: u8;
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
        platform_common::logger::init(LOG_UART, platform_common::logger::ImageId::El3Monitor)
    };
    let level = current_exception_level();
    defmt::info!("el3-monitor: running at EL{=u64}, {=usize} CPUs supported", level, CPU_COUNT);
    let _ = writeln!(console(), "el3-monitor: hello from EL{level} on QEMU virt");
    configure_el3();

    let images = match loader::load_all() {
        Ok(images) => images,
        Err(problem) => {
            let _ = writeln!(console(), "el3-monitor: cannot load the boot images: {problem}");
            defmt::error!("el3-monitor: boot directory unusable");
            platform_common::semihosting::exit(2)
        }
    };

    // SAFETY: the boot CPU's state, taken once here before any exception can occur.
    let cpu = unsafe { world::this_cpu() };
    for world in [World::Secure, World::NonSecure] {
        let context = cpu.world(world);
        context.el2.save();
        context.el1.save();
        context.floating_point.save();
        context.general.spsr = SPSR_EL2H_MASKED;
    }
    let normal = &mut cpu.world(World::NonSecure).general;
    normal.elr = images.hypervisor_entry;
    normal.x[0] = DEVICE_TREE_ADDRESS;
    let secure = &mut cpu.world(World::Secure).general;
    secure.elr = images.spmc_entry;
    secure.x[0] = images.spmc_manifest;
    secure.x[4] = 0;
    let first = *secure;
    cpu.current = World::Secure;
    defmt::info!(
        "el3-monitor: entering the SPMC at S-EL2 ({=u64:#x}, manifest at {=u64:#x})",
        images.spmc_entry,
        images.spmc_manifest
    );
    write_sysreg!("scr_el3", World::Secure.secure_configuration());
    // Only the symbol's address is taken.
    let stack_top = core::ptr::addr_of!(__stack_top) as u64;
    #[cfg(target_arch = "aarch64")]
    // SAFETY: `first` is a complete register frame for the SPMC's entry; the EL3 stack is reset
    // because nothing on it is needed again (later entries come through the vectors).
    unsafe {
        entry::monitor_enter_lower(&first, stack_top)
    }
    #[cfg(not(target_arch = "aarch64"))]
    {
        let _ = (first, stack_top);
        power_off()
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    let _ = writeln!(console(), "el3-monitor: PANIC: {info}");
    defmt::error!("el3-monitor: panic");
    platform_common::semihosting::exit(101)
}
