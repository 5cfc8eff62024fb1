//! FFA_MEM_RETRIEVE_REQ from a borrower and from the hypervisor, and reading ranges in batches.

use ffa_core::memory::{
    AccessPermissions, AddressRange, DataAccess, InstructionAccess, Layout, MemoryHandle,
    MemoryRegionAttributes, MemoryType, ReceiverAccess, TransactionFlags, TransactionHeader,
    TransactionType, MAX_RECEIVERS,
};
use ffa_core::{EndpointId, FfaError};

use crate::address_space::AddressSpace;
use crate::ledger::{Ledger, RangeChain};
use crate::region::bounds;
use crate::storage::{SlotState, TransactionSlot, NONE};

/// A borrower's retrieve request as values.
#[derive(Debug, Clone, Copy)]
pub struct RetrieveArguments<'r> {
    /// The endpoint making the call.
    pub caller: EndpointId,
    /// The handle it names.
    pub handle: MemoryHandle,
    /// The sender it names (must be the owner).
    pub sender: EndpointId,
    /// The tag it names (must be the sender's).
    pub tag: u64,
    /// Its flags (clear, clear after relinquish, type, alignment hint, bypass bit).
    pub flags: TransactionFlags,
    /// The attributes it asks for (type may be left unspecified).
    pub attributes: MemoryRegionAttributes,
    /// The layout the request came in (for the flag checks and the v1.2 impdef value).
    pub layout: Layout,
    /// Its receiver list: every borrower, or only the caller with the bypass flag (bit 10).
    pub receivers: &'r [ReceiverAccess],
}

/// What a FFA_MEM_RETRIEVE_RESP carries, apart from the constituents (read those with
/// [`Ledger::ranges`] and [`Ledger::read_ranges`]) and the other borrowers
/// ([`Ledger::receivers`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TransactionInfo {
    /// The handle.
    pub handle: MemoryHandle,
    /// The owner.
    pub sender: EndpointId,
    /// SHARE, LEND or DONATE.
    pub transaction_type: TransactionType,
    /// Attributes; the NS bit says the memory is non-secure (conformance MM01; the caller
    /// clears it for endpoints that did not ask for NS-bit reporting).
    pub attributes: MemoryRegionAttributes,
    /// Type in bits `[4:3]`; bit 0 when the memory was zeroed for the borrower (MM22); bit 2 when
    /// it will be zeroed on relinquish.
    pub flags: TransactionFlags,
    /// The sender's tag.
    pub tag: u64,
    /// For a borrower's retrieve: what the caller was granted and mapped with. For the
    /// hypervisor's: the first receiver as the sender described it.
    pub access: ReceiverAccess,
    /// Number of borrowers.
    pub receiver_count: u32,
    /// Total pages.
    pub page_count: u64,
    /// Number of constituents.
    pub range_count: u32,
}

/// A read position in a transaction's constituents (for fragmented retrieve responses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RangeCursor {
    handle: MemoryHandle,
    next: u32,
    remaining: u32,
}

impl RangeCursor {
    /// Constituents not read yet.
    pub const fn remaining(&self) -> u32 {
        self.remaining
    }
}

fn response_flags(slot: &TransactionSlot, clear_after_relinquish: bool) -> TransactionFlags {
    let mut bits = TransactionFlags(0).with_type(slot.transaction_type).0;
    if slot.flags.clear_memory() {
        bits |= TransactionFlags::CLEAR_MEMORY;
    }
    if clear_after_relinquish {
        bits |= TransactionFlags::CLEAR_AFTER_RELINQUISH;
    }
    TransactionFlags(bits)
}

