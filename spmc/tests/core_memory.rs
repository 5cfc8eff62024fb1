//! Memory management through the core's ABI in both roles: the MM rows of the conformance
//! matrix (and D11, D13, D21), fragmentation both ways, retrieve responses in every layout,
//! the forwarder's rules (descriptor copied before use, sender check, IPA translation, stage-2
//! access for LEND, forwarding to the SPMC), and "an error changes nothing".
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

#[path = "core_harness.rs"]
mod harness;

use ffa_core::call::{MemoryTransaction, ReclaimFlags as ReclaimRegister, Return};
use ffa_core::features::FeaturesQuery;
use ffa_core::memory::{
    build_relinquish, build_transaction, AccessPermissions, AddressRange, DataAccess,
    HandleAllocator, InstructionAccess, Layout, MemoryHandle, MemoryRegionAttributes,
    ReceiverAccess, RelinquishFlags, TransactionDescriptor, TransactionFields, TransactionFlags,
    TransactionType, PAGE_SIZE,
};
use ffa_core::rxtx::RxtxMapArgs;
use ffa_core::{Call, EndpointId, FfaError, FunctionId, SuccessArgs, Version};
use harness::*;
use memory_sharing::{Capacity, MemoryKind, Pools, Region};
use spmc::partition_manager::{
    Configuration, ContextId, ContextState, Delivery, EndpointDescription, FeatureInterrupts,
    MemoryActivity, MemoryRegionDescription, MemorySharing, Role, Transfer,
};

use TransactionType::{Donate, Lend, Share};

// ---- The SPMC's memory map -------------------------------------------------------------

const SP1_SECURE: u64 = 0x0800_0000;
const SP1_LARGE: u64 = 0x0A00_0000;
const SP1_NON_SECURE: u64 = 0x8800_0000;
const SP1_DEVICE: u64 = 0x0900_0000;
const SP2_SECURE: u64 = 0x0810_0000;
const SP2_READ_ONLY: u64 = 0x0820_0000;
const SP4_SECURE: u64 = 0x0840_0000;
const SP6_SECURE: u64 = 0x0860_0000;
const NWD_MEMORY: u64 = 0x8000_0000;
const VM1_MEMORY: u64 = 0x8100_0000;
/// Pages of each endpoint's main region; its RX/TX buffers are pages 48 and 49.
const PAGES: u32 = 64;
/// The forwarder's second VM; its memory starts at this IPA.
const VM2: EndpointId = EndpointId(2);
const VM2_MEMORY: u64 = 0x8200_0000;

fn normal(owner: EndpointId, base: u64, page_count: u32, secure: bool) -> MemoryRegionDescription {
    MemoryRegionDescription {
        owner,
        base,
        page_count,
        kind: MemoryKind::Normal { secure },
        read_only: false,
    }
}

fn spmc_regions() -> Vec<MemoryRegionDescription> {
    vec![
        normal(SP1, SP1_SECURE, PAGES, true),
        normal(SP1, SP1_LARGE, 1024, true),
        normal(SP1, SP1_NON_SECURE, 16, false),
        MemoryRegionDescription {
            owner: SP1,
            base: SP1_DEVICE,
            page_count: 1,
            kind: MemoryKind::Device,
            read_only: false,
        },
        normal(SP2, SP2_SECURE, PAGES, true),
        MemoryRegionDescription { read_only: true, ..normal(SP2, SP2_READ_ONLY, 4, true) },
        normal(SP4, SP4_SECURE, PAGES, true),
        normal(SP6, SP6_SECURE, PAGES, true),
        normal(NWD, NWD_MEMORY, PAGES, false),
        normal(VM1, VM1_MEMORY, PAGES, false),
    ]
}

/// The main region of an endpoint of the SPMC test setup.
fn memory_of(endpoint: EndpointId) -> u64 {
    match endpoint {
        SP1 => SP1_SECURE,
        SP2 => SP2_SECURE,
        SP4 => SP4_SECURE,
        SP6 => SP6_SECURE,
        NWD => NWD_MEMORY,
        VM1 => VM1_MEMORY,
        // The forwarder's second VM (an IPA).
        VM2 => VM2_MEMORY,
        _ => panic!("no memory for {endpoint:?}"),
    }
}

fn page(endpoint: EndpointId, n: u64) -> u64 {
    memory_of(endpoint) + n * PAGE_SIZE
}

fn tx_of(endpoint: EndpointId) -> u64 {
    page(endpoint, 48)
}

fn rx_of(endpoint: EndpointId) -> u64 {
    page(endpoint, 49)
}

fn range(address: u64, page_count: u32) -> AddressRange {
    AddressRange { address, page_count }
}

fn build_platform(regions: &[MemoryRegionDescription]) -> FakeStage2 {
    let mut platform = FakeStage2::default();
    for region in regions {
        if region.kind != MemoryKind::Device {
            platform.map_owned(region.owner, region.base, u64::from(region.page_count));
        }
    }
    platform
}

fn storage() -> memory_sharing::LedgerStorage<'static> {
    Box::leak(Box::new(Pools::<64, 16, 1024, 128>::new())).storage()
}

/// A booted SPMC with memory sharing; SP1, SP2, SP4, SP6 and the normal world (ID 0) have
/// 1-page RX/TX buffers mapped. CPU 0 is idle.
fn memory_spmc() -> Manager {
    let local = secure_partitions();
    let remote = normal_world();
    let regions = spmc_regions();
    let sharing =
        MemorySharing { platform: build_platform(&regions), storage: storage(), regions: &regions };
    let manager = Manager::with_memory_sharing(
        &spmc_configuration(&local, &remote),
        FakeMemory::default(),
        sharing,
    )
    .expect("valid memory map");
    for cpu in 0..4 {
        let end = boot_cpu(&manager, cpu, |_| msg_wait());
        assert_eq!(end.transfer, Transfer::OtherWorld);
    }
    for endpoint in [SP1, SP2, SP4, SP6] {
        let running = enter(&manager, endpoint);
        assert!(is_success(&map_mailbox(&manager, running)), "{endpoint:?}");
        leave(&manager, running);
    }
    assert!(is_success(&map_mailbox(&manager, nwd(1))));
    manager
}

/// The CPU a partition runs on in these tests (the normal world calls from CPU 1).
fn cpu_of(endpoint: EndpointId) -> u16 {
    match endpoint {
        SP1 => 0,
        SP2 => 2,
        SP4 | SP6 => 3,
        _ => 1,
    }
}

/// The normal world sends a direct request that runs `endpoint` on its CPU.
fn enter(manager: &Manager, endpoint: EndpointId) -> ContextId {
    let cpu = cpu_of(endpoint);
    let delivery = call(manager, nwd(cpu), request32(NWD, endpoint, [0; 5]));
    assert_eq!(delivery.transfer, Transfer::Enter, "{delivery:?}");
    assert_eq!(delivery.to.endpoint, endpoint);
    delivery.to
}

/// `context` answers the normal world and waits again.
fn leave(manager: &Manager, context: ContextId) {
    let delivery = call(manager, context, response32(context.endpoint, NWD, [0; 5]));
    assert_eq!(delivery.transfer, Transfer::OtherWorld, "{delivery:?}");
}

/// The context `endpoint` calls from: a partition running on its CPU (entered if needed), or
/// the normal world on CPU 1.
fn context(manager: &Manager, endpoint: EndpointId) -> ContextId {
    if !endpoint.is_secure() {
        return nwd(1);
    }
    let cpu = cpu_of(endpoint);
    let index = if endpoint == SP4 { cpu } else { 0 };
    let id = ec(endpoint, index);
    match manager.context_state(id) {
        Some(ContextState::Running { .. }) => id,
        _ => enter(manager, endpoint),
    }
}

fn map_mailbox(manager: &Manager, from: ContextId) -> Delivery {
    let buffers = RxtxMapArgs::Buffers {
        tx_address: tx_of(from.endpoint),
        rx_address: rx_of(from.endpoint),
        page_count: 1,
    };
    let delivery = call(manager, from, Call::RxtxMap { buffers, is_64: true });
    if delivery.transfer == Transfer::OtherWorld && delivery.to.endpoint == SPMC_ID {
        // A forwarder registers a VM's buffers with the SPMC; this one does not take them, so
        // they stay the forwarder's alone.
        let refused = Return::error(FfaError::NotSupported).encode(Version::V1_2);
        let delivery = manager.handle(delivery.to, &refused);
        manager.check_invariants().unwrap();
        return delivery;
    }
    delivery
}

fn is_success(delivery: &Delivery) -> bool {
    delivery.registers[0] == FunctionId::Success32.to_register()
}

fn assert_success(delivery: &Delivery, to: ContextId) {
    assert_eq!(delivery.to, to, "{delivery:?}");
    assert!(is_success(delivery), "{delivery:?}");
}

// ---- Descriptors -------------------------------------------------------------------------

fn layout_of(endpoint: EndpointId) -> Layout {
    match endpoint {
        SP4 => Layout::V1_1,
        SP6 => Layout::V1_0,
        _ => Layout::V1_2,
    }
}

/// What a sender grants in `call`.
fn granted(call: TransactionType) -> AccessPermissions {
    match call {
        Donate => AccessPermissions {
            data: DataAccess::NotSpecified,
            instruction: InstructionAccess::NotSpecified,
        },
        Share | Lend => AccessPermissions::READ_WRITE,
    }
}

/// The attributes a sender must give (reference §7.5).
fn send_attributes(call: TransactionType, receivers: usize) -> MemoryRegionAttributes {
    match call {
        Share => MemoryRegionAttributes::NORMAL_WRITE_BACK_INNER,
        Lend if receivers > 1 => MemoryRegionAttributes::NORMAL_WRITE_BACK_INNER,
        Lend | Donate => MemoryRegionAttributes::NOT_SPECIFIED,
    }
}

/// A send descriptor; everything can be overridden by the caller afterwards on the fields.
struct Send {
    layout: Layout,
    fields: TransactionFields,
    receivers: Vec<ReceiverAccess>,
    ranges: Vec<AddressRange>,
}

