//! A test double that answers like a conformant FF-A partition manager: an in-memory model of
//! versions, features, RX/TX ownership, partitions, direct messaging (with one preemption per
//! request when configured), memory transactions with fragmentation, notifications,
//! indirect messages, and scripted incoming messages for the partition side.
#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

use ffa_core::call::{Return, NO_TARGET};
use ffa_core::direct_message::{DirectBody, DirectMessage, DirectMessage2};
use ffa_core::features::FeaturesQuery;
use ffa_core::notification::{
    InfoList, NotificationBitmap, NotificationGetResult, NotificationInfo,
};
use ffa_core::partition_info::PartitionInfoGetFlags;
use ffa_core::rxtx::RxtxMapArgs;
use ffa_core::{
    Call, Conduit, EndpointId, FfaError, FunctionId, SuccessArgs, TargetInfo, Uuid, VcpuId, Version,
};
use ffa_guest_driver::Buffers;

pub type Bytes = Rc<RefCell<Vec<u8>>>;

/// Buffers backed by shared vectors the double also sees (through `Firmware::attach`).
#[derive(Debug, Clone)]
pub struct TestBuffers {
    pub tx: Bytes,
    pub rx: Bytes,
    pub tx_address: u64,
    pub rx_address: u64,
}

impl TestBuffers {
    pub fn new(tx_address: u64, rx_address: u64, size: usize) -> Self {
        Self {
            tx: Rc::new(RefCell::new(vec![0; size])),
            rx: Rc::new(RefCell::new(vec![0; size])),
            tx_address,
            rx_address,
        }
    }
}

