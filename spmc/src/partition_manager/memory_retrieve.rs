//! FFA_MEM_RETRIEVE_REQ (a borrower's, and the hypervisor's handle-only form), the
//! FFA_MEM_RETRIEVE_RESP written into the caller's RX buffer in its own layout and continued
//! with FFA_MEM_FRAG_RX / FRAG_TX, FFA_MEM_RELINQUISH and FFA_MEM_RECLAIM.

use ffa_core::call::{MemoryTransaction, ReclaimFlags as ReclaimRegister, Return};
use ffa_core::memory::{
    HandleAllocator, Layout, MemoryHandle, ReclaimFlags, RelinquishDescriptor, RetrieveRequest,
    TransactionFields, TransactionType, MAX_RECEIVERS,
};
use ffa_core::{EndpointId, FfaError, SuccessArgs};
use memory_sharing::TransactionInfo;

use super::mailbox::Mailbox;
use super::memory::{buffer_size, FragmentedRetrieve, MemoryState, Progress, COPY_SIZE};
use super::memory_descriptor::{
    header_length, layout_of, write_header, write_ranges, CONSTITUENT_SIZE,
};
use super::translation::MemoryPlatform;
use super::{Caller, EndpointMemory, PartitionManager, Role};

/// Longest relinquish descriptor read: header and [`MAX_RECEIVERS`] endpoint IDs.
const RELINQUISH_SIZE: usize = 16 + 2 * MAX_RECEIVERS;

