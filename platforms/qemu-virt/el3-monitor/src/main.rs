//! EL3 monitor for QEMU virt: boots first, reports over the UARTs, and powers the machine off.
#![no_std]
#![no_main]

#[cfg(target_arch = "aarch64")]
mod entry;

use core::fmt::Write;

use platform_common::pl011::Pl011;
use platform_common::power::PowerController;

/// QEMU virt's non-secure PL011: the plain-text console (first `-serial`).
const CONSOLE_UART: usize = 0x0900_0000;
/// QEMU virt's secure PL011: the defmt log stream (second `-serial`).
const LOG_UART: usize = 0x0904_0000;
/// QEMU virt's secure PL061 GPIO: pin 0 powers off.
const POWER_GPIO: usize = 0x090b_0000;

/// Reads the current exception level from `CurrentEL`.
fn current_exception_level() -> u64 {
    #[cfg(target_arch = "aarch64")]
    {
        let value: u64;
        // SAFETY: reading CurrentEL has no side effects and is allowed at every EL.
        unsafe { core::arch::asm!("mrs {}, CurrentEL", out(reg) value, options(nomem, nostack)) };
        (value >> 2) & 3
    }
    #[cfg(not(target_arch = "aarch64"))]
    3
}

/// Called by `entry.S` on the boot CPU with a stack and zeroed .bss.
#[no_mangle]
extern "C" fn monitor_main() -> ! {
    // SAFETY: on QEMU virt these addresses are the UARTs and GPIO named above, and this image is
    // the only code running.
    let (mut console, power) = unsafe {
        platform_common::logger::init(LOG_UART, platform_common::logger::ImageId::El3Monitor);
        (Pl011::new(CONSOLE_UART), PowerController::new(POWER_GPIO))
    };
    let level = current_exception_level();
    defmt::info!("el3-monitor: running at EL{=u64}", level);
    let _ = writeln!(console, "el3-monitor: hello from EL{level} on QEMU virt");
    defmt::info!("el3-monitor: powering off");
    let _ = writeln!(console, "el3-monitor: powering off");
    console.flush();
    power.power_off()
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    // SAFETY: the console UART is a PL011 on QEMU virt; interleaving with other output is fine.
    let mut console = unsafe { Pl011::new(CONSOLE_UART) };
    let _ = writeln!(console, "el3-monitor: PANIC: {info}");
    defmt::error!("el3-monitor: panic");
    platform_common::semihosting::exit(101)
}
