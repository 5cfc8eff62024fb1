//! QEMU `virt` with secure=on, virtualization=on, GICv3 (see docs/src/memory-map.md).

use super::GuestPlacement;
use crate::power::PowerController;

/// The board's name, for logs.
pub const NAME: &str = "QEMU virt";
/// Non-secure PL011: the plain-text console (QEMU's first `-serial`).
pub const CONSOLE_UART: usize = 0x0900_0000;
/// Secure PL011: the defmt log stream (QEMU's second `-serial`).
pub const LOG_UART: usize = 0x0904_0000;
/// A word of secure RAM the secure images share as their log frame lock.
pub const LOG_LOCK: usize = 0x0E0F_E000;
/// The secure PL061 GPIO whose pins power off (0) and reset (1).
const POWER_GPIO: usize = 0x090b_0000;
/// The secure boot flash: the reset vector, the image directory and the blobs.
pub const FLASH_BASE: usize = 0;
pub const FLASH_SIZE: usize = 64 << 20;
/// Memory the EL3 monitor may load blobs into: secure RAM above its own 256 KiB, and DRAM.
pub const LOADABLE: [(u64, u64); 2] = [(0x0E04_0000, 0x0F00_0000), (0x4000_0000, 0x8000_0000)];
/// Where QEMU leaves the device tree it generates (start of DRAM), handed to NS-EL2 in x0.
pub const DEVICE_TREE: u64 = 0x4000_0000;
/// Normal-world memory a PSCI CPU_ON entry point may be in.
pub const NORMAL_WORLD_MEMORY: core::ops::Range<u64> = 0x4000_0000..0x8000_0000;
/// The test VMs' RAM (each sees it at IPA 0x4000_0000) and IDs.
pub const GUESTS: [GuestPlacement; 2] =
    [GuestPlacement { ram: 0x4100_0000, id: 1 }, GuestPlacement { ram: 0x4200_0000, id: 2 }];
/// The console a VM reaches at IPA 0x0900_0000.
pub const GUEST_CONSOLE: u64 = CONSOLE_UART as u64;
/// GICv3 distributor and first redistributor frame (the EL3 monitor gives the normal world
/// its interrupts: see el3-monitor/src/gic.rs).
pub const GIC_DISTRIBUTOR: usize = 0x0800_0000;
pub const GIC_REDISTRIBUTOR: usize = 0x080A_0000;
/// The hypervisor's own memory (its 2 MiB image region): the SPMC's memory map lists it as
/// endpoint 0's, so the hypervisor can share pages of it with partitions.
pub const HYPERVISOR_MEMORY: (u64, u64) = (0x4020_0000, 2 << 20);
/// Whether PSCI CPU_ON can start secondary CPUs (they wait in the monitor's holding pen).
pub const SECONDARY_CPUS: bool = true;

fn power_controller() -> PowerController {
    // SAFETY: on QEMU virt this is the secure PL061 wired to power-off and reset.
    unsafe { PowerController::new(POWER_GPIO) }
}

/// Powers the machine off (QEMU exits 0).
pub fn power_off() -> ! {
    power_controller().power_off()
}

/// Resets the machine.
pub fn reset() -> ! {
    power_controller().reset()
}
