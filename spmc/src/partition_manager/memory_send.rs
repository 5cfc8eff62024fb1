//! FFA_MEM_SHARE / LEND / DONATE and FFA_MEM_FRAG_TX: each fragment is copied out of the
//! sender's TX buffer into manager memory, checked, translated to physical ranges and added to
//! a pending send in the ledger, which commits when the last fragment has arrived.

use ffa_core::call::{MemoryTransaction, Return};
use ffa_core::memory::{
    AddressRange, ConstituentIter, MemoryHandle, TransactionHeader, TransactionReader,
    TransactionType,
};
use ffa_core::{EndpointId, FfaError, SuccessArgs};
use memory_sharing::Ledger;

use super::memory::{buffer_size, FragmentedSend, MemoryState, Progress, COPY_SIZE};
use super::memory_descriptor::{layout_of, CONSTITUENT_SIZE};
use super::translation::{MemoryPlatform, RangeBatch};
use super::{CallKinds, Caller, EndpointDescription, EndpointMemory, PartitionManager, Role};

/// Where a checked transaction's borrowers are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// Every borrower is served by this manager (or, in the SPMC role, is a normal-world
    /// endpoint the normal world serves itself).
    Local,
    /// Forwarder: at least one borrower is in the other world.
    OtherWorld,
}

/// Adds a fragment's constituents to a pending send, translated for a local sender.
fn add_constituents(
    ledger: &mut Ledger<'_>,
    platform: &mut impl MemoryPlatform,
    send: &mut FragmentedSend,
    ranges: ConstituentIter<'_>,
) -> Result<(), FfaError> {
    let pending = send.pending;
    let mut batch = RangeBatch::new();
    let mut emit = |range: AddressRange| {
        if batch.push(range) {
            ledger.add_ranges(pending, batch.as_slice())?;
            batch.clear();
        }
        Ok(())
    };
    for range in ranges {
        if send.local {
            send.translator.push(platform, send.sender, range, &mut emit)?;
        } else {
            send.translator.push_physical(range, &mut emit)?;
        }
    }
    ledger.add_ranges(pending, batch.as_slice())
}

/// Closes the last translated range of a send whose constituents have all arrived.
fn finish_constituents(ledger: &mut Ledger<'_>, send: &mut FragmentedSend) -> Result<(), FfaError> {
    let pending = send.pending;
    let mut last = None;
    send.translator.finish(&mut |range| {
        last = Some(range);
        Ok(())
    })?;
    match last {
        Some(range) => ledger.add_ranges(pending, &[range]),
        None => Ok(()),
    }
}

