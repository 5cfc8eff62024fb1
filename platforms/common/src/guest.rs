//! Running an EL1 guest (a secure partition under the SPMC, a VM under the hypervisor) until it
//! traps back to EL2 (an SMC or HVC, a fault, an interrupt).
//!
//! `guest_run` saves the EL2 code's callee-saved registers on its own stack, loads the guest's
//! general registers and return state, and `eret`s. The guest runs on SP_EL1, so when it traps,
//! SP_EL2 still points at the saved registers: the vector stores the guest's registers back into
//! its context and returns from `guest_run` with the exception syndrome. This is the "run until
//! exit" model KVM-style hypervisors use. An image that runs guests installs `guest_vectors` as
//! its VBAR_EL2 (`install_vectors`) and defines `guest_unexpected_exception(vector) -> !` for
//! exceptions taken at EL2 itself.

/// A guest's general registers and return state, as the assembly below lays them out:
/// x0-x30 at 0..248, ELR_EL2 at 248, SPSR_EL2 at 256.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C)]
pub struct GuestRegisters {
    pub x: [u64; 31],
    pub elr: u64,
    pub spsr: u64,
    padding: u64,
}

const _: () = assert!(core::mem::size_of::<GuestRegisters>() == 272);

impl GuestRegisters {
    /// All zero (for `static` initialisers).
    pub const ZERO: Self = Self { x: [0; 31], elr: 0, spsr: 0, padding: 0 };
}

#[cfg(target_arch = "aarch64")]
extern "C" {
    /// Runs the guest whose registers are at `registers` until it traps to EL2; returns
    /// ESR_EL2 of that exception (or a vector number with bit 63 set for interrupts/SError).
    fn guest_run(registers: *mut GuestRegisters) -> u64;
    /// `guest_run`, but x0-x17 are loaded from `arguments` instead of `registers` (the exit
    /// stores them into `registers` as usual).
    fn guest_run_with_arguments(registers: *mut GuestRegisters, arguments: *const [u64; 18])
        -> u64;
}

extern "C" {
    static guest_vectors: u8;
}

/// Why the guest stopped running.
#[derive(Debug, Clone, Copy)]
pub struct Exit {
    pub syndrome: u64,
}

impl Exit {
    /// The exception class (ESR_EL2.EC), or None for an interrupt or SError exit.
    pub fn class(&self) -> Option<u64> {
        (self.syndrome >> 63 == 0).then_some(self.syndrome >> 26)
    }
}

/// Runs the guest until its next exit.
///
/// # Safety
/// The caller must have confined the guest with a stage-2 translation (HCR_EL2.VM set, tables
/// mapping only the guest's own memory and devices), so that resuming it cannot touch the
/// EL2 code's memory; `registers` must describe a state the guest may resume in (EL1 or EL0).
pub unsafe fn run(registers: &mut GuestRegisters) -> Exit {
    #[cfg(target_arch = "aarch64")]
    {
        // SAFETY: `registers` is a complete, exclusively borrowed register block; the caller
        // guarantees confinement; the assembly preserves every register the Rust ABI requires.
        let syndrome = unsafe { guest_run(registers) };
        Exit { syndrome }
    }
    #[cfg(not(target_arch = "aarch64"))]
    {
        let _ = registers;
        Exit { syndrome: 1 << 63 }
    }
}

/// [`run`], with the guest's x0-x17 taken from `arguments` (an FF-A message delivered to it)
/// rather than from `registers`, so the message is not copied into the saved registers first.
/// When it stops, all its registers are in `registers`, as after [`run`].
///
/// # Safety
/// As for [`run`].
pub unsafe fn run_with_arguments(registers: &mut GuestRegisters, arguments: &[u64; 18]) -> Exit {
    #[cfg(target_arch = "aarch64")]
    {
        // SAFETY: as in `run`; `arguments` is only read, before the guest runs.
        let syndrome = unsafe { guest_run_with_arguments(registers, arguments) };
        Exit { syndrome }
    }
    #[cfg(not(target_arch = "aarch64"))]
    {
        let _ = (registers, arguments);
        Exit { syndrome: 1 << 63 }
    }
}

/// Installs the EL2 vectors that guests trap into.
pub fn install_vectors() {
    // Only the symbol's address is taken.
    let vectors = core::ptr::addr_of!(guest_vectors) as u64;
    crate::write_sysreg!("vbar_el2", vectors);
}

