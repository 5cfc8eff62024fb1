//! The server's loop: wait for a direct request, carry out its command through the guest
//! driver (or answer as the plain test service), respond, wait again.

use ffa_core::call::MsgWaitFlags;
use ffa_core::direct_message::{DirectBody, DirectMessage, DirectMessage2};
use ffa_core::framework_message::FrameworkMessage;
use ffa_core::memory::{
    build_transaction, AccessPermissions, Layout, MemoryRegionAttributes, ReceiverAccess,
    TransactionFields, TransactionFlags,
};
use ffa_core::notification::{GetFlags, NotificationBitmap, SetFlags};
use ffa_core::{Call, Conduit, EndpointId, FfaError, FunctionId, Uuid, VcpuId, Version};
use ffa_guest_driver::memory::RetrieveRequest;
use ffa_guest_driver::{
    Buffers, Driver, DriverError, ErrorKind, MemoryHandle, PageRange, Receiver,
};

use super::protocol::{Answer, Command, Status};
use crate::environment::AccessFault;

/// The server partition's memory: what it retrieved, at the addresses retrieve responses report.
pub trait ServerMemory {
    /// Reads `bytes.len()` bytes at `address`.
    fn read(&mut self, address: u64, bytes: &mut [u8]) -> Result<(), AccessFault>;
    /// Writes `bytes` at `address`.
    fn write(&mut self, address: u64, bytes: &[u8]) -> Result<(), AccessFault>;
    /// Whether a refused access comes back as [`AccessFault`] rather than stopping the
    /// partition ([`Command::Probe`] is refused otherwise).
    fn survives_faults(&self) -> bool;
}

/// Ranges the server remembers per retrieved handle.
const RANGES: usize = 8;
/// Handles the server remembers at once.
const HELD: usize = 4;
const PAGE: u64 = 4096;
/// The most pages [`Command::Write`] touches (an implementation could report huge ranges).
const WRITE_LIMIT: u64 = 4096;

/// The address of the last 8 bytes of the page at `page` (a fault when the implementation
/// reported a page at the very top of the address space).
fn last_word(page: u64) -> Result<u64, AccessFault> {
    page.checked_add(PAGE - 8).ok_or(AccessFault)
}

/// Memory the server retrieved.
#[derive(Debug, Clone, Copy)]
struct Held {
    handle: u64,
    ranges: [PageRange; RANGES],
    range_count: usize,
    /// Relinquished since (kept for [`Command::Probe`]).
    relinquished: bool,
}

impl Held {
    /// The address of the `index`-th page of the first ranges.
    fn page(&self, index: u64) -> Option<u64> {
        let mut skipped = 0u64;
        for range in self.ranges.iter().take(self.range_count.min(RANGES)) {
            let count = u64::from(range.page_count);
            if index < skipped + count {
                return range.address.checked_add((index - skipped) * PAGE);
            }
            skipped += count;
        }
        None
    }
}

/// What a server keeps between requests: the memory it retrieved. [`serve`] runs one in its
/// loop; a partition with a service loop of its own (other commands beside the suite's) keeps
/// one and hands it each DIRECT_REQ_64 ([`Server::answer`]).
pub struct Server<'m> {
    memory: &'m mut dyn ServerMemory,
    held: [Option<Held>; HELD],
    next: usize,
}

impl core::fmt::Debug for Server<'_> {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter.debug_struct("Server").field("held", &self.held).finish_non_exhaustive()
    }
}

/// The status of a failed driver call. A call FFA_FEATURES does not offer the server (the
/// driver does not send it) is reported as the NOT_SUPPORTED the call would get.
fn status_of(error: DriverError) -> Status {
    match error.kind {
        ErrorKind::Ffa(error) => Status::Ffa(error),
        ErrorKind::NotOffered => Status::Ffa(FfaError::NotSupported),
        _ => Status::DriverFailure,
    }
}

