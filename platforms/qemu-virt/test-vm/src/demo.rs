//! The platform demo a VM runs with ffa-guest-driver: discovery, direct messages, a
//! non-contiguous MEM_SHARE the partition writes into, a MEM_LEND that takes the page away
//! until MEM_RECLAIM, and (VM 2) a request the hypervisor's policy refuses.
//!
//! Each step prints one `test-vm N: <step>: ...` line; the lines `cargo xtask run` checks end
//! with "ok" when every assertion of the step held (or "FAILED: <what>" when one did not).

use core::cell::UnsafeCell;
use core::fmt::Write;

use ffa_core::{EndpointId, FfaError, Uuid};
use ffa_guest_driver::memory::MemorySend;
use ffa_guest_driver::{
    AccessPermissions, Driver, DriverError, ErrorKind, PageRange, PartitionInfo, Receiver,
};
use platform_common::pl011::Pl011;
use platform_common::test_commands::{checksum_term, pattern, CHECKSUM, LENT, WRITE_PATTERN};

use crate::SmcConduit;
use platform_common::driver_buffers::StaticBuffers;

const PARTITION: EndpointId = EndpointId(0x8001);
/// The partition the hypervisor's policy keeps VM 2 from (told to fault after the VMs ran).
const FENCED_PARTITION: EndpointId = EndpointId(0x8002);
const PAGE_SIZE: usize = 4096;
const FFA_RXTX_UNMAP: u64 = 0x8400_0067;
/// What a load from an unreachable page leaves in its register (the hypervisor skips it).
const UNTOUCHED: u64 = 0xDEAD_BEEF_0BAD_F00D;

type VmDriver = Driver<SmcConduit, StaticBuffers>;

#[repr(C, align(4096))]
struct Pages<const N: usize>(UnsafeCell<[[u8; PAGE_SIZE]; N]>);

// SAFETY: the VM runs on one CPU; the pages are touched only by this module (volatile accesses
// by address) and by the partition while shared or lent.
unsafe impl<const N: usize> Sync for Pages<N> {}

/// Six pages: the share uses pages 0-1 and 4-5 (two ranges), pages 2-3 stay private.
static SHARED: Pages<6> = Pages(UnsafeCell::new([[0; PAGE_SIZE]; 6]));
/// The page lent to the partition.
static LENT_PAGE: Pages<1> = Pages(UnsafeCell::new([[0; PAGE_SIZE]; 1]));

fn page_address<const N: usize>(pages: &Pages<N>, index: usize) -> u64 {
    pages.0.get() as u64 + (index * PAGE_SIZE) as u64
}

fn read_word(address: u64) -> u64 {
    // SAFETY: `address` is an aligned word of one of this module's pages, reachable (not lent).
    unsafe { core::ptr::read_volatile(address as *const u64) }
}

fn write_word(address: u64, value: u64) {
    // SAFETY: as for `read_word`; nothing else holds a reference to the page.
    unsafe { core::ptr::write_volatile(address as *mut u64, value) }
}

/// Loads the word at `address` with one instruction; if the hypervisor reports a stage-2
/// fault and skips the load, the register keeps `UNTOUCHED`.
fn probe(address: u64) -> u64 {
    let value;
    #[cfg(target_arch = "aarch64")]
    // SAFETY: a load from an aligned word of this VM's own lent page: either the page is mapped
    // and the load reads it, or the hypervisor takes the stage-2 fault and resumes after it.
    unsafe {
        core::arch::asm!("ldr {value}, [{address}]", value = inout(reg) UNTOUCHED => value, address = in(reg) address, options(nostack, readonly))
    };
    #[cfg(not(target_arch = "aarch64"))]
    {
        value = read_word(address);
    }
    value
}

fn words(start: u64, page_count: usize) -> impl Iterator<Item = u64> {
    (start..start + (page_count * PAGE_SIZE) as u64).step_by(8)
}

/// Why a step failed: what, and the driver's error if one caused it.
#[derive(Debug, Clone, Copy)]
struct Failure {
    what: &'static str,
    error: Option<DriverError>,
}

