//! Test harness for the partition manager core: plays the platform (fake endpoint memory,
//! standard configurations, boot, register helpers). Included by the other core_* tests.
#![allow(dead_code, reason = "each test file uses a different part of the harness")]
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use std::collections::BTreeMap;

use ffa_core::call::{MsgWaitFlags, Return};
use ffa_core::direct_message::{DirectBody, DirectMessage, DirectMessage2};
use ffa_core::memory::{AccessPermissions, AddressRange, PAGE_SIZE};
use ffa_core::rxtx::RxtxMapArgs;
use ffa_core::{Call, EndpointId, FfaError, FunctionId, SuccessArgs, Uuid, Version};
use memory_sharing::AddressSpace;
use spmc::manifest::{ExceptionLevel, MessagingMethod, PowerManagementMessages};
use spmc::partition_manager::{
    Configuration, ContextId, Delivery, EndpointDescription, EndpointMemory, FeatureInterrupts,
    MemoryPlatform, PartitionManager, PhysicalRun, Role, Transfer,
};

/// 8 endpoints, 4 contexts each, 4 CPUs; [`FakeStage2`] when built with memory sharing.
pub type Manager = PartitionManager<FakeMemory, 8, 4, 4, FakeStage2>;

pub const SPMC_ID: EndpointId = EndpointId(0x8000);
/// UP, v1.2, all direct messaging.
pub const SP1: EndpointId = EndpointId(0x8001);
/// UP, v1.2, all direct messaging.
pub const SP2: EndpointId = EndpointId(0x8002);
/// UP, v1.2, all direct messaging.
pub const SP3: EndpointId = EndpointId(0x8003);
/// MP (4 contexts), v1.1, S-EL0, DIRECT_REQ only.
pub const SP4: EndpointId = EndpointId(0x8004);
/// UP, v1.1, indirect messaging only.
pub const SP5: EndpointId = EndpointId(0x8005);
/// UP, v1.0, DIRECT_REQ only.
pub const SP6: EndpointId = EndpointId(0x8006);
pub const ALL_SPS: [EndpointId; 6] = [SP1, SP2, SP3, SP4, SP5, SP6];
/// MP (4 contexts), v1.2, S-EL1, direct and indirect messaging, notifications (only in
/// [`notification_partitions`]).
pub const SP7: EndpointId = EndpointId(0x8007);
/// The normal-world OS (or hypervisor).
pub const NWD: EndpointId = EndpointId(0);
/// A VM the hypervisor forwards for.
pub const VM1: EndpointId = EndpointId(1);

pub const SRI: u32 = 8;
pub const NPI: u32 = 9;
pub const MEI: u32 = 10;

/// Addresses at or above this are "secure memory" for the fake (matrix D20).
pub const SECURE_MEMORY: u64 = 0x1_0000_0000;

pub fn uuid(index: u8) -> Uuid {
    let mut bytes = [0x11u8; 16];
    bytes[0] = index;
    bytes[15] = 0xA0 | index;
    Uuid(bytes)
}

fn direct_all() -> MessagingMethod {
    MessagingMethod::RECEIVE_DIRECT_REQUEST
        | MessagingMethod::SEND_DIRECT_REQUEST
        | MessagingMethod::RECEIVE_DIRECT_REQUEST2
        | MessagingMethod::SEND_DIRECT_REQUEST2
}

pub fn partition(
    id: EndpointId,
    uuid_index: u8,
    contexts: u16,
    messaging: MessagingMethod,
    version: Version,
    level: ExceptionLevel,
) -> EndpointDescription {
    let mut uuids = heapless::Vec::new();
    uuids.push(uuid(uuid_index)).unwrap();
    EndpointDescription {
        id,
        uuids,
        execution_context_count: contexts,
        messaging,
        version,
        exception_level: level,
        aarch64: true,
        notification_support: uuid_index == 1,
        power_management: PowerManagementMessages::empty(),
    }
}

