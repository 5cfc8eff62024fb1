//! Reset entry: copy the monitor from boot flash into secure RAM, park secondaries, call Rust.
//!
//! QEMU virt (secure=on) resets every CPU at 0x0, the start of the secure boot flash, where
//! `cargo xtask build` places this image. The code below is position independent until the
//! jump to its link address: the boot CPU copies `__image_start..__load_end` from wherever it
//! runs to where it was linked (secure RAM), then continues there. Secondary CPUs wait in a
//! holding pen until the monitor writes an entry address into `SECONDARY_ENTRY`.

/// Where a parked secondary CPU jumps once this holds a non-zero address.
#[no_mangle]
static SECONDARY_ENTRY: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

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
5:  ldr     x1, =SECONDARY_ENTRY
7:  wfe
    ldr     x2, [x1]
    cbz     x2, 7b
    br      x2
    .ltorg
"#
);