impl Buffers for TestBuffers {
    fn tx_address(&self) -> u64 {
        self.tx_address
    }
    fn rx_address(&self) -> u64 {
        self.rx_address
    }
    fn size(&self) -> usize {
        self.tx.borrow().len()
    }
    fn with_tx<R>(&mut self, access: impl FnOnce(&mut [u8]) -> R) -> R {
        access(&mut self.tx.borrow_mut())
    }
    fn with_rx<R>(&mut self, access: impl FnOnce(&[u8]) -> R) -> R {
        access(&self.rx.borrow())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preemption {
    None,
    YieldOnce,
    InterruptOnce,
}

#[derive(Debug, Clone)]
pub struct Partition {
    pub id: u16,
    pub uuid: Uuid,
    pub properties: u32,
    pub execution_contexts: u16,
    pub preemption: Preemption,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    pub function: FunctionId,
    pub sender: u16,
    pub attributes: u16,
    pub flags: u32,
    pub receivers: Vec<(u16, u8)>,
    pub ranges: Vec<(u64, u32)>,
    pub borrowed: bool,
    pub fragments: Vec<u32>,
    pub bytes: Vec<u8>,
}

/// Commands the echo partitions understand beyond echoing (word 0).
pub const COMMAND_RETAIN: u64 = 0x100;
pub const COMMAND_RETURN: u64 = 0x101;

#[derive(Debug)]
pub struct Model {
    pub own_version: Version,
    /// Answer NOT_SUPPORTED to a request for a newer minor version (instead of our own).
    pub refuse_newer_minor: bool,
    pub negotiated: Version,
    pub caller_id: u16,
    pub offered: Vec<FunctionId>,
    pub rxtx_properties: u32,
    pub descriptor_size: usize,
    pub memory: BTreeMap<u64, Bytes>,
    pub mapped: Option<(u64, u64, u32)>,
    pub rx_full: bool,
    pub partitions: Vec<Partition>,
    pub pending_run: Option<(TargetInfo, Return)>,
    pub transactions: BTreeMap<u64, Transaction>,
    pub next_handle: u64,
    pub in_flight: Option<(u64, u32, Transaction)>,
    pub retrieve: Option<(u64, Vec<u8>, usize)>,
    /// Bytes per retrieve fragment (not necessarily whole constituents).
    pub retrieve_fragment: usize,
    pub bitmaps: Vec<u16>,
    pub bindings: BTreeMap<(u16, u16), u64>,
    pub pending: BTreeMap<u16, (u64, u64)>,
    pub mailbox: Vec<(u16, u16, Uuid, Vec<u8>)>,
    pub log: Vec<Call>,
    pub incoming: VecDeque<Call>,
    pub responses: Vec<Call>,
    pub overrides: BTreeMap<u32, [u64; 18]>,
}

#[derive(Debug, Clone)]
pub struct Firmware(pub Rc<RefCell<Model>>);

pub const OPTEE_UUID: &str = "486178e0-e7f8-11e3-bc5e-0002a5d5c51b";
pub const ECHO_UUID: &str = "12345678-9abc-def0-1122-334455667788";
pub const YIELD_UUID: &str = "aaaaaaaa-0000-0000-0000-000000000001";
pub const INTERRUPT_UUID: &str = "aaaaaaaa-0000-0000-0000-000000000002";
pub const SMALL_UUID: &str = "aaaaaaaa-0000-0000-0000-000000000003";

impl Firmware {
    /// A v1.2 partition manager offering everything, with four partitions.
    pub fn new() -> Self {
        let uuid = |text: &str| Uuid::parse(text).unwrap();
        let model = Model {
            own_version: Version::V1_2,
            refuse_newer_minor: false,
            negotiated: Version::V1_0,
            caller_id: 1,
            offered: vec![
                FunctionId::RxtxMap64,
                FunctionId::PartitionInfoGetRegs,
                FunctionId::MsgSendDirectReq2,
                FunctionId::MsgSend2,
                FunctionId::NotificationBitmapCreate,
                FunctionId::NotificationBind,
                FunctionId::NotificationSet,
                FunctionId::NotificationGet,
                FunctionId::NotificationInfoGet64,
                FunctionId::MemShare32,
                FunctionId::MemLend32,
                FunctionId::MemDonate32,
                FunctionId::MemRetrieveReq32,
            ],
            rxtx_properties: 0,
            descriptor_size: 24,
            memory: BTreeMap::new(),
            mapped: None,
            rx_full: false,
            partitions: vec![
                Partition {
                    id: 0x8001,
                    uuid: uuid(ECHO_UUID),
                    properties: 0x70f,
                    execution_contexts: 4,
                    preemption: Preemption::None,
                },
                Partition {
                    id: 0x8002,
                    uuid: uuid(YIELD_UUID),
                    properties: 0x103,
                    execution_contexts: 1,
                    preemption: Preemption::YieldOnce,
                },
                Partition {
                    id: 0x8003,
                    uuid: uuid(INTERRUPT_UUID),
                    properties: 0x103,
                    execution_contexts: 1,
                    preemption: Preemption::InterruptOnce,
                },
                Partition {
                    id: 0x8004,
                    uuid: uuid(SMALL_UUID),
                    properties: 0x001,
                    execution_contexts: 1,
                    preemption: Preemption::None,
                },
            ],
            pending_run: None,
            transactions: BTreeMap::new(),
            next_handle: 0xFFFF_FFC0,
            in_flight: None,
            retrieve: None,
            retrieve_fragment: 4096,
            bitmaps: Vec::new(),
            bindings: BTreeMap::new(),
            pending: BTreeMap::new(),
            mailbox: Vec::new(),
            log: Vec::new(),
            incoming: VecDeque::new(),
            responses: Vec::new(),
            overrides: BTreeMap::new(),
        };
        Self(Rc::new(RefCell::new(model)))
    }

    pub fn model(&self) -> std::cell::RefMut<'_, Model> {
        self.0.borrow_mut()
    }

    /// Makes `buffers` visible to the double at their addresses.
    pub fn attach(&self, buffers: &TestBuffers) {
        let mut model = self.model();
        model.memory.insert(buffers.tx_address, buffers.tx.clone());
        model.memory.insert(buffers.rx_address, buffers.rx.clone());
    }

    pub fn functions_called(&self) -> Vec<FunctionId> {
        self.model().log.iter().map(Call::function_id).collect()
    }
}

impl Conduit for Firmware {
    fn call(&mut self, registers: [u64; 18]) -> [u64; 18] {
        self.0.borrow_mut().handle(registers)
    }
}

fn read_u16(bytes: &[u8], offset: usize) -> u16 {
    u16::from_le_bytes(bytes[offset..offset + 2].try_into().unwrap())
}
fn read_u32(bytes: &[u8], offset: usize) -> u32 {
    u32::from_le_bytes(bytes[offset..offset + 4].try_into().unwrap())
}
fn read_u64(bytes: &[u8], offset: usize) -> u64 {
    u64::from_le_bytes(bytes[offset..offset + 8].try_into().unwrap())
}

fn error(error: FfaError) -> Return {
    Return::error(error)
}

fn success32(words: [u32; 6]) -> Return {
    Return::success(SuccessArgs::Args32(words))
}

/// Parses a v1.1 or v1.2 memory transaction descriptor (EMADs of 16 or 32 bytes, the rest
/// of a 32-byte EMAD zero) with plain byte offsets (the oracle for the driver's zerocopy
/// builder).
pub fn parse_transaction(function: FunctionId, bytes: &[u8]) -> Result<Transaction, FfaError> {
    if bytes.len() < 48 {
        return Err(FfaError::InvalidParameters);
    }
    let emad_size = read_u32(bytes, 24) as usize;
    let emad_count = read_u32(bytes, 28) as usize;
    let emad_offset = read_u32(bytes, 32) as usize;
    if !matches!(emad_size, 16 | 32)
        || emad_count == 0
        || emad_offset != 48
        || bytes[36..48].iter().any(|&b| b != 0)
    {
        return Err(FfaError::InvalidParameters);
    }
    let mut receivers = Vec::new();
    let mut composite = None;
    for index in 0..emad_count {
        let at = emad_offset + emad_size * index;
        receivers.push((read_u16(bytes, at), bytes[at + 2]));
        let offset = read_u32(bytes, at + 4) as usize;
        let reserved = bytes[at + 8..at + emad_size].iter().any(|&byte| byte != 0);
        if composite.is_some_and(|previous| previous != offset) || reserved {
            return Err(FfaError::InvalidParameters);
        }
        composite = Some(offset);
    }
    let composite = composite.unwrap();
    if composite != emad_offset + emad_size * emad_count {
        return Err(FfaError::InvalidParameters);
    }
    let total_pages = read_u32(bytes, composite);
    let count = read_u32(bytes, composite + 4) as usize;
    if bytes.len() != composite + 16 + 16 * count {
        return Err(FfaError::InvalidParameters);
    }
    let mut ranges = Vec::new();
    for index in 0..count {
        let at = composite + 16 + 16 * index;
        let (address, pages) = (read_u64(bytes, at), read_u32(bytes, at + 8));
        if address % 4096 != 0 || pages == 0 || read_u32(bytes, at + 12) != 0 {
            return Err(FfaError::InvalidParameters);
        }
        ranges.push((address, pages));
    }
    if ranges.iter().map(|&(_, pages)| pages).sum::<u32>() != total_pages {
        return Err(FfaError::InvalidParameters);
    }
    Ok(Transaction {
        function,
        sender: read_u16(bytes, 0),
        attributes: read_u16(bytes, 2),
        flags: read_u32(bytes, 4),
        receivers,
        ranges,
        borrowed: false,
        fragments: Vec::new(),
        bytes: bytes.to_vec(),
    })
}

impl Model {
    fn rx(&self) -> Bytes {
        self.memory[&self.mapped.unwrap().1].clone()
    }
    fn tx(&self) -> Bytes {
        self.memory[&self.mapped.unwrap().0].clone()
    }

