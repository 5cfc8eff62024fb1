//! Model-based test: random operation sequences run on the ledger and on a plain reference
//! model (Vec/BTreeMap); after every step the outcomes, owners, mappings and page contents
//! must agree, and a failed operation must change nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed expectation should fail the test loudly"
)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{range, snapshot, FakeSpace};
use ffa_core::memory::*;
use ffa_core::EndpointId;
use memory_sharing::*;
use proptest::prelude::*;

const VM1: EndpointId = EndpointId(1);
const VM2: EndpointId = EndpointId(2);
const SP1: EndpointId = EndpointId(0x8001);
const ENDPOINTS: [EndpointId; 3] = [VM1, VM2, SP1];
const PAGES: u64 = 24;
const BASE: u64 = 0x4000_0000;

fn address(page: u64) -> u64 {
    BASE + page * PAGE_SIZE
}

#[derive(Debug, Clone)]
enum Operation {
    Send { call: u8, sender: u8, receivers: u8, ranges: Vec<(u64, u32)>, clear: bool, batches: u8 },
    Begin { call: u8, sender: u8, receivers: u8, pages: u64 },
    Add { ranges: Vec<(u64, u32)> },
    Commit,
    Abort,
    Retrieve { caller: u8, handle: u8 },
    Relinquish { caller: u8, handle: u8, clear: bool },
    Reclaim { caller: u8, handle: u8, clear: bool },
    Write { page: u64 },
}

fn operation() -> impl Strategy<Value = Operation> {
    let ranges = prop::collection::vec((0..PAGES, 1..4u32), 1..3);
    prop_oneof![
        4 => (0..3u8, 0..3u8, 0..4u8, ranges.clone(), any::<bool>(), 1..3u8).prop_map(
            |(call, sender, receivers, ranges, clear, batches)| Operation::Send {
                call, sender, receivers, ranges, clear, batches
            }
        ),
        1 => (0..3u8, 0..3u8, 0..4u8, 1..6u64)
            .prop_map(|(call, sender, receivers, pages)| Operation::Begin { call, sender, receivers, pages }),
        1 => ranges.prop_map(|ranges| Operation::Add { ranges }),
        1 => Just(Operation::Commit),
        1 => Just(Operation::Abort),
        4 => (0..3u8, 0..8u8).prop_map(|(caller, handle)| Operation::Retrieve { caller, handle }),
        3 => (0..3u8, 0..8u8, any::<bool>())
            .prop_map(|(caller, handle, clear)| Operation::Relinquish { caller, handle, clear }),
        3 => (0..3u8, 0..8u8, any::<bool>())
            .prop_map(|(caller, handle, clear)| Operation::Reclaim { caller, handle, clear }),
        1 => (0..PAGES).prop_map(|page| Operation::Write { page }),
    ]
}

fn call_of(code: u8) -> TransactionType {
    [TransactionType::Share, TransactionType::Lend, TransactionType::Donate][usize::from(code % 3)]
}

/// The receivers a code names: one or two endpoints other than the sender.
fn receivers_of(call: TransactionType, sender: EndpointId, code: u8) -> Vec<EndpointId> {
    let others: Vec<_> = ENDPOINTS.iter().copied().filter(|endpoint| *endpoint != sender).collect();
    match (call, code % 4) {
        (TransactionType::Donate, pick) | (_, pick @ 0..=1) => vec![others[usize::from(pick % 2)]],
        _ => others,
    }
}

#[derive(Debug, Clone)]
struct ModelTransaction {
    handle: MemoryHandle,
    call: TransactionType,
    sender: EndpointId,
    receivers: Vec<EndpointId>,
    pages: Vec<u64>,
    clear: bool,
    zeroed: bool,
    holders: BTreeSet<EndpointId>,
}

#[derive(Debug, Clone)]
struct Pending {
    handle: PendingSend,
    call: TransactionType,
    sender: EndpointId,
    receivers: Vec<EndpointId>,
    expected: u64,
    ranges: Vec<AddressRange>,
    clear: bool,
}

/// What a successful send committed.
#[derive(Debug, Clone)]
struct Sent {
    call: TransactionType,
    sender: EndpointId,
    receivers: Vec<EndpointId>,
    ranges: Vec<AddressRange>,
    clear: bool,
}

#[derive(Debug, Default)]
struct Model {
    owner: BTreeMap<u64, EndpointId>,
    secure: BTreeMap<u64, bool>,
    rxtx: BTreeSet<u64>,
    contents: BTreeMap<u64, u8>,
    live: Vec<ModelTransaction>,
    issued: Vec<MemoryHandle>,
    pending: Option<Pending>,
}

