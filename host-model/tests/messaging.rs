//! Direct messaging across the whole stack: VM to partition (32, 64, REQ2), partition to
//! partition, VM to VM, two VMs, spoofed senders, request cycles, preemption and faults.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use ffa_core::direct_message::{DirectBody, DirectMessage};
use ffa_core::{Call, EndpointId, FfaError, FunctionId};
use host_model::endpoints::{test_uuid, virtual_machine};
use host_model::partitions::{
    relay_hops, test_service, FAULT_COMMAND, INTERRUPT_COMMAND, RELAY_COMMAND,
    SERVICE_INTERRUPT_ID, YIELD_COMMAND,
};
use host_model::{Failure, TraceEvent};
use spmc::partition_manager::{ContextId, ContextState, Role, Transfer};

#[test]
fn a_vm_sends_direct_requests_of_every_kind_to_a_partition() {
    let report = three_partitions()
        .run(|conduit, _| {
            let mut driver = driver(conduit);
            let words_32 = driver.direct_request_32(SP1, [41, 2, 3, 4, 5]).expect("REQ_32");
            let words_64 =
                driver.direct_request_64(SP2, [u64::MAX - 1, 1 << 40, 3, 4, 5]).expect("REQ_64");
            let mut payload = [0u64; 14];
            payload[0] = 100;
            payload[13] = 0xDEAD_BEEF_0000_0001;
            let words_2 = driver.direct_request2(SP3, test_uuid(3), payload).expect("REQ2");
            let nil_uuid = driver.direct_request2(SP3, ffa_core::Uuid::NIL, payload).expect("REQ2");
            let wrong_uuid = ffa_error(driver.direct_request2(SP3, test_uuid(1), payload));
            (words_32, words_64, words_2, nil_uuid, wrong_uuid)
        })
        .expect("run");
    let (words_32, words_64, words_2, nil_uuid, wrong_uuid) = report.value;
    assert_eq!(words_32, [42, 2, 3, 4, 5]);
    assert_eq!(words_64, [u64::MAX, 1 << 40, 3, 4, 5]);
    assert_eq!((words_2[0], words_2[13]), (101, 0xDEAD_BEEF_0000_0001));
    assert_eq!(nil_uuid, words_2);
    // Matrix M10: a UUID the partition does not have.
    assert_eq!(wrong_uuid, FfaError::InvalidParameters);
    // Each request crossed into the SPMC exactly once, as VM 1's.
    let requests: Vec<u64> = report
        .secure_world_calls()
        .filter(|registers| registers[1] >> 16 == 1)
        .map(|registers| registers[0])
        .collect();
    assert_eq!(
        requests,
        [
            FunctionId::MsgSendDirectReq32.to_register(),
            FunctionId::MsgSendDirectReq64.to_register(),
            FunctionId::MsgSendDirectReq2.to_register(),
            FunctionId::MsgSendDirectReq2.to_register(),
            FunctionId::MsgSendDirectReq2.to_register(),
        ]
    );
}

#[test]
fn a_partition_relays_a_request_to_another_partition() {
    let report = three_partitions()
        .run(|conduit, _| {
            let mut driver = driver(conduit);
            let one_hop = driver
                .direct_request_64(SP1, [RELAY_COMMAND, relay_hops(&[SP2]), 7, 0, 0])
                .expect("REQ_64");
            let two_hops = driver
                .direct_request_64(SP1, [RELAY_COMMAND, relay_hops(&[SP3, SP2]), 9, 0, 0])
                .expect("REQ_64");
            // Matrix M09: a partition cannot send a direct request to a VM.
            let to_vm = driver
                .direct_request_64(SP2, [RELAY_COMMAND, relay_hops(&[VM1]), 0, 0, 0])
                .expect("REQ_64");
            (one_hop, two_hops, to_vm)
        })
        .expect("run");
    let (one_hop, two_hops, to_vm) = report.value;
    assert_eq!(one_hop, [0, 8, 0x8002, 0, 0]);
    assert_eq!(two_hops, [0, 10, 0x8002, 0, 0]);
    assert_eq!(to_vm, [FfaError::InvalidParameters.to_register(), 0x8002, 1, 0, 0]);
    // The partition-to-partition requests stayed in the secure world.
    let nested = report.trace.iter().any(|entry| {
        matches!(entry.event, TraceEvent::Call { from, registers }
            if from.endpoint == SP1 && registers[0] == FunctionId::MsgSendDirectReq64.to_register())
    });
    assert!(nested);
    assert!(report.secure_world_calls().all(|registers| registers[1] >> 16 != 0x8001));
}

