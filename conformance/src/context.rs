//! What a check runs against: the conduit to the implementation and what is known about it.

use ffa_core::{Conduit, EndpointId, Version};
use ffa_guest_driver::{Driver, DriverError};

use crate::environment::{Lent, Link, SuiteBuffers, SuiteMemory};

/// The guest driver as checks use it: over the suite's conduit, with the runner's buffers.
pub(crate) type SuiteDriver<'a> = Driver<Link<'a>, Lent<'a>>;

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
    /// setup has one. Checks that command it ([`crate::server::Command`]) need it to run
    /// [`crate::server::serve`].
    pub partition: Option<EndpointId>,
    /// A second server partition, for checks with two borrowers.
    pub second_partition: Option<EndpointId>,
    /// The server the indirect-messaging checks talk to, when not [`Self::partition`] (e.g. a
    /// VM running the server, where a VM's messages cannot reach partitions).
    pub message_peer: Option<EndpointId>,
    /// RX/TX buffers the runner lends the suite (discovery, memory and indirect-messaging
    /// checks need them).
    pub buffers: Option<&'c mut dyn SuiteBuffers>,
    /// Memory the runner lets the suite share (memory-management checks need it).
    pub memory: Option<&'c mut dyn SuiteMemory>,
    own_id: Option<EndpointId>,
}

impl core::fmt::Debug for Context<'_> {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter
            .debug_struct("Context")
            .field("endpoint", &self.endpoint)
            .field("version", &self.version)
            .field("partition", &self.partition)
            .field("second_partition", &self.second_partition)
            .field("message_peer", &self.message_peer)
            .field("buffers", &self.buffers.is_some())
            .field("memory", &self.memory.is_some())
            .finish()
    }
}

/// Why [`Context::with_driver`] could not give a check a driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DriverSetup {
    /// The runner lent no RX/TX buffers.
    NoBuffers,
    /// The driver's bring-up failed.
    BringUp(DriverError),
    /// FFA_RXTX_MAP of the runner's buffers failed.
    Map(DriverError),
}

const FFA_SUCCESS_32: u32 = 0x8400_0061;
const FFA_SUCCESS_64: u32 = 0xC400_0061;
const FFA_FEATURES: u64 = 0x8400_0064;
const FFA_ID_GET: u64 = 0x8400_0069;

impl<'c> Context<'c> {
    /// A context for `endpoint`, asking for FF-A v1.2.
    pub fn new(conduit: &'c mut dyn Conduit, endpoint: Endpoint) -> Self {
        Self {
            conduit,
            endpoint,
            version: Version::V1_2,
            partition: None,
            second_partition: None,
            message_peer: None,
            buffers: None,
            memory: None,
            own_id: None,
        }
    }

    /// Lends the suite RX/TX buffers.
    pub fn with_buffers(mut self, buffers: &'c mut dyn SuiteBuffers) -> Self {
        self.buffers = Some(buffers);
        self
    }

    /// Lends the suite memory to share.
    pub fn with_memory(mut self, memory: &'c mut dyn SuiteMemory) -> Self {
        self.memory = Some(memory);
        self
    }

    /// Brings up a guest driver over the suite's conduit, maps the runner's buffers, runs
    /// `body` with it and the runner's memory, and unmaps the buffers again (whatever `body`
    /// returned). `Err` when there are no buffers, or bring-up or FFA_RXTX_MAP failed.
    pub(crate) fn with_driver<R>(
        &mut self,
        body: impl FnOnce(&mut SuiteDriver<'_>, Option<&mut dyn SuiteMemory>) -> R,
    ) -> Result<R, DriverSetup> {
        let buffers = self.buffers.as_deref_mut().ok_or(DriverSetup::NoBuffers)?;
        let mut driver = Driver::new(Link(&mut *self.conduit)).map_err(DriverSetup::BringUp)?;
        driver.map_buffers(Lent(buffers)).map_err(|failed| DriverSetup::Map(failed.error))?;
        let memory = self.memory.as_mut().map(|memory| &mut **memory as &mut dyn SuiteMemory);
        let result = body(&mut driver, memory);
        // Leave nothing mapped for the next check, even after a failure.
        let _ = driver.unmap_buffers();
        Ok(result)
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
