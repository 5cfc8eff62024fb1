//! Timings of the partition manager core's dispatch: a direct request and its response
//! through the SPMC role, and FFA_MEM_SHARE + FFA_MEM_RECLAIM of 1 and 1024 pages through the
//! forwarder role (VM to VM, so no other world is needed).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "benchmark code: a failed expectation should abort loudly"
)]
//!
//! `cargo bench -p spmc --bench dispatcher` prints median ns per call and per item.
//! `-- --list` prints one case a line (function name, tab, items); `-- --case NAME
//! --iterations N` runs one case N times (for callgrind). Each case is an `#[inline(never)]
//! fn case_*()` running one round on a manager prepared once.

use std::cell::RefCell;
use std::hint::black_box;
use std::time::Instant;

use ffa_core::call::{MemoryTransaction, ReclaimFlags as ReclaimRegister};
use ffa_core::direct_message::{DirectBody, DirectMessage};
use ffa_core::memory::{
    build_transaction, AccessPermissions, AddressRange, MemoryHandle, MemoryRegionAttributes,
    ReceiverAccess, TransactionFields, TransactionFlags, PAGE_SIZE,
};
use ffa_core::rxtx::RxtxMapArgs;
use ffa_core::{Call, EndpointId, FfaError, FunctionId, Version};
use memory_sharing::{AddressSpace, MemoryKind, Pools};
use spmc::manifest::{ExceptionLevel, MessagingMethod, PowerManagementMessages};
use spmc::partition_manager::{
    Configuration, ContextId, EndpointDescription, EndpointMemory, FeatureInterrupts,
    MemoryPlatform, MemoryRegionDescription, MemorySharing, PartitionManager, PhysicalRun, Role,
    Transfer,
};

const SP1: EndpointId = EndpointId(0x8001);
const NWD: EndpointId = EndpointId(0);
const VM1: EndpointId = EndpointId(1);
const VM2: EndpointId = EndpointId(2);
/// VM1's memory: IPA `VM1_IPA` is physical `VM1_PHYSICAL`, 4096 pages.
const VM1_IPA: u64 = 0x4000_0000;
const VM1_PHYSICAL: u64 = 0x1_0000_0000;
const VM1_PAGES: u32 = 4096;
/// VM1's RX/TX buffers (IPA), outside the shared pages.
const VM1_TX: u64 = VM1_IPA + 4000 * PAGE_SIZE;
const VM1_RX: u64 = VM1_TX + PAGE_SIZE;
const VM2_TX: u64 = 0x5000_0000;
const VM2_RX: u64 = VM2_TX + PAGE_SIZE;

/// Mailbox memory: one vector per mapped buffer.
#[derive(Debug, Default)]
struct Buffers {
    buffers: Vec<(u64, Vec<u8>)>,
}

impl Buffers {
    fn write_at(&mut self, address: u64, bytes: &[u8]) {
        let buffer = self.buffers.iter_mut().find(|(at, _)| *at == address).expect("mapped");
        buffer.1[..bytes.len()].copy_from_slice(bytes);
    }
}

impl EndpointMemory for Buffers {
    type Buffer = usize;

    fn map_buffer(&mut self, _: EndpointId, address: u64, pages: u32) -> Result<usize, FfaError> {
        self.buffers.push((address, vec![0; pages as usize * 4096]));
        Ok(self.buffers.len() - 1)
    }

    fn unmap_buffer(&mut self, _: usize) {}

    fn write(&mut self, buffer: usize, offset: usize, bytes: &[u8]) -> Result<(), FfaError> {
        let data = &mut self.buffers[buffer].1;
        data.get_mut(offset..offset + bytes.len())
            .ok_or(FfaError::InvalidParameters)?
            .copy_from_slice(bytes);
        Ok(())
    }

    fn read(&mut self, buffer: usize, offset: usize, bytes: &mut [u8]) -> Result<(), FfaError> {
        let data = &self.buffers[buffer].1;
        bytes.copy_from_slice(
            data.get(offset..offset + bytes.len()).ok_or(FfaError::InvalidParameters)?,
        );
        Ok(())
    }
}

/// Stage 2 that changes nothing and translates VM1's IPAs by a fixed offset.
#[derive(Debug, Default)]
struct OffsetStage2;

impl AddressSpace for OffsetStage2 {
    fn map(
        &mut self,
        _: EndpointId,
        _: AddressRange,
        _: AccessPermissions,
    ) -> Result<(), FfaError> {
        Ok(())
    }

    fn unmap(&mut self, _: EndpointId, _: AddressRange) -> Result<(), FfaError> {
        Ok(())
    }

    fn zero(&mut self, _: AddressRange) {}
}

impl MemoryPlatform for OffsetStage2 {
    fn translate(&mut self, endpoint: EndpointId, address: u64) -> Result<PhysicalRun, FfaError> {
        let end = VM1_IPA + u64::from(VM1_PAGES) * PAGE_SIZE;
        match endpoint {
            VM1 if (VM1_IPA..end).contains(&address) => Ok(PhysicalRun {
                address: address - VM1_IPA + VM1_PHYSICAL,
                page_count: (end - address) / PAGE_SIZE,
            }),
            VM2 => Ok(PhysicalRun { address, page_count: 1 }),
            _ => Err(FfaError::Denied),
        }
    }
}

