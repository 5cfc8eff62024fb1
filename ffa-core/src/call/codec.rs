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

/// Writes the registers of one call into a zeroed array; registers not set stay zero.
#[derive(Debug)]
pub(crate) struct Writer<'a> {
    registers: &'a mut [u64; 18],
    low_mask: u64,
    high_mask: u64,
}

impl<'a> Writer<'a> {
    /// Writes `function` to `x0`; `registers` must be all zero.
    #[inline]
    pub(crate) fn new(
        registers: &'a mut [u64; 18],
        function: FunctionId,
        version: Version,
    ) -> Self {
        registers[0] = function.to_register();
        let (low_mask, high_mask) = masks(function.is_64bit(), version);
        Self { registers, low_mask, high_mask }
    }

    /// Sets `x[index]` (1..=17), truncated for SMC32; x8-x17 stay zero unless the call is
    /// SMC64 at v1.2 or later.
    #[inline]
    pub(crate) fn set(&mut self, index: usize, value: u64) {
        let mask = if index >= 8 { self.high_mask } else { self.low_mask };
        if let Some(slot) = self.registers.get_mut(index) {
            *slot = value & mask;
        }
    }

    /// Sets `x[first..first + values.len()]`.
    #[inline]
    pub(crate) fn set_range(&mut self, first: usize, values: &[u64]) {
        for (offset, &value) in values.iter().enumerate() {
            self.set(first + offset, value);
        }
    }
}

/// The 64-bit handle from a (low, high) register pair of 32-bit values.
#[inline]
pub(crate) fn handle_from(low: u32, high: u32) -> u64 {
    u64::from(high) << 32 | u64::from(low)
}
