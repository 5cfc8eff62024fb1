//! Moving a `Delivery` into the drive loop's carried slot in 20 instructions, not a memcpy call.
//!
//! The drive loop alternates two deliveries so that the core builds each one in place, but the
//! one carried into the next iteration has been lent to the previous step, so the compiler
//! cannot build the step's result in it and copies it over with a call to `memcpy` (about 56
//! instructions for its 152 bytes, once per direct-request round trip). This copy is the same
//! move written out as nine load/store pairs and one single.

use spmc::partition_manager::Delivery;

const _: () = assert!(core::mem::size_of::<Delivery>() == 152);
const _: () = assert!(core::mem::align_of::<Delivery>() == 8);

/// `*destination = *source`.
#[inline(always)]
pub fn move_into(destination: &mut Delivery, source: &Delivery) {
    #[cfg(target_arch = "aarch64")]
    // SAFETY: copies exactly `size_of::<Delivery>()` (152, asserted above) bytes from one
    // 8-byte-aligned `Delivery` to another that does not overlap it (`&mut` and `&`); a
    // `Delivery` is `Copy`, so a byte copy of it is a valid `Delivery`.
    unsafe {
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
            "ldr {a}, [{source}, #144]", "str {a}, [{destination}, #144]",
            source = in(reg) source as *const Delivery,
            destination = in(reg) destination as *mut Delivery,
            a = out(reg) _,
            b = out(reg) _,
            options(nostack, preserves_flags)
        );
    }
    #[cfg(not(target_arch = "aarch64"))]
    {
        *destination = *source;
    }
}
