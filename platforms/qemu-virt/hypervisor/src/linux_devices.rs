//! The devices two Linux guests cannot share, emulated per guest: the PL011 console, the GICv3
//! distributor and the RD_base frame of the guest's own redistributor.
//!
//! None of these is mapped in a Linux guest's stage-2, so each access is a stage-2 data abort
//! (EC 0x24) that arrives here with its syndrome (ISV set: Linux reaches device registers with
//! single loads and stores). The IPA is HPFAR_EL2's page plus FAR_EL2's offset.
//!
//! - **PL011**: the flag register always says both FIFOs are empty (0x90), so Linux's driver
//!   sends every character by polling and needs no interrupt; what the guest writes to the
//!   data register is collected into a line, printed whole as `[vm N] ...` under one console
//!   lock, so two guests' output never interleaves within a line. The identification
//!   registers answer a PL011's IDs; other registers keep what was written.
//! - **GIC distributor**: GICD_CTLR reads back what the guest last wrote (RWP clear);
//!   GICD_TYPER, GICD_IIDR, GICD_TYPER2 and GICD_PIDR2 read the real ones; everything else
//!   reads as zero and writes are ignored. The guests use only their CPUs' private interrupts
//!   (the timer), configured in their own redistributor; the hypervisor enables the real
//!   distributor once ([`enable_distributor`]).
//! - **Redistributor**: the guest sees one redistributor, its own CPU's, at the first frame's
//!   IPA. Its SGI_base frame is mapped; accesses to its RD_base frame are done on the real
//!   frame, except that GICR_TYPER reads with Last set, so Linux stops looking for more
//!   frames after it.

use core::fmt::Write;

use platform_common::board;
use platform_common::guest::GuestRegisters;
use platform_common::mmio::Registers;

/// Where a Linux guest sees its devices (the xtask's `linux/device_tree.rs` says the same).
pub const UART_IPA: u64 = 0x0900_0000;
const UART_SIZE: u64 = 0x1000;
pub const DISTRIBUTOR_IPA: u64 = 0x0800_0000;
const DISTRIBUTOR_SIZE: u64 = 0x1_0000;
pub const REDISTRIBUTOR_IPA: u64 = 0x080A_0000;
/// A redistributor: the RD_base frame, then the SGI_base frame, 64 KiB each.
pub const REDISTRIBUTOR_STRIDE: u64 = 0x2_0000;
pub const FRAME_SIZE: u64 = 0x1_0000;

const GICD_CTLR: u64 = 0x0;
const GICD_TYPER: u64 = 0x4;
const GICD_IIDR: u64 = 0x8;
const GICD_TYPER2: u64 = 0xC;
const GICD_PIDR2: u64 = 0xFFE8;
/// GICD_CTLR, Non-secure view: EnableGrp1 (bit 0), EnableGrp1A (bit 1), ARE_NS, RWP.
const CTLR_ENABLE_GROUP1: u32 = 0b11;
const CTLR_ARE_NS: u32 = 1 << 4;
const CTLR_RWP: u32 = 1 << 31;
const GICR_TYPER: u64 = 0x8;
const TYPER_LAST: u64 = 1 << 4;

const UART_DATA: u64 = 0x000;
const UART_FLAGS: u64 = 0x018;
/// FR: transmit FIFO empty (bit 7), receive FIFO empty (bit 4).
const FLAGS_BOTH_EMPTY: u64 = 0x90;
/// Registers below this offset keep what the guest writes.
const UART_KEPT: u64 = 0x80;
/// UARTPeriphID0-3 then UARTPCellID0-3 (0xFE0-0xFFC): an Arm PL011 r1p4.
const UART_IDENTIFICATION: [u8; 8] = [0x11, 0x10, 0x14, 0x00, 0x0D, 0xF0, 0x05, 0xB1];
/// Longest line printed at once; a longer one continues on the next line.
const LINE: usize = 256;

/// The console the guests' lines and the hypervisor's own lines about them share.
static CONSOLE: spin::Mutex<()> = spin::Mutex::new(());

