//! VM availability: which partitions subscribed to VM_CREATED / VM_DESTROYED, and the
//! forwarder's passes that tell them (with the retry rules), driven through the other world.

use ffa_core::call::Return;
use ffa_core::direct_message::{DirectBody, DirectMessage};
use ffa_core::framework_message::FrameworkMessage;
use ffa_core::memory::MemoryHandle;
use ffa_core::{Call, EndpointId, FfaError, SuccessArgs, TargetInfo, VcpuId};

use super::mailbox_forwarding::{MailboxCall, PendingMailboxCall};
use super::state::Scheduler;
use super::{
    ContextId, Delivery, EndpointMemory, MemoryPlatform, PartitionManager, Role, Transfer,
};
use crate::manifest::VmAvailabilityMessages;

/// Forwarded reclaims one teardown pass remembers having tried (the forwarder tracks at most
/// 32 forwarded transactions).
const RECLAIMS_PER_PASS: usize = 32;

/// A VM availability event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VmEvent {
    /// VM_CREATED (framework message 0x04).
    Created,
    /// VM_DESTROYED (framework message 0x06).
    Destroyed,
}

impl VmEvent {
    /// The subscription bit in `vm-availability-messages`.
    pub const fn subscription(self) -> VmAvailabilityMessages {
        match self {
            Self::Created => VmAvailabilityMessages::VM_CREATED,
            Self::Destroyed => VmAvailabilityMessages::VM_DESTROYED,
        }
    }

    fn message(self, vm_id: EndpointId) -> FrameworkMessage {
        let handle = MemoryHandle::INVALID.0;
        match self {
            Self::Created => FrameworkMessage::VmCreated { handle, vm_id },
            Self::Destroyed => FrameworkMessage::VmDestroyed { handle, vm_id },
        }
    }

    /// The acknowledgement status if `response` is this event's response type.
    fn status(self, response: &FrameworkMessage) -> Option<Result<(), FfaError>> {
        match (self, response) {
            (Self::Created, FrameworkMessage::VmCreatedResponse(status))
            | (Self::Destroyed, FrameworkMessage::VmDestroyedResponse(status)) => Some(*status),
            _ => None,
        }
    }
}

/// Where one subscribed partition stands in a VM availability job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PartitionStatus {
    /// Still to be told: not tried yet, or it (or the SPMC for it) answered RETRY, BUSY,
    /// INTERRUPTED or NOT_READY; the next pass sends the message again.
    Waiting,
    /// It was preempted while handling the message (FFA_INTERRUPT or FFA_YIELD came back);
    /// the next pass resumes this context with FFA_RUN.
    Preempted(TargetInfo),
    /// It acknowledged with status 0.
    Acknowledged,
    /// It (or the SPMC) answered with this error, or with something that is not the
    /// matching framework response (ABORTED); it is not asked again.
    Refused(FfaError),
}

/// One subscribed partition and its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PartitionProgress {
    /// The partition.
    pub partition: EndpointId,
    /// Where it stands.
    pub status: PartitionStatus,
}

/// What became of a VM availability job: the partitions told, and (VM_DESTROYED) the VM's
/// memory still held by borrowers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmLifecycleReport<const ENDPOINTS: usize> {
    /// The VM.
    pub vm: EndpointId,
    /// Which event.
    pub event: VmEvent,
    /// Every subscribed partition.
    pub partitions: heapless::Vec<PartitionProgress, ENDPOINTS>,
    /// Teardown: transactions the VM sent that could not be reclaimed yet because a borrower
    /// still holds them (local records and transactions forwarded to the SPMC).
    pub outstanding_transactions: usize,
    /// Teardown: the VM's buffers are still mapped at the SPMC (registered with
    /// [`PartitionManager::register_vm_mailbox`]; FFA_RXTX_UNMAP for the VM has not succeeded
    /// yet).
    pub mapped_at_spmc: bool,
}

impl<const ENDPOINTS: usize> VmLifecycleReport<ENDPOINTS> {
    /// Whether nothing is left to do: every partition answered for good and nothing is
    /// outstanding.
    pub fn is_complete(&self) -> bool {
        self.outstanding_transactions == 0
            && !self.mapped_at_spmc
            && self.partitions.iter().all(|progress| {
                matches!(
                    progress.status,
                    PartitionStatus::Acknowledged | PartitionStatus::Refused(_)
                )
            })
    }
}