#[test]
fn a_request_cycle_is_broken_with_busy() {
    let report = three_partitions()
        .vm(virtual_machine(2), test_service)
        .run(|conduit, _| {
            let mut driver = driver(conduit);
            // Matrix M12: SP1 -> SP2 -> SP3 -> SP1; the closing request is BUSY.
            let secure = driver
                .direct_request_64(SP1, [RELAY_COMMAND, relay_hops(&[SP2, SP3, SP1]), 0, 0, 0])
                .expect("REQ_64");
            // VM 1 -> VM 2 -> VM 1 in the forwarder.
            let normal = driver
                .direct_request_64(VM2, [RELAY_COMMAND, relay_hops(&[VM1]), 0, 0, 0])
                .expect("REQ_64");
            (secure, normal)
        })
        .expect("run");
    let busy = FfaError::Busy.to_register();
    assert_eq!(report.value, ([busy, 0x8003, 0x8001, 0, 0], [busy, 2, 1, 0, 0]));
}

#[test]
fn a_spoofed_sender_is_refused_by_the_forwarder() {
    let report = three_partitions()
        .vm(virtual_machine(2), test_service)
        .run(|conduit, _| {
            let mut driver = driver(conduit);
            let spoofed = Call::MsgSendDirectReq(DirectMessage {
                source: VM2,
                destination: SP1,
                body: DirectBody::Partition32([41, 0, 0, 0, 0]),
            });
            let to_partition = driver.call(spoofed).map(drop).map_err(|error| error.ffa_error());
            let spoofed_locally = Call::MsgSendDirectReq(DirectMessage {
                source: EndpointId(0x8002),
                destination: VM2,
                body: DirectBody::Partition32([41, 0, 0, 0, 0]),
            });
            let to_vm = driver.call(spoofed_locally).map(drop).map_err(|error| error.ffa_error());
            (to_partition, to_vm)
        })
        .expect("run");
    // Matrix M02.
    assert_eq!(
        report.value,
        (Err(Some(FfaError::InvalidParameters)), Err(Some(FfaError::InvalidParameters)))
    );
    // Nothing reached the secure world or VM 2 in VM 2's or SP2's name.
    assert!(report.secure_world_calls().all(|registers| registers[1] >> 16 != 2));
    let request = FunctionId::MsgSendDirectReq32.to_register();
    let requested_vm2 = report.trace.iter().any(|entry| {
        matches!(entry.event, TraceEvent::Delivery { delivery, .. }
            if delivery.to.endpoint == VM2 && delivery.registers[0] == request)
    });
    assert!(!requested_vm2);
}

#[test]
fn two_vms_talk_to_the_partitions_and_to_each_other() {
    let results = Arc::new(Mutex::new(Vec::new()));
    let recorded = results.clone();
    let report = three_partitions()
        .vm(virtual_machine(2), test_service)
        .vm(virtual_machine(3), move |conduit, _| {
            // VM 3 runs before VM 1 starts: it asks two partitions, then waits for messages.
            let mut driver = driver(conduit);
            for (partition, value) in [(SP1, 10), (SP3, 30)] {
                let words = driver.direct_request_32(partition, [value, 0, 0, 0, 0]);
                recorded.lock().unwrap().push((partition, words.map(|words| words[0])));
            }
            struct Idle;
            impl ffa_guest_driver::partition::RequestHandler for Idle {}
            let _ = driver.serve(&mut Idle);
        })
        .run(|conduit, _| {
            let mut driver = driver(conduit);
            let from_vm2 = driver.direct_request_32(VM2, [1, 0, 0, 0, 0]).expect("VM to VM");
            let from_sp = driver.direct_request_32(SP1, [5, 0, 0, 0, 0]).expect("VM to SP");
            let vm3_idle = driver.direct_request_32(VM3, [0; 5]).expect("VM 3 serves");
            (from_vm2[0], from_sp[0], vm3_idle)
        })
        .expect("run");
    assert_eq!(report.value, (2, 6, [0; 5]));
    assert_eq!(*results.lock().unwrap(), [(SP1, Ok(11)), (SP3, Ok(31))]);
    // VM 3's requests ran on its own CPU (2), VM 1's on CPU 0.
    let cpus_of = |vm: EndpointId| -> Vec<u16> {
        report
            .trace
            .iter()
            .filter_map(|entry| match entry.event {
                TraceEvent::Call { from, registers }
                    if from.endpoint == vm
                        && registers[0] == FunctionId::MsgSendDirectReq32.to_register() =>
                {
                    Some(entry.cpu)
                }
                _ => None,
            })
            .collect()
    };
    assert_eq!(cpus_of(VM3), [2, 2]);
    assert_eq!(cpus_of(VM1), [0, 0, 0]);
    // Both waiting VMs are back in FFA_MSG_WAIT at the end.
    assert_eq!(report.state_of(ContextId::new(2, 0)), Some(ContextState::Waiting));
    assert_eq!(report.state_of(ContextId::new(3, 0)), Some(ContextState::Waiting));
}

