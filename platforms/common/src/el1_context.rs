//! The EL1/EL0 register state of one lower-EL context, saved and restored as a block.
//!
//! The SPMC switches it between partitions and sets the normal world's aside while a partition
//! runs at S-EL1 (the EL3 monitor does not switch EL1 registers between the worlds, as TF-A's
//! SPMD does not with an S-EL2 SPMC); the hypervisor switches it between its VMs.
//!
//! [`paired_register_block!`] writes the save and restore as one assembly sequence that moves
//! two registers per memory access (`mrs`, `mrs`, `stp` and `ldp`, `msr`, `msr`): these blocks
//! sit on every world switch and partition run, where each instruction counts.

/// Declares a `#[repr(C)]` struct of system registers listed in pairs, with `ZERO`, `save` and
/// `restore`. The fields are laid out in list order and the assembly walks them with a
/// post-incremented cursor, so the struct layout and the sequence cannot disagree.
///
/// ```ignore
/// paired_register_block! {
///     /// Doc.
///     pub struct Example {
///         (sctlr: "sctlr_el1", tcr: "tcr_el1"),
///         (mair: "mair_el1", vbar: "vbar_el1"),
///         last contextidr: "contextidr_el1",
///     }
/// }
/// ```
#[macro_export]
macro_rules! paired_register_block {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( ($first:ident : $first_register:literal, $second:ident : $second_register:literal) ),* ,
            last $last:ident : $last_register:literal $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default)]
        #[repr(C)]
        $vis struct $name {
            $( pub $first: u64, pub $second: u64, )*
            pub $last: u64,
        }

        impl $name {
            /// Every register zero.
            pub const ZERO: Self = Self { $( $first: 0, $second: 0, )* $last: 0 };

            /// Copies every listed register from the CPU into `self`.
            #[inline]
            pub fn save(&mut self) {
                #[cfg(target_arch = "aarch64")]
                // SAFETY: stores exactly `size_of::<Self>()` bytes, field by field in
                // declaration order (`repr(C)`, all u64), into `self`; reading these system
                // registers has no other effect. The names are registers the image's
                // exception level may read (the caller's choice of list).
                unsafe {
                    core::arch::asm!(
                        $(
                            concat!("mrs {first}, ", $first_register),
                            concat!("mrs {second}, ", $second_register),
                            "stp {first}, {second}, [{cursor}], #16",
                        )*
                        concat!("mrs {first}, ", $last_register),
                        "str {first}, [{cursor}]",
                        cursor = inout(reg) self as *mut Self => _,
                        first = out(reg) _,
                        second = out(reg) _,
                        options(nostack, preserves_flags)
                    );
                }
                #[cfg(not(target_arch = "aarch64"))]
                let _ = self;
            }

            /// Writes every listed register from `self` into the CPU.
            #[inline]
            pub fn restore(&self) {
                #[cfg(target_arch = "aarch64")]
                // SAFETY: loads the fields of `self` in declaration order (see `save`) and
                // writes them into the listed registers; the caller is responsible for what
                // the values do to the lower exception level that uses them.
                unsafe {
                    core::arch::asm!(
                        $(
                            "ldp {first}, {second}, [{cursor}], #16",
                            concat!("msr ", $first_register, ", {first}"),
                            concat!("msr ", $second_register, ", {second}"),
                        )*
                        "ldr {first}, [{cursor}]",
                        concat!("msr ", $last_register, ", {first}"),
                        cursor = inout(reg) self as *const Self => _,
                        first = out(reg) _,
                        second = out(reg) _,
                        options(nostack, preserves_flags, readonly)
                    );
                }
                #[cfg(not(target_arch = "aarch64"))]
                let _ = self;
            }
        }
    };
}

paired_register_block! {
    /// EL1 and EL0 registers shared between S-EL1 and NS-EL1 (and between a hypervisor's VMs).
    pub struct El1Registers {
        (sctlr: "sctlr_el1", actlr: "actlr_el1"),
        (cpacr: "cpacr_el1", tcr: "tcr_el1"),
        (ttbr0: "ttbr0_el1", ttbr1: "ttbr1_el1"),
        (mair: "mair_el1", amair: "amair_el1"),
        (vbar: "vbar_el1", elr: "elr_el1"),
        (spsr: "spsr_el1", esr: "esr_el1"),
        (far: "far_el1", par: "par_el1"),
        (afsr0: "afsr0_el1", afsr1: "afsr1_el1"),
        (contextidr: "contextidr_el1", tpidr_el1: "tpidr_el1"),
        (tpidr_el0: "tpidr_el0", tpidrro_el0: "tpidrro_el0"),
        (stack_pointer_el1: "sp_el1", stack_pointer_el0: "sp_el0"),
        (cntkctl: "cntkctl_el1", csselr: "csselr_el1"),
        (mdscr: "mdscr_el1", cntv_ctl: "cntv_ctl_el0"),
        (cntv_cval: "cntv_cval_el0", cntp_ctl: "cntp_ctl_el0"),
        last cntp_cval: "cntp_cval_el0",
    }
}

// The assembly walks the fields in declaration order: the last one ends the block.
const _: () = assert!(core::mem::size_of::<El1Registers>() == 29 * 8);
const _: () = assert!(core::mem::offset_of!(El1Registers, cntp_cval) == 28 * 8);
