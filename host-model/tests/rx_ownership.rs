//! RX buffer ownership across FFA_MSG_WAIT on the whole stack (matrix D26): a partition that
//! waits with "retain" (w2 bit 0) still owns its RX buffer and can release it; one that waits
//! without it has given the buffer back, so a release is refused and a new message fits.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use conformance::server::{Answer, Command, Status};
use ffa_core::call::MsgWaitFlags;
use ffa_core::{Call, Conduit, EndpointId, FfaError, TargetInfo, VcpuId};
use host_model::endpoints::{secure_partition, test_uuid, with_indirect_messaging};
use host_model::suite::conformance_server;
use host_model::ModelBuilder;

/// What the receiving partition saw, step by step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// FFA_RX_RELEASE answered success.
    Released,
    /// FFA_RX_RELEASE answered this error.
    Refused(FfaError),
}

fn release(conduit: &mut host_model::ModelConduit) -> Seen {
    let answer = conduit.call(registers(Call::RxRelease { vm_id: EndpointId(0) }));
    error_in(&answer).map_or(Seen::Released, Seen::Refused)
}

fn wait(conduit: &mut host_model::ModelConduit, flags: MsgWaitFlags) {
    conduit.call(registers(Call::MsgWait { flags, is_64: false }));
}

/// SP2 (a conformance server) sends SP1 an indirect message.
fn send(driver: &mut ModelDriver, value: u64) -> Status {
    let order = Command::SendIndirect { destination: SP1, value };
    let answer = driver.direct_request_64(SP2, order.encode()).expect("REQ_64");
    Answer::decode(answer).status
}

/// FFA_RUN of SP1 from VM 1; the error, if it was refused.
fn resume(driver: &mut ModelDriver) -> Option<FfaError> {
    let run = Call::Run { target: TargetInfo { endpoint: SP1, vcpu: VcpuId(0) }, is_64: false };
    error_in(&driver.conduit().call(registers(run)))
}

#[test]
fn d26_msg_wait_with_retain_keeps_the_rx_buffer_and_without_it_gives_it_back() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorded = seen.clone();
    let receiver = move |conduit: host_model::ModelConduit, memory: host_model::GuestMemory| {
        let mut raw = conduit.clone();
        // Bring-up and buffers through the driver; then raw calls, one step per FFA_RUN.
        let _driver = driver_with_buffers(conduit, &memory);
        let note = |what: Seen| recorded.lock().unwrap().push(what);
        // Boot ends; the first message arrives while the partition waits.
        wait(&mut raw, MsgWaitFlags::empty());
        // Run 1: wait, keeping the RX buffer.
        wait(&mut raw, MsgWaitFlags::RETAIN_RX_BUFFER);
        // Run 2: it still owns the buffer, so the release succeeds, once.
        note(release(&mut raw));
        note(release(&mut raw));
        // The second message arrives while the partition waits.
        wait(&mut raw, MsgWaitFlags::empty());
        // Run 3: wait without retain, which gives the buffer back.
        wait(&mut raw, MsgWaitFlags::empty());
        // Run 4: nothing is owned any more.
        note(release(&mut raw));
        loop {
            wait(&mut raw, MsgWaitFlags::empty());
        }
    };
    let report = ModelBuilder::new()
        .partition(with_indirect_messaging(secure_partition(SP1.0, test_uuid(1))), receiver)
        .partition(
            with_indirect_messaging(secure_partition(SP2.0, test_uuid(2))),
            conformance_server,
        )
        .run(|conduit, _| {
            let mut driver = driver(conduit);
            let mut steps = vec![send(&mut driver, 1)];
            let runs_1_2 = [resume(&mut driver), resume(&mut driver)];
            // The retained buffer was released in run 2: a new message fits.
            steps.push(send(&mut driver, 2));
            let runs_3_4 = [resume(&mut driver), resume(&mut driver)];
            // Run 3's plain wait gave the buffer back: a new message fits again.
            steps.push(send(&mut driver, 3));
            (steps, runs_1_2, runs_3_4)
        })
        .expect("the model runs");
    let trace = report.trace_text();
    let (steps, runs_1_2, runs_3_4) = report.value;
    assert_eq!(steps, [Status::Done; 3], "{trace}");
    assert_eq!((runs_1_2, runs_3_4), ([None; 2], [None; 2]), "each FFA_RUN ends in a wait");
    assert_eq!(
        *seen.lock().unwrap(),
        [Seen::Released, Seen::Refused(FfaError::Denied), Seen::Refused(FfaError::Denied)]
    );
}
