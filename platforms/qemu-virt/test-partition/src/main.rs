//! A test secure partition at S-EL1, built on ffa-guest-driver's partition side.
//!
//! It brings the driver up (version, ID, features), maps its RX/TX buffers (two pages of its
//! own memory) and then answers messages with the driver's service steps
//! (`Driver::next_message` and `partition::answer_message`, so a command can use the driver
//! while it answers). Direct requests:
//!
//! | request | answer |
//! |---|---|
//! | 32-bit, w3 = `FAULT_COMMAND` | none: it writes outside its memory and the SPMC aborts it |
//! | 32-bit, w3 = `WRITE_PATTERN`, w4/w5 = handle, w6 = sender, w7 = seed | retrieves the handle, writes `pattern(seed, address)` into every page, relinquishes; w3 = 0 or the FF-A error, w4 = pages written |
//! | 32-bit, w3 = `CHECKSUM`, w4/w5 = handle, w6 = sender, w7 = `LENT` or not | retrieves, reads every page, relinquishes; w3 = 0 or the error, w4/w5 = checksum (low, high), w6 = pages read |
//! | any other 32-bit | w3 + 1, w4-w7 echoed |
//! | 64-bit, x3 = a `conformance::server::Command` word | the conformance suite's server carries it out (retrieve, write, read, relinquish, reclaim, re-send, indirect messages); x3 = status, x4-x7 values |
//! | any other 64-bit | x3 + 1, x4-x7 echoed |
//! | REQ2 | x4 + 1, the rest echoed |
//!
//! The platform's commands, pattern and checksum are defined in
//! `platform_common::test_commands`, shared with the test VMs; the suite's commands in
//! `conformance::server` (its words are 64-bit, so the two sets cannot collide).
#![no_std]
#![no_main]

platform_common::simple_entry!();

mod server_memory;

use aarch64_cpu::registers::{CurrentEL, Readable};
use conformance::server::Server;
use ffa_core::{Call, Conduit, EndpointId, FfaError, Uuid};
use ffa_guest_driver::memory::{DataAccess, InstructionAccess, MemoryOperation, RetrieveRequest};
use ffa_guest_driver::partition::{answer_message, RequestHandler};
use ffa_guest_driver::{AccessPermissions, Driver, MemoryHandle, PageRange};
use platform_common::logger::ImageId;
use platform_common::smc::smc;

use platform_common::board::LOG_UART;
use platform_common::test_commands::{
    checksum_term, pattern, CHECKSUM, FAULT as FAULT_COMMAND, LENT, WRITE_PATTERN,
};
/// An address no partition's stage-2 maps (the SPMC's own memory).
const FORBIDDEN_ADDRESS: usize = 0x0E10_0000;
/// Most address ranges a retrieved transaction may have.
const MAXIMUM_RANGES: usize = 8;
const PAGE_SIZE: u64 = 4096;

/// FF-A calls by SMC, which the SPMC traps (HCR_EL2.TSC).
#[derive(Debug)]
struct SmcConduit;

impl Conduit for SmcConduit {
    fn call(&mut self, registers: [u64; 18]) -> [u64; 18] {
        smc(registers)
    }
}

type PartitionDriver = Driver<SmcConduit, platform_common::driver_buffers::StaticBuffers>;

/// The log tag of this binary (the same code is linked twice, as two partitions).
fn image_id() -> ImageId {
    if env!("CARGO_BIN_NAME") == "test-partition-2" {
        ImageId::SecondSecurePartition
    } else {
        ImageId::SecurePartition
    }
}

/// The partition's answers; holds the driver for the commands that retrieve memory, and the
/// conformance server's state (what it retrieved) across requests.
struct Service<'a, 'm> {
    driver: &'a mut PartitionDriver,
    server: &'a mut Server<'m>,
}

impl Service<'_, '_> {
    /// Retrieves `handle` from `sender`, runs `visit` on every 8-byte word's address of every
    /// page, relinquishes. Returns the number of pages.
    fn with_retrieved(
        &mut self,
        handle: u64,
        sender: u32,
        lent: bool,
        mut visit: impl FnMut(u64),
    ) -> Result<u32, FfaError> {
        // The only borrower of a LEND states its instruction access; a SHARE's borrower leaves
        // it unspecified (reference §7.4).
        let (operation, instruction) = if lent {
            (Some(MemoryOperation::Lend), InstructionAccess::NotExecutable)
        } else {
            (None, InstructionAccess::NotSpecified)
        };
        let request = RetrieveRequest {
            handle: MemoryHandle(handle),
            sender: EndpointId(sender as u16),
            operation,
            tag: 0,
            permissions: AccessPermissions { data: DataAccess::ReadWrite, instruction },
        };
        let mut ranges = [PageRange::default(); MAXIMUM_RANGES];
        let retrieved = self.driver.memory_retrieve(&request, &mut ranges).map_err(ffa_error)?;
        let mut pages = 0;
        for range in ranges.iter().take(retrieved.range_count.min(MAXIMUM_RANGES)) {
            let length = u64::from(range.page_count) * PAGE_SIZE;
            for address in (range.address..range.address + length).step_by(8) {
                visit(address);
            }
            pages += range.page_count;
        }
        self.driver.memory_relinquish(MemoryHandle(handle)).map_err(ffa_error)?;
        Ok(pages)
    }
}

