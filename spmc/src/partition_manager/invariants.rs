//! The scheduling invariants, checkable at any time (tests and debug builds call it).

use super::notification_state::SenderWorld;
use super::state::{Party, State};
use super::{ContextId, EndpointMemory, MemoryPlatform, PartitionManager};

/// A broken scheduling invariant, naming the context where it was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvariantViolation {
    /// A context services a request while NotStarted, Waiting or Aborted.
    RequestWhileIdle(ContextId),
    /// A context is Blocked on a local callee that is not running or blocked on its behalf.
    DeadCallee(ContextId),
    /// A running or blocked context names a local context to return to that is not blocked
    /// on it.
    DanglingReturn(ContextId),
    /// Two contexts run on one CPU, or one runs on a CPU that does not exist.
    CpuConflict(ContextId),
    /// A context waits on the other world on a CPU where a local context runs, or two do.
    RemoteConflict(ContextId),
    /// A receiver has a pending notification that is not bound (globally or per vCPU, as it
    /// is pending) to a sender.
    NotificationNotBound(ffa_core::EndpointId),
    /// A receiver has per-vCPU state for a vCPU it does not have, or framework notifications
    /// per vCPU.
    NotificationVcpu(ffa_core::EndpointId),
    /// FFA_NOTIFICATION_INFO_GET reported a notification that is no longer pending.
    NotificationReport(ffa_core::EndpointId),
    /// A lifecycle pass or mailbox registration of the manager waits on the other world on a
    /// CPU (named as the manager's own ID and that CPU) where a local context runs or waits
    /// on the other world too, or an FFA_RX_ACQUIRE is pending for a context that is not
    /// blocked on the other world on that CPU.
    LifecycleConflict(ContextId),
    /// A destroyed VM still has a context that is not Aborted, a mailbox, or notification
    /// state.
    DestroyedLeftovers(ffa_core::EndpointId),
}

impl<
        M: EndpointMemory,
        const ENDPOINTS: usize,
        const VCPUS: usize,
        const CPUS: usize,
        S: MemoryPlatform,
    > PartitionManager<M, ENDPOINTS, VCPUS, CPUS, S>
{
    /// Checks every invariant: each context in exactly one state with a consistent request
    /// record; a Blocked context always has a live callee; every return link is mirrored; at
    /// most one running context per CPU; a CPU waiting on the other world runs nothing here;
    /// and the notification invariants (pending notifications are bound as they are pending,
    /// per-vCPU state only for real vCPUs, INFO_GET reports only what is pending).
    pub fn check_invariants(&self) -> Result<(), InvariantViolation> {
        let scheduler = self.scheduler.lock();
        let mut running = [false; CPUS];
        let mut remote = [false; CPUS];
        for (id, context) in scheduler.contexts() {
            let active = matches!(
                context.state,
                State::Running { .. } | State::Blocked { .. } | State::Preempted { .. }
            );
            if context.request.is_some() && !active {
                return Err(InvariantViolation::RequestWhileIdle(id));
            }
            let (cpu, return_to) = match context.state {
                State::Running { cpu, return_to } => {
                    let slot = running
                        .get_mut(usize::from(cpu))
                        .ok_or(InvariantViolation::CpuConflict(id))?;
                    if *slot {
                        return Err(InvariantViolation::CpuConflict(id));
                    }
                    *slot = true;
                    (cpu, return_to)
                }
                State::Blocked { cpu, return_to, callee } => {
                    match callee {
                        Party::Local(callee_id) => {
                            let live = scheduler.context(callee_id).is_some_and(|callee| {
                                matches!(
                                    callee.state,
                                    State::Running { cpu: other, return_to: Party::Local(back), .. }
                                    | State::Blocked { cpu: other, return_to: Party::Local(back), .. }
                                    if back == id && other == cpu
                                )
                            });
                            if !live {
                                return Err(InvariantViolation::DeadCallee(id));
                            }
                        }
                        Party::Remote(_) => {
                            let slot = remote
                                .get_mut(usize::from(cpu))
                                .ok_or(InvariantViolation::RemoteConflict(id))?;
                            if *slot {
                                return Err(InvariantViolation::RemoteConflict(id));
                            }
                            *slot = true;
                        }
                        Party::Boot | Party::Scheduler => {
                            return Err(InvariantViolation::DeadCallee(id))
                        }
                    }
                    (cpu, return_to)
                }
                _ => continue,
            };
            if let Party::Local(back) = return_to {
                let mirrored = scheduler.context(back).is_some_and(|caller| {
                    matches!(
                        caller.state,
                        State::Blocked { cpu: other, callee: Party::Local(callee), .. }
                        if callee == id && other == cpu
                    )
                });
                if !mirrored {
                    return Err(InvariantViolation::DanglingReturn(id));
                }
            }
        }
        for (id, context) in scheduler.contexts() {
            if let State::Running { cpu, .. } = context.state {
                if remote.get(usize::from(cpu)).copied().unwrap_or(false) {
                    return Err(InvariantViolation::RemoteConflict(id));
                }
            }
        }
        for cpu in 0..CPUS {
            let Ok(cpu_id) = u16::try_from(cpu) else { break };
            let busy = running.get(cpu).copied().unwrap_or(false)
                || remote.get(cpu).copied().unwrap_or(false);
            if busy && scheduler.lifecycle.manager_waits_on(cpu_id) {
                let own =
                    ContextId { endpoint: self.settings.own_id, vcpu: ffa_core::VcpuId(cpu_id) };
                return Err(InvariantViolation::LifecycleConflict(own));
            }
        }
        for (context, cpu) in scheduler.lifecycle.acquiring() {
            let blocked = scheduler.context(context).is_some_and(|waiting| {
                matches!(waiting.state, State::Blocked { cpu: on, callee: Party::Remote(_), .. } if on == cpu)
            });
            if !blocked {
                return Err(InvariantViolation::LifecycleConflict(context));
            }
        }
        for description in self.local.iter().filter(|description| self.is_destroyed(description.id))
        {
            let stopped = scheduler.endpoint(description.id).is_some_and(|endpoint| {
                endpoint.contexts.iter().all(|context| context.state == State::Aborted)
            });
            if !stopped {
                return Err(InvariantViolation::DestroyedLeftovers(description.id));
            }
        }
        drop(scheduler);
        self.check_destroyed_leftovers()?;
        self.check_notifications()
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
    /// A destroyed VM has no mailbox, no pending notification and no binding anywhere.
    fn check_destroyed_leftovers(&self) -> Result<(), InvariantViolation> {
        for description in self.local.iter().filter(|description| self.is_destroyed(description.id))
        {
            let vm = description.id;
            let leftover = InvariantViolation::DestroyedLeftovers(vm);
            if self.mailboxes.lock().find(vm).is_some() {
                return Err(leftover);
            }
            let notifications = self.notifications.lock();
            for receiver in notifications.local.iter().chain(notifications.remote.iter()) {
                let world = SenderWorld::of(vm);
                let bound_to_vm = receiver.bindings(world).bound_to(vm, u64::MAX) != 0;
                let own_state = receiver.id == vm
                    && (receiver.any_pending()
                        || receiver.bindings(SenderWorld::Secure).bound != 0
                        || receiver.bindings(SenderWorld::NonSecure).bound != 0);
                if bound_to_vm || own_state {
                    return Err(leftover);
                }
            }
        }
        Ok(())
    }
}