    fn write_rx(&mut self, bytes: &[u8]) {
        let rx = self.rx();
        let mut rx = rx.borrow_mut();
        // A lying callee may claim more than fits; only what fits lands in RX.
        let length = bytes.len().min(rx.len());
        rx[..length].copy_from_slice(&bytes[..length]);
        self.rx_full = true;
    }

    fn partition(&self, id: EndpointId) -> Option<Partition> {
        self.partitions.iter().find(|partition| partition.id == id.0).cloned()
    }

    pub fn handle(&mut self, registers: [u64; 18]) -> [u64; 18] {
        if let Some(answer) = self.overrides.get(&(registers[0] as u32)) {
            return *answer;
        }
        if registers[0] as u32 == FunctionId::Version.value() {
            let requested = Version::from_word(registers[1] as u32);
            self.log.push(Call::Version { requested: registers[1] as u32 });
            let mut answer = [0u64; 18];
            answer[0] = match requested {
                Ok(requested)
                    if requested.major() == self.own_version.major()
                        && !(self.refuse_newer_minor
                            && requested.minor() > self.own_version.minor()) =>
                {
                    self.negotiated = core::cmp::min(requested, self.own_version);
                    u64::from(self.own_version.to_word())
                }
                _ => 0xFFFF_FFFF,
            };
            return answer;
        }
        let version = self.negotiated;
        let response = match Call::decode(&registers, version) {
            Ok(call) => {
                self.log.push(call);
                self.answer(call)
            }
            Err(failure) => Answer::Return(error(failure)),
        };
        match response {
            Answer::Return(response) => response.encode(version),
            Answer::Deliver(call) => call.encode(version),
        }
    }