pub fn secure_partitions() -> Vec<EndpointDescription> {
    let receive_send =
        MessagingMethod::RECEIVE_DIRECT_REQUEST | MessagingMethod::SEND_DIRECT_REQUEST;
    vec![
        partition(SP1, 1, 1, direct_all(), Version::V1_2, ExceptionLevel::SecureEl1),
        partition(SP2, 2, 1, direct_all(), Version::V1_2, ExceptionLevel::SecureEl1),
        partition(SP3, 3, 1, direct_all(), Version::V1_2, ExceptionLevel::SecureEl1),
        partition(SP4, 4, 4, receive_send, Version::V1_1, ExceptionLevel::SecureEl0),
        partition(SP5, 5, 1, MessagingMethod::INDIRECT, Version::V1_1, ExceptionLevel::SecureEl1),
        partition(SP6, 6, 1, receive_send, Version::V1_0, ExceptionLevel::SecureEl1),
    ]
}

/// The partitions of [`secure_partitions`] with more notification and indirect-messaging
/// support, plus SP7: SP1 and SP2 (UP, S-EL1) receive notifications and indirect messages;
/// SP3 does neither; SP4 (MP, S-EL0) and SP5 (UP, v1.1, indirect only) receive
/// notifications; SP6 (v1.0) claims indirect messaging; SP7 (MP, S-EL1) does everything.
pub fn notification_partitions() -> Vec<EndpointDescription> {
    let mut partitions = secure_partitions();
    for description in &mut partitions {
        description.notification_support = matches!(description.id, SP1 | SP2 | SP4 | SP5);
        if matches!(description.id, SP1 | SP2 | SP6) {
            description.messaging |= MessagingMethod::INDIRECT;
        }
    }
    let mut sp7 = partition(
        SP7,
        7,
        4,
        direct_all() | MessagingMethod::INDIRECT,
        Version::V1_2,
        ExceptionLevel::SecureEl1,
    );
    sp7.notification_support = true;
    partitions.push(sp7);
    partitions
}

/// An SPMC with the [`notification_partitions`], booted on 4 CPUs.
pub fn booted_notification_spmc() -> Manager {
    let local = notification_partitions();
    let remote = normal_world();
    let manager =
        Manager::new(&spmc_configuration(&local, &remote), FakeMemory::default()).expect("valid");
    for cpu in 0..4 {
        boot_cpu(&manager, cpu, |_| msg_wait());
    }
    manager
}

/// The normal world runs a Waiting local context with FFA_RUN on `cpu`; it is entered.
pub fn run(manager: &Manager, context: ContextId, cpu: u16) -> Delivery {
    let delivery =
        call(manager, nwd(cpu), Call::Run { target: context.target_info(), is_64: false });
    assert_eq!((delivery.to, delivery.transfer), (context, Transfer::Enter), "{delivery:?}");
    delivery
}

/// A running local context waits again (FFA_MSG_WAIT); control goes back to the normal world.
pub fn wait(manager: &Manager, context: ContextId) -> Delivery {
    let delivery =
        call(manager, context, Call::MsgWait { flags: MsgWaitFlags::empty(), is_64: false });
    assert_eq!(delivery.transfer, Transfer::OtherWorld, "{delivery:?}");
    delivery
}

/// Maps a one-page TX/RX pair for `from` with FFA_RXTX_MAP_64; asserts success. A forwarder
/// that registers the buffers with the SPMC is answered NOT_SUPPORTED there (an SPMC that
/// does not take VMs' buffers), so they stay the forwarder's alone.
pub fn map_mailbox(manager: &Manager, from: ContextId, tx: u64, rx: u64) {
    map_mailbox_answered(manager, from, tx, rx, Return::error(FfaError::NotSupported));
}

/// As [`map_mailbox`], with the SPMC agreeing to a registration: the buffers are registered
/// with it. Returns whether the registration was asked for.
pub fn map_registered_mailbox(manager: &Manager, from: ContextId, tx: u64, rx: u64) -> bool {
    map_mailbox_answered(manager, from, tx, rx, Return::success(SuccessArgs::EMPTY))
}

fn map_mailbox_answered(
    manager: &Manager,
    from: ContextId,
    tx: u64,
    rx: u64,
    spmc_answer: Return,
) -> bool {
    let mut registers = [0u64; 18];
    registers[0] = FunctionId::RxtxMap64.to_register();
    registers[1] = tx;
    registers[2] = rx;
    registers[3] = 1;
    let mut delivery = manager.handle(from, &registers);
    manager.check_invariants().expect("invariants");
    let forwarded = delivery.transfer == Transfer::OtherWorld
        && delivery.registers[0] == FunctionId::RxtxMap64.to_register();
    if forwarded {
        assert_eq!(delivery.to.endpoint, SPMC_ID, "{delivery:?}");
        let map = Call::RxtxMap { buffers: RxtxMapArgs::Forwarded, is_64: true };
        assert_eq!(delivery.registers, map.encode(Version::V1_2));
        delivery = manager.handle(delivery.to, &spmc_answer.encode(Version::V1_2));
        manager.check_invariants().expect("invariants");
    }
    assert_eq!(delivery.registers[0], FunctionId::Success32.to_register(), "{delivery:?}");
    forwarded
}

