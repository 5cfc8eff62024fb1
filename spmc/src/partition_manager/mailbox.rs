//! RX/TX mailboxes: FFA_RXTX_MAP, FFA_RXTX_UNMAP, FFA_RX_RELEASE and RX ownership, over a
//! platform trait that checks and maps endpoint memory.

use ffa_core::call::Return;
use ffa_core::rxtx::{EndpointRxTxDescriptor, RxtxMapArgs, PAGE_SIZE};
use ffa_core::{EndpointId, FfaError, SuccessArgs};

use super::{Caller, MemoryPlatform, PartitionManager, Role};

/// The platform's access to endpoint memory for mailboxes.
///
/// Addresses are in the endpoint's own address space (IPA for a partition behind stage 2);
/// only the platform can translate them and tell which endpoint owns which memory.
pub trait EndpointMemory {
    /// A mapped buffer.
    type Buffer: Copy + PartialEq + core::fmt::Debug;

    /// Whether the platform may run the core in the forwarder role. A platform that never does
    /// (an SPMC image) sets it to `false`: the forwarder's code then drops out of its image
    /// (every forwarder check is a constant), and configuring the forwarder role fails with
    /// [`super::ConfigError::RoleNotBuilt`].
    const FORWARDER_ROLE: bool = true;

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
    /// The buffers' addresses in the owner's address space.
    pub(crate) transmit_address: u64,
    pub(crate) receive_address: u64,
    pub(crate) page_count: u32,
    /// The endpoint owns the RX buffer (the manager wrote to it); FFA_RX_RELEASE gives it back.
    pub(crate) receive_held: bool,
    /// SPMC role: the hypervisor took the VM's RX buffer with FFA_RX_ACQUIRE (so the SPMC does
    /// not write to it: `receive_held` is set too) until it forwards FFA_RX_RELEASE.
    /// Forwarder: the forwarder holds the VM's registered RX buffer from the SPMC (it asked
    /// with FFA_RX_ACQUIRE) until the VM's FFA_RX_RELEASE.
    pub(crate) acquired: bool,
    /// Forwarder: the buffers are registered with the SPMC too (when the VM mapped them, or
    /// with [`PartitionManager::register_vm_mailbox`]).
    pub(crate) registered: bool,
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
    pub(crate) const fn new(memory: M) -> Self {
        Self { memory, local: heapless::Vec::new(), remote: heapless::Vec::new() }
    }

    /// Forgets every mapped mailbox (a manager configured again starts with none).
    pub(crate) fn forget_all(&mut self) {
        self.local.clear();
        self.remote.clear();
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
        if caller.local || self.effective_role() != Role::Spmc {
            return Err(FfaError::InvalidParameters);
        }
        let known = self.remote.lock().iter().any(|remote| remote.id == vm_id);
        if known {
            Ok(vm_id)
        } else {
            Err(FfaError::InvalidParameters)
        }
    }

    /// FFA_RXTX_MAP (matrix D15-D20), and in the SPMC role the hypervisor's forwarded form
    /// for a VM.
    pub(super) fn rxtx_map(&self, caller: &Caller, buffers: RxtxMapArgs) -> Return {
        let RxtxMapArgs::Buffers { tx_address, rx_address, page_count } = buffers else {
            // All-zero registers: a local endpoint gave a zero page count (D16).
            if caller.local {
                return Return::error(FfaError::InvalidParameters);
            }
            return match self.forwarded_rxtx_map(caller) {
                Ok(()) => Return::success(SuccessArgs::EMPTY),
                Err(error) => Return::error(error),
            };
        };
        match self.map_pair(
            caller.context.endpoint,
            caller.local,
            tx_address,
            rx_address,
            page_count,
        ) {
            Ok(()) => Return::success(SuccessArgs::EMPTY),
            Err(error) => Return::error(error),
        }
    }

    /// SPMC role: the hypervisor maps a VM's buffers with an endpoint RX/TX descriptor at the
    /// start of its own TX buffer (reference §6.1). The descriptor is copied out once before
    /// it is checked. Errors: forwarder NOT_SUPPORTED; the hypervisor has no TX buffer here:
    /// DENIED; a malformed descriptor, a VM that is not a known normal-world endpoint, or RX
    /// and TX of different sizes: INVALID_PARAMETERS; then as FFA_RXTX_MAP.
    fn forwarded_rxtx_map(&self, caller: &Caller) -> Result<(), FfaError> {
        if self.effective_role() != Role::Spmc {
            return Err(FfaError::NotSupported);
        }
        let descriptor = {
            let mut mailboxes = self.mailboxes.lock();
            let mailbox =
                mailboxes.find(caller.context.endpoint).copied().ok_or(FfaError::Denied)?;
            let mut page = self.message_page.lock();
            let length =
                core::cmp::min(page.0.len(), super::memory::buffer_size(mailbox.page_count));
            let bytes = page.0.get_mut(..length).ok_or(FfaError::InvalidParameters)?;
            mailboxes.memory.read(mailbox.transmit, 0, bytes)?;
            EndpointRxTxDescriptor::parse(bytes)?
        };
        let vm = descriptor.endpoint;
        let known =
            vm.0 != 0 && !vm.is_secure() && self.remote.lock().iter().any(|remote| remote.id == vm);
        if !known || descriptor.rx.page_count != descriptor.tx.page_count {
            return Err(FfaError::InvalidParameters);
        }
        let (tx_address, rx_address) = (descriptor.tx.address, descriptor.rx.address);
        if tx_address == rx_address {
            return Err(FfaError::InvalidParameters);
        }
        self.map_pair(vm, false, tx_address, rx_address, descriptor.rx.page_count)
    }