impl Model {
    fn new() -> Self {
        let mut model = Model::default();
        for page in 0..PAGES {
            let owner = ENDPOINTS[(page / 8) as usize];
            model.owner.insert(page, owner);
            model.secure.insert(page, owner.is_secure());
            model.contents.insert(page, 0xA5);
        }
        model.rxtx.insert(0);
        model
    }

    fn in_flight(&self, page: u64) -> bool {
        self.live.iter().any(|transaction| transaction.pages.contains(&page))
    }

    /// Whether a send of these ranges would be accepted.
    fn send_ok(
        &self,
        sender: EndpointId,
        receivers: &[EndpointId],
        ranges: &[AddressRange],
        expected: u64,
    ) -> bool {
        let total: u64 = ranges.iter().map(|range| u64::from(range.page_count)).sum();
        if ranges.is_empty() || total != expected {
            return false;
        }
        let mut seen = BTreeSet::new();
        let mut security = BTreeSet::new();
        for range in ranges {
            let first = (range.address - BASE) / PAGE_SIZE;
            let pages: Vec<u64> = (first..first + u64::from(range.page_count)).collect();
            let attributes: BTreeSet<_> = pages
                .iter()
                .map(|page| (self.owner.get(page).copied(), self.secure.get(page).copied()))
                .collect();
            if attributes.len() != 1 {
                return false;
            }
            for page in pages {
                if !seen.insert(page)
                    || self.owner.get(&page) != Some(&sender)
                    || self.rxtx.contains(&page)
                    || self.in_flight(page)
                {
                    return false;
                }
                security.insert(self.secure[&page]);
            }
        }
        let secure = security.contains(&true);
        security.len() == 1 && !(secure && receivers.iter().any(|receiver| !receiver.is_secure()))
    }

    fn commit(&mut self, handle: MemoryHandle, pending: &Sent) {
        let pages = pending
            .ranges
            .iter()
            .flat_map(|range| {
                let first = (range.address - BASE) / PAGE_SIZE;
                first..first + u64::from(range.page_count)
            })
            .collect();
        self.live.push(ModelTransaction {
            handle,
            call: pending.call,
            sender: pending.sender,
            receivers: pending.receivers.clone(),
            pages,
            clear: pending.clear,
            zeroed: false,
            holders: BTreeSet::new(),
        });
        self.issued.push(handle);
    }

    /// The (endpoint, page) mappings the fake address space must hold.
    fn expected_mappings(&self) -> BTreeSet<(u16, u64)> {
        let mut mappings = BTreeSet::new();
        for (page, owner) in &self.owner {
            let taken = self.live.iter().any(|transaction| {
                transaction.call != TransactionType::Share && transaction.pages.contains(page)
            });
            if !taken {
                mappings.insert((owner.0, *page));
            }
        }
        for transaction in &self.live {
            for holder in &transaction.holders {
                for page in &transaction.pages {
                    mappings.insert((holder.0, *page));
                }
            }
        }
        mappings
    }

    /// One of the handles issued so far (live or stale), or one never issued.
    fn handle(&self, index: u8) -> MemoryHandle {
        let pick = usize::from(index) % (self.issued.len() + 1);
        self.issued.get(pick).copied().unwrap_or(MemoryHandle(0x1234_0000_0001))
    }
}

fn to_ranges(ranges: &[(u64, u32)]) -> Vec<AddressRange> {
    ranges
        .iter()
        .map(|&(page, count)| range(address(page), count.min((PAGES - page) as u32).max(1)))
        .collect()
}

fn send_request<'r>(
    call: TransactionType,
    sender: EndpointId,
    access: &'r [ReceiverAccess],
    pages: u64,
    clear: bool,
) -> SendRequest<'r> {
    let clear = clear && call != TransactionType::Share;
    SendRequest {
        caller: sender,
        transaction_type: call,
        fields: TransactionFields {
            sender,
            attributes: common::attributes_for(call, access.len()),
            flags: TransactionFlags(u32::from(clear)),
            handle: MemoryHandle(0),
            tag: 3,
        },
        receivers: access,
        total_page_count: pages,
    }
}

fn run(operations: &[Operation]) {
    let mut pools = Box::new(Pools::<16, 16, 64, 32>::new());
    let mut ledger = Ledger::new(pools.storage(), HandleAllocator::Spmc);
    let mut space = FakeSpace::default();
    let mut model = Model::new();
    for (index, owner) in ENDPOINTS.iter().enumerate() {
        ledger
            .add_region(
                *owner,
                address(index as u64 * 8),
                8,
                MemoryKind::Normal { secure: owner.is_secure() },
            )
            .unwrap();
        for page in 0..8 {
            let page = index as u64 * 8 + page;
            space.map(*owner, range(address(page), 1), AccessPermissions::READ_WRITE).unwrap();
            space.write(address(page), 0xA5);
        }
    }
    ledger.mark_rxtx(VM1, range(address(0), 1)).unwrap();

    for operation in operations {
        let before = (snapshot(&ledger), space.state());
        let ok = step(&mut ledger, &mut space, &mut model, operation);
        if !ok {
            let mut after = (snapshot(&ledger), space.state());
            if matches!(operation, Operation::Commit) {
                // A failed commit ends the pending send: only its pool slots come back.
                after.0.capacity = before.0.capacity;
            }
            assert_eq!(after, before, "{operation:?} failed but changed state");
        }
        check(&ledger, &space, &model);
    }
}

