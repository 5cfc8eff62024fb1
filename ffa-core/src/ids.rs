//! Endpoint and vCPU identifiers, and the `endpoint << 16 | vCPU` target-information word.

/// A 16-bit FF-A endpoint (partition) ID. Bit 15 set means the endpoint is in the secure world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EndpointId(pub u16);

impl EndpointId {
    /// The ID of the normal-world physical instance or the hypervisor (FFA_ID_GET returns 0).
    pub const HYPERVISOR: Self = Self(0);
    /// The ID TF-A's SPMD uses for itself in framework messages.
    pub const SPMD: Self = Self(0xFFFF);
    /// Bit 15: set for secure-world endpoints.
    pub const SECURE_BIT: u16 = 0x8000;

    /// Whether the ID belongs to the secure world (bit 15 set).
    pub const fn is_secure(self) -> bool {
        self.0 & Self::SECURE_BIT != 0
    }

    /// The raw 16-bit value.
    pub const fn value(self) -> u16 {
        self.0
    }
}

impl core::fmt::Display for EndpointId {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(formatter, "{:#06x}", self.0)
    }
}

/// A vCPU (execution context) index within an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VcpuId(pub u16);

/// The `[31:16]` endpoint / `[15:0]` vCPU word used in `w1` of FFA_RUN, FFA_INTERRUPT,
/// FFA_YIELD and FFA_SUCCESS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TargetInfo {
    /// The endpoint.
    pub endpoint: EndpointId,
    /// Its vCPU.
    pub vcpu: VcpuId,
}

impl TargetInfo {
    /// Packs into the 32-bit register form.
    pub const fn to_register(self) -> u64 {
        ((self.endpoint.0 as u64) << 16) | self.vcpu.0 as u64
    }

    /// Unpacks the low 32 bits of a register; the upper 32 bits must be zero.
    pub const fn from_register(value: u64) -> Option<Self> {
        if value >> 32 != 0 {
            return None;
        }
        Some(Self { endpoint: EndpointId((value >> 16) as u16), vcpu: VcpuId(value as u16) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_info_packs_endpoint_high_and_vcpu_low() {
        let info = TargetInfo { endpoint: EndpointId(0x8001), vcpu: VcpuId(3) };
        assert_eq!(info.to_register(), 0x8001_0003);
        assert_eq!(TargetInfo::from_register(0x8001_0003), Some(info));
        assert_eq!(TargetInfo::from_register(1 << 32), None);
    }

    #[test]
    fn secure_bit_marks_secure_endpoints() {
        assert!(EndpointId(0x8001).is_secure());
        assert!(!EndpointId(1).is_secure());
    }
}