impl From<&'static str> for Failure {
    fn from(what: &'static str) -> Self {
        Self { what, error: None }
    }
}

/// Turns a driver error into a failure saying `what` went wrong.
fn failed(what: &'static str) -> impl FnOnce(DriverError) -> Failure {
    move |error| Failure { what, error: Some(error) }
}

fn describe(error: &DriverError) -> &'static str {
    match error.kind {
        ErrorKind::Ffa(FfaError::Denied) => "DENIED",
        ErrorKind::Ffa(FfaError::Aborted) => "ABORTED",
        ErrorKind::Ffa(FfaError::NotSupported) => "NOT_SUPPORTED",
        ErrorKind::Ffa(FfaError::InvalidParameters) => "INVALID_PARAMETERS",
        ErrorKind::Ffa(FfaError::NoMemory) => "NO_MEMORY",
        ErrorKind::Ffa(FfaError::Busy) => "BUSY",
        ErrorKind::Ffa(_) => "another FF-A error",
        _ => "a driver error",
    }
}

/// Prints `ok` or what failed.
fn verdict(console: &mut Pl011, id: u16, step: &str, detail: &str, result: Result<(), Failure>) {
    match result {
        Ok(()) => {
            let _ = writeln!(console, "test-vm {id}: {step}: {detail}: ok");
        }
        Err(Failure { what, error: None }) => {
            let _ = writeln!(console, "test-vm {id}: {step}: FAILED: {what}");
        }
        Err(Failure { what, error: Some(error) }) => {
            let _ = writeln!(
                console,
                "test-vm {id}: {step}: FAILED: {what} ({:?}: {})",
                error.call,
                describe(&error)
            );
        }
    }
}

/// Runs the demo steps for this VM.
pub fn run(console: &mut Pl011) {
    // The conformance suite (VM 1) may have left buffers mapped; start clean.
    let _ = crate::call(&[FFA_RXTX_UNMAP]);
    let mut driver = match VmDriver::new(SmcConduit) {
        Ok(driver) => driver,
        Err(error) => {
            let _ = writeln!(console, "test-vm: FAILED: FF-A bring-up ({})", describe(&error));
            return;
        }
    };
    let id = driver.id().0;
    let mapped = StaticBuffers::take().map(|buffers| driver.map_buffers(buffers).is_ok());
    if mapped != Some(true) {
        let _ = writeln!(console, "test-vm {id}: FAILED: FFA_RXTX_MAP");
        return;
    }
    let uuid = discovery(console, &mut driver, id);
    if id == 1 {
        direct_messages(console, &mut driver, id, uuid);
        share(console, &mut driver, id);
        share_outside(console, &mut driver, id);
        lend(console, &mut driver, id);
    }
    fenced(console, &mut driver, id);
}

/// The OP-TEE-ABI test partition's ID (platforms/qemu-virt/optee-test-partition).
const OPTEE_TEST_PARTITION: u16 = 0x8003;

/// Lists the partitions; returns 0x8001's UUID.
fn discovery(console: &mut Pl011, driver: &mut VmDriver, id: u16) -> Uuid {
    // The hypervisor lists its VMs first, then the partitions.
    let mut found = [PartitionInfo::EMPTY; 8];
    let listed = driver.partition_info(Uuid::NIL, &mut found);
    let count = *listed.as_ref().unwrap_or(&0);
    let mut secure = found.iter().take(count).filter(|partition| partition.id.is_secure());
    let (first, second) = (secure.next().copied(), secure.next().copied());
    let partitions = (first.map(|partition| partition.id), second.map(|partition| partition.id));
    // After them only the OP-TEE-ABI test partition (0x8003, for the Linux guest) may follow.
    let both = partitions == (Some(PARTITION), Some(FENCED_PARTITION))
        && secure.all(|partition| partition.id.0 == OPTEE_TEST_PARTITION);
    let detail = platform_common::text::TextBuffer::<64>::format(&format_args!(
        "{count} endpoints, partitions {:#x} and {:#x}",
        partitions.0.map_or(0, |id| id.0),
        partitions.1.map_or(0, |id| id.0)
    ));
    verdict(
        console,
        id,
        "discovery",
        detail.as_str(),
        match listed {
            Err(error) => Err(failed("FFA_PARTITION_INFO_GET")(error)),
            Ok(_) if !both => Err("expected partitions 0x8001 and 0x8002".into()),
            Ok(_) => Ok(()),
        },
    );
    first.map_or(Uuid::NIL, |partition| partition.uuid)
}