/// Prints one whole line for VM `vm`: `[vm N] text`.
pub fn say(vm: u64, text: core::fmt::Arguments<'_>) {
    let _held = CONSOLE.lock();
    let mut console = crate::console();
    let _ = writeln!(console, "[vm {vm}] {text}");
    console.flush();
}

/// Prints a line that is about no guest in particular (under the same lock).
pub fn say_plain(text: core::fmt::Arguments<'_>) {
    let _held = CONSOLE.lock();
    let mut console = crate::console();
    let _ = writeln!(console, "{text}");
    console.flush();
}

/// Turns on the real distributor's Non-secure Group 1 with affinity routing (the monitor made
/// every interrupt Non-secure Group 1 and woke the redistributors). Once, before any guest.
pub fn enable_distributor() {
    // SAFETY: the board's GICv3 distributor, reached with the MMU off; no guest is mapped to it.
    let distributor = unsafe { Registers::new(board::GIC_DISTRIBUTOR) };
    let control = distributor.read(GICD_CTLR as usize);
    distributor.write(GICD_CTLR as usize, control | CTLR_ARE_NS | CTLR_ENABLE_GROUP1);
    for _ in 0..1_000_000 {
        if distributor.read(GICD_CTLR as usize) & CTLR_RWP == 0 {
            break;
        }
        core::hint::spin_loop();
    }
}

/// One trapped access, decoded from the syndrome (ISS of a data abort with ISV set).
#[derive(Debug, Clone, Copy)]
struct Access {
    ipa: u64,
    /// 1, 2, 4 or 8 bytes.
    size: u32,
    write: bool,
    /// The general register (31: XZR).
    register: usize,
}

impl Access {
    fn decode(syndrome: u64) -> Option<Self> {
        const VALID: u64 = 1 << 24;
        const WRITE: u64 = 1 << 6;
        if syndrome & VALID == 0 {
            return None;
        }
        // HPFAR_EL2.FIPA holds IPA[47:12] in bits [43:4]; FAR_EL2 the offset in the page.
        let page = (platform_common::read_sysreg!("hpfar_el2") & 0x0FFF_FFFF_FFF0) << 8;
        let ipa = page | (platform_common::read_sysreg!("far_el2") & 0xFFF);
        Some(Self {
            ipa,
            size: 1 << ((syndrome >> 22) & 0b11),
            write: syndrome & WRITE != 0,
            register: ((syndrome >> 16) & 0x1F) as usize,
        })
    }

    fn mask(&self) -> u64 {
        if self.size >= 8 {
            u64::MAX
        } else {
            (1u64 << (8 * self.size)) - 1
        }
    }
}

/// One guest's emulated devices.
#[derive(Debug)]
pub struct Devices {
    vm: u64,
    /// The physical RD_base frame of the guest's CPU.
    redistributor: u64,
    distributor_control: u32,
    uart: [u32; (UART_KEPT / 4) as usize],
    line: heapless::Vec<u8, LINE>,
}

impl Devices {
    /// The devices of VM `vm`, which runs on the CPU whose redistributor is the `cpu`-th.
    pub fn new(vm: u64, cpu: u64) -> Self {
        Self {
            vm,
            redistributor: board::GIC_REDISTRIBUTOR as u64 + cpu * REDISTRIBUTOR_STRIDE,
            distributor_control: 0,
            uart: [0; (UART_KEPT / 4) as usize],
            line: heapless::Vec::new(),
        }
    }

    /// The physical SGI_base frame of the guest's redistributor (mapped in its stage-2).
    pub fn redistributor_sgi_frame(&self) -> u64 {
        self.redistributor + FRAME_SIZE
    }