/// What a pass has in the other world right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// The framework message (or the FFA_RUN resuming it) to this partition.
    Message(EndpointId),
    /// A forwarded FFA_MEM_RECLAIM of this handle of the SPMC's.
    Reclaim(MemoryHandle),
    /// FFA_RXTX_UNMAP of the VM's buffers at the SPMC.
    UnmapMailbox,
}

/// One VM's job and the pass in progress, if any.
#[derive(Debug, Clone)]
pub(crate) struct Job<const ENDPOINTS: usize> {
    pub(crate) report: VmLifecycleReport<ENDPOINTS>,
    /// Partitions already tried in this pass (parallel to `report.partitions`).
    pub(crate) tried: heapless::Vec<bool, ENDPOINTS>,
    /// Forwarded handles already tried in this pass.
    pub(crate) reclaims_tried: heapless::Vec<MemoryHandle, RECLAIMS_PER_PASS>,
    /// The VM's buffers were already asked to be unmapped at the SPMC in this pass.
    pub(crate) unmap_tried: bool,
    /// The CPU the pass runs on, while it runs.
    pub(crate) cpu: Option<u16>,
    pub(crate) in_flight: Option<Step>,
}

/// Subscriptions and jobs, behind the scheduler lock.
#[derive(Debug)]
pub(crate) struct Lifecycle<const ENDPOINTS: usize> {
    /// Partitions' `vm-availability-messages` (SPMC: local partitions; forwarder: partitions
    /// of the secure world).
    pub(crate) subscriptions: heapless::Vec<(EndpointId, VmAvailabilityMessages), ENDPOINTS>,
    /// The latest job of each VM (forwarder).
    pub(crate) jobs: heapless::Vec<Job<ENDPOINTS>, ENDPOINTS>,
    /// Forwarder: calls to the SPMC about VM mailboxes waiting for their answer.
    pub(crate) mailbox_calls: heapless::Vec<PendingMailboxCall, ENDPOINTS>,
}

impl<const ENDPOINTS: usize> Lifecycle<ENDPOINTS> {
    pub(crate) const fn new() -> Self {
        Self {
            subscriptions: heapless::Vec::new(),
            jobs: heapless::Vec::new(),
            mailbox_calls: heapless::Vec::new(),
        }
    }

    /// What `partition` subscribed to.
    pub(crate) fn subscription(&self, partition: EndpointId) -> VmAvailabilityMessages {
        self.subscriptions
            .iter()
            .find(|(id, _)| *id == partition)
            .map_or(VmAvailabilityMessages::empty(), |(_, messages)| *messages)
    }

    /// The pass running on `cpu`, if any.
    pub(crate) fn running_on(&self, cpu: u16) -> Option<usize> {
        self.jobs.iter().position(|job| job.cpu == Some(cpu))
    }

    /// Whether a pass (or a mailbox registration) runs at all.
    pub(crate) fn running(&self) -> bool {
        self.jobs.iter().any(|job| job.cpu.is_some())
            || self
                .mailbox_calls
                .iter()
                .any(|pending| matches!(pending.call, MailboxCall::Register(_)))
    }

    /// Whether a pass or a mailbox registration (calls made for no local context) waits on
    /// the other world on `cpu`.
    pub(crate) fn manager_waits_on(&self, cpu: u16) -> bool {
        self.running_on(cpu).is_some()
            || self.mailbox_calls.iter().any(|pending| {
                pending.cpu == cpu && matches!(pending.call, MailboxCall::Register(_))
            })
    }

