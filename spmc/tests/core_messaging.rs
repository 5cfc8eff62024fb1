//! Direct-messaging rows of the conformance matrix (M01-M14) against the core in both roles,
//! plus aborts, preemption and forwarding.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

#[path = "core_harness.rs"]
mod harness;

use ffa_core::call::{MsgWaitFlags, Return};
use ffa_core::direct_message::{DirectBody, DirectMessage, DirectMessage2};
use ffa_core::{Call, EndpointId, FfaError, FunctionId, Uuid, Version};
use harness::*;
use spmc::manifest::MessagingMethod;
use spmc::partition_manager::{
    Configuration, ContextState, EndpointDescription, FeatureInterrupts, Role, Transfer,
};

#[test]
fn m01_direct_requests_deliver_payload_and_responses_return() {
    let manager = booted_spmc();
    // VM -> SP over SMC32: the SP sees w3-w7 with the upper halves cleared.
    let mut registers = request32(VM1, SP1, [1, 2, 3, 4, 5]).encode(Version::V1_2);
    registers[3] |= 0xDEAD_0000_0000_0000;
    registers[9] = 0x1234;
    let delivery = manager.handle(nwd(2), &registers);
    assert_eq!((delivery.to, delivery.transfer), (ec(SP1, 0), Transfer::Enter));
    assert_eq!(&delivery.registers[3..8], &[1, 2, 3, 4, 5]);
    assert_eq!(delivery.registers[9], 0, "no register leaks to the receiver");
    assert_eq!(
        manager.context_state(ec(SP1, 0)),
        Some(ContextState::Running { cpu: 2, booting: false })
    );

    // SP -> SP inside the request: SP1 blocks, SP2 runs on the same CPU.
    let inner = call(&manager, ec(SP1, 0), request32(SP1, SP2, [6, 7, 8, 9, 10]));
    assert_eq!(inner.to, ec(SP2, 0));
    assert_eq!(manager.context_state(ec(SP1, 0)), Some(ContextState::Blocked { cpu: 2 }));
    let back = call(&manager, ec(SP2, 0), response32(SP2, SP1, [11; 5]));
    assert_eq!(back.to, ec(SP1, 0));
    assert_eq!(returned(&back, Version::V1_2), response32(SP2, SP1, [11; 5]).try_into_return());
    assert_eq!(manager.context_state(ec(SP2, 0)), Some(ContextState::Waiting));

    // The response to the VM goes back to the other world on CPU 2.
    let done = call(&manager, ec(SP1, 0), response32(SP1, VM1, [12; 5]));
    assert_eq!((done.to, done.transfer), (ec(VM1, 2), Transfer::OtherWorld));
    assert_eq!(&done.registers[3..8], &[12; 5]);
    assert_eq!(manager.context_state(ec(SP1, 0)), Some(ContextState::Waiting));

    // SMC64 requests carry 64-bit words.
    let wide = Call::MsgSendDirectReq(DirectMessage {
        source: NWD,
        destination: SP3,
        body: DirectBody::Partition64([u64::MAX, 2, 3, 4, 5]),
    });
    let delivery = call(&manager, nwd(0), wide);
    assert_eq!(delivery.registers[0], FunctionId::MsgSendDirectReq64.to_register());
    assert_eq!(delivery.registers[3], u64::MAX);
}

trait IntoReturn {
    fn try_into_return(self) -> Return;
}

impl IntoReturn for Call {
    fn try_into_return(self) -> Return {
        Return::from_call(self).unwrap()
    }
}

#[test]
fn m02_source_other_than_the_caller_is_invalid() {
    let manager = booted_spmc();
    call(&manager, nwd(0), request32(NWD, SP1, [0; 5]));
    let spoofed = call(&manager, ec(SP1, 0), request32(SP3, SP2, [0; 5]));
    assert_error(&spoofed, ec(SP1, 0), FfaError::InvalidParameters);
    // From the normal world a secure (or unknown) source is refused too.
    let from_nwd = call(&manager, nwd(1), request32(SP3, SP2, [0; 5]));
    assert_error(&from_nwd, nwd(1), FfaError::InvalidParameters);
    let unknown = call(&manager, nwd(1), request32(EndpointId(0x77), SP2, [0; 5]));
    assert_error(&unknown, nwd(1), FfaError::InvalidParameters);
}