/// Runs one operation on both; asserts they agree on success; returns it.
fn step(
    ledger: &mut Ledger<'_>,
    space: &mut FakeSpace,
    model: &mut Model,
    operation: &Operation,
) -> bool {
    match operation {
        Operation::Send { call, sender, receivers, ranges, clear, batches } => {
            let call = call_of(*call);
            let sender = ENDPOINTS[usize::from(*sender)];
            let ids = receivers_of(call, sender, *receivers);
            let access = common::receivers(call, DataAccess::ReadWrite, &ids);
            let ranges = to_ranges(ranges);
            let pages = ranges.iter().map(|range| u64::from(range.page_count)).sum();
            let request = send_request(call, sender, &access, pages, *clear);
            let result = if *batches == 1 {
                ledger.send(&request, &ranges, space)
            } else {
                let pending = ledger.begin_send(&request).unwrap();
                for chunk in ranges.chunks(1) {
                    ledger.add_ranges(pending, chunk).unwrap();
                }
                ledger.commit(pending, space)
            };
            let expected = model.send_ok(sender, &ids, &ranges, pages);
            assert_eq!(result.is_ok(), expected, "send {result:?}");
            if let Ok(handle) = result {
                let sent = Sent {
                    call,
                    sender,
                    receivers: ids,
                    ranges,
                    clear: *clear && call != TransactionType::Share,
                };
                model.commit(handle, &sent);
            }
            expected
        }
        Operation::Begin { call, sender, receivers, pages } => {
            if let Some(old) = model.pending.take() {
                ledger.abort(old.handle).unwrap();
            }
            let call = call_of(*call);
            let sender = ENDPOINTS[usize::from(*sender)];
            let ids = receivers_of(call, sender, *receivers);
            let access = common::receivers(call, DataAccess::ReadWrite, &ids);
            let handle =
                ledger.begin_send(&send_request(call, sender, &access, *pages, false)).unwrap();
            model.pending = Some(Pending {
                handle,
                call,
                sender,
                receivers: ids,
                expected: *pages,
                ranges: Vec::new(),
                clear: false,
            });
            true
        }
        Operation::Add { ranges } => {
            let Some(pending) = model.pending.as_mut() else { return false };
            let ranges = to_ranges(ranges);
            ledger.add_ranges(pending.handle, &ranges).unwrap();
            pending.ranges.extend(ranges);
            true
        }
        Operation::Commit => {
            let Some(pending) = model.pending.take() else { return false };
            let expected = model.send_ok(
                pending.sender,
                &pending.receivers,
                &pending.ranges,
                pending.expected,
            );
            let result = ledger.commit(pending.handle, space);
            assert_eq!(result.is_ok(), expected, "commit {result:?}");
            if let Ok(handle) = result {
                assert_eq!(handle, pending.handle.handle());
                let sent = Sent {
                    call: pending.call,
                    sender: pending.sender,
                    receivers: pending.receivers,
                    ranges: pending.ranges,
                    clear: pending.clear,
                };
                model.commit(handle, &sent);
            }
            // A failed commit drops the pending send, which is not part of the snapshot.
            expected
        }
        Operation::Abort => {
            let Some(pending) = model.pending.take() else { return false };
            ledger.abort(pending.handle).unwrap();
            true
        }
        Operation::Retrieve { caller, handle } => {
            let caller = ENDPOINTS[usize::from(*caller)];
            let handle = model.handle(*handle);
            let live = model.live.iter().position(|transaction| transaction.handle == handle);
            let (sender, call, all) = match live {
                Some(at) => {
                    let transaction = &model.live[at];
                    (transaction.sender, transaction.call, transaction.receivers.clone())
                }
                None => (VM1, TransactionType::Share, vec![caller]),
            };
            let list = common::listed(call, DataAccess::NotSpecified, &all);
            let mut request = common::retrieve_request(caller, handle, sender, call, &list);
            request.tag = 3;
            let result = ledger.retrieve(&request, space);
            let expected = live.is_some_and(|at| {
                let transaction = &model.live[at];
                transaction.receivers.contains(&caller) && !transaction.holders.contains(&caller)
            });
            assert_eq!(result.is_ok(), expected, "retrieve {result:?}");
            if let (Ok(info), Some(at)) = (result, live) {
                let transaction = &mut model.live[at];
                assert_eq!(info.flags.clear_memory(), transaction.clear);
                if transaction.clear && !transaction.zeroed {
                    for page in &transaction.pages {
                        model.contents.insert(*page, 0);
                    }
                    transaction.zeroed = true;
                }
                if transaction.call == TransactionType::Donate {
                    let done = model.live.remove(at);
                    for page in done.pages {
                        model.owner.insert(page, caller);
                    }
                } else {
                    transaction.holders.insert(caller);
                }
            }
            expected
        }
        Operation::Relinquish { caller, handle, clear } => {
            let caller = ENDPOINTS[usize::from(*caller)];
            let handle = model.handle(*handle);
            let live = model.live.iter().position(|transaction| transaction.handle == handle);
            let flags = RelinquishFlags { clear_memory: *clear, time_slicing: false };
            let result = ledger.relinquish(caller, handle, flags, space);
            let expected = live.is_some_and(|at| {
                let transaction = &model.live[at];
                transaction.holders.contains(&caller)
                    && !(*clear && transaction.call == TransactionType::Share)
            });
            assert_eq!(result.is_ok(), expected, "relinquish {result:?}");
            if let (true, Some(at)) = (expected, live) {
                let transaction = &mut model.live[at];
                transaction.holders.remove(&caller);
                if *clear {
                    for page in &transaction.pages {
                        model.contents.insert(*page, 0);
                    }
                }
            }
            expected
        }
        Operation::Reclaim { caller, handle, clear } => {
            let caller = ENDPOINTS[usize::from(*caller)];
            let handle = model.handle(*handle);
            let live = model.live.iter().position(|transaction| transaction.handle == handle);
            let flags = ReclaimFlags { clear_memory: *clear, time_slicing: false };
            let result = ledger.reclaim(caller, handle, flags, space);
            let expected = live.is_some_and(|at| {
                let transaction = &model.live[at];
                transaction.sender == caller && transaction.holders.is_empty()
            });
            assert_eq!(result.is_ok(), expected, "reclaim {result:?}");
            if let (true, Some(at)) = (expected, live) {
                let done = model.live.remove(at);
                if *clear {
                    for page in done.pages {
                        model.contents.insert(page, 0);
                    }
                }
            }
            expected
        }
        Operation::Write { page } => {
            // Whoever has the page mapped writes to it; nothing to do if nobody has.
            if space.mappers(address(*page)).is_empty() && !model_mapped(model, *page) {
                return true;
            }
            space.write(address(*page), 0x5A);
            model.contents.insert(*page, 0x5A);
            true
        }
    }
}