impl<
        M: EndpointMemory,
        const ENDPOINTS: usize,
        const VCPUS: usize,
        const CPUS: usize,
        S: MemoryPlatform,
    > PartitionManager<M, ENDPOINTS, VCPUS, CPUS, S>
{
    /// The transaction's sender as the caller may name it (reference §7.10 rule 1, matrix
    /// MM07): a local endpoint only itself; the normal world (SPMC role) any of its endpoints.
    /// DENIED otherwise.
    fn transaction_sender(
        &self,
        caller: &Caller,
        sender: EndpointId,
    ) -> Result<EndpointId, FfaError> {
        let allowed =
            if caller.local { sender == caller.context.endpoint } else { !sender.is_secure() };
        if allowed {
            Ok(sender)
        } else {
            Err(FfaError::Denied)
        }
    }

    /// Where the borrowers are (reference §7.10 rule 3: borrowers must exist,
    /// INVALID_PARAMETERS). SPMC: partitions must be local; normal-world borrowers are the
    /// normal world's business; a normal-world sender must name a partition. Forwarder: VMs
    /// must be local and secure borrowers known partitions.
    fn route(
        &self,
        caller: &Caller,
        header: &TransactionHeader<'_>,
        remote: &[EndpointDescription],
    ) -> Result<Route, FfaError> {
        let mut local_borrowers = 0usize;
        let mut other_world = false;
        for access in header.receivers.iter() {
            let borrower = access.receiver;
            if self.is_local(borrower) {
                local_borrowers += 1;
                continue;
            }
            let known = match self.effective_role() {
                Role::Spmc => !borrower.is_secure(),
                Role::Forwarder => {
                    borrower.is_secure()
                        && borrower != self.settings.spm_id
                        && remote.iter().any(|endpoint| endpoint.id == borrower)
                }
            };
            if !known {
                return Err(FfaError::InvalidParameters);
            }
            if self.effective_role() == Role::Forwarder
                && caller.local
                && !self.policy.allows(caller.context.endpoint, borrower, CallKinds::MEMORY)
            {
                return Err(FfaError::Denied);
            }
            other_world = true;
        }
        if !caller.local && local_borrowers == 0 {
            return Err(FfaError::InvalidParameters);
        }
        Ok(if other_world && self.is_forwarder() { Route::OtherWorld } else { Route::Local })
    }

    /// FFA_MEM_SHARE / LEND / DONATE with the first fragment in the caller's TX buffer.
    /// Errors (nothing is left behind by any of them): a separate descriptor buffer, a zero or
    /// over-long fragment, no TX buffer, a malformed header or wrong length (MM08, MM09, rule
    /// 5): INVALID_PARAMETERS; the ledger's own checks (docs/src/ledger.md); DENIED for pages
    /// outside the sender (translation).
    pub(super) fn send(
        &self,
        caller: &Caller,
        call: TransactionType,
        transaction: MemoryTransaction,
        is_64: bool,
        may_forward: bool,
    ) -> Result<Progress, FfaError> {
        if transaction.buffer.is_some() {
            // Reference §7.1: only the TX-buffer form is supported (as Hafnium and TF-A).
            return Err(FfaError::InvalidParameters);
        }
        let fragment = transaction.fragment_length as usize;
        if fragment == 0 {
            return Err(FfaError::InvalidParameters);
        }
        let layout = layout_of(caller.version);
        let owner = caller.context.endpoint;
        // Lock order: remote endpoints, mailboxes, memory.
        let remote = self.remote.lock();
        let mut mailboxes = self.mailboxes.lock();
        let mailbox = mailboxes.find(owner).copied().ok_or(FfaError::InvalidParameters)?;
        if fragment > buffer_size(mailbox.page_count) {
            return Err(FfaError::InvalidParameters);
        }
        let mut guard = self.memory.lock();
        let state = guard.as_mut().ok_or(FfaError::NotSupported)?;

        // Copy first: every check below reads manager memory only.
        let piece = fragment.min(COPY_SIZE);
        let buffer = state.copy.get_mut(..piece).ok_or(FfaError::InvalidParameters)?;
        mailboxes.memory.read(mailbox.transmit, 0, buffer)?;
        let header = TransactionHeader::parse(buffer, layout)?;
        let sender = self.transaction_sender(caller, header.fields.sender)?;
        header.check_send(call, sender)?;
        let route = self.route(caller, &header, &remote)?;
        drop(remote);
        let receiver_count = header.receivers.len();
        let header_end = header.header_length() as usize;
        if route == Route::OtherWorld {
            self.check_forwarding_room(state, receiver_count)?;
        }
        let first = if piece == fragment {
            piece
        } else {
            // Whole constituents only; the rest of the fragment is copied in later pieces.
            header_end + (piece.saturating_sub(header_end)) / CONSTITUENT_SIZE * CONSTITUENT_SIZE
        };
        let MemoryState { ledger, platform, copy, .. } = &mut *state;
        let (reader, header, constituents) = TransactionReader::start(
            copy.get(..first).ok_or(FfaError::InvalidParameters)?,
            transaction.total_length,
            layout,
        )?;
        let pending = ledger.begin_send_from_header(&header, call, sender)?;
        let mut send = FragmentedSend {
            pending,
            sender,
            mailbox: owner,
            local: caller.local,
            reader,
            translator: Default::default(),
            call,
            is_64,
            forward: route == Route::OtherWorld,
            receiver_count,
        };
        let result =
            add_constituents(ledger, platform, &mut send, constituents.iter()).and_then(|()| {
                let memory = &mut mailboxes.memory;
                read_pieces(memory, mailbox.transmit, first, fragment, copy, |bytes| {
                    let constituents = send.reader.next_fragment(bytes)?;
                    add_constituents(ledger, platform, &mut send, constituents.iter())
                })
            });
        drop(mailboxes);
        if let Err(error) = result {
            let _ = ledger.abort(pending);
            return Err(error);
        }
        self.complete_send(state, send, caller, may_forward)
    }

    /// FFA_MEM_FRAG_TX: the next fragment of a pending send from the same sender (w4 sender
    /// ID: 0 from a local endpoint, 0 or the sender from the normal world). An unknown handle
    /// is INVALID_PARAMETERS; any error with a known one ends that send.
    pub(super) fn send_fragment(
        &self,
        caller: &Caller,
        handle: MemoryHandle,
        fragment_length: u32,
        endpoint: EndpointId,
        may_forward: bool,
    ) -> Result<Progress, FfaError> {
        let owner = caller.context.endpoint;
        if caller.local && endpoint.0 != 0 {
            return Err(FfaError::InvalidParameters);
        }
        let mut mailboxes = self.mailboxes.lock();
        let mut guard = self.memory.lock();
        let state = guard.as_mut().ok_or(FfaError::NotSupported)?;
        let index = state
            .sends
            .iter()
            .position(|send| {
                send.pending.handle() == handle
                    && send.mailbox == owner
                    && send.local == caller.local
                    && (caller.local || endpoint.0 == 0 || endpoint == send.sender)
            })
            .ok_or(FfaError::InvalidParameters)?;
        let mut send = state.sends.swap_remove(index);
        let pending = send.pending;
        let fragment = fragment_length as usize;
        let result = match mailboxes.find(owner).copied() {
            Some(mailbox)
                if fragment != 0
                    && fragment % CONSTITUENT_SIZE == 0
                    && fragment <= buffer_size(mailbox.page_count) =>
            {
                let MemoryState { ledger, platform, copy, .. } = &mut *state;
                read_pieces(&mut mailboxes.memory, mailbox.transmit, 0, fragment, copy, |bytes| {
                    let constituents = send.reader.next_fragment(bytes)?;
                    add_constituents(ledger, platform, &mut send, constituents.iter())
                })
            }
            _ => Err(FfaError::InvalidParameters),
        };
        drop(mailboxes);
        if let Err(error) = result {
            let _ = state.ledger.abort(pending);
            return Err(error);
        }
        self.complete_send(state, send, caller, may_forward)
    }

    /// After a fragment: FFA_MEM_FRAG_RX while bytes are missing, else the commit (and, for
    /// the forwarder, forwarding). On error the pending send is gone.
    fn complete_send(
        &self,
        state: &mut MemoryState<S>,
        mut send: FragmentedSend,
        caller: &Caller,
        may_forward: bool,
    ) -> Result<Progress, FfaError> {
        let pending = send.pending;
        if !send.reader.is_complete() {
            let offset = send.reader.received();
            let endpoint = send.sender;
            if let Err(refused) = state.sends.push(send) {
                let _ = state.ledger.abort(refused.pending);
                return Err(FfaError::NoMemory);
            }
            return Ok(Progress::Answer(Return::MemFragRx {
                handle: pending.handle().0,
                offset,
                endpoint,
            }));
        }
        let checked = finish_constituents(&mut state.ledger, &mut send)
            .and_then(|()| send.reader.clone().finish());
        if let Err(error) = checked {
            let _ = state.ledger.abort(pending);
            return Err(error);
        }
        if send.forward {
            if !may_forward {
                let _ = state.ledger.abort(pending);
                return Err(FfaError::NotSupported);
            }
            if let Err(error) = self.check_forwarding_room(state, send.receiver_count) {
                let _ = state.ledger.abort(pending);
                return Err(error);
            }
        }
        let handle = state.ledger.commit(pending, &mut state.platform)?;
        if send.forward {
            return self.start_forwarding(state, &send, handle, caller.context);
        }
        Ok(Progress::Answer(Return::success(SuccessArgs::handle(handle.0))))
    }
}

/// Copies `[start, end)` of a mailbox buffer into `copy` piece by piece (each a whole number of
/// constituents, at most [`COPY_SIZE`]) and hands each piece to `take`.
fn read_pieces<M: EndpointMemory>(
    memory: &mut M,
    buffer: M::Buffer,
    start: usize,
    end: usize,
    copy: &mut [u8],
    mut take: impl FnMut(&[u8]) -> Result<(), FfaError>,
) -> Result<(), FfaError> {
    let mut offset = start;
    while offset < end {
        let length = (end - offset).min(COPY_SIZE);
        let piece = copy.get_mut(..length).ok_or(FfaError::InvalidParameters)?;
        memory.read(buffer, offset, piece)?;
        take(piece)?;
        offset += length;
    }
    Ok(())
}
