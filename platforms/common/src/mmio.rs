//! The one place images touch device registers: volatile 32-bit reads and writes at fixed addresses.

/// A device register block at a fixed physical address, reached with 32-bit volatile accesses.
///
/// Constructing one is `unsafe` because the caller promises the address really is a device of
/// the right kind, mapped (or reached with the MMU off) and not used through any other alias.
#[derive(Debug, Clone, Copy)]
pub struct Registers {
    base: usize,
}

impl Registers {
    /// # Safety
    /// `base` must be the address of a device register block that stays valid for the whole run
    /// and whose registers at the offsets later passed to `read`/`write` accept 32-bit accesses.
    pub const unsafe fn new(base: usize) -> Self {
        Self { base }
    }

    /// Reads the 32-bit register at `offset` bytes from the block's base.
    pub fn read(&self, offset: usize) -> u32 {
        // SAFETY: `new`'s contract says base+offset is a valid 32-bit device register.
        unsafe { core::ptr::read_volatile((self.base + offset) as *const u32) }
    }

    /// Writes the 32-bit register at `offset` bytes from the block's base.
    pub fn write(&self, offset: usize, value: u32) {
        // SAFETY: `new`'s contract says base+offset is a valid 32-bit device register.
        unsafe { core::ptr::write_volatile((self.base + offset) as *mut u32, value) }
    }
}