impl<'m> Server<'m> {
    /// A server holding nothing yet, touching retrieved memory through `memory`.
    pub fn new(memory: &'m mut dyn ServerMemory) -> Self {
        Self { memory, held: [None; HELD], next: 0 }
    }

    /// Carries out the [`Command`] in a DIRECT_REQ_64's x3-x7 and returns the response's
    /// x3-x7; `None` when x3 is no command word (the caller answers as it likes).
    pub fn answer<C: Conduit, B: Buffers>(
        &mut self,
        driver: &mut Driver<C, B>,
        words: [u64; 5],
    ) -> Option<[u64; 5]> {
        Command::decode(words).map(|command| self.handle(driver, command).encode())
    }

    fn find(&self, handle: u64) -> Option<Held> {
        self.held.iter().flatten().find(|held| held.handle == handle).copied()
    }

    fn live(&self, handle: u64) -> Option<Held> {
        self.find(handle).filter(|held| !held.relinquished)
    }

    fn remember(&mut self, held: Held) {
        let slot = self
            .held
            .iter()
            .position(|slot| slot.is_some_and(|old| old.handle == held.handle))
            .unwrap_or_else(|| {
                let slot = self.next % HELD;
                self.next += 1;
                slot
            });
        if let Some(entry) = self.held.get_mut(slot) {
            *entry = Some(held);
        }
    }

