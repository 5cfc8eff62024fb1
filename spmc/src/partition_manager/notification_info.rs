//! What the scheduler learns of pending notifications: FFA_NOTIFICATION_INFO_GET (matrix N07),
//! the platform's SRI/NPI requests, and the notification invariants.

use ffa_core::call::Return;
use ffa_core::notification::{InfoList, NotificationInfo};
use ffa_core::{FfaError, SuccessArgs, VcpuId};

use super::notification_state::{InterruptRequests, Receiver, SenderWorld};
use super::{Caller, EndpointMemory, InvariantViolation, PartitionManager, Role};

/// Adds `record`'s notifications that no earlier answer reported to `info` (global ones and
/// the first vCPUs in one list, then lists of up to three vCPUs) and marks them reported.
/// NO_MEMORY once the answer is full; what did not fit stays unreported.
fn report<const VCPUS: usize>(
    record: &mut Receiver<VCPUS>,
    info: &mut NotificationInfo,
    is_64: bool,
) -> Result<(), FfaError> {
    let global = !record.global.is_within(&record.reported_global);
    let mut vcpus: heapless::Vec<VcpuId, VCPUS> = heapless::Vec::new();
    for (index, (pending, reported)) in
        record.per_vcpu.iter().zip(record.reported_per_vcpu.iter()).enumerate()
    {
        if !pending.is_within(reported) {
            let vcpu = u16::try_from(index).map_err(|_| FfaError::NoMemory)?;
            vcpus.push(VcpuId(vcpu)).map_err(|_| FfaError::NoMemory)?;
        }
    }
    if vcpus.is_empty() {
        if global {
            info.push(InfoList::new(record.id, &[])?, is_64)?;
            record.reported_global = record.global;
        }
        return Ok(());
    }
    for (index, chunk) in vcpus.chunks(3).enumerate() {
        info.push(InfoList::new(record.id, chunk)?, is_64)?;
        if index == 0 {
            record.reported_global = record.global;
        }
        for vcpu in chunk {
            let slot = usize::from(vcpu.0);
            if let (Some(pending), Some(reported)) =
                (record.per_vcpu.get(slot), record.reported_per_vcpu.get_mut(slot))
            {
                *reported = *pending;
            }
        }
    }
    Ok(())
}

/// Whether `record` has notifications no answer reported yet.
fn unreported<const VCPUS: usize>(record: &Receiver<VCPUS>) -> bool {
    !record.global.is_within(&record.reported_global)
        || record
            .per_vcpu
            .iter()
            .zip(record.reported_per_vcpu.iter())
            .any(|(pending, reported)| !pending.is_within(reported))
}