/// Whether a delivery is FFA_SUCCESS_32 back to `to`.
pub fn assert_success(delivery: &Delivery, to: ContextId) {
    assert_eq!(delivery.to, to, "delivered to the wrong context: {delivery:?}");
    assert_eq!(delivery.registers[0], FunctionId::Success32.to_register(), "{delivery:?}");
}

pub fn normal_world() -> Vec<EndpointDescription> {
    let messaging = MessagingMethod::SEND_DIRECT_REQUEST | MessagingMethod::SEND_DIRECT_REQUEST2;
    vec![
        EndpointDescription::virtual_machine(NWD, 4, Version::V1_2, messaging),
        EndpointDescription::virtual_machine(VM1, 4, Version::V1_2, messaging),
    ]
}

pub fn spmc_configuration<'a>(
    local: &'a [EndpointDescription],
    remote: &'a [EndpointDescription],
) -> Configuration<'a> {
    Configuration {
        role: Role::Spmc,
        own_id: SPMC_ID,
        spm_id: SPMC_ID,
        version: Version::V1_2,
        local,
        remote,
        interrupts: FeatureInterrupts {
            notification_pending: Some(NPI),
            schedule_receiver: Some(SRI),
            managed_exit: Some(MEI),
        },
        maximum_mailbox_pages: 4,
    }
}

/// An SPMC with the six test partitions, not booted.
pub fn new_spmc() -> Manager {
    let local = secure_partitions();
    let remote = normal_world();
    Manager::new(&spmc_configuration(&local, &remote), FakeMemory::default()).expect("valid")
}

/// An SPMC whose partitions all booted (every SP ends boot with FFA_MSG_WAIT) on 4 CPUs.
pub fn booted_spmc() -> Manager {
    let manager = new_spmc();
    for cpu in 0..4 {
        let end = boot_cpu(&manager, cpu, |_| msg_wait());
        assert_eq!(end.transfer, Transfer::OtherWorld);
        assert_eq!(end.to, ContextId { endpoint: EndpointId::SPMD, vcpu: ffa_core::VcpuId(cpu) });
        assert_eq!(end.registers[0], FunctionId::MsgWait32.to_register());
    }
    manager
}

/// Boots `cpu`, answering each started context with `respond(context)`; returns the
/// delivery that ends the CPU's boot.
pub fn boot_cpu(manager: &Manager, cpu: u16, respond: impl Fn(ContextId) -> [u64; 18]) -> Delivery {
    let mut delivery = manager.boot(cpu).expect("CPU free");
    while delivery.transfer == Transfer::Start {
        delivery = manager.handle(delivery.to, &respond(delivery.to));
        manager.check_invariants().expect("invariants");
    }
    delivery
}

pub fn msg_wait() -> [u64; 18] {
    Call::MsgWait { flags: MsgWaitFlags::empty(), is_64: false }.encode(Version::V1_2)
}

pub fn nwd(cpu: u16) -> ContextId {
    ContextId { endpoint: NWD, vcpu: ffa_core::VcpuId(cpu) }
}

pub fn ec(endpoint: EndpointId, vcpu: u16) -> ContextId {
    ContextId { endpoint, vcpu: ffa_core::VcpuId(vcpu) }
}

pub fn request32(source: EndpointId, destination: EndpointId, words: [u32; 5]) -> Call {
    Call::MsgSendDirectReq(DirectMessage {
        source,
        destination,
        body: DirectBody::Partition32(words),
    })
}

pub fn response32(source: EndpointId, destination: EndpointId, words: [u32; 5]) -> Call {
    Call::MsgSendDirectResp(DirectMessage {
        source,
        destination,
        body: DirectBody::Partition32(words),
    })
}

pub fn request2(source: EndpointId, destination: EndpointId, uuid: Uuid) -> Call {
    Call::MsgSendDirectReq2(DirectMessage2 { source, destination, uuid, payload: [7; 14] })
}

