//! A test guest VM at NS-EL1.
//!
//! VM 1 first runs the conformance suite (before any other FF-A call, so the version checks
//! see a fresh endpoint) and prints its result lines on the console, where `cargo xtask test`
//! reads them. Then every VM negotiates the FF-A version, asks its ID (the hypervisor answers
//! with this VM's ID), sends direct requests to partition 0x8001, tries to send one as another
//! VM (the hypervisor must refuse), runs the platform demo with ffa-guest-driver (`demo.rs`:
//! discovery, direct messages, MEM_SHARE, MEM_LEND, the hypervisor's policy), and powers "off"
//! with PSCI SYSTEM_OFF, which the hypervisor takes as this VM ending.
#![no_std]
#![no_main]

platform_common::simple_entry!();

mod demo;
mod suite_lending;

use core::fmt::Write;

use aarch64_cpu::registers::{CurrentEL, Readable};
use platform_common::pl011::Pl011;
use platform_common::smc::smc;

/// The console UART, passed through to every VM at the same address.
const CONSOLE_UART: usize = 0x0900_0000;
const FFA_ERROR: u64 = 0x8400_0060;
const FFA_SUCCESS_32: u64 = 0x8400_0061;
const FFA_VERSION: u64 = 0x8400_0063;
const FFA_ID_GET: u64 = 0x8400_0069;
const FFA_MSG_SEND_DIRECT_REQ_32: u64 = 0x8400_006F;
const FFA_MSG_SEND_DIRECT_RESP_32: u64 = 0x8400_0070;
const INVALID_PARAMETERS: u64 = 0xFFFF_FFFE;
const PSCI_SYSTEM_OFF: u64 = 0x8400_0008;
const PARTITION: u64 = 0x8001;
const SECOND_PARTITION: u16 = 0x8002;

pub(crate) fn call(registers: &[u64]) -> [u64; 18] {
    let mut all = [0u64; 18];
    for (slot, value) in all.iter_mut().zip(registers) {
        *slot = *value;
    }
    smc(all)
}

/// FF-A calls by SMC (trapped by the hypervisor).
#[derive(Debug)]
pub(crate) struct SmcConduit;

impl ffa_core::Conduit for SmcConduit {
    fn call(&mut self, registers: [u64; 18]) -> [u64; 18] {
        smc(registers)
    }
}

/// Runs the whole conformance suite as a VM, against partitions 0x8001 and 0x8002 as its
/// servers, with RX/TX buffers and a region of this VM's RAM lent to it.
fn run_conformance(console: &mut Pl011) {
    let mut conduit = SmcConduit;
    let mut buffers = suite_lending::SuiteBuffers::take();
    let mut memory = suite_lending::SuiteRam::new();
    if memory.is_none() {
        let _ = writeln!(console, "conformance: the image overlaps the suite's memory; none lent");
    }
    let mut context =
        conformance::Context::new(&mut conduit, conformance::Endpoint::VirtualMachine);
    if let Some(buffers) = buffers.as_mut() {
        context = context.with_buffers(buffers);
    }
    if let Some(memory) = memory.as_mut() {
        context = context.with_memory(memory);
    }
    context.partition = Some(ffa_core::EndpointId(PARTITION as u16));
    // 0x8002 is told to fault only after the VMs ran. No message peer: VM 2 runs after VM 1,
    // and the partitions' manifests do not declare indirect messaging.
    context.second_partition = Some(ffa_core::EndpointId(SECOND_PARTITION));
    let _ = writeln!(console, "conformance: begin");
    conformance::run(
        conformance::suites::ALL,
        conformance::Selection::default(),
        &mut context,
        console,
        None,
    );
    let _ = writeln!(console, "conformance: end");
}

#[no_mangle]
extern "C" fn image_main(first_vm: u64) -> ! {
    // SAFETY: the hypervisor maps the console PL011 into this VM at its usual address.
    let mut console = unsafe { Pl011::new(CONSOLE_UART) };
    if first_vm == 1 {
        run_conformance(&mut console);
    }
    let level = CurrentEL.read(CurrentEL::EL);
    let version = call(&[FFA_VERSION, 0x1_0002])[0];
    let id_reply = call(&[FFA_ID_GET]);
    let id = if id_reply[0] == FFA_SUCCESS_32 { id_reply[2] & 0xFFFF } else { 0 };
    let _ = writeln!(
        console,
        "test-vm {id}: running at NS-EL{level}, FF-A version {}.{}, ID {id:#x}",
        version >> 16,
        version & 0xFFFF
    );
    let mut answered = 0;
    for value in 0..100u64 {
        let reply = call(&[FFA_MSG_SEND_DIRECT_REQ_32, (id << 16) | PARTITION, 0, value]);
        if reply[0] == FFA_MSG_SEND_DIRECT_RESP_32
            && reply[3] == value + 1
            && reply[1] == (PARTITION << 16) | id
        {
            answered += 1;
        }
    }
    let impostor = if id == 1 { 2 } else { 1 };
    let spoofed = call(&[FFA_MSG_SEND_DIRECT_REQ_32, (impostor << 16) | PARTITION, 0, 5]);
    let refused = spoofed[0] == FFA_ERROR && spoofed[2] == INVALID_PARAMETERS;
    let _ = writeln!(
        console,
        "test-vm {id}: {answered} of 100 direct requests answered; sending as VM {impostor}: {}",
        if refused { "refused (INVALID_PARAMETERS)" } else { "NOT refused" }
    );
    demo::run(&mut console);
    call(&[PSCI_SYSTEM_OFF]);
    loop {
        core::hint::spin_loop();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    // SAFETY: the console PL011 (see `image_main`).
    let mut console = unsafe { Pl011::new(CONSOLE_UART) };
    let _ = writeln!(console, "test-vm: PANIC: {info}");
    loop {
        core::hint::spin_loop();
    }
}
