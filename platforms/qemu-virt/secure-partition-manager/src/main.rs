//! The SPMC image for QEMU virt at S-EL2.
//!
//! Bring-up stage: it proves the world switch. It logs its start, ends its initialisation with
//! FFA_MSG_WAIT as TF-A's SPMD expects, then answers the calls the EL3 monitor relays:
//! FFA_VERSION (as the SPMD's VERSION_REQ framework message), FFA_ID_GET, and direct requests to partition 0x8001, which it answers itself
//! (an echo: w3 + 1) until partitions are loaded. The spmc crate's SPMC role replaces this loop.
#![no_std]
#![no_main]

platform_common::simple_entry!();

use platform_common::smc::smc;

const LOG_UART: usize = 0x0904_0000;

const FFA_ERROR: u64 = 0x8400_0060;
const FFA_SUCCESS_32: u64 = 0x8400_0061;
const FFA_ID_GET: u64 = 0x8400_0069;
const FFA_MSG_WAIT: u64 = 0x8400_006B;
const FFA_MSG_SEND_DIRECT_REQ_32: u64 = 0x8400_006F;
const FFA_MSG_SEND_DIRECT_RESP_32: u64 = 0x8400_0070;
const NOT_SUPPORTED: u64 = 0xFFFF_FFFF;
const INVALID_PARAMETERS: u64 = 0xFFFF_FFFE;
const VERSION_1_2: u64 = 0x1_0002;
const ECHO_PARTITION: u64 = 0x8001;
const SPMD_ID: u64 = 0xFFFF;
const SPMC_ID: u64 = 0x8000;
const FRAMEWORK_VERSION_REQUEST: u64 = 0x8000_0008;
const FRAMEWORK_VERSION_RESPONSE: u64 = 0x8000_0009;

fn answer(call: &[u64; 18]) -> [u64; 18] {
    let mut reply = [0u64; 18];
    match call[0] {
        FFA_ID_GET => {
            reply[0] = FFA_SUCCESS_32;
            reply[2] = 0;
        }
        FFA_MSG_SEND_DIRECT_REQ_32 if call[1] == (SPMD_ID << 16) | SPMC_ID => {
            reply[0] = FFA_MSG_SEND_DIRECT_RESP_32;
            reply[1] = (SPMC_ID << 16) | SPMD_ID;
            if call[2] == FRAMEWORK_VERSION_REQUEST {
                reply[2] = FRAMEWORK_VERSION_RESPONSE;
                let requested = call[3];
                let compatible = requested >> 31 == 0 && requested >> 16 == VERSION_1_2 >> 16;
                reply[3] = if compatible { VERSION_1_2 } else { NOT_SUPPORTED };
            } else {
                reply[0] = FFA_ERROR;
                reply[1] = 0;
                reply[2] = NOT_SUPPORTED;
            }
        }
        FFA_MSG_SEND_DIRECT_REQ_32 => {
            let (source, destination) = (call[1] >> 16, call[1] & 0xFFFF);
            if destination != ECHO_PARTITION || call[2] != 0 {
                reply[0] = FFA_ERROR;
                reply[2] = INVALID_PARAMETERS;
            } else {
                reply[0] = FFA_MSG_SEND_DIRECT_RESP_32;
                reply[1] = (destination << 16) | source;
                reply[3] = call[3].wrapping_add(1) & 0xFFFF_FFFF;
                reply[4..8].copy_from_slice(&call[4..8]);
            }
        }
        _ => {
            reply[0] = FFA_ERROR;
            reply[2] = NOT_SUPPORTED;
        }
    }
    reply
}

#[no_mangle]
extern "C" fn image_main(manifest: u64) -> ! {
    // SAFETY: on QEMU virt this is the secure PL011, reserved for the defmt log stream.
    unsafe { platform_common::logger::init(LOG_UART, platform_common::logger::ImageId::Spmc) };
    let level = (platform_common::read_sysreg!("CurrentEL") >> 2) & 3;
    defmt::info!("spmc: running at S-EL{=u64}, core manifest at {=u64:#x}", level, manifest);
    defmt::info!("spmc: bring-up stage: answering direct requests for 0x8001 itself");
    let mut registers = [0u64; 18];
    registers[0] = FFA_MSG_WAIT;
    loop {
        let call = smc(registers);
        registers = answer(&call);
    }
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    defmt::error!("spmc: panic");
    platform_common::semihosting::exit(101)
}
