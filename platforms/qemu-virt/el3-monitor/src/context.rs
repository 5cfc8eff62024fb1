//! Per-world CPU state the monitor keeps: general registers, EL2 system registers, FP/SIMD.
//!
//! With FEAT_SEL2 the EL2 registers are shared by the secure and non-secure EL2, so every
//! world switch saves the outgoing world's copies and restores the incoming world's. The EL1
//! registers are shared by S-EL1 and NS-EL1 too, but the monitor leaves them alone, as TF-A's
//! SPMD does when the SPMC runs at S-EL2: the SPMC is the only secure code that runs at S-EL1
//! (through its partitions), so it preserves the normal world's EL1 registers itself, and only
//! when it actually runs a partition (`secure-partition-manager/src/normal_world_el1.rs`).

use platform_common::paired_register_block;

/// The general registers and return state of one world, stored here on every exception entry
/// to EL3 from that world. Layout is shared with the assembly in `entry.rs`: x0-x30 at 0..248,
/// ELR at 248, SPSR at 256, the CPU's EL3 stack top at 264.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C)]
pub struct GeneralRegisters {
    /// x0-x30.
    pub x: [u64; 31],
    /// Where the world resumes (ELR_EL3).
    pub elr: u64,
    /// The world's PSTATE on resume (SPSR_EL3).
    pub spsr: u64,
    /// Where the exception entry code moves SP_EL3 after storing the registers here (the
    /// top of this CPU's EL3 stack); not a register of the world.
    pub el3_stack_top: u64,
}

const _: () = assert!(core::mem::size_of::<GeneralRegisters>() == 272);

impl GeneralRegisters {
    /// Takes the FF-A message in `source`'s x0-x17 into `self`: all of x0-x17 for an SMC64
    /// call (`wide`), else x0 with w1-w7 (upper halves cleared) and x8-x17 zeroed. Written out
    /// pair by pair: the compiler would call memcpy and memset for the two halves.
    #[inline]
    pub fn take_message(&mut self, source: &Self, wide: bool) {
        #[cfg(target_arch = "aarch64")]
        // SAFETY: reads the first 144 bytes of `source` and writes the first 144 bytes of
        // `self`, both complete `GeneralRegisters` (272 bytes) that do not overlap (`&mut`).
        unsafe {
            if wide {
                core::arch::asm!(
                    "ldp {a}, {b}, [{source}, #0]", "stp {a}, {b}, [{destination}, #0]",
                    "ldp {a}, {b}, [{source}, #16]", "stp {a}, {b}, [{destination}, #16]",
                    "ldp {a}, {b}, [{source}, #32]", "stp {a}, {b}, [{destination}, #32]",
                    "ldp {a}, {b}, [{source}, #48]", "stp {a}, {b}, [{destination}, #48]",
                    "ldp {a}, {b}, [{source}, #64]", "stp {a}, {b}, [{destination}, #64]",
                    "ldp {a}, {b}, [{source}, #80]", "stp {a}, {b}, [{destination}, #80]",
                    "ldp {a}, {b}, [{source}, #96]", "stp {a}, {b}, [{destination}, #96]",
                    "ldp {a}, {b}, [{source}, #112]", "stp {a}, {b}, [{destination}, #112]",
                    "ldp {a}, {b}, [{source}, #128]", "stp {a}, {b}, [{destination}, #128]",
                    source = in(reg) source as *const Self,
                    destination = in(reg) self as *mut Self,
                    a = out(reg) _,
                    b = out(reg) _,
                    options(nostack, preserves_flags)
                );
            } else {
                core::arch::asm!(
                    "ldp {a}, {b}, [{source}, #0]",
                    "mov {b:w}, {b:w}",
                    "stp {a}, {b}, [{destination}, #0]",
                    "ldp {a}, {b}, [{source}, #16]",
                    "mov {a:w}, {a:w}", "mov {b:w}, {b:w}",
                    "stp {a}, {b}, [{destination}, #16]",
                    "ldp {a}, {b}, [{source}, #32]",
                    "mov {a:w}, {a:w}", "mov {b:w}, {b:w}",
                    "stp {a}, {b}, [{destination}, #32]",
                    "ldp {a}, {b}, [{source}, #48]",
                    "mov {a:w}, {a:w}", "mov {b:w}, {b:w}",
                    "stp {a}, {b}, [{destination}, #48]",
                    "stp xzr, xzr, [{destination}, #64]",
                    "stp xzr, xzr, [{destination}, #80]",
                    "stp xzr, xzr, [{destination}, #96]",
                    "stp xzr, xzr, [{destination}, #112]",
                    "stp xzr, xzr, [{destination}, #128]",
                    source = in(reg) source as *const Self,
                    destination = in(reg) self as *mut Self,
                    a = out(reg) _,
                    b = out(reg) _,
                    options(nostack, preserves_flags)
                );
            }
        }
        #[cfg(not(target_arch = "aarch64"))]
        {
            self.x[0] = source.x[0];
            for index in 1..18 {
                self.x[index] = if wide {
                    source.x[index]
                } else if index < 8 {
                    source.x[index] & 0xFFFF_FFFF
                } else {
                    0
                };
            }
        }
    }
}

