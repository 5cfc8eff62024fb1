//! Checks that need a partition the standard host-model runner does not have: I03 runs as a
//! secure partition against a test-service partition that takes no indirect messages, and M08
//! as VM 1 against one that takes no direct requests (the standard runner's partitions take
//! both, so there I03 and M08 skip).
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use std::sync::{Arc, Mutex};

use conformance::{run, suites, Context, Endpoint, Selection};
use ffa_core::EndpointId;
use host_model::endpoints::{secure_partition, test_uuid, with_indirect_messaging};
use host_model::partitions::test_service;
use host_model::suite::{conformance_server, SuitePages};
use host_model::ModelBuilder;
use spmc::manifest::MessagingMethod;

const SERVER: EndpointId = EndpointId(0x8001);
/// A plain test-service partition: direct messages only.
const NO_INDIRECT: EndpointId = EndpointId(0x8002);
const SUITE_PARTITION: EndpointId = EndpointId(0x8003);

#[test]
fn i03_passes_as_a_partition_against_a_partition_without_indirect_messaging() {
    let output = Arc::new(Mutex::new(None));
    let recorded = output.clone();
    ModelBuilder::new()
        .partition(
            with_indirect_messaging(secure_partition(SERVER.0, test_uuid(1))),
            conformance_server,
        )
        .partition(secure_partition(NO_INDIRECT.0, test_uuid(2)), test_service)
        .partition(
            with_indirect_messaging(secure_partition(SUITE_PARTITION.0, test_uuid(3))),
            move |mut conduit, memory| {
                let mut buffers = memory.allocate_buffers(4096).expect("RAM for buffers");
                let mut pages = SuitePages::allocate(&memory, 4).expect("RAM for pages");
                let mut context = Context::new(&mut conduit, Endpoint::SecurePartition)
                    .with_buffers(&mut buffers)
                    .with_memory(&mut pages);
                context.partition = Some(SERVER);
                let mut text = String::new();
                let selection = Selection { suite: "", name: "i03_" };
                let summary = run(suites::ALL, selection, &mut context, &mut text, None);
                *recorded.lock().unwrap() = Some((summary, text));
                conformance_server(conduit, memory);
            },
        )
        .run(|_, _| ())
        .expect("the model runs");
    let (summary, text) = output.lock().unwrap().take().expect("the suite ran");
    assert_eq!((summary.passed, summary.failed, summary.skipped), (1, 0, 0), "{text}");
    assert!(
        text.contains(
            "Test=i03_message_to_a_partition_without_indirect_messaging_is_denied : Result=Passed"
        ),
        "{text}"
    );
}

#[test]
fn m08_passes_as_a_vm_against_a_partition_without_direct_receipt() {
    let mut no_direct = secure_partition(0x8002, test_uuid(2));
    no_direct.messaging = MessagingMethod::SEND_DIRECT_REQUEST | MessagingMethod::INDIRECT;
    let report = ModelBuilder::new()
        .partition(
            with_indirect_messaging(secure_partition(SERVER.0, test_uuid(1))),
            conformance_server,
        )
        .partition(no_direct, test_service)
        .run(|mut conduit, memory| {
            let mut buffers = memory.allocate_buffers(4096).expect("RAM for buffers");
            let mut context =
                Context::new(&mut conduit, Endpoint::VirtualMachine).with_buffers(&mut buffers);
            context.partition = Some(SERVER);
            let mut text = String::new();
            let selection = Selection { suite: "", name: "m08_direct" };
            let summary = run(suites::ALL, selection, &mut context, &mut text, None);
            (summary, text)
        })
        .expect("the model runs");
    let (summary, text) = report.value;
    assert_eq!((summary.passed, summary.failed, summary.skipped), (1, 0, 0), "{text}");
    assert!(
        text.contains(
            "Test=m08_direct_request_to_a_partition_without_direct_receipt_is_denied : Result=Passed"
        ),
        "{text}"
    );
}