    fn answer(&mut self, call: Call) -> Answer {
        Answer::Return(match call {
            Call::IdGet => Return::success(SuccessArgs::id(EndpointId(self.caller_id))),
            Call::Features(FeaturesQuery::Function { function, .. }) => {
                let mandatory = matches!(
                    function,
                    FunctionId::Features
                        | FunctionId::IdGet
                        | FunctionId::RxRelease
                        | FunctionId::RxtxUnmap
                        | FunctionId::PartitionInfoGet
                        | FunctionId::MsgSendDirectReq32
                        | FunctionId::MsgSendDirectReq64
                );
                if !mandatory && !self.offered.contains(&function) {
                    error(FfaError::NotSupported)
                } else if matches!(function, FunctionId::RxtxMap32 | FunctionId::RxtxMap64) {
                    success32([self.rxtx_properties, 0, 0, 0, 0, 0])
                } else if function == FunctionId::MemRetrieveReq32 {
                    success32([0b011, 0, 0, 0, 0, 0])
                } else {
                    Return::success(SuccessArgs::EMPTY)
                }
            }
            Call::Features(FeaturesQuery::Feature(feature)) => match feature.value() {
                2 => success32([8, 0, 0, 0, 0, 0]),
                _ => error(FfaError::NotSupported),
            },
            Call::RxtxMap {
                buffers: RxtxMapArgs::Buffers { tx_address, rx_address, page_count },
                ..
            } => {
                let minimum = match self.rxtx_properties & 3 {
                    0 => 4096,
                    1 => 65536,
                    _ => 16384,
                };
                if self.mapped.is_some() {
                    error(FfaError::Denied)
                } else if tx_address % minimum != 0
                    || rx_address % minimum != 0
                    || u64::from(page_count) * 4096 < minimum
                {
                    error(FfaError::InvalidParameters)
                } else if !self.memory.contains_key(&tx_address)
                    || !self.memory.contains_key(&rx_address)
                {
                    error(FfaError::Denied)
                } else {
                    self.mapped = Some((tx_address, rx_address, page_count));
                    Return::success(SuccessArgs::EMPTY)
                }
            }
            Call::RxtxUnmap { .. } => match self.mapped.take() {
                Some(_) => Return::success(SuccessArgs::EMPTY),
                None => error(FfaError::InvalidParameters),
            },
            Call::RxRelease { .. } => {
                if self.rx_full {
                    self.rx_full = false;
                    Return::success(SuccessArgs::EMPTY)
                } else {
                    error(FfaError::Denied)
                }
            }
            Call::PartitionInfoGet { uuid, flags } => self.partition_info_get(uuid, flags),
            Call::PartitionInfoGetRegs { uuid, start_index, .. } => {
                self.partition_info_get_regs(uuid, start_index)
            }
            Call::MsgSendDirectReq(message) => self.direct_request(message),
            Call::MsgSendDirectReq2(message) => self.direct_request2(message),
            Call::Run { target, .. } => match self.pending_run.take() {
                Some((expected, response)) if expected == target => response,
                Some(pending) => {
                    self.pending_run = Some(pending);
                    error(FfaError::InvalidParameters)
                }
                None => error(FfaError::InvalidParameters),
            },
            Call::MemShare { transaction, .. }
            | Call::MemLend { transaction, .. }
            | Call::MemDonate { transaction, .. } => {
                let function = call.function_id();
                let bytes = self.tx().borrow()[..transaction.fragment_length as usize].to_vec();
                let handle = self.next_handle;
                self.next_handle += 1;
                let mut partial = Transaction {
                    function,
                    sender: 0,
                    attributes: 0,
                    flags: 0,
                    receivers: vec![],
                    ranges: vec![],
                    borrowed: false,
                    fragments: vec![transaction.fragment_length],
                    bytes,
                };
                if transaction.fragment_length < transaction.total_length {
                    let offset = transaction.fragment_length;
                    self.in_flight = Some((handle, transaction.total_length, partial));
                    Return::MemFragRx { handle, offset, endpoint: EndpointId(0) }
                } else {
                    let fragments = std::mem::take(&mut partial.fragments);
                    self.finish_send(handle, partial.bytes, fragments, function)
                }
            }
            Call::MemFragTx { handle, fragment_length, .. } => {
                let Some((expected, total, mut partial)) = self.in_flight.take() else {
                    return Answer::Return(error(FfaError::InvalidParameters));
                };
                if expected != handle {
                    return Answer::Return(error(FfaError::InvalidParameters));
                }
                let fragment = self.tx().borrow()[..fragment_length as usize].to_vec();
                partial.bytes.extend_from_slice(&fragment);
                partial.fragments.push(fragment_length);
                let received = partial.bytes.len() as u32;
                if received < total {
                    self.in_flight = Some((handle, total, partial));
                    Return::MemFragRx { handle, offset: received, endpoint: EndpointId(0) }
                } else {
                    let function = partial.function;
                    self.finish_send(handle, partial.bytes, partial.fragments, function)
                }
            }
            Call::MemReclaim { handle, .. } => match self.transactions.get(&handle) {
                None => error(FfaError::InvalidParameters),
                Some(transaction) if transaction.borrowed => error(FfaError::Denied),
                Some(_) => {
                    self.transactions.remove(&handle);
                    Return::success(SuccessArgs::EMPTY)
                }
            },
            Call::MemRetrieveReq { transaction, .. } => {
                self.retrieve_request(transaction.total_length as usize)
            }
            Call::MemFragRx { handle, offset, .. } => {
                let Some((expected, bytes, sent)) = self.retrieve.take() else {
                    return Answer::Return(error(FfaError::InvalidParameters));
                };
                if expected != handle || offset as usize != sent || self.rx_full {
                    self.retrieve = Some((expected, bytes, sent));
                    return Answer::Return(error(FfaError::Denied));
                }
                let end = (sent + self.retrieve_fragment).min(bytes.len());
                self.write_rx(&bytes[sent..end]);
                let fragment_length = (end - sent) as u32;
                if end < bytes.len() {
                    self.retrieve = Some((handle, bytes, end));
                }
                Return::MemFragTx { handle, fragment_length, endpoint: EndpointId(0) }
            }
            Call::MemRelinquish => {
                let tx = self.tx();
                let tx = tx.borrow();
                let handle = read_u64(&tx, 0);
                if read_u32(&tx, 12) != 1 || read_u16(&tx, 16) != self.caller_id {
                    return Answer::Return(error(FfaError::InvalidParameters));
                }
                match self.transactions.get_mut(&handle) {
                    Some(transaction) if transaction.borrowed => {
                        transaction.borrowed = false;
                        Return::success(SuccessArgs::EMPTY)
                    }
                    Some(_) => error(FfaError::Denied),
                    None => error(FfaError::InvalidParameters),
                }
            }
            Call::NotificationBitmapCreate { vm_id, .. } => {
                if self.bitmaps.contains(&vm_id.0) {
                    error(FfaError::Denied)
                } else {
                    self.bitmaps.push(vm_id.0);
                    Return::success(SuccessArgs::EMPTY)
                }
            }
            Call::NotificationBind { sender, receiver, bitmap, .. } => {
                if receiver.0 != self.caller_id {
                    error(FfaError::InvalidParameters)
                } else {
                    *self.bindings.entry((sender.0, receiver.0)).or_default() |= bitmap.0;
                    Return::success(SuccessArgs::EMPTY)
                }
            }
            Call::NotificationUnbind { sender, receiver, bitmap } => {
                match self.bindings.get_mut(&(sender.0, receiver.0)) {
                    Some(bound) if *bound & bitmap.0 == bitmap.0 => {
                        *bound &= !bitmap.0;
                        Return::success(SuccessArgs::EMPTY)
                    }
                    _ => error(FfaError::InvalidParameters),
                }
            }
            Call::NotificationSet { sender, receiver, bitmap, .. } => {
                let bound = self.bindings.get(&(sender.0, receiver.0)).copied().unwrap_or(0);
                if sender.0 != self.caller_id {
                    error(FfaError::InvalidParameters)
                } else if bound & bitmap.0 != bitmap.0 {
                    error(FfaError::Denied)
                } else {
                    let entry = self.pending.entry(receiver.0).or_default();
                    if sender.is_secure() {
                        entry.0 |= bitmap.0
                    } else {
                        entry.1 |= bitmap.0
                    }
                    Return::success(SuccessArgs::EMPTY)
                }
            }
            Call::NotificationGet { receiver, .. } => {
                if receiver.0 != self.caller_id {
                    error(FfaError::InvalidParameters)
                } else {
                    let (from_sp, from_vm) = self.pending.remove(&receiver.0).unwrap_or_default();
                    let result = NotificationGetResult {
                        from_sp: NotificationBitmap(from_sp),
                        from_vm: NotificationBitmap(from_vm),
                        spm_framework: 0,
                        hypervisor_framework: 0,
                    };
                    success32(result.to_words())
                }
            }
            Call::NotificationInfoGet { is_64 } => {
                let mut info = NotificationInfo::new(false);
                for &receiver in self.pending.keys() {
                    info.push(InfoList::new(EndpointId(receiver), &[]).unwrap(), is_64).unwrap();
                }
                if info.lists().count() == 0 {
                    error(FfaError::NoData)
                } else {
                    let registers = info.encode(is_64);
                    if is_64 {
                        let mut values = [0u64; 16];
                        values[..6].copy_from_slice(&registers);
                        Return::success(SuccessArgs::Args64(values))
                    } else {
                        success32(registers.map(|value| value as u32))
                    }
                }
            }
            Call::MsgSend2 { .. } => {
                let tx = self.tx();
                let tx = tx.borrow();
                let offset = read_u32(&tx, 8) as usize;
                let endpoints = read_u32(&tx, 12);
                let size = read_u32(&tx, 16) as usize;
                let (sender, receiver) = ((endpoints >> 16) as u16, endpoints as u16);
                if sender != self.caller_id || self.partition(EndpointId(receiver)).is_none() {
                    error(FfaError::InvalidParameters)
                } else {
                    let uuid =
                        if offset >= 40 { Uuid(tx[24..40].try_into().unwrap()) } else { Uuid::NIL };
                    self.mailbox.push((sender, receiver, uuid, tx[offset..offset + size].to_vec()));
                    Return::success(SuccessArgs::EMPTY)
                }
            }
            Call::MsgWait { .. } | Call::MsgSendDirectResp(_) | Call::MsgSendDirectResp2(_) => {
                if !matches!(call, Call::MsgWait { .. }) {
                    self.responses.push(call);
                }
                match self.incoming.pop_front() {
                    Some(next) => return Answer::Deliver(next),
                    None => error(FfaError::Aborted),
                }
            }
            _ => error(FfaError::NotSupported),
        })
    }

