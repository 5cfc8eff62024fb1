//! Drives a small partition manager with an arbitrary call sequence (for a cargo-fuzz target),
//! checking the core's invariants after every step.

use ffa_core::call::{MsgWaitFlags, Return};
use ffa_core::direct_message::{DirectBody, DirectMessage};
use ffa_core::framework_message::FrameworkMessage;
use ffa_core::indirect_message::{MessageHeader, MsgSend2Flags};
use ffa_core::notification::{BindFlags, GetFlags, NotificationBitmap, SetFlags};
use ffa_core::Version;
use ffa_core::{Call, EndpointId, FfaError, FunctionId, SuccessArgs, TargetInfo, Uuid, VcpuId};

use super::{
    Configuration, ContextId, ContextState, EndpointDescription, EndpointMemory, FeatureInterrupts,
    PartitionManager, Role, Transfer,
};
use crate::manifest::{
    ExceptionLevel, MessagingMethod, PowerManagementMessages, VmAvailabilityMessages,
};

/// One 4 KiB page.
const PAGE_SIZE_BYTES: usize = 4096;
/// One-page buffers the fake memory offers, at `BASE + n * 4 KiB`.
const PAGES: usize = 8;
const BASE: u64 = 0x4000_0000;

/// Endpoint memory for the fuzzer: eight pages, each mapped by at most one endpoint.
#[derive(Debug)]
struct PageMemory {
    pages: [[u8; PAGE_SIZE_BYTES]; PAGES],
    owners: [Option<EndpointId>; PAGES],
}

impl EndpointMemory for PageMemory {
    type Buffer = usize;

    fn map_buffer(
        &mut self,
        endpoint: EndpointId,
        address: u64,
        page_count: u32,
    ) -> Result<usize, FfaError> {
        let offset = address.checked_sub(BASE).ok_or(FfaError::Denied)?;
        let slot =
            usize::try_from(offset / PAGE_SIZE_BYTES as u64).map_err(|_| FfaError::Denied)?;
        if page_count != 1 || offset % PAGE_SIZE_BYTES as u64 != 0 {
            return Err(FfaError::Denied);
        }
        let owner = self.owners.get_mut(slot).ok_or(FfaError::Denied)?;
        if owner.is_some() {
            return Err(FfaError::InvalidParameters);
        }
        *owner = Some(endpoint);
        Ok(slot)
    }

    fn unmap_buffer(&mut self, buffer: usize) {
        if let Some(owner) = self.owners.get_mut(buffer) {
            *owner = None;
        }
    }

    fn write(&mut self, buffer: usize, offset: usize, bytes: &[u8]) -> Result<(), FfaError> {
        let end = offset.checked_add(bytes.len()).ok_or(FfaError::InvalidParameters)?;
        let page = self.pages.get_mut(buffer).ok_or(FfaError::InvalidParameters)?;
        page.get_mut(offset..end).ok_or(FfaError::InvalidParameters)?.copy_from_slice(bytes);
        Ok(())
    }

    fn read(&mut self, buffer: usize, offset: usize, bytes: &mut [u8]) -> Result<(), FfaError> {
        let end = offset.checked_add(bytes.len()).ok_or(FfaError::InvalidParameters)?;
        let page = self.pages.get(buffer).ok_or(FfaError::InvalidParameters)?;
        bytes.copy_from_slice(page.get(offset..end).ok_or(FfaError::InvalidParameters)?);
        Ok(())
    }
}

/// 4 endpoints (and 4 remote), 2 vCPUs each, 2 CPUs.
type Manager = PartitionManager<PageMemory, 4, 2, 2>;

/// IDs a call may name: the configured endpoints of both roles (the busiest ones twice) and a
/// few bad ones.
const IDS: [u16; 16] =
    [0, 1, 2, 3, 0x8001, 0x8002, 0x8003, 0x8000, 0xFFFF, 0x8009, 0, 1, 2, 0x8001, 0x8002, 0x42];

/// Functions raw register steps start with, so that noise reaches the handlers.
const FUNCTIONS: [FunctionId; 15] = [
    FunctionId::NotificationBitmapCreate,
    FunctionId::NotificationBitmapDestroy,
    FunctionId::NotificationBind,
    FunctionId::NotificationUnbind,
    FunctionId::NotificationSet,
    FunctionId::NotificationGet,
    FunctionId::NotificationInfoGet32,
    FunctionId::NotificationInfoGet64,
    FunctionId::MsgSend2,
    FunctionId::RxRelease,
    FunctionId::RxAcquire,
    FunctionId::RxtxMap64,
    FunctionId::MsgWait32,
    FunctionId::Run32,
    FunctionId::MsgSendDirectReq32,
];

