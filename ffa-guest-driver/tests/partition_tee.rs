//! Partition side (serve loop, framework messages) and the TEE-agnostic layer (channels,
//! commands with memory parameters, registered and pool memory, release while borrowed).
#![allow(clippy::unwrap_used, reason = "test helpers: a failed expectation is a panic")]

mod common;

use common::{
    Firmware, TestBuffers, COMMAND_RETAIN, COMMAND_RETURN, ECHO_UUID, SMALL_UUID, YIELD_UUID,
};
use ffa_core::direct_message::{DirectBody, DirectMessage, DirectMessage2};
use ffa_core::framework_message::FrameworkMessage;
use ffa_core::{Call, EndpointId, FfaError, FunctionId, TargetInfo, Uuid, VcpuId};
use ffa_guest_driver::partition::{answer_message, RequestHandler, Wakeup};
use ffa_guest_driver::tee::{Channel, ContiguousPool, Parameter, Transport};
use ffa_guest_driver::{AccessPermissions, Driver, ErrorKind, PageRange};

type TestDriver = Driver<Firmware, TestBuffers>;

#[derive(Default)]
struct Service {
    created: Vec<EndpointId>,
    destroyed: Vec<EndpointId>,
    psci: Vec<u32>,
    wakeups: Vec<Wakeup>,
}

impl RequestHandler for Service {
    fn direct_request_32(&mut self, _source: EndpointId, payload: [u32; 5]) -> [u32; 5] {
        payload.map(|word| word * 2)
    }
    fn direct_request2(
        &mut self,
        _source: EndpointId,
        uuid: Uuid,
        payload: [u64; 14],
    ) -> [u64; 14] {
        let mut answer = payload;
        answer[0] = u64::from(uuid.0[0]);
        answer
    }
    fn vm_created(&mut self, vm: EndpointId, _handle: u64) -> Result<(), FfaError> {
        self.created.push(vm);
        Ok(())
    }
    fn vm_destroyed(&mut self, vm: EndpointId, _handle: u64) -> Result<(), FfaError> {
        self.destroyed.push(vm);
        Err(FfaError::Retry)
    }
    fn psci(&mut self, function: u32, _arguments: [u64; 3]) -> i32 {
        self.psci.push(function);
        0
    }
    fn woken(&mut self, wakeup: Wakeup) {
        self.wakeups.push(wakeup);
    }
}

#[test]
fn serve_answers_requests_and_framework_messages_until_the_manager_fails() {
    let firmware = Firmware::new();
    firmware.model().caller_id = 0x8001;
    let mut driver = TestDriver::new(firmware.clone()).unwrap();
    let me = EndpointId(0x8001);
    let from = |source: u16, body| {
        Call::MsgSendDirectReq(DirectMessage { source: EndpointId(source), destination: me, body })
    };
    firmware.model().incoming.extend([
        from(1, DirectBody::Partition32([1, 2, 3, 4, 5])),
        from(
            0,
            DirectBody::Framework32(FrameworkMessage::VmCreated {
                handle: 0,
                vm_id: EndpointId(7),
            }),
        ),
        Call::Interrupt {
            target: TargetInfo { endpoint: me, vcpu: VcpuId(0) },
            interrupt_id: 33,
            is_64: false,
        },
        Call::MsgSendDirectReq2(DirectMessage2 {
            source: EndpointId(2),
            destination: me,
            uuid: Uuid([9; 16]),
            payload: [5; 14],
        }),
        from(
            0,
            DirectBody::Framework64(FrameworkMessage::VmDestroyed {
                handle: 0,
                vm_id: EndpointId(7),
            }),
        ),
        from(
            0xFFFF,
            DirectBody::Framework32(FrameworkMessage::PsciRequest {
                function: 0x8400_0002,
                arguments: [0; 3],
            }),
        ),
        Call::Run { target: TargetInfo { endpoint: me, vcpu: VcpuId(0) }, is_64: false },
    ]);
    let mut service = Service::default();
    let error = driver.serve(&mut service).unwrap_err();
    // The double answers FFA_ERROR(ABORTED) once its script runs out: that ends the loop.
    assert_eq!(error.kind, ErrorKind::Ffa(FfaError::Aborted));
    assert_eq!(error.call, FunctionId::MsgWait32);
    let responses = firmware.model().responses.clone();
    let to = |destination: u16, body| {
        Call::MsgSendDirectResp(DirectMessage {
            source: me,
            destination: EndpointId(destination),
            body,
        })
    };
    let mut expected2 = [5u64; 14];
    expected2[0] = 9;
    assert_eq!(
        responses,
        vec![
            to(1, DirectBody::Partition32([2, 4, 6, 8, 10])),
            to(0, DirectBody::Framework32(FrameworkMessage::VmCreatedResponse(Ok(())))),
            Call::MsgSendDirectResp2(DirectMessage2 {
                source: me,
                destination: EndpointId(2),
                uuid: Uuid::NIL,
                payload: expected2
            }),
            to(
                0,
                DirectBody::Framework64(FrameworkMessage::VmDestroyedResponse(Err(
                    FfaError::Retry
                )))
            ),
            to(
                0xFFFF,
                DirectBody::Framework32(FrameworkMessage::PowerManagementResponse { status: 0 })
            ),
        ]
    );
    assert_eq!(service.created, vec![EndpointId(7)]);
    assert_eq!(service.psci, vec![0x8400_0002]);
    assert_eq!(service.wakeups, vec![Wakeup::Interrupt(33), Wakeup::Run]);
}