    fn finish_send(
        &mut self,
        handle: u64,
        bytes: Vec<u8>,
        fragments: Vec<u32>,
        function: FunctionId,
    ) -> Return {
        match parse_transaction(function, &bytes) {
            Ok(_) if fragments.iter().any(|length| length % 16 != 0) => {
                error(FfaError::InvalidParameters)
            }
            Ok(transaction) if transaction.sender != self.caller_id => error(FfaError::Denied),
            Ok(mut transaction) => {
                transaction.fragments = fragments;
                self.transactions.insert(handle, transaction);
                Return::success(SuccessArgs::handle(handle))
            }
            Err(failure) => error(failure),
        }
    }

    /// Seeds a transaction someone else sent to `receiver` (for borrower-side tests).
    pub fn seed_transaction(
        &mut self,
        handle: u64,
        sender: u16,
        receiver: u16,
        ranges: Vec<(u64, u32)>,
    ) {
        self.transactions.insert(
            handle,
            Transaction {
                function: FunctionId::MemShare32,
                sender,
                attributes: 0x2F,
                flags: 0,
                receivers: vec![(receiver, 0x02)],
                ranges,
                borrowed: false,
                fragments: vec![],
                bytes: vec![],
            },
        );
    }

    fn retrieve_request(&mut self, length: usize) -> Return {
        let request = self.tx().borrow()[..length].to_vec();
        // One EMAD of 16 bytes (v1.1) or 32 (v1.2), no composite.
        let emad_size = read_u32(&request, 24) as usize;
        if !matches!(emad_size, 16 | 32)
            || request.len() != 48 + emad_size
            || read_u32(&request, 28) != 1
            || read_u32(&request, 52) != 0
        {
            return error(FfaError::InvalidParameters);
        }
        let handle = read_u64(&request, 8);
        let receiver = read_u16(&request, 48);
        let Some(transaction) = self.transactions.get_mut(&handle) else {
            return error(FfaError::InvalidParameters);
        };
        if receiver != self.caller_id
            || !transaction.receivers.iter().any(|&(id, _)| id == receiver)
        {
            return error(FfaError::InvalidParameters);
        }
        if read_u16(&request, 0) != transaction.sender {
            return error(FfaError::Denied);
        }
        transaction.borrowed = true;
        let mut bytes = vec![0u8; 48];
        bytes[0..2].copy_from_slice(&transaction.sender.to_le_bytes());
        bytes[2..4].copy_from_slice(&(transaction.attributes | 0x40).to_le_bytes());
        bytes[4..8].copy_from_slice(&(1u32 << 3).to_le_bytes());
        bytes[8..16].copy_from_slice(&handle.to_le_bytes());
        bytes[24..28].copy_from_slice(&16u32.to_le_bytes());
        bytes[28..32].copy_from_slice(&1u32.to_le_bytes());
        bytes[32..36].copy_from_slice(&48u32.to_le_bytes());
        let mut emad = [0u8; 16];
        emad[0..2].copy_from_slice(&receiver.to_le_bytes());
        emad[2] = 0x06;
        emad[4..8].copy_from_slice(&64u32.to_le_bytes());
        bytes.extend_from_slice(&emad);
        let pages: u32 = transaction.ranges.iter().map(|&(_, pages)| pages).sum();
        bytes.extend_from_slice(&pages.to_le_bytes());
        bytes.extend_from_slice(&(transaction.ranges.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&[0; 8]);
        for &(address, pages) in &transaction.ranges {
            bytes.extend_from_slice(&address.to_le_bytes());
            bytes.extend_from_slice(&pages.to_le_bytes());
            bytes.extend_from_slice(&[0; 4]);
        }
        let first = self.retrieve_fragment.min(bytes.len());
        self.write_rx(&bytes[..first]);
        let total_length = bytes.len() as u32;
        if first < bytes.len() {
            self.retrieve = Some((handle, bytes, first));
        }
        Return::MemRetrieveResp { total_length, fragment_length: first as u32 }
    }

    fn matching(&self, uuid: Uuid) -> Vec<Partition> {
        self.partitions
            .iter()
            .filter(|partition| uuid.is_nil() || partition.uuid == uuid)
            .cloned()
            .collect()
    }

    fn partition_info_get(&mut self, uuid: Uuid, flags: PartitionInfoGetFlags) -> Return {
        let found = self.matching(uuid);
        if found.is_empty() {
            return error(FfaError::InvalidParameters);
        }
        let size = if self.negotiated >= Version::V1_1 { self.descriptor_size as u32 } else { 0 };
        if flags.contains(PartitionInfoGetFlags::COUNT_ONLY) {
            return Return::success(SuccessArgs::partition_count(found.len() as u32, size));
        }
        if self.rx_full {
            return error(FfaError::Busy);
        }
        let size_bytes = if self.negotiated >= Version::V1_1 { self.descriptor_size } else { 8 };
        let mut bytes = Vec::new();
        for partition in &found {
            let mut descriptor = vec![0u8; size_bytes];
            descriptor[0..2].copy_from_slice(&partition.id.to_le_bytes());
            descriptor[2..4].copy_from_slice(&partition.execution_contexts.to_le_bytes());
            descriptor[4..8].copy_from_slice(&partition.properties.to_le_bytes());
            if size_bytes >= 24 && uuid.is_nil() {
                descriptor[8..24].copy_from_slice(&partition.uuid.0);
            }
            if size_bytes >= 48 {
                descriptor[24..40].copy_from_slice(&[0xAB; 16]);
                descriptor[40..44].copy_from_slice(&Version::V1_2.to_word().to_le_bytes());
            }
            bytes.extend_from_slice(&descriptor);
        }
        self.write_rx(&bytes);
        Return::success(SuccessArgs::partition_count(found.len() as u32, size))
    }

    fn partition_info_get_regs(&mut self, uuid: Uuid, start: u16) -> Return {
        let found = self.matching(uuid);
        if found.is_empty() || usize::from(start) >= found.len() {
            return error(FfaError::InvalidParameters);
        }
        let last = found.len() - 1;
        // Two per call, so iteration is exercised.
        let current = (usize::from(start) + 1).min(last);
        let mut values = [0u64; 16];
        values[0] = last as u64 | (current as u64) << 16 | 24u64 << 48;
        for (slot, partition) in found[usize::from(start)..=current].iter().enumerate() {
            values[1 + 3 * slot] = u64::from(partition.id)
                | u64::from(partition.execution_contexts) << 16
                | u64::from(partition.properties) << 32;
            let [low, high] = partition.uuid.to_register_pair();
            values[2 + 3 * slot] = low;
            values[3 + 3 * slot] = high;
        }
        Return::success(SuccessArgs::Args64(values))
    }

    fn preempt(&mut self, partition: &Partition, response: Return) -> Return {
        let target = TargetInfo { endpoint: EndpointId(partition.id), vcpu: VcpuId(0) };
        match partition.preemption {
            Preemption::None => response,
            Preemption::YieldOnce => {
                self.pending_run = Some((target, response));
                Return::Yield { target, timeout: 0, is_64: false }
            }
            Preemption::InterruptOnce => {
                self.pending_run = Some((target, response));
                Return::Interrupt { target, interrupt_id: 27, is_64: false }
            }
        }
    }

    fn command(&mut self, words: &[u64]) {
        let handle = words.get(1).copied().unwrap_or(0);
        match words.first().copied() {
            Some(COMMAND_RETAIN) => {
                if let Some(transaction) = self.transactions.get_mut(&handle) {
                    transaction.borrowed = true;
                }
            }
            Some(COMMAND_RETURN) => {
                if let Some(transaction) = self.transactions.get_mut(&handle) {
                    transaction.borrowed = false;
                }
            }
            _ => {}
        }
    }

    fn direct_request(&mut self, message: DirectMessage) -> Return {
        let Some(partition) = self.partition(message.destination) else {
            return error(FfaError::InvalidParameters);
        };
        if message.source.0 != self.caller_id {
            return error(FfaError::InvalidParameters);
        }
        let body = match message.body {
            DirectBody::Partition32(words) => {
                self.command(&[
                    u64::from(words[1]) << 32 | u64::from(words[0]),
                    u64::from(words[3]) << 32 | u64::from(words[2]),
                ]);
                DirectBody::Partition32(words.map(|word| word.wrapping_add(1)))
            }
            DirectBody::Partition64(words) => {
                self.command(&words);
                DirectBody::Partition64(words.map(|word| word.wrapping_add(1)))
            }
            _ => return error(FfaError::InvalidParameters),
        };
        let response = Return::DirectResponse(DirectMessage {
            source: message.destination,
            destination: message.source,
            body,
        });
        self.preempt(&partition, response)
    }

    fn direct_request2(&mut self, message: DirectMessage2) -> Return {
        let Some(partition) = self.partition(message.destination) else {
            return error(FfaError::InvalidParameters);
        };
        if partition.properties & (1 << 9) == 0 {
            return error(FfaError::Denied);
        }
        if !message.uuid.is_nil() && message.uuid != partition.uuid {
            return error(FfaError::InvalidParameters);
        }
        self.command(&message.payload);
        let response = Return::DirectResponse2(DirectMessage2 {
            source: message.destination,
            destination: message.source,
            uuid: Uuid::NIL,
            payload: message.payload.map(|word| word.wrapping_add(1)),
        });
        self.preempt(&partition, response)
    }
}

enum Answer {
    Return(Return),
    Deliver(Call),
}

pub const fn no_target() -> TargetInfo {
    NO_TARGET
}
