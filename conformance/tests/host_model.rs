//! The conformance suite's host runner: every suite runs on the whole-stack model (our forwarder
//! and SPMC cores, wired as on QEMU), as VM 1 and as a secure partition, against test-service
//! partitions 0x8001 and 0x8002 (they answer a direct request with w3 + 1, as the QEMU test
//! partition does). No check may fail unless it is a known failure listed here with its reason.
//!
//! `cargo test -p conformance --test host_model -- --nocapture` prints the standard lines.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use std::sync::{Arc, Mutex};

use conformance::{run, suites, Context, Endpoint, Selection, Summary};
use ffa_core::EndpointId;
use host_model::builder::{RAM_PAGES, VM_RAM_ADDRESS};
use host_model::endpoints::{secure_partition, test_uuid, with_indirect_messaging};
use host_model::suite::{conformance_server, SuitePages};
use host_model::{GuestMemory, IntermediateAddress, ModelBuffers, ModelBuilder};

/// The suite's server partition.
const SERVER: EndpointId = EndpointId(0x8001);
/// Its second server partition (two-borrower checks).
const SECOND_SERVER: EndpointId = EndpointId(0x8002);
/// VM 2, the server the indirect-messaging checks talk to when the suite runs as VM 1 (a
/// VM's messages to partitions need the forwarded FFA_RXTX_MAP, not modelled yet).
const MESSAGE_PEER: EndpointId = EndpointId(2);
/// Pages of RAM the runner lends the suite to share.
const SUITE_PAGES: usize = 1024;
/// The partition that runs the suite as a secure partition, at its boot.
const SUITE_PARTITION: EndpointId = EndpointId(0x8003);

/// Checks the model does not pass, each with the reason, per runner. A check that starts
/// failing must be fixed or added here with its reason (the test also fails when a listed
/// check passes, so the lists stay honest). (The two D11 disagreements, FFA_NOTIFICATION_BIND
/// and FFA_CONSOLE_LOG answering something other than NOT_SUPPORTED while FFA_FEATURES does
/// not offer them, are fixed in the core.)
const KNOWN_FAILURES_AS_VM: &[(&str, &str)] = &[];

/// What the partition runner does not pass.
const KNOWN_FAILURES_AS_PARTITION: &[(&str, &str)] = &[];

/// What a VM on the model skips, and why: calls the core does not offer yet, and checks that
/// do not apply to a VM. A change here means the core started (or stopped) offering something.
const SKIPPED_AS_VM: &[(&str, &str)] = &[
    ("d27_console_log_with_a_bad_character_count_is_invalid", "FFA_CONSOLE_LOG is not offered"),
    ("m04_direct_request_w2_must_be_zero_before_v1_2", "the agreed version is 1.2"),
    ("m09_partition_to_normal_world_request_is_invalid", "only a partition can try this"),
    (
        "m08_direct_request_to_a_partition_without_direct_receipt_is_denied",
        "no partition without direct-request receipt",
    ),
    ("d12_schedule_receiver_interrupt_is_for_the_normal_world", "notifications"),
    ("mm10_partition_memory_to_the_normal_world_is_denied", "only a partition can try this"),
    (
        "i03_message_to_a_partition_without_indirect_messaging_is_denied",
        "no partition without indirect messaging",
    ),
    ("i06_v1_0_msg_send_is_refused_or_not_supported", "FFA_MSG_SEND is not offered"),
    ("n01_bitmap_create_from_a_partition_is_not_supported", "only a partition can try this"),
    ("n07_info_get_with_nothing_pending", "INFO_GET is the normal-world scheduler's call"),
    ("n02_bitmap_destroy_from_a_partition_is_not_supported", "only a partition can try this"),
];

/// One check's line, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Line {
    suite: String,
    test: String,
    result: String,
    detail: String,
}

fn parse(text: &str) -> Vec<Line> {
    text.lines()
        .filter(|line| line.starts_with("Suite="))
        .map(|line| {
            let mut parts = line.splitn(3, " : ");
            let suite = parts.next().and_then(|part| part.strip_prefix("Suite=")).unwrap();
            let test = parts.next().and_then(|part| part.strip_prefix("Test=")).unwrap();
            let outcome = parts.next().and_then(|part| part.strip_prefix("Result=")).unwrap();
            let (result, detail) = match outcome.split_once(" (") {
                Some((word, rest)) => (word, rest.strip_suffix(')').unwrap_or(rest)),
                None => (outcome, ""),
            };
            Line {
                suite: suite.into(),
                test: test.into(),
                result: result.into(),
                detail: detail.into(),
            }
        })
        .collect()
}

