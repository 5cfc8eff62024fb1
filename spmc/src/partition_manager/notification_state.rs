//! Notification state behind its own lock: each receiver's bindings and pending bitmaps, and
//! the interrupt requests (SRI, NPI) waiting for the platform to collect them.

use ffa_core::notification::{GetFlags, NotificationGetResult};
use ffa_core::{EndpointId, VcpuId};

use super::config::EndpointDescription;
use super::context::ContextId;

/// Bit 0 of a framework bitmap: "RX buffer full", an indirect message arrived (reference §8.1).
pub(crate) const RX_BUFFER_FULL: u32 = 1;

/// Interrupts the core asks the platform to raise on one CPU, collected with
/// [`super::PartitionManager::take_interrupt_requests`] after each entry point returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct InterruptRequests {
    /// Schedule receiver interrupt. SPMC role: raise the SRI
    /// ([`super::FeatureInterrupts::schedule_receiver`]) for the normal world on this CPU, whose
    /// scheduler then calls FFA_NOTIFICATION_INFO_GET. Forwarder role: a local VM has new
    /// notifications; the platform's scheduler finds it with
    /// [`super::PartitionManager::notification_info`].
    pub schedule_receiver: bool,
    /// Notification pending interrupt: inject the NPI
    /// ([`super::FeatureInterrupts::notification_pending`]) into this local context, which the
    /// delivery just returned enters on this CPU; it then calls FFA_NOTIFICATION_GET.
    pub notification_pending: Option<ContextId>,
}

/// Which world a notification's sender is in: each receiver keeps separate bindings and
/// bitmaps for secure partitions and for VMs (FFA_NOTIFICATION_GET returns them apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SenderWorld {
    Secure,
    NonSecure,
}

impl SenderWorld {
    pub(crate) const fn of(sender: EndpointId) -> Self {
        if sender.is_secure() {
            Self::Secure
        } else {
            Self::NonSecure
        }
    }
}

/// Which of one sender world's 64 notifications are bound, to whom, and which per vCPU.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bindings {
    pub(crate) bound: u64,
    pub(crate) per_vcpu: u64,
    senders: [EndpointId; 64],
}

impl Bindings {
    const EMPTY: Self = Self { bound: 0, per_vcpu: 0, senders: [EndpointId(0); 64] };

    /// The bits of `bitmap` bound to `sender`.
    pub(crate) fn bound_to(&self, sender: EndpointId, bitmap: u64) -> u64 {
        let mut matching = 0;
        for (bit, owner) in self.senders.iter().enumerate() {
            let mask = 1u64 << bit;
            if bitmap & self.bound & mask != 0 && *owner == sender {
                matching |= mask;
            }
        }
        matching
    }

    /// Binds every bit of `bitmap` to `sender`.
    pub(crate) fn bind(&mut self, sender: EndpointId, bitmap: u64, per_vcpu: bool) {
        for (bit, owner) in self.senders.iter_mut().enumerate() {
            if bitmap & (1u64 << bit) != 0 {
                *owner = sender;
            }
        }
        self.bound |= bitmap;
        if per_vcpu {
            self.per_vcpu |= bitmap;
        } else {
            self.per_vcpu &= !bitmap;
        }
    }

    /// Unbinds every bit of `bitmap`.
    pub(crate) fn unbind(&mut self, bitmap: u64) {
        for (bit, owner) in self.senders.iter_mut().enumerate() {
            if bitmap & (1u64 << bit) != 0 {
                *owner = EndpointId(0);
            }
        }
        self.bound &= !bitmap;
        self.per_vcpu &= !bitmap;
    }
}

/// A set of notifications of one receiver: global ones, or those of one vCPU (whose
/// framework fields stay zero: framework notifications are global).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Pending {
    pub(crate) from_secure: u64,
    pub(crate) from_non_secure: u64,
    pub(crate) spm_framework: u32,
    pub(crate) hypervisor_framework: u32,
}

impl Pending {
    pub(crate) const EMPTY: Self =
        Self { from_secure: 0, from_non_secure: 0, spm_framework: 0, hypervisor_framework: 0 };

    pub(crate) fn sent_by(&self, world: SenderWorld) -> u64 {
        match world {
            SenderWorld::Secure => self.from_secure,
            SenderWorld::NonSecure => self.from_non_secure,
        }
    }

