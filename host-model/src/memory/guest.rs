//! Memory as an endpoint sees it: reads and writes through its own stage 2, a page allocator,
//! and RX/TX buffers for the guest driver (`ffa_guest_driver::Buffers`).

use ffa_core::EndpointId;
use ffa_guest_driver::Buffers;

use super::{lock, MemoryError, SharedMemory};
use crate::address::{IntermediateAddress, PAGE_SIZE};

/// One endpoint's access to its memory. Cheap to clone; every clone is the same endpoint.
#[derive(Debug, Clone)]
pub struct GuestMemory {
    system: SharedMemory,
    endpoint: EndpointId,
}

impl GuestMemory {
    /// The view of `endpoint`.
    pub fn new(system: SharedMemory, endpoint: EndpointId) -> Self {
        Self { system, endpoint }
    }

    /// The whole memory system, for inspection (e.g. which buffers each manager maps).
    pub fn system(&self) -> SharedMemory {
        self.system.clone()
    }

    /// Whose memory this is.
    pub fn endpoint(&self) -> EndpointId {
        self.endpoint
    }

    /// The endpoint's RAM: its first address and size in bytes.
    pub fn ram(&self) -> Result<(IntermediateAddress, u64), MemoryError> {
        let system = lock(&self.system);
        let space = system.space(self.endpoint)?;
        Ok((space.ram_base, space.ram_pages * PAGE_SIZE))
    }

    /// Reads `bytes.len()` bytes at `address` (a translation or permission fault is an error).
    pub fn read(&self, address: IntermediateAddress, bytes: &mut [u8]) -> Result<(), MemoryError> {
        lock(&self.system).read_as(self.endpoint, address, bytes)
    }

    /// Writes `bytes` at `address`.
    pub fn write(&self, address: IntermediateAddress, bytes: &[u8]) -> Result<(), MemoryError> {
        lock(&self.system).write_as(self.endpoint, address, bytes)
    }

    /// Fresh pages of the endpoint's RAM, aligned to `alignment` bytes (a power of two of at
    /// least 4 KiB).
    pub fn allocate(
        &self,
        page_count: u64,
        alignment: u64,
    ) -> Result<IntermediateAddress, MemoryError> {
        lock(&self.system).allocate(self.endpoint, page_count, alignment)
    }

    /// Allocates a TX and an RX buffer of `size` bytes each (a multiple of 4 KiB), aligned to
    /// their size, as the guest driver asks (`Features::buffers.minimum_size`).
    pub fn allocate_buffers(&self, size: usize) -> Result<ModelBuffers, MemoryError> {
        let size_bytes = size as u64;
        if size_bytes == 0 || size_bytes % PAGE_SIZE != 0 {
            return Err(MemoryError::Misaligned(size_bytes));
        }
        let alignment = size_bytes.next_power_of_two();
        let tx = self.allocate(size_bytes / PAGE_SIZE, alignment)?;
        let rx = self.allocate(size_bytes / PAGE_SIZE, alignment)?;
        Ok(self.buffers_at(tx, rx, size))
    }

    /// Buffers at the given addresses, unchecked: the partition manager decides whether it
    /// accepts them (for tests of refused mappings). Touching unmapped bytes faults the endpoint.
    pub fn buffers_at(
        &self,
        tx: IntermediateAddress,
        rx: IntermediateAddress,
        size: usize,
    ) -> ModelBuffers {
        ModelBuffers { memory: self.clone(), tx, rx, size }
    }
}

/// RX/TX buffers in an endpoint's simulated RAM, for `ffa_guest_driver::Driver`.
///
/// Each access copies the buffer out of simulated memory, runs the driver's closure on the copy
/// and (for TX) writes it back, so the bytes the driver sees are exactly the bytes the partition
/// managers read and write. An access the endpoint's stage 2 does not allow faults the endpoint,
/// as it would on hardware.
#[derive(Debug, Clone)]
pub struct ModelBuffers {
    memory: GuestMemory,
    tx: IntermediateAddress,
    rx: IntermediateAddress,
    size: usize,
}

impl ModelBuffers {
    fn load(&self, address: IntermediateAddress) -> Vec<u8> {
        let mut bytes = vec![0; self.size];
        if let Err(error) = self.memory.read(address, &mut bytes) {
            crate::baton::fault(&format!("RX/TX buffer access: {error}"));
        }
        bytes
    }
}

impl Buffers for ModelBuffers {
    fn tx_address(&self) -> u64 {
        self.tx.0
    }

    fn rx_address(&self) -> u64 {
        self.rx.0
    }

    fn size(&self) -> usize {
        self.size
    }

    fn with_tx<R>(&mut self, access: impl FnOnce(&mut [u8]) -> R) -> R {
        let mut bytes = self.load(self.tx);
        let result = access(&mut bytes);
        if let Err(error) = self.memory.write(self.tx, &bytes) {
            crate::baton::fault(&format!("TX buffer write: {error}"));
        }
        result
    }

    fn with_rx<R>(&mut self, access: impl FnOnce(&[u8]) -> R) -> R {
        let bytes = self.load(self.rx);
        access(&bytes)
    }
}
