//! What a check runs against: the conduit to the implementation and what is known about it.

use ffa_core::{Conduit, EndpointId, Version};

/// Where the suite runs, which decides the answers some calls must give (reference §2's
/// caller column, matrix D10/D12/N07).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// A normal-world OS or hypervisor talking to the SPMC directly (ID 0).
    NormalWorld,
    /// A guest VM behind a hypervisor.
    VirtualMachine,
    /// A secure partition.
    SecurePartition,
}

/// The suite's view of the implementation under test.
pub struct Context<'c> {
    conduit: &'c mut dyn Conduit,
    /// Where the suite runs.
    pub endpoint: Endpoint,
    /// The version the suite asks for (and, after the version checks, the one agreed).
    pub version: Version,
    /// A partition that accepts direct requests and answers them (the suite's server), if the
    /// setup has one.
    pub partition: Option<EndpointId>,
    own_id: Option<EndpointId>,
}

impl core::fmt::Debug for Context<'_> {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter
            .debug_struct("Context")
            .field("endpoint", &self.endpoint)
            .field("version", &self.version)
            .field("partition", &self.partition)
            .finish()
    }
}

const FFA_SUCCESS_32: u32 = 0x8400_0061;
const FFA_SUCCESS_64: u32 = 0xC400_0061;
const FFA_FEATURES: u64 = 0x8400_0064;
const FFA_ID_GET: u64 = 0x8400_0069;

impl<'c> Context<'c> {
    /// A context for `endpoint`, asking for FF-A v1.2.
    pub fn new(conduit: &'c mut dyn Conduit, endpoint: Endpoint) -> Self {
        Self { conduit, endpoint, version: Version::V1_2, partition: None, own_id: None }
    }

    /// Issues a call with the given leading registers (the rest zero).
    pub fn call(&mut self, leading: &[u64]) -> [u64; 18] {
        let mut registers = [0u64; 18];
        for (slot, value) in registers.iter_mut().zip(leading) {
            *slot = *value;
        }
        self.conduit.call(registers)
    }

    /// Whether FFA_FEATURES says `function` (or a feature ID) is offered.
    pub fn offers(&mut self, function: u64) -> bool {
        let answer = self.call(&[FFA_FEATURES, function]);
        matches!(answer[0] as u32, FFA_SUCCESS_32 | FFA_SUCCESS_64)
    }

    /// The caller's own ID (FFA_ID_GET, asked once).
    pub fn own_id(&mut self) -> Option<EndpointId> {
        if self.own_id.is_none() {
            let answer = self.call(&[FFA_ID_GET]);
            if answer[0] as u32 == FFA_SUCCESS_32 {
                self.own_id = Some(EndpointId(answer[2] as u16));
            }
        }
        self.own_id
    }
}