fn model_mapped(model: &Model, page: u64) -> bool {
    model.expected_mappings().iter().any(|(_, mapped)| *mapped == page)
}

fn check(ledger: &Ledger<'_>, space: &FakeSpace, model: &Model) {
    // Ownership conserved and as the model says.
    for page in 0..PAGES {
        assert_eq!(
            ledger.owner_of(address(page)),
            model.owner.get(&page).copied(),
            "owner of {page}"
        );
    }
    let owned: u64 = ledger.regions().iter().map(|region| region.page_count).sum();
    assert_eq!(owned, PAGES);
    // Mappings: owners of pages not lent or donated, plus every holder; so a page held
    // exclusively is mapped for exactly one endpoint.
    let mapped: BTreeSet<(u16, u64)> = space
        .mappings
        .keys()
        .map(|(endpoint, page)| (*endpoint, page - BASE / PAGE_SIZE))
        .collect();
    assert_eq!(mapped, model.expected_mappings());
    for transaction in &model.live {
        if transaction.call != TransactionType::Share && transaction.receivers.len() == 1 {
            for page in &transaction.pages {
                assert!(space.mappers(address(*page)).len() <= 1);
            }
        }
    }
    // Contents: zeroing where the flags said so, data intact elsewhere.
    for page in 0..PAGES {
        assert_eq!(space.content(address(page)), model.contents[&page], "content of {page}");
    }
    // Live transactions as the model says.
    let handles: BTreeSet<_> = ledger.handles().collect();
    let expected: BTreeSet<_> = model.live.iter().map(|transaction| transaction.handle).collect();
    assert_eq!(handles, expected);
    for transaction in &model.live {
        let holders: BTreeSet<_> = ledger.holders(transaction.handle).unwrap().collect();
        assert_eq!(holders, transaction.holders);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn ledger_matches_the_reference_model(operations in prop::collection::vec(operation(), 1..10)) {
        run(&operations);
    }
}

#[test]
fn fuzz_operations_never_panics_on_patterns() {
    for seed in 0u32..2000 {
        let data: Vec<u8> = (0..64u32)
            .map(|n| (seed.wrapping_mul(2_654_435_761) >> (n % 24)) as u8 ^ n as u8)
            .collect();
        fuzz_operations(&data);
    }
}
