//! RX/TX mailboxes: FFA_RXTX_MAP, FFA_RXTX_UNMAP, FFA_RX_RELEASE and RX ownership, over a
//! platform trait that checks and maps endpoint memory.

use ffa_core::call::Return;
use ffa_core::rxtx::{RxtxMapArgs, PAGE_SIZE};
use ffa_core::{EndpointId, FfaError, SuccessArgs};

use super::{Caller, MemoryPlatform, PartitionManager, Role};

/// The platform's access to endpoint memory for mailboxes.
///
/// Addresses are in the endpoint's own address space (IPA for a partition behind stage 2);
/// only the platform can translate them and tell which endpoint owns which memory.
pub trait EndpointMemory {
    /// A mapped buffer.
    type Buffer: Copy + PartialEq + core::fmt::Debug;

    /// Checks that `endpoint` may use `page_count` 4 KiB pages at `address` as a mailbox
    /// buffer and maps them for the manager. Errors: DENIED for memory the endpoint cannot
    /// offer (secure memory from the normal world, outside the manager's ranges: matrix D20),
    /// INVALID_PARAMETERS when the pages already are another endpoint's buffer (D19),
    /// NO_MEMORY when mapping fails.
    fn map_buffer(
        &mut self,
        endpoint: EndpointId,
        address: u64,
        page_count: u32,
    ) -> Result<Self::Buffer, FfaError>;

    /// Unmaps a buffer [`Self::map_buffer`] returned.
    fn unmap_buffer(&mut self, buffer: Self::Buffer);

    /// Writes `bytes` at `offset` in a mapped buffer; out of range is INVALID_PARAMETERS.
    fn write(&mut self, buffer: Self::Buffer, offset: usize, bytes: &[u8]) -> Result<(), FfaError>;

    /// Reads `bytes.len()` bytes at `offset` of a mapped buffer; out of range is
    /// INVALID_PARAMETERS.
    fn read(
        &mut self,
        buffer: Self::Buffer,
        offset: usize,
        bytes: &mut [u8],
    ) -> Result<(), FfaError>;
}

/// One endpoint's mapped RX/TX pair.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mailbox<B> {
    pub(crate) owner: EndpointId,
    pub(crate) transmit: B,
    pub(crate) receive: B,
    pub(crate) page_count: u32,
    /// The endpoint owns the RX buffer (the manager wrote to it); FFA_RX_RELEASE gives it back.
    pub(crate) receive_held: bool,
}

/// Every mapped mailbox and the platform memory, behind the mailbox lock.
#[derive(Debug)]
pub(crate) struct Mailboxes<M: EndpointMemory, const ENDPOINTS: usize> {
    pub(crate) memory: M,
    /// Local endpoints' mailboxes.
    local: heapless::Vec<Mailbox<M::Buffer>, ENDPOINTS>,
    /// The other world's mailboxes (SPMC: the normal-world OS or hypervisor, per VM).
    remote: heapless::Vec<Mailbox<M::Buffer>, ENDPOINTS>,
}

impl<M: EndpointMemory, const ENDPOINTS: usize> Mailboxes<M, ENDPOINTS> {
    pub(crate) fn new(memory: M) -> Self {
        Self { memory, local: heapless::Vec::new(), remote: heapless::Vec::new() }
    }

    pub(crate) fn find(&self, owner: EndpointId) -> Option<&Mailbox<M::Buffer>> {
        self.local.iter().chain(self.remote.iter()).find(|mailbox| mailbox.owner == owner)
    }

    pub(crate) fn find_mut(&mut self, owner: EndpointId) -> Option<&mut Mailbox<M::Buffer>> {
        self.local.iter_mut().chain(self.remote.iter_mut()).find(|mailbox| mailbox.owner == owner)
    }

    /// FFA_MSG_WAIT without "retain": the manager takes the RX buffer back.
    pub(crate) fn give_rx_back(&mut self, owner: EndpointId) {
        if let Some(mailbox) = self.find_mut(owner) {
            mailbox.receive_held = false;
        }
    }

    pub(crate) fn remove(&mut self, owner: EndpointId) -> Option<Mailbox<M::Buffer>> {
        if let Some(index) = self.local.iter().position(|mailbox| mailbox.owner == owner) {
            return Some(self.local.swap_remove(index));
        }
        let index = self.remote.iter().position(|mailbox| mailbox.owner == owner)?;
        Some(self.remote.swap_remove(index))
    }
}

/// Whether `[first, first + pages)` and `[second, second + pages)` (4 KiB pages) overlap;
/// an end past the address space counts as overlapping.
fn overlaps(first: u64, second: u64, page_count: u32) -> bool {
    let Some(length) = u64::from(page_count).checked_mul(PAGE_SIZE) else { return true };
    let (Some(first_end), Some(second_end)) =
        (first.checked_add(length), second.checked_add(length))
    else {
        return true;
    };
    first < second_end && second < first_end
}

