//! The SPMC image for QEMU virt at S-EL2.
//!
//! Bring-up stage: it loads the secure partitions from the TF-A SP packages its core manifest
//! points at, runs each at S-EL1 behind its own secure stage-2, and relays direct requests
//! between the normal world and the partitions, on any CPU. FFA_VERSION arrives as the SPMD's VERSION_REQ
//! framework message. The spmc crate's SPMC role replaces the call handling here as it lands.
#![no_std]
#![no_main]

platform_common::simple_entry!();

mod boot;
mod partition;
mod stage2;

use aarch64_cpu::registers::{CurrentEL, Readable};
use partition::Partition;
use platform_common::smc::smc;
use platform_common::write_sysreg;

use platform_common::board::{LOG_LOCK, LOG_UART};

const FFA_ERROR: u64 = 0x8400_0060;
const FFA_SUCCESS_32: u64 = 0x8400_0061;
const FFA_SUCCESS_64: u64 = 0xC400_0061;
const FFA_ID_GET: u64 = 0x8400_0069;
const FFA_MSG_WAIT: u64 = 0x8400_006B;
const FFA_MSG_SEND_DIRECT_REQ_32: u64 = 0x8400_006F;
const FFA_MSG_SEND_DIRECT_RESP_32: u64 = 0x8400_0070;
const FFA_SECONDARY_EP_REGISTER_64: u64 = 0xC400_0087;
const NOT_SUPPORTED: u64 = 0xFFFF_FFFF;
const INVALID_PARAMETERS: u64 = 0xFFFF_FFFE;
const BUSY: u64 = 0xFFFF_FFFC;
const ABORTED: u64 = 0xFFFF_FFF8;
const VERSION_1_2: u64 = 0x1_0002;
const SPMD_ID: u64 = 0xFFFF;
const SPMC_ID: u64 = 0x8000;
const FRAMEWORK_VERSION_REQUEST: u64 = 0x8000_0008;
const FRAMEWORK_VERSION_RESPONSE: u64 = 0x8000_0009;
/// HCR_EL2 while partitions run: VM, SWIO, TSC (trap SMC), RW (EL1 is AArch64), APK, API.
const HCR_PARTITION: u64 = 1 | (1 << 1) | (1 << 19) | (1 << 31) | (1 << 40) | (1 << 41);

extern "C" {
    /// Where the EL3 monitor starts this image on a CPU brought up by PSCI CPU_ON.
    fn spmc_secondary_start() -> !;
}

#[cfg(target_arch = "aarch64")]
core::arch::global_asm!(
    r#"
    .section .text, "ax"
    .global spmc_secondary_start
spmc_secondary_start:
    // x4 = this CPU's index (set by the EL3 monitor); 8 KiB of stack per CPU.
    ldr     x1, =__stack_top
    mov     x2, #8192
    msub    x1, x4, x2, x1
    mov     sp, x1
    mov     x0, x4
    bl      image_secondary_main
    b       .
    .ltorg
"#
);

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

fn direct_request(call: &[u64; 18], cpu: usize) -> [u64; 18] {
    let (source, destination) = (call[1] >> 16, call[1] & 0xFFFF);
    if source & 0x8000 != 0 || call[2] != 0 {
        return error(INVALID_PARAMETERS);
    }
    let Some(slot) = partition::find(destination) else { return error(INVALID_PARAMETERS) };
    // A partition runs on one CPU at a time: a request while it runs elsewhere is BUSY.
    let Some(mut slot) = slot.try_lock() else { return error(BUSY) };
    let Some(partition) = slot.as_mut() else { return error(INVALID_PARAMETERS) };
    if partition.aborted {
        return error(ABORTED);
    }
    let mut message = [0u64; 8];
    message.copy_from_slice(&call[..8]);
    let Some(response) = partition.deliver(&message, cpu) else { return error(ABORTED) };
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

fn answer(call: &[u64; 18], cpu: usize) -> [u64; 18] {
    match call[0] {
        FFA_ID_GET => {
            let mut reply = [0u64; 18];
            reply[0] = FFA_SUCCESS_32;
            reply
        }
        FFA_MSG_SEND_DIRECT_REQ_32 if call[1] == (SPMD_ID << 16) | SPMC_ID => framework(call),
        FFA_MSG_SEND_DIRECT_REQ_32 => direct_request(call, cpu),
        _ => error(NOT_SUPPORTED),
    }
}

/// This CPU's EL2 controls for running partitions.
fn configure_cpu() {
    platform_common::guest::install_vectors();
    stage2::configure_cpu();
    write_sysreg!("hcr_el2", HCR_PARTITION);
}

/// Ends this CPU's initialisation with FFA_MSG_WAIT and serves calls forever.
fn serve(cpu: usize) -> ! {
    let mut registers = [0u64; 18];
    registers[0] = FFA_MSG_WAIT;
    loop {
        let call = smc(registers);
        registers = answer(&call, cpu);
    }
}

#[no_mangle]
extern "C" fn image_main(manifest: u64) -> ! {
    // SAFETY: on QEMU virt this is the secure PL011, reserved for the defmt log stream, and
    // LOG_LOCK is a secure RAM word reserved for the frame lock (docs/src/memory-map.md).
    unsafe {
        platform_common::logger::init_shared(
            LOG_UART,
            platform_common::logger::ImageId::Spmc,
            LOG_LOCK,
        )
    };
    let level = CurrentEL.read(CurrentEL::EL);
    defmt::info!("spmc: running at S-EL{=u64}, core manifest at {=u64:#x}", level, manifest);

    let packages = match boot::find_partitions::<{ stage2::MAXIMUM_PARTITIONS }>(manifest) {
        Ok(packages) => packages,
        Err(problem) => {
            defmt::error!("spmc: cannot load the partitions: {=str}", problem.as_str());
            platform_common::semihosting::exit(4)
        }
    };
    stage2::configure_cpu();
    for (index, package) in packages.iter().enumerate() {
        let Some(package) = package else { continue };
        defmt::info!(
            "spmc: partition {=u64:#x}: package at {=u64:#x}, entry {=u64:#x}",
            package.partition_id,
            package.package_base,
            package.entry
        );
        let memory = stage2::PartitionMemory {
            memory_base: package.package_base,
            device_page: LOG_UART as u64,
        };
        if stage2::build(index, memory).is_err() {
            defmt::error!(
                "spmc: partition {=u64:#x}: cannot build its stage-2 tables",
                package.partition_id
            );
            platform_common::semihosting::exit(4)
        }
    }
    configure_cpu();
    for (index, package) in packages.iter().enumerate() {
        let Some(package) = package else { continue };
        let partition = Partition::boot(index, package.partition_id, package.entry, 0);
        partition::install(index, partition);
    }

    let mut register = [0u64; 18];
    register[0] = FFA_SECONDARY_EP_REGISTER_64;
    register[1] = spmc_secondary_start as *const () as u64;
    let reply = smc(register);
    if reply[0] == FFA_SUCCESS_64 {
        defmt::info!("spmc: secondary entry registered with the monitor");
    } else {
        defmt::error!("spmc: FFA_SECONDARY_EP_REGISTER failed ({=u64:#x})", reply[2]);
    }
    serve(0)
}

/// A CPU the normal world started with PSCI CPU_ON.
#[no_mangle]
extern "C" fn image_secondary_main(cpu: usize) -> ! {
    configure_cpu();
    defmt::info!("spmc: cpu {=usize} ready", cpu);
    serve(cpu)
}

/// Any S-EL2 vector other than a partition's trap.
#[no_mangle]
extern "C" fn guest_unexpected_exception(kind: u64) -> ! {
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