type Spmc = PartitionManager<Buffers, 4, 2, 2>;
type Forwarder = PartitionManager<Buffers, 4, 2, 2, OffsetStage2>;

fn partition(id: EndpointId) -> EndpointDescription {
    EndpointDescription {
        id,
        uuids: heapless::Vec::new(),
        execution_context_count: 1,
        messaging: MessagingMethod::RECEIVE_DIRECT_REQUEST | MessagingMethod::SEND_DIRECT_REQUEST,
        version: Version::V1_2,
        exception_level: ExceptionLevel::SecureEl1,
        aarch64: true,
        notification_support: false,
        power_management: PowerManagementMessages::empty(),
    }
}

fn spmc() -> Spmc {
    let local = [partition(SP1)];
    let remote = [EndpointDescription::virtual_machine(
        NWD,
        2,
        Version::V1_2,
        MessagingMethod::SEND_DIRECT_REQUEST,
    )];
    let configuration = Configuration {
        role: Role::Spmc,
        own_id: EndpointId(0x8000),
        spm_id: EndpointId(0x8000),
        version: Version::V1_2,
        local: &local,
        remote: &remote,
        interrupts: FeatureInterrupts::default(),
        maximum_mailbox_pages: 0,
    };
    let manager = Spmc::new(&configuration, Buffers::default()).unwrap();
    let mut delivery = manager.boot(0).unwrap();
    while delivery.transfer == Transfer::Start {
        let wait = Call::MsgWait { flags: ffa_core::call::MsgWaitFlags::empty(), is_64: false };
        delivery = manager.handle(delivery.to, &wait.encode(Version::V1_2));
    }
    manager
}

/// Sends of 1 page and of 1024 single pages (every other page, so nothing merges).
struct ForwarderBench {
    manager: Forwarder,
    one_page: Vec<u8>,
    scattered: Vec<u8>,
}

fn descriptor(ranges: &[AddressRange]) -> Vec<u8> {
    let fields = TransactionFields {
        sender: VM1,
        attributes: MemoryRegionAttributes::NORMAL_WRITE_BACK_INNER,
        flags: TransactionFlags(0),
        handle: MemoryHandle(0),
        tag: 0,
    };
    let receivers = [ReceiverAccess::new(VM2, AccessPermissions::READ_WRITE)];
    let mut out = vec![0; 96 + ranges.len() * 16];
    let length =
        build_transaction(&mut out, ffa_core::memory::Layout::V1_2, &fields, &receivers, ranges)
            .unwrap();
    out.truncate(length);
    out
}

fn forwarder() -> ForwarderBench {
    let messaging = MessagingMethod::SEND_DIRECT_REQUEST;
    let local = [
        EndpointDescription::virtual_machine(VM1, 1, Version::V1_2, messaging),
        EndpointDescription::virtual_machine(VM2, 1, Version::V1_2, messaging),
    ];
    let configuration = Configuration {
        role: Role::Forwarder,
        own_id: EndpointId(0),
        spm_id: EndpointId(0x8000),
        version: Version::V1_2,
        local: &local,
        remote: &[],
        interrupts: FeatureInterrupts::default(),
        maximum_mailbox_pages: 0,
    };
    let regions = [MemoryRegionDescription {
        owner: VM1,
        base: VM1_PHYSICAL,
        page_count: VM1_PAGES,
        kind: MemoryKind::Normal { secure: false },
        read_only: false,
    }];
    let pools = Box::leak(Box::new(Pools::<16, 4, 2048, 8>::new()));
    let sharing =
        MemorySharing { platform: OffsetStage2, storage: pools.storage(), regions: &regions };
    let manager =
        Forwarder::with_memory_sharing(&configuration, Buffers::default(), sharing).unwrap();
    for (vm, cpu, tx, rx) in [(VM1, 0, VM1_TX, VM1_RX), (VM2, 1, VM2_TX, VM2_RX)] {
        let context = ContextId { endpoint: vm, vcpu: ffa_core::VcpuId(0) };
        manager.start(context, cpu).unwrap();
        let buffers = RxtxMapArgs::Buffers { tx_address: tx, rx_address: rx, page_count: 1 };
        let mapped =
            manager.handle(context, &Call::RxtxMap { buffers, is_64: true }.encode(Version::V1_2));
        assert_eq!(mapped.registers[0], FunctionId::Success32.to_register());
    }
    let one_page = descriptor(&[AddressRange { address: VM1_IPA, page_count: 1 }]);
    let scattered: Vec<_> = (0..1024)
        .map(|n| AddressRange { address: VM1_IPA + 2 * n * PAGE_SIZE, page_count: 1 })
        .collect();
    ForwarderBench { manager, one_page, scattered: descriptor(&scattered) }
}

thread_local! {
    static SPMC: Spmc = spmc();
    static FORWARDER: RefCell<ForwarderBench> = RefCell::new(forwarder());
}

