//! Register reading and writing with the SMC32 truncation and the v1.2 x8-x17 rule.
//!
//! Both rules are two masks chosen once per call: one for x1-x7 (all ones for SMC64, the low
//! 32 bits for SMC32) and one for x8-x17 (all ones for SMC64 at v1.2+, else zero). A read or
//! write of a fixed register is then one load or store and one AND, with no branch.

use crate::function_id::SMC64_BIT;
use crate::{FunctionId, Version};

/// The (x1-x7, x8-x17) masks of a call.
#[inline]
fn masks(is_64: bool, version: Version) -> (u64, u64) {
    let low = if is_64 { u64::MAX } else { 0xFFFF_FFFF };
    // Version words order as versions do (15-bit major above the minor), in one compare.
    let high = if is_64 && version.to_word() >= Version::V1_2.to_word() { u64::MAX } else { 0 };
    (low, high)
}

/// Reads the argument registers of one call.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    registers: &'a [u64; 18],
    is_64: bool,
    low_mask: u64,
    high_mask: u64,
    version: Version,
}

impl<'a> Reader<'a> {
    /// The reader for the call whose function ID `registers[0]` holds.
    #[inline]
    pub(crate) fn new(registers: &'a [u64; 18], version: Version) -> Self {
        // Bit 30 of w0, as `FunctionId::is_64bit` reads it from the decoded ID.
        let is_64 = registers[0] as u32 & SMC64_BIT != 0;
        let (low_mask, high_mask) = masks(is_64, version);
        Self { registers, is_64, low_mask, high_mask, version }
    }

    /// Whether the call is the SMC64 form.
    #[inline]
    pub(crate) fn is_64(&self) -> bool {
        self.is_64
    }

    /// Whether the peer's version is `minimum` or later.
    #[inline]
    pub(crate) fn version_at_least(&self, minimum: Version) -> bool {
        self.version.to_word() >= minimum.to_word()
    }

    /// `x[index]`; only the low 32 bits for SMC32, and 0 for x8-x17 unless the call is SMC64
    /// at v1.2 or later.
    #[inline]
    pub(crate) fn x(&self, index: usize) -> u64 {
        let mask = if index >= 8 { self.high_mask } else { self.low_mask };
        self.registers.get(index).map_or(0, |value| value & mask)
    }

    /// `w[index]`.
    #[inline]
    pub(crate) fn w(&self, index: usize) -> u32 {
        self.x(index) as u32
    }

    /// `x[first..first + N]`.
    #[inline]
    pub(crate) fn range<const N: usize>(&self, first: usize) -> [u64; N] {
        let mut values = [0u64; N];
        for (offset, value) in values.iter_mut().enumerate() {
            *value = self.x(first + offset);
        }
        values
    }
}

/// Builds the registers of one call: `x0` the function ID, the arguments from `x1` up, and
/// every other register zero.
///
/// The registers come back as one array value, built where the caller's result lives: no
/// zeroed array is filled in and then copied out.
///
/// On AArch64 the unused registers are written from `zero`, a zero the optimiser cannot see
/// through (`black_box`). Stores of a literal zero to ten or more neighbouring registers are
/// merged into a call to `memset` in the size-optimised firmware builds (about 30 instructions
/// for 96 bytes, where the stores themselves are 5 `stp`s): this keeps them stores. Elsewhere
/// (the x86-64 host, which zeroes with vector stores) `zero` is a plain 0: there the
/// `black_box` would only add its store and load.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Writer {
    function: u64,
    low_mask: u64,
    high_mask: u64,
    zero: u64,
}

impl Writer {
    #[inline]
    pub(crate) fn new(function: FunctionId, version: Version) -> Self {
        let (low_mask, high_mask) = masks(function.is_64bit(), version);
        let zero = if cfg!(target_arch = "aarch64") { core::hint::black_box(0) } else { 0 };
        Self { function: function.to_register(), low_mask, high_mask, zero }
    }

    /// The registers with `arguments` in `x1`, `x2`, ... (at most 17 are used), truncated for
    /// SMC32; x8-x17 stay zero unless the call is SMC64 at v1.2 or later.
    #[inline]
    pub(crate) fn registers<const N: usize>(&self, arguments: [u64; N]) -> [u64; 18] {
        let argument = |index: usize| {
            let mask = if index >= 8 { self.high_mask } else { self.low_mask };
            arguments.get(index - 1).map_or(self.zero, |value| value & mask)
        };
        [
            self.function,
            argument(1),
            argument(2),
            argument(3),
            argument(4),
            argument(5),
            argument(6),
            argument(7),
            argument(8),
            argument(9),
            argument(10),
            argument(11),
            argument(12),
            argument(13),
            argument(14),
            argument(15),
            argument(16),
            argument(17),
        ]
    }
}

/// The 64-bit handle from a (low, high) register pair of 32-bit values.
#[inline]
pub(crate) fn handle_from(low: u32, high: u32) -> u64 {
    u64::from(high) << 32 | u64::from(low)
}