/// A handler that uses the driver while it answers (what `serve` cannot lend it).
struct Borrowing<'a> {
    driver: &'a mut TestDriver,
}

impl RequestHandler for Borrowing<'_> {
    fn direct_request_64(&mut self, _source: EndpointId, payload: [u64; 5]) -> [u64; 5] {
        let id = u64::from(self.driver.id().0);
        [payload[0] + 1, id, 0, 0, 0]
    }
}

#[test]
fn a_partition_loop_of_its_own_answers_as_serve_does() {
    let firmware = Firmware::new();
    firmware.model().caller_id = 0x8001;
    let mut driver = TestDriver::new(firmware.clone()).unwrap();
    let me = EndpointId(0x8001);
    firmware.model().incoming.extend([
        Call::MsgSendDirectReq(DirectMessage {
            source: EndpointId(1),
            destination: me,
            body: DirectBody::Partition64([41, 0, 0, 0, 0]),
        }),
        Call::Run { target: TargetInfo { endpoint: me, vcpu: VcpuId(0) }, is_64: false },
    ]);
    let wait = Call::MsgWait { flags: ffa_core::call::MsgWaitFlags::empty(), is_64: false };
    let mut reply = wait;
    let mut sent = Vec::new();
    let error = loop {
        let incoming = match driver.next_message(&reply) {
            Ok(incoming) => incoming,
            Err(error) => break error,
        };
        let own = driver.id();
        reply = answer_message(own, &mut Borrowing { driver: &mut driver }, &incoming).unwrap();
        sent.push(reply);
    };
    assert_eq!(error.kind, ErrorKind::Ffa(FfaError::Aborted));
    assert_eq!(
        sent,
        vec![
            Call::MsgSendDirectResp(DirectMessage {
                source: me,
                destination: EndpointId(1),
                body: DirectBody::Partition64([42, 0x8001, 0, 0, 0]),
            }),
            wait,
        ]
    );
    // FFA_RUN needs no response: the loop waits again.
    assert_eq!(firmware.model().responses.len(), 1);
}

fn client(firmware: &Firmware) -> TestDriver {
    let mut driver = TestDriver::new(firmware.clone()).unwrap();
    let buffers = TestBuffers::new(0x4000_0000, 0x4000_1000, 4096);
    firmware.attach(&buffers);
    driver.map_buffers(buffers).unwrap();
    driver
}

#[test]
fn channels_pick_the_widest_transport() {
    let firmware = Firmware::new();
    let mut driver = client(&firmware);
    let echo = Channel::open(&mut driver, Uuid::parse(ECHO_UUID).unwrap()).unwrap();
    assert_eq!(echo.transport(), Transport::Request2);
    assert_eq!(echo.partition().id, EndpointId(0x8001));
    let aarch64 = Channel::open(&mut driver, Uuid::parse(YIELD_UUID).unwrap()).unwrap();
    assert_eq!(aarch64.transport(), Transport::Direct64);
    let small = Channel::open(&mut driver, Uuid::parse(SMALL_UUID).unwrap()).unwrap();
    assert_eq!(small.transport(), Transport::Direct32);
    let missing =
        Channel::open(&mut driver, Uuid::parse("00000000-0000-0000-0000-000000000099").unwrap());
    assert_eq!(missing.unwrap_err().kind, ErrorKind::PartitionNotFound);
    // Every transport carries a command and gets the echo back (+1 per register word; the
    // 32-bit transport splits each word into two halves, each incremented).
    for channel in [echo, aarch64, small] {
        let reply = channel.invoke(&mut driver, 41, &[Parameter::Value(1 << 33)]).unwrap();
        let expected = match channel.transport() {
            Transport::Direct32 => [1 << 32 | 42, 3 << 32 | 1],
            _ => [42, (1 << 33) + 1],
        };
        assert_eq!(&reply.words()[..2], &expected, "{:?}", channel.transport());
        assert_eq!(reply.words().len(), channel.transport().capacity());
    }
    let too_many = [Parameter::Value(0); 5];
    let error = aarch64.invoke(&mut driver, 0, &too_many).unwrap_err();
    assert!(matches!(error.kind, ErrorKind::InvalidArgument(_)));
}

