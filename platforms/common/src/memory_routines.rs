//! `memcpy` and `memset` for every image, 16 bytes a step (the generic ones are much slower).
//!
//! The compiler calls `memcpy` for every register block it moves (a `[u64; 18]` message, a saved
//! context) and `memset` to clear them. `compiler_builtins` supplies both as weak symbols
//! written for any target; at opt-level "s"/"z" they copy 8 bytes per four instructions, which
//! made `memcpy` the largest single cost of a direct-request round trip (`cargo xtask bench
//! --qemu`). These strong definitions replace them in every image that links this crate.
//!
//! Both work with the MMU off (Device memory), so no access is unaligned: `memcpy` copies single
//! bytes until both addresses are 8-byte aligned and then 16 bytes a step when they sit at the
//! same offset in an 8-byte word (the usual case: the compiler copies a struct's fields from
//! offset 2 or 4 to the same offset of another struct of the same type), 4 bytes a step after
//! single bytes when they only share their offset in a 4-byte word, and single bytes otherwise;
//! `memset` stores single bytes until the destination is aligned, then 16 bytes a step.
//! [`self_check`] exercises every length up to 48 bytes at every pairing of those cases; the
//! EL3 monitor runs it at boot, so `cargo xtask test` checks the routines on every run.

#[cfg(target_arch = "aarch64")]
core::arch::global_asm!(
    r#"
    .section .text.memcpy, "ax"
    .global memcpy
    .type memcpy, %function
    // memcpy(x0 = destination, x1 = source, x2 = length) -> x0
memcpy:
    mov     x3, x0
    cbz     x2, 9f
    eor     x4, x0, x1
    tst     x4, #7
    b.ne    6f
    // Same offset in an 8-byte word (a struct field copied to the same field): single bytes
    // until both addresses are 8-byte aligned, then 16 bytes a step.
1:  tst     x3, #7
    b.eq    2f
    ldrb    w4, [x1], #1
    subs    x2, x2, #1
    strb    w4, [x3], #1
    b.ne    1b
    ret
2:  subs    x2, x2, #16
    b.lo    4f
3:  ldp     x4, x5, [x1], #16
    subs    x2, x2, #16
    stp     x4, x5, [x3], #16
    b.hs    3b
4:  adds    x2, x2, #16
    tbz     x2, #3, 8f
    ldr     x4, [x1], #8
    str     x4, [x3], #8
    sub     x2, x2, #8
    b       8f
    // Same offset in a 4-byte word only: single bytes until both are 4-byte aligned, then 4
    // bytes a step. Any other pair: single bytes.
6:  tst     x4, #3
    b.ne    8f
7:  tst     x3, #3
    b.eq    10f
    ldrb    w4, [x1], #1
    subs    x2, x2, #1
    strb    w4, [x3], #1
    b.ne    7b
    ret
10: subs    x2, x2, #4
    b.lo    11f
12: ldr     w4, [x1], #4
    subs    x2, x2, #4
    str     w4, [x3], #4
    b.hs    12b
11: add     x2, x2, #4
    // The tail (under 8 bytes), or everything when the offsets differ.
8:  cbz     x2, 9f
5:  ldrb    w4, [x1], #1
    subs    x2, x2, #1
    strb    w4, [x3], #1
    b.ne    5b
9:  ret
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
    // Single bytes until the destination is 8-byte aligned, then 16 bytes a step.
1:  cbz     x2, 5f
    tst     x3, #7
    b.eq    2f
    strb    w1, [x3], #1
    sub     x2, x2, #1
    b       1b
2:  subs    x2, x2, #16
    b.lo    3f
6:  stp     x1, x1, [x3], #16
    subs    x2, x2, #16
    b.hs    6b
3:  adds    x2, x2, #16
    tbz     x2, #3, 4f
    str     x1, [x3], #8
    sub     x2, x2, #8
4:  cbz     x2, 5f
7:  strb    w1, [x3], #1
    subs    x2, x2, #1
    b.ne    7b
5:  ret
    .size memset, . - memset
"#
);

extern "C" {
    fn memcpy(destination: *mut u8, source: *const u8, length: usize) -> *mut u8;
    fn memset(destination: *mut u8, byte: i32, length: usize) -> *mut u8;
}

/// The longest copy [`self_check`] tries, and the offsets it places each end at: aligned,
/// misaligned by 3, 4 and 5, and aligned again at another address, so every path runs at every
/// length: 16 bytes a step (0 or 8 with 0 or 8), single bytes first and then 16 bytes a step
/// (3 with 3, 4 with 12), 4 bytes a step (4 with 0 or 8, 0 or 8 with 12), and single bytes
/// (3 with 5).
const LONGEST: usize = 48;
const DESTINATION_OFFSETS: [usize; 4] = [0, 3, 4, 8];
const SOURCE_OFFSETS: [usize; 5] = [0, 3, 5, 8, 12];
/// Bytes before and after each destination range that must stay untouched.
const GUARD: usize = 8;

/// Checks `memcpy` and `memset` for every length up to 48 bytes at aligned and misaligned
/// source and destination addresses: the bytes inside the range are right and the 8 bytes on
/// each side untouched. Returns the first failing (routine, length, destination offset, source
/// offset), or `None` when all pass. It tries 20 offset pairs (it cost about 0.1 million
/// instructions with the 9 pairs it tried before the aligned-offset paths were added).
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
