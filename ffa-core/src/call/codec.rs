//! Register reading and writing with the SMC32 truncation and the v1.2 x8-x17 rule.
//!
//! Both rules are two masks chosen once per call: one for x1-x7 (all ones for SMC64, the low
//! 32 bits for SMC32) and one for x8-x17 (all ones for SMC64 at v1.2+, else zero). A read or
//! write of a fixed register is then one load or store and one AND, with no branch.

use crate::{FunctionId, Version};

/// The (x1-x7, x8-x17) masks of a call.
#[inline]
fn masks(is_64: bool, version: Version) -> (u64, u64) {
    let low = if is_64 { u64::MAX } else { 0xFFFF_FFFF };
    let high = if is_64 && version >= Version::V1_2 { u64::MAX } else { 0 };
    (low, high)
}

/// Reads the argument registers of one call.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    registers: &'a [u64; 18],
    low_mask: u64,
    high_mask: u64,
    pub(crate) version: Version,
}

impl<'a> Reader<'a> {
    #[inline]
    pub(crate) fn new(registers: &'a [u64; 18], function: FunctionId, version: Version) -> Self {
        let (low_mask, high_mask) = masks(function.is_64bit(), version);
        Self { registers, low_mask, high_mask, version }
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
        core::array::from_fn(|offset| self.x(first + offset))
    }
}

/// Builds the registers of one call: `x0` the function ID, the arguments from `x1` up, and
/// every other register zero.
///
/// The registers come back as one array value, built where the caller's result lives: no
/// zeroed array is filled in and then copied out.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Writer {
    function: u64,
    low_mask: u64,
    high_mask: u64,
}

impl Writer {
    #[inline]
    pub(crate) fn new(function: FunctionId, version: Version) -> Self {
        let (low_mask, high_mask) = masks(function.is_64bit(), version);
        Self { function: function.to_register(), low_mask, high_mask }
    }

    /// The registers with `arguments` in `x1`, `x2`, ... (at most 17 are used), truncated for
    /// SMC32; x8-x17 stay zero unless the call is SMC64 at v1.2 or later.
    #[inline]
    pub(crate) fn registers<const N: usize>(&self, arguments: [u64; N]) -> [u64; 18] {
        let argument = |index: usize| {
            let mask = if index >= 8 { self.high_mask } else { self.low_mask };
            arguments.get(index - 1).map_or(0, |value| value & mask)
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