#[test]
fn m03_source_equal_to_destination_is_invalid() {
    let manager = booted_spmc();
    call(&manager, nwd(0), request32(NWD, SP1, [0; 5]));
    let mut registers = request32(SP1, SP2, [0; 5]).encode(Version::V1_2);
    registers[1] = u64::from(SP1.0) << 16 | u64::from(SP1.0);
    let delivery = manager.handle(ec(SP1, 0), &registers);
    assert_error(&delivery, ec(SP1, 0), FfaError::InvalidParameters);
}

#[test]
fn m04_flags_must_be_zero_up_to_v1_1() {
    let manager = booted_spmc();
    call(&manager, nwd(0), request32(NWD, SP4, [0; 5]));
    // SP4 negotiated v1.1.
    let mut registers = request32(SP4, SP1, [0; 5]).encode(Version::V1_1);
    registers[2] = 1;
    assert_error(&manager.handle(ec(SP4, 0), &registers), ec(SP4, 0), FfaError::InvalidParameters);
    manager.check_invariants().unwrap();
}

#[test]
fn m05_response_with_wrong_endpoints_is_invalid() {
    let manager = booted_spmc();
    call(&manager, nwd(0), request32(NWD, SP1, [0; 5]));
    let wrong_destination = call(&manager, ec(SP1, 0), response32(SP1, VM1, [0; 5]));
    assert_error(&wrong_destination, ec(SP1, 0), FfaError::InvalidParameters);
    let wrong_source = call(&manager, ec(SP1, 0), response32(SP2, NWD, [0; 5]));
    assert_error(&wrong_source, ec(SP1, 0), FfaError::InvalidParameters);
    let mut same = response32(SP1, NWD, [0; 5]).encode(Version::V1_2);
    same[1] = u64::from(SP1.0) << 16 | u64::from(SP1.0);
    assert_error(&manager.handle(ec(SP1, 0), &same), ec(SP1, 0), FfaError::InvalidParameters);
    // A REQ answered with RESP2 does not match either.
    assert_error(
        &call(&manager, ec(SP1, 0), response2(SP1, NWD)),
        ec(SP1, 0),
        FfaError::InvalidParameters,
    );
    // The right response still works afterwards.
    let done = call(&manager, ec(SP1, 0), response32(SP1, NWD, [0; 5]));
    assert_eq!(done.to, nwd(0));
    assert_eq!(done.registers[0], FunctionId::MsgSendDirectResp32.to_register());
}

#[test]
fn m06_response_without_a_pending_request_is_an_error() {
    let manager = booted_spmc();
    let from_nwd = call(&manager, nwd(0), response32(NWD, SP1, [0; 5]));
    assert_error(&from_nwd, nwd(0), FfaError::Denied);
    // A partition run by FFA_RUN services no request either.
    call(&manager, nwd(0), Call::Run { target: ec(SP2, 0).target_info(), is_64: false });
    assert_error(
        &call(&manager, ec(SP2, 0), response32(SP2, NWD, [0; 5])),
        ec(SP2, 0),
        FfaError::Denied,
    );
}

#[test]
fn m07_msg_wait_while_servicing_is_denied_and_yield_resumes_with_run() {
    let manager = booted_spmc();
    call(&manager, nwd(1), request32(NWD, SP1, [0; 5]));
    let wait =
        call(&manager, ec(SP1, 0), Call::MsgWait { flags: MsgWaitFlags::empty(), is_64: false });
    assert_error(&wait, ec(SP1, 0), FfaError::Denied);
    // v1.1+: FFA_YIELD goes to the requester with the target information.
    let yielded = call(
        &manager,
        ec(SP1, 0),
        Call::Yield { target: ffa_core::call::NO_TARGET, timeout: 0, is_64: false },
    );
    assert_eq!((yielded.to, yielded.transfer), (nwd(1), Transfer::OtherWorld));
    assert_eq!(yielded.registers[0], FunctionId::Yield32.to_register());
    assert_eq!(yielded.registers[1], ec(SP1, 0).target_info().to_register());
    assert_eq!(manager.context_state(ec(SP1, 0)), Some(ContextState::Preempted));
    // FFA_RUN (on another CPU: SP1 is UP and migrates) resumes it; FFA_YIELD returns SUCCESS.
    let resumed =
        call(&manager, nwd(3), Call::Run { target: ec(SP1, 0).target_info(), is_64: false });
    assert_eq!((resumed.to, resumed.transfer), (ec(SP1, 0), Transfer::Enter));
    assert_eq!(resumed.registers[0], FunctionId::Success32.to_register());
    let done = call(&manager, ec(SP1, 0), response32(SP1, NWD, [4; 5]));
    assert_eq!(done.to, nwd(3));
}