impl Send {
    fn new(
        call: TransactionType,
        sender: EndpointId,
        borrowers: &[EndpointId],
        ranges: &[AddressRange],
    ) -> Self {
        Self {
            layout: layout_of(sender),
            fields: TransactionFields {
                sender,
                attributes: send_attributes(call, borrowers.len()),
                flags: TransactionFlags(0),
                handle: MemoryHandle(0),
                tag: 0x77,
            },
            receivers: borrowers
                .iter()
                .map(|&borrower| ReceiverAccess::new(borrower, granted(call)))
                .collect(),
            ranges: ranges.to_vec(),
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = vec![0u8; 65536];
        let length =
            build_transaction(&mut out, self.layout, &self.fields, &self.receivers, &self.ranges)
                .unwrap();
        out.truncate(length);
        out
    }
}

fn send_call(call: TransactionType, total: u32, fragment: u32) -> Call {
    let transaction =
        MemoryTransaction { total_length: total, fragment_length: fragment, buffer: None };
    match call {
        Share => Call::MemShare { transaction, is_64: false },
        Lend => Call::MemLend { transaction, is_64: true },
        Donate => Call::MemDonate { transaction, is_64: false },
    }
}

/// Writes `bytes` into the TX buffer of `from` and makes the call.
fn with_tx(manager: &Manager, from: ContextId, bytes: &[u8], made: Call) -> Delivery {
    manager.with_memory(|memory| memory.write_at(tx_of(from.endpoint), 0, bytes));
    call(manager, from, made)
}

/// The whole descriptor in one fragment.
fn send(manager: &Manager, from: ContextId, call: TransactionType, bytes: &[u8]) -> Delivery {
    let length = bytes.len() as u32;
    with_tx(manager, from, bytes, send_call(call, length, length))
}

fn handle_of(delivery: &Delivery) -> MemoryHandle {
    assert!(is_success(delivery), "{delivery:?}");
    assert!(delivery.registers[4..8].iter().all(|&value| value == 0), "w4-w7 MBZ");
    MemoryHandle(delivery.registers[2] | delivery.registers[3] << 32)
}

/// `sender` sends `ranges` to `borrowers` in one fragment; the handle.
fn transact(
    manager: &Manager,
    call: TransactionType,
    sender: EndpointId,
    borrowers: &[EndpointId],
    ranges: &[AddressRange],
) -> MemoryHandle {
    let bytes = Send::new(call, sender, borrowers, ranges).bytes();
    handle_of(&send(manager, context(manager, sender), call, &bytes))
}

/// What a borrower asks for at retrieve (reference §7.10 rule 16).
fn requested(call: TransactionType, borrowers: usize) -> AccessPermissions {
    let instruction = match call {
        Share => InstructionAccess::NotSpecified,
        Lend if borrowers > 1 => InstructionAccess::NotSpecified,
        Lend | Donate => InstructionAccess::NotExecutable,
    };
    AccessPermissions { data: DataAccess::ReadWrite, instruction }
}

struct Retrieve {
    layout: Layout,
    fields: TransactionFields,
    receivers: Vec<ReceiverAccess>,
}

impl Retrieve {
    fn new(
        borrower: EndpointId,
        handle: MemoryHandle,
        call: TransactionType,
        sender: EndpointId,
        borrowers: &[EndpointId],
    ) -> Self {
        Self {
            layout: layout_of(borrower),
            fields: TransactionFields {
                sender,
                attributes: MemoryRegionAttributes::NOT_SPECIFIED,
                flags: TransactionFlags(0).with_type(call),
                handle,
                tag: 0x77,
            },
            receivers: borrowers
                .iter()
                .map(|&id| ReceiverAccess::new(id, requested(call, borrowers.len())))
                .collect(),
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = vec![0u8; 4096];
        let length =
            build_transaction(&mut out, self.layout, &self.fields, &self.receivers, &[]).unwrap();
        out.truncate(length);
        out
    }

    fn make(&self, manager: &Manager, from: ContextId) -> Delivery {
        let bytes = self.bytes();
        let length = bytes.len() as u32;
        let transaction =
            MemoryTransaction { total_length: length, fragment_length: length, buffer: None };
        with_tx(manager, from, &bytes, Call::MemRetrieveReq { transaction, is_64: false })
    }
}

/// The first fragment of a retrieve response: (total length, bytes now in the RX buffer).
fn response(manager: &Manager, delivery: &Delivery, version: Version) -> (u32, Vec<u8>) {
    let Return::MemRetrieveResp { total_length, fragment_length } = returned(delivery, version)
    else {
        panic!("not a retrieve response: {delivery:?}");
    };
    let bytes = manager.with_memory(|memory| {
        memory.contents(rx_of(delivery.to.endpoint))[..fragment_length as usize].to_vec()
    });
    (total_length, bytes)
}

/// Retrieves in one go and parses the whole response.
fn retrieve_whole(manager: &Manager, from: ContextId, request: &Retrieve) -> (Vec<u8>, Layout) {
    let delivery = request.make(manager, from);
    let (total, bytes) = response(manager, &delivery, Version::V1_2);
    assert_eq!(total as usize, bytes.len(), "the response fits in one fragment");
    (bytes, request.layout)
}

fn rx_release(manager: &Manager, from: ContextId) -> Delivery {
    call(manager, from, Call::RxRelease { vm_id: EndpointId(0) })
}

fn relinquish(manager: &Manager, from: ContextId, handle: MemoryHandle, clear: bool) -> Delivery {
    let mut out = [0u8; 64];
    let flags = RelinquishFlags { clear_memory: clear, time_slicing: false };
    let length = build_relinquish(&mut out, handle, flags, &[from.endpoint]).unwrap();
    with_tx(manager, from, &out[..length], Call::MemRelinquish)
}

fn reclaim(manager: &Manager, from: ContextId, handle: MemoryHandle, clear: bool) -> Delivery {
    let flags = if clear { ReclaimRegister::ZERO_MEMORY } else { ReclaimRegister::empty() };
    call(manager, from, Call::MemReclaim { handle: handle.0, flags })
}

fn mapped(manager: &Manager, endpoint: EndpointId, address: u64) -> Option<AccessPermissions> {
    manager.with_memory_platform(|platform| platform.mapped(endpoint, address)).unwrap()
}

fn handles(manager: &Manager) -> Vec<MemoryHandle> {
    manager.with_ledger(|ledger| ledger.handles().collect()).unwrap()
}

/// Everything an operation could change, for "an error changes nothing".
#[derive(Debug, Clone, PartialEq, Eq)]
struct Snapshot {
    handles: Vec<MemoryHandle>,
    capacity: Capacity,
    regions: Vec<Region>,
    activity: MemoryActivity,
    platform: FakeStage2,
    mailboxes_mapped: usize,
}

impl Snapshot {
    fn take(manager: &Manager) -> Self {
        let (capacity, regions) =
            manager.with_ledger(|ledger| (ledger.capacity(), ledger.regions().to_vec())).unwrap();
        Self {
            handles: handles(manager),
            capacity,
            regions,
            activity: manager.memory_activity(),
            platform: manager.with_memory_platform(|platform| platform.clone()).unwrap(),
            mailboxes_mapped: manager.with_memory(|memory| memory.mapped_count()),
        }
    }
}

/// Asserts `delivery` is `error` for `to` and nothing observable changed since `before`.
fn assert_refused(
    manager: &Manager,
    before: &Snapshot,
    delivery: &Delivery,
    to: ContextId,
    error: FfaError,
) {
    assert_error(delivery, to, error);
    assert_eq!(&Snapshot::take(manager), before, "an error changed state");
}

// ---- MM01 and the full cycle -------------------------------------------------------------

#[test]
fn mm01_share_between_partitions_full_cycle() {
    let manager = memory_spmc();
    let pages = range(page(SP1, 2), 2);
    let handle = transact(&manager, Share, SP1, &[SP2], &[pages]);
    assert_eq!(handle.allocator(), HandleAllocator::Spmc);
    assert_eq!(handles(&manager), vec![handle]);
    // The lender keeps its access; the borrower has none until it retrieves.
    assert_eq!(mapped(&manager, SP1, page(SP1, 3)), Some(AccessPermissions::READ_WRITE));
    assert_eq!(mapped(&manager, SP2, page(SP1, 3)), None);

    let sp2 = context(&manager, SP2);
    let request = Retrieve::new(SP2, handle, Share, SP1, &[SP2]);
    let (bytes, layout) = retrieve_whole(&manager, sp2, &request);
    let descriptor = TransactionDescriptor::parse(&bytes, layout).unwrap();
    descriptor.header.check_retrieve_response().unwrap();
    let fields = descriptor.header.fields;
    assert_eq!(fields.sender, SP1);
    assert_eq!(fields.handle, handle);
    assert_eq!(fields.tag, 0x77);
    assert_eq!(fields.flags.transaction_type(), Some(Share));
    assert!(!fields.flags.clear_memory(), "MM01: flags bit 0 clear");
    assert!(!fields.attributes.non_secure, "secure memory has no NS bit");
    let access = descriptor.header.receivers.find(SP2).unwrap();
    let shared_with = AccessPermissions {
        data: DataAccess::ReadWrite,
        instruction: InstructionAccess::NotExecutable,
    };
    assert_eq!(access.permissions, shared_with, "MM01: a SHARE borrower gets NX");
    assert_eq!(descriptor.constituents.iter().collect::<Vec<_>>(), vec![pages]);
    assert_eq!(mapped(&manager, SP2, page(SP1, 3)), Some(shared_with));
    // The RX buffer now belongs to SP2: another retrieve is BUSY until it is released.
    let before = Snapshot::take(&manager);
    assert_refused(&manager, &before, &request.make(&manager, sp2), sp2, FfaError::Busy);
    assert!(is_success(&rx_release(&manager, sp2)));
    assert_error(&rx_release(&manager, sp2), sp2, FfaError::Denied);
    // MM24: one retrieval per borrower.
    assert_refused(&manager, &before, &request.make(&manager, sp2), sp2, FfaError::Denied);

    // MM29: no reclaim while SP2 holds it.
    let sp1 = context(&manager, SP1);
    assert_refused(
        &manager,
        &before,
        &reclaim(&manager, sp1, handle, false),
        sp1,
        FfaError::Denied,
    );
    assert_success(&relinquish(&manager, sp2, handle, false), sp2);
    assert_eq!(mapped(&manager, SP2, page(SP1, 3)), None, "relinquish unmaps the borrower");
    // MM28: relinquishing again (not held) is DENIED.
    let before = Snapshot::take(&manager);
    assert_refused(
        &manager,
        &before,
        &relinquish(&manager, sp2, handle, false),
        sp2,
        FfaError::Denied,
    );
    assert_success(&reclaim(&manager, sp1, handle, false), sp1);
    assert!(handles(&manager).is_empty());
    assert_eq!(mapped(&manager, SP1, page(SP1, 3)), Some(AccessPermissions::READ_WRITE));
    // MM29: the handle is stale now.
    let before = Snapshot::take(&manager);
    assert_refused(
        &manager,
        &before,
        &reclaim(&manager, sp1, handle, false),
        sp1,
        FfaError::InvalidParameters,
    );
}

#[test]
fn lend_takes_the_lenders_access_until_reclaim_and_clear_flags_zero() {
    let manager = memory_spmc();
    let pages = range(page(SP1, 5), 3);
    let mut lend = Send::new(Lend, SP1, &[SP2], &[pages]);
    lend.fields.flags = TransactionFlags(TransactionFlags::CLEAR_MEMORY);
    let sp1 = context(&manager, SP1);
    let handle = handle_of(&send(&manager, sp1, Lend, &lend.bytes()));
    assert_eq!(mapped(&manager, SP1, page(SP1, 6)), None, "LEND unmaps the lender");
    let sp2 = context(&manager, SP2);
    let request = Retrieve::new(SP2, handle, Lend, SP1, &[SP2]);
    let (bytes, layout) = retrieve_whole(&manager, sp2, &request);
    let descriptor = TransactionDescriptor::parse(&bytes, layout).unwrap();
    // MM22: the clear flag is reported and the memory was zeroed before the borrower saw it.
    assert!(descriptor.header.fields.flags.clear_memory());
    assert_eq!(descriptor.header.fields.flags.transaction_type(), Some(Lend));
    let zeroed = manager.with_memory_platform(|platform| platform.zeroed.clone()).unwrap();
    assert_eq!(zeroed, vec![pages]);
    assert_eq!(
        mapped(&manager, SP2, page(SP1, 7)),
        Some(AccessPermissions {
            data: DataAccess::ReadWrite,
            instruction: InstructionAccess::NotExecutable
        })
    );
    assert_success(&relinquish(&manager, sp2, handle, false), sp2);
    // MM29: reclaim with the zero flag zeroes again and gives the lender its access back.
    assert_success(&reclaim(&manager, sp1, handle, true), sp1);
    let zeroed = manager.with_memory_platform(|platform| platform.zeroed.len()).unwrap();
    assert_eq!(zeroed, 2);
    assert_eq!(mapped(&manager, SP1, page(SP1, 6)), Some(AccessPermissions::READ_WRITE));
}

#[test]
fn donate_moves_ownership_and_retrieve_answers_in_the_v1_0_layout() {
    let manager = memory_spmc();
    let pages = range(page(SP1, 8), 1);
    let handle = transact(&manager, Donate, SP1, &[SP6], &[pages]);
    let sp6 = context(&manager, SP6);
    let request = Retrieve::new(SP6, handle, Donate, SP1, &[SP6]);
    assert_eq!(request.layout, Layout::V1_0);
    let (bytes, layout) = retrieve_whole(&manager, sp6, &request);
    assert_eq!(bytes.len(), 32 + 16 + 16 + 16, "v1.0 header, one 16-byte EMAD, composite, range");
    let descriptor = TransactionDescriptor::parse(&bytes, layout).unwrap();
    assert_eq!(descriptor.header.fields.flags.transaction_type(), Some(Donate));
    assert_eq!(descriptor.constituents.iter().collect::<Vec<_>>(), vec![pages]);
    // The donation ended: SP6 owns the page, the handle is stale, SP1 cannot reclaim.
    assert!(handles(&manager).is_empty());
    assert_eq!(manager.with_ledger(|ledger| ledger.owner_of(page(SP1, 8))).unwrap(), Some(SP6));
    let sp1 = context(&manager, SP1);
    assert_error(&reclaim(&manager, sp1, handle, false), sp1, FfaError::InvalidParameters);
    // SP6 can pass it on; SP1 can no longer send it.
    assert!(is_success(&send(
        &manager,
        sp6,
        Share,
        &Send::new(Share, SP6, &[SP2], &[pages]).bytes()
    )));
    let resend = Send::new(Share, SP1, &[SP2], &[pages]).bytes();
    assert_error(&send(&manager, sp1, Share, &resend), sp1, FfaError::Denied);
}

#[test]
fn retrieve_answers_in_the_v1_1_layout_for_a_v1_1_partition() {
    let manager = memory_spmc();
    let pages = range(page(SP1, 9), 2);
    let handle = transact(&manager, Share, SP1, &[SP4], &[pages]);
    let sp4 = context(&manager, SP4);
    let request = Retrieve::new(SP4, handle, Share, SP1, &[SP4]);
    assert_eq!(request.layout, Layout::V1_1);
    let (bytes, layout) = retrieve_whole(&manager, sp4, &request);
    assert_eq!(bytes.len(), 48 + 16 + 16 + 16, "v1.1 header, one 16-byte EMAD");
    let descriptor = TransactionDescriptor::parse(&bytes, layout).unwrap();
    assert_eq!(descriptor.header.fields.sender, SP1);
    // The same bytes do not parse as v1.2 (EMAD size 16).
    assert!(TransactionDescriptor::parse(&bytes, Layout::V1_2).is_err());
}

#[test]
fn normal_world_lends_to_a_partition_and_the_ns_bit_follows_the_memory() {
    let manager = memory_spmc();
    let pages = range(page(NWD, 1), 2);
    let handle = transact(&manager, Lend, NWD, &[SP1, SP6], &[pages]);
    assert_eq!(mapped(&manager, NWD, page(NWD, 1)), None);
    // MM01: NS bit set for a v1.1+ borrower of normal-world memory...
    let sp1 = context(&manager, SP1);
    let request = Retrieve::new(SP1, handle, Lend, NWD, &[SP1, SP6]);
    let (bytes, layout) = retrieve_whole(&manager, sp1, &request);
    let descriptor = TransactionDescriptor::parse(&bytes, layout).unwrap();
    assert!(descriptor.header.fields.attributes.non_secure);
    assert_eq!(descriptor.header.receivers.len(), 2, "every borrower is listed");
    // ...and impossible in the v1.0 layout.
    let sp6 = context(&manager, SP6);
    let request = Retrieve::new(SP6, handle, Lend, NWD, &[SP1, SP6]);
    let (bytes, layout) = retrieve_whole(&manager, sp6, &request);
    let descriptor = TransactionDescriptor::parse(&bytes, layout).unwrap();
    assert!(!descriptor.header.fields.attributes.non_secure);
    // The normal world reclaims once both relinquished.
    let normal = context(&manager, NWD);
    assert_error(&reclaim(&manager, normal, handle, false), normal, FfaError::Denied);
    assert_success(&relinquish(&manager, sp1, handle, false), sp1);
    assert_success(&relinquish(&manager, sp6, handle, false), sp6);
    assert_success(&reclaim(&manager, normal, handle, false), normal);
    assert_eq!(mapped(&manager, NWD, page(NWD, 2)), Some(AccessPermissions::READ_WRITE));
}

#[test]
fn the_hypervisor_sends_for_a_vm_and_fragments_carry_the_vm_id() {
    let manager = memory_spmc();
    let ranges: Vec<_> = (0..4).map(|n| range(page(VM1, 2 * n), 1)).collect();
    let bytes = Send::new(Share, VM1, &[SP2], &ranges).bytes();
    let normal = context(&manager, NWD);
    let header = bytes.len() - 4 * 16;
    let first = (header + 16) as u32;
    let delivery = with_tx(
        &manager,
        normal,
        &bytes[..first as usize],
        send_call(Share, bytes.len() as u32, first),
    );
    let Return::MemFragRx { handle, offset, endpoint } = returned(&delivery, Version::V1_2) else {
        panic!("{delivery:?}");
    };
    assert_eq!((offset, endpoint), (first, VM1));
    // A FRAG_TX naming another VM does not match the pending send (and does not end it).
    let rest = &bytes[first as usize..];
    manager.with_memory(|memory| memory.write_at(tx_of(NWD), 0, rest));
    let fragment =
        |endpoint| Call::MemFragTx { handle, fragment_length: rest.len() as u32, endpoint };
    let wrong = call(&manager, normal, fragment(EndpointId(7)));
    assert_error(&wrong, normal, FfaError::InvalidParameters);
    assert_eq!(manager.memory_activity().pending_sends, 1);
    let done = call(&manager, normal, fragment(VM1));
    assert_eq!(handle_of(&done).0, handle);
    // The hypervisor reclaims for its VM.
    assert_success(&reclaim(&manager, normal, MemoryHandle(handle), false), normal);
}

#[test]
fn the_hypervisor_retrieve_request_returns_the_whole_descriptor_and_changes_nothing() {
    let manager = memory_spmc();
    let pages = range(page(NWD, 4), 1);
    let handle = transact(&manager, Lend, NWD, &[SP1], &[pages]);
    let normal = context(&manager, NWD);
    let mut out = [0u8; 64];
    let length =
        ffa_core::memory::build_hypervisor_retrieve_request(&mut out, Layout::V1_2, handle)
            .unwrap();
    let before = Snapshot::take(&manager);
    let transaction = MemoryTransaction {
        total_length: length as u32,
        fragment_length: length as u32,
        buffer: None,
    };
    let delivery = with_tx(
        &manager,
        normal,
        &out[..length],
        Call::MemRetrieveReq { transaction, is_64: false },
    );
    let (total, bytes) = response(&manager, &delivery, Version::V1_2);
    assert_eq!(total as usize, bytes.len());
    let descriptor = TransactionDescriptor::parse(&bytes, Layout::V1_2).unwrap();
    assert_eq!(descriptor.header.fields.sender, NWD);
    assert_eq!(descriptor.header.receivers.find(SP1).unwrap().permissions, granted(Lend));
    assert_eq!(descriptor.constituents.iter().collect::<Vec<_>>(), vec![pages]);
    assert_eq!(Snapshot::take(&manager), before, "MM32: a hypervisor retrieve changes nothing");
    assert!(is_success(&rx_release(&manager, normal)));
    // Only the normal world may use that form.
    let sp1 = context(&manager, SP1);
    let delivery =
        with_tx(&manager, sp1, &out[..length], Call::MemRetrieveReq { transaction, is_64: false });
    assert_refused(&manager, &before, &delivery, sp1, FfaError::InvalidParameters);
    // A transaction between partitions is none of the normal world's business.
    let secret = transact(&manager, Share, SP1, &[SP2], &[range(page(SP1, 1), 1)]);
    let length =
        ffa_core::memory::build_hypervisor_retrieve_request(&mut out, Layout::V1_2, secret)
            .unwrap();
    let before = Snapshot::take(&manager);
    let delivery = with_tx(
        &manager,
        normal,
        &out[..length],
        Call::MemRetrieveReq { transaction, is_64: false },
    );
    assert_refused(&manager, &before, &delivery, normal, FfaError::Denied);
    // SP1 can still retrieve what the hypervisor looked at.
    let request = Retrieve::new(SP1, handle, Lend, NWD, &[SP1]);
    assert!(matches!(
        returned(&request.make(&manager, sp1), Version::V1_2),
        Return::MemRetrieveResp { .. }
    ));
}

// ---- Fragmentation ------------------------------------------------------------------------

/// Every other page of SP1's large region: `count` constituents that never merge.
fn scattered(count: u64) -> Vec<AddressRange> {
    (0..count).map(|n| range(SP1_LARGE + 2 * n * PAGE_SIZE, 1)).collect()
}

/// Sends `bytes` from `from` in fragments of at most `fragment` bytes after the header part;
/// returns the final delivery and checks every FFA_MEM_FRAG_RX on the way.
fn send_fragmented(
    manager: &Manager,
    from: ContextId,
    call: TransactionType,
    bytes: &[u8],
    header: usize,
    fragment: usize,
) -> Delivery {
    let total = bytes.len() as u32;
    let mut offset = header + (fragment - header) / 16 * 16;
    let mut delivery =
        with_tx(manager, from, &bytes[..offset], send_call(call, total, offset as u32));
    let mut handle = None;
    while offset < bytes.len() {
        let Return::MemFragRx { handle: reported, offset: received, .. } =
            returned(&delivery, Version::V1_2)
        else {
            panic!("expected FFA_MEM_FRAG_RX at {offset}: {delivery:?}");
        };
        assert_eq!(received as usize, offset);
        assert_eq!(*handle.get_or_insert(reported), reported, "one handle for every fragment");
        assert!(!handles(manager).contains(&MemoryHandle(reported)), "pending sends are invisible");
        let end = (offset + fragment / 16 * 16).min(bytes.len());
        let length = (end - offset) as u32;
        let made =
            Call::MemFragTx { handle: reported, fragment_length: length, endpoint: EndpointId(0) };
        delivery = with_tx(manager, from, &bytes[offset..end], made);
        offset = end;
    }
    if let Some(handle) = handle {
        assert_eq!(handle_of(&delivery).0, handle);
    }
    delivery
}

/// Fetches a retrieve response fragment by fragment; returns its bytes.
fn retrieve_fragmented(manager: &Manager, from: ContextId, request: &Retrieve) -> Vec<u8> {
    let delivery = request.make(manager, from);
    let (total, mut bytes) = response(manager, &delivery, Version::V1_2);
    let handle = request.fields.handle;
    while bytes.len() < total as usize {
        let fetch = Call::MemFragRx {
            handle: handle.0,
            offset: bytes.len() as u32,
            endpoint: EndpointId(0),
        };
        // The RX buffer still belongs to the borrower: BUSY, and nothing moves.
        assert_error(&call(manager, from, fetch), from, FfaError::Busy);
        assert!(is_success(&rx_release(manager, from)));
        let delivery = call(manager, from, fetch);
        let Return::MemFragTx { handle: reported, fragment_length, .. } =
            returned(&delivery, Version::V1_2)
        else {
            panic!("expected FFA_MEM_FRAG_TX: {delivery:?}");
        };
        assert_eq!(reported, handle.0);
        let fragment = manager.with_memory(|memory| {
            memory.contents(rx_of(from.endpoint))[..fragment_length as usize].to_vec()
        });
        bytes.extend_from_slice(&fragment);
    }
    assert!(is_success(&rx_release(manager, from)));
    bytes
}

#[test]
fn fragmented_share_and_fragmented_retrieve_carry_every_constituent() {
    let manager = memory_spmc();
    let ranges = scattered(300);
    let share = Send::new(Share, SP1, &[SP2], &ranges);
    let bytes = share.bytes();
    let header = bytes.len() - 300 * 16;
    let sp1 = context(&manager, SP1);
    // 1000-byte fragments: the first holds the header and 59 constituents.
    let done = send_fragmented(&manager, sp1, Share, &bytes, header, 1000);
    let handle = handle_of(&done);
    assert_eq!(manager.memory_activity(), MemoryActivity::default());
    // A 4 KiB RX buffer holds 250 of the 300 constituents: the response comes in two parts.
    let sp2 = context(&manager, SP2);
    let request = Retrieve::new(SP2, handle, Share, SP1, &[SP2]);
    let response = retrieve_fragmented(&manager, sp2, &request);
    let descriptor = TransactionDescriptor::parse(&response, Layout::V1_2).unwrap();
    assert_eq!(descriptor.constituents.iter().collect::<Vec<_>>(), ranges);
    assert_eq!(descriptor.header.composite.unwrap().total_page_count, 300);
    assert_eq!(manager.memory_activity().pending_retrieves, 0);
    assert!(mapped(&manager, SP2, SP1_LARGE + 2 * 299 * PAGE_SIZE).is_some());
}

#[test]
fn fragment_errors_end_the_pending_send_and_leave_nothing_behind() {
    let manager = memory_spmc();
    let ranges = scattered(10);
    let bytes = Send::new(Lend, SP1, &[SP2], &ranges).bytes();
    let header = bytes.len() - 10 * 16;
    let sp1 = context(&manager, SP1);
    let before = Snapshot::take(&manager);
    let first = header + 32;
    let delivery =
        with_tx(&manager, sp1, &bytes[..first], send_call(Lend, bytes.len() as u32, first as u32));
    let Return::MemFragRx { handle, offset, endpoint } = returned(&delivery, Version::V1_2) else {
        panic!("{delivery:?}");
    };
    assert_eq!((offset as usize, endpoint), (first, SP1));
    assert_eq!(manager.memory_activity().pending_sends, 1);
    assert_eq!(mapped(&manager, SP1, ranges[0].address), Some(AccessPermissions::READ_WRITE));
    // Another partition cannot continue it, nor can SP1 name a sender ID; neither ends it.
    let sp2 = context(&manager, SP2);
    let fragment = Call::MemFragTx { handle, fragment_length: 32, endpoint: EndpointId(0) };
    assert_error(&call(&manager, sp2, fragment), sp2, FfaError::InvalidParameters);
    let named = Call::MemFragTx { handle, fragment_length: 32, endpoint: SP1 };
    assert_error(&call(&manager, sp1, named), sp1, FfaError::InvalidParameters);
    assert_eq!(manager.memory_activity().pending_sends, 1);
    // A fragment with a partial constituent ends the send.
    manager.with_memory(|memory| memory.write_at(tx_of(SP1), 0, &bytes[first..]));
    let partial = Call::MemFragTx { handle, fragment_length: 24, endpoint: EndpointId(0) };
    assert_refused(
        &manager,
        &before,
        &call(&manager, sp1, partial),
        sp1,
        FfaError::InvalidParameters,
    );
    assert_error(&call(&manager, sp1, fragment), sp1, FfaError::InvalidParameters);
    // A fragment past the total length, and a bad constituent (unaligned) end it too.
    for mistake in [0usize, 1] {
        let delivery = with_tx(
            &manager,
            sp1,
            &bytes[..first],
            send_call(Lend, bytes.len() as u32, first as u32),
        );
        let Return::MemFragRx { handle, .. } = returned(&delivery, Version::V1_2) else {
            panic!("{delivery:?}");
        };
        let made = if mistake == 0 {
            let too_long = (bytes.len() - first + 16) as u32;
            Call::MemFragTx { handle, fragment_length: too_long, endpoint: EndpointId(0) }
        } else {
            let mut bad = bytes[first..].to_vec();
            bad[0] |= 0x10;
            manager.with_memory(|memory| memory.write_at(tx_of(SP1), 0, &bad));
            Call::MemFragTx { handle, fragment_length: bad.len() as u32, endpoint: EndpointId(0) }
        };
        assert_refused(
            &manager,
            &before,
            &call(&manager, sp1, made),
            sp1,
            FfaError::InvalidParameters,
        );
    }
    // The whole send still works afterwards.
    let done = send_fragmented(&manager, sp1, Lend, &bytes, header, header + 64);
    handle_of(&done);
    assert_eq!(mapped(&manager, SP1, ranges[0].address), None);
}

#[test]
fn a_donation_that_does_not_fit_the_rx_buffer_is_refused_without_change() {
    let manager = memory_spmc();
    let ranges = scattered(260);
    let bytes = Send::new(Donate, SP1, &[SP2], &ranges).bytes();
    let header = bytes.len() - 260 * 16;
    let sp1 = context(&manager, SP1);
    let handle = handle_of(&send_fragmented(&manager, sp1, Donate, &bytes, header, 4096));
    let sp2 = context(&manager, SP2);
    let before = Snapshot::take(&manager);
    let request = Retrieve::new(SP2, handle, Donate, SP1, &[SP2]);
    assert_refused(&manager, &before, &request.make(&manager, sp2), sp2, FfaError::NoMemory);
    // The RX buffer was not handed over.
    assert_error(&rx_release(&manager, sp2), sp2, FfaError::Denied);
    // The owner can still take it back.
    assert_success(&reclaim(&manager, sp1, handle, false), sp1);
}

#[test]
fn fragment_rx_errors() {
    let manager = memory_spmc();
    let ranges = scattered(255);
    let handle = transact_fragmented(&manager, &ranges);
    let sp2 = context(&manager, SP2);
    let request = Retrieve::new(SP2, handle, Share, SP1, &[SP2]);
    let (total, first) = response(&manager, &request.make(&manager, sp2), Version::V1_2);
    assert!(first.len() < total as usize);
    assert!(is_success(&rx_release(&manager, sp2)));
    let fetch =
        |offset: u32, endpoint: EndpointId| Call::MemFragRx { handle: handle.0, offset, endpoint };
    let before = Snapshot::take(&manager);
    for (made, error) in [
        (fetch(first.len() as u32 - 16, EndpointId(0)), FfaError::InvalidParameters),
        (fetch(first.len() as u32, SP2), FfaError::InvalidParameters),
        (
            Call::MemFragRx {
                handle: handle.0 + 1,
                offset: first.len() as u32,
                endpoint: EndpointId(0),
            },
            FfaError::InvalidParameters,
        ),
    ] {
        assert_refused(&manager, &before, &call(&manager, sp2, made), sp2, error);
    }
    // Another partition has no response pending.
    let sp1 = context(&manager, SP1);
    assert_refused(
        &manager,
        &before,
        &call(&manager, sp1, fetch(first.len() as u32, EndpointId(0))),
        sp1,
        FfaError::InvalidParameters,
    );
    // Relinquishing drops the rest of the response.
    assert_success(&relinquish(&manager, sp2, handle, false), sp2);
    assert_eq!(manager.memory_activity().pending_retrieves, 0);
    assert_error(
        &call(&manager, sp2, fetch(first.len() as u32, EndpointId(0))),
        sp2,
        FfaError::InvalidParameters,
    );
}

fn transact_fragmented(manager: &Manager, ranges: &[AddressRange]) -> MemoryHandle {
    let bytes = Send::new(Share, SP1, &[SP2], ranges).bytes();
    let header = bytes.len() - ranges.len() * 16;
    handle_of(&send_fragmented(manager, context(manager, SP1), Share, &bytes, header, 4096))
}

// ---- Send errors (each changes nothing) ---------------------------------------------------

/// Sends `send` from `from` and expects `error` with no change.
fn refuse_send(
    manager: &Manager,
    from: ContextId,
    call: TransactionType,
    send: &Send,
    error: FfaError,
) {
    let before = Snapshot::take(manager);
    let delivery = self::send(manager, from, call, &send.bytes());
    assert_refused(manager, &before, &delivery, from, error);
}

#[test]
fn send_errors_from_the_matrix() {
    let manager = memory_spmc();
    let sp1 = context(&manager, SP1);
    let one = [range(page(SP1, 1), 1)];
    let invalid = FfaError::InvalidParameters;
    for call in [Share, Lend, Donate] {
        // MM03: receiver 0xFFFF or the sender itself.
        for borrower in [EndpointId(0xFFFF), SP1] {
            refuse_send(&manager, sp1, call, &Send::new(call, SP1, &[borrower], &one), invalid);
        }
        // MM07: the descriptor names another sender.
        let mut spoofed = Send::new(call, SP2, &[SP6], &[range(page(SP2, 1), 1)]);
        spoofed.layout = Layout::V1_2;
        refuse_send(&manager, sp1, call, &spoofed, FfaError::Denied);
        // MM11: the NS bit in a send.
        let mut ns = Send::new(call, SP1, &[SP2], &one);
        ns.fields.attributes.non_secure = true;
        refuse_send(&manager, sp1, call, &ns, invalid);
        // Rule 3: a partition that does not exist.
        refuse_send(
            &manager,
            sp1,
            call,
            &Send::new(call, SP1, &[EndpointId(0x8042)], &one),
            invalid,
        );
        // MM10: secure memory to the normal world.
        refuse_send(&manager, sp1, call, &Send::new(call, SP1, &[VM1], &one), FfaError::Denied);
        // MM12: device memory.
        let device = [range(SP1_DEVICE, 1)];
        refuse_send(&manager, sp1, call, &Send::new(call, SP1, &[SP2], &device), FfaError::Denied);
        // MM33-style: memory SP1 does not own.
        let foreign = [range(page(SP2, 1), 1)];
        refuse_send(&manager, sp1, call, &Send::new(call, SP1, &[SP6], &foreign), FfaError::Denied);
        // MM09: overlapping constituents.
        let overlapping = [range(page(SP1, 1), 2), range(page(SP1, 2), 1)];
        refuse_send(&manager, sp1, call, &Send::new(call, SP1, &[SP2], &overlapping), invalid);
        // D21: the caller's own RX/TX buffers.
        let mailbox = [range(tx_of(SP1), 1)];
        refuse_send(&manager, sp1, call, &Send::new(call, SP1, &[SP2], &mailbox), FfaError::Denied);
    }
    // MM04: SHARE with the zero-memory flag.
    let mut clear = Send::new(Share, SP1, &[SP2], &one);
    clear.fields.flags = TransactionFlags(TransactionFlags::CLEAR_MEMORY);
    refuse_send(&manager, sp1, Share, &clear, invalid);
    // MM05: instruction access given by the lender.
    let mut executable = Send::new(Lend, SP1, &[SP2], &one);
    executable.receivers[0].permissions.instruction = InstructionAccess::Executable;
    refuse_send(&manager, sp1, Lend, &executable, invalid);
    // MM06: single-borrower LEND with a memory type; DONATE with data access.
    let mut typed = Send::new(Lend, SP1, &[SP2], &one);
    typed.fields.attributes = MemoryRegionAttributes::NORMAL_WRITE_BACK_INNER;
    refuse_send(&manager, sp1, Lend, &typed, invalid);
    let mut donate_rw = Send::new(Donate, SP1, &[SP2], &one);
    donate_rw.receivers[0].permissions = AccessPermissions::READ_WRITE;
    refuse_send(&manager, sp1, Donate, &donate_rw, invalid);
    // Rule 2: DONATE to two borrowers.
    refuse_send(&manager, sp1, Donate, &Send::new(Donate, SP1, &[SP2, SP6], &one), invalid);
    // MM13: read-write share of a region the lender only reads.
    let sp2 = context(&manager, SP2);
    let read_only = [range(SP2_READ_ONLY, 1)];
    refuse_send(&manager, sp2, Share, &Send::new(Share, SP2, &[SP1], &read_only), FfaError::Denied);
    let mut read_only_share = Send::new(Share, SP2, &[SP1], &read_only);
    read_only_share.receivers[0].permissions.data = DataAccess::ReadOnly;
    handle_of(&send(&manager, sp2, Share, &read_only_share.bytes()));

    // MM08: w1 is not the descriptor's length; MM09: page total mismatch.
    let bytes = Send::new(Share, SP1, &[SP2], &one).bytes();
    let length = bytes.len() as u32;
    let before = Snapshot::take(&manager);
    for (total, fragment) in [(length + 16, length), (length - 16, length - 16)] {
        let delivery = with_tx(&manager, sp1, &bytes, send_call(Share, total, fragment));
        assert_refused(&manager, &before, &delivery, sp1, invalid);
    }
    let mut wrong_total = bytes.clone();
    let composite = bytes.len() - 32;
    wrong_total[composite] = 2;
    assert_refused(&manager, &before, &send(&manager, sp1, Share, &wrong_total), sp1, invalid);
    // Reference §7.1: a descriptor in a separate buffer; a fragment longer than the TX buffer;
    // an empty fragment.
    let in_buffer = Call::MemShare {
        transaction: MemoryTransaction {
            total_length: length,
            fragment_length: length,
            buffer: Some(ffa_core::call::DescriptorBuffer { address: page(SP1, 3), page_count: 1 }),
        },
        is_64: false,
    };
    assert_refused(&manager, &before, &call(&manager, sp1, in_buffer), sp1, invalid);
    let long = 4096 + 16;
    let delivery = call(&manager, sp1, send_call(Share, long, long));
    assert_refused(&manager, &before, &delivery, sp1, invalid);
    assert_refused(
        &manager,
        &before,
        &call(&manager, sp1, send_call(Share, length, 0)),
        sp1,
        invalid,
    );

    // MM14: what is shared cannot be sent again, even in part; MM02: nor by its borrower.
    let handle = transact(&manager, Share, SP1, &[SP2], &[range(page(SP1, 10), 4)]);
    let part = [range(page(SP1, 12), 1)];
    for call in [Share, Lend, Donate] {
        refuse_send(&manager, sp1, call, &Send::new(call, SP1, &[SP6], &part), FfaError::Denied);
    }
    let request = Retrieve::new(SP2, handle, Share, SP1, &[SP2]);
    retrieve_whole(&manager, sp2, &request);
    assert!(is_success(&rx_release(&manager, sp2)));
    refuse_send(&manager, sp2, Lend, &Send::new(Lend, SP2, &[SP6], &part), FfaError::Denied);
}

#[test]
fn sends_need_a_tx_buffer_and_the_normal_world_cannot_send_partition_memory() {
    let manager = memory_spmc();
    let one = [range(page(NWD, 1), 1)];
    let normal = context(&manager, NWD);
    // MM33: the normal world naming secure memory, or memory it does not own.
    for forbidden in [range(page(SP1, 1), 1), range(0x9F00_0000, 1)] {
        let mut bytes = Send::new(Share, NWD, &[SP1], &[forbidden]);
        bytes.layout = Layout::V1_2;
        refuse_send(&manager, normal, Share, &bytes, FfaError::Denied);
    }
    // The normal world must name a partition, and may not send as a partition.
    refuse_send(
        &manager,
        normal,
        Share,
        &Send::new(Share, NWD, &[VM1], &one),
        FfaError::InvalidParameters,
    );
    let mut as_partition = Send::new(Share, SP1, &[SP2], &[range(page(SP1, 1), 1)]);
    as_partition.layout = Layout::V1_2;
    refuse_send(&manager, normal, Share, &as_partition, FfaError::Denied);
    // A partition without RX/TX buffers (SP3) gets INVALID_PARAMETERS for every memory call.
    let sp3 = {
        let delivery = call(&manager, nwd(0), request32(NWD, SP3, [0; 5]));
        delivery.to
    };
    let before = Snapshot::take(&manager);
    for made in [
        send_call(Share, 96, 96),
        Call::MemRetrieveReq {
            transaction: MemoryTransaction { total_length: 80, fragment_length: 80, buffer: None },
            is_64: false,
        },
        Call::MemRelinquish,
    ] {
        assert_refused(
            &manager,
            &before,
            &call(&manager, sp3, made),
            sp3,
            FfaError::InvalidParameters,
        );
    }
}

// ---- Retrieve, relinquish and reclaim errors ----------------------------------------------

#[test]
fn retrieve_errors_from_the_matrix() {
    let manager = memory_spmc();
    let pages = [range(page(SP1, 20), 2)];
    let lent = transact(&manager, Lend, SP1, &[SP2], &pages);
    let mut read_only = Send::new(Lend, SP1, &[SP4], &[range(page(SP1, 24), 1)]);
    read_only.receivers[0].permissions.data = DataAccess::ReadOnly;
    let read_only = handle_of(&send(&manager, context(&manager, SP1), Lend, &read_only.bytes()));
    let sp2 = context(&manager, SP2);
    let invalid = FfaError::InvalidParameters;
    let good = || Retrieve::new(SP2, lent, Lend, SP1, &[SP2]);
    let before = Snapshot::take(&manager);
    let mut cases: Vec<(Retrieve, FfaError, &str)> = Vec::new();
    let mut request = good();
    request.fields.handle = MemoryHandle(lent.0 + 7);
    cases.push((request, invalid, "MM15 unknown handle"));
    let mut request = good();
    request.fields.tag = 1;
    cases.push((request, invalid, "MM15 wrong tag"));
    let mut request = good();
    request.fields.flags = TransactionFlags(0).with_type(Share);
    cases.push((request, invalid, "MM16 wrong type"));
    let mut request = good();
    request.fields.sender = SP6;
    cases.push((request, FfaError::Denied, "MM17 wrong sender"));
    let mut request = good();
    request.fields.attributes.non_secure = true;
    cases.push((request, invalid, "MM11 NS bit in a request"));
    let mut request = good();
    request.fields.flags = TransactionFlags(TransactionFlags::ALIGNMENT_HINT_MASK).with_type(Lend);
    cases.push((request, invalid, "MM23 hint bits without bit 9"));
    let mut request = good();
    request.fields.flags = TransactionFlags(TransactionFlags::CLEAR_MEMORY).with_type(Lend);
    cases.push((request, FfaError::Denied, "MM18 clear flag the lender did not set"));
    let mut request = good();
    request.receivers[0].permissions.instruction = InstructionAccess::NotSpecified;
    cases.push((request, invalid, "MM21 single-borrower LEND must name X or NX"));
    let mut request = good();
    request.receivers[0].permissions.instruction = InstructionAccess::Executable;
    request.fields.attributes = MemoryRegionAttributes {
        memory_type: ffa_core::memory::MemoryType::Device(
            ffa_core::memory::DeviceAttributes::NonGatheringNonReorderingNoEarlyAck,
        ),
        non_secure: false,
    };
    cases.push((request, FfaError::Denied, "MM20 X on device memory"));
    let mut request = good();
    request.receivers = vec![ReceiverAccess::new(SP6, requested(Lend, 1))];
    cases.push((request, invalid, "rule 15: the borrower list must match"));
    let mut request = good();
    request.fields.flags =
        TransactionFlags(TransactionFlags::BYPASS_MULTI_BORROWER_CHECK).with_type(Lend);
    cases.push((request, invalid, "MM26 bypass flag with one borrower"));
    let mut request = good();
    request.receivers[0].impdef = [1, 2];
    cases.push((request, invalid, "MM25 wrong implementation-defined value"));
    for (request, error, row) in cases {
        let delivery = request.make(&manager, sp2);
        assert_eq!(error_of(&delivery), Some(error), "{row}");
        assert_refused(&manager, &before, &delivery, sp2, error);
        assert_error(&rx_release(&manager, sp2), sp2, FfaError::Denied);
    }
    // MM17: a caller that is not a borrower.
    let sp6 = context(&manager, SP6);
    let request = Retrieve::new(SP6, lent, Lend, SP1, &[SP6]);
    assert_refused(&manager, &before, &request.make(&manager, sp6), sp6, FfaError::Denied);
    leave(&manager, sp6);
    // MM19: read-write asked of a read-only grant.
    let sp4 = context(&manager, SP4);
    let request = Retrieve::new(SP4, read_only, Lend, SP1, &[SP4]);
    assert_refused(&manager, &before, &request.make(&manager, sp4), sp4, FfaError::Denied);
    let mut downgraded = Retrieve::new(SP4, read_only, Lend, SP1, &[SP4]);
    downgraded.receivers[0].permissions.data = DataAccess::ReadOnly;
    retrieve_whole(&manager, sp4, &downgraded);
    // MM28: relinquishing with the zero flag as a read-only borrower.
    let before = Snapshot::take(&manager);
    assert_refused(
        &manager,
        &before,
        &relinquish(&manager, sp4, read_only, true),
        sp4,
        FfaError::Denied,
    );
    // A fragmented request (w1 != w2) and the descriptor in a separate buffer.
    let bytes = good().bytes();
    let length = bytes.len() as u32;
    for transaction in [
        MemoryTransaction { total_length: length + 16, fragment_length: length, buffer: None },
        MemoryTransaction {
            total_length: length,
            fragment_length: length,
            buffer: Some(ffa_core::call::DescriptorBuffer { address: page(SP2, 3), page_count: 1 }),
        },
    ] {
        let made = Call::MemRetrieveReq { transaction, is_64: true };
        assert_refused(&manager, &before, &with_tx(&manager, sp2, &bytes, made), sp2, invalid);
    }
    // MM24: after a retrieve, again with the clear flag is INVALID_PARAMETERS.
    retrieve_whole(&manager, sp2, &good());
    assert!(is_success(&rx_release(&manager, sp2)));
    let mut again = good();
    again.fields.flags = TransactionFlags(TransactionFlags::CLEAR_MEMORY).with_type(Lend);
    let before = Snapshot::take(&manager);
    assert_refused(&manager, &before, &again.make(&manager, sp2), sp2, invalid);
}

#[test]
fn relinquish_and_reclaim_errors_from_the_matrix() {
    let manager = memory_spmc();
    let shared = transact(&manager, Share, SP1, &[SP2], &[range(page(SP1, 30), 1)]);
    let sp1 = context(&manager, SP1);
    let sp2 = context(&manager, SP2);
    let before = Snapshot::take(&manager);
    // MM28: relinquish before retrieve.
    assert_refused(
        &manager,
        &before,
        &relinquish(&manager, sp2, shared, false),
        sp2,
        FfaError::Denied,
    );
    retrieve_whole(&manager, sp2, &Retrieve::new(SP2, shared, Share, SP1, &[SP2]));
    assert!(is_success(&rx_release(&manager, sp2)));
    let before = Snapshot::take(&manager);
    let invalid = FfaError::InvalidParameters;
    // MM27: clear flag on a SHARE, unknown handle, endpoint count 0, another endpoint named.
    assert_refused(&manager, &before, &relinquish(&manager, sp2, shared, true), sp2, invalid);
    let stale = MemoryHandle(shared.0 ^ 0x1_0000_0000);
    assert_refused(&manager, &before, &relinquish(&manager, sp2, stale, false), sp2, invalid);
    let mut empty = [0u8; 16];
    empty[..8].copy_from_slice(&shared.0.to_le_bytes());
    assert_refused(
        &manager,
        &before,
        &with_tx(&manager, sp2, &empty, Call::MemRelinquish),
        sp2,
        invalid,
    );
    let mut out = [0u8; 32];
    let length = build_relinquish(&mut out, shared, RelinquishFlags::default(), &[SP1]).unwrap();
    let delivery = with_tx(&manager, sp2, &out[..length], Call::MemRelinquish);
    assert_refused(&manager, &before, &delivery, sp2, invalid);
    let length =
        build_relinquish(&mut out, shared, RelinquishFlags::default(), &[SP2, SP6]).unwrap();
    let delivery = with_tx(&manager, sp2, &out[..length], Call::MemRelinquish);
    assert_refused(&manager, &before, &delivery, sp2, invalid);
    // MM29: unknown handle; held by a borrower; not the owner; time slicing.
    assert_refused(&manager, &before, &reclaim(&manager, sp1, stale, false), sp1, invalid);
    assert_refused(
        &manager,
        &before,
        &reclaim(&manager, sp1, shared, false),
        sp1,
        FfaError::Denied,
    );
    assert_refused(
        &manager,
        &before,
        &reclaim(&manager, sp2, shared, false),
        sp2,
        FfaError::Denied,
    );
    let sliced = Call::MemReclaim { handle: shared.0, flags: ReclaimRegister::TIME_SLICE };
    assert_refused(&manager, &before, &call(&manager, sp1, sliced), sp1, invalid);
    // The normal world cannot reclaim a partition's transaction.
    let normal = context(&manager, NWD);
    assert_refused(
        &manager,
        &before,
        &reclaim(&manager, normal, shared, false),
        normal,
        FfaError::Denied,
    );
    // MM13: zeroing read-only memory at reclaim.
    let sp2_read_only = [range(SP2_READ_ONLY + PAGE_SIZE, 1)];
    let mut lend = Send::new(Lend, SP2, &[SP6], &sp2_read_only);
    lend.receivers[0].permissions.data = DataAccess::ReadOnly;
    let handle = handle_of(&send(&manager, sp2, Lend, &lend.bytes()));
    let before = Snapshot::take(&manager);
    assert_refused(&manager, &before, &reclaim(&manager, sp2, handle, true), sp2, FfaError::Denied);
    assert_success(&reclaim(&manager, sp2, handle, false), sp2);
}

// ---- FFA_FEATURES and RX/TX buffers -------------------------------------------------------

fn features(
    manager: &Manager,
    from: ContextId,
    function: FunctionId,
    properties: u32,
) -> Result<u32, FfaError> {
    let delivery =
        call(manager, from, Call::Features(FeaturesQuery::Function { function, properties }));
    match error_of(&delivery) {
        Some(error) => Err(error),
        None => {
            assert!(is_success(&delivery), "{delivery:?}");
            assert!(delivery.registers[3..8].iter().all(|&value| value == 0), "w3-w7 MBZ");
            Ok(delivery.registers[2] as u32)
        }
    }
}

const MEMORY_FUNCTIONS: [FunctionId; 13] = [
    FunctionId::MemDonate32,
    FunctionId::MemDonate64,
    FunctionId::MemLend32,
    FunctionId::MemLend64,
    FunctionId::MemShare32,
    FunctionId::MemShare64,
    FunctionId::MemRetrieveReq32,
    FunctionId::MemRetrieveReq64,
    FunctionId::MemRetrieveResp,
    FunctionId::MemRelinquish,
    FunctionId::MemReclaim,
    FunctionId::MemFragRx,
    FunctionId::MemFragTx,
];

#[test]
fn d11_d13_features_report_the_memory_calls() {
    let manager = memory_spmc();
    let ns_bit = ffa_core::features::RETRIEVE_INPUT_NS_BIT;
    for endpoint in [SP1, SP6, NWD] {
        let from = context(&manager, endpoint);
        for function in MEMORY_FUNCTIONS {
            let properties = if matches!(
                function,
                FunctionId::MemRetrieveReq32 | FunctionId::MemRetrieveReq64
            ) {
                ns_bit
            } else {
                0
            };
            let word = features(&manager, from, function, properties);
            assert!(word.is_ok(), "{endpoint:?} {function}");
            if !matches!(function, FunctionId::MemRetrieveReq32 | FunctionId::MemRetrieveReq64) {
                assert_eq!(word, Ok(0), "no dynamic buffers: {function}");
            }
        }
        for function in [FunctionId::MemOpPause, FunctionId::MemOpResume, FunctionId::MemPermGet32]
        {
            assert_eq!(features(&manager, from, function, 0), Err(FfaError::NotSupported));
        }
    }
    // D13: a v1.1+ caller must say it handles the NS bit; then bit 1 comes back. The normal
    // world may use the hypervisor retrieve request (bit 2); partitions may not.
    let sp1 = context(&manager, SP1);
    assert_eq!(
        features(&manager, sp1, FunctionId::MemRetrieveReq32, 0),
        Err(FfaError::NotSupported)
    );
    assert_eq!(features(&manager, sp1, FunctionId::MemRetrieveReq64, ns_bit), Ok(0b010));
    let normal = context(&manager, NWD);
    assert_eq!(features(&manager, normal, FunctionId::MemRetrieveReq32, ns_bit), Ok(0b110));
    // A v1.0 partition cannot get NS bits: nothing to announce.
    let sp6 = context(&manager, SP6);
    assert_eq!(features(&manager, sp6, FunctionId::MemRetrieveReq32, 0), Ok(0));
}

#[test]
fn d21_rxtx_pages_are_marked_while_mapped_and_cannot_be_mapped_while_lent() {
    let manager = memory_spmc();
    let sp1 = context(&manager, SP1);
    let mailbox = [range(tx_of(SP1), 2)];
    refuse_send(&manager, sp1, Share, &Send::new(Share, SP1, &[SP2], &mailbox), FfaError::Denied);
    // After FFA_RXTX_UNMAP the pages are ordinary memory again.
    assert_success(&call(&manager, sp1, Call::RxtxUnmap { vm_id: EndpointId(0) }), sp1);
    let regions = manager.with_ledger(|ledger| ledger.regions().iter().filter(|r| r.rxtx).count());
    assert_eq!(regions, Some(4), "SP2, SP4, SP6 and the normal world keep theirs");
    // SP1 moves its buffers to pages 40-41 and lends the old ones.
    let elsewhere = RxtxMapArgs::Buffers {
        tx_address: page(SP1, 40),
        rx_address: page(SP1, 41),
        page_count: 1,
    };
    assert!(is_success(&call(&manager, sp1, Call::RxtxMap { buffers: elsewhere, is_64: true })));
    let handle = handle_of(&send_from(&manager, sp1, page(SP1, 40), Lend, &mailbox));
    assert_success(&call(&manager, sp1, Call::RxtxUnmap { vm_id: EndpointId(0) }), sp1);
    // Lent pages cannot become RX/TX buffers: DENIED, and no mailbox is left mapped.
    let before = Snapshot::take(&manager);
    let delivery = map_mailbox(&manager, sp1);
    assert_refused(&manager, &before, &delivery, sp1, FfaError::Denied);
    assert_success(&reclaim(&manager, sp1, handle, false), sp1);
    assert!(is_success(&map_mailbox(&manager, sp1)));
    refuse_send(&manager, sp1, Share, &Send::new(Share, SP1, &[SP2], &mailbox), FfaError::Denied);
    // The normal world's buffers are marked too (physical addresses, no translation).
    let normal = context(&manager, NWD);
    let its_own = [range(tx_of(NWD), 1)];
    refuse_send(
        &manager,
        normal,
        Share,
        &Send::new(Share, NWD, &[SP1], &its_own),
        FfaError::Denied,
    );
}

/// SP1 lends `ranges` to SP2 with its TX buffer at `tx`.
fn send_from(
    manager: &Manager,
    from: ContextId,
    tx: u64,
    call: TransactionType,
    ranges: &[AddressRange],
) -> Delivery {
    let bytes = Send::new(call, from.endpoint, &[SP2], ranges).bytes();
    manager.with_memory(|memory| memory.write_at(tx, 0, &bytes));
    let length = bytes.len() as u32;
    self::call(manager, from, send_call(call, length, length))
}

#[test]
fn a_manager_without_memory_sharing_refuses_every_memory_call() {
    let manager = booted_spmc();
    let sp1 = {
        let delivery = call(&manager, nwd(0), request32(NWD, SP1, [0; 5]));
        delivery.to
    };
    for made in [
        send_call(Share, 96, 96),
        Call::MemRelinquish,
        Call::MemReclaim { handle: 0, flags: ReclaimRegister::empty() },
    ] {
        assert_error(&call(&manager, sp1, made), sp1, FfaError::NotSupported);
    }
    assert_eq!(features(&manager, sp1, FunctionId::MemShare32, 0), Err(FfaError::NotSupported));
    assert_eq!(manager.with_ledger(|_| ()), None);
}

// ---- The forwarder -------------------------------------------------------------------------

/// Physical memory behind VM1's IPA pages 0-15, 16-63, and behind VM2's.
const VM1_LOW: u64 = 0xC000_0000;
const VM1_HIGH: u64 = 0xC100_0000;
const VM2_PHYSICAL: u64 = 0xC200_0000;

fn forwarder_regions() -> Vec<MemoryRegionDescription> {
    vec![
        normal(VM1, VM1_LOW, 16, false),
        normal(VM1, VM1_HIGH, 48, false),
        normal(VM2, VM2_PHYSICAL, PAGES, false),
    ]
}

/// The physical address of VM1's IPA page `n`.
fn vm1_physical(n: u64) -> u64 {
    if n < 16 {
        VM1_LOW + n * PAGE_SIZE
    } else {
        VM1_HIGH + (n - 16) * PAGE_SIZE
    }
}

/// A forwarder with VM1 (running on CPU 0) and VM2 (running on CPU 1), both v1.2 with 1-page
/// RX/TX buffers, the test partitions as the secure world, and a forward buffer of
/// `forward_buffer` bytes.
fn forwarder(forward_buffer: usize) -> Manager {
    let messaging = spmc::manifest::MessagingMethod::SEND_DIRECT_REQUEST
        | spmc::manifest::MessagingMethod::RECEIVE_DIRECT_REQUEST;
    let local = vec![
        EndpointDescription::virtual_machine(VM1, 2, Version::V1_2, messaging),
        EndpointDescription::virtual_machine(VM2, 1, Version::V1_2, messaging),
    ];
    let remote = secure_partitions();
    let configuration = Configuration {
        role: Role::Forwarder,
        own_id: EndpointId(0),
        spm_id: SPMC_ID,
        version: Version::V1_2,
        local: &local,
        remote: &remote,
        interrupts: FeatureInterrupts::default(),
        maximum_mailbox_pages: 0,
    };
    let regions = forwarder_regions();
    let mut platform = build_platform(&regions);
    platform.translations = vec![
        (VM1, VM1_MEMORY, VM1_LOW, 16),
        (VM1, VM1_MEMORY + 16 * PAGE_SIZE, VM1_HIGH, 48),
        (VM2, VM2_MEMORY, VM2_PHYSICAL, 64),
    ];
    platform.forward_buffer = vec![0; forward_buffer];
    let sharing = MemorySharing { platform, storage: storage(), regions: &regions };
    let manager =
        Manager::with_memory_sharing(&configuration, FakeMemory::default(), sharing).unwrap();
    for (vm, cpu) in [(VM1, 0), (VM2, 1)] {
        assert_eq!(manager.start(ec(vm, 0), cpu).unwrap().transfer, Transfer::Start);
        assert!(is_success(&map_mailbox(&manager, ec(vm, 0))), "{vm:?}");
    }
    manager
}

fn vm_range(vm: EndpointId, first: u64, page_count: u32) -> AddressRange {
    range(page(vm, first), page_count)
}

/// What the SPMC sees: the descriptor in the forward buffer.
fn forward_buffer(manager: &Manager) -> Vec<u8> {
    manager.with_memory_platform(|platform| platform.forward_buffer.clone()).unwrap()
}

/// The other world answers on CPU `cpu`.
fn spmc_answers(manager: &Manager, cpu: u16, answer: Return) -> Delivery {
    let delivery = manager.handle(ec(SPMC_ID, cpu), &answer.encode(Version::V1_2));
    manager.check_invariants().unwrap();
    delivery
}

fn ledger_ranges(manager: &Manager, handle: MemoryHandle) -> Vec<AddressRange> {
    manager
        .with_ledger(|ledger| {
            let mut cursor = ledger.ranges(handle).unwrap();
            let mut out = vec![range(0, 0); cursor.remaining() as usize];
            let count = ledger.read_ranges(&mut cursor, &mut out).unwrap();
            out.truncate(count);
            out
        })
        .unwrap()
}

#[test]
fn forwarder_vm_to_vm_share_translates_splitting_and_merging() {
    let manager = forwarder(0);
    let vm1 = ec(VM1, 0);
    let ipas = [vm_range(VM1, 1, 1), vm_range(VM1, 2, 1), vm_range(VM1, 15, 2)];
    let handle =
        handle_of(&send(&manager, vm1, Share, &Send::new(Share, VM1, &[VM2], &ipas).bytes()));
    assert_eq!(handle.allocator(), HandleAllocator::Hypervisor, "VM to VM stays local");
    let physical =
        vec![range(vm1_physical(1), 2), range(vm1_physical(15), 1), range(vm1_physical(16), 1)];
    assert_eq!(
        ledger_ranges(&manager, handle),
        physical,
        "merged where contiguous, split where not"
    );
    let vm2 = ec(VM2, 0);
    let (bytes, layout) =
        retrieve_whole(&manager, vm2, &Retrieve::new(VM2, handle, Share, VM1, &[VM2]));
    let descriptor = TransactionDescriptor::parse(&bytes, layout).unwrap();
    assert_eq!(descriptor.constituents.iter().collect::<Vec<_>>(), physical);
    assert!(descriptor.header.fields.attributes.non_secure);
    assert!(mapped(&manager, VM2, vm1_physical(16)).is_some());
    assert_eq!(mapped(&manager, VM1, vm1_physical(16)), Some(AccessPermissions::READ_WRITE));
    assert_success(&relinquish(&manager, vm2, handle, false), vm2);
    assert_success(&reclaim(&manager, vm1, handle, false), vm1);
}

#[test]
fn forwarder_lend_takes_the_vms_stage_2_access_until_reclaim() {
    let manager = forwarder(0);
    let vm1 = ec(VM1, 0);
    let lend = Send::new(Lend, VM1, &[VM2], &[vm_range(VM1, 3, 1)]);
    let handle = handle_of(&send(&manager, vm1, Lend, &lend.bytes()));
    assert_eq!(mapped(&manager, VM1, vm1_physical(3)), None, "the lender lost its access");
    let vm2 = ec(VM2, 0);
    retrieve_whole(&manager, vm2, &Retrieve::new(VM2, handle, Lend, VM1, &[VM2]));
    assert!(mapped(&manager, VM2, vm1_physical(3)).is_some());
    assert_success(&relinquish(&manager, vm2, handle, false), vm2);
    assert_eq!(mapped(&manager, VM2, vm1_physical(3)), None);
    assert_eq!(mapped(&manager, VM1, vm1_physical(3)), None);
    assert_success(&reclaim(&manager, vm1, handle, false), vm1);
    assert_eq!(mapped(&manager, VM1, vm1_physical(3)), Some(AccessPermissions::READ_WRITE));
}

#[test]
fn forwarder_refuses_spoofed_senders_foreign_ipas_and_rxtx_pages_without_change() {
    let manager = forwarder(4096);
    let vm1 = ec(VM1, 0);
    let one = [vm_range(VM1, 5, 1)];
    for call in [Share, Lend, Donate] {
        // Rule 1: the descriptor must name the calling VM.
        let mut spoofed = Send::new(call, VM2, &[SP1], &one);
        spoofed.layout = Layout::V1_2;
        refuse_send(&manager, vm1, call, &spoofed, FfaError::Denied);
        // IPAs outside the VM, also partly outside.
        for outside in [vm_range(VM1, 64, 1), vm_range(VM1, 63, 2)] {
            let send = Send::new(call, VM1, &[VM2], &[outside]);
            refuse_send(&manager, vm1, call, &send, FfaError::Denied);
            let forwarded = Send::new(call, VM1, &[SP1], &[outside]);
            refuse_send(&manager, vm1, call, &forwarded, FfaError::Denied);
        }
        // D21: its RX/TX pages, directly or forwarded.
        for borrower in [VM2, SP1] {
            let send = Send::new(call, VM1, &[borrower], &[vm_range(VM1, 48, 1)]);
            refuse_send(&manager, vm1, call, &send, FfaError::Denied);
        }
        // Borrowers that do not exist.
        for borrower in [EndpointId(9), EndpointId(0x8042), SPMC_ID] {
            let send = Send::new(call, VM1, &[borrower], &one);
            refuse_send(&manager, vm1, call, &send, FfaError::InvalidParameters);
        }
    }
    assert_eq!(manager.context_state(vm1), Some(ContextState::Running { cpu: 0, booting: false }));
}

#[test]
fn forwarder_copies_the_descriptor_before_checking_it() {
    let manager = forwarder(0);
    let vm1 = ec(VM1, 0);
    let bytes = Send::new(Share, VM1, &[VM2], &[vm_range(VM1, 6, 1)]).bytes();
    manager.with_memory(|memory| memory.write_at(tx_of(VM1), 0, &bytes));
    // Right after the manager's first read the guest rewrites its descriptor: another
    // sender and a page outside the VM.
    let mut changed = bytes.clone();
    changed[0..2].copy_from_slice(&VM2.0.to_le_bytes());
    let constituent = bytes.len() - 16;
    changed[constituent..constituent + 8].copy_from_slice(&page(VM1, 70).to_le_bytes());
    let reads_before = manager.with_memory(|memory| memory.reads);
    manager.with_memory(|memory| {
        memory.tamper = Some(Tamper { address: tx_of(VM1), offset: 0, bytes: changed.clone() })
    });
    let length = bytes.len() as u32;
    let handle = handle_of(&call(&manager, vm1, send_call(Share, length, length)));
    let reads = manager.with_memory(|memory| memory.reads) - reads_before;
    assert_eq!(reads, 1, "the descriptor is read once");
    let now = manager.with_memory(|memory| memory.contents(tx_of(VM1))[..bytes.len()].to_vec());
    assert_eq!(now, changed, "the guest did change its TX buffer");
    assert_eq!(ledger_ranges(&manager, handle), vec![range(vm1_physical(6), 1)]);
    let info = manager.with_ledger(|ledger| ledger.hypervisor_retrieve(handle).unwrap()).unwrap();
    assert_eq!(info.sender, VM1);
}

#[test]
fn forwarder_forwards_sends_to_the_spmc_and_returns_its_handle() {
    let manager = forwarder(4096);
    let vm1 = ec(VM1, 0);
    let ipas = [vm_range(VM1, 4, 2), vm_range(VM1, 15, 2)];
    let lend = Send::new(Lend, VM1, &[SP1], &ipas);
    let forwarded = send(&manager, vm1, Lend, &lend.bytes());
    assert_eq!((forwarded.to, forwarded.transfer), (ec(SPMC_ID, 0), Transfer::OtherWorld));
    assert_eq!(manager.context_state(vm1), Some(ContextState::Blocked { cpu: 0 }));
    let Ok(Call::MemLend { transaction, .. }) = Call::decode(&forwarded.registers, Version::V1_2)
    else {
        panic!("{forwarded:?}");
    };
    assert_eq!(transaction.fragment_length, transaction.total_length);
    assert_eq!(transaction.buffer, None);
    let buffer = forward_buffer(&manager);
    let descriptor =
        TransactionDescriptor::parse(&buffer[..transaction.total_length as usize], Layout::V1_2)
            .unwrap();
    descriptor.header.check_send(Lend, VM1).unwrap();
    assert_eq!(descriptor.header.receivers.find(SP1).unwrap().permissions, granted(Lend));
    assert_eq!(
        descriptor.constituents.iter().collect::<Vec<_>>(),
        vec![range(vm1_physical(4), 2), range(vm1_physical(15), 1), range(vm1_physical(16), 1)],
        "the SPMC gets physical addresses"
    );
    assert_eq!(
        mapped(&manager, VM1, vm1_physical(4)),
        None,
        "the VM lost access before the SP could get it"
    );
    // The SPMC's handle is what the VM gets.
    let spmc_handle = MemoryHandle(0x0000_0003_0000_0005);
    let answer = spmc_answers(&manager, 0, Return::success(SuccessArgs::handle(spmc_handle.0)));
    assert_eq!((answer.to, answer.transfer), (vm1, Transfer::Enter));
    assert_eq!(handle_of(&answer), spmc_handle);
    assert_eq!(manager.memory_activity().forwarded, 1);
    assert!(!handles(&manager).contains(&spmc_handle));
    // Another VM may not reclaim it; the VM's retrieve of it is not served here.
    let vm2 = ec(VM2, 0);
    let before = Snapshot::take(&manager);
    assert_refused(
        &manager,
        &before,
        &reclaim(&manager, vm2, spmc_handle, false),
        vm2,
        FfaError::Denied,
    );
    let unknown = MemoryHandle(0x0000_0003_0000_0006);
    assert_refused(
        &manager,
        &before,
        &reclaim(&manager, vm1, unknown, false),
        vm1,
        FfaError::InvalidParameters,
    );
    // The SPMC refuses the first reclaim (SP1 still holds it): the VM keeps waiting for access.
    let forwarded = reclaim(&manager, vm1, spmc_handle, false);
    assert_eq!((forwarded.to, forwarded.transfer), (ec(SPMC_ID, 0), Transfer::OtherWorld));
    assert_eq!(
        Call::decode(&forwarded.registers, Version::V1_2),
        Ok(Call::MemReclaim { handle: spmc_handle.0, flags: ReclaimRegister::empty() })
    );
    let refused = spmc_answers(&manager, 0, Return::error(FfaError::Denied));
    assert_error(&refused, vm1, FfaError::Denied);
    assert_eq!(mapped(&manager, VM1, vm1_physical(4)), None);
    // The second is accepted: the VM has its pages back and the records are gone.
    reclaim(&manager, vm1, spmc_handle, false);
    let done = spmc_answers(&manager, 0, Return::success(SuccessArgs::EMPTY));
    assert_success(&done, vm1);
    assert_eq!(mapped(&manager, VM1, vm1_physical(4)), Some(AccessPermissions::READ_WRITE));
    assert_eq!(mapped(&manager, VM1, vm1_physical(16)), Some(AccessPermissions::READ_WRITE));
    assert_eq!(manager.memory_activity(), MemoryActivity::default());
    assert!(handles(&manager).is_empty());
}

#[test]
fn forwarder_gives_the_vm_its_pages_back_when_the_spmc_refuses() {
    let manager = forwarder(4096);
    let vm1 = ec(VM1, 0);
    let mut before = Snapshot::take(&manager);
    let lend = Send::new(Lend, VM1, &[SP1], &[vm_range(VM1, 7, 1)]);
    let forwarded = send(&manager, vm1, Lend, &lend.bytes());
    assert_eq!(forwarded.transfer, Transfer::OtherWorld);
    assert_eq!(mapped(&manager, VM1, vm1_physical(7)), None);
    let answer = spmc_answers(&manager, 0, Return::error(FfaError::Denied));
    assert_error(&answer, vm1, FfaError::Denied);
    before.platform.forward_buffer = forward_buffer(&manager);
    assert_eq!(Snapshot::take(&manager).handles, before.handles);
    assert_eq!(Snapshot::take(&manager), before, "the refusal left nothing behind");
    // An answer that makes no sense (FRAG_RX at a wrong offset) ends it the same way.
    send(&manager, vm1, Lend, &lend.bytes());
    let nonsense = Return::MemFragRx { handle: 9, offset: 16, endpoint: VM1 };
    assert_error(&spmc_answers(&manager, 0, nonsense), vm1, FfaError::Aborted);
    assert_eq!(Snapshot::take(&manager), before);
}

#[test]
fn forwarder_fragments_what_does_not_fit_its_buffer() {
    // Room for the header part (96 bytes) and two constituents.
    let manager = forwarder(128);
    let vm1 = ec(VM1, 0);
    let ipas: Vec<_> = (0..5).map(|n| vm_range(VM1, 2 * n, 1)).collect();
    let forwarded = send(&manager, vm1, Share, &Send::new(Share, VM1, &[SP2], &ipas).bytes());
    let Ok(Call::MemShare { transaction, .. }) = Call::decode(&forwarded.registers, Version::V1_2)
    else {
        panic!("{forwarded:?}");
    };
    assert_eq!((transaction.total_length, transaction.fragment_length), (96 + 5 * 16, 128));
    let mut descriptor = forward_buffer(&manager);
    let spmc_handle = 0x0000_0001_0000_0009u64;
    let next = spmc_answers(
        &manager,
        0,
        Return::MemFragRx { handle: spmc_handle, offset: 128, endpoint: VM1 },
    );
    assert_eq!((next.to, next.transfer), (ec(SPMC_ID, 0), Transfer::OtherWorld));
    assert_eq!(
        Call::decode(&next.registers, Version::V1_2),
        Ok(Call::MemFragTx { handle: spmc_handle, fragment_length: 48, endpoint: VM1 })
    );
    assert_eq!(manager.context_state(vm1), Some(ContextState::Blocked { cpu: 0 }));
    descriptor.extend_from_slice(&forward_buffer(&manager)[..48]);
    let parsed = TransactionDescriptor::parse(&descriptor, Layout::V1_2).unwrap();
    let expected: Vec<_> = (0..5).map(|n| range(vm1_physical(2 * n), 1)).collect();
    assert_eq!(parsed.constituents.iter().collect::<Vec<_>>(), expected);
    let done = spmc_answers(&manager, 0, Return::success(SuccessArgs::handle(spmc_handle)));
    assert_eq!(handle_of(&done).0, spmc_handle);
}

#[test]
fn forwarder_features_and_what_it_does_not_serve() {
    let manager = forwarder(4096);
    let vm1 = ec(VM1, 0);
    let ns_bit = ffa_core::features::RETRIEVE_INPUT_NS_BIT;
    for function in MEMORY_FUNCTIONS {
        let properties =
            if matches!(function, FunctionId::MemRetrieveReq32 | FunctionId::MemRetrieveReq64) {
                ns_bit
            } else {
                0
            };
        assert!(features(&manager, vm1, function, properties).is_ok(), "{function}");
    }
    assert_eq!(features(&manager, vm1, FunctionId::MemRetrieveReq64, ns_bit), Ok(0b010));
    // A VM retrieving from the secure world: partitions do not lend to VMs here, so no
    // transaction the SPMC allocated has a VM among its borrowers (reference 7.10 rule 15).
    let request = Retrieve::new(VM1, MemoryHandle(0x0000_0001_0000_0001), Share, SP1, &[VM1]);
    let before = Snapshot::take(&manager);
    assert_refused(
        &manager,
        &before,
        &request.make(&manager, vm1),
        vm1,
        FfaError::InvalidParameters,
    );
    // The secure world does not call the forwarder's memory ABI.
    let from_spmc = manager.handle(ec(SP1, 3), &send_call(Share, 96, 96).encode(Version::V1_2));
    assert_eq!(error_of(&from_spmc), Some(FfaError::NotSupported));
}

#[test]
fn fragments_larger_than_the_copy_buffer_are_copied_in_pieces() {
    let manager = memory_spmc();
    let sp1 = context(&manager, SP1);
    // SP1 moves to 2-page buffers: a fragment of up to 8 KiB.
    assert_success(&call(&manager, sp1, Call::RxtxUnmap { vm_id: EndpointId(0) }), sp1);
    let buffers = RxtxMapArgs::Buffers {
        tx_address: page(SP1, 40),
        rx_address: page(SP1, 42),
        page_count: 2,
    };
    assert!(is_success(&call(&manager, sp1, Call::RxtxMap { buffers, is_64: true })));
    let ranges = scattered(500);
    let bytes = Send::new(Share, SP1, &[SP2], &ranges).bytes();
    let total = bytes.len() as u32;
    let reads_before = manager.with_memory(|memory| memory.reads);
    manager.with_memory(|memory| memory.write_at(page(SP1, 40), 0, &bytes[..6000]));
    let delivery = call(&manager, sp1, send_call(Share, total, 6000));
    let Return::MemFragRx { handle, offset, .. } = returned(&delivery, Version::V1_2) else {
        panic!("{delivery:?}");
    };
    assert_eq!(offset, 6000);
    let rest = &bytes[offset as usize..];
    manager.with_memory(|memory| memory.write_at(page(SP1, 40), 0, rest));
    let made =
        Call::MemFragTx { handle, fragment_length: rest.len() as u32, endpoint: EndpointId(0) };
    let handle = handle_of(&call(&manager, sp1, made));
    let reads = manager.with_memory(|memory| memory.reads) - reads_before;
    assert_eq!(reads, 3, "the 6000-byte fragment arrives in two pieces, the rest in one");
    let sp2 = context(&manager, SP2);
    let response =
        retrieve_fragmented(&manager, sp2, &Retrieve::new(SP2, handle, Share, SP1, &[SP2]));
    let descriptor = TransactionDescriptor::parse(&response, Layout::V1_2).unwrap();
    assert_eq!(descriptor.constituents.iter().collect::<Vec<_>>(), ranges);
}

#[test]
fn forwarder_forwards_a_send_that_arrived_in_fragments() {
    let manager = forwarder(4096);
    let vm1 = ec(VM1, 0);
    let ipas: Vec<_> = (0..6).map(|n| vm_range(VM1, 2 * n, 1)).collect();
    let bytes = Send::new(Donate, VM1, &[SP1], &ipas).bytes();
    let header = bytes.len() - 6 * 16;
    let first = header + 32;
    let delivery = with_tx(
        &manager,
        vm1,
        &bytes[..first],
        send_call(Donate, bytes.len() as u32, first as u32),
    );
    let Return::MemFragRx { handle, .. } = returned(&delivery, Version::V1_2) else {
        panic!("{delivery:?}");
    };
    assert_eq!(MemoryHandle(handle).allocator(), HandleAllocator::Hypervisor);
    let rest = &bytes[first..];
    let made =
        Call::MemFragTx { handle, fragment_length: rest.len() as u32, endpoint: EndpointId(0) };
    let forwarded = with_tx(&manager, vm1, rest, made);
    assert_eq!((forwarded.to, forwarded.transfer), (ec(SPMC_ID, 0), Transfer::OtherWorld));
    let Ok(Call::MemDonate { transaction, .. }) = Call::decode(&forwarded.registers, Version::V1_2)
    else {
        panic!("{forwarded:?}");
    };
    let buffer = forward_buffer(&manager);
    let descriptor =
        TransactionDescriptor::parse(&buffer[..transaction.total_length as usize], Layout::V1_2)
            .unwrap();
    let expected: Vec<_> = (0..6).map(|n| range(vm1_physical(2 * n), 1)).collect();
    assert_eq!(descriptor.constituents.iter().collect::<Vec<_>>(), expected);
    let done = spmc_answers(&manager, 0, Return::success(SuccessArgs::handle(0x4_0000_0001)));
    assert_eq!(handle_of(&done), MemoryHandle(0x4_0000_0001));
    assert_eq!(mapped(&manager, VM1, vm1_physical(2)), None, "donated pages are gone");
}

#[test]
fn a_partition_shares_non_secure_memory_with_the_normal_world() {
    let manager = memory_spmc();
    let pages = range(SP1_NON_SECURE + PAGE_SIZE, 2);
    let handle = transact(&manager, Share, SP1, &[NWD], &[pages]);
    // The normal world retrieves as endpoint 0, in its own (v1.2) layout, with the NS bit.
    let normal = context(&manager, NWD);
    let request = Retrieve::new(NWD, handle, Share, SP1, &[NWD]);
    let (bytes, layout) = retrieve_whole(&manager, normal, &request);
    let descriptor = TransactionDescriptor::parse(&bytes, layout).unwrap();
    assert!(descriptor.header.fields.attributes.non_secure);
    assert_eq!(descriptor.constituents.iter().collect::<Vec<_>>(), vec![pages]);
    assert!(mapped(&manager, NWD, pages.address).is_some());
    assert!(is_success(&rx_release(&manager, normal)));
    assert_success(&relinquish(&manager, normal, handle, false), normal);
    let sp1 = context(&manager, SP1);
    assert_success(&reclaim(&manager, sp1, handle, false), sp1);
    assert!(handles(&manager).is_empty());
}
