//! The partition manager core: one `handle` entry point turns a context's registers into the
//! next `Delivery`, for both the SPMC role and the forwarder role (see spmc/CORE.md).
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::panic))]

mod config;
mod context;
mod fuzz;
mod indirect;
mod invariants;
mod lifecycle;
mod lifecycle_state;
mod mailbox;
mod mailbox_forwarding;
mod memory;
mod memory_descriptor;
mod memory_forwarding;
mod memory_retrieve;
mod memory_send;
mod messaging;
mod notification_info;
mod notification_state;
mod notifications;
mod partition_info;
mod policy;
mod setup;
mod state;
mod teardown;
mod translation;

pub use config::{
    ConfigError, Configuration, EndpointDescription, FeatureInterrupts, Role, MAX_UUIDS,
};
pub use context::{ContextId, ContextState, Delivery, Transfer};
pub use invariants::InvariantViolation;
pub use lifecycle_state::{PartitionProgress, PartitionStatus, VmEvent, VmLifecycleReport};
pub use mailbox::EndpointMemory;
pub use memory::{MemoryActivity, MemoryRegionDescription, MemorySharing};
pub use notification_state::InterruptRequests;
pub use policy::{CallKinds, Policy, PolicyRule, MAX_POLICY_RULES};
pub use translation::{MemoryPlatform, NoMemorySharing, PhysicalRun};

#[doc(hidden)]
pub use fuzz::fuzz_calls;

use core::sync::atomic::{AtomicBool, AtomicU32};
use ffa_core::call::Return;
use ffa_core::{Call, EndpointId, FfaError, FunctionId, VcpuId, Version};

use spin::Mutex;

use indirect::MessagePage;
use mailbox::Mailboxes;
use memory::MemorySlot;
use notification_state::Notifications;
use state::{Endpoint, NegotiatedVersion, Party, Scheduler, State};

/// The version of a manager not yet configured: 0.0, so that [`PartitionManager::empty`] is
/// all zero bytes.
const UNCONFIGURED_VERSION: Version = match Version::new(0, 0) {
    Some(version) => version,
    None => Version::V1_0,
};

/// Settings fixed at construction.
#[derive(Debug, Clone, Copy)]
struct Settings {
    role: Role,
    own_id: EndpointId,
    spm_id: EndpointId,
    version: Version,
    interrupts: FeatureInterrupts,
    maximum_mailbox_pages: u16,
}

/// The partition manager core.
///
/// Capacities: `ENDPOINTS` local (and, separately, remote) endpoints, `VCPUS` execution
/// contexts per local endpoint, `CPUS` physical CPUs. `M` gives access to endpoint memory
/// for RX/TX buffers; `S` changes stage 2 for memory sharing (see
/// [`Self::with_memory_sharing`]; managers built with [`Self::new`] have none).
///
/// Every method takes `&self`: several CPUs may call in at once. Lock order (CORE.md):
/// scheduler, then remote endpoints, then mailboxes (with the message page under them), then
/// memory sharing, then notifications; no lock is held while the platform runs a context.
#[derive(Debug)]
pub struct PartitionManager<
    M: EndpointMemory,
    const ENDPOINTS: usize,
    const VCPUS: usize,
    const CPUS: usize,
    S: MemoryPlatform = NoMemorySharing,
