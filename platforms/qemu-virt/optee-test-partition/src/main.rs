//! An S-EL1 test partition that answers Linux's OP-TEE FF-A ABI (UUID
//! 486178e0-e7f8-11e3-bc5e-0002a5d5c51b, the one Linux's OP-TEE driver binds to).
//!
//! It is not a TEE: it runs no trusted applications. It answers exactly what Linux's driver
//! needs to probe and to share and release memory: the API and OS versions, the capability
//! exchange, UNREGISTER_SHM, and yielding calls whose OP-TEE message it reads from memory the
//! driver shared (FFA_MEM_RETRIEVE_REQ, answer, FFA_MEM_RELINQUISH). The partition manager and
//! the hypervisor know nothing of any of this: to them these are direct requests and memory
//! transactions like any other.
#![no_std]
#![no_main]

platform_common::simple_entry!();

mod abi;
mod message;

use aarch64_cpu::registers::{CurrentEL, Readable};
use ffa_core::EndpointId;
use ffa_guest_driver::{
    memory::RetrieveRequest, AccessPermissions, Driver, MemoryHandle, PageRange, SliceBuffers,
};
use platform_common::board::LOG_UART;
use platform_common::logger::ImageId;
use platform_common::smc::smc;

const FFA_ERROR: u64 = 0x8400_0060;
const FFA_MSG_WAIT: u64 = 0x8400_006B;
const FFA_MSG_SEND_DIRECT_REQ_32: u64 = 0x8400_006F;
const FFA_MSG_SEND_DIRECT_RESP_32: u64 = 0x8400_0070;
const NOT_SUPPORTED: u64 = 0xFFFF_FFFF;
/// One page each for TX and RX (the smallest buffer FF-A allows).
const BUFFER_BYTES: usize = 4096;
/// Address ranges read from a retrieve response (a message needs only the first).
const RANGES: usize = 4;
const PAGE_BYTES: u64 = 4096;

/// This partition's conduit: SMC, trapped by the SPMC at S-EL2.
#[derive(Debug)]
struct SecureMonitorCall;

impl ffa_core::Conduit for SecureMonitorCall {
    fn call(&mut self, registers: [u64; 18]) -> [u64; 18] {
        smc(registers)
    }
}

#[repr(C, align(4096))]
struct Page([u8; BUFFER_BYTES]);

static mut TX: Page = Page([0; BUFFER_BYTES]);
static mut RX: Page = Page([0; BUFFER_BYTES]);

type MemoryDriver = Driver<SecureMonitorCall, SliceBuffers<'static>>;

/// Brings up the FF-A driver and maps RX/TX, which retrieving memory needs.
fn memory_driver() -> Option<MemoryDriver> {
    let mut driver = match Driver::new(SecureMonitorCall) {
        Ok(driver) => driver,
        Err(_) => {
            defmt::error!("optee-test-partition: FF-A driver did not start");
            return None;
        }
    };
    // SAFETY: called once, before the message loop; nothing else refers to TX or RX, and the
    // partition runs with its MMU off, so their addresses are the IPAs the SPMC maps.
    let buffers = unsafe {
        let tx = &mut *core::ptr::addr_of_mut!(TX);
        let rx = &mut *core::ptr::addr_of_mut!(RX);
        let (tx_address, rx_address) = (tx.0.as_ptr() as u64, rx.0.as_ptr() as u64);
        SliceBuffers::new(&mut tx.0, tx_address, &mut rx.0, rx_address)?
    };
    if driver.map_buffers(buffers).is_err() {
        defmt::error!("optee-test-partition: FFA_RXTX_MAP refused");
        return None;
    }
    defmt::info!("optee-test-partition: FF-A driver ready, ID {=u16:#x}", driver.id().0);
    Some(driver)
}

/// A yielding call with its message in memory `handle` shared by `sender`, at `offset`.
fn yielding_call(
    driver: Option<&mut MemoryDriver>,
    sender: EndpointId,
    handle: u64,
    offset: u64,
) -> [u32; 5] {
    let Some(driver) = driver else { return [abi::FFA_INVALID_PARAMETERS, 0, 0, 0, 0] };
    let request = RetrieveRequest {
        handle: MemoryHandle(handle),
        sender,
        operation: None,
        tag: 0,
        permissions: AccessPermissions::READ_WRITE,
    };
    let mut ranges = [PageRange::default(); RANGES];
    let retrieved = match driver.memory_retrieve(&request, &mut ranges) {
        Ok(retrieved) => retrieved,
        Err(_) => {
            defmt::warn!("optee-test-partition: cannot retrieve handle {=u64:#x}", handle);
            return [abi::FFA_INVALID_PARAMETERS, 0, 0, 0, 0];
        }
    };
    let first = ranges[0];
    let fits = retrieved.range_count > 0
        && offset.is_multiple_of(4)
        && offset + message::HEADER_BYTES <= u64::from(first.page_count) * PAGE_BYTES;
    let status = if fits {
        // SAFETY: the message lies inside the first range of memory we just retrieved and
        // still hold (checked above), mapped by the SPMC at the address it reported.
        let command = unsafe { message::answer(first.address + offset) };
        defmt::info!(
            "optee-test-partition: message command {=u32} in handle {=u64:#x} answered",
            command,
            handle
        );
        0
    } else {
        abi::FFA_INVALID_PARAMETERS
    };
    if driver.memory_relinquish(MemoryHandle(handle)).is_err() {
        defmt::warn!("optee-test-partition: relinquishing {=u64:#x} failed", handle);
    }
    [status, abi::YIELDING_CALL_DONE, 0, 0, 0]
}

#[no_mangle]
extern "C" fn image_main() -> ! {
    // SAFETY: the SPMC maps the secure PL011 (and nothing else of the device space) for us.
    unsafe { platform_common::logger::init(LOG_UART, ImageId::OpteeTestPartition) };
    let level = CurrentEL.read(CurrentEL::EL);
    defmt::info!("optee-test-partition: running at S-EL{=u64}", level);
    let mut driver = memory_driver();
    let mut registers = [0u64; 18];
    registers[0] = FFA_MSG_WAIT;
    loop {
        let message = smc(registers);
        registers = [0u64; 18];
        if message[0] != FFA_MSG_SEND_DIRECT_REQ_32 {
            registers[0] = FFA_ERROR;
            registers[2] = NOT_SUPPORTED;
            continue;
        }
        let (source, destination) = (message[1] >> 16, message[1] & 0xFFFF);
        let mut payload = [0u32; 5];
        for (word, register) in payload.iter_mut().zip(&message[3..8]) {
            *word = *register as u32;
        }
        let answer = abi::blocking_call(payload).unwrap_or_else(|| {
            if payload[0] == abi::YIELDING_CALL_WITH_ARGUMENT {
                let handle = u64::from(payload[1]) | (u64::from(payload[2]) << 32);
                yielding_call(driver.as_mut(), EndpointId(source as u16), handle, payload[3].into())
            } else {
                [abi::FFA_NOT_SUPPORTED, 0, 0, 0, 0]
            }
        });
        registers[0] = FFA_MSG_SEND_DIRECT_RESP_32;
        registers[1] = (destination << 16) | source;
        for (register, word) in registers[3..8].iter_mut().zip(answer) {
            *register = u64::from(word);
        }
    }
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    defmt::error!("optee-test-partition: panic");
    loop {
        core::hint::spin_loop();
    }
}
