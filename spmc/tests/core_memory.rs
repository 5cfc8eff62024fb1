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
    TransactionReader, TransactionType, PAGE_SIZE,
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
    call(manager, from, Call::RxtxMap { buffers, is_64: true })
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