#[cfg(target_arch = "aarch64")]
core::arch::global_asm!(
    r#"
    .section .text.guest_run, "ax"
    .global guest_run
    .global guest_run_with_arguments
    // guest_run(x0 = registers): x1 = the source of x0-x17, here the registers themselves.
guest_run:
    mov     x1, x0
    // guest_run_with_arguments(x0 = registers, x1 = x0-x17 to load).
guest_run_with_arguments:
    sub     sp, sp, #112
    stp     x19, x20, [sp, #0]
    stp     x21, x22, [sp, #16]
    stp     x23, x24, [sp, #32]
    stp     x25, x26, [sp, #48]
    stp     x27, x28, [sp, #64]
    stp     x29, x30, [sp, #80]
    str     x0, [sp, #96]
    ldp     x2, x3, [x0, #248]
    msr     elr_el2, x2
    msr     spsr_el2, x3
    ldr     x30, [x0, #240]
    ldp     x28, x29, [x0, #224]
    ldp     x26, x27, [x0, #208]
    ldp     x24, x25, [x0, #192]
    ldp     x22, x23, [x0, #176]
    ldp     x20, x21, [x0, #160]
    ldp     x18, x19, [x0, #144]
    mov     x0, x1
    ldp     x16, x17, [x0, #128]
    ldp     x14, x15, [x0, #112]
    ldp     x12, x13, [x0, #96]
    ldp     x10, x11, [x0, #80]
    ldp     x8, x9, [x0, #64]
    ldp     x6, x7, [x0, #48]
    ldp     x4, x5, [x0, #32]
    ldp     x2, x3, [x0, #16]
    ldp     x0, x1, [x0, #0]
    eret

guest_exit:
    // x0 holds the exit code; x1 the guest's x1 (saved by the vector); SP_EL2 = host frame.
    stp     x0, x1, [sp, #-16]!
    ldr     x0, [sp, #16 + 96]
    stp     x2, x3, [x0, #16]
    stp     x4, x5, [x0, #32]
    stp     x6, x7, [x0, #48]
    stp     x8, x9, [x0, #64]
    stp     x10, x11, [x0, #80]
    stp     x12, x13, [x0, #96]
    stp     x14, x15, [x0, #112]
    stp     x16, x17, [x0, #128]
    stp     x18, x19, [x0, #144]
    stp     x20, x21, [x0, #160]
    stp     x22, x23, [x0, #176]
    stp     x24, x25, [x0, #192]
    stp     x26, x27, [x0, #208]
    stp     x28, x29, [x0, #224]
    str     x30, [x0, #240]
    mrs     x2, elr_el2
    mrs     x3, spsr_el2
    stp     x2, x3, [x0, #248]
    ldp     x2, x3, [sp], #16
    // x2 = exit code, x3 = guest x1; the guest's x0 was parked in tpidr_el2.
    mrs     x4, tpidr_el2
    stp     x4, x3, [x0, #0]
    mov     x0, x2
    ldp     x19, x20, [sp, #0]
    ldp     x21, x22, [sp, #16]
    ldp     x23, x24, [sp, #32]
    ldp     x25, x26, [sp, #48]
    ldp     x27, x28, [sp, #64]
    ldp     x29, x30, [sp, #80]
    add     sp, sp, #112
    ret

    .macro exit_with_syndrome
    .balign 0x80
    msr     tpidr_el2, x0
    mrs     x0, esr_el2
    b       guest_exit
    .endm

    .macro exit_with_code code
    .balign 0x80
    msr     tpidr_el2, x0
    mov     x0, #\code
    orr     x0, x0, #(1 << 63)
    b       guest_exit
    .endm

    .macro stop_here code
    .balign 0x80
    mov     x0, #\code
    b       guest_unexpected_exception
    .endm

    .section .text.guest_vectors, "ax"
    .balign 0x800
    .global guest_vectors
guest_vectors:
    stop_here 0
    stop_here 1
    stop_here 2
    stop_here 3
    stop_here 4
    stop_here 5
    stop_here 6
    stop_here 7
    exit_with_syndrome
    exit_with_code 9
    exit_with_code 10
    exit_with_code 11
    stop_here 12
    stop_here 13
    stop_here 14
    stop_here 15
"#
);