/// A partition that also takes indirect messages and notifications.
fn partition(id: EndpointId, index: u8) -> spmc::partition_manager::EndpointDescription {
    let mut description = with_indirect_messaging(secure_partition(id.0, test_uuid(index)));
    description.notification_support = true;
    description
}

/// The two server partitions (and optionally more).
fn system() -> ModelBuilder {
    ModelBuilder::new()
        .partition(partition(SERVER, 1), conformance_server)
        .partition(partition(SECOND_SERVER, 2), conformance_server)
}

/// What the runner lends the suite: 4 KiB RX/TX buffers and pages of the endpoint's RAM.
fn lent(memory: &GuestMemory) -> (ModelBuffers, SuitePages) {
    let buffers = memory.allocate_buffers(4096).expect("RAM for the suite's buffers");
    let pages = SuitePages::allocate(memory, SUITE_PAGES).expect("RAM for the suite's pages");
    (buffers, pages)
}

/// VM 1's last RAM page, which its memory map says is read-only (matrix MM13).
const READ_ONLY_PAGE: u64 = RAM_PAGES - 1;

/// The IPA of VM 1's read-only page.
fn read_only_address() -> IntermediateAddress {
    IntermediateAddress(VM_RAM_ADDRESS.0 + READ_ONLY_PAGE * 4096)
}

/// Runs `selection` as VM 1 on a fresh model: the summary, the text lines and the JSON.
fn run_as_vm(selection: Selection<'static>) -> (Summary, String, String) {
    // VM 1 receives notifications (the forwarder keeps its bitmap), so the notification
    // argument checks run as a VM too.
    let mut vm = with_indirect_messaging(host_model::endpoints::virtual_machine(1));
    vm.notification_support = true;
    let mut peer = with_indirect_messaging(host_model::endpoints::virtual_machine(MESSAGE_PEER.0));
    peer.notification_support = true;
    system()
        .driver_vm(vm)
        .vm(peer, conformance_server)
        .read_only_pages(EndpointId(1), READ_ONLY_PAGE, 1)
        .run(move |mut conduit, memory| {
            let (mut buffers, pages) = lent(&memory);
            let mut pages = pages.with_read_only_page(read_only_address());
            let mut context = Context::new(&mut conduit, Endpoint::VirtualMachine)
                .with_buffers(&mut buffers)
                .with_memory(&mut pages);
            context.partition = Some(SERVER);
            context.second_partition = Some(SECOND_SERVER);
            context.message_peer = Some(MESSAGE_PEER);
            let (mut text, mut json) = (String::new(), String::new());
            let summary = run(suites::ALL, selection, &mut context, &mut text, Some(&mut json));
            (summary, text, json)
        })
        .expect("the model runs")
        .value
}

/// Checks a run's bookkeeping and judges its failures against [`KNOWN_FAILURES`].
fn judge(
    summary: Summary,
    text: &str,
    json: &str,
    expected_checks: usize,
    known: &[(&str, &str)],
) -> Vec<Line> {
    let lines = parse(text);
    assert_eq!(lines.len(), expected_checks, "{text}");
    let count = |result: &str| lines.iter().filter(|line| line.result == result).count();
    assert_eq!(
        (count("Passed"), count("Failed"), count("Skipped")),
        (summary.passed, summary.failed, summary.skipped),
        "{text}"
    );
    assert_eq!(summary.passed + summary.failed + summary.skipped, expected_checks);
    assert_eq!(text.lines().last(), Some(summary.to_string().as_str()));
    assert_eq!(json.matches("\"result\":").count(), expected_checks);
    for line in lines.iter().filter(|line| line.result == "Failed") {
        assert!(
            known.iter().any(|(test, _)| *test == line.test),
            "{} fails on the model and is not a known failure: {}\n{text}",
            line.test,
            line.detail
        );
    }
    for (test, reason) in known {
        let line = lines.iter().find(|line| line.test == *test);
        assert!(
            line.is_none_or(|line| line.result != "Passed"),
            "{test} is listed as a known failure ({reason}) but passes:\n{text}"
        );
    }
    lines
}