paired_register_block! {
    /// EL2 registers shared between the secure and non-secure EL2: the common set TF-A's SPMD
    /// switches for an S-EL2 SPMC, with HCRX_EL2 and the GICv3 EL2 registers. The registers of
    /// optional features TF-A adds when it enables them (VHE's TTBR1_EL2/CONTEXTIDR_EL2, FGT,
    /// ECV, MTE, RAS, ...) are not here: neither world's EL2 code on this board uses those
    /// features. VSTTBR_EL2 and VSTCR_EL2 exist in the secure state only, so the normal world
    /// cannot change them.
    pub struct El2Registers {
        (hcr: "hcr_el2", hcrx: "s3_4_c1_c2_2"), // HCRX_EL2 (FEAT_HCX).
        (sctlr: "sctlr_el2", actlr: "actlr_el2"),
        (cptr: "cptr_el2", hstr: "hstr_el2"),
        (mdcr: "mdcr_el2", tcr: "tcr_el2"),
        (ttbr0: "ttbr0_el2", mair: "mair_el2"),
        (amair: "amair_el2", vbar: "vbar_el2"),
        (elr: "elr_el2", spsr: "spsr_el2"),
        (esr: "esr_el2", far: "far_el2"),
        (hpfar: "hpfar_el2", afsr0: "afsr0_el2"),
        (afsr1: "afsr1_el2", tpidr: "tpidr_el2"),
        (stack_pointer: "sp_el2", vtcr: "vtcr_el2"),
        (vttbr: "vttbr_el2", vmpidr: "vmpidr_el2"),
        (vpidr: "vpidr_el2", cnthctl: "cnthctl_el2"),
        // ICC_SRE_EL2, ICH_HCR_EL2, ICH_VMCR_EL2 (GICv3 system register interface).
        (cntvoff: "cntvoff_el2", icc_sre: "s3_4_c12_c9_5"),
        (ich_hcr: "s3_4_c12_c11_0", ich_vmcr: "s3_4_c12_c11_7"),
        last hacr: "hacr_el2",
    }
}

// The assembly walks the fields in declaration order: the last one ends the block.
const _: () = assert!(core::mem::size_of::<El2Registers>() == 31 * 8);
const _: () = assert!(core::mem::offset_of!(El2Registers, hacr) == 30 * 8);

/// The normal world's FP/SIMD registers. Secure images are built soft-float and never touch
/// them, but the monitor still saves and restores them around every secure excursion so a
/// secure image that did would not leak or corrupt normal-world state.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(16))]
pub struct FloatingPointRegisters {
    q: [[u64; 2]; 32],
    fpsr: u64,
    fpcr: u64,
}