#[test]
fn a_faulting_partition_is_aborted_and_the_others_carry_on() {
    let report = three_partitions()
        .run(|conduit, _| {
            let mut driver = driver(conduit);
            let fault = ffa_error(driver.direct_request_32(SP2, [FAULT_COMMAND, 0, 0, 0, 0]));
            let again = ffa_error(driver.direct_request_32(SP2, [1, 0, 0, 0, 0]));
            let other = driver.direct_request_32(SP3, [1, 0, 0, 0, 0]).expect("SP3 still serves");
            // A partition relaying to the aborted one sees ABORTED too.
            let relayed = driver
                .direct_request_64(SP1, [RELAY_COMMAND, relay_hops(&[SP2]), 0, 0, 0])
                .expect("SP1 still serves");
            (fault, again, other[0], relayed)
        })
        .expect("run");
    let aborted = FfaError::Aborted;
    assert_eq!(report.value, (aborted, aborted, 2, [aborted.to_register(), 0x8001, 0x8002, 0, 0]));
    assert_eq!(report.stopped.len(), 1);
    assert_eq!(report.stopped[0].context, ContextId::new(0x8002, 0));
    assert_eq!(
        report.stopped[0].failure,
        Some(Failure::Fault("asked to fault (FAULT_COMMAND)".into()))
    );
    assert_eq!(report.state_of(ContextId::new(0x8002, 0)), Some(ContextState::Aborted));
    assert_eq!(report.state_of(ContextId::new(0x8003, 0)), Some(ContextState::Waiting));
}

#[test]
fn a_partition_that_fails_to_boot_is_aborted() {
    let report = host_model::ModelBuilder::new()
        .partition(host_model::endpoints::secure_partition(SP1.0, test_uuid(1)), |conduit, _| {
            conduit.fault("no image")
        })
        .partition(host_model::endpoints::secure_partition(SP2.0, test_uuid(2)), test_service)
        .run(|conduit, _| {
            let mut driver = driver(conduit);
            let first = ffa_error(driver.direct_request_32(SP1, [0; 5]));
            let second = driver.direct_request_32(SP2, [0; 5]).map(|words| words[0]);
            (first, second)
        })
        .expect("run");
    assert_eq!(report.value, (FfaError::Aborted, Ok(1)));
    assert_eq!(report.stopped[0].failure, Some(Failure::Fault("no image".into())));
}

#[test]
fn preempted_and_yielding_partitions_are_resumed_with_run() {
    let report = three_partitions()
        .run(|conduit, _| {
            let mut driver = driver(conduit);
            let interrupted =
                driver.direct_request_32(SP1, [INTERRUPT_COMMAND, 7, 0, 0, 0]).expect("REQ_32");
            let yielded =
                driver.direct_request_32(SP2, [YIELD_COMMAND, 8, 0, 0, 0]).expect("REQ_32");
            // Matrix M11: while SP1 is preempted, it is BUSY; nothing is preempted here now.
            let after = driver.direct_request_32(SP1, [1, 0, 0, 0, 0]).expect("REQ_32");
            (interrupted, yielded, after[0])
        })
        .expect("run");
    assert_eq!(
        report.value,
        ([INTERRUPT_COMMAND + 1, 7, 0, 0, 0], [YIELD_COMMAND + 1, 8, 0, 0, 0], 2)
    );
    // VM 1 was handed FFA_INTERRUPT and FFA_YIELD, and resumed both with a forwarded FFA_RUN;
    // the SPMC restored SP1 from its interrupt and re-entered SP2 after its yield.
    let interrupt = FunctionId::Interrupt32.to_register();
    let yielded = FunctionId::Yield32.to_register();
    let to_vm1: Vec<u64> = report
        .trace
        .iter()
        .filter_map(|entry| match entry.event {
            TraceEvent::Delivery { manager: Role::Forwarder, delivery }
                if delivery.to.endpoint == VM1 =>
            {
                Some(delivery.registers[0])
            }
            _ => None,
        })
        .collect();
    assert!(to_vm1.contains(&interrupt) && to_vm1.contains(&yielded), "{}", report.trace_text());
    let runs = report
        .secure_world_calls()
        .filter(|registers| registers[0] == FunctionId::Run32.to_register())
        .count();
    assert_eq!(runs, 2);
    let restored = report.trace.iter().any(|entry| {
        matches!(entry.event, TraceEvent::Delivery { manager: Role::Spmc, delivery }
            if delivery.transfer == Transfer::Restore && delivery.to.endpoint == SP1)
    });
    assert!(restored);
    let interrupted = report.trace.iter().any(|entry| {
        matches!(entry.event, TraceEvent::Interrupt { context, interrupt_id: SERVICE_INTERRUPT_ID }
            if context.endpoint == SP1)
    });
    assert!(interrupted);
}

