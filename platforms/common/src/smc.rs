//! Issuing an SMC with the SMCCC v1.2 register set (x0-x17 in and out).

/// Calls the next-higher firmware with `registers` in x0-x17 and returns x0-x17 after it.
///
/// The EL3 monitor preserves x18-x30 and the stack, as SMCCC v1.2 requires.
pub fn smc(registers: [u64; 18]) -> [u64; 18] {
    let mut registers = registers;
    smc_in_place(&mut registers);
    registers
}

/// [`smc`] on a register block in place: x0-x17 are loaded from `registers` and what the call
/// leaves in them is stored back (no copy of the block on the way in or out).
#[inline]
pub fn smc_in_place(registers: &mut [u64; 18]) {
    #[cfg(target_arch = "aarch64")]
    {
        let r = registers;
        // SAFETY: an SMC traps to the EL3 monitor, which reads and writes only x0-x17 of this
        // context (all declared as operands here) and returns to the next instruction.
        unsafe {
            core::arch::asm!(
                "smc #0",
                inout("x0") r[0], inout("x1") r[1], inout("x2") r[2], inout("x3") r[3],
                inout("x4") r[4], inout("x5") r[5], inout("x6") r[6], inout("x7") r[7],
                inout("x8") r[8], inout("x9") r[9], inout("x10") r[10], inout("x11") r[11],
                inout("x12") r[12], inout("x13") r[13], inout("x14") r[14], inout("x15") r[15],
                inout("x16") r[16], inout("x17") r[17],
                options(nostack)
            );
        }
    }
    #[cfg(not(target_arch = "aarch64"))]
    let _ = registers;
}