#[test]
fn every_suite_runs_as_a_vm_with_no_unexplained_failure() {
    let (summary, text, json) = run_as_vm(Selection::default());
    print!("{text}");
    let lines = judge(summary, &text, &json, suites::ALL.len(), KNOWN_FAILURES_AS_VM);
    let skipped: Vec<(&str, &str)> = lines
        .iter()
        .filter(|line| line.result == "Skipped")
        .map(|line| (line.test.as_str(), line.detail.as_str()))
        .collect();
    assert_eq!(skipped.len(), SKIPPED_AS_VM.len(), "{text}");
    for ((test, reason), (expected_test, expected_reason)) in skipped.iter().zip(SKIPPED_AS_VM) {
        assert_eq!(test, expected_test, "{text}");
        assert!(reason.contains(expected_reason), "{test}: {reason}");
    }
    // The checks that exercise the whole stack did pass: the request really crossed into the
    // secure world and came back from the server (M01), the forwarder refused a spoofed sender.
    for test in [
        "m01_direct_request_is_answered",
        "m02_direct_request_from_another_source_is_invalid",
        "d04_version_is_fixed_after_another_call",
        "d07_features_reports_the_mandatory_interfaces",
        "m14_run_of_an_unknown_endpoint_is_invalid",
    ] {
        let line = lines.iter().find(|line| line.test == test).expect("ran");
        assert_eq!(line.result, "Passed", "{test}: {}", line.detail);
    }
}

#[test]
fn each_suite_alone_gives_the_results_of_the_full_run() {
    let (_, full, _) = run_as_vm(Selection::default());
    let full = parse(&full);
    for suite in [
        "setup_discovery",
        "direct_messaging",
        "memory_management",
        "indirect_messaging",
        "notifications",
    ] {
        let (summary, text, json) = run_as_vm(Selection { suite, name: "" });
        let expected: Vec<Line> = full.iter().filter(|line| line.suite == suite).cloned().collect();
        let alone = judge(summary, &text, &json, expected.len(), KNOWN_FAILURES_AS_VM);
        assert!(!alone.is_empty(), "{suite} has checks");
        assert_eq!(alone, expected, "{suite}");
    }
}

#[test]
fn every_suite_runs_as_a_partition_with_no_unexplained_failure() {
    let output = Arc::new(Mutex::new(None));
    let recorded = output.clone();
    let report = system()
        .partition(partition(SUITE_PARTITION, 3), move |mut conduit, memory| {
            // The suite runs during the partition's boot (the servers booted before it), then
            // the partition serves like the others.
            let (mut buffers, mut pages) = lent(&memory);
            let mut context = Context::new(&mut conduit, Endpoint::SecurePartition)
                .with_buffers(&mut buffers)
                .with_memory(&mut pages);
            context.partition = Some(SERVER);
            context.second_partition = Some(SECOND_SERVER);
            let (mut text, mut json) = (String::new(), String::new());
            let summary =
                run(suites::ALL, Selection::default(), &mut context, &mut text, Some(&mut json));
            *recorded.lock().unwrap() = Some((summary, text, json));
            conformance_server(conduit, memory);
        })
        .run(|mut conduit, _| {
            // VM 1 checks the suite's partition still serves after the run.
            let mut context = Context::new(&mut conduit, Endpoint::VirtualMachine);
            let answer =
                context.call(&[0x8400_006F, 1 << 16 | u64::from(SUITE_PARTITION.0), 0, 41]);
            (answer[0], answer[3])
        })
        .expect("the model runs");
    assert_eq!(report.value, (0x8400_0070, 42));
    let (summary, text, json) = output.lock().unwrap().take().expect("the suite ran");
    print!("{text}");
    let lines = judge(summary, &text, &json, suites::ALL.len(), KNOWN_FAILURES_AS_PARTITION);
    // What only a partition can try did run, and passed.
    for test in [
        "m09_partition_to_normal_world_request_is_invalid",
        "n01_bitmap_create_from_a_partition_is_not_supported",
        "n07_info_get_with_nothing_pending",
        "d12_schedule_receiver_interrupt_is_for_the_normal_world",
        "m01_direct_request_is_answered",
    ] {
        let line = lines.iter().find(|line| line.test == test).expect("ran");
        assert_eq!(line.result, "Passed", "{test}: {}", line.detail);
    }
}

