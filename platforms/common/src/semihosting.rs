//! Arm semihosting exit, so a test image can end QEMU (run with `-semihosting`) with a status code.

const SYS_EXIT_EXTENDED: u64 = 0x20;
const ADP_STOPPED_APPLICATION_EXIT: u64 = 0x20026;

/// Ends the emulator with `code` as its exit status. Only meaningful under an emulator started
/// with semihosting enabled; elsewhere the `hlt` traps and the caller should not rely on return.
pub fn exit(code: u32) -> ! {
    let block: [u64; 2] = [ADP_STOPPED_APPLICATION_EXIT, u64::from(code)];
    #[cfg(target_arch = "aarch64")]
    // SAFETY: the semihosting call reads the two-word parameter block we pass and does not
    // touch any other memory; `hlt #0xf000` is the A64 semihosting trap.
    unsafe {
        core::arch::asm!(
            "hlt #0xf000",
            in("x0") SYS_EXIT_EXTENDED,
            in("x1") block.as_ptr(),
            options(nostack)
        );
    }
    let _ = (block, SYS_EXIT_EXTENDED);
    loop {
        core::hint::spin_loop();
    }
}
