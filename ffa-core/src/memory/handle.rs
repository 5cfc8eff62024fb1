//! Memory region handles (reference §7.7): 64-bit, bit 63 names the allocator.

/// Who allocated a handle (bit 63).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HandleAllocator {
    /// Bit 63 clear: the SPMC.
    Spmc,
    /// Bit 63 set: the hypervisor.
    Hypervisor,
}

/// A memory region handle as returned by FFA_SUCCESS (w2 low half, w3 high half).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MemoryHandle(pub u64);

impl MemoryHandle {
    /// The value no allocator ever hands out.
    pub const INVALID: Self = Self(u64::MAX);
    /// Bit 63: set when the hypervisor allocated the handle.
    pub const ALLOCATOR_BIT: u64 = 1 << 63;

    /// A handle from an allocator-local index (bit 63 of `index` is replaced).
    pub const fn new(allocator: HandleAllocator, index: u64) -> Self {
        let index = index & !Self::ALLOCATOR_BIT;
        match allocator {
            HandleAllocator::Spmc => Self(index),
            HandleAllocator::Hypervisor => Self(index | Self::ALLOCATOR_BIT),
        }
    }

    /// Which allocator bit 63 names.
    pub const fn allocator(self) -> HandleAllocator {
        if self.0 & Self::ALLOCATOR_BIT != 0 {
            HandleAllocator::Hypervisor
        } else {
            HandleAllocator::Spmc
        }
    }

    /// Joins the low and high halves from two registers (only their low 32 bits count).
    pub const fn from_registers(low: u64, high: u64) -> Self {
        Self((low as u32 as u64) | (high as u32 as u64) << 32)
    }

    /// Splits into (low, high) register values, each zero-extended.
    pub const fn to_registers(self) -> (u64, u64) {
        (self.0 as u32 as u64, self.0 >> 32)
    }

    /// Whether this is not [`Self::INVALID`].
    pub const fn is_valid(self) -> bool {
        self.0 != Self::INVALID.0
    }
}
