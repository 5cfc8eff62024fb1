//! Forwarder: transactions with a borrower in the secure world. The local record (with
//! physical addresses, committed so the VM loses access for LEND and DONATE) is written out as
//! a descriptor into the forwarder's own TX buffer and sent to the SPMC, fragment by fragment;
//! the SPMC's handle is what the VM gets. Reclaims of such handles go to the SPMC, and the VM
//! regains access when it agrees.

use ffa_core::call::{MemoryTransaction, ReclaimFlags as ReclaimRegister, Return};
use ffa_core::memory::{
    MemoryHandle, ReclaimFlags, TransactionFields, TransactionFlags, TransactionType,
};
use ffa_core::{Call, EndpointId, FfaError, SuccessArgs, VcpuId};

use super::memory::{
    ForwardedTransaction, Forwarding, FragmentedSend, InFlight, MemoryState, Progress,
};
use super::memory_descriptor::{header_length, layout_of, write_header, write_ranges};
use super::state::{Party, Scheduler};
use super::translation::MemoryPlatform;
use super::{ContextId, Delivery, EndpointMemory, PartitionManager, Transfer};

impl<
        M: EndpointMemory,
        const ENDPOINTS: usize,
        const VCPUS: usize,
        const CPUS: usize,
        S: MemoryPlatform,
    > PartitionManager<M, ENDPOINTS, VCPUS, CPUS, S>
{
    /// Checks, before anything changes, that a transaction with `receiver_count` borrowers
    /// can be forwarded: a forward buffer that holds its header part (else NOT_SUPPORTED), and
    /// room to track the call and the transaction (else NO_MEMORY).
    pub(super) fn check_forwarding_room(
        &self,
        state: &MemoryState<S>,
        receiver_count: usize,
    ) -> Result<(), FfaError> {
        let layout = layout_of(self.settings.version);
        if state.platform.forward_buffer_size() < header_length(layout, receiver_count) {
            return Err(FfaError::NotSupported);
        }
        let forwarding = state.sends.iter().filter(|send| send.forward).count()
            + state
                .in_flight
                .iter()
                .filter(|flight| matches!(flight.operation, Forwarding::Send { .. }))
                .count();
        if state.in_flight.is_full()
            || state.forwarded.len() + forwarding >= state.forwarded.capacity()
        {
            return Err(FfaError::NoMemory);
        }
        Ok(())
    }

    /// The local record `local` is committed: writes the first fragment of its descriptor
    /// into the forward buffer and returns the call that sends it. On error the record is
    /// reclaimed (the sender has its pages back) and nothing is forwarded.
    pub(super) fn start_forwarding(
        &self,
        state: &mut MemoryState<S>,
        send: &FragmentedSend,
        local: MemoryHandle,
        context: ContextId,
    ) -> Result<Progress, FfaError> {
        match self.write_first_forwarded_fragment(state, send, local, context) {
            Ok(call) => Ok(Progress::Forward(call)),
            Err(error) => {
                let _ = state.ledger.reclaim(
                    send.sender,
                    local,
                    ReclaimFlags::default(),
                    &mut state.platform,
                );
                Err(error)
            }
        }
    }

    fn write_first_forwarded_fragment(
        &self,
        state: &mut MemoryState<S>,
        send: &FragmentedSend,
        local: MemoryHandle,
        context: ContextId,
    ) -> Result<Call, FfaError> {
        let layout = layout_of(self.settings.version);
        let MemoryState { ledger, platform, copy, receivers, in_flight, .. } = state;
        receivers.clear();
        for access in ledger.receivers(local)? {
            receivers.push(access).map_err(|_| FfaError::NoMemory)?;
        }
        let info = ledger.hypervisor_retrieve(local)?;
        let fields = TransactionFields {
            sender: info.sender,
            // The ledger reports where the memory lives; a send carries no NS bit (MM11).
            attributes: ffa_core::memory::MemoryRegionAttributes {
                non_secure: false,
                ..info.attributes
            },
            flags: TransactionFlags(info.flags.0 & TransactionFlags::CLEAR_MEMORY),
            handle: MemoryHandle(0),
            tag: info.tag,
        };
        let header_end =
            write_header(copy, layout, &fields, receivers, info.page_count, info.range_count)?;
        let size = platform.forward_buffer_size();
        platform.write_forward_buffer(0, copy.get(..header_end).ok_or(FfaError::NoMemory)?)?;
        let fit = size.saturating_sub(header_end) / super::memory_descriptor::CONSTITUENT_SIZE;
        let count = fit.min(info.range_count as usize);
        let mut cursor = ledger.ranges(local)?;
        let written = write_ranges(ledger, &mut cursor, count, header_end, &mut |at, bytes| {
            platform.write_forward_buffer(at, bytes)
        })?;
        let constituents = info.range_count.checked_mul(16).ok_or(FfaError::NoMemory)?;
        let total = u32::try_from(header_end)
            .ok()
            .and_then(|length| length.checked_add(constituents))
            .ok_or(FfaError::NoMemory)?;
        let sent = u32::try_from(header_end + written * 16).map_err(|_| FfaError::NoMemory)?;
        let flight = InFlight {
            context,
            operation: Forwarding::Send { local, sender: send.sender, cursor, sent, total },
        };
        in_flight.push(flight).map_err(|_| FfaError::NoMemory)?;
        let transaction =
            MemoryTransaction { total_length: total, fragment_length: sent, buffer: None };
        let is_64 = send.is_64;
        Ok(match send.call {
            TransactionType::Share => Call::MemShare { transaction, is_64 },
            TransactionType::Lend => Call::MemLend { transaction, is_64 },
            TransactionType::Donate => Call::MemDonate { transaction, is_64 },
        })
    }

    /// Forwarder FFA_MEM_RECLAIM of a handle the other world allocated: goes there if the
    /// caller sent that transaction (unknown: INVALID_PARAMETERS, someone else's: DENIED).
    pub(super) fn forward_reclaim(
        &self,
        state: &mut MemoryState<S>,
        context: ContextId,
        handle: MemoryHandle,
        flags: ReclaimRegister,
    ) -> Result<Progress, FfaError> {
        let entry = state
            .forwarded
            .iter()
            .find(|entry| entry.remote == handle)
            .copied()
            .ok_or(FfaError::InvalidParameters)?;
        if entry.sender != context.endpoint {
            return Err(FfaError::Denied);
        }
        let operation =
            Forwarding::Reclaim { remote: handle, local: entry.local, sender: entry.sender };
        state.in_flight.push(InFlight { context, operation }).map_err(|_| FfaError::NoMemory)?;
        Ok(Progress::Forward(Call::MemReclaim { handle: handle.0, flags }))
    }

    /// The other world answered on `cpu` while `blocked` waits on it: if `blocked` is in a
    /// forwarded memory call, the answer continues that call (the next fragment goes out, or
    /// the call ends and `blocked` runs again); otherwise `None`.
    pub(super) fn forwarded_memory_result(
        &self,
        scheduler: &mut Scheduler<ENDPOINTS, VCPUS>,
        blocked: ContextId,
        cpu: u16,
        registers: &[u64; 18],
    ) -> Option<Delivery> {
        let mut guard = self.memory.lock();
        let state = guard.as_mut()?;
        let index = state.in_flight.iter().position(|flight| flight.context == blocked)?;
        let flight = state.in_flight.swap_remove(index);
        let version = self.settings.version;
        let answer = Call::decode(registers, version)
            .and_then(Return::from_call)
            .unwrap_or_else(Return::error);
        let outcome = match flight.operation {
            Forwarding::Send { local, sender, mut cursor, sent, total } => match answer {
                Return::Success { args, .. } => {
                    let remote = MemoryHandle(args.to_handle());
                    let entry = ForwardedTransaction { remote, local, sender };
                    // Room was reserved before the transaction was committed.
                    let _ = state.forwarded.push(entry);
                    Return::success(SuccessArgs::handle(remote.0))
                }
                Return::MemFragRx { handle, offset, .. } if offset == sent && sent < total => {
                    match self.next_forwarded_fragment(state, &mut cursor, sent, total) {
                        Ok(length) => {
                            let operation = Forwarding::Send {
                                local,
                                sender,
                                cursor,
                                sent: sent + length,
                                total,
                            };
                            // The entry was just taken out, so there is room for it.
                            let _ = state.in_flight.push(InFlight { context: blocked, operation });
                            let call = Call::MemFragTx {
                                handle,
                                fragment_length: length,
                                endpoint: sender,
                            };
                            return Some(Delivery {
                                to: ContextId { endpoint: self.settings.spm_id, vcpu: VcpuId(cpu) },
                                transfer: Transfer::OtherWorld,
                                registers: call.encode(version),
                            });
                        }
                        Err(error) => {
                            Self::undo_forwarded_send(state, sender, local);
                            Return::error(error)
                        }
                    }
                }
                other => {
                    Self::undo_forwarded_send(state, sender, local);
                    Return::error(match other {
                        Return::Error { error, .. } => error,
                        _ => FfaError::Aborted,
                    })
                }
            },
            Forwarding::Reclaim { remote, local, sender } => match answer {
                Return::Success { .. } => {
                    state.forwarded.retain(|entry| entry.remote != remote);
                    match state.ledger.reclaim(
                        sender,
                        local,
                        ReclaimFlags::default(),
                        &mut state.platform,
                    ) {
                        Ok(()) => Return::success(SuccessArgs::EMPTY),
                        Err(error) => Return::error(error),
                    }
                }
                Return::Error { error, .. } => Return::error(error),
                _ => Return::error(FfaError::Aborted),
            },
        };
        drop(guard);
        Some(self.give_back(scheduler, Party::Local(blocked), cpu, outcome))
    }

    /// Writes the next constituents into the forward buffer from its start; returns the
    /// fragment length.
    fn next_forwarded_fragment(
        &self,
        state: &mut MemoryState<S>,
        cursor: &mut memory_sharing::RangeCursor,
        sent: u32,
        total: u32,
    ) -> Result<u32, FfaError> {
        let MemoryState { ledger, platform, .. } = state;
        let size = platform.forward_buffer_size();
        let remaining = (total - sent) as usize / super::memory_descriptor::CONSTITUENT_SIZE;
        let count = remaining.min(size / super::memory_descriptor::CONSTITUENT_SIZE);
        let written = write_ranges(ledger, cursor, count, 0, &mut |at, bytes| {
            platform.write_forward_buffer(at, bytes)
        })?;
        if written == 0 {
            return Err(FfaError::NoMemory);
        }
        u32::try_from(written * super::memory_descriptor::CONSTITUENT_SIZE)
            .map_err(|_| FfaError::NoMemory)
    }

    /// The other world refused a forwarded send: the local record ends and the sender has its
    /// pages back.
    fn undo_forwarded_send(state: &mut MemoryState<S>, sender: EndpointId, local: MemoryHandle) {
        let _ = state.ledger.reclaim(sender, local, ReclaimFlags::default(), &mut state.platform);
    }
}