    pub(crate) fn sent_by_mut(&mut self, world: SenderWorld) -> &mut u64 {
        match world {
            SenderWorld::Secure => &mut self.from_secure,
            SenderWorld::NonSecure => &mut self.from_non_secure,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        *self == Self::EMPTY
    }

    /// The notifications in `self` but not in `other`.
    pub(crate) fn without(&self, other: &Self) -> Self {
        Self {
            from_secure: self.from_secure & !other.from_secure,
            from_non_secure: self.from_non_secure & !other.from_non_secure,
            spm_framework: self.spm_framework & !other.spm_framework,
            hypervisor_framework: self.hypervisor_framework & !other.hypervisor_framework,
        }
    }

    /// The part of `self` that `flags` selects.
    pub(crate) fn selected(&self, flags: GetFlags) -> Self {
        let pick64 = |flag: GetFlags, value: u64| if flags.contains(flag) { value } else { 0 };
        let pick32 = |flag: GetFlags, value: u32| if flags.contains(flag) { value } else { 0 };
        Self {
            from_secure: pick64(GetFlags::SP, self.from_secure),
            from_non_secure: pick64(GetFlags::VM, self.from_non_secure),
            spm_framework: pick32(GetFlags::SPM_FRAMEWORK, self.spm_framework),
            hypervisor_framework: pick32(GetFlags::HYPERVISOR_FRAMEWORK, self.hypervisor_framework),
        }
    }

    /// Whether every notification of `self` is also in `other`.
    pub(crate) fn is_within(&self, other: &Self) -> bool {
        self.without(other).is_empty()
    }
}

/// The notification state of one receiver: a local endpoint with notification support, or a
/// VM whose bitmap the normal world created (SPMC role).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Receiver<const VCPUS: usize> {
    pub(crate) id: EndpointId,
    pub(crate) vcpu_count: u16,
    secure_bindings: Bindings,
    non_secure_bindings: Bindings,
    pub(crate) global: Pending,
    pub(crate) per_vcpu: [Pending; VCPUS],
    /// The pending notifications FFA_NOTIFICATION_INFO_GET already reported (a subset of
    /// `global` and `per_vcpu`; new ones are reported on the next call).
    pub(crate) reported_global: Pending,
    pub(crate) reported_per_vcpu: [Pending; VCPUS],
    /// An NPI is owed to whichever context of the receiver runs next (global notifications).
    pub(crate) signal_global: bool,
    /// An NPI is owed to vCPU n (per-vCPU notifications).
    pub(crate) signal_vcpu: [bool; VCPUS],
}

impl<const VCPUS: usize> Receiver<VCPUS> {
    pub(crate) const fn new(id: EndpointId, vcpu_count: u16) -> Self {
        Self {
            id,
            vcpu_count,
            secure_bindings: Bindings::EMPTY,
            non_secure_bindings: Bindings::EMPTY,
            global: Pending::EMPTY,
            per_vcpu: [Pending::EMPTY; VCPUS],
            reported_global: Pending::EMPTY,
            reported_per_vcpu: [Pending::EMPTY; VCPUS],
            signal_global: false,
            signal_vcpu: [false; VCPUS],
        }
    }

    pub(crate) fn bindings(&self, world: SenderWorld) -> &Bindings {
        match world {
            SenderWorld::Secure => &self.secure_bindings,
            SenderWorld::NonSecure => &self.non_secure_bindings,
        }
    }

    pub(crate) fn bindings_mut(&mut self, world: SenderWorld) -> &mut Bindings {
        match world {
            SenderWorld::Secure => &mut self.secure_bindings,
            SenderWorld::NonSecure => &mut self.non_secure_bindings,
        }
    }

    /// The vCPUs the receiver has (at most the `VCPUS` capacity).
    pub(crate) fn vcpus(&self) -> usize {
        core::cmp::min(usize::from(self.vcpu_count), VCPUS)
    }

    /// Every notification from `world` pending globally or on any vCPU.
    pub(crate) fn pending_from(&self, world: SenderWorld) -> u64 {
        self.per_vcpu.iter().fold(self.global.sent_by(world), |all, vcpu| all | vcpu.sent_by(world))
    }

    /// Whether anything at all is pending.
    pub(crate) fn any_pending(&self) -> bool {
        !self.global.is_empty() || self.per_vcpu.iter().any(|vcpu| !vcpu.is_empty())
    }

    /// Drops every binding to `sender` (a destroyed VM) and what it left pending.
    pub(crate) fn forget_sender(&mut self, sender: EndpointId) {
        let world = SenderWorld::of(sender);
        let bits = self.bindings(world).bound_to(sender, u64::MAX);
        if bits == 0 {
            return;
        }
        self.bindings_mut(world).unbind(bits);
        let pending = core::iter::once(&mut self.global)
            .chain(core::iter::once(&mut self.reported_global))
            .chain(self.per_vcpu.iter_mut())
            .chain(self.reported_per_vcpu.iter_mut());
        for set in pending {
            *set.sent_by_mut(world) &= !bits;
        }
        if self.global.is_empty() {
            self.signal_global = false;
        }
        for (pending, signal) in self.per_vcpu.iter().zip(self.signal_vcpu.iter_mut()) {
            if pending.is_empty() {
                *signal = false;
            }
        }
    }

