//! Arm FVP Base RevC (memory map as TF-A's FVP port describes it; see docs/src/memory-map.md).
//!
//! Built here but not run here (no FVP on the development machines); docs/src/running.md gives
//! the command for people who have the model.

use super::GuestPlacement;
use crate::mmio::Registers;

/// The board's name, for logs.
pub const NAME: &str = "FVP Base RevC";
/// PL011 UART0: the plain-text console.
pub const CONSOLE_UART: usize = 0x1C09_0000;
/// PL011 UART1: the defmt log stream of the secure images.
pub const LOG_UART: usize = 0x1C0A_0000;
/// A word of Trusted DRAM the secure images share as their log frame lock.
pub const LOG_LOCK: usize = 0x060F_E000;
/// Trusted boot ROM: the reset vector, the image directory and the blobs.
pub const FLASH_BASE: usize = 0;
pub const FLASH_SIZE: usize = 64 << 20;
/// Memory the EL3 monitor may load blobs into: Trusted DRAM, and non-secure DRAM.
pub const LOADABLE: [(u64, u64); 2] = [(0x0600_0000, 0x0800_0000), (0x8000_0000, 0xFF00_0000)];
/// No device tree is handed to NS-EL2 on this board yet.
pub const DEVICE_TREE: u64 = 0;
/// Normal-world memory a PSCI CPU_ON entry point may be in.
pub const NORMAL_WORLD_MEMORY: core::ops::Range<u64> = 0x8000_0000..0xFF00_0000;
/// The test VMs' RAM (each sees it at IPA 0x4000_0000) and IDs.
pub const GUESTS: [GuestPlacement; 2] =
    [GuestPlacement { ram: 0x8100_0000, id: 1 }, GuestPlacement { ram: 0x8200_0000, id: 2 }];
/// The console a VM reaches at IPA 0x0900_0000.
pub const GUEST_CONSOLE: u64 = CONSOLE_UART as u64;
/// GICv3 distributor and first redistributor frame (the EL3 monitor gives the normal world
/// its interrupts: see el3-monitor/src/gic.rs).
pub const GIC_DISTRIBUTOR: usize = 0x2F00_0000;
pub const GIC_REDISTRIBUTOR: usize = 0x2F10_0000;
/// The FVP's secondary CPUs are powered on through its power controller, which the monitor
/// does not drive yet: PSCI CPU_ON is not offered on this board.
pub const SECONDARY_CPUS: bool = false;

/// The V2M motherboard's system registers and the configuration functions used here.
const SYSTEM_REGISTERS: usize = 0x1C01_0000;
const CONFIGURATION_CONTROL: usize = 0xA4;
const CONFIGURATION_START: u32 = 1 << 31;
const CONFIGURATION_WRITE: u32 = 1 << 30;
const FUNCTION_SHUTDOWN: u32 = 0x08 << 20;
const FUNCTION_REBOOT: u32 = 0x09 << 20;

fn configure(function: u32) -> ! {
    // SAFETY: on the FVP Base RevC this is the V2M system register block.
    let registers = unsafe { Registers::new(SYSTEM_REGISTERS) };
    registers.write(CONFIGURATION_CONTROL, CONFIGURATION_START | CONFIGURATION_WRITE | function);
    loop {
        core::hint::spin_loop();
    }
}

/// Powers the model off (it exits with `-C bp.ve_sysregs.exit_on_shutdown=1`).
pub fn power_off() -> ! {
    configure(FUNCTION_SHUTDOWN)
}

/// Resets the model.
pub fn reset() -> ! {
    configure(FUNCTION_REBOOT)
}

/// The hypervisor's own memory (its 2 MiB image region): the SPMC's memory map lists it as
/// endpoint 0's, so the hypervisor can share pages of it with partitions.
pub const HYPERVISOR_MEMORY: (u64, u64) = (0x8020_0000, 2 << 20);