pub fn response2(source: EndpointId, destination: EndpointId) -> Call {
    Call::MsgSendDirectResp2(DirectMessage2 {
        source,
        destination,
        uuid: Uuid::NIL,
        payload: [9; 14],
    })
}

/// `from` makes `call` (encoded at v1.2) and the manager answers.
pub fn call(manager: &Manager, from: ContextId, call: Call) -> Delivery {
    let delivery = manager.handle(from, &call.encode(Version::V1_2));
    manager.check_invariants().expect("invariants");
    delivery
}

/// The FFA_ERROR status in a delivery, if it is one.
pub fn error_of(delivery: &Delivery) -> Option<FfaError> {
    (delivery.registers[0] == FunctionId::Error32.to_register())
        .then(|| FfaError::from_register(delivery.registers[2]))
        .flatten()
}

/// Asserts `delivery` hands `error` back to `to`.
pub fn assert_error(delivery: &Delivery, to: ContextId, error: FfaError) {
    assert_eq!(delivery.to, to, "delivered to the wrong context: {delivery:?}");
    assert_eq!(error_of(delivery), Some(error), "{delivery:?}");
}

/// Decodes the registers a delivery carries as a response at `version`.
pub fn returned(delivery: &Delivery, version: Version) -> Return {
    Return::decode(&delivery.registers, version).expect("a response")
}

/// The fake platform memory: flat physical = intermediate addresses, secure memory above
/// [`SECURE_MEMORY`], each mapped buffer backed by a vector.
#[derive(Debug, Default)]
pub struct FakeMemory {
    pub buffers: Vec<FakeBuffer>,
    /// Reads of any buffer so far.
    pub reads: usize,
    /// Bytes written into a buffer right after the next read (a guest changing its TX buffer
    /// while the manager works on it).
    pub tamper: Option<Tamper>,
}

/// A change [`FakeMemory`] makes behind the manager's back.
#[derive(Debug, Clone)]
pub struct Tamper {
    /// The mapped buffer's address.
    pub address: u64,
    pub offset: usize,
    pub bytes: Vec<u8>,
}

#[derive(Debug)]
pub struct FakeBuffer {
    pub endpoint: EndpointId,
    pub address: u64,
    pub data: Vec<u8>,
    pub mapped: bool,
}

impl FakeMemory {
    /// The bytes of the mapped buffer at `address`.
    pub fn contents(&self, address: u64) -> &[u8] {
        &self
            .buffers
            .iter()
            .find(|buffer| buffer.mapped && buffer.address == address)
            .expect("mapped")
            .data
    }

    /// Writes `bytes` at `offset` into the mapped buffer at `address` (as its endpoint would).
    pub fn fill(&mut self, address: u64, offset: usize, bytes: &[u8]) {
        let buffer = self
            .buffers
            .iter_mut()
            .find(|buffer| buffer.mapped && buffer.address == address)
            .expect("mapped");
        buffer.data[offset..offset + bytes.len()].copy_from_slice(bytes);
    }

    pub fn mapped_count(&self) -> usize {
        self.buffers.iter().filter(|buffer| buffer.mapped).count()
    }

    /// Writes into the mapped buffer at `address` (an endpoint filling its TX buffer).
    pub fn write_at(&mut self, address: u64, offset: usize, bytes: &[u8]) {
        let buffer = self
            .buffers
            .iter_mut()
            .find(|buffer| buffer.mapped && buffer.address == address)
            .expect("mapped");
        buffer.data[offset..offset + bytes.len()].copy_from_slice(bytes);
    }
}

impl EndpointMemory for FakeMemory {
    type Buffer = usize;

    fn map_buffer(
        &mut self,
        endpoint: EndpointId,
        address: u64,
        page_count: u32,
    ) -> Result<usize, FfaError> {
        let length = u64::from(page_count) * 4096;
        let end = address.checked_add(length).ok_or(FfaError::InvalidParameters)?;
        if end > SECURE_MEMORY {
            return Err(FfaError::Denied);
        }
        let taken = self.buffers.iter().any(|buffer| {
            buffer.mapped
                && buffer.endpoint != endpoint
                && address < buffer.address + buffer.data.len() as u64
                && buffer.address < end
        });
        if taken {
            return Err(FfaError::InvalidParameters);
        }
        self.buffers.push(FakeBuffer {
            endpoint,
            address,
            data: vec![0; length as usize],
            mapped: true,
        });
        Ok(self.buffers.len() - 1)
    }