    /// Returns and clears what `flags` selects of the global notifications and those of
    /// `vcpu`; an NPI still owed for what is now retrieved is dropped.
    pub(crate) fn take(&mut self, vcpu: VcpuId, flags: GetFlags) -> NotificationGetResult {
        let index = usize::from(vcpu.0);
        let global = self.global.selected(flags);
        let own =
            self.per_vcpu.get(index).map(|pending| pending.selected(flags)).unwrap_or_default();
        self.global = self.global.without(&global);
        self.reported_global = self.reported_global.without(&global);
        if self.global.is_empty() {
            self.signal_global = false;
        }
        if let (Some(pending), Some(reported)) =
            (self.per_vcpu.get_mut(index), self.reported_per_vcpu.get_mut(index))
        {
            *pending = pending.without(&own);
            *reported = reported.without(&own);
            if pending.is_empty() {
                if let Some(signal) = self.signal_vcpu.get_mut(index) {
                    *signal = false;
                }
            }
        }
        NotificationGetResult {
            from_sp: ffa_core::notification::NotificationBitmap(
                global.from_secure | own.from_secure,
            ),
            from_vm: ffa_core::notification::NotificationBitmap(
                global.from_non_secure | own.from_non_secure,
            ),
            spm_framework: global.spm_framework,
            hypervisor_framework: global.hypervisor_framework,
        }
    }
}

/// A FFA_NOTIFICATION_GET the forwarder passed to the SPMC for a VM's SP and SPM bitmaps; the
/// VM and hypervisor bitmaps it holds itself are added when the answer comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ForwardedGet {
    pub(crate) context: ContextId,
    pub(crate) flags: GetFlags,
}

/// What one CPU owes the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CpuRequests {
    /// Raise the SRI at the next collection.
    pub(crate) schedule_receiver: bool,
    /// Raise the SRI once the CPU returns to the other world (the delay-SRI flag).
    pub(crate) schedule_receiver_delayed: bool,
    pub(crate) forwarded_get: Option<ForwardedGet>,
}

impl CpuRequests {
    const NONE: Self =
        Self { schedule_receiver: false, schedule_receiver_delayed: false, forwarded_get: None };
}

/// Everything the notification lock protects.
#[derive(Debug)]
pub(crate) struct Notifications<const ENDPOINTS: usize, const VCPUS: usize, const CPUS: usize> {
    /// Local endpoints with notification support (fixed at construction).
    pub(crate) local: heapless::Vec<Receiver<VCPUS>, ENDPOINTS>,
    /// Other-world VMs whose bitmaps FFA_NOTIFICATION_BITMAP_CREATE made (SPMC role).
    pub(crate) remote: heapless::Vec<Receiver<VCPUS>, ENDPOINTS>,
    pub(crate) cpus: [CpuRequests; CPUS],
}

impl<const ENDPOINTS: usize, const VCPUS: usize, const CPUS: usize>
    Notifications<ENDPOINTS, VCPUS, CPUS>
{
    /// No receivers and no requests.
    pub(crate) const EMPTY: Self = Self {
        local: heapless::Vec::new(),
        remote: heapless::Vec::new(),
        cpus: [CpuRequests::NONE; CPUS],
    };

    /// A receiver for every local endpoint that supports notifications; no remote receiver
    /// and no request.
    pub(crate) fn configure(&mut self, local: &[EndpointDescription]) {
        self.local.clear();
        self.remote.clear();
        self.cpus = [CpuRequests::NONE; CPUS];
        for description in local.iter().filter(|description| description.notification_support) {
            let receiver = Receiver::new(description.id, description.execution_context_count);
            // The configuration was checked against ENDPOINTS: this cannot overflow.
            let _ = self.local.push(receiver);
        }
    }

    /// The receiver whose notifications this manager holds, local or remote.
    pub(crate) fn receiver_mut(&mut self, id: EndpointId) -> Option<&mut Receiver<VCPUS>> {
        self.local.iter_mut().chain(self.remote.iter_mut()).find(|receiver| receiver.id == id)
    }

    /// Asks for the SRI on `cpu`, now or when the CPU returns to the other world.
    pub(crate) fn request_schedule(&mut self, cpu: u16, delayed: bool) {
        if let Some(requests) = self.cpus.get_mut(usize::from(cpu)) {
            if delayed {
                requests.schedule_receiver_delayed = true;
            } else {
                requests.schedule_receiver = true;
            }
        }
    }
}
