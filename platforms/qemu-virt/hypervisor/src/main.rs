//! The NS-EL2 hypervisor for QEMU virt.
//!
//! Bring-up stage: it runs the normal world's side of the world-switch proof. It negotiates the
//! FF-A version, asks its ID, sends direct requests to partition 0x8001, counts what a round
//! trip costs with the generic counter, and powers off through PSCI. Guest VMs and the spmc
//! crate's forwarder role replace this sequence.
#![no_std]
#![no_main]

platform_common::simple_entry!();

use core::fmt::Write;

use aarch64_cpu::registers::{CurrentEL, Readable, CNTFRQ_EL0, CNTPCT_EL0};
use platform_common::pl011::Pl011;
use platform_common::smc::smc;

const CONSOLE_UART: usize = 0x0900_0000;
const FFA_VERSION: u64 = 0x8400_0063;
const FFA_ID_GET: u64 = 0x8400_0069;
const FFA_MSG_SEND_DIRECT_REQ_32: u64 = 0x8400_006F;
const FFA_MSG_SEND_DIRECT_RESP_32: u64 = 0x8400_0070;
const PSCI_SYSTEM_OFF: u64 = 0x8400_0008;
const SMCCC_VERSION: u64 = 0x8000_0000;
const PARTITION: u64 = 0x8001;
const ROUND_TRIPS: u64 = 1000;

fn call(registers: &[u64]) -> [u64; 18] {
    let mut all = [0u64; 18];
    for (slot, value) in all.iter_mut().zip(registers) {
        *slot = *value;
    }
    smc(all)
}

fn direct_request(value: u64) -> [u64; 18] {
    call(&[FFA_MSG_SEND_DIRECT_REQ_32, PARTITION, 0, value])
}

fn counter() -> u64 {
    #[cfg(target_arch = "aarch64")]
    // SAFETY: an instruction barrier so the counter read is not hoisted.
    unsafe {
        core::arch::asm!("isb", options(nostack))
    };
    CNTPCT_EL0.get()
}

#[no_mangle]
extern "C" fn image_main(device_tree: u64) -> ! {
    // SAFETY: on QEMU virt this is the non-secure PL011, the console.
    let mut console = unsafe { Pl011::new(CONSOLE_UART) };
    let level = CurrentEL.read(CurrentEL::EL);
    let _ =
        writeln!(console, "hypervisor: running at NS-EL{level}, device tree at {device_tree:#x}");
    let smccc = call(&[SMCCC_VERSION])[0];
    let _ = writeln!(console, "hypervisor: SMCCC version {}.{}", smccc >> 16, smccc & 0xFFFF);
    let version = call(&[FFA_VERSION, 0x1_0002])[0];
    let _ = writeln!(console, "hypervisor: FF-A version {}.{}", version >> 16, version & 0xFFFF);
    let id = call(&[FFA_ID_GET]);
    let _ = writeln!(console, "hypervisor: FFA_ID_GET -> {:#x} id {:#x}", id[0], id[2]);
    let reply = direct_request(41);
    let ok =
        reply[0] == FFA_MSG_SEND_DIRECT_RESP_32 && reply[3] == 42 && reply[1] == (PARTITION << 16);
    let _ = writeln!(
        console,
        "hypervisor: direct request to {PARTITION:#x} with 41 -> {:#x} w3={} ({})",
        reply[0],
        reply[3],
        if ok { "ok" } else { "WRONG" }
    );
    let frequency = CNTFRQ_EL0.get();
    let start = counter();
    let mut failures = 0u64;
    for value in 0..ROUND_TRIPS {
        let reply = direct_request(value);
        if reply[0] != FFA_MSG_SEND_DIRECT_RESP_32 || reply[3] != value + 1 {
            failures += 1;
        }
    }
    let ticks = counter().wrapping_sub(start);
    let _ = writeln!(
        console,
        "hypervisor: {ROUND_TRIPS} direct-request round trips: {failures} failed, {} counter ticks each (counter at {frequency} Hz)",
        ticks / ROUND_TRIPS
    );
    let _ = writeln!(console, "hypervisor: powering off through PSCI");
    console.flush();
    call(&[PSCI_SYSTEM_OFF]);
    let _ = writeln!(console, "hypervisor: PSCI SYSTEM_OFF returned");
    loop {
        core::hint::spin_loop();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    // SAFETY: the console PL011; interleaving with other output is harmless.
    let mut console = unsafe { Pl011::new(CONSOLE_UART) };
    let _ = writeln!(console, "hypervisor: PANIC: {info}");
    platform_common::semihosting::exit(101)
}
