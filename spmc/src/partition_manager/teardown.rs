//! Forwarder: tearing a VM down. Its contexts stop for good, its RX/TX buffers are unmapped,
//! its notifications and unfinished memory calls are dropped, what it borrowed is given back,
//! and what it sent is reclaimed as soon as no borrower holds it (forwarded transactions by
//! FFA_MEM_RECLAIM to the SPMC); its ID is then unknown to every call.

use core::sync::atomic::Ordering;

use ffa_core::memory::{MemoryHandle, ReclaimFlags, RelinquishFlags};
use ffa_core::{EndpointId, FfaError};

use super::lifecycle_state::VmEvent;
use super::memory::MemoryState;
use super::notification_state::Receiver;
use super::state::{Scheduler, State};
use super::{Delivery, EndpointMemory, MemoryPlatform, PartitionManager};

impl<
        M: EndpointMemory,
        const ENDPOINTS: usize,
        const VCPUS: usize,
        const CPUS: usize,
        S: MemoryPlatform,
    > PartitionManager<M, ENDPOINTS, VCPUS, CPUS, S>
{
    /// Forwarder: tears the local VM `vm` down, then tells the secure partitions that
    /// subscribed to VM_DESTROYED and reclaims what it can, on `cpu`.
    ///
    /// At once: the VM's contexts become Aborted for good; its RX/TX buffers are unmapped (and
    /// their RX/TX marks cleared); its notification bitmaps and bindings, and bindings and
    /// pending notifications it was the sender of, are dropped; its unfinished fragmented
    /// sends and retrieve responses end; transactions it holds as a borrower are relinquished
    /// for it; transactions it sent that no borrower holds are reclaimed. From then on its ID
    /// is unknown: calls naming it get what an unknown endpoint gets (INVALID_PARAMETERS).
    ///
    /// Then, like [`Self::vm_created`], a pass over the other world: VM_DESTROYED to each
    /// subscribed partition (same retry rules), then FFA_MEM_RECLAIM to the SPMC of every
    /// transaction the VM forwarded there (the SPMC refuses while a partition holds it), then
    /// FFA_RXTX_UNMAP for the VM if its buffers were registered there (when the VM mapped
    /// them, or with [`Self::register_vm_mailbox`]), then, if the SPMC holds the VM's
    /// notification bitmap, FFA_NOTIFICATION_GET of its SP and SPM bitmaps on each vCPU
    /// (which clears what is still pending) and FFA_NOTIFICATION_BITMAP_DESTROY. The
    /// pass ends with [`super::Transfer::Scheduler`] carrying FFA_SUCCESS when everything is
    /// done, or FFA_ERROR(RETRY) when partitions are still to be told or transactions are
    /// still held, or the SPMC still holds the VM's buffers or bitmap
    /// ([`Self::vm_lifecycle_report`] says which). Calling this again for the
    /// destroyed VM runs another pass for what is left.
    ///
    /// Errors (nothing changes): SPMC role NOT_SUPPORTED; `vm` not a local VM or `cpu` out of
    /// range: INVALID_PARAMETERS; a local context occupies `cpu`, or a context of the VM runs,
    /// waits in a call or services a request: DENIED (the platform stops it first, e.g. with
    /// [`Self::preempt`] or [`Self::abort`]); another pass is running: BUSY.
    pub fn destroy_vm(&self, vm: EndpointId, cpu: u16) -> Result<Delivery, FfaError> {
        let mut scheduler = self.lifecycle_entry(vm, cpu)?;
        let continuing = self.is_destroyed(vm)
            && scheduler
                .lifecycle
                .job_mut(vm)
                .is_some_and(|job| job.report.event == VmEvent::Destroyed);
        if !continuing {
            let mut mapped_at_spmc = false;
            if !self.is_destroyed(vm) {
                Self::check_stoppable(&scheduler, vm)?;
                self.stop_vm(&mut scheduler, vm);
                mapped_at_spmc = self.release_vm_resources(vm);
            }
            scheduler.lifecycle.new_job(vm, VmEvent::Destroyed)?;
            if let Some(job) = scheduler.lifecycle.job_mut(vm) {
                job.report.mapped_at_spmc = mapped_at_spmc;
                job.report.bitmap_at_spmc = self.vm_bitmap_at_spmc(vm);
            }
        }
        Ok(self.start_pass(&mut scheduler, vm, cpu))
    }

    /// The position of `id` among the configured local endpoints (destroyed or not).
    pub(super) fn local_index(&self, id: EndpointId) -> Option<usize> {
        self.local.iter().position(|description| description.id == id)
    }

    /// Whether the local VM `id` has been destroyed (and not created again).
    pub fn is_destroyed(&self, id: EndpointId) -> bool {
        self.local_index(id)
            .and_then(|index| self.destroyed.get(index))
            .is_some_and(|flag| flag.load(Ordering::Acquire))
    }

    fn set_destroyed(&self, id: EndpointId, destroyed: bool) {
        if let Some(flag) = self.local_index(id).and_then(|index| self.destroyed.get(index)) {
            flag.store(destroyed, Ordering::Release);
        }
    }

    /// DENIED while a context of `vm` is in use.
    fn check_stoppable(
        scheduler: &Scheduler<ENDPOINTS, VCPUS>,
        vm: EndpointId,
    ) -> Result<(), FfaError> {
        let endpoint = scheduler.endpoint(vm).ok_or(FfaError::InvalidParameters)?;
        let in_use = endpoint.contexts.iter().any(|context| {
            context.request.is_some()
                || matches!(context.state, State::Running { .. } | State::Blocked { .. })
        });
        if in_use {
            Err(FfaError::Denied)
        } else {
            Ok(())
        }
    }

    /// Every context of `vm` becomes Aborted and its ID unknown.
    fn stop_vm(&self, scheduler: &mut Scheduler<ENDPOINTS, VCPUS>, vm: EndpointId) {
        if let Some(endpoint) = scheduler.endpoint_mut(vm) {
            endpoint.aborted = true;
            for context in endpoint.contexts.iter_mut() {
                context.state = State::Aborted;
                context.request = None;
            }
        }
        self.set_destroyed(vm, true);
    }

    /// A destroyed VM is created again: its contexts start over and its version is its
    /// configured one.
    pub(super) fn revive(&self, scheduler: &mut Scheduler<ENDPOINTS, VCPUS>, vm: EndpointId) {
        let version = self.description_of_configured(vm).map(|description| description.version);
        if let Some(endpoint) = scheduler.endpoint_mut(vm) {
            endpoint.aborted = false;
            for context in endpoint.contexts.iter_mut() {
                context.state = State::NotStarted;
                context.request = None;
            }
            if let Some(version) = version {
                endpoint.version = super::state::NegotiatedVersion::new(version);
            }
        }
        self.set_destroyed(vm, false);
    }

    pub(super) fn description_of_configured(
        &self,
        id: EndpointId,
    ) -> Option<&super::EndpointDescription> {
        self.local.iter().find(|description| description.id == id)
    }

    /// Unmaps the VM's mailbox, drops its notification state and its memory calls in
    /// progress, gives back what it borrowed and reclaims what it sent that nobody holds.
    /// Returns whether the mailbox was registered with the SPMC (to be unmapped there too).
    fn release_vm_resources(&self, vm: EndpointId) -> bool {
        let mut registered = false;
        {
            let mut mailboxes = self.mailboxes.lock();
            if let Some(mailbox) = mailboxes.remove(vm) {
                registered = mailbox.registered;
                mailboxes.memory.unmap_buffer(mailbox.transmit);
                mailboxes.memory.unmap_buffer(mailbox.receive);
                self.memory_unmark_mailbox(vm);
            }
        }
        if let Some(state) = self.memory.lock().as_mut() {
            Self::drop_memory_calls(state, vm);
            Self::relinquish_borrowed(state, vm);
        }
        self.reclaim_local_transactions(vm);
        let mut guard = self.notifications.lock();
        let notifications = &mut *guard;
        for receiver in notifications.local.iter_mut().chain(notifications.remote.iter_mut()) {
            if receiver.id == vm {
                *receiver = Receiver::new(vm, receiver.vcpu_count);
            } else {
                receiver.forget_sender(vm);
            }
        }
        for requests in notifications.cpus.iter_mut() {
            if requests.forwarded_get.is_some_and(|get| get.context.endpoint == vm) {
                requests.forwarded_get = None;
            }
        }
        registered
    }

    /// Unfinished fragmented sends of (or through) the VM end; retrieve responses waiting
    /// for its FFA_MEM_FRAG_RX are dropped.
    fn drop_memory_calls(state: &mut MemoryState<S>, vm: EndpointId) {
        let mut index = 0;
        while let Some(send) = state.sends.get(index) {
            if send.sender == vm || send.mailbox == vm {
                let send = state.sends.swap_remove(index);
                let _ = state.ledger.abort(send.pending);
            } else {
                index += 1;
            }
        }
        state.retrieves.retain(|retrieve| retrieve.mailbox != vm);
    }

    /// Relinquishes, for the VM, every transaction it holds as a borrower.
    fn relinquish_borrowed(state: &mut MemoryState<S>, vm: EndpointId) {
        let MemoryState { ledger, platform, .. } = state;
        let mut skip = 0usize;
        loop {
            let held = ledger
                .handles()
                .filter(|&handle| {
                    ledger.holders(handle).is_ok_and(|mut holders| holders.any(|id| id == vm))
                })
                .nth(skip);
            let Some(handle) = held else { break };
            if ledger.relinquish(vm, handle, RelinquishFlags::default(), platform).is_err() {
                // Left for the report's count; look at the next one.
                skip += 1;
            }
        }
    }

    /// Reclaims every transaction `vm` sent that is not forwarded and that no borrower holds;
    /// returns how many transactions it sent are left (held by a borrower, or forwarded and
    /// not yet reclaimed by the SPMC).
    pub(super) fn reclaim_local_transactions(&self, vm: EndpointId) -> usize {
        let mut guard = self.memory.lock();
        let Some(state) = guard.as_mut() else { return 0 };
        let MemoryState { ledger, platform, forwarded, .. } = state;
        let sent_by_vm = |ledger: &memory_sharing::Ledger<'_>, handle: MemoryHandle| {
            ledger.hypervisor_retrieve(handle).is_ok_and(|info| info.sender == vm)
        };
        let mut skip = 0usize;
        loop {
            let candidate = ledger
                .handles()
                .filter(|&handle| {
                    sent_by_vm(ledger, handle)
                        && !forwarded.iter().any(|entry| entry.local == handle)
                        && ledger.holders(handle).is_ok_and(|mut holders| holders.next().is_none())
                })
                .nth(skip);
            let Some(handle) = candidate else { break };
            if ledger.reclaim(vm, handle, ReclaimFlags::default(), platform).is_err() {
                skip += 1;
            }
        }
        ledger.handles().filter(|&handle| sent_by_vm(ledger, handle)).count()
    }

    /// The next transaction `vm` forwarded to the SPMC that this pass has not tried to
    /// reclaim yet.
    pub(super) fn next_forwarded_reclaim(
        &self,
        vm: EndpointId,
        tried: &[MemoryHandle],
    ) -> Option<MemoryHandle> {
        let guard = self.memory.lock();
        let state = guard.as_ref()?;
        state
            .forwarded
            .iter()
            .find(|entry| entry.sender == vm && !tried.contains(&entry.remote))
            .map(|entry| entry.remote)
    }

    /// The SPMC agreed to a teardown reclaim: the local record ends too.
    pub(super) fn finish_forwarded_reclaim(&self, vm: EndpointId, remote: MemoryHandle) {
        let mut guard = self.memory.lock();
        let Some(state) = guard.as_mut() else { return };
        let Some(entry) = state.forwarded.iter().find(|entry| entry.remote == remote).copied()
        else {
            return;
        };
        state.forwarded.retain(|entry| entry.remote != remote);
        let _ = state.ledger.reclaim(vm, entry.local, ReclaimFlags::default(), &mut state.platform);
    }
}