/// The FF-A status of a driver error (ABORTED for answers the driver could not use).
fn ffa_error(error: ffa_guest_driver::DriverError) -> FfaError {
    match error.kind {
        ffa_guest_driver::ErrorKind::Ffa(status) => status,
        _ => FfaError::Aborted,
    }
}

fn status(result: Result<(), FfaError>) -> u32 {
    match result {
        Ok(()) => 0,
        Err(error) => error.code() as u32,
    }
}

impl RequestHandler for Service<'_, '_> {
    fn direct_request_32(&mut self, _source: EndpointId, payload: [u32; 5]) -> [u32; 5] {
        let [command, low, high, sender, seed] = payload;
        let handle = u64::from(low) | (u64::from(high) << 32);
        match command {
            FAULT_COMMAND => {
                defmt::info!("test-partition: asked to fault; writing outside its memory");
                // SAFETY: deliberately invalid: the stage-2 translation faults before the
                // write happens, and the SPMC stops this partition.
                unsafe { core::ptr::write_volatile(FORBIDDEN_ADDRESS as *mut u64, 0) };
                [0; 5]
            }
            WRITE_PATTERN => {
                let seed = u64::from(seed);
                let result = self.with_retrieved(handle, sender, false, |address| {
                    // SAFETY: `address` is a word of a page the SPMC just mapped into this
                    // partition's stage-2 read-write at IPA = PA (the retrieve succeeded).
                    unsafe {
                        core::ptr::write_volatile(address as *mut u64, pattern(seed, address))
                    }
                });
                defmt::info!(
                    "test-partition: wrote the pattern into handle {=u64:#x}: {=u32} pages",
                    handle,
                    *result.as_ref().unwrap_or(&0)
                );
                [status(result.map(|_| ())), result.unwrap_or(0), 0, 0, 0]
            }
            CHECKSUM => {
                let mut sum = 0u64;
                let result = self.with_retrieved(handle, sender, seed == LENT, |address| {
                    // SAFETY: as for WRITE_PATTERN: a word of a page mapped by the retrieve.
                    let word = unsafe { core::ptr::read_volatile(address as *const u64) };
                    sum = sum.wrapping_add(checksum_term(word, address));
                });
                defmt::info!(
                    "test-partition: checksum of handle {=u64:#x}: {=u64:#x} (status {=u32:#x})",
                    handle,
                    sum,
                    status(result.map(|_| ()))
                );
                let pages = *result.as_ref().unwrap_or(&0);
                [status(result.map(|_| ())), sum as u32, (sum >> 32) as u32, pages, 0]
            }
            _ => [command.wrapping_add(1), low, high, sender, seed],
        }
    }

    fn direct_request_64(&mut self, _source: EndpointId, payload: [u64; 5]) -> [u64; 5] {
        self.server.answer(self.driver, payload).unwrap_or_else(|| {
            let mut answer = payload;
            answer[0] = payload[0].wrapping_add(1);
            answer
        })
    }

    fn direct_request2(
        &mut self,
        _source: EndpointId,
        _uuid: Uuid,
        payload: [u64; 14],
    ) -> [u64; 14] {
        let mut answer = payload;
        answer[0] = payload[0].wrapping_add(1);
        answer
    }
}

#[no_mangle]
extern "C" fn image_main() -> ! {
    // SAFETY: the SPMC maps the secure PL011 (and nothing else of the device space) for us.
    unsafe { platform_common::logger::init(LOG_UART, image_id()) };
    let level = CurrentEL.read(CurrentEL::EL);
    defmt::info!("test-partition: running at S-EL{=u64}", level);
    let mut driver = match PartitionDriver::new(SmcConduit) {
        Ok(driver) => driver,
        Err(_) => {
            defmt::error!("test-partition: FF-A bring-up failed");
            loop {
                core::hint::spin_loop();
            }
        }
    };
    let mapped = platform_common::driver_buffers::StaticBuffers::take()
        .map(|buffers| driver.map_buffers(buffers));
    if !matches!(mapped, Some(Ok(()))) {
        defmt::error!("test-partition: FFA_RXTX_MAP failed: no memory commands");
    }
    let mut memory = server_memory::RetrievedMemory;
    let mut server = Server::new(&mut memory);
    let wait = Call::MsgWait { flags: ffa_core::call::MsgWaitFlags::empty(), is_64: false };
    // The message and the answer stay where the driver built them (inside their `Result`s) and
    // are only borrowed: a `Call` is large, and moving one out is a memcpy per message.
    let mut reply = Ok(wait);
    loop {
        let incoming = driver.next_message(reply.as_ref().unwrap_or(&wait));
        let Ok(incoming) = &incoming else {
            defmt::error!("test-partition: the SPMC answered the service loop with an error");
            reply = Ok(wait);
            continue;
        };
        let own = driver.id();
        let mut service = Service { driver: &mut driver, server: &mut server };
        reply = answer_message(own, &mut service, incoming);
    }
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    defmt::error!("test-partition: panic");
    loop {
        core::hint::spin_loop();
    }
}
