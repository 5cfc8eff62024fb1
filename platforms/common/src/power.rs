//! Power-off and reset through a PL061 GPIO wired to the board's power controller (QEMU virt).

use crate::mmio::Registers;

const DIRECTION: usize = 0x400;

/// A PL061 GPIO block whose pin 0 powers the machine off and pin 1 resets it.
#[derive(Debug, Clone, Copy)]
pub struct PowerController {
    registers: Registers,
}

impl PowerController {
    /// # Safety
    /// `base` must be the address of the PL061 whose pins 0 and 1 are the power-off and reset
    /// lines (QEMU virt's secure GPIO at 0x090b_0000).
    pub const unsafe fn new(base: usize) -> Self {
        // SAFETY: forwarded from this function's contract.
        Self { registers: unsafe { Registers::new(base) } }
    }

    fn pulse(&self, pin: u32) -> ! {
        let mask = 1u32 << pin;
        self.registers.write(DIRECTION, mask);
        // A PL061 data write only changes the pins selected by address bits [9:2].
        self.registers.write((mask as usize) << 2, mask);
        loop {
            core::hint::spin_loop();
        }
    }

    /// Powers the machine off; QEMU exits with status 0.
    pub fn power_off(&self) -> ! {
        self.pulse(0)
    }

    /// Resets the machine.
    pub fn reset(&self) -> ! {
        self.pulse(1)
    }
}