/// A server whose writes to retrieved memory go nowhere (they report success).
struct ForgetfulMemory(host_model::suite::ServerPages);

impl conformance::server::ServerMemory for ForgetfulMemory {
    fn read(&mut self, address: u64, bytes: &mut [u8]) -> Result<(), conformance::AccessFault> {
        self.0.read(address, bytes)
    }

    fn write(&mut self, _: u64, _: &[u8]) -> Result<(), conformance::AccessFault> {
        Ok(())
    }

    fn survives_faults(&self) -> bool {
        true
    }
}

#[test]
fn the_memory_checks_catch_a_borrower_whose_writes_are_lost() {
    fn forgetful_server(conduit: host_model::ModelConduit, memory: GuestMemory) {
        let mut driver =
            ffa_guest_driver::Driver::<_, ModelBuffers>::new(conduit.clone()).expect("bring-up");
        let buffers = memory.allocate_buffers(4096).expect("RAM");
        driver.map_buffers(buffers).map_err(|failed| failed.error).expect("RXTX_MAP");
        let error = conformance::server::serve(
            &mut driver,
            &mut ForgetfulMemory(host_model::suite::ServerPages(memory)),
        );
        conduit.fault(&format!("{error:?}"));
    }
    let (summary, text, _) = ModelBuilder::new()
        .partition(partition(SERVER, 1), forgetful_server)
        .partition(partition(SECOND_SERVER, 2), conformance_server)
        .run(|mut conduit, memory| {
            let (mut buffers, mut pages) = lent(&memory);
            let mut context = Context::new(&mut conduit, Endpoint::VirtualMachine)
                .with_buffers(&mut buffers)
                .with_memory(&mut pages);
            context.partition = Some(SERVER);
            context.second_partition = Some(SECOND_SERVER);
            let mut text = String::new();
            let selection = Selection { suite: "memory", name: "" };
            let summary = run(suites::ALL, selection, &mut context, &mut text, None);
            (summary, text, ())
        })
        .expect("the model runs")
        .value;
    let failed: Vec<Line> =
        parse(&text).into_iter().filter(|line| line.result == "Failed").collect();
    let names: Vec<&str> = failed.iter().map(|line| line.test.as_str()).collect();
    // Exactly the checks that look at what the borrower wrote.
    assert_eq!(
        names,
        [
            "mm01_share_retrieve_write_relinquish_reclaim",
            "mm30_lend_takes_the_owners_access_until_reclaim",
            "mm01_two_borrowers_see_one_share",
        ],
        "{text}"
    );
    assert_eq!(summary.failed, names.len());
}

#[test]
fn notification_delivery_skips_when_the_servers_take_no_notifications() {
    // As on QEMU, where the test partitions' manifests declare no notification support.
    let plain =
        |id: EndpointId, index| with_indirect_messaging(secure_partition(id.0, test_uuid(index)));
    let mut vm = host_model::endpoints::virtual_machine(1);
    vm.notification_support = true;
    let (summary, text, _) = ModelBuilder::new()
        .partition(plain(SERVER, 1), conformance_server)
        .partition(plain(SECOND_SERVER, 2), conformance_server)
        .driver_vm(vm)
        .run(|mut conduit, memory| {
            let (mut buffers, mut pages) = lent(&memory);
            let mut context = Context::new(&mut conduit, Endpoint::VirtualMachine)
                .with_buffers(&mut buffers)
                .with_memory(&mut pages);
            context.partition = Some(SERVER);
            context.second_partition = Some(SECOND_SERVER);
            let mut text = String::new();
            let selection = Selection { suite: "notifications", name: "n08" };
            // Twice: the first run must leave nothing bound that would change the second.
            let first = run(suites::ALL, selection, &mut context, &mut text, None);
            let mut again = String::new();
            let second = run(suites::ALL, selection, &mut context, &mut again, None);
            assert_eq!(parse(&again), parse(&text));
            assert_eq!((second.passed, second.skipped), (first.passed, first.skipped));
            (first, text, ())
        })
        .expect("the model runs")
        .value;
    let lines = parse(&text);
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(summary.skipped, 3, "{text}");
    for line in &lines {
        assert_eq!(line.detail, "the server partition takes no notifications", "{text}");
    }
}