impl<
        M: EndpointMemory,
        const ENDPOINTS: usize,
        const VCPUS: usize,
        const CPUS: usize,
        S: MemoryPlatform,
    > PartitionManager<M, ENDPOINTS, VCPUS, CPUS, S>
{
    /// FFA_MEM_RETRIEVE_REQ. Errors before the ledger's own (docs/src/ledger.md):
    /// INVALID_PARAMETERS for a separate buffer, a fragmented or over-long request, no TX
    /// buffer, a malformed request, or the handle-only form from anyone but the normal world
    /// (SPMC role); BUSY when the caller still owns its RX buffer; NO_MEMORY when the RX buffer
    /// cannot hold the header part (or, for DONATE, the whole response). Forwarder: a handle
    /// the SPMC allocated is INVALID_PARAMETERS (partitions do not lend to VMs here).
    pub(super) fn retrieve(
        &self,
        caller: &Caller,
        transaction: MemoryTransaction,
    ) -> Result<Progress, FfaError> {
        if transaction.buffer.is_some() || transaction.total_length != transaction.fragment_length {
            return Err(FfaError::InvalidParameters);
        }
        let length = transaction.total_length as usize;
        let layout = layout_of(caller.version);
        let owner = caller.context.endpoint;
        let mut mailboxes = self.mailboxes.lock();
        let mailbox = mailboxes.find(owner).copied().ok_or(FfaError::InvalidParameters)?;
        if length > buffer_size(mailbox.page_count) || length > COPY_SIZE {
            return Err(FfaError::InvalidParameters);
        }
        let mut guard = self.memory.lock();
        let state = guard.as_mut().ok_or(FfaError::NotSupported)?;
        let request = state.copy.get_mut(..length).ok_or(FfaError::InvalidParameters)?;
        mailboxes.memory.read(mailbox.transmit, 0, request)?;
        if mailbox.receive_held {
            return Err(FfaError::Busy);
        }
        let MemoryState { ledger, platform, copy, receivers, retrieves, .. } = state;
        let request = RetrieveRequest::parse(copy.get(..length).unwrap_or_default(), layout)?;
        let header = match request {
            RetrieveRequest::Hypervisor(handle) => {
                if caller.local || self.effective_role() != Role::Spmc {
                    return Err(FfaError::InvalidParameters);
                }
                return self.hypervisor_retrieve(state, &mut mailboxes, mailbox, layout, handle);
            }
            RetrieveRequest::Endpoint(header) => header,
        };
        let handle = header.fields.handle;
        // Partitions do not lend to VMs here, so no transaction the SPMC allocated names a VM
        // as a borrower: the caller's borrower list cannot match (reference 7.10 rule 15).
        if self.is_forwarder() && handle.allocator() == HandleAllocator::Spmc {
            return Err(FfaError::InvalidParameters);
        }
        // What the response needs and the ledger forgets for DONATE: read it first.
        let before = match ledger.hypervisor_retrieve(handle) {
            Ok(info) => info,
            Err(error) => {
                let refusal = ledger.retrieve_from_header(&header, owner, platform).err();
                return Err(refusal.unwrap_or(error));
            }
        };
        receivers.clear();
        for access in ledger.receivers(handle)? {
            receivers.push(access).map_err(|_| FfaError::NoMemory)?;
        }
        let plan = ResponsePlan::new(layout, receivers.len(), &before, mailbox)?;
        let fragmented = plan.first_count < before.range_count as usize;
        if fragmented && (before.transaction_type == TransactionType::Donate || retrieves.is_full())
        {
            return Err(FfaError::NoMemory);
        }
        // The RX buffer is the manager's until the response is complete: constituents go in
        // first, the header (which depends on the outcome) after the retrieve.
        let mut cursor = ledger.ranges(handle)?;
        let memory = &mut mailboxes.memory;
        write_ranges(ledger, &mut cursor, plan.first_count, plan.header_end, &mut |at, bytes| {
            memory.write(mailbox.receive, at, bytes)
        })?;
        let info = ledger.retrieve_from_header(&header, owner, platform)?;
        for access in receivers.iter_mut() {
            if access.receiver == owner {
                *access = info.access;
            }
        }
        let fields = TransactionFields {
            sender: info.sender,
            attributes: info.attributes,
            flags: info.flags,
            handle,
            tag: info.tag,
        };
        let header_end =
            write_header(copy, layout, &fields, receivers, info.page_count, info.range_count)?;
        memory.write(mailbox.receive, 0, copy.get(..header_end).ok_or(FfaError::NoMemory)?)?;
        if fragmented {
            let pending = FragmentedRetrieve {
                mailbox: owner,
                handle,
                cursor,
                sent: plan.first_length,
                total: plan.total_length,
            };
            // Room was checked before the retrieve.
            let _ = retrieves.push(pending);
        }
        if let Some(entry) = mailboxes.find_mut(owner) {
            entry.receive_held = true;
        }
        Ok(Progress::Answer(Return::MemRetrieveResp {
            total_length: plan.total_length,
            fragment_length: plan.first_length,
        }))
    }

    /// The hypervisor's handle-only retrieve request (SPMC role, reference §7.8, matrix MM32):
    /// the whole transaction as its sender described it, nothing changes. Only for
    /// transactions the normal world takes part in (else DENIED).
    fn hypervisor_retrieve(
        &self,
        state: &mut MemoryState<S>,
        mailboxes: &mut super::mailbox::Mailboxes<M, ENDPOINTS>,
        mailbox: Mailbox<M::Buffer>,
        layout: Layout,
        handle: MemoryHandle,
    ) -> Result<Progress, FfaError> {
        let MemoryState { ledger, copy, receivers, retrieves, .. } = state;
        let info = ledger.hypervisor_retrieve(handle)?;
        receivers.clear();
        for access in ledger.receivers(handle)? {
            receivers.push(access).map_err(|_| FfaError::NoMemory)?;
        }
        let involved =
            !info.sender.is_secure() || receivers.iter().any(|access| !access.receiver.is_secure());
        if !involved {
            return Err(FfaError::Denied);
        }
        let plan = ResponsePlan::new(layout, receivers.len(), &info, mailbox)?;
        let fragmented = plan.first_count < info.range_count as usize;
        if fragmented && retrieves.is_full() {
            return Err(FfaError::NoMemory);
        }
        let fields = TransactionFields {
            sender: info.sender,
            attributes: info.attributes,
            flags: info.flags,
            handle,
            tag: info.tag,
        };
        let header_end =
            write_header(copy, layout, &fields, receivers, info.page_count, info.range_count)?;
        let mut cursor = ledger.ranges(handle)?;
        let memory = &mut mailboxes.memory;
        memory.write(mailbox.receive, 0, copy.get(..header_end).ok_or(FfaError::NoMemory)?)?;
        write_ranges(ledger, &mut cursor, plan.first_count, header_end, &mut |at, bytes| {
            memory.write(mailbox.receive, at, bytes)
        })?;
        if fragmented {
            let pending = FragmentedRetrieve {
                mailbox: mailbox.owner,
                handle,
                cursor,
                sent: plan.first_length,
                total: plan.total_length,
            };
            let _ = retrieves.push(pending);
        }
        if let Some(entry) = mailboxes.find_mut(mailbox.owner) {
            entry.receive_held = true;
        }
        Ok(Progress::Answer(Return::MemRetrieveResp {
            total_length: plan.total_length,
            fragment_length: plan.first_length,
        }))
    }

    /// FFA_MEM_FRAG_RX from a borrower: the next fragment of its retrieve response into its RX
    /// buffer, answered with FFA_MEM_FRAG_TX. BUSY while it owns its RX buffer;
    /// INVALID_PARAMETERS for a sender ID from a local endpoint, an unknown handle or an offset
    /// other than what it has received.
    pub(super) fn retrieve_fragment(
        &self,
        caller: &Caller,
        handle: MemoryHandle,
        offset: u32,
        endpoint: EndpointId,
    ) -> Result<Progress, FfaError> {
        if caller.local && endpoint.0 != 0 {
            return Err(FfaError::InvalidParameters);
        }
        let owner = caller.context.endpoint;
        let mut mailboxes = self.mailboxes.lock();
        let mailbox = mailboxes.find(owner).copied().ok_or(FfaError::InvalidParameters)?;
        if mailbox.receive_held {
            return Err(FfaError::Busy);
        }
        let mut guard = self.memory.lock();
        let state = guard.as_mut().ok_or(FfaError::NotSupported)?;
        let index = state
            .retrieves
            .iter()
            .position(|pending| pending.mailbox == owner && pending.handle == handle)
            .ok_or(FfaError::InvalidParameters)?;
        let mut pending = *state.retrieves.get(index).ok_or(FfaError::InvalidParameters)?;
        if offset != pending.sent {
            return Err(FfaError::InvalidParameters);
        }
        let remaining = (pending.total - pending.sent) as usize / CONSTITUENT_SIZE;
        let count = remaining.min(buffer_size(mailbox.page_count) / CONSTITUENT_SIZE);
        let memory = &mut mailboxes.memory;
        let written =
            write_ranges(&state.ledger, &mut pending.cursor, count, 0, &mut |at, bytes| {
                memory.write(mailbox.receive, at, bytes)
            });
        let written = match written {
            Ok(written) if written > 0 => written,
            // The transaction ended under it (e.g. relinquished and reclaimed).
            other => {
                state.retrieves.swap_remove(index);
                return Err(other.err().unwrap_or(FfaError::InvalidParameters));
            }
        };
        let length = u32::try_from(written * CONSTITUENT_SIZE).map_err(|_| FfaError::NoMemory)?;
        pending.sent += length;
        if pending.sent >= pending.total {
            state.retrieves.swap_remove(index);
        } else if let Some(slot) = state.retrieves.get_mut(index) {
            *slot = pending;
        }
        if let Some(entry) = mailboxes.find_mut(owner) {
            entry.receive_held = true;
        }
        Ok(Progress::Answer(Return::MemFragTx {
            handle: handle.0,
            fragment_length: length,
            endpoint,
        }))
    }

    /// FFA_MEM_RELINQUISH with the descriptor in the caller's TX buffer (copied first). No TX
    /// buffer or a malformed descriptor (MM27) is INVALID_PARAMETERS; the rest is the ledger's.
    /// The endpoint named must be the caller (the normal world relinquishes as ID 0).
    pub(super) fn relinquish(&self, caller: &Caller) -> Result<Progress, FfaError> {
        let owner = caller.context.endpoint;
        let mut mailboxes = self.mailboxes.lock();
        let mailbox = mailboxes.find(owner).copied().ok_or(FfaError::InvalidParameters)?;
        let length = buffer_size(mailbox.page_count).min(RELINQUISH_SIZE);
        let mut guard = self.memory.lock();
        let state = guard.as_mut().ok_or(FfaError::NotSupported)?;
        let MemoryState { ledger, platform, copy, retrieves, .. } = state;
        let bytes = copy.get_mut(..length).ok_or(FfaError::InvalidParameters)?;
        mailboxes.memory.read(mailbox.transmit, 0, bytes)?;
        drop(mailboxes);
        let descriptor = RelinquishDescriptor::parse(bytes)?;
        // A VM retrieves nothing the SPMC allocated (see `retrieve`), so it has nothing of
        // such a handle to give back (reference 7.10 rule 17).
        if self.is_forwarder() && descriptor.handle.allocator() == HandleAllocator::Spmc {
            return Err(FfaError::Denied);
        }
        ledger.relinquish_descriptor(owner, &descriptor, platform)?;
        let handle = descriptor.handle;
        retrieves.retain(|pending| !(pending.mailbox == owner && pending.handle == handle));
        Ok(Progress::Answer(Return::success(SuccessArgs::EMPTY)))
    }

    /// FFA_MEM_RECLAIM. Flags other than bit 0 are INVALID_PARAMETERS (no time slicing). The
    /// normal world (SPMC role) reclaims for the normal-world sender of the transaction.
    /// Forwarder: a handle the SPMC allocated goes to the SPMC (see `forward_reclaim`).
    pub(super) fn reclaim(
        &self,
        caller: &Caller,
        handle: MemoryHandle,
        flags: ReclaimRegister,
        may_forward: bool,
    ) -> Result<Progress, FfaError> {
        let parsed = ReclaimFlags::try_from(flags.bits())?;
        if parsed.time_slicing {
            return Err(FfaError::InvalidParameters);
        }
        let mut guard = self.memory.lock();
        let state = guard.as_mut().ok_or(FfaError::NotSupported)?;
        if may_forward && handle.allocator() == HandleAllocator::Spmc {
            return self.forward_reclaim(state, caller.context, handle, flags);
        }
        let reclaimer = if caller.local {
            caller.context.endpoint
        } else {
            let sender = state.ledger.hypervisor_retrieve(handle)?.sender;
            if sender.is_secure() {
                return Err(FfaError::Denied);
            }
            sender
        };
        state.ledger.reclaim(reclaimer, handle, parsed, &mut state.platform)?;
        Ok(Progress::Answer(Return::success(SuccessArgs::EMPTY)))
    }
}