/// 32-bit, 64-bit and REQ2 direct requests to 0x8001, each answered with its payload + 1.
fn direct_messages(console: &mut Pl011, driver: &mut VmDriver, id: u16, uuid: Uuid) {
    let narrow = driver.direct_request_32(PARTITION, [41, 1, 2, 3, 4]);
    let wide = driver.direct_request_64(PARTITION, [1 << 40, 5, 6, 7, 8]);
    let mut payload = [0u64; 14];
    payload[0] = 99;
    payload[13] = 0x1234;
    let second = driver.direct_request2(PARTITION, uuid, payload);
    let result = if narrow.ok() != Some([42, 1, 2, 3, 4]) {
        Err("DIRECT_REQ_32 not answered with w3 + 1".into())
    } else if wide.ok() != Some([(1 << 40) + 1, 5, 6, 7, 8]) {
        Err("DIRECT_REQ_64 not answered with x3 + 1".into())
    } else if second.ok().is_none_or(|words| words[0] != 100 || words[13] != 0x1234) {
        Err("DIRECT_REQ2 not answered with x4 + 1".into())
    } else {
        Ok(())
    };
    verdict(console, id, "direct messages to 0x8001", "32-bit, 64-bit and REQ2 answered", result);
}

/// MEM_SHARE of pages 0-1 and 4-5 of `SHARED`; the partition writes the pattern; the VM
/// checks it (and that pages 2-3 were not touched); MEM_RECLAIM.
fn share(console: &mut Pl011, driver: &mut VmDriver, id: u16) {
    const SEED: u32 = 0x5A17;
    for address in words(page_address(&SHARED, 0), 6) {
        write_word(address, 0);
    }
    let ranges = [
        PageRange { address: page_address(&SHARED, 0), page_count: 2 },
        PageRange { address: page_address(&SHARED, 4), page_count: 2 },
    ];
    let receivers = [Receiver { id: PARTITION, permissions: AccessPermissions::READ_WRITE }];
    let result = (|| {
        let handle = driver
            .memory_send(&MemorySend::share(&receivers, &ranges))
            .map_err(failed("MEM_SHARE refused"))?;
        let command =
            [WRITE_PATTERN, handle.0 as u32, (handle.0 >> 32) as u32, u32::from(id), SEED];
        let answer =
            driver.direct_request_32(PARTITION, command).map_err(failed("command not answered"))?;
        if answer[0] != 0 || answer[1] != 4 {
            return Err("the partition could not retrieve and write the 4 pages".into());
        }
        let written = ranges.iter().all(|range| {
            words(range.address, range.page_count as usize)
                .all(|address| read_word(address) == pattern(u64::from(SEED), address))
        });
        let private = words(page_address(&SHARED, 2), 2).all(|address| read_word(address) == 0);
        driver.memory_reclaim(handle, false).map_err(failed("MEM_RECLAIM refused"))?;
        match (written, private) {
            (false, _) => Err("pattern wrong in the shared pages".into()),
            (_, false) => Err("the pages between the two ranges were written".into()),
            _ => Ok(()),
        }
    })();
    verdict(
        console,
        id,
        "MEM_SHARE of 2 ranges (4 pages, 2 pages apart) to 0x8001",
        "partition wrote the pattern, VM read it back, pages between untouched, reclaimed",
        result,
    );
}

