//! Test fixtures: an in-memory address space that records mappings and page contents, a
//! ledger over a few endpoints, and a snapshot of everything observable.
#![allow(dead_code, reason = "each test file uses a different part of the fixture")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test fixtures: a failed expectation should fail the test loudly"
)]

use std::collections::BTreeMap;

use ffa_core::memory::*;
use ffa_core::{EndpointId, FfaError};
use memory_sharing::*;

pub const VM1: EndpointId = EndpointId(1);
pub const VM2: EndpointId = EndpointId(2);
pub const SP1: EndpointId = EndpointId(0x8001);
pub const SP2: EndpointId = EndpointId(0x8002);
pub const ENDPOINTS: [EndpointId; 4] = [VM1, VM2, SP1, SP2];
/// Pages each endpoint owns.
pub const PAGES: u32 = 64;
pub const DEVICE_BASE: u64 = 0x9000_0000;

/// Base of the `n`th page owned by `owner`.
pub fn page(owner: EndpointId, n: u64) -> u64 {
    let index = ENDPOINTS.iter().position(|endpoint| *endpoint == owner).unwrap() as u64;
    0x1000_0000 + index * 0x10_0000 + n * PAGE_SIZE
}

pub fn range(address: u64, page_count: u32) -> AddressRange {
    AddressRange { address, page_count }
}

/// Mappings per (endpoint, page), contents per page, and a failure injected at the n-th
/// map or unmap call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FakeSpace {
    pub mappings: BTreeMap<(u16, u64), u8>,
    pub contents: BTreeMap<u64, u8>,
    pub calls: usize,
    pub fail_at: Option<usize>,
}

impl FakeSpace {
    fn step(&mut self) -> Result<(), FfaError> {
        self.calls += 1;
        if self.fail_at == Some(self.calls) {
            return Err(FfaError::NoMemory);
        }
        Ok(())
    }

    pub fn mapped(&self, endpoint: EndpointId, address: u64) -> Option<AccessPermissions> {
        self.mappings
            .get(&(endpoint.0, address / PAGE_SIZE))
            .map(|byte| AccessPermissions::try_from(*byte).unwrap())
    }

    /// Every endpoint that has `address` mapped.
    pub fn mappers(&self, address: u64) -> Vec<EndpointId> {
        ENDPOINTS
            .iter()
            .copied()
            .filter(|endpoint| self.mapped(*endpoint, address).is_some())
            .collect()
    }

    pub fn content(&self, address: u64) -> u8 {
        self.contents.get(&(address / PAGE_SIZE)).copied().unwrap_or(0)
    }

    pub fn write(&mut self, address: u64, value: u8) {
        self.contents.insert(address / PAGE_SIZE, value);
    }

    /// Mappings and contents only (not the call counter).
    pub fn state(&self) -> (BTreeMap<(u16, u64), u8>, BTreeMap<u64, u8>) {
        (self.mappings.clone(), self.contents.clone())
    }
}

impl AddressSpace for FakeSpace {
    fn map(
        &mut self,
        endpoint: EndpointId,
        range: AddressRange,
        permissions: AccessPermissions,
    ) -> Result<(), FfaError> {
        self.step()?;
        for page in 0..u64::from(range.page_count) {
            self.mappings
                .insert((endpoint.0, range.address / PAGE_SIZE + page), permissions.to_byte());
        }
        Ok(())
    }

    fn unmap(&mut self, endpoint: EndpointId, range: AddressRange) -> Result<(), FfaError> {
        self.step()?;
        for page in 0..u64::from(range.page_count) {
            self.mappings.remove(&(endpoint.0, range.address / PAGE_SIZE + page));
        }
        Ok(())
    }

    fn zero(&mut self, range: AddressRange) {
        for page in 0..u64::from(range.page_count) {
            self.contents.insert(range.address / PAGE_SIZE + page, 0);
        }
    }
}

/// A ledger over leaked pools (tests only) where each endpoint owns `PAGES` normal pages
/// (secure for SPs), SP1 also owns 16 device pages, and the space maps every owner's pages
/// read-write with a non-zero pattern.
pub fn fixture() -> (Ledger<'static>, FakeSpace) {
    let pools: &'static mut Pools<64, 64, 256, 128> = Box::leak(Box::new(Pools::new()));
    let mut ledger = Ledger::new(pools.storage(), HandleAllocator::Spmc);
    let mut space = FakeSpace::default();
    for owner in ENDPOINTS {
        ledger
            .add_region(
                owner,
                page(owner, 0),
                PAGES,
                MemoryKind::Normal { secure: owner.is_secure() },
            )
            .unwrap();
        for n in 0..u64::from(PAGES) {
            space.map(owner, range(page(owner, n), 1), AccessPermissions::READ_WRITE).unwrap();
            space.write(page(owner, n), 0xA5);
        }
    }
    ledger.add_region(SP1, DEVICE_BASE, 16, MemoryKind::Device).unwrap();
    space.calls = 0;
    (ledger, space)
}

/// One transaction as observed: description, ranges, receivers, current holders.
pub type TransactionState =
    (TransactionInfo, Vec<AddressRange>, Vec<ReceiverAccess>, Vec<EndpointId>);

/// Everything observable about a ledger through its public API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub regions: Vec<Region>,
    /// Each committed transaction: description, ranges, receivers, current holders.
    pub transactions: Vec<TransactionState>,
    pub capacity: Capacity,
}