impl Ledger<'_> {
    /// A borrower retrieves: checks the request against the transaction, zeroes the memory if
    /// the sender asked for it, maps it for the caller and, for DONATE, makes the caller the
    /// owner (the transaction then ends and its handle goes stale). Errors, in check order:
    /// - INVALID_PARAMETERS: bad flags or NS bit (MM11, MM18, MM23); unknown or stale handle,
    ///   wrong tag (MM15);
    /// - DENIED: wrong sender, caller not a borrower (MM17);
    /// - INVALID_PARAMETERS: type flag not the transaction's (MM16); receiver list not the
    ///   borrowers (or not just the caller with bit 10, and bit 10 with one borrower, MM26);
    ///   v1.2 impdef value not the sender's (MM25); clear flags on a SHARE; a type different
    ///   from the one the sender gave; a clear-flagged retrieve of an already retrieved
    ///   region (MM24);
    /// - DENIED: retrieved already (one retrieval per borrower, MM24); more access than
    ///   granted, X on device memory (MM19, MM20; instruction-access rules are
    ///   INVALID_PARAMETERS, MM21); clear flag the sender did not set, or zeroing read-only
    ///   memory (MM18);
    /// - NO_MEMORY: the memory map has no room for a donation's new owner, or a map failed.
    pub fn retrieve(
        &mut self,
        request: &RetrieveArguments<'_>,
        space: &mut impl AddressSpace,
    ) -> Result<TransactionInfo, FfaError> {
        request.flags.check_retrieve_request(request.layout)?;
        request.attributes.check_retrieve_request()?;
        let position = self.slot_of(request.handle, SlotState::Committed)?;
        let slot = *self.transaction(position)?;
        if slot.tag != request.tag {
            return Err(FfaError::InvalidParameters);
        }
        if slot.sender != request.sender {
            return Err(FfaError::Denied);
        }
        let receiver_position =
            self.find_receiver(slot.receivers_head, request.caller).ok_or(FfaError::Denied)?;
        let receiver = *self.receivers.get(receiver_position as usize).ok_or(FfaError::Denied)?;
        let call = slot.transaction_type;
        if request.flags.transaction_type().is_some_and(|kind| kind != call) {
            return Err(FfaError::InvalidParameters);
        }
        let requested = self.check_receiver_list(&slot, request)?;
        if request.layout == Layout::V1_2 && requested.impdef != receiver.access.impdef {
            return Err(FfaError::InvalidParameters);
        }
        let clear = request.flags.clear_memory();
        let clear_after = request.flags.clear_after_relinquish();
        if call == TransactionType::Share && (clear || clear_after) {
            return Err(FfaError::InvalidParameters);
        }
        let asked_type = request.attributes.memory_type;
        let sent_type = slot.attributes.memory_type;
        if asked_type != MemoryType::NotSpecified
            && sent_type != MemoryType::NotSpecified
            && asked_type != sent_type
        {
            return Err(FfaError::InvalidParameters);
        }
        if receiver.retrieved {
            return Err(if clear { FfaError::InvalidParameters } else { FfaError::Denied });
        }
        let memory_type = match request.attributes.memory_type {
            MemoryType::NotSpecified => slot.attributes.memory_type,
            specified => specified,
        };
        let granted = receiver.access.permissions.data;
        requested.permissions.check_retrieve(
            granted,
            call,
            slot.receiver_count as usize,
            memory_type,
        )?;
        let data = match (requested.permissions.data, granted) {
            (DataAccess::NotSpecified, DataAccess::NotSpecified) => DataAccess::ReadWrite,
            (DataAccess::NotSpecified, granted) => granted,
            (asked, _) => asked,
        };
        let instruction = match requested.permissions.instruction {
            InstructionAccess::NotSpecified => InstructionAccess::NotExecutable,
            asked => asked,
        };
        let mapped = AccessPermissions { data, instruction };
        if (clear && !slot.flags.clear_memory())
            || ((clear || clear_after || slot.flags.clear_memory())
                && data != DataAccess::ReadWrite)
        {
            return Err(FfaError::Denied);
        }
        if call == TransactionType::Donate {
            self.check_donation_room(&slot)?;
        }

        // Apply: zero (infallible), map (undone on failure), then record.
        if slot.flags.clear_memory() && !slot.zeroed {
            self.zero_all(slot.ranges_head, space);
        }
        self.map_all(request.caller, slot.ranges_head, |_| mapped, space)?;
        let info = TransactionInfo {
            handle: request.handle,
            sender: slot.sender,
            transaction_type: call,
            attributes: MemoryRegionAttributes { memory_type, non_secure: slot.non_secure },
            flags: response_flags(&slot, clear_after),
            tag: slot.tag,
            access: ReceiverAccess { permissions: mapped, ..receiver.access },
            receiver_count: slot.receiver_count,
            page_count: slot.page_count,
            range_count: slot.range_count,
        };
        if call == TransactionType::Donate {
            self.transfer_ownership(&slot, request.caller, data == DataAccess::ReadOnly)?;
            self.remove_from_index(position);
            self.free_transaction(position)?;
        } else {
            if let Some(entry) = self.receivers.get_mut(receiver_position as usize) {
                entry.retrieved = true;
                entry.mapped = mapped;
                entry.clear_after_relinquish = clear_after;
            }
            self.transaction_mut(position)?.zeroed = true;
        }
        Ok(info)
    }

    /// [`Self::retrieve`] from a parsed request header (already checked with
    /// [`TransactionHeader::check_retrieve_request`] by the parser).
    pub fn retrieve_from_header(
        &mut self,
        header: &TransactionHeader<'_>,
        caller: EndpointId,
        space: &mut impl AddressSpace,
    ) -> Result<TransactionInfo, FfaError> {
        let mut receivers =
            [ReceiverAccess::new(EndpointId(0), AccessPermissions::READ_WRITE); MAX_RECEIVERS];
        let mut count = 0;
        for (slot, access) in receivers.iter_mut().zip(header.receivers.iter()) {
            *slot = access;
            count += 1;
        }
        let request = RetrieveArguments {
            caller,
            handle: header.fields.handle,
            sender: header.fields.sender,
            tag: header.fields.tag,
            flags: header.fields.flags,
            attributes: header.fields.attributes,
            layout: header.layout,
            receivers: receivers.get(..count).ok_or(FfaError::InvalidParameters)?,
        };
        self.retrieve(&request, space)
    }

    /// Checks the request's receiver list; returns the caller's entry.
    fn check_receiver_list(
        &self,
        slot: &TransactionSlot,
        request: &RetrieveArguments<'_>,
    ) -> Result<ReceiverAccess, FfaError> {
        let listed = request.receivers;
        let bypass = request.flags.bypass_multi_borrower_check();
        let count_ok = if bypass {
            slot.receiver_count > 1 && listed.len() == 1
        } else {
            listed.len() == slot.receiver_count as usize
        };
        if !count_ok {
            return Err(FfaError::InvalidParameters);
        }
        let mut own = None;
        for (position, access) in listed.iter().enumerate() {
            if self.find_receiver(slot.receivers_head, access.receiver).is_none()
                || listed.iter().skip(position + 1).any(|other| other.receiver == access.receiver)
            {
                return Err(FfaError::InvalidParameters);
            }
            if access.receiver == request.caller {
                own = Some(*access);
            }
        }
        own.ok_or(FfaError::InvalidParameters)
    }

    /// NO_MEMORY unless the memory map can take the splits a donation needs.
    fn check_donation_room(&self, slot: &TransactionSlot) -> Result<(), FfaError> {
        let mut needed = 0usize;
        for range in RangeChain::new(self.ranges, slot.ranges_head) {
            let (start, end) = bounds(range);
            needed += self.map.splits_needed(start, end).ok_or(FfaError::Denied)?;
        }
        if needed > self.map.free_slots() {
            return Err(FfaError::NoMemory);
        }
        Ok(())
    }

    /// Gives every page of a donation to `new_owner`. O(n * regions).
    fn transfer_ownership(
        &mut self,
        slot: &TransactionSlot,
        new_owner: EndpointId,
        read_only: bool,
    ) -> Result<(), FfaError> {
        let mut position = slot.ranges_head;
        while let Some(range_slot) = self.ranges.get(position as usize).copied() {
            let (start, end) = bounds(range_slot.range());
            self.map.rewrite(start, end, |region| {
                region.owner = new_owner;
                region.read_only = read_only;
            })?;
            position = range_slot.next;
        }
        Ok(())
    }

    /// The hypervisor's handle-only retrieve (reference §7.8, conformance MM32): the whole
    /// transaction as the sender described it; nothing changes. Unknown or stale handle:
    /// INVALID_PARAMETERS.
    pub fn hypervisor_retrieve(&self, handle: MemoryHandle) -> Result<TransactionInfo, FfaError> {
        let position = self.slot_of(handle, SlotState::Committed)?;
        let slot = self.transaction(position)?;
        let first = self
            .receiver_chain(slot.receivers_head)
            .next()
            .map(|(_, receiver)| receiver.access)
            .ok_or(FfaError::InvalidParameters)?;
        Ok(TransactionInfo {
            handle,
            sender: slot.sender,
            transaction_type: slot.transaction_type,
            attributes: MemoryRegionAttributes { non_secure: slot.non_secure, ..slot.attributes },
            flags: response_flags(slot, false),
            tag: slot.tag,
            access: first,
            receiver_count: slot.receiver_count,
            page_count: slot.page_count,
            range_count: slot.range_count,
        })
    }

    /// The receivers of a committed transaction as the sender described them.
    pub fn receivers(
        &self,
        handle: MemoryHandle,
    ) -> Result<impl Iterator<Item = ReceiverAccess> + '_, FfaError> {
        let position = self.slot_of(handle, SlotState::Committed)?;
        let head = self.transaction(position)?.receivers_head;
        Ok(self.receiver_chain(head).map(|(_, receiver)| receiver.access))
    }

    /// Which receivers of a committed transaction currently hold it (have retrieved and not
    /// relinquished).
    pub fn holders(
        &self,
        handle: MemoryHandle,
    ) -> Result<impl Iterator<Item = EndpointId> + '_, FfaError> {
        let position = self.slot_of(handle, SlotState::Committed)?;
        let head = self.transaction(position)?.receivers_head;
        Ok(self
            .receiver_chain(head)
            .filter(|(_, receiver)| receiver.retrieved)
            .map(|(_, receiver)| receiver.access.receiver))
    }

    /// A cursor at the first constituent of a committed transaction.
    pub fn ranges(&self, handle: MemoryHandle) -> Result<RangeCursor, FfaError> {
        let position = self.slot_of(handle, SlotState::Committed)?;
        let slot = self.transaction(position)?;
        Ok(RangeCursor { handle, next: slot.ranges_head, remaining: slot.range_count })
    }

    /// Copies the next constituents (in the sender's order) into `out`; returns how many.
    /// A cursor whose transaction has ended is INVALID_PARAMETERS.
    pub fn read_ranges(
        &self,
        cursor: &mut RangeCursor,
        out: &mut [AddressRange],
    ) -> Result<usize, FfaError> {
        self.slot_of(cursor.handle, SlotState::Committed)?;
        let mut written = 0;
        for slot in out.iter_mut() {
            let Some(range_slot) = self.ranges.get(cursor.next as usize) else { break };
            if cursor.remaining == 0 {
                break;
            }
            *slot = range_slot.range();
            cursor.next = range_slot.next;
            cursor.remaining -= 1;
            written += 1;
        }
        if cursor.remaining == 0 {
            cursor.next = NONE;
        }
        Ok(written)
    }
}