> {
    settings: Settings,
    local: heapless::Vec<EndpointDescription, ENDPOINTS>,
    scheduler: Mutex<Scheduler<ENDPOINTS, VCPUS>>,
    remote: Mutex<heapless::Vec<EndpointDescription, ENDPOINTS>>,
    mailboxes: Mutex<Mailboxes<M, ENDPOINTS>>,
    memory: Mutex<MemorySlot<S>>,
    /// Copies FFA_MSG_SEND2 messages; taken only under the mailbox lock.
    message_page: Mutex<MessagePage>,
    /// Notification bitmaps, bindings and SRI/NPI requests (lock order 5, after mailboxes).
    notifications: Mutex<Notifications<ENDPOINTS, VCPUS, CPUS>>,
    /// Forwarder: local VMs destroyed with [`Self::destroy_vm`] (by position in `local`); read
    /// without a lock, written under the scheduler lock.
    destroyed: [AtomicBool; ENDPOINTS],
    /// Forwarder: local VMs whose notification bitmap the SPMC holds (by position in
    /// `local`); read without a lock, written under the scheduler lock.
    bitmaps_at_spmc: [AtomicBool; ENDPOINTS],
    /// SPMC: endpoints of the other world (by position in `remote`) that the hypervisor said
    /// are destroyed (a VM_DESTROYED message relayed to a partition), until VM_CREATED or
    /// [`Self::add_remote`]; calls naming them are answered as for an unknown endpoint.
    /// Holds each such endpoint's ID + 1 (0: a free slot); read and written without a lock.
    remote_destroyed: [AtomicU32; ENDPOINTS],
    /// Forwarder: which VMs may reach which partitions ([`Self::set_policy`]; allows all by
    /// default). Read without a lock: it only changes through `&mut self`.
    policy: Policy,
}

/// The context a call came from, resolved against the state.
#[derive(Debug, Clone, Copy)]
struct Caller {
    /// As the platform named it.
    context: ContextId,
    /// A local endpoint (else the other world).
    local: bool,
    /// The physical CPU.
    cpu: u16,
    /// The caller's negotiated version (decoding and encoding use it).
    version: Version,
    /// The other world: the local context whose call was forwarded to it on this CPU, if
    /// any (found once, when the caller is identified).
    blocked_remote: Option<ContextId>,
}

