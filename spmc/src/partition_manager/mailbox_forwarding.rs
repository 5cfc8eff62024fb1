//! Forwarder: a VM's RX/TX buffers registered with the SPMC (the forwarded FFA_RXTX_MAP with
//! the endpoint RX/TX descriptor), and the RX ownership that then goes between the hypervisor
//! and the SPMC: FFA_RX_ACQUIRE before the forwarder writes into such a buffer, FFA_RX_RELEASE
//! passed on when the VM gives its buffer back.

use ffa_core::call::Return;
use ffa_core::rxtx::{EndpointRxTxDescriptor, ForwardedBuffer, RxtxMapArgs};
use ffa_core::{Call, EndpointId, FfaError, SuccessArgs, VcpuId};

use super::state::{Party, Scheduler, State};
use super::{
    Caller, ContextId, Delivery, EndpointMemory, MemoryPlatform, PartitionManager, Transfer,
};

/// A call the forwarder made to the SPMC about a VM's mailbox, waiting for the answer on
/// `cpu`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PendingMailboxCall {
    pub(crate) cpu: u16,
    pub(crate) call: MailboxCall,
}

/// What the forwarder asked the SPMC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MailboxCall {
    /// [`PartitionManager::register_vm_mailbox`]: the platform's scheduler gets the answer.
    Register(EndpointId),
    /// FFA_RX_ACQUIRE of `vm`'s RX buffer before `context`'s call (`registers`) writes into
    /// it; the call runs again once the SPMC agrees (BUSY if it does not).
    Acquire { vm: EndpointId, context: ContextId, registers: [u64; 18] },
    /// The VM's own FFA_RXTX_MAP (`context` made it) mapped its buffers here; the forwarder
    /// registers them with the SPMC before the VM gets its answer.
    MapForVm { vm: EndpointId, context: ContextId },
    /// The VM's own FFA_RXTX_UNMAP: the forwarder unmaps its registered buffers at the SPMC
    /// first, then here.
    UnmapForVm { vm: EndpointId, context: ContextId },
    /// FFA_NOTIFICATION_BITMAP_CREATE for `vm` at the SPMC before `context`'s call
    /// (`registers`, a BIND of a secure sender) is passed on; the call runs again once the
    /// bitmap exists.
    CreateBitmap { vm: EndpointId, context: ContextId, registers: [u64; 18] },
}

/// How the other world's answer to a mailbox call goes on.
pub(crate) enum MailboxOutcome {
    /// This runs next.
    Deliver(Delivery),
    /// The acquired call runs again from `context` with these registers.
    Again(ContextId, [u64; 18]),
}

