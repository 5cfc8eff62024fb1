//! VM availability state behind the scheduler lock: partitions' subscriptions, each VM's
//! job (who was told what) and the report a platform reads.

use ffa_core::framework_message::FrameworkMessage;
use ffa_core::memory::MemoryHandle;
use ffa_core::{EndpointId, FfaError, TargetInfo};

use super::mailbox_forwarding::{MailboxCall, PendingMailboxCall};
use super::ContextId;
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

    pub(crate) fn message(self, vm_id: EndpointId) -> FrameworkMessage {
        let handle = MemoryHandle::INVALID.0;
        match self {
            Self::Created => FrameworkMessage::VmCreated { handle, vm_id },
            Self::Destroyed => FrameworkMessage::VmDestroyed { handle, vm_id },
        }
    }

    /// The acknowledgement status if `response` is this event's response type.
    pub(crate) fn status(self, response: &FrameworkMessage) -> Option<Result<(), FfaError>> {
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
    /// Teardown: the VM's buffers are still mapped at the SPMC (registered when the VM mapped
    /// them, or with
    /// [`PartitionManager::register_vm_mailbox`](super::PartitionManager::register_vm_mailbox);
    /// FFA_RXTX_UNMAP for the VM has not succeeded yet).
    pub mapped_at_spmc: bool,
    /// Teardown: the SPMC still holds the VM's notification bitmap
    /// (FFA_NOTIFICATION_BITMAP_DESTROY for the VM has not succeeded yet).
    pub bitmap_at_spmc: bool,
}

impl<const ENDPOINTS: usize> VmLifecycleReport<ENDPOINTS> {
    /// Whether nothing is left to do: every partition answered for good and nothing is
    /// outstanding.
    pub fn is_complete(&self) -> bool {
        self.outstanding_transactions == 0
            && !self.mapped_at_spmc
            && !self.bitmap_at_spmc
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
    /// FFA_NOTIFICATION_GET of the VM's SP and SPM bitmaps on this vCPU at the SPMC, which
    /// clears what is pending there before the bitmap is destroyed.
    DrainNotifications(u16),
    /// FFA_NOTIFICATION_BITMAP_DESTROY of the VM's bitmap at the SPMC.
    DestroyBitmap,
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
    /// The VM's bitmap was already asked to be destroyed at the SPMC in this pass.
    pub(crate) bitmap_tried: bool,
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

    /// The contexts blocked while the SPMC is asked about their VM (an RX buffer, the buffers'
    /// registration, a notification bitmap), with their CPU.
    pub(crate) fn acquiring(&self) -> impl Iterator<Item = (ContextId, u16)> + '_ {
        self.mailbox_calls.iter().filter_map(|pending| match pending.call {
            MailboxCall::Acquire { context, .. }
            | MailboxCall::MapForVm { context, .. }
            | MailboxCall::UnmapForVm { context, .. }
            | MailboxCall::CreateBitmap { context, .. } => Some((context, pending.cpu)),
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
                bitmap_at_spmc: false,
            },
            unmap_tried: false,
            bitmap_tried: false,
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
