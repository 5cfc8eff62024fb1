//! The EL1/EL0 register state of one lower-EL context, saved and restored as a block.
//!
//! The EL3 monitor switches it between the secure and non-secure worlds; the SPMC switches it
//! between partitions (and moves it with a partition that migrates to another CPU).

use crate::system_register_set;

system_register_set! {
    /// EL1 and EL0 registers shared between S-EL1 and NS-EL1.
    pub struct El1Registers {
        sctlr: "sctlr_el1",
        actlr: "actlr_el1",
        cpacr: "cpacr_el1",
        tcr: "tcr_el1",
        ttbr0: "ttbr0_el1",
        ttbr1: "ttbr1_el1",
        mair: "mair_el1",
        amair: "amair_el1",
        vbar: "vbar_el1",
        elr: "elr_el1",
        spsr: "spsr_el1",
        esr: "esr_el1",
        far: "far_el1",
        par: "par_el1",
        afsr0: "afsr0_el1",
        afsr1: "afsr1_el1",
        contextidr: "contextidr_el1",
        tpidr_el1: "tpidr_el1",
        tpidr_el0: "tpidr_el0",
        tpidrro_el0: "tpidrro_el0",
        stack_pointer_el1: "sp_el1",
        stack_pointer_el0: "sp_el0",
        cntkctl: "cntkctl_el1",
        csselr: "csselr_el1",
        mdscr: "mdscr_el1",
        cntv_ctl: "cntv_ctl_el0",
        cntv_cval: "cntv_cval_el0",
        cntp_ctl: "cntp_ctl_el0",
        cntp_cval: "cntp_cval_el0",
    }
}