impl<
        M: EndpointMemory,
        const ENDPOINTS: usize,
        const VCPUS: usize,
        const CPUS: usize,
        S: MemoryPlatform,
    > PartitionManager<M, ENDPOINTS, VCPUS, CPUS, S>
{
    /// Forwarder: registers the RX/TX buffers the local VM `vm` mapped (FFA_RXTX_MAP) with the
    /// SPMC, so that partitions' messages to it can be delivered there: FFA_RXTX_MAP with x1 =
    /// x2 = x3 = 0 and the endpoint RX/TX descriptor (the buffers' physical addresses, through
    /// [`MemoryPlatform::translate`]) in the forward buffer, on `cpu`
    /// ([`Transfer::OtherWorld`]). The SPMC's answer comes back through [`Self::handle`] and
    /// goes to the platform's scheduler ([`Transfer::Scheduler`] with the answer). From then
    /// on the forwarder takes the VM's RX buffer with FFA_RX_ACQUIRE before writing into it,
    /// and passes the VM's FFA_RX_RELEASE on to the SPMC; [`Self::destroy_vm`] unmaps it there.
    ///
    /// Errors: SPMC role, no memory sharing, or a forward buffer too small for the
    /// descriptor: NOT_SUPPORTED; not a local VM (or destroyed), or `cpu` out of range:
    /// INVALID_PARAMETERS; no buffers mapped, registered already, a buffer not physically
    /// contiguous, or a local context occupies `cpu`: DENIED; another call of this kind or a
    /// lifecycle pass is running: BUSY.
    pub fn register_vm_mailbox(&self, vm: EndpointId, cpu: u16) -> Result<Delivery, FfaError> {
        let mut scheduler = self.lifecycle_entry(vm, cpu)?;
        if self.is_destroyed(vm) {
            return Err(FfaError::InvalidParameters);
        }
        self.write_vm_descriptor(vm)?;
        let pending = PendingMailboxCall { cpu, call: MailboxCall::Register(vm) };
        scheduler.lifecycle.mailbox_calls.push(pending).map_err(|_| FfaError::Busy)?;
        let call = Call::RxtxMap { buffers: RxtxMapArgs::Forwarded, is_64: true };
        Ok(Delivery {
            to: ContextId { endpoint: self.settings.spm_id, vcpu: VcpuId(cpu) },
            transfer: Transfer::OtherWorld,
            registers: call.encode(self.settings.version),
        })
    }

    /// Writes the endpoint RX/TX descriptor of `vm`'s mapped buffers (physical addresses,
    /// through [`MemoryPlatform::translate`]) at the start of the forward buffer. Errors as
    /// [`Self::register_vm_mailbox`] (nothing mapped or registered already: DENIED).
    fn write_vm_descriptor(&self, vm: EndpointId) -> Result<(), FfaError> {
        let (tx_address, rx_address, page_count, registered) = {
            let mailboxes = self.mailboxes.lock();
            let mailbox = mailboxes.find(vm).ok_or(FfaError::Denied)?;
            (
                mailbox.transmit_address,
                mailbox.receive_address,
                mailbox.page_count,
                mailbox.registered,
            )
        };
        if registered {
            return Err(FfaError::Denied);
        }
        let mut guard = self.memory.lock();
        let state = guard.as_mut().ok_or(FfaError::NotSupported)?;
        if state.platform.forward_buffer_size() < EndpointRxTxDescriptor::WRITTEN_SIZE {
            return Err(FfaError::NotSupported);
        }
        let mut physical = |address: u64| -> Result<ForwardedBuffer, FfaError> {
            let run = state.platform.translate(vm, address)?;
            if run.page_count < u64::from(page_count) {
                return Err(FfaError::Denied);
            }
            Ok(ForwardedBuffer { address: run.address, page_count })
        };
        let descriptor = EndpointRxTxDescriptor {
            endpoint: vm,
            rx: physical(rx_address)?,
            tx: physical(tx_address)?,
        };
        let mut bytes = [0u8; EndpointRxTxDescriptor::WRITTEN_SIZE];
        descriptor.write(&mut bytes)?;
        state.platform.write_forward_buffer(0, &bytes)
    }

    /// Forwarder: a local VM's FFA_RXTX_MAP. The buffers are mapped here (the VM's answer);
    /// when that succeeds and the forwarder can describe them to the SPMC (memory sharing
    /// with a forward buffer, physically contiguous buffers), it registers them there too
    /// (FFA_RXTX_MAP with the endpoint RX/TX descriptor) while the VM waits, so that
    /// partitions' messages and retrieve responses can reach the VM. The VM gets SUCCESS
    /// either way: an SPMC that refuses leaves the buffers unregistered
    /// ([`Self::vm_mailbox_registered`]), and the platform may try again with
    /// [`Self::register_vm_mailbox`].
    pub(super) fn forwarder_rxtx_map(
        &self,
        scheduler: &mut Scheduler<ENDPOINTS, VCPUS>,
        caller: &Caller,
        buffers: RxtxMapArgs,
    ) -> Delivery {
        let answer = self.rxtx_map(caller, buffers);
        let vm = caller.context.endpoint;
        if !matches!(answer, Return::Success { .. })
            || scheduler.lifecycle.mailbox_calls.is_full()
            || self.write_vm_descriptor(vm).is_err()
        {
            return Self::reply(caller, answer);
        }
        let pending = PendingMailboxCall {
            cpu: caller.cpu,
            call: MailboxCall::MapForVm { vm, context: caller.context },
        };
        if scheduler.lifecycle.mailbox_calls.push(pending).is_err() {
            return Self::reply(caller, answer);
        }
        let call = Call::RxtxMap { buffers: RxtxMapArgs::Forwarded, is_64: true };
        self.forward(scheduler, caller, self.settings.spm_id, call)
    }

    /// Forwarder: a local VM unmaps buffers that are registered with the SPMC: FFA_RXTX_UNMAP
    /// for the VM goes to the SPMC first (the VM waits), then the buffers are unmapped here.
    /// `None` when this is not such a call (it is then handled here alone). BUSY when no
    /// more calls to the SPMC can be tracked.
    pub(super) fn forward_rxtx_unmap(
        &self,
        scheduler: &mut Scheduler<ENDPOINTS, VCPUS>,
        caller: &Caller,
        vm_id: EndpointId,
    ) -> Option<Delivery> {
        if !self.is_forwarder() || !caller.local || vm_id.0 != 0 {
            return None;
        }
        let vm = caller.context.endpoint;
        if !self.vm_mailbox_registered(vm) {
            return None;
        }
        let pending = PendingMailboxCall {
            cpu: caller.cpu,
            call: MailboxCall::UnmapForVm { vm, context: caller.context },
        };
        if scheduler.lifecycle.mailbox_calls.push(pending).is_err() {
            return Some(Self::reply(caller, Return::error(FfaError::Busy)));
        }
        Some(self.forward(scheduler, caller, self.settings.spm_id, Call::RxtxUnmap { vm_id: vm }))
    }

    /// Whether `vm`'s buffers are registered with the SPMC.
    pub fn vm_mailbox_registered(&self, vm: EndpointId) -> bool {
        self.mailboxes.lock().find(vm).is_some_and(|mailbox| mailbox.registered)
    }

    /// Forwarder: whether the forwarder must take `vm`'s RX buffer from the SPMC before
    /// writing into it (registered, free here, not acquired yet).
    pub(super) fn needs_rx_acquire(&self, vm: EndpointId) -> bool {
        self.is_forwarder()
            && self.mailboxes.lock().find(vm).is_some_and(|mailbox| {
                mailbox.registered && !mailbox.acquired && !mailbox.receive_held
            })
    }

    /// Whether `call` from a local VM writes into its own RX buffer (and so may need it from
    /// the SPMC first).
    pub(super) fn writes_own_rx(call: &Call) -> bool {
        match call {
            Call::PartitionInfoGet { flags, .. } => {
                !flags.contains(ffa_core::partition_info::PartitionInfoGetFlags::COUNT_ONLY)
            }
            Call::MemRetrieveReq { .. } | Call::MemFragRx { .. } => true,
            _ => false,
        }
    }

    /// Blocks `caller` while the SPMC is asked for `vm`'s RX buffer; `call` runs again when
    /// it agrees. BUSY to the caller when no more such calls can be tracked.
    pub(super) fn acquire_first(
        &self,
        scheduler: &mut Scheduler<ENDPOINTS, VCPUS>,
        caller: &Caller,
        vm: EndpointId,
        call: &Call,
    ) -> Delivery {
        let registers = call.encode(caller.version);
        let pending = PendingMailboxCall {
            cpu: caller.cpu,
            call: MailboxCall::Acquire { vm, context: caller.context, registers },
        };
        if scheduler.lifecycle.mailbox_calls.push(pending).is_err() {
            return Self::reply(caller, Return::error(FfaError::Busy));
        }
        self.forward(scheduler, caller, self.settings.spm_id, Call::RxAcquire { vm_id: vm })
    }

    /// Forwarder: a VM whose buffers are registered with the SPMC gives its RX buffer back:
    /// the forwarder's own hold ends here and FFA_RX_RELEASE for the VM goes to the SPMC
    /// (which ends the hypervisor's acquisition, or the VM's ownership of a message the SPMC
    /// wrote); its answer is the VM's. DENIED at once when the forwarder holds the buffer
    /// from the SPMC but the VM owns nothing in it. `None` when this is not such a call.
    pub(super) fn forward_rx_release(
        &self,
        scheduler: &mut Scheduler<ENDPOINTS, VCPUS>,
        caller: &Caller,
        vm_id: EndpointId,
    ) -> Option<Delivery> {
        if !self.is_forwarder() || !caller.local || vm_id.0 != 0 {
            return None;
        }
        let vm = caller.context.endpoint;
        {
            let mut mailboxes = self.mailboxes.lock();
            let mailbox = mailboxes.find_mut(vm).filter(|mailbox| mailbox.registered)?;
            if mailbox.acquired && !mailbox.receive_held {
                // The forwarder holds the buffer and wrote nothing the VM owns (matrix D14).
                return Some(Self::reply(caller, Return::error(FfaError::Denied)));
            }
            mailbox.receive_held = false;
            mailbox.acquired = false;
        }
        Some(self.forward(scheduler, caller, self.settings.spm_id, Call::RxRelease { vm_id: vm }))
    }

    /// The other world answered on `cpu` where a mailbox call waits. `None` if none waits.
    pub(super) fn mailbox_call_result(
        &self,
        scheduler: &mut Scheduler<ENDPOINTS, VCPUS>,
        cpu: u16,
        registers: &[u64; 18],
    ) -> Option<MailboxOutcome> {
        if !self.is_forwarder() {
            return None;
        }
        let calls = &mut scheduler.lifecycle.mailbox_calls;
        let index = calls.iter().position(|pending| pending.cpu == cpu)?;
        let pending = calls.swap_remove(index);
        let answer = Call::decode(registers, self.settings.version)
            .and_then(Return::from_call)
            .unwrap_or_else(Return::error);
        let agreed = matches!(answer, Return::Success { .. });
        match pending.call {
            MailboxCall::Register(vm) => {
                if agreed {
                    if let Some(mailbox) = self.mailboxes.lock().find_mut(vm) {
                        mailbox.registered = true;
                    }
                }
                Some(MailboxOutcome::Deliver(Delivery {
                    to: ContextId { endpoint: self.settings.own_id, vcpu: VcpuId(cpu) },
                    transfer: Transfer::Scheduler,
                    registers: answer.encode(self.settings.version),
                }))
            }
            MailboxCall::Acquire { vm, context, registers } => {
                if !agreed {
                    let busy = Return::error(FfaError::Busy);
                    return Some(MailboxOutcome::Deliver(self.give_back(
                        scheduler,
                        Party::Local(context),
                        cpu,
                        busy,
                    )));
                }
                if let Some(mailbox) = self.mailboxes.lock().find_mut(vm) {
                    mailbox.acquired = true;
                }
                if let Some(waiting) = scheduler.context_mut(context) {
                    if let State::Blocked { return_to, .. } = waiting.state {
                        waiting.state = State::Running { cpu, return_to };
                    }
                }
                Some(MailboxOutcome::Again(context, registers))
            }
            MailboxCall::MapForVm { vm, context } => {
                if agreed {
                    if let Some(mailbox) = self.mailboxes.lock().find_mut(vm) {
                        mailbox.registered = true;
                    }
                }
                // The VM's own map succeeded here; the registration is the forwarder's.
                let success = Return::success(SuccessArgs::EMPTY);
                Some(MailboxOutcome::Deliver(self.give_back(
                    scheduler,
                    Party::Local(context),
                    cpu,
                    success,
                )))
            }
            MailboxCall::UnmapForVm { vm, context } => {
                // INVALID_PARAMETERS: the SPMC has nothing mapped for the VM (any more).
                let unmapped = agreed
                    || matches!(answer, Return::Error { error: FfaError::InvalidParameters, .. });
                let result = if unmapped { self.unmap_mailbox(vm) } else { answer };
                Some(MailboxOutcome::Deliver(self.give_back(
                    scheduler,
                    Party::Local(context),
                    cpu,
                    result,
                )))
            }
            MailboxCall::CreateBitmap { vm, context, registers } => {
                // DENIED: the SPMC has the bitmap already.
                let exists =
                    agreed || matches!(answer, Return::Error { error: FfaError::Denied, .. });
                if !exists {
                    return Some(MailboxOutcome::Deliver(self.give_back(
                        scheduler,
                        Party::Local(context),
                        cpu,
                        answer,
                    )));
                }
                self.set_bitmap_at_spmc(vm, true);
                if let Some(waiting) = scheduler.context_mut(context) {
                    if let State::Blocked { return_to, .. } = waiting.state {
                        waiting.state = State::Running { cpu, return_to };
                    }
                }
                Some(MailboxOutcome::Again(context, registers))
            }
        }
    }
}
