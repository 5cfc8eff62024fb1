//! The SPMC image for QEMU virt at S-EL2.
//!
//! Bring-up stage: it loads one secure partition from the TF-A SP package its core manifest
//! points at, runs it at S-EL1 behind a secure stage-2, and relays direct requests between the
//! normal world and that partition. FFA_VERSION arrives as the SPMD's VERSION_REQ framework
//! message. The spmc crate's SPMC role replaces the call handling here as it lands.
#![no_std]
#![no_main]

platform_common::simple_entry!();

mod boot;
mod partition_run;
mod stage2;

use aarch64_cpu::registers::{CurrentEL, Readable, ESR_EL2};
use partition_run::PartitionRegisters;
use platform_common::smc::smc;
use platform_common::write_sysreg;

const LOG_UART: usize = 0x0904_0000;

const FFA_ERROR: u64 = 0x8400_0060;
const FFA_SUCCESS_32: u64 = 0x8400_0061;
const FFA_ID_GET: u64 = 0x8400_0069;
const FFA_MSG_WAIT: u64 = 0x8400_006B;
const FFA_MSG_SEND_DIRECT_REQ_32: u64 = 0x8400_006F;
const FFA_MSG_SEND_DIRECT_RESP_32: u64 = 0x8400_0070;
const NOT_SUPPORTED: u64 = 0xFFFF_FFFF;
const INVALID_PARAMETERS: u64 = 0xFFFF_FFFE;
const ABORTED: u64 = 0xFFFF_FFF8;
const VERSION_1_2: u64 = 0x1_0002;
const SPMD_ID: u64 = 0xFFFF;
const SPMC_ID: u64 = 0x8000;
const FRAMEWORK_VERSION_REQUEST: u64 = 0x8000_0008;
const FRAMEWORK_VERSION_RESPONSE: u64 = 0x8000_0009;
/// ESR exception class of an SMC (trapped by HCR_EL2.TSC).
const EC_SMC64: u64 = ESR_EL2::EC::Value::SMC64 as u64;
/// SPSR for entering EL1 with SP_EL1 (EL1h), D/A/I/F masked.
const SPSR_EL1H_MASKED: u64 = 0x3c5;
/// HCR_EL2 while partitions run: VM, SWIO, TSC (trap SMC), RW (EL1 is AArch64), APK, API.
const HCR_PARTITION: u64 = 1 | (1 << 1) | (1 << 19) | (1 << 31) | (1 << 40) | (1 << 41);
/// SCTLR_EL1 reset value with its RES1 bits: MMU and caches off.
const SCTLR_EL1_RESET: u64 = 0x30D0_0800;

/// The one partition of the bring-up stage.
struct Partition {
    id: u64,
    registers: PartitionRegisters,
    aborted: bool,
}

impl Partition {
    /// Runs the partition until it makes an FF-A call; returns that call's x0-x7, or None if it
    /// faulted (it is then marked aborted).
    fn run_until_call(&mut self) -> Option<[u64; 8]> {
        let exit = partition_run::run(&mut self.registers);
        if exit.syndrome >> 63 != 0 || exit.class() != EC_SMC64 {
            defmt::error!(
                "spmc: partition {=u64:#x} stopped with syndrome {=u64:#x} at {=u64:#x}; marked aborted",
                self.id,
                exit.syndrome,
                self.registers.elr
            );
            self.aborted = true;
            return None;
        }
        // A trapped SMC returns to the SMC itself; the partition resumes after it.
        self.registers.elr += 4;
        let mut call = [0u64; 8];
        call.copy_from_slice(&self.registers.x[..8]);
        Some(call)
    }

    /// Delivers `message` in x0-x7 and runs the partition until its next call.
    fn deliver(&mut self, message: &[u64; 8]) -> Option<[u64; 8]> {
        self.registers.x[..8].copy_from_slice(message);
        self.run_until_call()
    }
}

fn error(code: u64) -> [u64; 18] {
    let mut reply = [0u64; 18];
    reply[0] = FFA_ERROR;
    reply[2] = code;
    reply
}

fn framework(call: &[u64; 18]) -> [u64; 18] {
    let mut reply = [0u64; 18];
    if call[2] != FRAMEWORK_VERSION_REQUEST {
        return error(NOT_SUPPORTED);
    }
    reply[0] = FFA_MSG_SEND_DIRECT_RESP_32;
    reply[1] = (SPMC_ID << 16) | SPMD_ID;
    reply[2] = FRAMEWORK_VERSION_RESPONSE;
    let requested = call[3];
    let compatible = requested >> 31 == 0 && requested >> 16 == VERSION_1_2 >> 16;
    reply[3] = if compatible { VERSION_1_2 } else { NOT_SUPPORTED };
    reply
}

