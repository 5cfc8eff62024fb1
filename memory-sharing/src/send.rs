//! FFA_MEM_SHARE / LEND / DONATE: begin, add constituents in batches, commit or abort.

use ffa_core::memory::{
    AddressRange, DataAccess, MemoryHandle, ReceiverAccess, TransactionFields, TransactionHeader,
    TransactionType, MAX_RECEIVERS,
};
use ffa_core::{EndpointId, FfaError};

use crate::address_space::AddressSpace;
use crate::ledger::Ledger;
use crate::region::{check_range, MemoryKind};
use crate::storage::{IndexEntry, ReceiverSlot, SlotState, TransactionSlot, NONE};

/// What a sender asks for, before its constituents: the descriptor's header fields as values.
#[derive(Debug, Clone, Copy)]
pub struct SendRequest<'r> {
    /// The endpoint making the call (checked against `fields.sender`).
    pub caller: EndpointId,
    /// Which call: SHARE, LEND or DONATE.
    pub transaction_type: TransactionType,
    /// Sender, attributes, flags, handle (must be 0) and tag from the descriptor.
    pub fields: TransactionFields,
    /// One entry per borrower.
    pub receivers: &'r [ReceiverAccess],
    /// The composite's total page count: the constituents must add up to it.
    pub total_page_count: u64,
}

/// A send whose constituents are still arriving. Its handle is already fixed (FFA_MEM_FRAG_RX
/// reports it), but nobody can retrieve or reclaim it before [`Ledger::commit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PendingSend {
    handle: MemoryHandle,
}

impl PendingSend {
    /// The handle the transaction will have.
    pub const fn handle(self) -> MemoryHandle {
        self.handle
    }
}

/// The header checks of a send that need no state (reference §7.10 rules 1-3, 11, 14, §7.5;
/// conformance MM03-MM07, MM11), in the order [`TransactionHeader::check_send`] makes them.
fn check_request(request: &SendRequest<'_>) -> Result<(), FfaError> {
    let call = request.transaction_type;
    let fields = &request.fields;
    if fields.sender != request.caller {
        return Err(FfaError::Denied);
    }
    let count = request.receivers.len();
    if count == 0
        || count > MAX_RECEIVERS
        || (call == TransactionType::Donate && count != 1)
        || fields.handle != MemoryHandle(0)
    {
        return Err(FfaError::InvalidParameters);
    }
    fields.flags.check_send(call)?;
    fields.attributes.check_send(call, count)?;
    let mut ids = [0u16; MAX_RECEIVERS];
    for (slot, access) in ids.iter_mut().zip(request.receivers) {
        if access.receiver == fields.sender || access.receiver == EndpointId(0xFFFF) {
            return Err(FfaError::InvalidParameters);
        }
        access.permissions.check_send(call)?;
        *slot = access.receiver.0;
    }
    let used = ids.get(..count).ok_or(FfaError::InvalidParameters)?;
    // At most MAX_RECEIVERS entries: every pair is compared (no sort, whose generic code is
    // large in firmware images).
    let repeated = used
        .iter()
        .enumerate()
        .any(|(index, id)| used.get(index + 1..).is_some_and(|later| later.contains(id)));
    if repeated {
        return Err(FfaError::InvalidParameters);
    }
    Ok(())
}

