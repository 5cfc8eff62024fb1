//! `memcpy` and `memset` for every image, 16 bytes a step (the generic ones are much slower).
//!
//! The compiler calls `memcpy` for every register block it moves (a `[u64; 18]` message, a saved
//! context) and `memset` to clear them. `compiler_builtins` supplies both as weak symbols
//! written for any target; at opt-level "s"/"z" they copy 8 bytes per four instructions, which
//! made `memcpy` the largest single cost of a direct-request round trip (`cargo xtask bench
//! --qemu`). These strong definitions replace them in every image that links this crate.
//!
//! Both work with the MMU off (Device memory): they use 16-byte and 8-byte accesses only when
//! both addresses are 8-byte aligned, and single bytes otherwise, so no access is unaligned.
//! [`self_check`] exercises every length up to 48 bytes, aligned and not; the EL3 monitor runs it
//! at boot, so `cargo xtask test` checks the routines on every run.

#[cfg(target_arch = "aarch64")]
core::arch::global_asm!(
    r#"
    .section .text.memcpy, "ax"
    .global memcpy
    .type memcpy, %function
    // memcpy(x0 = destination, x1 = source, x2 = length) -> x0
memcpy:
    mov     x3, x0
    orr     x4, x0, x1
    tst     x4, #7
    b.ne    3f
    subs    x2, x2, #16
    b.lo    2f
1:  ldp     x4, x5, [x1], #16
    subs    x2, x2, #16
    stp     x4, x5, [x3], #16
    b.hs    1b
2:  adds    x2, x2, #16
    tbz     x2, #3, 3f
    ldr     x4, [x1], #8
    str     x4, [x3], #8
    sub     x2, x2, #8
3:  cbz     x2, 5f
4:  ldrb    w4, [x1], #1
    subs    x2, x2, #1
    strb    w4, [x3], #1
    b.ne    4b
5:  ret
    .size memcpy, . - memcpy

    .section .text.memset, "ax"
    .global memset
    .type memset, %function
    // memset(x0 = destination, w1 = byte, x2 = length) -> x0
memset:
    mov     x3, x0
    and     x1, x1, #0xff
    orr     x1, x1, x1, lsl #8
    orr     x1, x1, x1, lsl #16
    orr     x1, x1, x1, lsl #32
    tst     x0, #7
    b.ne    3f
    subs    x2, x2, #16
    b.lo    2f
1:  stp     x1, x1, [x3], #16
    subs    x2, x2, #16
    b.hs    1b
2:  adds    x2, x2, #16
    tbz     x2, #3, 3f
    str     x1, [x3], #8
    sub     x2, x2, #8
3:  cbz     x2, 5f
4:  strb    w1, [x3], #1
    subs    x2, x2, #1
    b.ne    4b
5:  ret
    .size memset, . - memset
"#
);

extern "C" {
    fn memcpy(destination: *mut u8, source: *const u8, length: usize) -> *mut u8;
    fn memset(destination: *mut u8, byte: i32, length: usize) -> *mut u8;
}

/// The longest copy [`self_check`] tries, and the offsets it places each end at: aligned,
/// misaligned, and aligned again at another address (so both the 16-byte path and the byte path
/// run at every length).
const LONGEST: usize = 48;
const DESTINATION_OFFSETS: [usize; 3] = [0, 3, 8];
const SOURCE_OFFSETS: [usize; 3] = [0, 5, 8];
/// Bytes before and after each destination range that must stay untouched.
const GUARD: usize = 8;

/// Checks `memcpy` and `memset` for every length up to 48 bytes at aligned and misaligned
/// source and destination addresses: the bytes inside the range are right and the 8 bytes on
/// each side untouched. Returns the first failing (routine, length, destination offset, source
/// offset), or `None` when all pass. Costs about 0.1 million instructions.
pub fn self_check() -> Option<(&'static str, usize, usize, usize)> {
    const SIZE: usize = LONGEST + 2 * GUARD + 16;
    #[repr(align(16))]
    struct Buffer([u8; SIZE]);
    let mut source = Buffer([0; SIZE]);
    for (index, byte) in source.0.iter_mut().enumerate() {
        *byte = (index as u8).wrapping_mul(37).wrapping_add(1);
    }
    let mut destination = Buffer([0; SIZE]);
    for length in 0..=LONGEST {
        for destination_offset in DESTINATION_OFFSETS {
            let start = destination_offset + GUARD;
            let window = start - GUARD..start + length + GUARD;
            for source_offset in SOURCE_OFFSETS {
                destination.0.fill(0xEE);
                // SAFETY: both ranges lie inside their buffers (start + length <= SIZE and
                // source_offset + length <= SIZE) and the buffers do not overlap.
                unsafe {
                    memcpy(
                        destination.0.as_mut_ptr().add(start),
                        source.0.as_ptr().add(source_offset),
                        length,
                    )
                };
                let copied = window.clone().all(|index| {
                    let expected = if index >= start && index < start + length {
                        source.0.get(index - start + source_offset)
                    } else {
                        Some(&0xEE)
                    };
                    destination.0.get(index) == expected
                });
                if !copied {
                    return Some(("memcpy", length, destination_offset, source_offset));
                }
            }
            destination.0.fill(0xEE);
            // SAFETY: the range lies inside the buffer (start + length <= SIZE).
            unsafe { memset(destination.0.as_mut_ptr().add(start), 0x1A5, length) };
            let filled = window.clone().all(|index| {
                let expected = if index >= start && index < start + length { 0xA5 } else { 0xEE };
                destination.0.get(index) == Some(&expected)
            });
            if !filled {
                return Some(("memset", length, destination_offset, 0));
            }
        }
    }
    None
}