    fn unmap_buffer(&mut self, buffer: usize) {
        self.buffers[buffer].mapped = false;
    }

    fn write(&mut self, buffer: usize, offset: usize, bytes: &[u8]) -> Result<(), FfaError> {
        let data = &mut self.buffers[buffer].data;
        data.get_mut(offset..offset + bytes.len())
            .ok_or(FfaError::InvalidParameters)?
            .copy_from_slice(bytes);
        Ok(())
    }

    fn read(&mut self, buffer: usize, offset: usize, bytes: &mut [u8]) -> Result<(), FfaError> {
        let data = &self.buffers[buffer].data;
        bytes.copy_from_slice(
            data.get(offset..offset + bytes.len()).ok_or(FfaError::InvalidParameters)?,
        );
        self.reads += 1;
        if let Some(tamper) = self.tamper.take() {
            self.write_at(tamper.address, tamper.offset, &tamper.bytes);
        }
        Ok(())
    }
}

/// The fake stage 2 for memory sharing: which endpoint maps which physical page with what,
/// what was zeroed, per-endpoint translation tables, and the forwarder's buffer towards the
/// SPMC.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FakeStage2 {
    /// (endpoint, physical page number) -> permissions.
    pub mappings: BTreeMap<(u16, u64), AccessPermissions>,
    /// Every zeroed range, in order.
    pub zeroed: Vec<AddressRange>,
    /// (endpoint, IPA base, PA base, pages). An endpoint without entries translates one to
    /// one (the SPMC's partitions).
    pub translations: Vec<(EndpointId, u64, u64, u64)>,
    /// The forwarder's TX buffer towards the SPMC (empty: none).
    pub forward_buffer: Vec<u8>,
}

impl FakeStage2 {
    /// Maps `page_count` pages from `base` for `owner` read-write (its own memory at boot).
    pub fn map_owned(&mut self, owner: EndpointId, base: u64, page_count: u64) {
        for page in 0..page_count {
            self.mappings.insert((owner.0, base / PAGE_SIZE + page), AccessPermissions::READ_WRITE);
        }
    }

    /// What `endpoint` has the physical page at `address` mapped with.
    pub fn mapped(&self, endpoint: EndpointId, address: u64) -> Option<AccessPermissions> {
        self.mappings.get(&(endpoint.0, address / PAGE_SIZE)).copied()
    }

    fn pages(range: AddressRange) -> impl Iterator<Item = u64> {
        let first = range.address / PAGE_SIZE;
        first..first + u64::from(range.page_count)
    }
}

impl AddressSpace for FakeStage2 {
    fn map(
        &mut self,
        endpoint: EndpointId,
        range: AddressRange,
        permissions: AccessPermissions,
    ) -> Result<(), FfaError> {
        for page in Self::pages(range) {
            self.mappings.insert((endpoint.0, page), permissions);
        }
        Ok(())
    }

    fn unmap(&mut self, endpoint: EndpointId, range: AddressRange) -> Result<(), FfaError> {
        for page in Self::pages(range) {
            self.mappings.remove(&(endpoint.0, page));
        }
        Ok(())
    }

    fn zero(&mut self, range: AddressRange) {
        self.zeroed.push(range);
    }
}

impl MemoryPlatform for FakeStage2 {
    fn translate(&mut self, endpoint: EndpointId, address: u64) -> Result<PhysicalRun, FfaError> {
        let mut own = self.translations.iter().filter(|entry| entry.0 == endpoint).peekable();
        if own.peek().is_none() {
            return Ok(PhysicalRun { address, page_count: 1 << 30 });
        }
        own.find_map(|&(_, ipa, pa, pages)| {
            let end = ipa + pages * PAGE_SIZE;
            (ipa..end).contains(&address).then(|| PhysicalRun {
                address: pa + (address - ipa),
                page_count: (end - address) / PAGE_SIZE,
            })
        })
        .ok_or(FfaError::Denied)
    }

    fn forward_buffer_size(&self) -> usize {
        self.forward_buffer.len()
    }

    fn write_forward_buffer(&mut self, offset: usize, bytes: &[u8]) -> Result<(), FfaError> {
        self.forward_buffer
            .get_mut(offset..offset + bytes.len())
            .ok_or(FfaError::InvalidParameters)?
            .copy_from_slice(bytes);
        Ok(())
    }
}