    fn handle<C: Conduit, B: Buffers>(
        &mut self,
        driver: &mut Driver<C, B>,
        command: Command,
    ) -> Answer {
        match command {
            Command::Retrieve { handle, sender, operation, permissions, tag, flags } => {
                let request = RetrieveRequest {
                    handle: MemoryHandle(handle),
                    sender,
                    operation,
                    tag,
                    permissions,
                };
                let mut ranges = [PageRange::default(); RANGES];
                match driver.memory_retrieve_with_flags(&request, flags, &mut ranges) {
                    Ok(got) => {
                        self.remember(Held {
                            handle,
                            ranges,
                            range_count: got.range_count,
                            relinquished: false,
                        });
                        let permissions = got.permissions.map_or(0, |granted| granted.to_byte());
                        Answer::done([
                            u64::from(got.total_pages) | (got.range_count as u64) << 32,
                            ranges.first().map_or(0, |range| range.address),
                            u64::from(got.flags),
                            u64::from(got.attributes.0) | u64::from(permissions) << 16,
                        ])
                    }
                    Err(error) => Answer::failed(status_of(error)),
                }
            }
            Command::Write { handle, value } => {
                let Some(held) = self.live(handle) else {
                    return Answer::failed(Status::UnknownHandle);
                };
                let mut index = 0;
                while let Some(page) = held.page(index).filter(|_| index < WRITE_LIMIT) {
                    let bytes = value.wrapping_add(index).to_le_bytes();
                    let written = self
                        .memory
                        .write(page, &bytes)
                        .and_then(|()| self.memory.write(last_word(page)?, &bytes));
                    if written.is_err() {
                        return Answer::failed(Status::AccessFault);
                    }
                    index += 1;
                }
                Answer::done([index, 0, 0, 0])
            }
            Command::Read { handle, page } => {
                let Some(address) = self.live(handle).and_then(|held| held.page(page)) else {
                    return Answer::failed(Status::UnknownHandle);
                };
                self.read_ends(address)
            }
            Command::Probe { handle } => {
                if !self.memory.survives_faults() {
                    return Answer::failed(Status::CannotProbe);
                }
                let Some(address) = self.find(handle).and_then(|held| held.page(0)) else {
                    return Answer::failed(Status::UnknownHandle);
                };
                self.read_ends(address)
            }
            Command::Relinquish { handle } => {
                match driver.memory_relinquish(MemoryHandle(handle)) {
                    Ok(()) => {
                        if let Some(mut held) = self.find(handle) {
                            held.relinquished = true;
                            self.remember(held);
                        }
                        Answer::done([0; 4])
                    }
                    Err(error) => Answer::failed(status_of(error)),
                }
            }
            Command::SendMemory { handle, receiver, operation } => {
                let Some(held) = self.live(handle) else {
                    return Answer::failed(Status::UnknownHandle);
                };
                let receivers =
                    [Receiver { id: receiver, permissions: AccessPermissions::READ_WRITE }];
                let ranges = held.ranges.get(..held.range_count.min(RANGES)).unwrap_or(&[]);
                let send = match operation {
                    ffa_guest_driver::MemoryOperation::Share => {
                        ffa_guest_driver::memory::MemorySend::share(&receivers, ranges)
                    }
                    ffa_guest_driver::MemoryOperation::Lend => {
                        ffa_guest_driver::memory::MemorySend::lend(&receivers, ranges)
                    }
                    ffa_guest_driver::MemoryOperation::Donate => {
                        ffa_guest_driver::memory::MemorySend::donate(&receivers, ranges)
                    }
                };
                match driver.memory_send(&send) {
                    Ok(sent) => Answer::done([sent.0, 0, 0, 0]),
                    Err(error) => Answer::failed(status_of(error)),
                }
            }
            Command::Reclaim { handle } => match driver.memory_reclaim(MemoryHandle(handle), false)
            {
                Ok(()) => Answer::done([0; 4]),
                Err(error) => Answer::failed(status_of(error)),
            },
            Command::Bind { sender, bitmap, per_vcpu } => Self::done_or(driver.notification_bind(
                sender,
                NotificationBitmap(bitmap),
                per_vcpu,
            )),
            Command::Unbind { sender, bitmap } => {
                Self::done_or(driver.notification_unbind(sender, NotificationBitmap(bitmap)))
            }
            Command::Set { receiver, bitmap, vcpu, delay_schedule_receiver } => {
                let flags = SetFlags {
                    per_vcpu: vcpu.is_some(),
                    delay_schedule_receiver,
                    vcpu: VcpuId(vcpu.unwrap_or(0)),
                };
                Self::done_or(driver.notification_set(receiver, NotificationBitmap(bitmap), flags))
            }
            Command::Get { vcpu, flags } => {
                let flags = GetFlags::from_bits_truncate(flags);
                match driver.notification_get(VcpuId(vcpu), flags) {
                    Ok(got) => Answer::done([
                        got.from_sp.0,
                        got.from_vm.0,
                        u64::from(got.spm_framework) | u64::from(got.hypervisor_framework) << 32,
                        0,
                    ]),
                    Err(error) => Answer::failed(status_of(error)),
                }
            }
            Command::RetrieveWithAttributes {
                handle,
                sender,
                operation,
                permissions,
                attributes,
                impdef,
            } => {
                let request = HandWrittenRetrieve {
                    handle,
                    sender,
                    operation,
                    permissions,
                    attributes,
                    impdef,
                    lengths: [0, 0],
                };
                request.make(driver)
            }
            Command::RetrieveWithLengths {
                handle,
                sender,
                operation,
                permissions,
                total_length,
                fragment_length,
            } => {
                let request = HandWrittenRetrieve {
                    handle,
                    sender,
                    operation,
                    permissions,
                    attributes: 0,
                    impdef: [0, 0],
                    lengths: [total_length, fragment_length],
                };
                request.make(driver)
            }
            Command::ServicingRules { other } => servicing_rules(driver, other),
            Command::RelinquishWithFlags { handle, flags } => {
                let answer = relinquish_with_flags(driver, handle, flags);
                if answer.status == Status::Done {
                    if let Some(mut held) = self.find(handle) {
                        held.relinquished = true;
                        self.remember(held);
                    }
                }
                answer
            }
            Command::Yield => {
                let version = driver.version();
                let target = ffa_core::TargetInfo { endpoint: driver.id(), vcpu: VcpuId(0) };
                let call = Call::Yield { target, timeout: 0, is_64: false };
                let resumed = driver.conduit().call(call.encode(version));
                match refusal_of(&resumed) {
                    Status::DriverFailure => Answer::done([resumed[0], 0, 0, 0]),
                    refused => Answer::failed(refused),
                }
            }
            Command::SendIndirect { destination, value } => {
                match driver.send_indirect(destination, Uuid::NIL, &value.to_le_bytes()) {
                    Ok(()) => Answer::done([0; 4]),
                    Err(error) => Answer::failed(status_of(error)),
                }
            }
            Command::ReceiveIndirect => {
                let mut payload = [0u8; 8];
                match driver.receive_indirect(&mut payload) {
                    Ok(message) => Answer::done([
                        u64::from(message.sender.0),
                        message.length as u64,
                        u64::from_le_bytes(payload),
                        0,
                    ]),
                    Err(error) => Answer::failed(status_of(error)),
                }
            }
        }
    }