impl FloatingPointRegisters {
    pub fn save(&mut self) {
        #[cfg(target_arch = "aarch64")]
        // SAFETY: stores q0-q31, FPSR and FPCR into `self`, which is 16-byte aligned and large
        // enough (pinned by the size assert below); CPTR_EL3.TFP is clear so no trap occurs.
        unsafe {
            core::arch::asm!(
                ".arch_extension fp",
                ".arch_extension simd",
                "stp q0, q1, [{base}, #0]", "stp q2, q3, [{base}, #32]",
                "stp q4, q5, [{base}, #64]", "stp q6, q7, [{base}, #96]",
                "stp q8, q9, [{base}, #128]", "stp q10, q11, [{base}, #160]",
                "stp q12, q13, [{base}, #192]", "stp q14, q15, [{base}, #224]",
                "stp q16, q17, [{base}, #256]", "stp q18, q19, [{base}, #288]",
                "stp q20, q21, [{base}, #320]", "stp q22, q23, [{base}, #352]",
                "stp q24, q25, [{base}, #384]", "stp q26, q27, [{base}, #416]",
                "stp q28, q29, [{base}, #448]", "stp q30, q31, [{base}, #480]",
                "mrs {scratch}, fpsr", "str {scratch}, [{base}, #512]",
                "mrs {scratch}, fpcr", "str {scratch}, [{base}, #520]",
                base = in(reg) self as *mut Self,
                scratch = out(reg) _,
                options(nostack)
            );
        }
    }

    pub fn restore(&self) {
        #[cfg(target_arch = "aarch64")]
        // SAFETY: loads q0-q31, FPSR and FPCR from `self` (see `save`); the FP registers are not
        // used by this soft-float image, so changing them affects only the resumed world.
        unsafe {
            core::arch::asm!(
                ".arch_extension fp",
                ".arch_extension simd",
                "ldp q0, q1, [{base}, #0]", "ldp q2, q3, [{base}, #32]",
                "ldp q4, q5, [{base}, #64]", "ldp q6, q7, [{base}, #96]",
                "ldp q8, q9, [{base}, #128]", "ldp q10, q11, [{base}, #160]",
                "ldp q12, q13, [{base}, #192]", "ldp q14, q15, [{base}, #224]",
                "ldp q16, q17, [{base}, #256]", "ldp q18, q19, [{base}, #288]",
                "ldp q20, q21, [{base}, #320]", "ldp q22, q23, [{base}, #352]",
                "ldp q24, q25, [{base}, #384]", "ldp q26, q27, [{base}, #416]",
                "ldp q28, q29, [{base}, #448]", "ldp q30, q31, [{base}, #480]",
                "ldr {scratch}, [{base}, #512]", "msr fpsr, {scratch}",
                "ldr {scratch}, [{base}, #520]", "msr fpcr, {scratch}",
                base = in(reg) self as *const Self,
                scratch = out(reg) _,
                options(nostack)
            );
        }
    }
}

const _: () = assert!(core::mem::size_of::<FloatingPointRegisters>() == 528);

/// Everything the monitor keeps for one world on one CPU.
#[derive(Debug, Clone, Copy)]
pub struct WorldContext {
    pub general: GeneralRegisters,
    pub el2: El2Registers,
    pub floating_point: FloatingPointRegisters,
}

impl WorldContext {
    /// All registers zero (usable in a `static`).
    pub const fn zeroed() -> Self {
        // Every field is a plain array of integers.
        Self {
            general: GeneralRegisters { x: [0; 31], elr: 0, spsr: 0, el3_stack_top: 0 },
            el2: El2Registers::ZERO,
            floating_point: FloatingPointRegisters { q: [[0; 2]; 32], fpsr: 0, fpcr: 0 },
        }
    }
}
