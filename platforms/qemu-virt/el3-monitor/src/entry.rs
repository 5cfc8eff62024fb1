//! Reset entry, the EL3 exception vectors, and the first entry into a lower exception level.
//!
//! Reset: QEMU virt (secure=on) resets every CPU at 0x0, the start of the secure boot flash,
//! where `cargo xtask build` places this image. The code is position independent until the jump
//! to its link address: the boot CPU copies `__image_start..__load_end` from where it runs to
//! where it was linked (secure RAM), then continues there. Secondary CPUs wait in a holding pen
//! until the monitor writes an entry address into `SECONDARY_ENTRY`.
//!
//! Exceptions: while a lower EL runs, SP_EL3 points just past the running world's
//! `GeneralRegisters` frame in this CPU's monitor state. A synchronous exception from a lower EL
//! (an SMC) stores x0-x30, ELR_EL3 and SPSR_EL3 straight into that frame, moves to this CPU's
//! EL3 stack (whose top the frame's last slot holds) and calls `monitor_handle_lower_sync`. That
//! returns the frame of the world to resume (the same one, or the other after a world switch);
//! the exit path loads it and leaves SP_EL3 just past it again. So a world switch moves no
//! general registers between frames: only the message registers are copied. Every other vector
//! reports and stops.

use core::sync::atomic::{AtomicUsize, Ordering};

use crate::world::CPU_COUNT;

/// Per CPU: where that parked CPU jumps once its slot holds a non-zero address.
#[no_mangle]
static SECONDARY_ENTRY: [AtomicUsize; CPU_COUNT] = [const { AtomicUsize::new(0) }; CPU_COUNT];

/// Bytes of EL3 stack per CPU (the linker script reserves `CPU_COUNT` times this).
pub const STACK_PER_CPU: u64 = 8 * 1024;

extern "C" {
    static __stack_top: u8;
    fn monitor_secondary_start() -> !;
    /// Clears this CPU's pen slot's claim and waits in the holding pen again (CPU_OFF).
    pub fn monitor_park_cpu(stack_top: u64) -> !;
}

/// The top of `cpu`'s EL3 stack.
pub fn stack_top(cpu: usize) -> u64 {
    // Only the symbol's address is taken.
    let top = core::ptr::addr_of!(__stack_top) as u64;
    top - cpu as u64 * STACK_PER_CPU
}

/// Releases a parked CPU into the monitor's secondary start path.
pub fn release_cpu(cpu: usize) {
    if let Some(slot) = SECONDARY_ENTRY.get(cpu) {
        slot.store(monitor_secondary_start as *const () as usize, Ordering::Release);
        #[cfg(target_arch = "aarch64")]
        // SAFETY: a barrier and an event; wakes CPUs waiting in `wfe`.
        unsafe {
            core::arch::asm!("dsb sy", "sev", options(nostack))
        };
    }
}

/// Empties `cpu`'s slot, so a CPU that parks itself waits for the next CPU_ON.
pub fn clear_slot(cpu: usize) {
    if let Some(slot) = SECONDARY_ENTRY.get(cpu) {
        slot.store(0, Ordering::Release);
    }
}

extern "C" {
    /// Loads `frame` into x0-x30, ELR_EL3 and SPSR_EL3, leaves SP_EL3 just past `frame` (where
    /// the next exception from the lower EL stores its registers) and `eret`s. The frame's
    /// `el3_stack_top` must hold this CPU's EL3 stack top. Never returns.
    pub fn monitor_enter_lower(frame: *mut crate::context::GeneralRegisters) -> !;
}