    fn done_or(result: Result<(), DriverError>) -> Answer {
        match result {
            Ok(()) => Answer::done([0; 4]),
            Err(error) => Answer::failed(status_of(error)),
        }
    }

    fn read_ends(&mut self, address: u64) -> Answer {
        let (mut first, mut last) = ([0u8; 8], [0u8; 8]);
        let read = self
            .memory
            .read(address, &mut first)
            .and_then(|()| self.memory.read(last_word(address)?, &mut last));
        match read {
            Ok(()) => Answer::done([u64::from_le_bytes(first), u64::from_le_bytes(last), 0, 0]),
            Err(AccessFault) => Answer::failed(Status::AccessFault),
        }
    }
}

/// The status of a call's answer that should be a refusal: the error of an FFA_ERROR, a
/// driver failure for anything else.
fn refusal_of(answer: &[u64; 18]) -> Status {
    if answer[0] == FFA_ERROR {
        FfaError::from_register(answer[2]).map_or(Status::DriverFailure, Status::Ffa)
    } else {
        Status::DriverFailure
    }
}

/// [`Command::ServicingRules`]: three calls a partition servicing a request may not make.
fn servicing_rules<C: Conduit, B: Buffers>(driver: &mut Driver<C, B>, other: EndpointId) -> Answer {
    let version = driver.version();
    let own = driver.id();
    let response = |destination| {
        Call::MsgSendDirectResp(DirectMessage {
            source: own,
            destination,
            body: DirectBody::Partition64([0; 5]),
        })
    };
    let calls = [
        Call::MsgWait { flags: MsgWaitFlags::empty(), is_64: false },
        response(own),
        response(other),
    ];
    let mut statuses = [0u64; 4];
    for (status, call) in statuses.iter_mut().zip(calls) {
        let answer = driver.conduit().call(call.encode(version));
        *status = refusal_of(&answer).to_word();
    }
    Answer::done(statuses)
}

/// The length of a relinquish descriptor naming one endpoint (reference §7.8: handle, flags,
/// endpoint count, then the 16-bit IDs).
const RELINQUISH_LENGTH: usize = 8 + 4 + 4 + 2;

/// [`Command::RelinquishWithFlags`]: the descriptor written by hand, so any flags word fits.
fn relinquish_with_flags<C: Conduit, B: Buffers>(
    driver: &mut Driver<C, B>,
    handle: u64,
    flags: u32,
) -> Answer {
    let own = driver.id();
    let Some(buffers) = driver.buffers_mut() else {
        return Answer::failed(Status::DriverFailure);
    };
    let written = buffers.with_tx(|tx| {
        let descriptor = tx.get_mut(..RELINQUISH_LENGTH)?;
        let (handle_bytes, rest) = descriptor.split_at_mut(8);
        let (flags_bytes, rest) = rest.split_at_mut(4);
        let (count_bytes, endpoint_bytes) = rest.split_at_mut(4);
        handle_bytes.copy_from_slice(&handle.to_le_bytes());
        flags_bytes.copy_from_slice(&flags.to_le_bytes());
        count_bytes.copy_from_slice(&1u32.to_le_bytes());
        endpoint_bytes.copy_from_slice(&own.0.to_le_bytes());
        Some(())
    });
    if written.is_none() {
        return Answer::failed(Status::DriverFailure);
    }
    let mut registers = [0u64; 18];
    registers[0] = FFA_MEM_RELINQUISH;
    let answer = driver.conduit().call(registers);
    match answer[0] {
        FFA_SUCCESS_32 => Answer::done([0; 4]),
        _ => Answer::failed(refusal_of(&answer)),
    }
}