/// Reads the input one byte at a time, zero when exhausted.
struct Bytes<'d> {
    data: core::slice::Iter<'d, u8>,
}

impl Bytes<'_> {
    fn next(&mut self) -> u8 {
        self.data.next().copied().unwrap_or(0)
    }

    fn done(&self) -> bool {
        self.data.len() == 0
    }

    fn word(&mut self) -> u64 {
        (0..8).fold(0u64, |word, _| word << 8 | u64::from(self.next()))
    }

    fn id(&mut self) -> EndpointId {
        EndpointId(IDS.get(usize::from(self.next()) % IDS.len()).copied().unwrap_or(0))
    }

    fn bits(&mut self) -> NotificationBitmap {
        // Mostly one of a few bits, so that binds and sets meet.
        match self.next() % 8 {
            0 => NotificationBitmap(0),
            1 => NotificationBitmap(self.word()),
            2 => NotificationBitmap(1 << (self.next() % 64)),
            _ => NotificationBitmap(1 << (self.next() % 3)),
        }
    }

    fn context(&mut self, role: Role) -> ContextId {
        let endpoint = match role {
            Role::Spmc => [0x8001, 0x8002, 0x8003, 0, 1, 0xFFFF],
            Role::Forwarder => [1, 2, 3, 0x8000, 0x8001, 0],
        };
        let id = endpoint.get(usize::from(self.next()) % endpoint.len()).copied().unwrap_or(0);
        // Mostly vCPU 0, which every endpoint has; sometimes one that may not exist.
        let vcpu = if self.next() % 4 == 0 { u16::from(self.next() % 3) } else { 0 };
        ContextId::new(id, vcpu)
    }

    fn address(&mut self) -> u64 {
        BASE + u64::from(self.next() % (PAGES as u8 + 1)) * PAGE_SIZE_BYTES as u64
    }
}

/// A partition (SPMC role) or VM (forwarder) of the fuzzed configuration.
fn endpoint(
    id: u16,
    contexts: u16,
    messaging: MessagingMethod,
    version: Version,
    level: ExceptionLevel,
    notifications: bool,
) -> EndpointDescription {
    let mut uuids = heapless::Vec::new();
    let _ = uuids.push(Uuid([id as u8; 16]));
    EndpointDescription {
        id: EndpointId(id),
        uuids,
        execution_context_count: contexts,
        messaging,
        version,
        exception_level: level,
        aarch64: true,
        notification_support: notifications,
        power_management: PowerManagementMessages::empty(),
    }
}

/// A well-formed call built from a few input bytes.
fn structured(bytes: &mut Bytes<'_>, from: ContextId) -> Call {
    let (sender, receiver) = (bytes.id(), bytes.id());
    // Usually name the caller where the call expects it, to get past the first checks.
    let own = if bytes.next() % 4 == 0 { sender } else { from.endpoint };
    let vcpu = VcpuId(u16::from(bytes.next() % 3));
    match bytes.next() % 16 {
        0 => Call::NotificationBitmapCreate {
            vm_id: receiver,
            vcpu_count: u32::from(bytes.next() % 4),
        },
        1 => Call::NotificationBitmapDestroy { vm_id: receiver },
        2 => {
            let flags =
                if bytes.next() % 2 == 0 { BindFlags::empty() } else { BindFlags::PER_VCPU };
            Call::NotificationBind { sender, receiver: own, flags, bitmap: bytes.bits() }
        }
        3 => Call::NotificationUnbind { sender, receiver: own, bitmap: bytes.bits() },
        4 => {
            let flag = bytes.next();
            let flags = SetFlags {
                per_vcpu: flag & 1 != 0,
                delay_schedule_receiver: flag & 2 != 0,
                vcpu: if flag & 1 != 0 { vcpu } else { VcpuId(0) },
            };
            Call::NotificationSet { sender: own, receiver, flags, bitmap: bytes.bits() }
        }
        5 => Call::NotificationGet {
            receiver: own,
            vcpu,
            flags: GetFlags::from_bits_truncate(u32::from(bytes.next())),
        },
        6 => Call::NotificationInfoGet { is_64: bytes.next() % 2 == 0 },
        7 => {
            let flags = match bytes.next() % 4 {
                0 => MsgSend2Flags::DELAY_SCHEDULE_RECEIVER,
                _ => MsgSend2Flags::empty(),
            };
            let sender_vm = if bytes.next() % 3 == 0 { sender } else { EndpointId(0) };
            Call::MsgSend2 { sender_vm, flags }
        }
        8 => Call::RxRelease { vm_id: if bytes.next() % 3 == 0 { sender } else { EndpointId(0) } },
        9 => {
            let buffers = ffa_core::rxtx::RxtxMapArgs::Buffers {
                tx_address: bytes.address(),
                rx_address: bytes.address(),
                page_count: u32::from(bytes.next() % 2) + 1,
            };
            Call::RxtxMap { buffers, is_64: true }
        }
        10 => Call::RxtxUnmap { vm_id: EndpointId(0) },
        11 => {
            let flags = MsgWaitFlags::from_bits_truncate(u32::from(bytes.next() % 2));
            Call::MsgWait { flags, is_64: false }
        }
        12 => Call::Run { target: TargetInfo { endpoint: receiver, vcpu }, is_64: false },
        13 => Call::MsgSendDirectReq(DirectMessage {
            source: own,
            destination: receiver,
            body: DirectBody::Partition32([u32::from(bytes.next()); 5]),
        }),
        14 => Call::MsgSendDirectResp(DirectMessage {
            source: from.endpoint,
            destination: receiver,
            body: DirectBody::Partition32([0; 5]),
        }),
        _ => Call::Yield { target: from.target_info(), timeout: 0, is_64: false },
    }
}