    /// The contexts blocked while the SPMC is asked for an RX buffer, with their CPU.
    pub(crate) fn acquiring(&self) -> impl Iterator<Item = (ContextId, u16)> + '_ {
        self.mailbox_calls.iter().filter_map(|pending| match pending.call {
            MailboxCall::Acquire { context, .. } => Some((context, pending.cpu)),
            MailboxCall::Register(_) => None,
        })
    }

    /// Whether the manager itself waits on the other world on `cpu` (a pass, or a mailbox
    /// call of its own).
    pub(crate) fn occupies(&self, cpu: u16) -> bool {
        self.running_on(cpu).is_some()
            || self.mailbox_calls.iter().any(|pending| pending.cpu == cpu)
    }

    pub(crate) fn job_mut(&mut self, vm: EndpointId) -> Option<&mut Job<ENDPOINTS>> {
        self.jobs.iter_mut().find(|job| job.report.vm == vm)
    }

    /// Starts a new job for `vm` (replacing its previous one) for every subscriber of `event`.
    pub(crate) fn new_job(&mut self, vm: EndpointId, event: VmEvent) -> Result<(), FfaError> {
        let mut partitions = heapless::Vec::new();
        for (partition, messages) in &self.subscriptions {
            if messages.contains(event.subscription()) {
                let progress =
                    PartitionProgress { partition: *partition, status: PartitionStatus::Waiting };
                partitions.push(progress).map_err(|_| FfaError::NoMemory)?;
            }
        }
        let job = Job {
            report: VmLifecycleReport {
                vm,
                event,
                partitions,
                outstanding_transactions: 0,
                mapped_at_spmc: false,
            },
            unmap_tried: false,
            tried: heapless::Vec::new(),
            reclaims_tried: heapless::Vec::new(),
            cpu: None,
            in_flight: None,
        };
        if let Some(existing) = self.job_mut(vm) {
            *existing = job;
            return Ok(());
        }
        self.jobs.push(job).map_err(|_| FfaError::NoMemory)
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
    /// Records which VM availability messages `partition` subscribed to (its manifest's
    /// `vm-availability-messages`, or partition-properties bits 6 and 7 from
    /// FFA_PARTITION_INFO_GET). SPMC role: a local partition (relayed messages it did not
    /// subscribe to are DENIED); forwarder: a known partition of the secure world (it is told
    /// by [`Self::vm_created`] and [`Self::destroy_vm`]). Unknown partition:
    /// INVALID_PARAMETERS; no room: NO_MEMORY.
    pub fn set_vm_availability(
        &self,
        partition: EndpointId,
        messages: VmAvailabilityMessages,
    ) -> Result<(), FfaError> {
        let known = match self.settings.role {
            Role::Spmc => self.is_local(partition),
            Role::Forwarder => {
                partition.is_secure()
                    && self.remote.lock().iter().any(|remote| remote.id == partition)
            }
        };
        if !known {
            return Err(FfaError::InvalidParameters);
        }
        let mut scheduler = self.scheduler.lock();
        let subscriptions = &mut scheduler.lifecycle.subscriptions;
        if let Some(entry) = subscriptions.iter_mut().find(|(id, _)| *id == partition) {
            entry.1 = messages;
            return Ok(());
        }
        subscriptions.push((partition, messages)).map_err(|_| FfaError::NoMemory)
    }

    /// What `partition` subscribed to (see [`Self::set_vm_availability`]).
    pub fn vm_availability(&self, partition: EndpointId) -> VmAvailabilityMessages {
        self.scheduler.lock().lifecycle.subscription(partition)
    }

    /// Forwarder: the latest VM availability job of `vm` ([`Self::vm_created`],
    /// [`Self::destroy_vm`]), as far as it got.
    pub fn vm_lifecycle_report(&self, vm: EndpointId) -> Option<VmLifecycleReport<ENDPOINTS>> {
        let mut scheduler = self.scheduler.lock();
        scheduler.lifecycle.job_mut(vm).map(|job| job.report.clone())
    }

    /// Forwarder: the platform created (or re-created) the local VM `vm`; tells every secure
    /// partition that subscribed to VM_CREATED, one at a time on `cpu`, before the VM runs.
    ///
    /// Each message is a direct request with the framework flag from the hypervisor to the
    /// partition ([`Transfer::OtherWorld`]); the other world's answer comes back through
    /// [`Self::handle`] on `cpu` and the next partition follows. The pass ends with
    /// [`Transfer::Scheduler`] on `cpu` carrying FFA_SUCCESS when every partition answered
    /// for good, or FFA_ERROR(RETRY) when some must be asked again (they answered RETRY,
    /// BUSY, INTERRUPTED or NOT_READY, or were preempted): the platform calls this again
    /// later and only those are asked (a preempted one is resumed with FFA_RUN).
    /// [`Self::vm_lifecycle_report`] tells who answered what.
    ///
    /// Errors: SPMC role NOT_SUPPORTED; `vm` not a local VM, or `cpu` out of range:
    /// INVALID_PARAMETERS; a local context occupies `cpu`, or the VM is still being torn down
    /// (its destroy job is not complete): DENIED; another pass is running: BUSY.
    pub fn vm_created(&self, vm: EndpointId, cpu: u16) -> Result<Delivery, FfaError> {
        let mut scheduler = self.lifecycle_entry(vm, cpu)?;
        let again = scheduler
            .lifecycle
            .job_mut(vm)
            .is_some_and(|job| job.report.event == VmEvent::Created && !job.report.is_complete());
        if self.is_destroyed(vm) {
            let finished =
                scheduler.lifecycle.job_mut(vm).is_none_or(|job| job.report.is_complete());
            if !finished {
                return Err(FfaError::Denied);
            }
            self.revive(&mut scheduler, vm);
        }
        if !again {
            scheduler.lifecycle.new_job(vm, VmEvent::Created)?;
        }
        Ok(self.start_pass(&mut scheduler, vm, cpu))
    }

    /// Common checks of the lifecycle entry points; the scheduler lock is held from here on.
    pub(super) fn lifecycle_entry(
        &self,
        vm: EndpointId,
        cpu: u16,
    ) -> Result<spin::MutexGuard<'_, Scheduler<ENDPOINTS, VCPUS>>, FfaError> {
        if self.settings.role != Role::Forwarder {
            return Err(FfaError::NotSupported);
        }
        if usize::from(cpu) >= CPUS || self.local_index(vm).is_none() {
            return Err(FfaError::InvalidParameters);
        }
        let scheduler = self.scheduler.lock();
        if scheduler.lifecycle.running() {
            return Err(FfaError::Busy);
        }
        if scheduler.cpu_busy(cpu) {
            return Err(FfaError::Denied);
        }
        Ok(scheduler)
    }

    /// Starts a pass of `vm`'s job on `cpu`.
    pub(super) fn start_pass(
        &self,
        scheduler: &mut Scheduler<ENDPOINTS, VCPUS>,
        vm: EndpointId,
        cpu: u16,
    ) -> Delivery {
        if let Some(job) = scheduler.lifecycle.job_mut(vm) {
            job.tried.clear();
            // As long as `report.partitions`, which has the same capacity.
            let _ = job.tried.resize(job.report.partitions.len(), false);
            job.reclaims_tried.clear();
            job.unmap_tried = false;
            job.cpu = Some(cpu);
            job.in_flight = None;
        }
        self.advance_pass(scheduler, vm, cpu)
    }

    /// The next step of the pass: the next partition to tell, then (teardown) the next
    /// forwarded transaction to reclaim; when nothing is left the pass ends.
    fn advance_pass(
        &self,
        scheduler: &mut Scheduler<ENDPOINTS, VCPUS>,
        vm: EndpointId,
        cpu: u16,
    ) -> Delivery {
        let version = self.settings.version;
        let own_id = self.settings.own_id;
        let Some(job) = scheduler.lifecycle.job_mut(vm) else {
            return self.end_pass(scheduler, vm, cpu);
        };
        let event = job.report.event;
        let tried = &job.tried;
        let next = job.report.partitions.iter().enumerate().find(|(index, progress)| {
            !tried.get(*index).copied().unwrap_or(true)
                && matches!(
                    progress.status,
                    PartitionStatus::Waiting | PartitionStatus::Preempted(_)
                )
        });
        if let Some((index, progress)) = next {
            let partition = progress.partition;
            let call = match progress.status {
                PartitionStatus::Preempted(target) => Call::Run { target, is_64: false },
                _ => Call::MsgSendDirectReq(DirectMessage {
                    source: own_id,
                    destination: partition,
                    body: DirectBody::Framework32(event.message(vm)),
                }),
            };
            if let Some(flag) = job.tried.get_mut(index) {
                *flag = true;
            }
            job.in_flight = Some(Step::Message(partition));
            return Delivery {
                to: ContextId { endpoint: partition, vcpu: VcpuId(cpu) },
                transfer: Transfer::OtherWorld,
                registers: call.encode(version),
            };
        }
        if event == VmEvent::Destroyed {
            if let Some(handle) = self.next_forwarded_reclaim(vm, &job.reclaims_tried) {
                // Room: at most as many as the forwarder tracks.
                let _ = job.reclaims_tried.push(handle);
                job.in_flight = Some(Step::Reclaim(handle));
                let call = Call::MemReclaim {
                    handle: handle.0,
                    flags: ffa_core::call::ReclaimFlags::empty(),
                };
                return Delivery {
                    to: ContextId { endpoint: self.settings.spm_id, vcpu: VcpuId(cpu) },
                    transfer: Transfer::OtherWorld,
                    registers: call.encode(version),
                };
            }
            if job.report.mapped_at_spmc && !job.unmap_tried {
                job.unmap_tried = true;
                job.in_flight = Some(Step::UnmapMailbox);
                return Delivery {
                    to: ContextId { endpoint: self.settings.spm_id, vcpu: VcpuId(cpu) },
                    transfer: Transfer::OtherWorld,
                    registers: Call::RxtxUnmap { vm_id: vm }.encode(version),
                };
            }
        }
        self.end_pass(scheduler, vm, cpu)
    }

    /// Ends the pass: teardown sweeps what can now be reclaimed locally and counts what is
    /// left; the platform's scheduler gets SUCCESS or RETRY.
    fn end_pass(
        &self,
        scheduler: &mut Scheduler<ENDPOINTS, VCPUS>,
        vm: EndpointId,
        cpu: u16,
    ) -> Delivery {
        let mut answer = Return::success(SuccessArgs::EMPTY);
        let destroyed = self.is_destroyed(vm);
        let outstanding = if destroyed { self.reclaim_local_transactions(vm) } else { 0 };
        if let Some(job) = scheduler.lifecycle.job_mut(vm) {
            job.cpu = None;
            job.in_flight = None;
            if job.report.event == VmEvent::Destroyed {
                job.report.outstanding_transactions = outstanding;
            }
            if !job.report.is_complete() {
                answer = Return::error(FfaError::Retry);
            }
        }
        Delivery {
            to: ContextId { endpoint: self.settings.own_id, vcpu: VcpuId(cpu) },
            transfer: Transfer::Scheduler,
            registers: answer.encode(self.settings.version),
        }
    }

    /// The other world answered on `cpu` where a lifecycle pass waits: records the answer and
    /// goes on. `None` if no pass waits there.
    pub(super) fn lifecycle_result(
        &self,
        scheduler: &mut Scheduler<ENDPOINTS, VCPUS>,
        cpu: u16,
        registers: &[u64; 18],
    ) -> Option<Delivery> {
        let index = scheduler.lifecycle.running_on(cpu)?;
        let job = scheduler.lifecycle.jobs.get_mut(index)?;
        let vm = job.report.vm;
        let event = job.report.event;
        let answer = Call::decode(registers, self.settings.version)
            .and_then(Return::from_call)
            .unwrap_or_else(Return::error);
        match job.in_flight.take() {
            Some(Step::Message(partition)) => {
                if let Some(progress) = job
                    .report
                    .partitions
                    .iter_mut()
                    .find(|progress| progress.partition == partition)
                {
                    let status = self.message_outcome(event, partition, &answer);
                    let refused_run = matches!(answer, Return::Error { .. });
                    progress.status = match (progress.status, status) {
                        // FFA_RUN could not resume it yet: it still has the message.
                        (PartitionStatus::Preempted(target), PartitionStatus::Waiting)
                            if refused_run =>
                        {
                            PartitionStatus::Preempted(target)
                        }
                        (_, status) => status,
                    };
                }
            }
            Some(Step::Reclaim(handle)) => {
                if matches!(answer, Return::Success { .. }) {
                    self.finish_forwarded_reclaim(vm, handle);
                }
            }
            Some(Step::UnmapMailbox) => {
                if matches!(answer, Return::Success { .. }) {
                    job.report.mapped_at_spmc = false;
                }
            }
            None => {}
        }
        Some(self.advance_pass(scheduler, vm, cpu))
    }

    /// What a partition's answer to a VM availability message (or to the FFA_RUN resuming
    /// it) means.
    fn message_outcome(
        &self,
        event: VmEvent,
        partition: EndpointId,
        answer: &Return,
    ) -> PartitionStatus {
        let transient = |error: FfaError| {
            matches!(
                error,
                FfaError::Retry | FfaError::Busy | FfaError::Interrupted | FfaError::NotReady
            )
        };
        match answer {
            Return::DirectResponse(DirectMessage {
                source,
                destination,
                body: DirectBody::Framework32(response) | DirectBody::Framework64(response),
            }) if *source == partition && *destination == self.settings.own_id => {
                match event.status(response) {
                    Some(Ok(())) => PartitionStatus::Acknowledged,
                    Some(Err(error)) if transient(error) => PartitionStatus::Waiting,
                    Some(Err(error)) => PartitionStatus::Refused(error),
                    None => PartitionStatus::Refused(FfaError::Aborted),
                }
            }
            Return::Error { error, .. } if transient(*error) => PartitionStatus::Waiting,
            Return::Error { error, .. } => PartitionStatus::Refused(*error),
            Return::Interrupt { target, .. } | Return::Yield { target, .. }
                if target.endpoint == partition =>
            {
                PartitionStatus::Preempted(*target)
            }
            _ => PartitionStatus::Refused(FfaError::Aborted),
        }
    }
}