#[test]
fn m07_yield_at_v1_0_while_servicing_is_refused() {
    let manager = booted_spmc();
    call(&manager, nwd(0), request32(NWD, SP6, [0; 5]));
    let yielded = manager.handle(
        ec(SP6, 0),
        &Call::Yield { target: ffa_core::call::NO_TARGET, timeout: 0, is_64: false }
            .encode(Version::V1_0),
    );
    assert_error(&yielded, ec(SP6, 0), FfaError::Denied);
    assert!(matches!(manager.context_state(ec(SP6, 0)), Some(ContextState::Running { .. })));
}

#[test]
fn m08_target_without_direct_receipt_is_denied() {
    let manager = booted_spmc();
    assert_error(&call(&manager, nwd(0), request32(NWD, SP5, [0; 5])), nwd(0), FfaError::Denied);
    // SP4 cannot receive DIRECT_REQ2.
    assert_error(&call(&manager, nwd(0), request2(NWD, SP4, Uuid::NIL)), nwd(0), FfaError::Denied);
}

#[test]
fn m09_secure_partition_to_normal_world_request_is_invalid() {
    let manager = booted_spmc();
    call(&manager, nwd(0), request32(NWD, SP1, [0; 5]));
    assert_error(
        &call(&manager, ec(SP1, 0), request32(SP1, VM1, [0; 5])),
        ec(SP1, 0),
        FfaError::InvalidParameters,
    );
    let wide = Call::MsgSendDirectReq(DirectMessage {
        source: SP1,
        destination: NWD,
        body: DirectBody::Partition64([0; 5]),
    });
    assert_error(&call(&manager, ec(SP1, 0), wide), ec(SP1, 0), FfaError::InvalidParameters);
}

#[test]
fn m10_request2_checks_uuid_and_msg_wait_is_denied_while_servicing() {
    let manager = booted_spmc();
    assert_error(
        &call(&manager, nwd(0), request2(NWD, SP2, uuid(3))),
        nwd(0),
        FfaError::InvalidParameters,
    );
    assert_error(
        &call(&manager, nwd(0), request2(SP1, SP2, uuid(2))),
        nwd(0),
        FfaError::InvalidParameters,
    );
    let delivered = call(&manager, nwd(0), request2(NWD, SP2, uuid(2)));
    assert_eq!(delivered.to, ec(SP2, 0));
    assert_eq!(delivered.registers[17], 7, "x4-x17 payload delivered");
    let wait =
        call(&manager, ec(SP2, 0), Call::MsgWait { flags: MsgWaitFlags::empty(), is_64: false });
    assert_error(&wait, ec(SP2, 0), FfaError::Denied);
    assert_error(
        &call(&manager, ec(SP2, 0), response2(SP2, VM1)),
        ec(SP2, 0),
        FfaError::InvalidParameters,
    );
    let done = call(&manager, ec(SP2, 0), response2(SP2, NWD));
    assert_eq!(done.to, nwd(0));
    assert_eq!(
        returned(&done, Version::V1_2),
        Return::DirectResponse2(DirectMessage2 {
            source: SP2,
            destination: NWD,
            uuid: Uuid::NIL,
            payload: [9; 14]
        })
    );
    // Nil UUID is always accepted.
    assert_eq!(call(&manager, nwd(0), request2(NWD, SP2, Uuid::NIL)).to, ec(SP2, 0));
}

