//! FF-A memory management in the core: the memory-sharing state behind its lock, how it is
//! configured, the dispatch of memory calls, FFA_FEATURES for them, and RX/TX marks.

use ffa_core::call::Return;
use ffa_core::features::{RetrieveProperties, RETRIEVE_INPUT_NS_BIT};
use ffa_core::memory::{
    AddressRange, HandleAllocator, MemoryHandle, ReceiverAccess, TransactionReader,
    TransactionType, MAX_RECEIVERS, PAGE_SIZE,
};
use ffa_core::{Call, EndpointId, FfaError, FunctionId, SuccessArgs, Version};
use memory_sharing::{Ledger, LedgerStorage, MemoryKind, PendingSend, RangeCursor};
use spin::MutexGuard;

use super::state::Scheduler;
use super::translation::{MemoryPlatform, Translator};
use super::{
    Caller, ConfigError, Configuration, ContextId, Delivery, EndpointMemory, PartitionManager, Role,
};

/// Bytes of a descriptor copied out of a TX buffer at once; the header part of a transaction
/// descriptor (header, EMADs, composite) must fit in it.
pub(crate) const COPY_SIZE: usize = 4096;
/// Fragmented sends in progress at once.
const PENDING_SENDS: usize = 8;
/// Retrieve responses whose later fragments are still to be fetched.
const PENDING_RETRIEVES: usize = 8;
/// Forwarder: transactions forwarded to the other world that their sender may still reclaim.
const FORWARDED_TRANSACTIONS: usize = 32;
/// Forwarder: forwarded memory calls waiting for the other world's answer.
const IN_FLIGHT: usize = 8;

/// One entry of the memory map the ledger starts with: `owner` owns `page_count` 4 KiB pages
/// of physical memory from `base`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MemoryRegionDescription {
    /// The owning endpoint (local, or of the other world).
    pub owner: EndpointId,
    /// Physical base address, 4 KiB aligned.
    pub base: u64,
    /// Number of pages.
    pub page_count: u32,
    /// Normal (secure or not) or device memory.
    pub kind: MemoryKind,
    /// The owner itself only has read access.
    pub read_only: bool,
}

/// What a manager needs for memory sharing, given to
/// [`PartitionManager::with_memory_sharing`].
///
/// `storage` holds the ledger's pools for the manager's whole life; a platform without a heap
/// can take it from a `static`, e.g. `spin::MutexGuard::leak(POOLS.lock()).storage()` with
/// `static POOLS: spin::Mutex<Pools<..>> = spin::Mutex::new(Pools::new())`.
#[derive(Debug)]
pub struct MemorySharing<'a, S> {
    /// Stage 2 of every endpoint and address translation.
    pub platform: S,
    /// The ledger's pools.
    pub storage: LedgerStorage<'static>,
    /// The memory map: which endpoint owns which physical memory.
    pub regions: &'a [MemoryRegionDescription],
}

/// Counts of memory-sharing work in progress (for tests and diagnostics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MemoryActivity {
    /// Sends waiting for FFA_MEM_FRAG_TX.
    pub pending_sends: usize,
    /// Retrieve responses waiting for FFA_MEM_FRAG_RX.
    pub pending_retrieves: usize,
    /// Forwarder: transactions that live in the other world, with their local record.
    pub forwarded: usize,
    /// Forwarder: forwarded calls waiting for the other world.
    pub in_flight: usize,
}

/// A send whose later fragments are still to come (FFA_MEM_FRAG_TX).
#[derive(Debug, Clone)]
pub(crate) struct FragmentedSend {
    pub(crate) pending: PendingSend,
    /// The transaction's sender.
    pub(crate) sender: EndpointId,
    /// The endpoint whose TX buffer the fragments come from.
    pub(crate) mailbox: EndpointId,
    /// Sent by a local endpoint (addresses translated) or by the other world (physical).
    pub(crate) local: bool,
    pub(crate) reader: TransactionReader,
    pub(crate) translator: Translator,
    pub(crate) call: TransactionType,
    pub(crate) is_64: bool,
    /// Forwarder: a borrower is in the other world, so the transaction goes there once whole.
    pub(crate) forward: bool,
    /// Borrowers named in the header.
    pub(crate) receiver_count: usize,
}