/// The forwarder's second VM.
pub const VM2: EndpointId = EndpointId(2);

/// Page `n` of a VM's memory in [`memory_forwarder`] (IPA = PA there).
pub fn vm_page(vm: EndpointId, n: u64) -> u64 {
    let base = if vm == VM1 { 0x8100_0000 } else { 0x8200_0000 };
    base + n * PAGE_SIZE
}

/// A VM's TX buffer in [`memory_forwarder`] (page 48; RX is page 49).
pub fn vm_tx(vm: EndpointId) -> u64 {
    vm_page(vm, 48)
}

pub fn vm_rx(vm: EndpointId) -> u64 {
    vm_page(vm, 49)
}

/// A forwarder with memory sharing: VM1 (2 vCPUs, started on CPU 0) and VM2 (started on
/// CPU 1), both v1.2 with direct and indirect messaging, 64 pages of memory each (IPA = PA)
/// and 1-page RX/TX buffers mapped; the test partitions are the secure world; a 4 KiB
/// forward buffer.
pub fn memory_forwarder() -> Manager {
    use spmc::partition_manager::{MemoryRegionDescription, MemorySharing};
    let messaging = MessagingMethod::SEND_DIRECT_REQUEST
        | MessagingMethod::RECEIVE_DIRECT_REQUEST
        | MessagingMethod::INDIRECT;
    let local = vec![
        EndpointDescription::virtual_machine(VM1, 2, Version::V1_2, messaging),
        EndpointDescription::virtual_machine(VM2, 1, Version::V1_2, messaging),
    ];
    let remote = secure_partitions();
    let configuration = Configuration {
        role: Role::Forwarder,
        own_id: NWD,
        spm_id: SPMC_ID,
        version: Version::V1_2,
        local: &local,
        remote: &remote,
        interrupts: FeatureInterrupts::default(),
        maximum_mailbox_pages: 0,
    };
    let regions: Vec<_> = [VM1, VM2]
        .into_iter()
        .map(|owner| MemoryRegionDescription {
            owner,
            base: vm_page(owner, 0),
            page_count: 64,
            kind: memory_sharing::MemoryKind::Normal { secure: false },
            read_only: false,
        })
        .collect();
    let mut platform = FakeStage2::default();
    for region in &regions {
        platform.map_owned(region.owner, region.base, u64::from(region.page_count));
    }
    platform.forward_buffer = vec![0; 4096];
    let storage = Box::leak(Box::new(memory_sharing::Pools::<64, 16, 1024, 128>::new())).storage();
    let sharing = MemorySharing { platform, storage, regions: &regions };
    let manager =
        Manager::with_memory_sharing(&configuration, FakeMemory::default(), sharing).unwrap();
    for (vm, cpu) in [(VM1, 0), (VM2, 1)] {
        assert_eq!(manager.start(ec(vm, 0), cpu).unwrap().transfer, Transfer::Start);
        map_mailbox(&manager, ec(vm, 0), vm_tx(vm), vm_rx(vm));
    }
    manager
}

/// A forwarder without memory sharing: VM1 (2 vCPUs, started on CPU 0) and VM2 (started on
/// CPU 1), the test partitions as the secure world, no buffers mapped.
pub fn forwarder_without_memory_sharing() -> Manager {
    let messaging = MessagingMethod::SEND_DIRECT_REQUEST | MessagingMethod::RECEIVE_DIRECT_REQUEST;
    let local = vec![
        EndpointDescription::virtual_machine(VM1, 2, Version::V1_2, messaging),
        EndpointDescription::virtual_machine(VM2, 1, Version::V1_2, messaging),
    ];
    let remote = secure_partitions();
    let configuration = Configuration {
        role: Role::Forwarder,
        own_id: NWD,
        spm_id: SPMC_ID,
        version: Version::V1_2,
        local: &local,
        remote: &remote,
        interrupts: FeatureInterrupts::default(),
        maximum_mailbox_pages: 0,
    };
    let manager = Manager::new(&configuration, FakeMemory::default()).unwrap();
    for (vm, cpu) in [(VM1, 0), (VM2, 1)] {
        assert_eq!(manager.start(ec(vm, 0), cpu).unwrap().transfer, Transfer::Start);
    }
    manager
}