/// MEM_SHARE of pages that are not the VM's RAM (the console page, an IPA past its RAM): the
/// hypervisor's walk of the VM's stage-2 refuses both with DENIED.
fn share_outside(console: &mut Pl011, driver: &mut VmDriver, id: u16) {
    const CONSOLE_PAGE: u64 = 0x0900_0000;
    const PAST_RAM: u64 = 0x4000_0000 + (16 << 20);
    let receivers = [Receiver { id: PARTITION, permissions: AccessPermissions::READ_WRITE }];
    let mut result = Ok(());
    for address in [CONSOLE_PAGE, PAST_RAM] {
        let ranges = [PageRange { address, page_count: 1 }];
        match driver.memory_send(&MemorySend::share(&receivers, &ranges)) {
            Err(error) if error.kind == ErrorKind::Ffa(FfaError::Denied) => {}
            Err(error) => result = Err(failed("refused with another error")(error)),
            Ok(handle) => {
                let _ = driver.memory_reclaim(handle, false);
                result = Err("the share was accepted".into());
            }
        }
    }
    verdict(
        console,
        id,
        "MEM_SHARE of memory outside the VM's RAM (its console page, an IPA past its RAM)",
        "DENIED",
        result,
    );
}

/// MEM_LEND of `LENT_PAGE` (holding a pattern): unreachable for the VM while lent, the partition's
/// checksum matches, reachable again after MEM_RECLAIM.
fn lend(console: &mut Pl011, driver: &mut VmDriver, id: u16) {
    const SEED: u64 = 0x1E4D;
    let base = page_address(&LENT_PAGE, 0);
    let mut expected = 0u64;
    for address in words(base, 1) {
        write_word(address, pattern(SEED, address));
        expected = expected.wrapping_add(checksum_term(pattern(SEED, address), address));
    }
    let ranges = [PageRange { address: base, page_count: 1 }];
    let receivers = [Receiver { id: PARTITION, permissions: AccessPermissions::READ_WRITE }];
    let result = (|| {
        let handle = driver
            .memory_send(&MemorySend::lend(&receivers, &ranges))
            .map_err(failed("MEM_LEND refused"))?;
        let while_lent = probe(base);
        let command = [CHECKSUM, handle.0 as u32, (handle.0 >> 32) as u32, u32::from(id), LENT];
        let answer =
            driver.direct_request_32(PARTITION, command).map_err(failed("command not answered"))?;
        driver.memory_reclaim(handle, false).map_err(failed("MEM_RECLAIM refused"))?;
        let after = probe(base);
        let checksum = u64::from(answer[1]) | (u64::from(answer[2]) << 32);
        if while_lent != UNTOUCHED {
            Err("the VM could still read the page while it was lent".into())
        } else if answer[0] != 0 || answer[3] != 1 {
            Err("the partition could not retrieve and read the page".into())
        } else if checksum != expected {
            Err("the partition's checksum differs from the VM's".into())
        } else if after != pattern(SEED, base) {
            Err("the page is not readable again after MEM_RECLAIM".into())
        } else {
            Ok(())
        }
    })();
    verdict(
        console,
        id,
        "MEM_LEND of 1 page to 0x8001",
        "unreachable while lent (stage-2 fault), partition checksum matches, readable after MEM_RECLAIM",
        result,
    );
}

/// A direct request to 0x8002: VM 2 is refused by the hypervisor's policy (DENIED); VM 1 may
/// ask, and the partition answers (w3 + 1).
fn fenced(console: &mut Pl011, driver: &mut VmDriver, id: u16) {
    let answer = driver.direct_request_32(FENCED_PARTITION, [1, 0, 0, 0, 0]);
    let meaning =
        if id == 2 { "DENIED by the hypervisor's policy" } else { "answered (VM 1 may reach it)" };
    let result = match (id, answer) {
        (2, Err(error)) if error.kind == ErrorKind::Ffa(FfaError::Denied) => Ok(()),
        (2, Ok(_)) => Err("answered".into()),
        (_, Ok([2, ..])) => Ok(()),
        (_, Ok(_)) => Err("answered without w3 + 1".into()),
        (_, Err(error)) => Err(failed("refused")(error)),
    };
    verdict(console, id, "direct request to 0x8002", meaning, result);
}
