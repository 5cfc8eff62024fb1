//! The GICv3 set-up only the secure side may do: interrupts for the normal world.
//!
//! With two security states (GICD_CTLR.DS = 0) the group of every interrupt, affinity routing
//! for the secure state and the redistributors' power (GICR_WAKER) are Secure-only controls;
//! the normal world's GIC driver (a Linux guest's, for one) can neither make an interrupt
//! Non-secure Group 1 nor wake its redistributor. So, as firmware does on Arm systems, the
//! monitor turns on affinity routing for both states, makes every SPI, PPI and SGI Non-secure
//! Group 1 (nothing in the secure world uses interrupts yet) and wakes every redistributor.
//! It enables no interrupt: whoever uses one enables it.

use platform_common::board::{GIC_DISTRIBUTOR, GIC_REDISTRIBUTOR};
use platform_common::mmio::Registers;

const GICD_CTLR: usize = 0x0;
const GICD_TYPER: usize = 0x4;
const GICD_IGROUPR: usize = 0x80;
const GICD_IGRPMODR: usize = 0xD00;
/// GICD_CTLR (secure view): ARE_S, ARE_NS, register write pending.
const CTLR_ARE_S: u32 = 1 << 4;
const CTLR_ARE_NS: u32 = 1 << 5;
const CTLR_RWP: u32 = 1 << 31;
/// A redistributor: RD_base frame then SGI_base frame, 64 KiB each.
const REDISTRIBUTOR_STRIDE: usize = 0x2_0000;
const SGI_FRAME: usize = 0x1_0000;
const GICR_TYPER: usize = 0x8;
const GICR_WAKER: usize = 0x14;
const TYPER_LAST: u32 = 1 << 4;
const WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
const WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;
/// Redistributors looked at, at most (QEMU virt has one per CPU).
const MAXIMUM_REDISTRIBUTORS: usize = 8;
/// Polls of a busy bit before giving up (the GIC answers within a few on QEMU).
const POLLS: u32 = 1_000_000;

fn wait_while(registers: &Registers, offset: usize, bit: u32) {
    for _ in 0..POLLS {
        if registers.read(offset) & bit == 0 {
            return;
        }
        core::hint::spin_loop();
    }
}

/// Makes every interrupt Non-secure Group 1 and wakes the redistributors (boot CPU, once).
pub fn give_interrupts_to_the_normal_world() {
    // SAFETY: the board's GICv3 distributor, reached with the MMU off; only the monitor's boot
    // CPU touches it, before any other image runs.
    let distributor = unsafe { Registers::new(GIC_DISTRIBUTOR) };
    distributor.write(GICD_CTLR, distributor.read(GICD_CTLR) | CTLR_ARE_S | CTLR_ARE_NS);
    wait_while(&distributor, GICD_CTLR, CTLR_RWP);
    // ITLinesNumber: 32 * (N + 1) interrupt IDs; word 0 (SGIs, PPIs) lives in the redistributors.
    let words = (distributor.read(GICD_TYPER) & 0x1F) as usize + 1;
    for word in 1..words {
        distributor.write(GICD_IGROUPR + 4 * word, u32::MAX);
        distributor.write(GICD_IGRPMODR + 4 * word, 0);
    }
    for index in 0..MAXIMUM_REDISTRIBUTORS {
        let base = GIC_REDISTRIBUTOR + index * REDISTRIBUTOR_STRIDE;
        // SAFETY: redistributor frames follow each other from the board's first one until the
        // one whose GICR_TYPER has Last set.
        let frame = unsafe { Registers::new(base) };
        // SAFETY: the same redistributor's SGI_base frame.
        let sgi = unsafe { Registers::new(base + SGI_FRAME) };
        frame.write(GICR_WAKER, frame.read(GICR_WAKER) & !WAKER_PROCESSOR_SLEEP);
        wait_while(&frame, GICR_WAKER, WAKER_CHILDREN_ASLEEP);
        sgi.write(GICD_IGROUPR, u32::MAX);
        sgi.write(GICD_IGRPMODR, 0);
        if frame.read(GICR_TYPER) & TYPER_LAST != 0 {
            break;
        }
    }
}