/// The endpoints whose mailboxes `set_up` maps: endpoint n's TX buffer is page 2n, its RX
/// buffer page 2n + 1.
fn mailbox_owners(role: Role) -> [u16; 3] {
    match role {
        Role::Spmc => [0x8001, 0x8002, 0],
        Role::Forwarder => [1, 2, 3],
    }
}

/// Maps a mailbox for each of [`mailbox_owners`] (a partition runs for it, then waits; VMs are
/// started and keep running), so that messages can flow from the first step.
fn set_up(manager: &Manager, role: Role) {
    let wait = Call::MsgWait { flags: MsgWaitFlags::empty(), is_64: false };
    // Partitions subscribed to VM availability messages (both roles).
    for id in [0x8001, 0x8002] {
        let _ = manager.set_vm_availability(EndpointId(id), VmAvailabilityMessages::all());
    }
    for (index, id) in mailbox_owners(role).into_iter().enumerate() {
        let context = ContextId::new(id, 0);
        let local = match role {
            Role::Spmc if id != 0 => {
                let run = Call::Run { target: context.target_info(), is_64: false };
                manager.handle(ContextId::new(0, 0), &run.encode(Version::V1_2)).to == context
            }
            Role::Spmc => false,
            Role::Forwarder => manager.start(context, index as u16 % 2).is_ok(),
        };
        let from = if local || role == Role::Forwarder { context } else { ContextId::new(0, 0) };
        let buffers = ffa_core::rxtx::RxtxMapArgs::Buffers {
            tx_address: BASE + 2 * index as u64 * PAGE_SIZE_BYTES as u64,
            rx_address: BASE + (2 * index as u64 + 1) * PAGE_SIZE_BYTES as u64,
            page_count: 1,
        };
        let _ = manager.handle(from, &Call::RxtxMap { buffers, is_64: true }.encode(Version::V1_2));
        if local && role == Role::Spmc {
            let _ = manager.handle(context, &wait.encode(Version::V1_2));
        }
    }
}

/// Writes an indirect message (or noise) into one of the pages, as its owner would: mostly a
/// mapped endpoint's TX buffer with that endpoint as sender.
fn write_message(bytes: &mut Bytes<'_>, memory: &mut PageMemory, role: Role) {
    let owners = mailbox_owners(role);
    let choice = usize::from(bytes.next());
    let (slot, owner) = match owners.get(choice % 4) {
        Some(owner) => (2 * (choice % 4), EndpointId(*owner)),
        None => (choice % PAGES, bytes.id()),
    };
    let Some(page) = memory.pages.get_mut(slot) else { return };
    let sender = if bytes.next() % 4 == 0 { bytes.id() } else { owner };
    let receiver = match owners.get(usize::from(bytes.next()) % 5) {
        Some(receiver) => EndpointId(*receiver),
        None => bytes.id(),
    };
    let version = if bytes.next() % 2 == 0 { Version::V1_1 } else { Version::V1_2 };
    let length = usize::from(bytes.next()) * 16 + 1;
    if bytes.next() % 4 == 0 {
        // A raw header with arbitrary fields.
        for byte in page.iter_mut().take(40) {
            *byte = bytes.next();
        }
        return;
    }
    let payload = [0xA5u8; PAGE_SIZE_BYTES];
    let Some(payload) = payload.get(..length) else { return };
    let _ = MessageHeader::write(sender, receiver, Uuid::NIL, payload, version, page);
}