    /// Emulates the access a data abort with `syndrome` stands for; `true` if it was one of
    /// these devices' (the guest then resumes after the access).
    pub fn emulate(&mut self, registers: &mut GuestRegisters, syndrome: u64) -> bool {
        let Some(access) = Access::decode(syndrome) else { return false };
        let written = match access.register {
            31 => 0,
            register => registers.x.get(register).copied().unwrap_or(0) & access.mask(),
        };
        let ipa = access.ipa;
        let read = if (UART_IPA..UART_IPA + UART_SIZE).contains(&ipa) {
            self.uart(ipa - UART_IPA, access.write, written)
        } else if (DISTRIBUTOR_IPA..DISTRIBUTOR_IPA + DISTRIBUTOR_SIZE).contains(&ipa) {
            self.distributor(ipa - DISTRIBUTOR_IPA, access.write, written)
        } else if (REDISTRIBUTOR_IPA..REDISTRIBUTOR_IPA + FRAME_SIZE).contains(&ipa) {
            self.redistributor(ipa - REDISTRIBUTOR_IPA, access, written)
        } else {
            return false;
        };
        if !access.write {
            if let Some(register) = registers.x.get_mut(access.register) {
                *register = read & access.mask();
            }
        }
        registers.elr += 4;
        true
    }

    fn uart(&mut self, offset: u64, write: bool, value: u64) -> u64 {
        match (offset, write) {
            (UART_DATA, true) => {
                self.character(value as u8);
                0
            }
            (UART_DATA, false) => 0,
            (UART_FLAGS, false) => FLAGS_BOTH_EMPTY,
            (UART_FLAGS, true) => 0,
            (0xFE0..=0xFFC, false) => UART_IDENTIFICATION
                .get(((offset - 0xFE0) / 4) as usize)
                .map_or(0, |byte| u64::from(*byte)),
            (..UART_KEPT, true) => {
                if let Some(kept) = self.uart.get_mut((offset / 4) as usize) {
                    *kept = value as u32;
                }
                0
            }
            (..UART_KEPT, false) => {
                self.uart.get((offset / 4) as usize).map_or(0, |kept| u64::from(*kept))
            }
            _ => 0,
        }
    }

    fn character(&mut self, byte: u8) {
        match byte {
            b'\r' => {}
            b'\n' => self.end_line(),
            _ => {
                let printable =
                    if byte == b'\t' || (0x20..0x7F).contains(&byte) { byte } else { b'?' };
                if self.line.push(printable).is_err() {
                    self.end_line();
                    let _ = self.line.push(printable);
                }
            }
        }
    }

    fn end_line(&mut self) {
        let text = core::str::from_utf8(&self.line).unwrap_or("?");
        say(self.vm, format_args!("{text}"));
        self.line.clear();
    }

    /// Prints what the guest wrote after its last newline, if anything.
    pub fn flush_console(&mut self) {
        if !self.line.is_empty() {
            self.end_line();
        }
    }

    fn distributor(&mut self, offset: u64, write: bool, value: u64) -> u64 {
        // SAFETY: the board's distributor, read-only identification registers.
        let real = unsafe { Registers::new(board::GIC_DISTRIBUTOR) };
        match (offset, write) {
            (GICD_CTLR, true) => {
                self.distributor_control = value as u32 & !CTLR_RWP;
                0
            }
            (GICD_CTLR, false) => u64::from(self.distributor_control),
            (GICD_TYPER | GICD_IIDR | GICD_TYPER2 | GICD_PIDR2, false) => {
                u64::from(real.read(offset as usize))
            }
            _ => 0,
        }
    }

    fn redistributor(&mut self, offset: u64, access: Access, value: u64) -> u64 {
        let address = self.redistributor + offset;
        // SAFETY: the RD_base frame of the redistributor of the CPU this guest runs on (no
        // other guest uses it), reached with the MMU off, with the size the guest used.
        unsafe {
            match (access.size, access.write) {
                (8, true) => core::ptr::write_volatile(address as *mut u64, value),
                (4, true) => core::ptr::write_volatile(address as *mut u32, value as u32),
                (_, true) => {}
                (8, false) => {
                    let read = core::ptr::read_volatile(address as *const u64);
                    return if offset == GICR_TYPER { read | TYPER_LAST } else { read };
                }
                (4, false) => {
                    let read = u64::from(core::ptr::read_volatile(address as *const u32));
                    return if offset == GICR_TYPER { read | TYPER_LAST } else { read };
                }
                (_, false) => {}
            }
        }
        0
    }
}
