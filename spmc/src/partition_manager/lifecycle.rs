//! VM availability: the forwarder's passes that tell subscribed partitions VM_CREATED /
//! VM_DESTROYED (with the retry rules), driven through the other world, and the subscription
//! API of both roles.

use core::sync::atomic::Ordering;

use ffa_core::call::Return;
use ffa_core::direct_message::{DirectBody, DirectMessage};
use ffa_core::{Call, EndpointId, FfaError, SuccessArgs, VcpuId};

use super::lifecycle_state::{PartitionStatus, Step, VmEvent, VmLifecycleReport};
use super::state::Scheduler;
use super::{
    ContextId, Delivery, EndpointMemory, MemoryPlatform, PartitionManager, Role, Transfer,
};
use crate::manifest::VmAvailabilityMessages;

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
        let known = match self.effective_role() {
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

    /// SPMC: whether the other world's endpoint `id` was destroyed: the hypervisor relayed
    /// VM_DESTROYED for it to a partition, and neither VM_CREATED nor [`Self::add_remote`]
    /// came since. Calls naming it are answered as for an unknown endpoint
    /// (INVALID_PARAMETERS).
    pub fn is_remote_destroyed(&self, id: EndpointId) -> bool {
        let wanted = u32::from(id.0) + 1;
        self.remote_destroyed.iter().any(|slot| slot.load(Ordering::Acquire) == wanted)
    }

    /// Records (or forgets) that the other world's endpoint `id` was destroyed. With no free
    /// slot the record is not kept (there is one per endpoint the SPMC can know).
    pub(super) fn mark_remote_destroyed(&self, id: EndpointId, destroyed: bool) {
        let wanted = u32::from(id.0) + 1;
        if !destroyed {
            for slot in &self.remote_destroyed {
                let _ = slot.compare_exchange(wanted, 0, Ordering::AcqRel, Ordering::Acquire);
            }
            return;
        }
        if self.is_remote_destroyed(id) {
            return;
        }
        for slot in &self.remote_destroyed {
            if slot.compare_exchange(0, wanted, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                return;
            }
        }
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
        if !self.is_forwarder() {
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
            job.bitmap_tried = false;
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
            if job.report.bitmap_at_spmc && !job.bitmap_tried {
                // Pending notifications keep the bitmap (DENIED): take them on each vCPU
                // first, then destroy it.
                job.bitmap_tried = true;
                return self.drain_step(job, vm, 0, cpu);
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
        if !self.is_forwarder() {
            return None;
        }
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
            Some(Step::DrainNotifications(vcpu)) => {
                return Some(self.drain_step(job, vm, vcpu.saturating_add(1), cpu));
            }
            Some(Step::DestroyBitmap) => {
                // DENIED: the SPMC has no bitmap for the VM (any more).
                if matches!(
                    answer,
                    Return::Success { .. } | Return::Error { error: FfaError::Denied, .. }
                ) {
                    job.report.bitmap_at_spmc = false;
                    self.set_bitmap_at_spmc(vm, false);
                }
            }
            None => {}
        }
        Some(self.advance_pass(scheduler, vm, cpu))
    }

    /// The teardown's next call about the VM's bitmap at the SPMC: FFA_NOTIFICATION_GET of
    /// the SP and SPM bitmaps on `vcpu` while vCPUs are left, then
    /// FFA_NOTIFICATION_BITMAP_DESTROY.
    fn drain_step(
        &self,
        job: &mut super::lifecycle_state::Job<ENDPOINTS>,
        vm: EndpointId,
        vcpu: u16,
        cpu: u16,
    ) -> Delivery {
        let vcpus = self
            .description_of_configured(vm)
            .map_or(1, |description| description.execution_context_count);
        let call = if vcpu < vcpus {
            job.in_flight = Some(Step::DrainNotifications(vcpu));
            Call::NotificationGet {
                receiver: vm,
                vcpu: VcpuId(vcpu),
                flags: ffa_core::notification::GetFlags::SP
                    | ffa_core::notification::GetFlags::SPM_FRAMEWORK,
            }
        } else {
            job.in_flight = Some(Step::DestroyBitmap);
            Call::NotificationBitmapDestroy { vm_id: vm }
        };
        Delivery {
            to: ContextId { endpoint: self.settings.spm_id, vcpu: VcpuId(cpu) },
            transfer: Transfer::OtherWorld,
            registers: call.encode(self.settings.version),
        }
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