impl<
        M: EndpointMemory,
        const ENDPOINTS: usize,
        const VCPUS: usize,
        const CPUS: usize,
        S: super::MemoryPlatform,
    > PartitionManager<M, ENDPOINTS, VCPUS, CPUS, S>
{
    /// FFA_NOTIFICATION_INFO_GET (matrix N07): the normal world's scheduler only
    /// (NOT_SUPPORTED for partitions and in the forwarder); NO_DATA when nothing new is
    /// pending.
    pub(super) fn info_get(&self, caller: &Caller, is_64: bool) -> Result<Return, FfaError> {
        if caller.local || self.effective_role() != Role::Spmc {
            return Err(FfaError::NotSupported);
        }
        let info = self.notification_info(is_64).ok_or(FfaError::NoData)?;
        // x2 (flags and counts) and x3-x7 (the IDs).
        let registers = info.encode(is_64);
        let args = if is_64 {
            let mut values = [0u64; 16];
            for (slot, value) in values.iter_mut().zip(registers) {
                *slot = value;
            }
            SuccessArgs::Args64(values)
        } else {
            SuccessArgs::Args32(registers.map(|value| value as u32))
        };
        Ok(Return::success(args))
    }

    /// The endpoints and vCPUs with notifications no earlier call reported, as
    /// FFA_NOTIFICATION_INFO_GET lists them (at most 10 IDs for SMC32, 20 for SMC64; `more
    /// pending` when some did not fit), and marks them reported. `None` when there is
    /// nothing new. SPMC role: partitions, then VMs; forwarder role: its VMs, for the
    /// platform's scheduler after a `schedule_receiver` request.
    pub fn notification_info(&self, is_64: bool) -> Option<NotificationInfo> {
        let mut notifications = self.notifications.lock();
        let mut info = NotificationInfo::new(false);
        let state = &mut *notifications;
        for record in state.local.iter_mut().chain(state.remote.iter_mut()) {
            if report(record, &mut info, is_64).is_err() {
                break;
            }
        }
        info.more_pending = state.local.iter().chain(state.remote.iter()).any(unreported);
        (info.id_count() > 0).then_some(info)
    }

    /// Collects the interrupt requests of `cpu` (call it after each entry point that returned
    /// a delivery for `cpu`, before carrying the delivery out):
    ///
    /// - `schedule_receiver` after a successful FFA_NOTIFICATION_SET or FFA_MSG_SEND2 on this
    ///   CPU; with the delay-SRI flag, only once the CPU is back in the other world (no local
    ///   context runs on it).
    /// - `notification_pending` names the local context now running on `cpu` when it is owed
    ///   an NPI: a notification for it (per-vCPU: for its vCPU; global: for any of the
    ///   receiver's contexts) arrived since its last signal or FFA_NOTIFICATION_GET.
    ///
    /// Each request is returned once. A CPU out of range has none.
    pub fn take_interrupt_requests(&self, cpu: u16) -> InterruptRequests {
        let scheduler = self.scheduler.lock();
        let running = scheduler.running_on(cpu);
        let mut notifications = self.notifications.lock();
        let Some(requests) = notifications.cpus.get_mut(usize::from(cpu)) else {
            return InterruptRequests::default();
        };
        let in_other_world = running.is_none();
        let schedule_receiver =
            requests.schedule_receiver || (requests.schedule_receiver_delayed && in_other_world);
        requests.schedule_receiver = false;
        if in_other_world {
            requests.schedule_receiver_delayed = false;
        }
        let notification_pending = running
            .filter(|context| self.receives_notification_pending(context.endpoint))
            .and_then(|context| {
                let record =
                    notifications.local.iter_mut().find(|record| record.id == context.endpoint)?;
                let own = record.signal_vcpu.get_mut(usize::from(context.vcpu.0))?;
                if !(*own || record.signal_global) {
                    return None;
                }
                *own = false;
                record.signal_global = false;
                Some(context)
            });
        InterruptRequests { schedule_receiver, notification_pending }
    }

    /// The notification invariants: pending notifications from partitions and VMs are bound
    /// to a sender, globally or per vCPU as they are pending; per-vCPU state exists only for
    /// the receiver's vCPUs; what INFO_GET reported is still pending.
    pub(super) fn check_notifications(&self) -> Result<(), InvariantViolation> {
        let notifications = self.notifications.lock();
        for record in notifications.local.iter().chain(notifications.remote.iter()) {
            let id = record.id;
            for world in [SenderWorld::Secure, SenderWorld::NonSecure] {
                let bindings = record.bindings(world);
                let global_bound = bindings.bound & !bindings.per_vcpu;
                let vcpu_bound = bindings.bound & bindings.per_vcpu;
                if record.global.sent_by(world) & !global_bound != 0 {
                    return Err(InvariantViolation::NotificationNotBound(id));
                }
                for pending in &record.per_vcpu {
                    if pending.sent_by(world) & !vcpu_bound != 0 {
                        return Err(InvariantViolation::NotificationNotBound(id));
                    }
                }
            }
            let vcpus = record.vcpus();
            let beyond = record.per_vcpu.iter().skip(vcpus).any(|pending| !pending.is_empty())
                || record.signal_vcpu.iter().skip(vcpus).any(|owed| *owed)
                || record
                    .per_vcpu
                    .iter()
                    .any(|pending| pending.spm_framework != 0 || pending.hypervisor_framework != 0);
            if beyond {
                return Err(InvariantViolation::NotificationVcpu(id));
            }
            let reported = record.reported_global.is_within(&record.global)
                && record
                    .reported_per_vcpu
                    .iter()
                    .zip(record.per_vcpu.iter())
                    .all(|(reported, pending)| reported.is_within(pending));
            if !reported {
                return Err(InvariantViolation::NotificationReport(id));
            }
        }
        Ok(())
    }
}