/// The normal world's direct request to SP1 and SP1's response.
fn direct_round_trip(manager: &Spmc) -> u64 {
    let normal_world = ContextId { endpoint: NWD, vcpu: ffa_core::VcpuId(0) };
    let request = Call::MsgSendDirectReq(DirectMessage {
        source: NWD,
        destination: SP1,
        body: DirectBody::Partition32([1, 2, 3, 4, 5]),
    });
    let delivered = manager.handle(normal_world, &black_box(request.encode(Version::V1_2)));
    let response = Call::MsgSendDirectResp(DirectMessage {
        source: SP1,
        destination: NWD,
        body: DirectBody::Partition32([5, 4, 3, 2, 1]),
    });
    let answered = manager.handle(delivered.to, &black_box(response.encode(Version::V1_2)));
    assert_eq!(answered.transfer, Transfer::OtherWorld);
    answered.registers[3]
}

/// VM1 shares with VM2 (in 4 KiB fragments through its TX buffer), then reclaims.
fn share_and_reclaim(bench: &mut ForwarderBench, scattered: bool) -> u64 {
    let vm1 = ContextId { endpoint: VM1, vcpu: ffa_core::VcpuId(0) };
    let bytes = if scattered { &bench.scattered } else { &bench.one_page };
    let manager = &bench.manager;
    let total = bytes.len() as u32;
    let first = bytes.len().min(96 + (4096 - 96) / 16 * 16);
    manager.with_memory(|memory| memory.write_at(VM1_TX, &bytes[..first]));
    let transaction =
        MemoryTransaction { total_length: total, fragment_length: first as u32, buffer: None };
    let mut answer =
        manager.handle(vm1, &Call::MemShare { transaction, is_64: false }.encode(Version::V1_2));
    let mut sent = first;
    while answer.registers[0] == FunctionId::MemFragRx.to_register() {
        let end = (sent + 4096).min(bytes.len());
        manager.with_memory(|memory| memory.write_at(VM1_TX, &bytes[sent..end]));
        let fragment = Call::MemFragTx {
            handle: answer.registers[1] | answer.registers[2] << 32,
            fragment_length: (end - sent) as u32,
            endpoint: EndpointId(0),
        };
        answer = manager.handle(vm1, &fragment.encode(Version::V1_2));
        sent = end;
    }
    assert_eq!(answer.registers[0], FunctionId::Success32.to_register(), "{answer:?}");
    let handle = answer.registers[2] | answer.registers[3] << 32;
    let reclaim = Call::MemReclaim { handle, flags: ReclaimRegister::empty() };
    let done = manager.handle(vm1, &reclaim.encode(Version::V1_2));
    assert_eq!(done.registers[0], FunctionId::Success32.to_register(), "{done:?}");
    handle
}

#[inline(never)]
fn case_direct_request_response() -> u64 {
    SPMC.with(direct_round_trip)
}

#[inline(never)]
fn case_forwarder_share_1() -> u64 {
    FORWARDER.with(|bench| share_and_reclaim(&mut bench.borrow_mut(), false))
}

#[inline(never)]
fn case_forwarder_share_1024() -> u64 {
    FORWARDER.with(|bench| share_and_reclaim(&mut bench.borrow_mut(), true))
}

/// A case: its function's name, the function, and how many items one call handles.
type Case = (&'static str, fn() -> u64, usize);

const CASES: &[Case] = &[
    ("case_direct_request_response", case_direct_request_response, 1),
    ("case_forwarder_share_1", case_forwarder_share_1, 1),
    ("case_forwarder_share_1024", case_forwarder_share_1024, 1024),
];

fn median_ns(case: fn() -> u64, items: usize) -> f64 {
    let repeats = (2_000_000 / items).clamp(15, 200_000);
    let samples = 15;
    let mut times: Vec<f64> = (0..samples)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..repeats.div_ceil(samples) {
                black_box(case());
            }
            start.elapsed().as_nanos() as f64 / repeats.div_ceil(samples) as f64
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    if arguments.iter().any(|argument| argument == "--list") {
        for (name, _, items) in CASES {
            println!("{name}\t{items}");
        }
        return;
    }
    if let Some(position) = arguments.iter().position(|argument| argument == "--case") {
        let name = arguments.get(position + 1).expect("--case NAME");
        let iterations: u64 = arguments
            .iter()
            .position(|argument| argument == "--iterations")
            .and_then(|at| arguments.get(at + 1))
            .map_or(1, |value| value.parse().expect("--iterations N"));
        let (_, case, _) = CASES.iter().find(|(case, _, _)| case == name).expect("known case");
        for _ in 0..iterations {
            black_box(case());
        }
        return;
    }
    println!("{:<32} {:>6} {:>12} {:>10}", "case", "items", "ns/call", "ns/item");
    for (name, case, items) in CASES {
        case();
        let ns = median_ns(*case, *items);
        println!("{name:<32} {items:>6} {ns:>12.0} {:>10.2}", ns / *items as f64);
    }
}