/// A retrieve response whose later fragments are still to be fetched (FFA_MEM_FRAG_RX).
#[derive(Debug, Clone, Copy)]
pub(crate) struct FragmentedRetrieve {
    /// The endpoint whose RX buffer receives the fragments.
    pub(crate) mailbox: EndpointId,
    pub(crate) handle: MemoryHandle,
    pub(crate) cursor: RangeCursor,
    /// Bytes delivered so far.
    pub(crate) sent: u32,
    pub(crate) total: u32,
}

/// Forwarder: a transaction the other world holds, and its local record (which keeps the
/// sender's pages out of its reach for LEND and DONATE).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ForwardedTransaction {
    /// The handle the other world allocated (what the sender knows).
    pub(crate) remote: MemoryHandle,
    /// The local record.
    pub(crate) local: MemoryHandle,
    pub(crate) sender: EndpointId,
}

/// Forwarder: what a forwarded memory call is doing.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Forwarding {
    /// A send: fragments of the translated descriptor go out until the other world answers
    /// with a handle.
    Send { local: MemoryHandle, sender: EndpointId, cursor: RangeCursor, sent: u32, total: u32 },
    /// A reclaim of a forwarded transaction.
    Reclaim { remote: MemoryHandle, local: MemoryHandle, sender: EndpointId },
}

/// Forwarder: a memory call forwarded for a context that is blocked until the answer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InFlight {
    pub(crate) context: ContextId,
    pub(crate) operation: Forwarding,
}

/// Everything the memory-sharing lock protects.
#[derive(Debug)]
pub(crate) struct MemoryState<S> {
    pub(crate) ledger: Ledger<'static>,
    pub(crate) platform: S,
    /// Manager memory descriptors are copied into before anything reads them.
    pub(crate) copy: [u8; COPY_SIZE],
    /// Room for one transaction's receivers while a descriptor is written.
    pub(crate) receivers: heapless::Vec<ReceiverAccess, MAX_RECEIVERS>,
    pub(crate) sends: heapless::Vec<FragmentedSend, PENDING_SENDS>,
    pub(crate) retrieves: heapless::Vec<FragmentedRetrieve, PENDING_RETRIEVES>,
    pub(crate) forwarded: heapless::Vec<ForwardedTransaction, FORWARDED_TRANSACTIONS>,
    pub(crate) in_flight: heapless::Vec<InFlight, IN_FLIGHT>,
}

/// The memory-sharing state, or none (a manager without memory sharing). Like an `Option`,
/// but with an explicit zero tag for "none", so that [`super::PartitionManager::empty`] is all
/// zero bytes (an `Option` would mark "none" with a niche value of some inner field).
#[derive(Debug)]
#[repr(u8)]
#[allow(
    clippy::large_enum_variant,
    reason = "it lives inside the manager (a static in firmware), never moved once configured"
)]
pub(crate) enum MemorySlot<S> {
    Off = 0,
    On(MemoryState<S>) = 1,
}

impl<S> MemorySlot<S> {
    pub(crate) fn as_ref(&self) -> Option<&MemoryState<S>> {
        match self {
            Self::Off => None,
            Self::On(state) => Some(state),
        }
    }

    pub(crate) fn as_mut(&mut self) -> Option<&mut MemoryState<S>> {
        match self {
            Self::Off => None,
            Self::On(state) => Some(state),
        }
    }

    pub(crate) fn is_some(&self) -> bool {
        matches!(self, Self::On(_))
    }
}

/// How a memory call goes on once checked.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Progress {
    /// The caller gets this answer.
    Answer(Return),
    /// Forwarder: the call goes to the other world; the caller blocks until it answers.
    Forward(Call),
}

impl From<Return> for Progress {
    fn from(answer: Return) -> Self {
        Self::Answer(answer)
    }
}