/// `id` makes `call` on CPU 0: a partition (SPMC role) is run by the normal world first and
/// waits afterwards; VMs (forwarder) call from vCPU 0; other IDs call as the other world.
fn as_endpoint(manager: &Manager, role: Role, id: EndpointId, call: Call) {
    let context = ContextId { endpoint: id, vcpu: VcpuId(0) };
    let normal_world = ContextId::new(0, 0);
    if role == Role::Spmc && manager.is_local(id) {
        let run = Call::Run { target: context.target_info(), is_64: false };
        if manager.handle(normal_world, &run.encode(Version::V1_2)).to != context {
            return;
        }
        check(manager, 0);
        let _ = manager.handle(context, &call.encode(Version::V1_2));
        check(manager, 0);
        let wait = Call::MsgWait { flags: MsgWaitFlags::empty(), is_64: false };
        let _ = manager.handle(context, &wait.encode(Version::V1_2));
    } else if manager.is_local(id) {
        let _ = manager.handle(context, &call.encode(Version::V1_2));
    } else {
        let from = if id.is_secure() == role.local_is_secure() { normal_world } else { context };
        let _ = manager.handle(from, &call.encode(Version::V1_2));
    }
}

/// Panics (the fuzzer's finding) if the core broke an invariant or named a context for the
/// NPI that does not run on the CPU it was collected for.
#[allow(clippy::panic, reason = "an invariant violation is what the fuzzer looks for")]
fn check(manager: &Manager, cpu: u16) {
    if let Err(violation) = manager.check_invariants() {
        panic!("invariant violated: {violation:?}");
    }
    let requests = manager.take_interrupt_requests(cpu);
    if let Some(context) = requests.notification_pending {
        let running = matches!(
            manager.context_state(context),
            Some(ContextState::Running { cpu: on, .. }) if on == cpu
        );
        if !running {
            panic!("NPI for {context:?}, which does not run on CPU {cpu}");
        }
    }
}

