//! Reporting an exception the monitor cannot handle: decoded syndrome, then a failing exit.

use core::fmt::Write;

use crate::context::GeneralRegisters;
use crate::world::World;

fn report(what: &str, world: Option<World>, syndrome: u64, link: u64) -> ! {
    let class = syndrome >> 26;
    let fault_address = platform_common::read_sysreg!("far_el3");
    let mut console = crate::console();
    let _ = writeln!(
        console,
        "el3-monitor: FATAL {what}{}: ESR_EL3={syndrome:#x} (EC {class:#04x}: {}), ELR_EL3={link:#x}, FAR_EL3={fault_address:#x}",
        match world {
            Some(World::Secure) => " from the secure world",
            Some(World::NonSecure) => " from the normal world",
            None => "",
        },
        platform_common::exception_class::exception_class_name(class),
    );
    defmt::error!(
        "el3-monitor: fatal exception, ESR_EL3={=u64:#x} ELR_EL3={=u64:#x} FAR_EL3={=u64:#x}",
        syndrome,
        link,
        fault_address
    );
    platform_common::semihosting::exit(3)
}

/// A synchronous exception from a lower EL that is not an SMC.
pub fn lower_exception(world: World, syndrome: u64, frame: &GeneralRegisters) -> ! {
    report("unexpected exception", Some(world), syndrome, frame.elr)
}

/// Any vector other than a lower EL's synchronous exception.
#[no_mangle]
extern "C" fn monitor_unexpected_exception(kind: u64) -> ! {
    let syndrome = platform_common::read_sysreg!("esr_el3");
    let link = platform_common::read_sysreg!("elr_el3");
    let what = match kind / 4 {
        0 => "exception at EL3 using SP_EL0",
        1 => "exception at EL3",
        2 => "interrupt or SError from a lower EL (AArch64)",
        _ => "exception from a lower EL in AArch32",
    };
    report(what, None, syndrome, link)
}
