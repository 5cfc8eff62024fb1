//! Register reading and writing with the SMC32 truncation and the v1.2 x8-x17 rule.

use crate::{FunctionId, Version};

/// Reads the argument registers of one call.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    registers: &'a [u64; 18],
    wide: bool,
    extended: bool,
    pub(crate) version: Version,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(registers: &'a [u64; 18], function: FunctionId, version: Version) -> Self {
        let wide = function.is_64bit();
        Self { registers, wide, extended: wide && version >= Version::V1_2, version }
    }

    /// `x[index]`; only the low 32 bits for SMC32, and 0 for x8-x17 unless the call is SMC64
    /// at v1.2 or later.
    pub(crate) fn x(&self, index: usize) -> u64 {
        if index >= 8 && !self.extended {
            return 0;
        }
        let value = self.registers.get(index).copied().unwrap_or(0);
        if self.wide {
            value
        } else {
            value & 0xFFFF_FFFF
        }
    }

    /// `w[index]`.
    pub(crate) fn w(&self, index: usize) -> u32 {
        self.x(index) as u32
    }

    /// `x[first..first + N]`.
    pub(crate) fn range<const N: usize>(&self, first: usize) -> [u64; N] {
        let mut values = [0u64; N];
        for (offset, value) in values.iter_mut().enumerate() {
            *value = self.x(first + offset);
        }
        values
    }
}

/// Builds the registers of one call; everything not set stays zero.
#[derive(Debug)]
pub(crate) struct Writer {
    registers: [u64; 18],
    wide: bool,
    extended: bool,
}

impl Writer {
    pub(crate) fn new(function: FunctionId, version: Version) -> Self {
        let wide = function.is_64bit();
        let mut registers = [0u64; 18];
        registers[0] = function.to_register();
        Self { registers, wide, extended: wide && version >= Version::V1_2 }
    }

    pub(crate) fn set(&mut self, index: usize, value: u64) {
        if index >= 8 && !self.extended {
            return;
        }
        let value = if self.wide { value } else { value & 0xFFFF_FFFF };
        if let Some(slot) = self.registers.get_mut(index) {
            *slot = value;
        }
    }

    pub(crate) fn set_range(&mut self, first: usize, values: &[u64]) {
        for (offset, &value) in values.iter().enumerate() {
            self.set(first + offset, value);
        }
    }

    pub(crate) fn finish(self) -> [u64; 18] {
        self.registers
    }
}

/// The 64-bit handle from a (low, high) register pair of 32-bit values.
pub(crate) fn handle_from(low: u32, high: u32) -> u64 {
    u64::from(high) << 32 | u64::from(low)
}