pub fn snapshot(ledger: &Ledger<'_>) -> Snapshot {
    let transactions = ledger
        .handles()
        .map(|handle| {
            let info = ledger.hypervisor_retrieve(handle).unwrap();
            (
                info,
                all_ranges(ledger, handle),
                ledger.receivers(handle).unwrap().collect(),
                ledger.holders(handle).unwrap().collect(),
            )
        })
        .collect();
    Snapshot { regions: ledger.regions().to_vec(), transactions, capacity: ledger.capacity() }
}

pub fn all_ranges(ledger: &Ledger<'_>, handle: MemoryHandle) -> Vec<AddressRange> {
    let mut cursor = ledger.ranges(handle).unwrap();
    let mut out = vec![range(0, 0); 3];
    let mut all = Vec::new();
    loop {
        let count = ledger.read_ranges(&mut cursor, &mut out).unwrap();
        if count == 0 {
            break;
        }
        all.extend_from_slice(&out[..count]);
    }
    all
}

/// Runs `operation`, which must fail with `expected`, and checks that neither the ledger nor
/// the address space changed.
pub fn assert_refused<T: std::fmt::Debug>(
    ledger: &mut Ledger<'static>,
    space: &mut FakeSpace,
    expected: FfaError,
    operation: impl FnOnce(&mut Ledger<'static>, &mut FakeSpace) -> Result<T, FfaError>,
) {
    let before = (snapshot(ledger), space.state());
    let result = operation(ledger, space);
    assert_eq!(result.as_ref().err(), Some(&expected), "{result:?}");
    assert_eq!((snapshot(ledger), space.state()), before, "a refused operation changed state");
}

pub fn attributes_for(call: TransactionType, receivers: usize) -> MemoryRegionAttributes {
    if call == TransactionType::Share || (call == TransactionType::Lend && receivers > 1) {
        MemoryRegionAttributes::NORMAL_WRITE_BACK_INNER
    } else {
        MemoryRegionAttributes::NOT_SPECIFIED
    }
}

pub fn default_permissions(call: TransactionType, data: DataAccess) -> AccessPermissions {
    let data = if call == TransactionType::Donate { DataAccess::NotSpecified } else { data };
    AccessPermissions { data, instruction: InstructionAccess::NotSpecified }
}

/// A well-formed send request from `sender` to `receivers` with `data` access.
pub fn request<'r>(
    sender: EndpointId,
    call: TransactionType,
    receivers: &'r [ReceiverAccess],
    pages: u64,
) -> SendRequest<'r> {
    SendRequest {
        caller: sender,
        transaction_type: call,
        fields: TransactionFields {
            sender,
            attributes: attributes_for(call, receivers.len()),
            flags: TransactionFlags(0),
            handle: MemoryHandle(0),
            tag: 7,
        },
        receivers,
        total_page_count: pages,
    }
}

pub fn receivers(
    call: TransactionType,
    data: DataAccess,
    ids: &[EndpointId],
) -> Vec<ReceiverAccess> {
    ids.iter().map(|id| ReceiverAccess::new(*id, default_permissions(call, data))).collect()
}

/// Sends `ranges` from `sender` to `to` with RW (or unspecified for DONATE).
pub fn send(
    ledger: &mut Ledger<'_>,
    space: &mut FakeSpace,
    call: TransactionType,
    sender: EndpointId,
    to: &[EndpointId],
    ranges: &[AddressRange],
) -> Result<MemoryHandle, FfaError> {
    let access = receivers(call, DataAccess::ReadWrite, to);
    let pages = ranges.iter().map(|range| u64::from(range.page_count)).sum();
    ledger.send(&request(sender, call, &access, pages), ranges, space)
}

/// The retrieve request a well-behaved borrower makes.
pub fn retrieve_request<'r>(
    caller: EndpointId,
    handle: MemoryHandle,
    sender: EndpointId,
    call: TransactionType,
    listed: &'r [ReceiverAccess],
) -> RetrieveArguments<'r> {
    RetrieveArguments {
        caller,
        handle,
        sender,
        tag: 7,
        flags: TransactionFlags(0).with_type(call),
        attributes: MemoryRegionAttributes::NOT_SPECIFIED,
        layout: Layout::V1_1,
        receivers: listed,
    }
}

/// What a borrower lists: itself (and the others for multi-borrower) with the instruction
/// access the rules want.
pub fn listed(call: TransactionType, data: DataAccess, ids: &[EndpointId]) -> Vec<ReceiverAccess> {
    let instruction = if call == TransactionType::Share || ids.len() > 1 {
        InstructionAccess::NotSpecified
    } else {
        InstructionAccess::NotExecutable
    };
    ids.iter().map(|id| ReceiverAccess::new(*id, AccessPermissions { data, instruction })).collect()
}

pub fn retrieve(
    ledger: &mut Ledger<'_>,
    space: &mut FakeSpace,
    caller: EndpointId,
    handle: MemoryHandle,
    sender: EndpointId,
    call: TransactionType,
    all: &[EndpointId],
) -> Result<TransactionInfo, FfaError> {
    let list = listed(call, DataAccess::NotSpecified, all);
    ledger.retrieve(&retrieve_request(caller, handle, sender, call, &list), space)
}
