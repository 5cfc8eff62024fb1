//! Notifications in both roles: FFA_NOTIFICATION_BITMAP_CREATE/DESTROY, BIND, UNBIND, SET and
//! GET, with what the forwarder does not hold passed on to the SPMC (matrix N01-N06, N08).

use ffa_core::call::Return;
use ffa_core::notification::{BindFlags, GetFlags, NotificationBitmap, SetFlags};
use ffa_core::{Call, EndpointId, FfaError, SuccessArgs, VcpuId};

use super::notification_state::{ForwardedGet, Receiver, SenderWorld};
use super::state::Scheduler;
use super::{Caller, Delivery, EndpointMemory, PartitionManager, Role};
use crate::manifest::ExceptionLevel;

/// Where an endpoint named as the other party of a call lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Peer {
    /// One of this manager's endpoints.
    Local,
    /// An endpoint of the other world.
    Remote,
}

/// What a checked notification call comes to.
#[derive(Debug, Clone, Copy)]
enum Action {
    /// Answer the caller.
    Answer(Return),
    /// Forwarder: pass the call to the SPMC, which holds that part of the state.
    Forward(Call),
}

fn success() -> Result<Action, FfaError> {
    Ok(Action::Answer(Return::success(SuccessArgs::EMPTY)))
}

/// The bitmaps of a VM's notifications that the SPMC holds (the forwarder asks it for them).
const HELD_BY_SPMC: GetFlags = GetFlags::SP.union(GetFlags::SPM_FRAMEWORK);

