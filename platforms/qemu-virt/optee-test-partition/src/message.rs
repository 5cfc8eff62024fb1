//! OP-TEE messages (`struct optee_msg_arg` in Linux's optee_msg.h) in shared memory, and this
//! partition's answers: it has no trusted applications or pseudo-TAs, so opening a session
//! finds nothing, and the commands that need no TA succeed.
//!
//! Layout (little-endian): cmd, func, session, cancel_id, pad, ret, ret_origin, num_params
//! (eight u32 words, 32 bytes), then `num_params` parameters of 32 bytes each.

/// Message commands (the `cmd` word).
const OPEN_SESSION: u32 = 0;
const INVOKE_COMMAND: u32 = 1;
const CLOSE_SESSION: u32 = 2;
const CANCEL: u32 = 3;
const REGISTER_SHM: u32 = 4;
const UNREGISTER_SHM: u32 = 5;

/// Word offsets of the header fields this partition reads or writes.
const COMMAND_WORD: usize = 0;
const RETURN_WORD: usize = 5;
const ORIGIN_WORD: usize = 6;
/// The header's size: eight u32 words.
pub const HEADER_BYTES: u64 = 32;

/// GlobalPlatform TEE Client API results and origins.
const SUCCESS: u32 = 0;
const ITEM_NOT_FOUND: u32 = 0xFFFF_0008;
const NOT_SUPPORTED: u32 = 0xFFFF_000A;
/// "The error came from the trusted OS" (TEEC_ORIGIN_TEE).
const ORIGIN_TEE: u32 = 3;

/// The result of `command`: (ret, ret_origin).
pub fn result_of(command: u32) -> (u32, u32) {
    match command {
        // No trusted application exists here, including the device-enumeration pseudo-TA
        // Linux opens at probe: it treats ITEM_NOT_FOUND as "no devices to enumerate".
        OPEN_SESSION | INVOKE_COMMAND => (ITEM_NOT_FOUND, ORIGIN_TEE),
        CLOSE_SESSION | CANCEL | REGISTER_SHM | UNREGISTER_SHM => (SUCCESS, ORIGIN_TEE),
        _ => (NOT_SUPPORTED, ORIGIN_TEE),
    }
}

/// Answers the message at `address` (at least `HEADER_BYTES` long, retrieved shared memory
/// mapped at that address); returns its command.
///
/// # Safety
/// `address` must be 4-byte aligned, and `HEADER_BYTES` from it must be memory this partition
/// may read and write (the first pages of a retrieved, still held memory region).
pub unsafe fn answer(address: u64) -> u32 {
    let word = |index: usize| (address as usize + 4 * index) as *mut u32;
    // SAFETY: the caller vouches for the 32 bytes at `address`; aligned u32 accesses.
    unsafe {
        let command = core::ptr::read_volatile(word(COMMAND_WORD));
        let (result, origin) = result_of(command);
        core::ptr::write_volatile(word(RETURN_WORD), result);
        core::ptr::write_volatile(word(ORIGIN_WORD), origin);
        command
    }
}