#[test]
fn m11_request_to_a_preempted_partition_is_busy() {
    let manager = booted_spmc();
    call(&manager, nwd(0), request32(NWD, SP1, [0; 5]));
    let interrupt = manager.preempt(ec(SP1, 0), 42).unwrap();
    manager.check_invariants().unwrap();
    assert_eq!((interrupt.to, interrupt.transfer), (nwd(0), Transfer::OtherWorld));
    assert_eq!(interrupt.registers[0], FunctionId::Interrupt32.to_register());
    assert_eq!(interrupt.registers[1], ec(SP1, 0).target_info().to_register());
    assert_eq!(interrupt.registers[2], 42);
    assert_error(&call(&manager, nwd(1), request32(VM1, SP1, [0; 5])), nwd(1), FfaError::Busy);
    // FFA_RUN restores the interrupted context, which then answers the original request.
    let resumed =
        call(&manager, nwd(0), Call::Run { target: ec(SP1, 0).target_info(), is_64: false });
    assert_eq!((resumed.to, resumed.transfer), (ec(SP1, 0), Transfer::Restore));
    assert_eq!(call(&manager, ec(SP1, 0), response32(SP1, NWD, [0; 5])).to, nwd(0));
}

#[test]
fn m12_cycle_gets_busy() {
    let manager = booted_spmc();
    assert_eq!(call(&manager, nwd(0), request32(NWD, SP1, [0; 5])).to, ec(SP1, 0));
    assert_eq!(call(&manager, ec(SP1, 0), request32(SP1, SP2, [0; 5])).to, ec(SP2, 0));
    assert_eq!(call(&manager, ec(SP2, 0), request32(SP2, SP3, [0; 5])).to, ec(SP3, 0));
    let closing = call(&manager, ec(SP3, 0), request32(SP3, SP1, [0; 5]));
    assert_error(&closing, ec(SP3, 0), FfaError::Busy);
    // The chain unwinds normally.
    assert_eq!(call(&manager, ec(SP3, 0), response32(SP3, SP2, [0; 5])).to, ec(SP2, 0));
    assert_eq!(call(&manager, ec(SP2, 0), response32(SP2, SP1, [0; 5])).to, ec(SP1, 0));
    assert_eq!(call(&manager, ec(SP1, 0), response32(SP1, NWD, [0; 5])).to, nwd(0));
    for sp in [SP1, SP2, SP3] {
        assert_eq!(manager.context_state(ec(sp, 0)), Some(ContextState::Waiting));
    }
}

#[test]
fn m13_mp_requests_use_the_cpu_context_and_up_partitions_migrate() {
    let manager = booted_spmc();
    for cpu in 0..4 {
        let delivery = call(&manager, nwd(cpu), request32(NWD, SP4, [cpu.into(); 5]));
        assert_eq!(delivery.to, ec(SP4, cpu));
    }
    for cpu in 0..4 {
        assert_eq!(
            manager.context_state(ec(SP4, cpu)),
            Some(ContextState::Running { cpu, booting: false })
        );
        assert_eq!(call(&manager, ec(SP4, cpu), response32(SP4, NWD, [0; 5])).to, nwd(cpu));
    }
    // UP SP1 on CPU 3.
    assert_eq!(call(&manager, nwd(3), request32(NWD, SP1, [0; 5])).to, ec(SP1, 0));
    assert_eq!(
        manager.context_state(ec(SP1, 0)),
        Some(ContextState::Running { cpu: 3, booting: false })
    );
}

#[test]
fn m14_run_with_invalid_endpoint_or_vcpu_is_invalid() {
    let manager = booted_spmc();
    let run = |endpoint: u16, vcpu: u16| {
        call(
            &manager,
            nwd(0),
            Call::Run { target: ec(EndpointId(endpoint), vcpu).target_info(), is_64: false },
        )
    };
    assert_error(&run(0x8077, 0), nwd(0), FfaError::InvalidParameters);
    assert_error(&run(SP1.0, 1), nwd(0), FfaError::InvalidParameters);
    assert_error(&run(SP4.0, 7), nwd(0), FfaError::InvalidParameters);
    // A waiting context runs and its MSG_WAIT comes back to the scheduler.
    let delivery = run(SP1.0, 0);
    assert_eq!(delivery.to, ec(SP1, 0));
    assert_eq!(delivery.registers[0], FunctionId::Run32.to_register());
    let wait =
        call(&manager, ec(SP1, 0), Call::MsgWait { flags: MsgWaitFlags::empty(), is_64: false });
    assert_eq!((wait.to, wait.registers[0]), (nwd(0), FunctionId::MsgWait32.to_register()));
}