#[cfg(target_arch = "aarch64")]
core::arch::global_asm!(
    r#"
    .section .text.entry, "ax"
    .global _start
_start:
    mrs     x0, mpidr_el1
    and     x0, x0, #0xffffff
    cbnz    x0, 5f
    adr     x0, _start
    ldr     x1, =__image_start
    ldr     x2, =__load_end
    cmp     x0, x1
    b.eq    2f
1:  cmp     x1, x2
    b.hs    2f
    ldp     x3, x4, [x0], #16
    stp     x3, x4, [x1], #16
    b       1b
2:  ldr     x3, =3f
    br      x3
3:  ldr     x1, =__stack_top
    mov     sp, x1
    ldr     x1, =__bss_start
    ldr     x2, =__bss_end
4:  cmp     x1, x2
    b.hs    6f
    stp     xzr, xzr, [x1], #16
    b       4b
6:  bl      monitor_main
    b       .
5:  and     x0, x0, #0xff
    ldr     x1, =SECONDARY_ENTRY
    add     x1, x1, x0, lsl #3
7:  wfe
    ldr     x2, [x1]
    cbz     x2, 7b
    br      x2
    .ltorg

    // A secondary CPU released by CPU_ON: its own stack, then Rust.
    .global monitor_secondary_start
monitor_secondary_start:
    mrs     x0, mpidr_el1
    and     x0, x0, #0xff
    ldr     x1, =__stack_top
    mov     x2, #{stack_per_cpu}
    msub    x1, x0, x2, x1
    mov     sp, x1
    bl      monitor_secondary_main
    b       .

    // CPU_OFF: back into the holding pen on this CPU's slot.
    .global monitor_park_cpu
monitor_park_cpu:
    mov     sp, x0
    mrs     x0, mpidr_el1
    and     x0, x0, #0xff
    ldr     x1, =SECONDARY_ENTRY
    add     x1, x1, x0, lsl #3
8:  wfe
    ldr     x2, [x1]
    cbz     x2, 8b
    br      x2
    .ltorg

    .global monitor_enter_lower
monitor_enter_lower:
    mov     sp, x0
    b       restore_frame
    .ltorg

    .macro unexpected kind
    .balign 0x80
    mov     x0, #\kind
    b       monitor_unexpected_exception
    .endm

    // From a lower EL SP_EL3 points past the running world's frame: move to the EL3 stack
    // (the frame's last slot) before reporting, so the report does not overwrite monitor state.
    .macro unexpected_lower kind
    .balign 0x80
    ldr     x0, [sp, #-8]
    mov     sp, x0
    mov     x0, #\kind
    b       monitor_unexpected_exception
    .endm

    .section .text.vectors, "ax"
    .balign 0x800
    .global monitor_vectors
monitor_vectors:
    unexpected 0
    unexpected 1
    unexpected 2
    unexpected 3
    unexpected 4
    unexpected 5
    unexpected 6
    unexpected 7
    .balign 0x80
    b       lower_sync
    unexpected_lower 9
    unexpected_lower 10
    unexpected_lower 11
    unexpected_lower 12
    unexpected_lower 13
    unexpected_lower 14
    unexpected_lower 15

lower_sync:
    sub     sp, sp, #272
    stp     x0, x1, [sp, #0]
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x19, [sp, #144]
    stp     x20, x21, [sp, #160]
    stp     x22, x23, [sp, #176]
    stp     x24, x25, [sp, #192]
    stp     x26, x27, [sp, #208]
    stp     x28, x29, [sp, #224]
    mrs     x0, elr_el3
    mrs     x1, spsr_el3
    str     x30, [sp, #240]
    stp     x0, x1, [sp, #248]
    mov     x0, sp
    ldr     x1, [sp, #264]
    mov     sp, x1
    bl      monitor_handle_lower_sync
    mov     sp, x0
restore_frame:
    ldp     x0, x1, [sp, #248]
    msr     elr_el3, x0
    msr     spsr_el3, x1
    ldr     x30, [sp, #240]
    ldp     x28, x29, [sp, #224]
    ldp     x26, x27, [sp, #208]
    ldp     x24, x25, [sp, #192]
    ldp     x22, x23, [sp, #176]
    ldp     x20, x21, [sp, #160]
    ldp     x18, x19, [sp, #144]
    ldp     x16, x17, [sp, #128]
    ldp     x14, x15, [sp, #112]
    ldp     x12, x13, [sp, #96]
    ldp     x10, x11, [sp, #80]
    ldp     x8, x9, [sp, #64]
    ldp     x6, x7, [sp, #48]
    ldp     x4, x5, [sp, #32]
    ldp     x2, x3, [sp, #16]
    ldp     x0, x1, [sp, #0]
    add     sp, sp, #272
    eret
"#,
    stack_per_cpu = const STACK_PER_CPU,
);