/// [`Command::RetrieveWithAttributes`] and [`Command::RetrieveWithLengths`], carried out.
struct HandWrittenRetrieve {
    handle: u64,
    sender: EndpointId,
    operation: Option<ffa_guest_driver::MemoryOperation>,
    permissions: AccessPermissions,
    attributes: u16,
    impdef: [u64; 2],
    /// The total and fragment lengths the call claims (0: the real length).
    lengths: [u32; 2],
}

const FFA_SUCCESS_32: u64 = 0x8400_0061;
const FFA_MEM_RELINQUISH: u64 = 0x8400_0076;
const FFA_ERROR: u64 = 0x8400_0060;
const FFA_RX_RELEASE: u64 = 0x8400_0065;
const FFA_MEM_RETRIEVE_REQ_32: u64 = 0x8400_0074;
const FFA_MEM_RETRIEVE_RESP: u64 = 0x8400_0075;

impl HandWrittenRetrieve {
    /// Writes the request into the TX buffer, sends it, and undoes a grant.
    fn make<C: Conduit, B: Buffers>(&self, driver: &mut Driver<C, B>) -> Answer {
        let Ok(attributes) = MemoryRegionAttributes::from_v1_1(self.attributes) else {
            return Answer::failed(Status::DriverFailure);
        };
        let version = driver.version();
        let layout = if version >= Version::V1_2 {
            Layout::V1_2
        } else if version >= Version::V1_1 {
            Layout::V1_1
        } else {
            Layout::V1_0
        };
        let type_bits = match self.operation {
            None => 0,
            Some(ffa_guest_driver::MemoryOperation::Share) => 1 << 3,
            Some(ffa_guest_driver::MemoryOperation::Lend) => 2 << 3,
            Some(ffa_guest_driver::MemoryOperation::Donate) => 3 << 3,
        };
        let fields = TransactionFields {
            sender: self.sender,
            attributes,
            flags: TransactionFlags(type_bits),
            handle: ffa_core::memory::MemoryHandle(self.handle),
            tag: 0,
        };
        let mut access = ReceiverAccess::new(driver.id(), self.permissions);
        access.impdef = self.impdef;
        let Some(buffers) = driver.buffers_mut() else {
            return Answer::failed(Status::DriverFailure);
        };
        let written = buffers.with_tx(|tx| build_transaction(tx, layout, &fields, &[access], &[]));
        let Ok(length) = written else { return Answer::failed(Status::DriverFailure) };
        let mut registers = [0u64; 18];
        let claimed = |claim: u32| if claim == 0 { length as u64 } else { u64::from(claim) };
        let [total, fragment] = self.lengths;
        registers[..3].copy_from_slice(&[
            FFA_MEM_RETRIEVE_REQ_32,
            claimed(total),
            claimed(fragment),
        ]);
        let answer = driver.conduit().call(registers);
        match answer[0] {
            FFA_MEM_RETRIEVE_RESP => {
                // Granted: give the RX buffer and the memory back, so nothing changed.
                let mut release = [0u64; 18];
                release[0] = FFA_RX_RELEASE;
                let _ = driver.conduit().call(release);
                match driver.memory_relinquish(MemoryHandle(self.handle)) {
                    Ok(()) => Answer::done([0; 4]),
                    Err(error) => Answer::failed(status_of(error)),
                }
            }
            FFA_ERROR => FfaError::from_register(answer[2])
                .map_or(Answer::failed(Status::DriverFailure), |error| {
                    Answer::failed(Status::Ffa(error))
                }),
            _ => Answer::failed(Status::DriverFailure),
        }
    }
}

