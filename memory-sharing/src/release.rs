//! FFA_MEM_RELINQUISH (a borrower gives back) and FFA_MEM_RECLAIM (the owner takes back).

use ffa_core::memory::{
    DataAccess, MemoryHandle, ReclaimFlags, RelinquishDescriptor, RelinquishFlags, TransactionType,
};
use ffa_core::{EndpointId, FfaError};

use crate::address_space::AddressSpace;
use crate::ledger::{Ledger, RangeChain};
use crate::region::bounds;
use crate::storage::SlotState;

impl Ledger<'_> {
    /// A borrower gives its access back: unmaps the memory for it and zeroes it when asked
    /// (here or at retrieve with flag bit 2). Errors, in check order:
    /// - INVALID_PARAMETERS: unknown or stale handle; zero flag on a SHARE (MM27);
    /// - DENIED: caller not a borrower, or not holding it (never retrieved or already
    ///   relinquished, MM28); zero flag from a read-only borrower (MM28);
    /// - whatever the address space returns (nothing changed then).
    pub fn relinquish(
        &mut self,
        caller: EndpointId,
        handle: MemoryHandle,
        flags: RelinquishFlags,
        space: &mut impl AddressSpace,
    ) -> Result<(), FfaError> {
        let position = self.slot_of(handle, SlotState::Committed)?;
        let slot = *self.transaction(position)?;
        flags.check(slot.transaction_type)?;
        let receiver_position =
            self.find_receiver(slot.receivers_head, caller).ok_or(FfaError::Denied)?;
        let receiver = *self.receivers.get(receiver_position as usize).ok_or(FfaError::Denied)?;
        if !receiver.retrieved {
            return Err(FfaError::Denied);
        }
        let zero = flags.clear_memory || receiver.clear_after_relinquish;
        if zero && receiver.mapped.data != DataAccess::ReadWrite {
            return Err(FfaError::Denied);
        }
        self.unmap_all(caller, slot.ranges_head, |_| receiver.mapped, space)?;
        if zero {
            self.zero_all(slot.ranges_head, space);
        }
        if let Some(entry) = self.receivers.get_mut(receiver_position as usize) {
            entry.retrieved = false;
            entry.clear_after_relinquish = false;
        }
        Ok(())
    }

    /// [`Self::relinquish`] from a parsed descriptor; more than one endpoint is
    /// INVALID_PARAMETERS (as in Hafnium and TF-A), and the endpoint must be the caller
    /// (INVALID_PARAMETERS otherwise).
    pub fn relinquish_descriptor(
        &mut self,
        caller: EndpointId,
        descriptor: &RelinquishDescriptor<'_>,
        space: &mut impl AddressSpace,
    ) -> Result<(), FfaError> {
        if descriptor.single_endpoint()? != caller {
            return Err(FfaError::InvalidParameters);
        }
        self.relinquish(caller, descriptor.handle, descriptor.flags, space)
    }

    /// The owner takes the memory back and the transaction ends (its handle goes stale).
    /// Errors, in check order:
    /// - INVALID_PARAMETERS: unknown or stale handle (MM29);
    /// - DENIED: caller not the owner; a borrower still holds it (MM29); zero flag on
    ///   read-only memory (MM13);
    /// - whatever the address space returns (nothing changed then).
    ///
    /// The owner gets its usual access back (conformance MM29), the memory zeroed first when
    /// flag bit 0 is set.
    pub fn reclaim(
        &mut self,
        caller: EndpointId,
        handle: MemoryHandle,
        flags: ReclaimFlags,
        space: &mut impl AddressSpace,
    ) -> Result<(), FfaError> {
        let position = self.slot_of(handle, SlotState::Committed)?;
        let slot = *self.transaction(position)?;
        if slot.sender != caller
            || self.receiver_chain(slot.receivers_head).any(|(_, receiver)| receiver.retrieved)
        {
            return Err(FfaError::Denied);
        }
        if flags.clear_memory
            && RangeChain::new(self.ranges, slot.ranges_head).any(|range| {
                let (start, end) = bounds(range);
                self.map.containing(start, end).is_none_or(|region| region.read_only)
            })
        {
            return Err(FfaError::Denied);
        }
        if flags.clear_memory {
            self.zero_all(slot.ranges_head, space);
        }
        if slot.transaction_type != TransactionType::Share {
            self.map_all(caller, slot.ranges_head, |range| self.owner_permissions(range), space)?;
        }
        self.remove_from_index(position);
        self.free_transaction(position)
    }
}