    /// Maps `owner`'s RX/TX pair and marks its pages.
    fn map_pair(
        &self,
        owner: EndpointId,
        local: bool,
        tx_address: u64,
        rx_address: u64,
        page_count: u32,
    ) -> Result<(), FfaError> {
        let maximum = u32::from(self.settings.maximum_mailbox_pages);
        if (maximum != 0 && page_count > maximum) || overlaps(tx_address, rx_address, page_count) {
            return Err(FfaError::InvalidParameters);
        }
        let mut mailboxes = self.mailboxes.lock();
        if mailboxes.find(owner).is_some() {
            return Err(FfaError::Denied);
        }
        let full = if local { mailboxes.local.is_full() } else { mailboxes.remote.is_full() };
        if full {
            return Err(FfaError::NoMemory);
        }
        let transmit = mailboxes.memory.map_buffer(owner, tx_address, page_count)?;
        let receive = match mailboxes.memory.map_buffer(owner, rx_address, page_count) {
            Ok(buffer) => buffer,
            Err(error) => {
                mailboxes.memory.unmap_buffer(transmit);
                return Err(error);
            }
        };
        let marked = self.memory_mark_mailbox(owner, local, [tx_address, rx_address], page_count);
        if let Err(error) = marked {
            mailboxes.memory.unmap_buffer(transmit);
            mailboxes.memory.unmap_buffer(receive);
            return Err(error);
        }
        let mailbox = Mailbox {
            owner,
            transmit,
            receive,
            transmit_address: tx_address,
            receive_address: rx_address,
            page_count,
            receive_held: false,
            acquired: false,
            registered: false,
        };
        let pushed =
            if local { mailboxes.local.push(mailbox) } else { mailboxes.remote.push(mailbox) };
        if pushed.is_err() {
            self.memory_unmark_mailbox(owner);
            mailboxes.memory.unmap_buffer(transmit);
            mailboxes.memory.unmap_buffer(receive);
            return Err(FfaError::NoMemory);
        }
        Ok(())
    }

    /// FFA_RXTX_UNMAP (matrix D18, D22): nothing mapped is INVALID_PARAMETERS.
    pub(super) fn rxtx_unmap(&self, caller: &Caller, vm_id: EndpointId) -> Return {
        let owner = match self.mailbox_owner(caller, vm_id) {
            Ok(owner) => owner,
            Err(error) => return Return::error(error),
        };
        self.unmap_mailbox(owner)
    }

    /// Unmaps `owner`'s RX/TX pair and clears its marks; nothing mapped is
    /// INVALID_PARAMETERS.
    pub(super) fn unmap_mailbox(&self, owner: EndpointId) -> Return {
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
                mailbox.acquired = false;
                Return::success(SuccessArgs::EMPTY)
            }
            _ => Return::error(FfaError::Denied),
        }
    }

    /// FFA_RX_ACQUIRE (v1.1, SPMC role, from the hypervisor): the hypervisor takes a VM's RX
    /// buffer from the SPMC before writing into it; the SPMC writes nothing there (its writes
    /// get BUSY, as for a buffer the VM owns) until the hypervisor forwards FFA_RX_RELEASE for
    /// the VM. Errors: from an endpoint or in the forwarder role NOT_SUPPORTED (matrix D10);
    /// VM ID 0 or not a known VM: INVALID_PARAMETERS; no buffers mapped for it, or the buffer
    /// is not the SPMC's to give (the VM owns it, or it is acquired already): DENIED.
    pub(super) fn rx_acquire(&self, caller: &Caller, vm_id: EndpointId) -> Return {
        if caller.local || self.effective_role() != Role::Spmc {
            return Return::error(FfaError::NotSupported);
        }
        if vm_id.0 == 0 {
            return Return::error(FfaError::InvalidParameters);
        }
        let owner = match self.mailbox_owner(caller, vm_id) {
            Ok(owner) => owner,
            Err(error) => return Return::error(error),
        };
        let mut mailboxes = self.mailboxes.lock();
        match mailboxes.find_mut(owner) {
            Some(mailbox) if !mailbox.receive_held => {
                mailbox.receive_held = true;
                mailbox.acquired = true;
                Return::success(SuccessArgs::EMPTY)
            }
            _ => Return::error(FfaError::Denied),
        }
    }

    /// Whether the hypervisor holds `owner`'s RX buffer (FFA_RX_ACQUIRE).
    pub fn rx_acquired(&self, owner: EndpointId) -> bool {
        self.mailboxes.lock().find(owner).is_some_and(|mailbox| mailbox.acquired)
    }
}