/// How a retrieve response splits over the caller's RX buffer.
#[derive(Debug, Clone, Copy)]
struct ResponsePlan {
    /// Length of the header part.
    header_end: usize,
    /// Constituents in the first fragment.
    first_count: usize,
    /// Bytes in the first fragment.
    first_length: u32,
    /// Bytes in the whole response.
    total_length: u32,
}

impl ResponsePlan {
    /// NO_MEMORY when the RX buffer cannot hold the header part or the total does not fit in
    /// 32 bits.
    fn new<B>(
        layout: Layout,
        receiver_count: usize,
        info: &TransactionInfo,
        mailbox: Mailbox<B>,
    ) -> Result<Self, FfaError> {
        let header_end = header_length(layout, receiver_count);
        let capacity = buffer_size(mailbox.page_count);
        if header_end > capacity {
            return Err(FfaError::NoMemory);
        }
        let range_count = info.range_count as usize;
        let first_count = ((capacity - header_end) / CONSTITUENT_SIZE).min(range_count);
        let total = range_count
            .checked_mul(CONSTITUENT_SIZE)
            .and_then(|bytes| bytes.checked_add(header_end))
            .and_then(|total| u32::try_from(total).ok())
            .ok_or(FfaError::NoMemory)?;
        let first = u32::try_from(header_end + first_count * CONSTITUENT_SIZE)
            .map_err(|_| FfaError::NoMemory)?;
        Ok(Self { header_end, first_count, first_length: first, total_length: total })
    }
}
