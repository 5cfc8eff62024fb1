//! The model itself: runs are deterministic, a system where everybody is blocked is reported
//! as a deadlock, runaway programs hit the step limit, VM 1's failures and bad configurations
//! are errors.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod common;

use common::*;
use ffa_core::call::MsgWaitFlags;
use ffa_core::{Call, Conduit};
use host_model::endpoints::virtual_machine;
use host_model::partitions::{relay_hops, test_service, RELAY_COMMAND};
use host_model::{Failure, ModelBuilder, ModelError};
use spmc::partition_manager::{ContextId, ContextState};

fn busy_scenario() -> Vec<host_model::TraceEntry> {
    three_partitions()
        .vm(virtual_machine(2), test_service)
        .run(|conduit, memory| {
            let mut driver = driver_with_buffers(conduit, &memory);
            driver.direct_request_32(VM2, [1, 0, 0, 0, 0]).expect("VM to VM");
            driver
                .direct_request_64(SP1, [RELAY_COMMAND, relay_hops(&[SP2, SP3, SP1]), 0, 0, 0])
                .expect("REQ_64");
        })
        .expect("run")
        .trace
}

#[test]
fn two_runs_of_the_same_system_are_the_same_run() {
    let first = busy_scenario();
    let second = busy_scenario();
    assert!(first.len() > 100, "a run of some length: {}", first.len());
    assert_eq!(first, second);
}

#[test]
fn everybody_blocked_is_a_deadlock() {
    let result = three_partitions().run(|mut conduit, _| {
        // VM 1 waits for a message nobody will send: its vCPU goes back to the scheduler.
        conduit.call(registers(Call::MsgWait { flags: MsgWaitFlags::empty(), is_64: false }));
    });
    let Err(ModelError::Deadlock { states, trace_tail }) = result else {
        panic!("expected a deadlock, got {result:?}");
    };
    assert!(states.contains(&(ContextId::new(1, 0), ContextState::Waiting)));
    assert!(states.contains(&(ContextId::new(0x8001, 0), ContextState::Waiting)));
    assert!(!trace_tail.is_empty());
}

#[test]
fn a_program_that_never_stops_calling_hits_the_step_limit() {
    let result = ModelBuilder::new().step_limit(50).run(|mut conduit, _| loop {
        conduit.call(registers(Call::IdGet));
    });
    assert!(matches!(result, Err(ModelError::StepLimit(50))), "{result:?}");
}

#[test]
fn vm_1_failing_stops_the_run_with_its_reason() {
    let faulted = three_partitions().run(|conduit, _| {
        let _driver = driver(conduit);
        host_model::fault("touched a wild pointer");
    });
    assert!(
        matches!(&faulted, Err(ModelError::DriverFailed(Failure::Fault(reason))) if reason == "touched a wild pointer"),
        "{faulted:?}"
    );
    let panicked = three_partitions().run(|_, _| -> () { panic!("assertion in VM 1") });
    assert!(
        matches!(&panicked, Err(ModelError::DriverFailed(Failure::Panic(message))) if message == "assertion in VM 1"),
        "{panicked:?}"
    );
}

#[test]
fn impossible_systems_are_configuration_errors() {
    let too_many_vms = ModelBuilder::new()
        .cpus(2)
        .vm(virtual_machine(2), test_service)
        .vm(virtual_machine(3), test_service)
        .run(|_, _| ());
    assert!(matches!(too_many_vms, Err(ModelError::Configuration(_))), "{too_many_vms:?}");
    let wrong_driver = ModelBuilder::new().driver_vm(virtual_machine(5)).run(|_, _| ());
    assert!(matches!(wrong_driver, Err(ModelError::Configuration(_))), "{wrong_driver:?}");
    let duplicate = ModelBuilder::new().vm(virtual_machine(1), test_service).run(|_, _| ());
    assert!(matches!(duplicate, Err(ModelError::Configuration(_))), "{duplicate:?}");
}

#[test]
fn a_vm_whose_program_returns_is_switched_off() {
    let report = three_partitions()
        .vm(virtual_machine(2), |conduit, _| {
            let _ = driver(conduit);
        })
        .run(|conduit, _| ffa_error(driver(conduit).direct_request_32(VM2, [0; 5])))
        .expect("run");
    assert_eq!(report.value, ffa_core::FfaError::Aborted);
    assert_eq!(report.stopped[0].context, ContextId::new(2, 0));
    assert_eq!(report.stopped[0].failure, None);
}