fn direct_request(partition: &mut Partition, call: &[u64; 18]) -> [u64; 18] {
    let (source, destination) = (call[1] >> 16, call[1] & 0xFFFF);
    if destination != partition.id || source & 0x8000 != 0 || call[2] != 0 {
        return error(INVALID_PARAMETERS);
    }
    if partition.aborted {
        return error(ABORTED);
    }
    let mut message = [0u64; 8];
    message.copy_from_slice(&call[..8]);
    let Some(response) = partition.deliver(&message) else { return error(ABORTED) };
    let answers_caller = response[1] == (destination << 16) | source;
    if response[0] != FFA_MSG_SEND_DIRECT_RESP_32 || !answers_caller {
        defmt::error!(
            "spmc: partition answered a direct request with {=u64:#x}; aborted",
            response[0]
        );
        partition.aborted = true;
        return error(ABORTED);
    }
    let mut reply = [0u64; 18];
    reply[..8].copy_from_slice(&response);
    reply
}

fn answer(partition: &mut Partition, call: &[u64; 18]) -> [u64; 18] {
    match call[0] {
        FFA_ID_GET => {
            let mut reply = [0u64; 18];
            reply[0] = FFA_SUCCESS_32;
            reply
        }
        FFA_MSG_SEND_DIRECT_REQ_32 if call[1] == (SPMD_ID << 16) | SPMC_ID => framework(call),
        FFA_MSG_SEND_DIRECT_REQ_32 => direct_request(partition, call),
        _ => error(NOT_SUPPORTED),
    }
}

#[no_mangle]
extern "C" fn image_main(manifest: u64) -> ! {
    // SAFETY: on QEMU virt this is the secure PL011, reserved for the defmt log stream.
    unsafe { platform_common::logger::init(LOG_UART, platform_common::logger::ImageId::Spmc) };
    let level = CurrentEL.read(CurrentEL::EL);
    defmt::info!("spmc: running at S-EL{=u64}, core manifest at {=u64:#x}", level, manifest);
    partition_run::install_vectors();

    let package = match boot::find_partition(manifest) {
        Ok(package) => package,
        Err(problem) => {
            defmt::error!("spmc: cannot load a partition: {=str}", problem);
            platform_common::semihosting::exit(4)
        }
    };
    defmt::info!(
        "spmc: partition package at {=u64:#x}, image at {=u64:#x}",
        package.package_base,
        package.entry
    );
    stage2::enable(stage2::PartitionMemory {
        memory_base: package.package_base,
        device_page: LOG_UART as u64,
    });
    write_sysreg!("sctlr_el1", SCTLR_EL1_RESET);
    write_sysreg!("hcr_el2", HCR_PARTITION);
    let mut partition = Partition {
        id: package.partition_id,
        registers: PartitionRegisters::default(),
        aborted: false,
    };
    partition.registers.elr = package.entry;
    partition.registers.spsr = SPSR_EL1H_MASKED;
    match partition.run_until_call() {
        Some(call) if call[0] == FFA_MSG_WAIT => {
            defmt::info!("spmc: partition {=u64:#x} initialised (FFA_MSG_WAIT)", partition.id)
        }
        Some(call) => {
            defmt::error!("spmc: partition ended its boot with {=u64:#x}; aborted", call[0]);
            partition.aborted = true;
        }
        None => {}
    }

    let mut registers = [0u64; 18];
    registers[0] = FFA_MSG_WAIT;
    loop {
        let call = smc(registers);
        registers = answer(&mut partition, &call);
    }
}

/// Any S-EL2 vector other than a partition's trap.
#[no_mangle]
extern "C" fn spmc_unexpected_exception(kind: u64) -> ! {
    let syndrome = platform_common::read_sysreg!("esr_el2");
    let link = platform_common::read_sysreg!("elr_el2");
    let fault = platform_common::read_sysreg!("far_el2");
    defmt::error!(
        "spmc: unexpected exception (vector {=u64}): ESR_EL2={=u64:#x} ELR_EL2={=u64:#x} FAR_EL2={=u64:#x}",
        kind,
        syndrome,
        link,
        fault
    );
    platform_common::semihosting::exit(5)
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    defmt::error!("spmc: panic");
    platform_common::semihosting::exit(101)
}
