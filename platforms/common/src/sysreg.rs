//! System register access for images: `read!`/`write!` by name, and save/restore lists.
//!
//! Registers the assembler may not know by name (newer extensions) are written in their
//! generic `s<op0>_<op1>_c<n>_c<m>_<op2>` form next to a comment naming them.

/// Reads a system register by its assembler name, e.g. `read_sysreg!("mpidr_el1")`.
#[macro_export]
macro_rules! read_sysreg {
    ($name:literal) => {{
        let value: u64;
        #[cfg(target_arch = "aarch64")]
        // SAFETY: reading a system register has no memory effects; the caller names a
        // register that exists and is readable at the current exception level.
        unsafe {
            core::arch::asm!(concat!("mrs {}, ", $name), out(reg) value, options(nomem, nostack, preserves_flags))
        };
        #[cfg(not(target_arch = "aarch64"))]
        {
            value = 0;
        }
        value
    }};
}

/// Writes a system register by its assembler name, e.g. `write_sysreg!("vbar_el3", address)`.
///
/// Writing system registers changes how the CPU behaves; callers justify each use.
#[macro_export]
macro_rules! write_sysreg {
    ($name:literal, $value:expr) => {{
        let value: u64 = $value;
        #[cfg(target_arch = "aarch64")]
        // SAFETY: the caller names a register that exists and is writable at the current
        // exception level, and is responsible for the value's effect on the machine.
        unsafe {
            core::arch::asm!(concat!("msr ", $name, ", {}"), in(reg) value, options(nostack, preserves_flags))
        };
        #[cfg(not(target_arch = "aarch64"))]
        let _ = value;
    }};
}

/// Declares a struct holding a list of system registers, with `save` and `restore`.
#[macro_export]
macro_rules! system_register_set {
    ($(#[$meta:meta])* $vis:vis struct $name:ident { $($field:ident : $register:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default)]
        #[repr(C)]
        $vis struct $name {
            $(pub $field: u64,)*
        }

        impl $name {
            /// Every register zero.
            pub const ZERO: Self = Self { $($field: 0,)* };

            /// Copies every listed register from the CPU into `self`.
            pub fn save(&mut self) {
                $(self.$field = $crate::read_sysreg!($register);)*
            }

            /// Writes every listed register from `self` into the CPU.
            pub fn restore(&self) {
                $($crate::write_sysreg!($register, self.$field);)*
            }
        }
    };
}