impl<
        M: EndpointMemory,
        const ENDPOINTS: usize,
        const VCPUS: usize,
        const CPUS: usize,
        S: super::MemoryPlatform,
    > PartitionManager<M, ENDPOINTS, VCPUS, CPUS, S>
{
    /// Every `Call::Notification*` call except INFO_GET comes here from `handle`.
    pub(super) fn notification_call(
        &self,
        scheduler: &mut Scheduler<ENDPOINTS, VCPUS>,
        caller: &Caller,
        call: Call,
    ) -> Delivery {
        // Matrix D11: what FFA_FEATURES does not offer this caller is NOT_SUPPORTED, before
        // any argument is looked at.
        if self.notification_features(caller, call.function_id()) == Some(false) {
            return Self::reply(caller, Return::error(FfaError::NotSupported));
        }
        if let Some(vm) = self.needs_bitmap_at_spmc(caller, &call) {
            return self.create_bitmap_first(scheduler, caller, vm, &call);
        }
        let action = match call {
            Call::NotificationBitmapCreate { vm_id, vcpu_count } => {
                self.bitmap_create(caller, vm_id, vcpu_count)
            }
            Call::NotificationBitmapDestroy { vm_id } => self.bitmap_destroy(caller, vm_id),
            Call::NotificationBind { sender, receiver, flags, bitmap } => {
                self.bind(caller, call, sender, receiver, flags, bitmap)
            }
            Call::NotificationUnbind { sender, receiver, bitmap } => {
                self.unbind(caller, call, sender, receiver, bitmap)
            }
            Call::NotificationSet { sender, receiver, flags, bitmap } => {
                self.set(caller, call, sender, receiver, flags, bitmap)
            }
            Call::NotificationGet { receiver, vcpu, flags } => {
                self.get(caller, receiver, vcpu, flags)
            }
            Call::NotificationInfoGet { is_64 } => self.info_get(caller, is_64).map(Action::Answer),
            _ => Err(FfaError::NotSupported),
        };
        match action {
            Ok(Action::Answer(answer)) => Self::reply(caller, answer),
            Ok(Action::Forward(call)) => {
                self.forward(scheduler, caller, self.settings.spm_id, call)
            }
            Err(error) => Self::reply(caller, Return::error(error)),
        }
    }

    /// Forwarder: the VM whose bitmap the SPMC must hold before `call` from it can be passed
    /// on (a BIND of a secure sender, a GET of the bitmaps the SPMC holds), when it does not
    /// hold one yet. Malformed calls are left to the checks that follow.
    fn needs_bitmap_at_spmc(&self, caller: &Caller, call: &Call) -> Option<EndpointId> {
        if !self.is_forwarder() || !caller.local {
            return None;
        }
        let vm = caller.context.endpoint;
        let needs = match call {
            Call::NotificationBind { sender, receiver, .. } => {
                *receiver == vm && sender.is_secure() && *sender != EndpointId::SPMD
            }
            Call::NotificationGet { receiver, flags, .. } => {
                *receiver == vm && flags.intersects(HELD_BY_SPMC)
            }
            _ => false,
        };
        (needs && self.has_notifications(vm) && !self.vm_bitmap_at_spmc(vm)).then_some(vm)
    }

    /// Forwarder: asks the SPMC to create `vm`'s bitmap (FFA_NOTIFICATION_BITMAP_CREATE with
    /// the VM's vCPU count) while the caller waits; `call` runs again once it exists (the
    /// caller gets the SPMC's error if it cannot be created). BUSY when no more calls to the
    /// SPMC can be tracked.
    fn create_bitmap_first(
        &self,
        scheduler: &mut Scheduler<ENDPOINTS, VCPUS>,
        caller: &Caller,
        vm: EndpointId,
        call: &Call,
    ) -> Delivery {
        let vcpu_count = self
            .description(vm)
            .map_or(1, |description| u32::from(description.execution_context_count));
        let pending = super::mailbox_forwarding::PendingMailboxCall {
            cpu: caller.cpu,
            call: super::mailbox_forwarding::MailboxCall::CreateBitmap {
                vm,
                context: caller.context,
                registers: call.encode(caller.version),
            },
        };
        if scheduler.lifecycle.mailbox_calls.push(pending).is_err() {
            return Self::reply(caller, Return::error(FfaError::Busy));
        }
        let create = Call::NotificationBitmapCreate { vm_id: vm, vcpu_count };
        self.forward(scheduler, caller, self.settings.spm_id, create)
    }

    /// SPMC: the endpoints of the other world (VMs) whose notification bitmap this manager
    /// holds (created with FFA_NOTIFICATION_BITMAP_CREATE and not destroyed yet).
    pub fn remote_notification_bitmaps(&self) -> heapless::Vec<EndpointId, ENDPOINTS> {
        self.notifications.lock().remote.iter().map(|receiver| receiver.id).collect()
    }

    /// Forwarder: whether the SPMC holds a notification bitmap for the local VM `vm` (created
    /// when the VM first needed one there; destroyed by [`Self::destroy_vm`]).
    pub fn vm_bitmap_at_spmc(&self, vm: EndpointId) -> bool {
        self.local_index(vm)
            .and_then(|index| self.bitmaps_at_spmc.get(index))
            .is_some_and(|flag| flag.load(core::sync::atomic::Ordering::Acquire))
    }

    pub(super) fn set_bitmap_at_spmc(&self, vm: EndpointId, exists: bool) {
        if let Some(flag) = self.local_index(vm).and_then(|index| self.bitmaps_at_spmc.get(index)) {
            flag.store(exists, core::sync::atomic::Ordering::Release);
        }
    }

    /// Where `id` lives when a call names it as the other party; the SPMD, either manager's
    /// own ID and unknown endpoints of this world are INVALID_PARAMETERS. Endpoints of the
    /// other world are taken on trust: the other side's manager checks them.
    pub(super) fn peer(&self, id: EndpointId) -> Result<Peer, FfaError> {
        if id == EndpointId::SPMD || id == self.settings.own_id || id == self.settings.spm_id {
            return Err(FfaError::InvalidParameters);
        }
        if self.is_local(id) {
            Ok(Peer::Local)
        } else if id.is_secure() != self.effective_role().local_is_secure() {
            // SPMC: a VM the hypervisor said is destroyed is no endpoint any more.
            if self.effective_role() == Role::Spmc && self.is_remote_destroyed(id) {
                return Err(FfaError::InvalidParameters);
            }
            Ok(Peer::Remote)
        } else {
            Err(FfaError::InvalidParameters)
        }
    }

    /// Whether a local endpoint receives notifications (its manifest says so).
    fn has_notifications(&self, endpoint: EndpointId) -> bool {
        self.description(endpoint).is_some_and(|description| description.notification_support)
    }

    /// Whether the notification pending interrupt is offered to (and raised for) a local
    /// endpoint: S-EL1 partitions (SPMC role) and VMs (forwarder), when the platform assigned
    /// an interrupt ID (matrix D12).
    pub(super) fn receives_notification_pending(&self, endpoint: EndpointId) -> bool {
        if self.settings.interrupts.notification_pending.is_none() {
            return false;
        }
        let Some(description) = self.description(endpoint) else { return false };
        match self.effective_role() {
            Role::Spmc => matches!(
                description.exception_level,
                ExceptionLevel::SecureEl1 | ExceptionLevel::SecureSupervisor
            ),
            Role::Forwarder => true,
        }
    }

    /// FFA_FEATURES for the notification and indirect-messaging functions (`None` for any
    /// other function). Matrix D11: a partition sees BIND..GET iff it supports notifications.
    pub(super) fn notification_features(
        &self,
        caller: &Caller,
        function: ffa_core::FunctionId,
    ) -> Option<bool> {
        use ffa_core::FunctionId as F;
        let serves_normal_world = !caller.local && self.effective_role() == Role::Spmc;
        let supported = match function {
            F::NotificationBitmapCreate
            | F::NotificationBitmapDestroy
            | F::NotificationInfoGet32
            | F::NotificationInfoGet64 => serves_normal_world,
            F::NotificationBind
            | F::NotificationUnbind
            | F::NotificationSet
            | F::NotificationGet => {
                serves_normal_world
                    || (caller.local && self.has_notifications(caller.context.endpoint))
            }
            F::MsgSend2 => {
                serves_normal_world
                    || (caller.local
                        && self.description(caller.context.endpoint).is_some_and(|description| {
                            description
                                .messaging
                                .contains(crate::manifest::MessagingMethod::INDIRECT)
                        }))
            }
            _ => return None,
        };
        Some(supported)
    }

    /// FFA_NOTIFICATION_BITMAP_CREATE (matrix N01): the normal world creates a VM's bitmap in
    /// the SPMC. NOT_SUPPORTED from partitions and in the forwarder, INVALID_PARAMETERS for a
    /// secure ID or no vCPUs, DENIED when it exists, NO_MEMORY beyond the capacities.
    fn bitmap_create(
        &self,
        caller: &Caller,
        vm_id: EndpointId,
        vcpu_count: u32,
    ) -> Result<Action, FfaError> {
        if caller.local || self.effective_role() != Role::Spmc {
            return Err(FfaError::NotSupported);
        }
        if vm_id.is_secure() || vcpu_count == 0 {
            return Err(FfaError::InvalidParameters);
        }
        let mut notifications = self.notifications.lock();
        if notifications.remote.iter().any(|receiver| receiver.id == vm_id) {
            return Err(FfaError::Denied);
        }
        let count = u16::try_from(vcpu_count)
            .ok()
            .filter(|count| usize::from(*count) <= VCPUS)
            .ok_or(FfaError::NoMemory)?;
        notifications.remote.push(Receiver::new(vm_id, count)).map_err(|_| FfaError::NoMemory)?;
        success()
    }

    /// FFA_NOTIFICATION_BITMAP_DESTROY (matrix N02): DENIED when the bitmap does not exist or
    /// notifications are still pending in it.
    fn bitmap_destroy(&self, caller: &Caller, vm_id: EndpointId) -> Result<Action, FfaError> {
        if caller.local || self.effective_role() != Role::Spmc {
            return Err(FfaError::NotSupported);
        }
        if vm_id.is_secure() {
            return Err(FfaError::InvalidParameters);
        }
        let mut notifications = self.notifications.lock();
        let index = notifications
            .remote
            .iter()
            .position(|receiver| receiver.id == vm_id)
            .ok_or(FfaError::Denied)?;
        if notifications.remote.get(index).is_some_and(Receiver::any_pending) {
            return Err(FfaError::Denied);
        }
        notifications.remote.swap_remove(index);
        success()
    }

    /// The ID checks of BIND and UNBIND (matrix N03, N04): a partition binds for itself; the
    /// normal world binds secure partitions as senders for its VMs. Returns where the sender
    /// is.
    fn check_binding(
        &self,
        caller: &Caller,
        sender: EndpointId,
        receiver: EndpointId,
    ) -> Result<Peer, FfaError> {
        if caller.local {
            if !self.has_notifications(caller.context.endpoint) {
                return Err(FfaError::NotSupported);
            }
            if receiver != caller.context.endpoint {
                return Err(FfaError::InvalidParameters);
            }
        } else {
            if self.effective_role() != Role::Spmc {
                return Err(FfaError::NotSupported);
            }
            if receiver.is_secure() {
                return Err(FfaError::InvalidParameters);
            }
        }
        if sender == receiver {
            return Err(FfaError::InvalidParameters);
        }
        let peer = self.peer(sender)?;
        if !caller.local && peer != Peer::Local {
            // VM-to-VM bindings belong to the hypervisor, not the SPMC.
            return Err(FfaError::InvalidParameters);
        }
        Ok(peer)
    }

    /// FFA_NOTIFICATION_BIND (matrix N03): bits bound already (to anyone) are DENIED.
    fn bind(
        &self,
        caller: &Caller,
        call: Call,
        sender: EndpointId,
        receiver: EndpointId,
        flags: BindFlags,
        bitmap: NotificationBitmap,
    ) -> Result<Action, FfaError> {
        let peer = self.check_binding(caller, sender, receiver)?;
        if peer == Peer::Remote && self.is_forwarder() {
            // The SPMC keeps a VM's bindings of secure senders.
            return Ok(Action::Forward(call));
        }
        let mut notifications = self.notifications.lock();
        let record = notifications.receiver_mut(receiver).ok_or(FfaError::InvalidParameters)?;
        let bindings = record.bindings_mut(SenderWorld::of(sender));
        if bindings.bound & bitmap.0 != 0 {
            return Err(FfaError::Denied);
        }
        bindings.bind(sender, bitmap.0, flags.contains(BindFlags::PER_VCPU));
        success()
    }

    /// FFA_NOTIFICATION_UNBIND (matrix N04): an empty bitmap, or bits not bound to this sender
    /// (unbound, or bound to another), are INVALID_PARAMETERS; bits still pending are DENIED.
    fn unbind(
        &self,
        caller: &Caller,
        call: Call,
        sender: EndpointId,
        receiver: EndpointId,
        bitmap: NotificationBitmap,
    ) -> Result<Action, FfaError> {
        let peer = self.check_binding(caller, sender, receiver)?;
        if bitmap.0 == 0 {
            return Err(FfaError::InvalidParameters);
        }
        if peer == Peer::Remote && self.is_forwarder() {
            return Ok(Action::Forward(call));
        }
        let mut notifications = self.notifications.lock();
        let record = notifications.receiver_mut(receiver).ok_or(FfaError::InvalidParameters)?;
        let world = SenderWorld::of(sender);
        if record.bindings(world).bound_to(sender, bitmap.0) != bitmap.0 {
            return Err(FfaError::InvalidParameters);
        }
        if record.pending_from(world) & bitmap.0 != 0 {
            return Err(FfaError::Denied);
        }
        record.bindings_mut(world).unbind(bitmap.0);
        success()
    }

    /// FFA_NOTIFICATION_SET (matrix N05): the sender signals bits the receiver bound to it
    /// (else DENIED), per vCPU exactly when they were bound per vCPU (else
    /// INVALID_PARAMETERS). Raises the SRI on the caller's CPU (delayed on request, which
    /// only partitions may make) and owes the receiver an NPI.
    fn set(
        &self,
        caller: &Caller,
        call: Call,
        sender: EndpointId,
        receiver: EndpointId,
        flags: SetFlags,
        bitmap: NotificationBitmap,
    ) -> Result<Action, FfaError> {
        if caller.local {
            if !self.has_notifications(caller.context.endpoint) {
                return Err(FfaError::NotSupported);
            }
            if sender != caller.context.endpoint {
                return Err(FfaError::InvalidParameters);
            }
        } else {
            if self.effective_role() != Role::Spmc {
                return Err(FfaError::NotSupported);
            }
            // The normal world signals partitions for its VMs.
            if sender.is_secure() || !self.is_local(receiver) {
                return Err(FfaError::InvalidParameters);
            }
        }
        if sender == receiver || bitmap.0 == 0 {
            return Err(FfaError::InvalidParameters);
        }
        if flags.delay_schedule_receiver && !sender.is_secure() {
            return Err(FfaError::InvalidParameters);
        }
        let peer = self.peer(receiver)?;
        if peer == Peer::Remote && self.is_forwarder() {
            return Ok(Action::Forward(call));
        }
        let signal = peer == Peer::Local && self.receives_notification_pending(receiver);
        let mut notifications = self.notifications.lock();
        let Some(record) = notifications.receiver_mut(receiver) else {
            // A partition without notification support bound nothing; an unknown VM is bad.
            return Err(if peer == Peer::Local {
                FfaError::Denied
            } else {
                FfaError::InvalidParameters
            });
        };
        let world = SenderWorld::of(sender);
        let bindings = record.bindings(world);
        if bindings.bound_to(sender, bitmap.0) != bitmap.0 {
            return Err(FfaError::Denied);
        }
        let per_vcpu_bits = bindings.per_vcpu & bitmap.0;
        let vcpu = usize::from(flags.vcpu.0);
        let target = if flags.per_vcpu {
            if per_vcpu_bits != bitmap.0 || flags.vcpu.0 >= record.vcpu_count {
                return Err(FfaError::InvalidParameters);
            }
            record.per_vcpu.get_mut(vcpu).ok_or(FfaError::InvalidParameters)?
        } else {
            if per_vcpu_bits != 0 {
                return Err(FfaError::InvalidParameters);
            }
            &mut record.global
        };
        *target.sent_by_mut(world) |= bitmap.0;
        if signal {
            if flags.per_vcpu {
                if let Some(owed) = record.signal_vcpu.get_mut(vcpu) {
                    *owed = true;
                }
            } else {
                record.signal_global = true;
            }
        }
        notifications.request_schedule(caller.cpu, flags.delay_schedule_receiver);
        success()
    }

    /// FFA_NOTIFICATION_GET (matrix N06): returns and clears the selected bitmaps of the
    /// receiver's global notifications and those of the named vCPU. A partition gets its own
    /// on its own vCPU; the normal world gets a VM's SP and SPM bitmaps (the hypervisor holds
    /// the rest). The forwarder asks the SPMC for a VM's SP and SPM bitmaps and adds its own.
    fn get(
        &self,
        caller: &Caller,
        receiver: EndpointId,
        vcpu: VcpuId,
        flags: GetFlags,
    ) -> Result<Action, FfaError> {
        if caller.local {
            if !self.has_notifications(caller.context.endpoint) {
                return Err(FfaError::NotSupported);
            }
            if receiver != caller.context.endpoint || vcpu != caller.context.vcpu {
                return Err(FfaError::InvalidParameters);
            }
            if self.is_forwarder() && flags.intersects(HELD_BY_SPMC) {
                let mut notifications = self.notifications.lock();
                let requests = notifications
                    .cpus
                    .get_mut(usize::from(caller.cpu))
                    .ok_or(FfaError::InvalidParameters)?;
                requests.forwarded_get = Some(ForwardedGet {
                    context: caller.context,
                    flags: flags.difference(HELD_BY_SPMC),
                });
                let remote_flags = flags.intersection(HELD_BY_SPMC);
                return Ok(Action::Forward(Call::NotificationGet {
                    receiver,
                    vcpu,
                    flags: remote_flags,
                }));
            }
        } else {
            if self.effective_role() != Role::Spmc {
                return Err(FfaError::NotSupported);
            }
            let held_by_hypervisor = GetFlags::VM | GetFlags::HYPERVISOR_FRAMEWORK;
            if receiver.is_secure() || flags.intersects(held_by_hypervisor) {
                return Err(FfaError::InvalidParameters);
            }
        }
        let mut notifications = self.notifications.lock();
        let record = notifications.receiver_mut(receiver).ok_or(FfaError::InvalidParameters)?;
        if usize::from(vcpu.0) >= record.vcpus() {
            return Err(FfaError::InvalidParameters);
        }
        let result = record.take(vcpu, flags);
        Ok(Action::Answer(Return::success(SuccessArgs::Args32(result.to_words()))))
    }

    /// The SPMC answered a FFA_NOTIFICATION_GET the forwarder passed on for `blocked`: add the
    /// bitmaps the forwarder holds itself (taking them only on success). Any other answer
    /// passes through unchanged.
    pub(super) fn complete_forwarded_get(
        &self,
        blocked: super::ContextId,
        cpu: u16,
        answer: Return,
    ) -> Return {
        let mut notifications = self.notifications.lock();
        let Some(requests) = notifications.cpus.get_mut(usize::from(cpu)) else { return answer };
        let Some(forwarded) = requests.forwarded_get.filter(|get| get.context == blocked) else {
            return answer;
        };
        requests.forwarded_get = None;
        let Return::Success { target, args: SuccessArgs::Args32(words) } = answer else {
            return answer;
        };
        let mut result = ffa_core::notification::NotificationGetResult::from_words(words);
        if let Some(record) = notifications.receiver_mut(blocked.endpoint) {
            let own = record.take(blocked.vcpu, forwarded.flags);
            result.from_vm = own.from_vm;
            result.hypervisor_framework = own.hypervisor_framework;
        }
        Return::Success { target, args: SuccessArgs::Args32(result.to_words()) }
    }
}