impl Ledger<'_> {
    /// Starts a send: checks the header (see [`SendRequest`]) and reserves a transaction and
    /// its receivers (NO_MEMORY when a pool is full). Nothing is visible to other endpoints.
    pub fn begin_send(&mut self, request: &SendRequest<'_>) -> Result<PendingSend, FfaError> {
        check_request(request)?;
        self.begin(
            request.transaction_type,
            request.fields,
            request.receivers.iter().copied(),
            request.total_page_count,
        )
    }

    /// [`Self::begin_send`] from a parsed first fragment, checked with
    /// [`TransactionHeader::check_send`]; the handle field must be 0.
    pub fn begin_send_from_header(
        &mut self,
        header: &TransactionHeader<'_>,
        call: TransactionType,
        caller: EndpointId,
    ) -> Result<PendingSend, FfaError> {
        header.check_send(call, caller)?;
        if header.fields.handle != MemoryHandle(0) {
            return Err(FfaError::InvalidParameters);
        }
        let composite = header.composite.ok_or(FfaError::InvalidParameters)?;
        self.begin(
            call,
            header.fields,
            header.receivers.iter(),
            u64::from(composite.total_page_count),
        )
    }

    fn begin(
        &mut self,
        call: TransactionType,
        fields: TransactionFields,
        receivers: impl ExactSizeIterator<Item = ReceiverAccess>,
        total_page_count: u64,
    ) -> Result<PendingSend, FfaError> {
        let count = receivers.len();
        if self.free_transaction_count == 0 || self.free_receiver_count < count {
            return Err(FfaError::NoMemory);
        }
        let position = self.allocate_transaction()?;
        let mut head = NONE;
        // Pushed at the front, so walk the list in reverse to keep descriptor order.
        let mut accesses = [None; MAX_RECEIVERS];
        for (slot, access) in accesses.iter_mut().zip(receivers) {
            *slot = Some(access);
        }
        for access in accesses.iter().rev().flatten() {
            head = self.allocate_receiver(ReceiverSlot {
                access: *access,
                next: head,
                ..ReceiverSlot::EMPTY
            })?;
        }
        let generation = self.transaction(position)?.generation;
        *self.transaction_mut(position)? = TransactionSlot {
            state: SlotState::Pending,
            generation,
            transaction_type: call,
            sender: fields.sender,
            attributes: fields.attributes,
            flags: fields.flags,
            tag: fields.tag,
            receivers_head: head,
            receiver_count: count as u32,
            expected_page_count: total_page_count,
            ..TransactionSlot::EMPTY
        };
        Ok(PendingSend { handle: self.handle_of(position) })
    }

    /// Adds a batch of constituents (one fragment's worth) to a pending send. A malformed
    /// range is INVALID_PARAMETERS, a full range pool NO_MEMORY; either way the batch is not
    /// added and the send stays pending. Overlaps and ownership are checked at commit.
    pub fn add_ranges(
        &mut self,
        pending: PendingSend,
        ranges: &[AddressRange],
    ) -> Result<(), FfaError> {
        let position = self.slot_of(pending.handle, SlotState::Pending)?;
        let mut pages = 0u64;
        for range in ranges {
            check_range(*range)?;
            pages += u64::from(range.page_count);
        }
        if ranges.is_empty() {
            return Ok(());
        }
        let slot = *self.transaction(position)?;
        let range_count = (slot.range_count as usize)
            .checked_add(ranges.len())
            .and_then(|total| u32::try_from(total).ok())
            .ok_or(FfaError::NoMemory)?;
        if ranges.len() > self.free_range_count {
            return Err(FfaError::NoMemory);
        }
        let (head, tail) = self.allocate_ranges(ranges)?;
        if let Some(previous) = self.ranges.get_mut(slot.ranges_tail as usize) {
            previous.next = head;
        }
        let entry = self.transaction_mut(position)?;
        if entry.ranges_head == NONE {
            entry.ranges_head = head;
        }
        entry.ranges_tail = tail;
        entry.range_count = range_count;
        entry.page_count += pages;
        Ok(())
    }

    /// Drops a pending send (the sender gave up, or a fragment was refused).
    pub fn abort(&mut self, pending: PendingSend) -> Result<(), FfaError> {
        let position = self.slot_of(pending.handle, SlotState::Pending)?;
        self.free_transaction(position)
    }

    /// Completes a send: checks the constituents as a whole, takes the sender's access away
    /// for LEND and DONATE, and makes the transaction retrievable. On any error the pending
    /// send is dropped and nothing else changes. Errors:
    /// - INVALID_PARAMETERS: no constituents, page total not the composite's, constituents
    ///   overlapping each other (MM09);
    /// - DENIED: a page not owned by the sender in one region (MM33, MM02: a borrower does not
    ///   own what it borrowed), already in a live transaction (MM14), an RX/TX buffer (D21),
    ///   device memory (MM12), secure memory for a non-secure borrower (MM10), write access or
    ///   zeroing asked for read-only memory (MM13), secure and non-secure pages mixed;
    /// - NO_MEMORY: more constituents than the scratch or the index can hold, or the address
    ///   space could not be changed.
    ///
    /// O(n log n + m) for n constituents and m committed ranges.
    pub fn commit(
        &mut self,
        pending: PendingSend,
        space: &mut impl AddressSpace,
    ) -> Result<MemoryHandle, FfaError> {
        let position = self.slot_of(pending.handle, SlotState::Pending)?;
        let result = self.try_commit(position, space);
        if result.is_err() {
            self.free_transaction(position)?;
        }
        result.map(|()| pending.handle)
    }

    fn try_commit(&mut self, position: u32, space: &mut impl AddressSpace) -> Result<(), FfaError> {
        let slot = *self.transaction(position)?;
        let count = slot.range_count as usize;
        if count == 0 || slot.page_count != slot.expected_page_count {
            return Err(FfaError::InvalidParameters);
        }
        if count > self.scratch.len() || self.index_len + count > self.index.len() {
            return Err(FfaError::NoMemory);
        }
        // Sort a copy of the constituents and check neighbours: O(n log n), with constant
        // stack use whatever order the sender chose (`heap_sort`).
        for (entry, range) in self
            .scratch
            .iter_mut()
            .zip(crate::ledger::RangeChain::new(self.ranges, slot.ranges_head))
        {
            *entry = IndexEntry {
                address: range.address,
                page_count: range.page_count,
                transaction: position,
            };
        }
        let sorted = self.scratch.get_mut(..count).ok_or(FfaError::NoMemory)?;
        crate::heap_sort::sort_by_key(sorted, |entry| entry.address);
        if sorted.windows(2).any(|pair| match pair {
            [left, right] => left.end() > right.address,
            _ => false,
        }) {
            return Err(FfaError::InvalidParameters);
        }
        let non_secure = self.check_ownership(&slot, count)?;
        if matches!(slot.transaction_type, TransactionType::Lend | TransactionType::Donate) {
            self.unmap_all(
                slot.sender,
                slot.ranges_head,
                |range| self.owner_permissions(range),
                space,
            )?;
        }
        self.merge_scratch_into_index(count)?;
        let entry = self.transaction_mut(position)?;
        entry.state = SlotState::Committed;
        entry.non_secure = non_secure;
        Ok(())
    }

    /// Checks the sorted `scratch[..count]` against the memory map and the committed index;
    /// returns whether the memory is non-secure.
    fn check_ownership(&self, slot: &TransactionSlot, count: usize) -> Result<bool, FfaError> {
        let wants_write = self
            .receiver_chain(slot.receivers_head)
            .any(|(_, receiver)| receiver.access.permissions.data == DataAccess::ReadWrite)
            || slot.flags.clear_memory();
        let non_secure_borrower = self
            .receiver_chain(slot.receivers_head)
            .any(|(_, receiver)| !receiver.access.receiver.is_secure());
        let mut security = None;
        for entry in self.scratch.get(..count).unwrap_or(&[]) {
            let region = self.map.containing(entry.address, entry.end()).ok_or(FfaError::Denied)?;
            let secure = match region.kind {
                MemoryKind::Normal { secure } => secure,
                MemoryKind::Device => return Err(FfaError::Denied),
            };
            if region.owner != slot.sender
                || region.rxtx
                || (region.read_only && wants_write)
                || (secure && non_secure_borrower)
                || security.is_some_and(|previous| previous != secure)
                || self.overlaps_committed(entry.address, entry.end())
            {
                return Err(FfaError::Denied);
            }
            security = Some(secure);
        }
        Ok(security == Some(false))
    }

    /// Sends in one go: [`Self::begin_send`], one batch, [`Self::commit`].
    pub fn send(
        &mut self,
        request: &SendRequest<'_>,
        ranges: &[AddressRange],
        space: &mut impl AddressSpace,
    ) -> Result<MemoryHandle, FfaError> {
        let pending = self.begin_send(request)?;
        if let Err(error) = self.add_ranges(pending, ranges) {
            self.abort(pending)?;
            return Err(error);
        }
        self.commit(pending, space)
    }
}