#[test]
fn registered_memory_is_shared_referenced_and_not_released_while_borrowed() {
    let firmware = Firmware::new();
    let mut driver = client(&firmware);
    let channel = Channel::open(&mut driver, Uuid::parse(ECHO_UUID).unwrap()).unwrap();
    let pages = [
        PageRange { address: 0x9000_0000, page_count: 2 },
        PageRange { address: 0x9100_0000, page_count: 1 },
    ];
    let memory =
        channel.register_memory(&mut driver, &pages, AccessPermissions::READ_WRITE).unwrap();
    assert_eq!(memory.page_count(), 3);
    let handle = memory.handle();
    assert_eq!(
        firmware.model().transactions[&handle.0].ranges,
        vec![(0x9000_0000, 2), (0x9100_0000, 1)]
    );
    // The partition keeps the memory (as a TEE would for a registered buffer).
    channel.invoke(&mut driver, COMMAND_RETAIN, &[Parameter::Memory(&memory)]).unwrap();
    let failed = memory.release(&mut driver).unwrap_err();
    assert_eq!(failed.error.call, FunctionId::MemReclaim);
    assert_eq!(failed.error.kind, ErrorKind::Ffa(FfaError::Denied));
    let memory = failed.memory;
    assert!(firmware.model().transactions.contains_key(&handle.0), "still shared, not leaked");
    // A region parameter outside the object is refused locally.
    let outside = Parameter::MemoryRegion { memory: &memory, offset: 3 * 4096, length: 1 };
    assert!(channel.invoke(&mut driver, 0, &[outside]).is_err());
    let inside = Parameter::MemoryRegion { memory: &memory, offset: 4096, length: 8192 };
    let reply = channel.invoke(&mut driver, COMMAND_RETURN, &[inside]).unwrap();
    assert_eq!(reply.words()[1], handle.0 + 1);
    memory.release(&mut driver).unwrap();
    assert!(firmware.model().transactions.is_empty());
}

#[test]
fn pool_memory_is_contiguous_and_returns_to_the_pool() {
    let firmware = Firmware::new();
    let mut driver = client(&firmware);
    let channel = Channel::open(&mut driver, Uuid::parse(ECHO_UUID).unwrap()).unwrap();
    let other = Channel::open(&mut driver, Uuid::parse(YIELD_UUID).unwrap()).unwrap();
    let mut pool = ContiguousPool::<1>::new(0xA000_0000, 16).unwrap();
    let first =
        channel.allocate_memory(&mut driver, &mut pool, 4, AccessPermissions::READ_WRITE).unwrap();
    let second =
        channel.allocate_memory(&mut driver, &mut pool, 8, AccessPermissions::READ_ONLY).unwrap();
    assert_eq!(pool.free_pages(), 4);
    assert_eq!(firmware.model().transactions[&second.handle().0].ranges, vec![(0xA000_4000, 8)]);
    assert_eq!(firmware.model().transactions[&second.handle().0].receivers, vec![(0x8001, 0x01)]);
    // Memory shared with one partition cannot be passed to another.
    let error = other.invoke(&mut driver, 0, &[Parameter::Memory(&first)]).unwrap_err();
    assert!(matches!(error.kind, ErrorKind::InvalidArgument(_)));
    // Pool memory cannot be released as registered memory.
    let first = first.release(&mut driver).unwrap_err().memory;
    channel.invoke(&mut driver, COMMAND_RETAIN, &[Parameter::Memory(&first)]).unwrap();
    let first = pool.release(&mut driver, first).unwrap_err();
    assert!(first.error.is(FfaError::Denied));
    assert_eq!(pool.free_pages(), 4, "pages stay allocated while borrowed");
    channel.invoke(&mut driver, COMMAND_RETURN, &[Parameter::Memory(&first.memory)]).unwrap();
    pool.release(&mut driver, first.memory).unwrap();
    pool.release(&mut driver, second).unwrap();
    assert_eq!(pool.free_pages(), 16);
    assert!(firmware.model().transactions.is_empty());
    let error = channel
        .allocate_memory(&mut driver, &mut pool, 17, AccessPermissions::READ_WRITE)
        .unwrap_err();
    assert!(matches!(error.kind, ErrorKind::InvalidArgument(_)));
}