/// Adds 1 to the first word, as the plain test service answers.
fn plus_one<T: Copy, const N: usize>(mut words: [T; N], add: impl Fn(T) -> T) -> [T; N] {
    if let Some(first) = words.first_mut() {
        *first = add(*first);
    }
    words
}

/// Runs the server on a brought-up driver with RX/TX buffers mapped: waits for direct requests
/// and answers each, forever. A DIRECT_REQ_64 whose x3 is a [`Command`] word carries out the
/// command; any other direct request is answered as the plain test service does (w3/x3/x4 + 1,
/// the rest echoed). VM created/destroyed messages are acknowledged. Returns only when the
/// partition manager answers something the loop cannot go on from.
pub fn serve<C: Conduit, B: Buffers>(
    driver: &mut Driver<C, B>,
    memory: &mut dyn ServerMemory,
) -> DriverError {
    let version = driver.version();
    let own = driver.id();
    let mut server = Server::new(memory);
    let wait = Call::MsgWait { flags: MsgWaitFlags::empty(), is_64: false };
    let mut reply = wait;
    loop {
        let registers = driver.conduit().call(reply.encode(version));
        let incoming = match Call::decode(&registers, version) {
            Ok(Call::Error { error, .. }) => {
                return DriverError::new(reply.function_id(), ErrorKind::Ffa(error))
            }
            Ok(incoming) => incoming,
            Err(_) => {
                return DriverError::new(
                    FunctionId::MsgWait32,
                    ErrorKind::UnexpectedResponse(registers[0] as u32),
                )
            }
        };
        let respond = |destination: EndpointId, body| {
            Call::MsgSendDirectResp(DirectMessage { source: own, destination, body })
        };
        reply = match incoming {
            Call::MsgSendDirectReq(DirectMessage { source, body, .. }) => match body {
                DirectBody::Partition32(words) => {
                    respond(source, DirectBody::Partition32(plus_one(words, |w| w.wrapping_add(1))))
                }
                DirectBody::Partition64(words) => {
                    let answer = server
                        .answer(driver, words)
                        .unwrap_or_else(|| plus_one(words, |w| w.wrapping_add(1)));
                    respond(source, DirectBody::Partition64(answer))
                }
                DirectBody::Framework32(message) | DirectBody::Framework64(message) => {
                    let answer = match message {
                        FrameworkMessage::VmCreated { .. } => {
                            FrameworkMessage::VmCreatedResponse(Ok(()))
                        }
                        FrameworkMessage::VmDestroyed { .. } => {
                            FrameworkMessage::VmDestroyedResponse(Ok(()))
                        }
                        _ => FrameworkMessage::PowerManagementResponse { status: 0 },
                    };
                    let body = if body.is_64bit() {
                        DirectBody::Framework64(answer)
                    } else {
                        DirectBody::Framework32(answer)
                    };
                    respond(source, body)
                }
            },
            Call::MsgSendDirectReq2(DirectMessage2 { source, payload, .. }) => {
                Call::MsgSendDirectResp2(DirectMessage2 {
                    source: own,
                    destination: source,
                    uuid: Uuid::NIL,
                    payload: plus_one(payload, |w| w.wrapping_add(1)),
                })
            }
            Call::Run { .. } | Call::Interrupt { .. } => wait,
            other => {
                return DriverError::new(
                    FunctionId::MsgWait32,
                    ErrorKind::UnexpectedResponse(other.function_id().value()),
                )
            }
        };
    }
}
