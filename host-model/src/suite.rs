//! What the model lends the conformance suite and its servers: pages of an endpoint's RAM as
//! the suite's memory to share ([`SuitePages`]), an endpoint's memory as a server's
//! ([`conformance::server::ServerMemory`]), and the server partition program
//! ([`conformance_server`]).

use conformance::server::{serve, ServerMemory};
use conformance::{AccessFault, SuiteMemory};
use ffa_guest_driver::Driver;

use crate::address::{IntermediateAddress, PAGE_SIZE};
use crate::baton::ModelConduit;
use crate::memory::{GuestMemory, MemoryError, ModelBuffers};

/// Pages of an endpoint's RAM the suite may share. Accesses go through the endpoint's stage 2,
/// and a refused one comes back as [`AccessFault`] (the model survives faults).
#[derive(Debug, Clone)]
pub struct SuitePages {
    memory: GuestMemory,
    base: IntermediateAddress,
    page_count: usize,
    read_only: Option<IntermediateAddress>,
}

impl SuitePages {
    /// `page_count` fresh pages of the endpoint's RAM.
    pub fn allocate(memory: &GuestMemory, page_count: usize) -> Result<Self, MemoryError> {
        let base = memory.allocate(page_count as u64, PAGE_SIZE)?;
        Ok(Self { memory: memory.clone(), base, page_count, read_only: None })
    }

    /// The same pages, and the page at `address`, which the memory maps say is read-only
    /// ([`crate::ModelBuilder::read_only_pages`]), for the suite's read-only checks.
    pub fn with_read_only_page(mut self, address: IntermediateAddress) -> Self {
        self.read_only = Some(address);
        self
    }
}

impl SuiteMemory for SuitePages {
    fn page_count(&self) -> usize {
        self.page_count
    }

    fn page_address(&self, index: usize) -> Option<u64> {
        (index < self.page_count).then(|| self.base.0 + index as u64 * PAGE_SIZE)
    }

    fn read(&mut self, address: u64, bytes: &mut [u8]) -> Result<(), AccessFault> {
        self.memory.read(IntermediateAddress(address), bytes).map_err(|_| AccessFault)
    }

    fn write(&mut self, address: u64, bytes: &[u8]) -> Result<(), AccessFault> {
        self.memory.write(IntermediateAddress(address), bytes).map_err(|_| AccessFault)
    }

    fn survives_faults(&self) -> bool {
        true
    }

    fn read_only_page(&self) -> Option<u64> {
        self.read_only.map(|address| address.0)
    }
}

/// An endpoint's memory as a server sees it: retrieved memory is at IPA = PA.
#[derive(Debug, Clone)]
pub struct ServerPages(pub GuestMemory);

impl ServerMemory for ServerPages {
    fn read(&mut self, address: u64, bytes: &mut [u8]) -> Result<(), AccessFault> {
        self.0.read(IntermediateAddress(address), bytes).map_err(|_| AccessFault)
    }

    fn write(&mut self, address: u64, bytes: &[u8]) -> Result<(), AccessFault> {
        self.0.write(IntermediateAddress(address), bytes).map_err(|_| AccessFault)
    }

    fn survives_faults(&self) -> bool {
        true
    }
}

/// A partition (or VM) program that runs the conformance suite's server: brings up a guest
/// driver, maps 4 KiB RX/TX buffers from its RAM and serves commands until stopped. It also
/// answers as the plain test service (w3 + 1), so it can stand in for
/// [`crate::partitions::test_service`].
pub fn conformance_server(conduit: ModelConduit, memory: GuestMemory) {
    let handle = conduit.clone();
    let mut driver = match Driver::<ModelConduit, ModelBuffers>::new(conduit) {
        Ok(driver) => driver,
        Err(error) => handle.fault(&format!("bring-up failed: {error:?}")),
    };
    let size = driver.features().buffers.minimum_size;
    let buffers = match memory.allocate_buffers(size) {
        Ok(buffers) => buffers,
        Err(error) => handle.fault(&format!("no RAM for buffers: {error}")),
    };
    if let Err(failed) = driver.map_buffers(buffers) {
        handle.fault(&format!("FFA_RXTX_MAP failed: {:?}", failed.error));
    }
    let error = serve(&mut driver, &mut ServerPages(memory));
    handle.fault(&format!("the server loop ended: {error:?}"));
}
