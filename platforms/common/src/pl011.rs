//! Polled transmit-only driver for the Arm PL011 UART (enough for consoles and log streams).

use crate::mmio::Registers;

const DATA: usize = 0x000;
const FLAGS: usize = 0x018;
const FLAG_TRANSMIT_FULL: u32 = 1 << 5;
const FLAG_BUSY: u32 = 1 << 3;

/// A PL011 used for output only, by polling.
#[derive(Debug, Clone, Copy)]
pub struct Pl011 {
    registers: Registers,
}

impl Pl011 {
    /// # Safety
    /// `base` must be the address of a PL011 that nothing else drives concurrently in a way that
    /// matters (interleaved bytes are acceptable for consoles).
    pub const unsafe fn new(base: usize) -> Self {
        // SAFETY: forwarded from this function's contract.
        Self { registers: unsafe { Registers::new(base) } }
    }

    /// Sends one byte, waiting while the transmit FIFO is full.
    pub fn write_byte(&self, byte: u8) {
        while self.registers.read(FLAGS) & FLAG_TRANSMIT_FULL != 0 {
            core::hint::spin_loop();
        }
        self.registers.write(DATA, u32::from(byte));
    }

    /// Sends every byte of `bytes`.
    pub fn write_bytes(&self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_byte(byte);
        }
    }

    /// Waits until the UART has shifted out everything queued.
    pub fn flush(&self) {
        while self.registers.read(FLAGS) & FLAG_BUSY != 0 {
            core::hint::spin_loop();
        }
    }
}

impl core::fmt::Write for Pl011 {
    fn write_str(&mut self, text: &str) -> core::fmt::Result {
        for byte in text.bytes() {
            if byte == b'\n' {
                self.write_byte(b'\r');
            }
            self.write_byte(byte);
        }
        Ok(())
    }
}
