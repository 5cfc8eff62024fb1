//! A test secure partition at S-EL1.
//!
//! Bring-up stage: ends its boot with FFA_MSG_WAIT and answers every direct request with
//! w3 + 1 (other payload registers echoed). A request with w3 = `FAULT_COMMAND` makes it touch
//! memory outside its stage-2, so tests can check that a faulting partition is marked aborted
//! and the others carry on. The ffa-guest-driver service loop and the
//! conformance suite's server commands replace this as they land.
#![no_std]
#![no_main]

platform_common::simple_entry!();

use aarch64_cpu::registers::{CurrentEL, Readable};
use platform_common::logger::ImageId;
use platform_common::smc::smc;

use platform_common::board::LOG_UART;
const FFA_MSG_WAIT: u64 = 0x8400_006B;
const FFA_MSG_SEND_DIRECT_REQ_32: u64 = 0x8400_006F;
const FFA_MSG_SEND_DIRECT_RESP_32: u64 = 0x8400_0070;
const FFA_ERROR: u64 = 0x8400_0060;
const NOT_SUPPORTED: u64 = 0xFFFF_FFFF;
/// w3 of a direct request that makes this partition fault.
const FAULT_COMMAND: u64 = 0xFA17;
/// An address no partition's stage-2 maps (the SPMC's own memory).
const FORBIDDEN_ADDRESS: usize = 0x0E10_0000;

/// The log tag of this binary (the same code is linked twice, as two partitions).
fn image_id() -> ImageId {
    if env!("CARGO_BIN_NAME") == "test-partition-2" {
        ImageId::SecondSecurePartition
    } else {
        ImageId::SecurePartition
    }
}

#[no_mangle]
extern "C" fn image_main() -> ! {
    // SAFETY: the SPMC maps the secure PL011 (and nothing else of the device space) for us.
    unsafe { platform_common::logger::init(LOG_UART, image_id()) };
    let level = CurrentEL.read(CurrentEL::EL);
    defmt::info!("test-partition: running at S-EL{=u64}", level);
    let mut registers = [0u64; 18];
    registers[0] = FFA_MSG_WAIT;
    loop {
        let message = smc(registers);
        registers = [0u64; 18];
        if message[0] == FFA_MSG_SEND_DIRECT_REQ_32 && message[3] == FAULT_COMMAND {
            defmt::info!("test-partition: asked to fault; writing outside its memory");
            // SAFETY: deliberately invalid: the stage-2 translation faults before the write
            // happens, and the SPMC stops this partition.
            unsafe { core::ptr::write_volatile(FORBIDDEN_ADDRESS as *mut u64, 0) };
        }
        if message[0] == FFA_MSG_SEND_DIRECT_REQ_32 {
            let (source, destination) = (message[1] >> 16, message[1] & 0xFFFF);
            registers[0] = FFA_MSG_SEND_DIRECT_RESP_32;
            registers[1] = (destination << 16) | source;
            registers[3] = message[3].wrapping_add(1) & 0xFFFF_FFFF;
            registers[4..8].copy_from_slice(&message[4..8]);
        } else {
            registers[0] = FFA_ERROR;
            registers[2] = NOT_SUPPORTED;
        }
    }
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    defmt::error!("test-partition: panic");
    loop {
        core::hint::spin_loop();
    }
}