/// Runs an arbitrary sequence of calls from arbitrary contexts (structured notification,
/// indirect-messaging, mailbox and scheduling calls, raw registers), endpoint writes to TX
/// buffers, answers from the other world and platform events (boot, start, abort, preempt,
/// interrupt collection) against a small SPMC or forwarder decoded from `data`. Panics only
/// when an invariant breaks.
#[doc(hidden)]
pub fn fuzz_calls(data: &[u8]) {
    let mut bytes = Bytes { data: data.iter() };
    let role = if bytes.next() % 2 == 0 { Role::Spmc } else { Role::Forwarder };
    let all = MessagingMethod::RECEIVE_DIRECT_REQUEST
        | MessagingMethod::SEND_DIRECT_REQUEST
        | MessagingMethod::INDIRECT;
    let direct = MessagingMethod::RECEIVE_DIRECT_REQUEST | MessagingMethod::SEND_DIRECT_REQUEST;
    let (local, remote, own_id) = match role {
        Role::Spmc => (
            [
                endpoint(0x8001, 1, all, Version::V1_2, ExceptionLevel::SecureEl1, true),
                endpoint(0x8002, 2, all, Version::V1_1, ExceptionLevel::SecureEl0, true),
                endpoint(0x8003, 1, direct, Version::V1_2, ExceptionLevel::SecureEl1, false),
            ],
            [
                endpoint(0, 2, direct, Version::V1_2, ExceptionLevel::El1, false),
                endpoint(1, 2, direct, Version::V1_2, ExceptionLevel::El1, false),
            ],
            EndpointId(0x8000),
        ),
        Role::Forwarder => (
            [
                endpoint(1, 2, all, Version::V1_2, ExceptionLevel::El1, true),
                endpoint(2, 1, all, Version::V1_2, ExceptionLevel::El1, true),
                endpoint(3, 1, direct, Version::V1_2, ExceptionLevel::El1, false),
            ],
            [
                endpoint(0x8001, 1, all, Version::V1_2, ExceptionLevel::SecureEl1, true),
                endpoint(0x8002, 2, all, Version::V1_1, ExceptionLevel::SecureEl0, true),
            ],
            EndpointId(0),
        ),
    };
    let configuration = Configuration {
        role,
        own_id,
        spm_id: EndpointId(0x8000),
        version: Version::V1_2,
        local: &local,
        remote: &remote,
        interrupts: FeatureInterrupts {
            notification_pending: Some(5),
            schedule_receiver: Some(8),
            managed_exit: None,
        },
        maximum_mailbox_pages: 1,
    };
    let memory = PageMemory { pages: [[0; PAGE_SIZE_BYTES]; PAGES], owners: [None; PAGES] };
    let Ok(manager) = Manager::new(&configuration, memory) else { return };
    if role == Role::Spmc {
        for cpu in 0..2 {
            let Ok(mut delivery) = manager.boot(cpu) else { continue };
            while delivery.transfer == Transfer::Start {
                let wait = Call::MsgWait { flags: MsgWaitFlags::empty(), is_64: false };
                delivery = manager.handle(delivery.to, &wait.encode(Version::V1_2));
            }
            check(&manager, cpu);
        }
    }
    set_up(&manager, role);
    check(&manager, 0);
    check(&manager, 1);
    let mut steps = 0;
    while !bytes.done() && steps < 512 {
        steps += 1;
        let cpu = u16::from(bytes.next() % 2);
        match bytes.next() % 10 {
            0..=2 => {
                let from = bytes.context(role);
                let call = structured(&mut bytes, from);
                let _ = manager.handle(from, &call.encode(Version::V1_2));
            }
            3 => {
                let from = bytes.context(role);
                let mut registers = [0u64; 18];
                for register in registers.iter_mut() {
                    *register =
                        if bytes.next() % 2 == 0 { u64::from(bytes.next()) } else { bytes.word() };
                }
                if let Some(function) = FUNCTIONS.get(usize::from(bytes.next()) % FUNCTIONS.len()) {
                    if let Some(first) = registers.first_mut() {
                        *first = function.to_register();
                    }
                }
                let _ = manager.handle(from, &registers);
            }
            4 => manager.with_memory(|memory| write_message(&mut bytes, memory, role)),
            5 => {
                // The other world answers (or calls) on `cpu`: success with some words, or an error.
                let from = ContextId::new(if role == Role::Spmc { 0 } else { 0x8000 }, cpu);
                let answer = match bytes.next() % 4 {
                    0 | 1 => {
                        let words =
                            [u32::from(bytes.next()), 0, 0, 0, u32::from(bytes.next() % 2), 0];
                        Return::success(SuccessArgs::Args32(words))
                    }
                    // A partition's answer to a VM availability message (of either type).
                    2 => {
                        let status =
                            if bytes.next() % 2 == 0 { Ok(()) } else { Err(FfaError::Retry) };
                        let response = if bytes.next() % 2 == 0 {
                            FrameworkMessage::VmCreatedResponse(status)
                        } else {
                            FrameworkMessage::VmDestroyedResponse(status)
                        };
                        Return::DirectResponse(DirectMessage {
                            source: bytes.id(),
                            destination: EndpointId(0),
                            body: DirectBody::Framework32(response),
                        })
                    }
                    _ => Return::error(FfaError::Denied),
                };
                let _ = manager.handle(from, &answer.encode(Version::V1_2));
            }
            6 => {
                let context = bytes.context(role);
                let _ = match bytes.next() % 7 {
                    0 => manager.boot(cpu),
                    // VM lifecycle (forwarder; the SPMC refuses).
                    5 => manager.vm_created(context.endpoint, cpu),
                    6 => manager.destroy_vm(context.endpoint, cpu),
                    1 => manager.start(context, cpu),
                    2 => manager.abort(context),
                    3 => manager.preempt(context, u32::from(bytes.next())),
                    // The normal world's scheduler runs a context (SPMC role).
                    _ => {
                        let run = Call::Run { target: context.target_info(), is_64: false };
                        Ok(manager.handle(ContextId::new(0, cpu), &run.encode(Version::V1_2)))
                    }
                };
            }
            7 => {
                let _ = manager.notification_info(bytes.next() % 2 == 0);
            }
            8 => {
                // A receiver binds a sender, then the sender signals it.
                let (sender, receiver) = (bytes.id(), bytes.id());
                let bitmap = bytes.bits();
                let per_vcpu = bytes.next() % 2 == 0;
                let flags = if per_vcpu { BindFlags::PER_VCPU } else { BindFlags::empty() };
                as_endpoint(
                    &manager,
                    role,
                    receiver,
                    Call::NotificationBind { sender, receiver, flags, bitmap },
                );
                check(&manager, 0);
                let flags = SetFlags {
                    per_vcpu,
                    delay_schedule_receiver: bytes.next() % 4 == 0,
                    vcpu: VcpuId(0),
                };
                as_endpoint(
                    &manager,
                    role,
                    sender,
                    Call::NotificationSet { sender, receiver, flags, bitmap },
                );
            }
            _ => {
                // An endpoint makes one well-formed call as itself.
                let id = bytes.id();
                let call = structured(&mut bytes, ContextId::new(id.0, 0));
                as_endpoint(&manager, role, id, call);
            }
        }
        check(&manager, cpu);
    }
}