impl<
        M: EndpointMemory,
        const ENDPOINTS: usize,
        const VCPUS: usize,
        const CPUS: usize,
        S: MemoryPlatform,
    > PartitionManager<M, ENDPOINTS, VCPUS, CPUS, S>
{
    /// The endpoint whose mailbox a call concerns: the caller itself, or (SPMC role, from the
    /// normal world's hypervisor) the VM named in the call, which must be known.
    fn mailbox_owner(&self, caller: &Caller, vm_id: EndpointId) -> Result<EndpointId, FfaError> {
        if vm_id.0 == 0 {
            return Ok(caller.context.endpoint);
        }
        if caller.local || self.settings.role != Role::Spmc {
            return Err(FfaError::InvalidParameters);
        }
        let known = self.remote.lock().iter().any(|remote| remote.id == vm_id);
        if known {
            Ok(vm_id)
        } else {
            Err(FfaError::InvalidParameters)
        }
    }

    /// FFA_RXTX_MAP (matrix D15-D20).
    pub(super) fn rxtx_map(&self, caller: &Caller, buffers: RxtxMapArgs) -> Return {
        let RxtxMapArgs::Buffers { tx_address, rx_address, page_count } = buffers else {
            // All-zero registers: a local endpoint gave a zero page count (D16); the
            // hypervisor's forwarded form is not supported yet.
            let error =
                if caller.local { FfaError::InvalidParameters } else { FfaError::NotSupported };
            return Return::error(error);
        };
        let maximum = u32::from(self.settings.maximum_mailbox_pages);
        if (maximum != 0 && page_count > maximum) || overlaps(tx_address, rx_address, page_count) {
            return Return::error(FfaError::InvalidParameters);
        }
        let owner = caller.context.endpoint;
        let mut mailboxes = self.mailboxes.lock();
        if mailboxes.find(owner).is_some() {
            return Return::error(FfaError::Denied);
        }
        let full =
            if caller.local { mailboxes.local.is_full() } else { mailboxes.remote.is_full() };
        if full {
            return Return::error(FfaError::NoMemory);
        }
        let transmit = match mailboxes.memory.map_buffer(owner, tx_address, page_count) {
            Ok(buffer) => buffer,
            Err(error) => return Return::error(error),
        };
        let receive = match mailboxes.memory.map_buffer(owner, rx_address, page_count) {
            Ok(buffer) => buffer,
            Err(error) => {
                mailboxes.memory.unmap_buffer(transmit);
                return Return::error(error);
            }
        };
        let marked =
            self.memory_mark_mailbox(owner, caller.local, [tx_address, rx_address], page_count);
        if let Err(error) = marked {
            mailboxes.memory.unmap_buffer(transmit);
            mailboxes.memory.unmap_buffer(receive);
            return Return::error(error);
        }
        let mailbox = Mailbox { owner, transmit, receive, page_count, receive_held: false };
        let pushed = if caller.local {
            mailboxes.local.push(mailbox)
        } else {
            mailboxes.remote.push(mailbox)
        };
        if pushed.is_err() {
            self.memory_unmark_mailbox(owner);
            mailboxes.memory.unmap_buffer(transmit);
            mailboxes.memory.unmap_buffer(receive);
            return Return::error(FfaError::NoMemory);
        }
        Return::success(SuccessArgs::EMPTY)
    }

    /// FFA_RXTX_UNMAP (matrix D18, D22): nothing mapped is INVALID_PARAMETERS.
    pub(super) fn rxtx_unmap(&self, caller: &Caller, vm_id: EndpointId) -> Return {
        let owner = match self.mailbox_owner(caller, vm_id) {
            Ok(owner) => owner,
            Err(error) => return Return::error(error),
        };
        let mut mailboxes = self.mailboxes.lock();
        let Some(mailbox) = mailboxes.remove(owner) else {
            return Return::error(FfaError::InvalidParameters);
        };
        mailboxes.memory.unmap_buffer(mailbox.transmit);
        mailboxes.memory.unmap_buffer(mailbox.receive);
        self.memory_unmark_mailbox(owner);
        Return::success(SuccessArgs::EMPTY)
    }

    /// FFA_RX_RELEASE (matrix D14): DENIED unless the endpoint owns its RX buffer.
    pub(super) fn rx_release(&self, caller: &Caller, vm_id: EndpointId) -> Return {
        let owner = match self.mailbox_owner(caller, vm_id) {
            Ok(owner) => owner,
            Err(error) => return Return::error(error),
        };
        let mut mailboxes = self.mailboxes.lock();
        match mailboxes.find_mut(owner) {
            Some(mailbox) if mailbox.receive_held => {
                mailbox.receive_held = false;
                Return::success(SuccessArgs::EMPTY)
            }
            _ => Return::error(FfaError::Denied),
        }
    }
}