impl Caller {
    fn party(&self) -> Party {
        if self.local {
            Party::Local(self.context)
        } else {
            Party::Remote(self.context)
        }
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
    /// Builds the core from a checked configuration. Every local context starts NotStarted;
    /// run [`Self::boot`] on each CPU (SPMC) or [`Self::start`] per vCPU (forwarder).
    ///
    /// The manager is returned by value; a platform that keeps it in a `static` and has little
    /// stack can build it in place instead with [`Self::empty`] and [`Self::configure`].
    pub fn new(configuration: &Configuration<'_>, memory: M) -> Result<Self, ConfigError> {
        let mut manager = Self::empty(memory);
        manager.configure(configuration)?;
        Ok(manager)
    }

    /// A manager with no endpoints and no memory sharing, for a `static` initialiser: every
    /// field is zero or empty, so such a static sits in .bss. Configure it (once) in place
    /// with [`Self::configure`] or [`Self::configure_with_memory_sharing`] before any other
    /// call; until then it knows no endpoint and answers every call as the SPMC of version
    /// 0.0 with no partitions would.
    pub const fn empty(memory: M) -> Self {
        Self {
            settings: Settings {
                role: Role::Spmc,
                own_id: EndpointId(0),
                spm_id: EndpointId(0),
                version: UNCONFIGURED_VERSION,
                interrupts: FeatureInterrupts {
                    schedule_receiver: None,
                    notification_pending: None,
                    managed_exit: None,
                },
                maximum_mailbox_pages: 0,
            },
            local: heapless::Vec::new(),
            scheduler: Mutex::new(Scheduler {
                endpoints: heapless::Vec::new(),
                remote_version: NegotiatedVersion::new(UNCONFIGURED_VERSION),
                lifecycle: lifecycle_state::Lifecycle::new(),
            }),
            remote: Mutex::new(heapless::Vec::new()),
            mailboxes: Mutex::new(Mailboxes::new(memory)),
            memory: Mutex::new(MemorySlot::Off),
            message_page: Mutex::new(MessagePage::new()),
            notifications: Mutex::new(Notifications::EMPTY),
            destroyed: [const { AtomicBool::new(false) }; ENDPOINTS],
            bitmaps_at_spmc: [const { AtomicBool::new(false) }; ENDPOINTS],
            remote_destroyed: [const { AtomicU32::new(0) }; ENDPOINTS],
            policy: Policy::allow_all(),
        }
    }

    /// Configures a manager made by [`Self::empty`] in place (without a copy of the manager on
    /// the stack) from a checked configuration; see [`Self::new`]. Any earlier configuration
    /// of this manager is replaced (endpoints, contexts, mailboxes, notifications, memory
    /// sharing; the endpoint-memory implementation `M` is kept): call it before the manager
    /// serves calls, or to start over.
    pub fn configure(&mut self, configuration: &Configuration<'_>) -> Result<(), ConfigError> {
        if configuration.role == Role::Forwarder && !M::FORWARDER_ROLE {
            return Err(ConfigError::RoleNotBuilt);
        }
        configuration.check(ENDPOINTS, VCPUS)?;
        self.local.clear();
        let scheduler = self.scheduler.get_mut();
        scheduler.endpoints.clear();
        for description in configuration.local {
            self.local.push(description.clone()).map_err(|_| ConfigError::TooManyEndpoints)?;
            let endpoint =
                Endpoint::new(description).ok_or(ConfigError::ContextCount(description.id))?;
            scheduler.endpoints.push(endpoint).map_err(|_| ConfigError::TooManyEndpoints)?;
        }
        scheduler.remote_version = NegotiatedVersion::new(configuration.version);
        scheduler.lifecycle = lifecycle_state::Lifecycle::new();
        let remote = self.remote.get_mut();
        remote.clear();
        for description in configuration.remote {
            remote.push(description.clone()).map_err(|_| ConfigError::TooManyEndpoints)?;
        }
        self.settings = Settings {
            role: configuration.role,
            own_id: configuration.own_id,
            spm_id: configuration.spm_id,
            version: configuration.version,
            interrupts: configuration.interrupts,
            maximum_mailbox_pages: configuration.maximum_mailbox_pages,
        };
        *self.memory.get_mut() = MemorySlot::Off;
        self.mailboxes.get_mut().forget_all();
        self.notifications.get_mut().configure(configuration.local);
        for flag in self.destroyed.iter().chain(&self.bitmaps_at_spmc) {
            flag.store(false, core::sync::atomic::Ordering::Relaxed);
        }
        for slot in &self.remote_destroyed {
            slot.store(0, core::sync::atomic::Ordering::Relaxed);
        }
        self.policy = Policy::allow_all();
        Ok(())
    }

    /// The role.
    pub fn role(&self) -> Role {
        self.settings.role
    }

    /// Whether this manager is the forwarder: a constant `false` on platforms built without
    /// the forwarder role ([`EndpointMemory::FORWARDER_ROLE`]), so its code drops out there.
    #[inline]
    pub(crate) fn is_forwarder(&self) -> bool {
        self.effective_role() == Role::Forwarder
    }

    /// The role, as a constant [`Role::Spmc`] on platforms built without the forwarder role
    /// (where configuring the forwarder role fails), so every decision on it folds away there.
    #[inline]
    pub(crate) fn effective_role(&self) -> Role {
        if M::FORWARDER_ROLE {
            self.settings.role
        } else {
            Role::Spmc
        }
    }

    /// Whether `endpoint` is one this manager runs (a destroyed VM is not).
    pub fn is_local(&self, endpoint: EndpointId) -> bool {
        self.local_index(endpoint).is_some() && !self.is_destroyed(endpoint)
    }

    /// Adds (or replaces) an endpoint of the other world, e.g. when a VM is created or the
    /// forwarder learns of a secure partition. NO_MEMORY when full, INVALID_PARAMETERS for an
    /// ID of the wrong world.
    pub fn add_remote(&self, description: EndpointDescription) -> Result<(), FfaError> {
        if description.id.is_secure() == self.effective_role().local_is_secure()
            || description.id == EndpointId::SPMD
        {
            return Err(FfaError::InvalidParameters);
        }
        let mut remote = self.remote.lock();
        self.mark_remote_destroyed(description.id, false);
        if let Some(existing) = remote.iter_mut().find(|known| known.id == description.id) {
            *existing = description;
            return Ok(());
        }
        remote.push(description).map_err(|_| FfaError::NoMemory)
    }

    /// The observable state of a local context.
    pub fn context_state(&self, context: ContextId) -> Option<ContextState> {
        self.scheduler.lock().context(context).map(state::Context::public_state)
    }

    /// The version a local endpoint currently uses.
    pub fn negotiated_version(&self, endpoint: EndpointId) -> Option<Version> {
        self.scheduler.lock().version_of(endpoint)
    }

    /// Runs `action` with the endpoint-memory implementation (tests inspect their fake).
    pub fn with_memory<R>(&self, action: impl FnOnce(&mut M) -> R) -> R {
        action(&mut self.mailboxes.lock().memory)
    }

    /// Starts the boot sequence on `cpu` (call once per CPU as it comes up): enters the next
    /// local context that boots on this CPU (UP endpoints' context 0 on the first CPU to
    /// boot, MP endpoints' context `cpu`), in configuration order. Each booted context ends
    /// its boot with FFA_MSG_WAIT (or fails with FFA_ERROR), and `handle` then continues the
    /// sequence; when nothing is left, the SPMC reports FFA_MSG_WAIT to the SPMD and the
    /// forwarder returns to its scheduler. DENIED if `cpu` is occupied, INVALID_PARAMETERS if
    /// `cpu` is out of range.
    pub fn boot(&self, cpu: u16) -> Result<Delivery, FfaError> {
        if usize::from(cpu) >= CPUS {
            return Err(FfaError::InvalidParameters);
        }
        let mut scheduler = self.scheduler.lock();
        if scheduler.cpu_busy(cpu) {
            return Err(FfaError::Denied);
        }
        Ok(self.next_boot(&mut scheduler, cpu))
    }

    /// Enters a NotStarted local context on `cpu` outside the boot sequence; it returns to the
    /// platform's scheduler when it waits or yields (the forwarder starts VM vCPUs this way).
    pub fn start(&self, context: ContextId, cpu: u16) -> Result<Delivery, FfaError> {
        if usize::from(cpu) >= CPUS {
            return Err(FfaError::InvalidParameters);
        }
        let mut scheduler = self.scheduler.lock();
        if scheduler.cpu_busy(cpu) {
            return Err(FfaError::Denied);
        }
        let target = scheduler.context_mut(context).ok_or(FfaError::InvalidParameters)?;
        if target.state != State::NotStarted {
            return Err(FfaError::Denied);
        }
        target.state = State::Running { cpu, return_to: Party::Scheduler };
        Ok(Delivery { to: context, transfer: Transfer::Start, registers: [0; 18] })
    }

    /// The platform reports a fault of a running local context: it becomes Aborted (its
    /// endpoint takes no more requests: ABORTED), and whoever waits on it gets
    /// FFA_ERROR(ABORTED). DENIED unless the context is running.
    pub fn abort(&self, context: ContextId) -> Result<Delivery, FfaError> {
        let mut scheduler = self.scheduler.lock();
        let current = scheduler.context(context).ok_or(FfaError::InvalidParameters)?;
        let State::Running { cpu, return_to } = current.state else {
            return Err(FfaError::Denied);
        };
        Self::abort_endpoint(&mut scheduler, context);
        Ok(self.give_back(&mut scheduler, return_to, cpu, Return::error(FfaError::Aborted)))
    }

    /// The platform took an interrupt that preempts a running local context (it saved the
    /// context's registers): the context becomes Preempted and whoever waits on it gets
    /// FFA_INTERRUPT with the context's target information; FFA_RUN resumes it with
    /// [`Transfer::Restore`]. DENIED unless the context is running.
    pub fn preempt(&self, context: ContextId, interrupt_id: u32) -> Result<Delivery, FfaError> {
        let mut scheduler = self.scheduler.lock();
        let current = scheduler.context_mut(context).ok_or(FfaError::InvalidParameters)?;
        let State::Running { cpu, return_to } = current.state else {
            return Err(FfaError::Denied);
        };
        if return_to == Party::Boot {
            return Err(FfaError::Denied);
        }
        current.state = State::Preempted { interrupted: true };
        let interrupt =
            Return::Interrupt { target: context.target_info(), interrupt_id, is_64: false };
        Ok(self.give_back(&mut scheduler, return_to, cpu, interrupt))
    }

    /// Forwarder: installs the policy of which VMs may reach which partitions (see
    /// [`Policy`]); before the manager serves calls (it takes `&mut self`).
    pub fn set_policy(&mut self, policy: Policy) {
        self.policy = policy;
    }

    /// The policy in force (allows all unless [`Self::set_policy`] said otherwise).
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Forwarder: DENIED when the policy refuses a local VM's call, named in registers, to a
    /// partition (direct requests, notification binds and sets; FFA_MSG_SEND2 and memory
    /// sends are checked where their buffers name the partition).
    fn policy_refusal(&self, caller: &Caller, call: &Call) -> Option<FfaError> {
        if self.effective_role() != Role::Forwarder || !caller.local {
            return None;
        }
        let (partition, kind) = match call {
            Call::MsgSendDirectReq(message) => (message.destination, CallKinds::DIRECT_MESSAGES),
            Call::MsgSendDirectReq2(message) => (message.destination, CallKinds::DIRECT_MESSAGES),
            Call::NotificationBind { sender, .. } => (*sender, CallKinds::NOTIFICATIONS),
            Call::NotificationSet { receiver, .. } => (*receiver, CallKinds::NOTIFICATIONS),
            _ => return None,
        };
        let refused =
            partition.is_secure() && !self.policy.allows(caller.context.endpoint, partition, kind);
        refused.then_some(FfaError::Denied)
    }

    /// The single call entry point: `from` made an FF-A call (or, for the other world, a call
    /// or the result of a call forwarded to it) with x0-x17 = `registers`. Returns what runs
    /// next. Every input has a defined result; nothing panics.
    ///
    /// A context is local when `from.endpoint` is a local endpoint; anything else is the other
    /// world on CPU `from.vcpu` (the SPMC's platform passes ID 0 for normal-world calls).
    pub fn handle(&self, from: ContextId, registers: &[u64; 18]) -> Delivery {
        let mut scheduler = self.scheduler.lock();
        let caller = match self.identify(&scheduler, from) {
            Ok(caller) => caller,
            Err(delivery) => return delivery,
        };
        if !caller.local {
            match self.mailbox_call_result(&mut scheduler, caller.cpu, registers) {
                Some(mailbox_forwarding::MailboxOutcome::Deliver(delivery)) => return delivery,
                Some(mailbox_forwarding::MailboxOutcome::Again(context, registers)) => {
                    drop(scheduler);
                    return self.handle(context, &registers);
                }
                None => {}
            }
            if let Some(delivery) = self.lifecycle_result(&mut scheduler, caller.cpu, registers) {
                return delivery;
            }
            // Neither result above changed the scheduler when it found nothing to complete.
            if let Some(blocked) = caller.blocked_remote {
                if let Some(delivery) =
                    self.forwarded_memory_result(&mut scheduler, blocked, caller.cpu, registers)
                {
                    return delivery;
                }
                return self.remote_return(&mut scheduler, blocked, caller.cpu, registers);
            }
        }
        let decoded = Call::decode(registers, caller.version);
        self.freeze_version(&mut scheduler, &caller, registers, decoded.as_ref().ok());
        // Borrowed, not moved out of the `Result`: a `Call` is large, and moving it is a
        // memcpy on every call.
        let call = match &decoded {
            Ok(call) => call,
            Err(error) => {
                let error = *error;
                // Matrix D11: a call FFA_FEATURES does not offer answers NOT_SUPPORTED, also
                // when its arguments are malformed.
                let error = match FunctionId::from_register(registers[0]) {
                    Ok(function) if !self.offers(&caller, function) => FfaError::NotSupported,
                    _ => error,
                };
                return Self::reply(&caller, Return::error(error));
            }
        };
        if let Some(refusal) = self.policy_refusal(&caller, call) {
            return Self::reply(&caller, Return::error(refusal));
        }
        // Forwarder: a VM's RX buffer registered with the SPMC is taken from it first.
        if caller.local
            && Self::writes_own_rx(call)
            && self.needs_rx_acquire(caller.context.endpoint)
        {
            return self.acquire_first(&mut scheduler, &caller, caller.context.endpoint, call);
        }
        match *call {
            Call::Version { requested } => {
                let answer = self.version(&mut scheduler, &caller, requested);
                Self::reply(&caller, answer)
            }
            Call::IdGet => Self::reply(&caller, self.id_get(&caller)),
            Call::SpmIdGet => Self::reply(&caller, self.spm_id_get()),
            Call::Features(query) => Self::reply(&caller, self.features(&caller, query)),
            Call::MsgWait { flags, .. } => {
                let delivery = self.msg_wait(&mut scheduler, &caller);
                drop(scheduler);
                if caller.local && delivery.to != caller.context {
                    let retain = flags.contains(ffa_core::call::MsgWaitFlags::RETAIN_RX_BUFFER);
                    if !retain {
                        self.mailboxes.lock().give_rx_back(caller.context.endpoint);
                    }
                }
                delivery
            }
            Call::Yield { timeout, .. } => self.yield_call(&mut scheduler, &caller, timeout),
            Call::Run { target, .. } => self.run(&mut scheduler, &caller, target),
            Call::MsgSendDirectReq(ref message) => {
                self.direct_request(&mut scheduler, &caller, messaging::Message::Direct(message))
            }
            Call::MsgSendDirectReq2(ref message) => {
                self.direct_request(&mut scheduler, &caller, messaging::Message::Direct2(message))
            }
            Call::MsgSendDirectResp(ref message) => {
                self.direct_response(&mut scheduler, &caller, messaging::Message::Direct(message))
            }
            Call::MsgSendDirectResp2(ref message) => {
                self.direct_response(&mut scheduler, &caller, messaging::Message::Direct2(message))
            }
            Call::Error { error, .. } => self.error_call(&mut scheduler, &caller, error),
            Call::RxRelease { vm_id } => {
                if let Some(delivery) = self.forward_rx_release(&mut scheduler, &caller, vm_id) {
                    return delivery;
                }
                drop(scheduler);
                Self::reply(&caller, self.rx_release(&caller, vm_id))
            }
            Call::RxAcquire { vm_id } => {
                drop(scheduler);
                Self::reply(&caller, self.rx_acquire(&caller, vm_id))
            }
            Call::RxtxMap { buffers, .. } => {
                if caller.local && self.is_forwarder() {
                    return self.forwarder_rxtx_map(&mut scheduler, &caller, buffers);
                }
                drop(scheduler);
                Self::reply(&caller, self.rxtx_map(&caller, buffers))
            }
            Call::RxtxUnmap { vm_id } => {
                if let Some(delivery) = self.forward_rxtx_unmap(&mut scheduler, &caller, vm_id) {
                    return delivery;
                }
                drop(scheduler);
                Self::reply(&caller, self.rxtx_unmap(&caller, vm_id))
            }
            Call::PartitionInfoGet { uuid, flags } => {
                drop(scheduler);
                Self::reply(&caller, self.partition_info_get(&caller, uuid, flags))
            }
            Call::PartitionInfoGetRegs { uuid, start_index, tag } => {
                drop(scheduler);
                Self::reply(&caller, self.partition_info_get_regs(&caller, uuid, start_index, tag))
            }
            ref call @ (Call::MemShare { .. }
            | Call::MemLend { .. }
            | Call::MemDonate { .. }
            | Call::MemFragTx { .. }
            | Call::MemFragRx { .. }
            | Call::MemRetrieveReq { .. }
            | Call::MemRelinquish
            | Call::MemReclaim { .. }) => self.memory_call(scheduler, &caller, *call),
            ref call @ (Call::NotificationBitmapCreate { .. }
            | Call::NotificationBitmapDestroy { .. }
            | Call::NotificationBind { .. }
            | Call::NotificationUnbind { .. }
            | Call::NotificationSet { .. }
            | Call::NotificationGet { .. }
            | Call::NotificationInfoGet { .. }) => {
                self.notification_call(&mut scheduler, &caller, *call)
            }
            Call::MsgSend2 { sender_vm, flags } => {
                self.msg_send2(&mut scheduler, &caller, sender_vm, flags)
            }
            _ => Self::reply(&caller, Return::error(FfaError::NotSupported)),
        }
    }

    /// Resolves `from`; a context the platform should not have entered gets an error back
    /// without any state change.
    #[allow(clippy::result_large_err, reason = "internal; the refusal is the delivery itself")]
    fn identify(
        &self,
        scheduler: &Scheduler<ENDPOINTS, VCPUS>,
        from: ContextId,
    ) -> Result<Caller, Delivery> {
        if let Some(endpoint) = scheduler.endpoint(from.endpoint) {
            let refuse = |error: FfaError| Delivery {
                to: from,
                transfer: Transfer::Enter,
                registers: Return::error(error).encode(endpoint.version.version),
            };
            let context = endpoint
                .contexts
                .get(usize::from(from.vcpu.0))
                .ok_or_else(|| refuse(FfaError::InvalidParameters))?;
            let State::Running { cpu, .. } = context.state else {
                return Err(refuse(FfaError::Denied));
            };
            return Ok(Caller {
                context: from,
                local: true,
                cpu,
                version: endpoint.version.version,
                blocked_remote: None,
            });
        }
        let version = scheduler.remote_version.version;
        let refuse = |error: FfaError| Delivery {
            to: from,
            transfer: Transfer::OtherWorld,
            registers: Return::error(error).encode(version),
        };
        if usize::from(from.vcpu.0) >= CPUS {
            return Err(refuse(FfaError::InvalidParameters));
        }
        let cpu = from.vcpu.0;
        // Only the forwarder blocks a local context on the other world.
        let blocked_remote =
            if self.is_forwarder() { scheduler.blocked_on_remote(cpu) } else { None };
        if blocked_remote.is_none() && scheduler.running_on(cpu).is_some() {
            // The CPU is in this world: the other world cannot be calling from it.
            return Err(refuse(FfaError::Denied));
        }
        Ok(Caller { context: from, local: false, cpu, version, blocked_remote })
    }

    /// Matrix D04: the first call other than FFA_VERSION freezes the caller's version. The
    /// SPMD's framework messages do not count for the normal world.
    fn freeze_version(
        &self,
        scheduler: &mut Scheduler<ENDPOINTS, VCPUS>,
        caller: &Caller,
        registers: &[u64; 18],
        call: Option<&Call>,
    ) {
        let Ok(function) = FunctionId::from_register(registers[0]) else { return };
        if function == FunctionId::Version {
            return;
        }
        if caller.local {
            if let Some(endpoint) = scheduler.endpoint_mut(caller.context.endpoint) {
                endpoint.version.frozen = true;
            }
        } else {
            let framework = matches!(
                call,
                Some(Call::MsgSendDirectReq(ffa_core::direct_message::DirectMessage {
                    body: ffa_core::direct_message::DirectBody::Framework32(_)
                        | ffa_core::direct_message::DirectBody::Framework64(_),
                    ..
                }))
            );
            if !framework {
                scheduler.remote_version.frozen = true;
            }
        }
    }

    /// The answer to the caller's own call: it keeps running.
    fn reply(caller: &Caller, answer: Return) -> Delivery {
        Delivery {
            to: caller.context,
            transfer: if caller.local { Transfer::Enter } else { Transfer::OtherWorld },
            registers: answer.encode(caller.version),
        }
    }

    /// Hands control back to `party` on `cpu` with `answer` (a response, FFA_YIELD,
    /// FFA_INTERRUPT, FFA_ERROR...): a blocked local requester runs again, the other world is
    /// called, the boot sequence continues, or the platform scheduler takes over.
    fn give_back(
        &self,
        scheduler: &mut Scheduler<ENDPOINTS, VCPUS>,
        party: Party,
        cpu: u16,
        answer: Return,
    ) -> Delivery {
        self.give_back_with(scheduler, party, cpu, |version| answer.encode(version))
    }

    /// [`Self::give_back`] with the answer given as its encoder (called with the version of
    /// whoever receives it), so that a large answer is encoded from where it is instead of
    /// being moved into a `Return` first.
    #[inline]
    fn give_back_with(
        &self,
        scheduler: &mut Scheduler<ENDPOINTS, VCPUS>,
        party: Party,
        cpu: u16,
        encode: impl FnOnce(Version) -> [u64; 18],
    ) -> Delivery {
        match party {
            Party::Local(context) => {
                let version =
                    scheduler.version_of(context.endpoint).unwrap_or(self.settings.version);
                if let Some(waiting) = scheduler.context_mut(context) {
                    if let State::Blocked { return_to, .. } = waiting.state {
                        waiting.state = State::Running { cpu, return_to };
                    }
                }
                Delivery { to: context, transfer: Transfer::Enter, registers: encode(version) }
            }
            Party::Remote(context) => Delivery {
                to: ContextId { endpoint: context.endpoint, vcpu: VcpuId(cpu) },
                transfer: Transfer::OtherWorld,
                registers: encode(scheduler.remote_version.version),
            },
            Party::Boot => self.next_boot(scheduler, cpu),
            Party::Scheduler => Delivery {
                to: ContextId { endpoint: self.settings.own_id, vcpu: VcpuId(cpu) },
                transfer: Transfer::Scheduler,
                registers: encode(self.settings.version),
            },
        }
    }

    /// Enters the next context that boots on `cpu`, or ends this CPU's boot.
    fn next_boot(&self, scheduler: &mut Scheduler<ENDPOINTS, VCPUS>, cpu: u16) -> Delivery {
        for endpoint in scheduler.endpoints.iter_mut() {
            if endpoint.aborted {
                continue;
            }
            let index = if endpoint.contexts.len() == 1 { 0 } else { usize::from(cpu) };
            if let Some(context) = endpoint.contexts.get_mut(index) {
                if context.state == State::NotStarted {
                    context.state = State::Running { cpu, return_to: Party::Boot };
                    return Delivery {
                        to: ContextId::new(endpoint.id.0, index as u16),
                        transfer: Transfer::Start,
                        registers: [0; 18],
                    };
                }
            }
        }
        let wait = Call::MsgWait { flags: ffa_core::call::MsgWaitFlags::empty(), is_64: false };
        match self.effective_role() {
            Role::Spmc => Delivery {
                to: ContextId { endpoint: EndpointId::SPMD, vcpu: VcpuId(cpu) },
                transfer: Transfer::OtherWorld,
                registers: wait.encode(self.settings.version),
            },
            Role::Forwarder => Delivery {
                to: ContextId { endpoint: self.settings.own_id, vcpu: VcpuId(cpu) },
                transfer: Transfer::Scheduler,
                registers: [0; 18],
            },
        }
    }

    /// Marks `context` Aborted and its endpoint aborted; contexts of the endpoint that are not
    /// in use become Aborted too (those in use follow when they stop).
    fn abort_endpoint(scheduler: &mut Scheduler<ENDPOINTS, VCPUS>, context: ContextId) {
        if let Some(endpoint) = scheduler.endpoint_mut(context.endpoint) {
            endpoint.aborted = true;
            for other in endpoint.contexts.iter_mut() {
                if matches!(other.state, State::NotStarted | State::Waiting) {
                    other.state = State::Aborted;
                }
            }
        }
        if let Some(current) = scheduler.context_mut(context) {
            current.state = State::Aborted;
            current.request = None;
        }
    }
}