#[test]
fn a_multiprocessor_partition_boots_a_context_on_every_cpu() {
    let mut description = host_model::endpoints::secure_partition(0x8004, test_uuid(4));
    description.execution_context_count = 4;
    let report = host_model::ModelBuilder::new()
        .cpus(4)
        .partition(description, test_service)
        .run(|conduit, _| driver(conduit).direct_request_32(EndpointId(0x8004), [1, 0, 0, 0, 0]))
        .expect("run");
    assert_eq!(report.value.expect("REQ_32"), [2, 0, 0, 0, 0]);
    for vcpu in 0..4 {
        assert_eq!(report.state_of(ContextId::new(0x8004, vcpu)), Some(ContextState::Waiting));
    }
    // Matrix M13: the request from CPU 0 was served by context 0.
    let served_by: Vec<ContextId> = report
        .trace
        .iter()
        .filter_map(|entry| match entry.event {
            TraceEvent::Delivery { manager: Role::Spmc, delivery }
                if delivery.transfer == Transfer::Enter
                    && delivery.registers[0] == FunctionId::MsgSendDirectReq32.to_register() =>
            {
                Some(delivery.to)
            }
            _ => None,
        })
        .collect();
    assert_eq!(served_by, [ContextId::new(0x8004, 0)]);
}

#[test]
fn a_v1_1_vm_talks_to_v1_2_partitions_through_the_v1_2_forwarder() {
    let report = three_partitions()
        .run(|conduit, memory| {
            let mut driver =
                ModelDriver::with_highest_version(conduit, ffa_core::Version::V1_1).expect("v1.1");
            let version = driver.version();
            let answer = driver.direct_request_32(SP1, [41, 0, 0, 0, 0]).expect("REQ_32");
            let request2 =
                driver.direct_request2(SP1, test_uuid(1), [0; 14]).map_err(|error| error.kind);
            let buffers = memory.allocate_buffers(4096).expect("RAM");
            driver.map_buffers(buffers).map_err(|failed| failed.error).expect("RXTX_MAP");
            let mut found = [ffa_guest_driver::PartitionInfo::EMPTY; 4];
            let count = driver.partition_info(ffa_core::Uuid::NIL, &mut found).expect("info");
            (version, answer[0], request2, count, found[3].uuid)
        })
        .expect("run");
    assert_eq!(
        report.value,
        (
            ffa_core::Version::V1_1,
            42,
            Err(ffa_guest_driver::ErrorKind::NotOffered),
            4,
            test_uuid(3)
        )
    );
}

#[test]
fn an_interrupt_during_boot_does_not_preempt_the_partition() {
    let outcome = Arc::new(Mutex::new(None));
    let recorded = outcome.clone();
    let report = host_model::ModelBuilder::new()
        .partition(
            host_model::endpoints::secure_partition(SP1.0, test_uuid(1)),
            move |mut conduit, memory| {
                // The core does not preempt a context in its boot phase: DENIED, and it carries on.
                *recorded.lock().unwrap() = Some(conduit.interrupt(7));
                test_service(conduit, memory);
            },
        )
        .run(|conduit, _| driver(conduit).direct_request_32(SP1, [1, 0, 0, 0, 0]))
        .expect("run");
    assert_eq!(report.value.expect("REQ_32")[0], 2);
    assert_eq!(*outcome.lock().unwrap(), Some(Err(FfaError::Denied)));
}
