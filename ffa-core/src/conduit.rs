//! How FF-A calls reach the next exception level: the `Conduit` trait and SMC/HVC conduits.

/// Makes one FF-A call: registers `x0`-`x17` in, `x0`-`x17` out.
///
/// Code that calls into FF-A is generic over `Conduit`, so host tests substitute a fake that
/// answers from a table or a model partition manager, and firmware picks [`Smc`] or [`Hvc`].
pub trait Conduit {
    /// Issues the call and returns the result registers.
    fn call(&mut self, registers: [u64; 18]) -> [u64; 18];
}

/// Splits registers into the function ID and the 17 argument registers `smccc` expects.
#[cfg(target_arch = "aarch64")]
fn split(registers: [u64; 18]) -> (u32, [u64; 17]) {
    let [function, arguments @ ..] = registers;
    (function as u32, arguments)
}

/// The SMC conduit (a caller at EL1/EL2 reaching EL3 or the SPMC through EL3).
#[cfg(target_arch = "aarch64")]
#[derive(Debug, Clone, Copy, Default)]
pub struct Smc;

#[cfg(target_arch = "aarch64")]
impl Conduit for Smc {
    fn call(&mut self, registers: [u64; 18]) -> [u64; 18] {
        let (function, arguments) = split(registers);
        smccc::smc64(function, arguments)
    }
}

/// The HVC conduit (a guest reaching its hypervisor).
#[cfg(target_arch = "aarch64")]
#[derive(Debug, Clone, Copy, Default)]
pub struct Hvc;

#[cfg(target_arch = "aarch64")]
impl Conduit for Hvc {
    fn call(&mut self, registers: [u64; 18]) -> [u64; 18] {
        let (function, arguments) = split(registers);
        smccc::hvc64(function, arguments)
    }
}