#[test]
fn abort_reports_aborted_to_the_requester_and_refuses_later_requests() {
    let manager = booted_spmc();
    call(&manager, nwd(0), request32(NWD, SP1, [0; 5]));
    call(&manager, ec(SP1, 0), request32(SP1, SP2, [0; 5]));
    let aborted = manager.abort(ec(SP2, 0)).unwrap();
    manager.check_invariants().unwrap();
    assert_error(&aborted, ec(SP1, 0), FfaError::Aborted);
    assert_eq!(manager.context_state(ec(SP2, 0)), Some(ContextState::Aborted));
    assert_error(
        &call(&manager, ec(SP1, 0), request32(SP1, SP2, [0; 5])),
        ec(SP1, 0),
        FfaError::Aborted,
    );
    assert_eq!(manager.abort(ec(SP3, 0)), Err(FfaError::Denied), "only a running context aborts");
    // A context that is not running cannot call.
    assert_error(&call(&manager, ec(SP3, 0), Call::IdGet), ec(SP3, 0), FfaError::Denied);
}

fn forwarder() -> (Manager, EndpointDescription) {
    let messaging = MessagingMethod::SEND_DIRECT_REQUEST
        | MessagingMethod::RECEIVE_DIRECT_REQUEST
        | MessagingMethod::SEND_DIRECT_REQUEST2;
    let local = vec![
        EndpointDescription::virtual_machine(VM1, 2, Version::V1_2, messaging),
        EndpointDescription::virtual_machine(EndpointId(2), 1, Version::V1_2, messaging),
    ];
    let remote = secure_partitions();
    let configuration = Configuration {
        role: Role::Forwarder,
        own_id: EndpointId(0),
        spm_id: SPMC_ID,
        version: Version::V1_2,
        local: &local,
        remote: &remote,
        interrupts: FeatureInterrupts::default(),
        maximum_mailbox_pages: 0,
    };
    let manager = Manager::new(&configuration, FakeMemory::default()).unwrap();
    (manager, local[0].clone())
}

#[test]
fn forwarder_relays_requests_to_the_secure_world_and_answers_back() {
    let (manager, _) = forwarder();
    let start = manager.start(ec(VM1, 1), 2).unwrap();
    assert_eq!(start.transfer, Transfer::Start);
    let forwarded = call(&manager, ec(VM1, 1), request32(VM1, SP1, [5; 5]));
    assert_eq!((forwarded.to, forwarded.transfer), (ec(SP1, 2), Transfer::OtherWorld));
    assert_eq!(forwarded.registers, request32(VM1, SP1, [5; 5]).encode(Version::V1_2));
    assert_eq!(manager.context_state(ec(VM1, 1)), Some(ContextState::Blocked { cpu: 2 }));
    // The SPMC's answer comes back as input from that remote context.
    let answer = manager.handle(forwarded.to, &response32(SP1, VM1, [6; 5]).encode(Version::V1_2));
    manager.check_invariants().unwrap();
    assert_eq!((answer.to, answer.transfer), (ec(VM1, 1), Transfer::Enter));
    assert_eq!(&answer.registers[3..8], &[6; 5]);
    // FFA_SPM_ID_GET names the SPMC; VM -> VM requests stay local; an unknown SP is invalid.
    assert_eq!(call(&manager, ec(VM1, 1), Call::SpmIdGet).registers[2], u64::from(SPMC_ID.0));
    assert_error(
        &call(&manager, ec(VM1, 1), request32(VM1, EndpointId(2), [0; 5])),
        ec(VM1, 1),
        FfaError::Busy,
    );
    assert_error(
        &call(&manager, ec(VM1, 1), Call::Run { target: ec(SP1, 3).target_info(), is_64: false }),
        ec(VM1, 1),
        FfaError::InvalidParameters,
    );
    // A VM that waits returns control to the platform scheduler.
    let wait =
        call(&manager, ec(VM1, 1), Call::MsgWait { flags: MsgWaitFlags::empty(), is_64: false });
    assert_eq!(wait.transfer, Transfer::Scheduler);
    assert_eq!(manager.context_state(ec(VM1, 1)), Some(ContextState::Waiting));
}