/// The scheduler lock, kept only by forwarder calls that may block their caller.
pub(crate) type SchedulerGuard<'a, const ENDPOINTS: usize, const VCPUS: usize> =
    MutexGuard<'a, Scheduler<ENDPOINTS, VCPUS>>;

/// Bytes of a mailbox buffer of `page_count` pages.
pub(crate) fn buffer_size(page_count: u32) -> usize {
    usize::try_from(u64::from(page_count) * PAGE_SIZE).unwrap_or(usize::MAX)
}

impl<
        M: EndpointMemory,
        const ENDPOINTS: usize,
        const VCPUS: usize,
        const CPUS: usize,
        S: MemoryPlatform,
    > PartitionManager<M, ENDPOINTS, VCPUS, CPUS, S>
{
    /// Builds the core like [`Self::new`], with memory management: the ledger runs in
    /// `sharing.storage` (handles carry the SPMC's allocator bit in the SPMC role, the
    /// hypervisor's in the forwarder role), starts with `sharing.regions` as its memory map,
    /// and changes stage 2 through `sharing.platform`. A region that overlaps another, is
    /// malformed, does not fit the pools or names an unknown owner is
    /// [`ConfigError::MemoryMap`].
    pub fn with_memory_sharing(
        configuration: &Configuration<'_>,
        memory: M,
        sharing: MemorySharing<'_, S>,
    ) -> Result<Self, ConfigError> {
        let mut manager = Self::empty(memory);
        manager.configure_with_memory_sharing(configuration, sharing)?;
        Ok(manager)
    }

    /// [`Self::configure`] with memory sharing, as [`Self::with_memory_sharing`] builds it, in
    /// place on a manager made by [`Self::empty`].
    pub fn configure_with_memory_sharing(
        &mut self,
        configuration: &Configuration<'_>,
        sharing: MemorySharing<'_, S>,
    ) -> Result<(), ConfigError> {
        self.configure(configuration)?;
        let allocator = match configuration.role {
            Role::Spmc => HandleAllocator::Spmc,
            Role::Forwarder => HandleAllocator::Hypervisor,
        };
        let mut ledger = Ledger::new(sharing.storage, allocator);
        for region in sharing.regions {
            let known = configuration
                .local
                .iter()
                .chain(configuration.remote.iter())
                .any(|endpoint| endpoint.id == region.owner);
            if !known {
                return Err(ConfigError::MemoryMap(region.owner));
            }
            ledger
                .add_region(region.owner, region.base, region.page_count, region.kind)
                .map_err(|_| ConfigError::MemoryMap(region.owner))?;
            if region.read_only {
                let range = AddressRange { address: region.base, page_count: region.page_count };
                ledger
                    .mark_read_only(region.owner, range)
                    .map_err(|_| ConfigError::MemoryMap(region.owner))?;
            }
        }
        *self.memory.get_mut() = MemorySlot::On(MemoryState {
            ledger,
            platform: sharing.platform,
            copy: [0; COPY_SIZE],
            receivers: heapless::Vec::new(),
            sends: heapless::Vec::new(),
            retrieves: heapless::Vec::new(),
            forwarded: heapless::Vec::new(),
            in_flight: heapless::Vec::new(),
        });
        Ok(())
    }

    /// Runs `action` with the ledger (`None` without memory sharing).
    pub fn with_ledger<R>(&self, action: impl FnOnce(&Ledger<'static>) -> R) -> Option<R> {
        self.memory.lock().as_ref().map(|state| action(&state.ledger))
    }

    /// Runs `action` with the memory platform (tests inspect their fake).
    pub fn with_memory_platform<R>(&self, action: impl FnOnce(&mut S) -> R) -> Option<R> {
        self.memory.lock().as_mut().map(|state| action(&mut state.platform))
    }

    /// Memory-sharing work in progress.
    pub fn memory_activity(&self) -> MemoryActivity {
        self.memory.lock().as_ref().map_or(MemoryActivity::default(), |state| MemoryActivity {
            pending_sends: state.sends.len(),
            pending_retrieves: state.retrieves.len(),
            forwarded: state.forwarded.len(),
            in_flight: state.in_flight.len(),
        })
    }

    /// Every memory-management call: checks the call can be served here, then dispatches it.
    /// The scheduler lock is released at once except for the forwarder's own endpoints'
    /// send and reclaim, which may block the caller in a call forwarded to the other world.
    pub(super) fn memory_call(
        &self,
        scheduler: SchedulerGuard<'_, ENDPOINTS, VCPUS>,
        caller: &Caller,
        call: Call,
    ) -> Delivery {
        let forwarding = self.is_forwarder() && caller.local;
        let mut scheduler = if forwarding {
            Some(scheduler)
        } else {
            drop(scheduler);
            None
        };
        let enabled = self.memory.lock().is_some();
        let served = enabled && (caller.local || self.effective_role() == Role::Spmc);
        if !served {
            return Self::reply(caller, Return::error(FfaError::NotSupported));
        }
        let progress = match call {
            Call::MemShare { transaction, is_64 } => {
                self.send(caller, TransactionType::Share, transaction, is_64, forwarding)
            }
            Call::MemLend { transaction, is_64 } => {
                self.send(caller, TransactionType::Lend, transaction, is_64, forwarding)
            }
            Call::MemDonate { transaction, is_64 } => {
                self.send(caller, TransactionType::Donate, transaction, is_64, forwarding)
            }
            Call::MemFragTx { handle, fragment_length, endpoint } => self.send_fragment(
                caller,
                MemoryHandle(handle),
                fragment_length,
                endpoint,
                forwarding,
            ),
            Call::MemRetrieveReq { transaction, .. } => self.retrieve(caller, transaction),
            Call::MemFragRx { handle, offset, endpoint } => {
                self.retrieve_fragment(caller, MemoryHandle(handle), offset, endpoint)
            }
            Call::MemRelinquish => self.relinquish(caller),
            Call::MemReclaim { handle, flags } => {
                self.reclaim(caller, MemoryHandle(handle), flags, forwarding)
            }
            _ => Err(FfaError::NotSupported),
        };
        match (progress, scheduler.as_mut()) {
            (Ok(Progress::Answer(answer)), _) => Self::reply(caller, answer),
            (Ok(Progress::Forward(call)), Some(scheduler)) => {
                self.forward(scheduler, caller, self.settings.spm_id, call)
            }
            // Only forwarder calls (which hold the scheduler) are ever forwarded.
            (Ok(Progress::Forward(_)), None) => {
                Self::reply(caller, Return::error(FfaError::NotSupported))
            }
            (Err(error), _) => Self::reply(caller, Return::error(error)),
        }
    }

    /// FFA_FEATURES for the memory-management functions (matrix D11, D13); `None` for any
    /// other function. Everything but time slicing (MEM_OP_PAUSE/RESUME) and MEM_PERM_GET/SET
    /// is supported when memory sharing is on, for local endpoints and, in the SPMC role, for
    /// the normal world; descriptors in a separate buffer are not (w2 bit 0 clear).
    pub(super) fn memory_features(
        &self,
        caller: &Caller,
        function: FunctionId,
        properties: u32,
    ) -> Option<Return> {
        use FunctionId as F;
        let memory_function = matches!(
            function,
            F::MemDonate32
                | F::MemDonate64
                | F::MemLend32
                | F::MemLend64
                | F::MemShare32
                | F::MemShare64
                | F::MemRetrieveReq32
                | F::MemRetrieveReq64
                | F::MemRetrieveResp
                | F::MemRelinquish
                | F::MemReclaim
                | F::MemFragRx
                | F::MemFragTx
        );
        if !memory_function {
            return None;
        }
        let enabled = self.memory.lock().is_some();
        let served = enabled
            && (caller.local || self.effective_role() == Role::Spmc)
            && function.minimum_version() <= caller.version;
        if !served {
            return Some(Return::error(FfaError::NotSupported));
        }
        let word = match function {
            F::MemRetrieveReq32 | F::MemRetrieveReq64 => {
                // Reference §3.3: from v1.1 a caller must say it handles the NS bit.
                let handles_ns_bit = properties & RETRIEVE_INPUT_NS_BIT != 0;
                if caller.version >= Version::V1_1 && !handles_ns_bit {
                    return Some(Return::error(FfaError::NotSupported));
                }
                let mut word = RetrieveProperties::empty();
                if caller.version >= Version::V1_1 {
                    word |= RetrieveProperties::NS_BIT;
                }
                if self.effective_role() == Role::Spmc && !caller.local {
                    word |= RetrieveProperties::HYPERVISOR_RETRIEVE;
                }
                word.bits()
            }
            _ => 0,
        };
        Some(Return::success(SuccessArgs::Args32([word, 0, 0, 0, 0, 0])))
    }

    /// FFA_RXTX_MAP: marks the new buffers in the memory map so they can never be sent
    /// (matrix D21). Pages in a live transaction are DENIED; pages the owner does not own in
    /// the map are left alone (they cannot be sent by it anyway). On error nothing is marked.
    /// Runs under the mailbox lock.
    pub(super) fn memory_mark_mailbox(
        &self,
        owner: EndpointId,
        local: bool,
        addresses: [u64; 2],
        page_count: u32,
    ) -> Result<(), FfaError> {
        let mut guard = self.memory.lock();
        let Some(state) = guard.as_mut() else { return Ok(()) };
        let MemoryState { ledger, platform, .. } = state;
        let mut result = Ok(());
        for address in addresses {
            let range = AddressRange { address, page_count };
            let mut translator = Translator::default();
            let mut mark = |piece: AddressRange| mark_owned_pieces(ledger, owner, piece);
            result = if local {
                translator.push(platform, owner, range, &mut mark)
            } else {
                translator.push_physical(range, &mut mark)
            }
            .and_then(|()| translator.finish(&mut mark));
            if result.is_err() {
                break;
            }
        }
        if result.is_err() {
            unmark_all(ledger, owner);
        }
        result
    }

    /// FFA_RXTX_UNMAP: the buffers' pages may be sent again. Runs under the mailbox lock.
    pub(super) fn memory_unmark_mailbox(&self, owner: EndpointId) {
        if let Some(state) = self.memory.lock().as_mut() {
            unmark_all(&mut state.ledger, owner);
        }
    }
}

/// Marks the parts of `range` that `owner` owns as RX/TX, one region at a time.
fn mark_owned_pieces(
    ledger: &mut Ledger<'_>,
    owner: EndpointId,
    range: AddressRange,
) -> Result<(), FfaError> {
    let end = u64::from(range.page_count)
        .checked_mul(PAGE_SIZE)
        .and_then(|length| range.address.checked_add(length))
        .ok_or(FfaError::InvalidParameters)?;
    let mut cursor = range.address;
    while cursor < end {
        let regions = ledger.regions();
        let position = regions.partition_point(|region| region.end() <= cursor);
        let Some(region) = regions.get(position).copied() else { break };
        if region.base >= end {
            break;
        }
        let piece_start = cursor.max(region.base);
        let piece_end = end.min(region.end());
        if region.owner == owner && !region.rxtx {
            let page_count = u32::try_from((piece_end - piece_start) / PAGE_SIZE)
                .map_err(|_| FfaError::InvalidParameters)?;
            ledger.mark_rxtx(owner, AddressRange { address: piece_start, page_count })?;
        }
        cursor = piece_end;
    }
    Ok(())
}

/// Clears every RX/TX mark of `owner` (an endpoint has one RX/TX pair).
fn unmark_all(ledger: &mut Ledger<'_>, owner: EndpointId) {
    while let Some(region) =
        ledger.regions().iter().find(|region| region.owner == owner && region.rxtx).copied()
    {
        let Ok(page_count) = u32::try_from(region.page_count) else { break };
        let range = AddressRange { address: region.base, page_count };
        if ledger.unmark_rxtx(owner, range).is_err() {
            break;
        }
    }
}
