//! Entry for images another stage loads at their link address: stack, clear .bss, `image_main`.
//!
//! An image invokes [`simple_entry!`](crate::simple_entry) once. The loader's x0-x3 reach
//! `image_main(x0, x1, x2, x3)`. Only the boot CPU enters here today; secondary CPUs arrive
//! with PSCI CPU_ON support.

/// Emits the image's `_start`: set the stack, zero `.bss`, call `image_main`.
#[macro_export]
macro_rules! simple_entry {
    () => {
        #[cfg(target_arch = "aarch64")]
        core::arch::global_asm!(
            r#"
            .section .text.entry, "ax"
            .global _start
        _start:
            ldr     x9, =__stack_top
            mov     sp, x9
            ldr     x9, =__bss_start
            ldr     x10, =__bss_end
        1:  cmp     x9, x10
            b.hs    2f
            stp     xzr, xzr, [x9], #16
            b       1b
        2:  bl      image_main
            b       .
            .ltorg
        "#
        );
    };
}
