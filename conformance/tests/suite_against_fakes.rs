//! The suite checked against fakes: a conformant one passes every check, and each broken one
//! fails exactly the check that looks for its fault.

use conformance::{run, suites, Context, Endpoint, Selection, Summary};
use ffa_core::Conduit;

const ERROR: u64 = 0x8400_0060;
const SUCCESS_32: u64 = 0x8400_0061;
const NOT_SUPPORTED: u64 = 0xFFFF_FFFF;
const INVALID_PARAMETERS: u64 = 0xFFFF_FFFE;
const DENIED: u64 = 0xFFFF_FFFA;

/// Faults a fake can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Faults {
    version_bit_31_answered: bool,
    spoofed_source_accepted: bool,
    version_never_locked: bool,
    /// FFA_MSG_SEND (v1.0) succeeds although FFA_FEATURES does not offer it.
    msg_send_answered: bool,
}

/// A small FF-A implementation as a VM with ID 1 sees it: partition 0x8001 answers w3 + 1.
#[derive(Debug, Default)]
struct Fake {
    faults: Faults,
    other_call_made: bool,
    agreed_minor: Option<u64>,
    /// Notifications bound to the caller (from partition 0x8001).
    bound: u64,
}

impl Fake {
    fn answer(&mut self, registers: [u64; 18]) -> [u64; 18] {
        let mut reply = [0u64; 18];
        let error = |code: u64| {
            let mut reply = [0u64; 18];
            reply[0] = ERROR;
            reply[2] = code;
            reply
        };
        let function = registers[0];
        if function != 0x8400_0063 {
            self.other_call_made = true;
        }
        match function {
            0x8400_0063 => {
                let requested = registers[1] & 0xFFFF_FFFF;
                let major = (requested >> 16) & 0x7FFF;
                let minor = requested & 0xFFFF;
                let bit_31 = requested >> 31 != 0;
                let locked = self.other_call_made && !self.faults.version_never_locked;
                let refused = (bit_31 && !self.faults.version_bit_31_answered)
                    || major != 1
                    || (locked && self.agreed_minor.is_some_and(|agreed| minor < agreed));
                if refused {
                    reply[0] = NOT_SUPPORTED;
                } else {
                    self.agreed_minor.get_or_insert(minor.min(2));
                    reply[0] = 0x1_0002;
                }
            }
            0x8400_0069 => {
                reply[0] = SUCCESS_32;
                reply[2] = 1;
            }
            0x8400_0064 => {
                let supported = [
                    0x8400_0060,
                    0x8400_0061,
                    0x8400_0062,
                    0x8400_0063,
                    0x8400_0064,
                    0x8400_0065,
                    0x8400_0066,
                    0xC400_0066,
                    0x8400_0067,
                    0x8400_0068,
                    0x8400_0069,
                    0x8400_006D,
                    0x8400_006F,
                    0x8400_0070,
                    0x8400_0085,
                    0x8400_0077,
                    0x8400_007F,
                    0x8400_0080,
                    0x8400_0081,
                    0x8400_0082,
                ];
                if registers[1] == 2 {
                    // The schedule receiver interrupt, with its interrupt ID.
                    reply[0] = SUCCESS_32;
                    reply[2] = 8;
                } else if supported.contains(&(registers[1] & 0xFFFF_FFFF)) {
                    reply[0] = SUCCESS_32;
                } else {
                    return error(NOT_SUPPORTED);
                }
            }
            0x8400_0085 => {
                reply[0] = SUCCESS_32;
                reply[2] = 0x8000;
            }
            0x8400_0065 => return error(DENIED),
            0x8400_0066 | 0xC400_0066
                if registers[3] == 0 || (registers[1] | registers[2]) & 0xFFF != 0 =>
            {
                return error(INVALID_PARAMETERS)
            }
            0x8400_0068 => {
                // Only partition 0x8001, whose UUID the suite never names; only counting.
                if registers[1..=4].iter().any(|&word| word != 0) || registers[5] != 1 {
                    return error(INVALID_PARAMETERS);
                }
                reply[0] = SUCCESS_32;
                reply[2] = 1;
            }
            0x8400_0067 => return error(INVALID_PARAMETERS),
            0x8400_006D => return error(INVALID_PARAMETERS),
            0x8400_006F => {
                let (source, destination) = (registers[1] >> 16 & 0xFFFF, registers[1] & 0xFFFF);
                if (source != 1 && !self.faults.spoofed_source_accepted)
                    || source == destination
                    || destination != 0x8001
                {
                    return error(INVALID_PARAMETERS);
                }
                reply[0] = 0x8400_0070;
                reply[1] = (destination << 16) | source;
                reply[3] = (registers[3] + 1) & 0xFFFF_FFFF;
            }
            0x8400_0070 => return error(DENIED),
            // Notifications: the caller (ID 1) is the receiver of BIND/UNBIND/GET, the sender of SET.
            0x8400_007F => {
                let receiver = registers[1] & 0xFFFF;
                if receiver != 1
                    || registers[1] >> 16 != 0x8001
                    || registers[3] | registers[4] == 0
                    || registers[2] & !1 != 0
                {
                    return error(INVALID_PARAMETERS);
                }
                self.bound |= registers[4] << 32 | registers[3];
                reply[0] = SUCCESS_32;
            }
            0x8400_0080 => {
                let bitmap = registers[4] << 32 | registers[3];
                if registers[1] & 0xFFFF != 1
                    || registers[1] >> 16 != 0x8001
                    || registers[2] != 0
                    || bitmap & !self.bound != 0
                {
                    return error(INVALID_PARAMETERS);
                }
                self.bound &= !bitmap;
                reply[0] = SUCCESS_32;
            }
            0x8400_0081 => {
                let per_vcpu = registers[2] & 1 != 0;
                if registers[1] >> 16 != 1
                    || registers[1] & 0xFFFF != 0x8001
                    || (!per_vcpu && registers[2] >> 16 != 0)
                {
                    return error(INVALID_PARAMETERS);
                }
                return error(DENIED);
            }
            0x8400_0082 => {
                if registers[1] & 0xFFFF != 1 {
                    return error(INVALID_PARAMETERS);
                }
                reply[0] = SUCCESS_32;
            }
            0x8400_0077 => return error(INVALID_PARAMETERS),
            0x8400_006E if self.faults.msg_send_answered => reply[0] = SUCCESS_32,
            _ => return error(NOT_SUPPORTED),
        }
        reply
    }
}

impl Conduit for Fake {
    fn call(&mut self, registers: [u64; 18]) -> [u64; 18] {
        self.answer(registers)
    }
}

fn run_against(faults: Faults) -> (Summary, String, String) {
    let mut fake = Fake { faults, ..Fake::default() };
    let mut context = Context::new(&mut fake, Endpoint::VirtualMachine);
    context.partition = Some(ffa_core::EndpointId(0x8001));
    let (mut text, mut json) = (String::new(), String::new());
    let summary = run(suites::ALL, Selection::default(), &mut context, &mut text, Some(&mut json));
    (summary, text, json)
}

#[test]
fn a_conformant_implementation_passes_every_check_that_applies() {
    let (summary, text, _) = run_against(Faults::default());
    assert_eq!(summary.failed, 0, "{text}");
    assert_eq!(summary.passed + summary.skipped, suites::ALL.len());
    // Against a conformant v1.2 implementation, a VM skips only what a VM cannot try.
    let skipped: Vec<&str> = text
        .lines()
        .filter(|line| line.contains("Result=Skipped"))
        .filter_map(|line| line.split(" : ").nth(1)?.strip_prefix("Test="))
        .collect();
    assert_eq!(
        skipped,
        [
            "d25_partition_info_regs_of_an_unknown_uuid_is_invalid",
            "d25_partition_info_regs_of_nil_starts_at_index_zero",
            "d25_partition_info_regs_start_past_the_last_index_is_invalid",
            "d17_rxtx_map_while_mapped_is_denied",
            "d23_partition_info_get_before_rx_release_is_busy",
            "d24_partition_info_get_lists_the_server",
            "d25_partition_info_regs_agrees_with_the_rx_buffer_form",
            "d11_lending_calls_imply_reclaim",
            "d27_console_log_with_a_bad_character_count_is_invalid",
            "m04_direct_request_w2_must_be_zero_before_v1_2",
            "m09_partition_to_normal_world_request_is_invalid",
            "m01_direct_request_64_is_answered",
            "m02_direct_request_64_from_another_source_is_invalid",
            "m03_direct_request_64_to_itself_is_invalid",
            "m10_direct_request2_with_an_unknown_uuid_is_invalid",
            "m10_direct_request2_from_another_source_is_invalid",
            "m10_direct_request2_to_itself_is_invalid",
            "m01_direct_request2_to_the_servers_uuid_is_answered",
            "m05_direct_response_to_itself_or_a_non_requester_is_invalid",
            "m07_msg_wait_while_servicing_a_request_is_denied",
            "m07_yield_while_servicing_a_request_returns_to_the_requester",
            "m08_direct_request_to_a_partition_without_direct_receipt_is_denied",
            "mm08_share_with_a_fragment_longer_than_the_total_is_invalid",
            "mm08_lend_with_a_fragment_longer_than_the_total_is_invalid",
            "mm08_donate_with_a_fragment_longer_than_the_total_is_invalid",
            "mm08_share_of_an_empty_descriptor_is_invalid",
            "mm08_lend_of_an_empty_descriptor_is_invalid",
            "mm08_donate_of_an_empty_descriptor_is_invalid",
            // The fake lends no buffers or memory and offers no memory sharing.
            "mm01_share_retrieve_write_relinquish_reclaim",
            "mm29_reclaim_while_the_borrower_holds_it_is_denied",
            "mm30_lend_takes_the_owners_access_until_reclaim",
            "mm22_lend_with_the_clear_flag_zeroes_before_retrieve",
            "mm29_reclaim_with_the_zero_flag_zeroes",
            "mm15_retrieve_with_the_wrong_tag_is_invalid",
            "mm15_retrieve_of_an_unknown_handle_is_invalid",
            "mm16_retrieve_naming_another_transaction_type_is_invalid",
            "mm17_retrieve_naming_another_sender_is_denied",
            "mm19_lend_read_only_then_retrieve_read_write_is_denied",
            "mm02_a_borrower_cannot_lend_what_it_borrowed",
            "mm28_relinquish_before_retrieve_is_an_error",
            "mm17_retrieve_with_a_bad_total_length_is_invalid",
            "mm28_relinquish_with_the_zero_flag_by_a_read_only_borrower_is_denied",
            "mm30_borrower_loses_access_at_relinquish",
            "mm01_two_borrowers_see_one_share",
            "mm32_fragmented_share_and_retrieve",
            "d21_share_of_the_rx_tx_buffers_is_denied",
            "mm11_ns_bit_in_a_retrieve_request_is_invalid",
            "mm20_retrieve_of_executable_device_memory_is_denied",
            "mm25_retrieve_with_a_wrong_impdef_value_is_invalid",
            "mm13_read_write_share_of_read_only_memory_is_denied",
            "mm13_lend_of_read_only_memory_with_zero_flag_is_denied",
            "mm13_donate_of_read_only_memory_with_zero_flag_is_denied",
            "mm13_reclaim_of_read_only_memory_with_zero_flag_is_denied",
            "mm03_share_to_itself_is_invalid",
            "mm07_descriptor_sender_other_than_the_caller_is_denied",
            "mm04_share_with_the_clear_flag_is_invalid",
            "mm11_ns_bit_in_a_send_is_invalid",
            "mm11_ns_bit_in_a_lend_is_invalid",
            "mm11_ns_bit_in_a_donate_is_invalid",
            "mm09_composite_page_count_not_the_sum_is_an_error",
            "mm09_overlapping_constituents_are_an_error",
            "mm05_share_naming_instruction_access_is_invalid",
            "mm05_lend_naming_instruction_access_is_invalid",
            "mm06_lend_to_one_borrower_naming_a_type_is_invalid",
            "mm06_donate_naming_data_access_is_invalid",
            "mm14_sharing_a_shared_page_again_is_denied",
            "mm18_retrieve_of_a_share_with_the_clear_flag_is_invalid",
            "mm24_retrieving_twice_is_refused",
            "mm26_bypass_flag_with_one_borrower_is_invalid",
            "mm27_relinquish_of_an_unknown_handle_is_invalid",
            "mm21_borrower_of_a_two_borrower_lend_naming_nx_is_invalid",
            "mm23_alignment_hint_without_its_valid_bit_is_invalid",
            "mm01_donate_moves_the_pages_to_the_borrower",
            "mm10_partition_memory_to_the_normal_world_is_denied",
            "mm12_share_or_lend_of_mmio_is_refused",
            "mm33_normal_world_share_of_memory_not_its_own_is_denied",
            "i01_indirect_message_to_itself_is_invalid",
            "i02_indirect_message_to_ffff_is_invalid",
            "i05_indirect_message_reaches_the_receivers_rx_buffer",
            "i04_indirect_message_to_a_full_rx_buffer_is_busy",
            "i05_indirect_message_from_the_server_arrives",
            "i05_rx_buffer_full_is_signalled",
            "i03_message_to_a_partition_without_indirect_messaging_is_denied",
            "i06_v1_0_msg_send_is_refused_or_not_supported",
            "n01_bitmap_create_from_a_partition_is_not_supported",
            "n07_info_get_with_nothing_pending",
            "n02_bitmap_destroy_from_a_partition_is_not_supported",
            "n08_notifications_to_the_server_arrive_and_get_clears_them",
            "n08_notifications_from_the_server_arrive_and_get_clears_them",
            "n08_notifications_between_partitions_arrive_and_get_clears_them",
        ],
        "{text}"
    );
    assert!(text.lines().last().is_some_and(|line| line == format!("{summary}")));
    assert!(text.contains(
        "Suite=setup_discovery : Test=d02_version_with_bit_31_is_not_supported : Result=Passed"
    ));
    // The suite runs as a VM, so the hypervisor-only and partition-only checks are skipped.
    assert!(text.contains("Test=m09_partition_to_normal_world_request_is_invalid : Result=Skipped (only a partition can try this)"));
}

#[test]
fn each_fault_fails_the_check_that_looks_for_it() {
    let cases = [
        (
            Faults { version_bit_31_answered: true, ..Faults::default() },
            "d02_version_with_bit_31_is_not_supported",
            "expected w0=0xffffffff, got w0=0x10002",
        ),
        (
            Faults { spoofed_source_accepted: true, ..Faults::default() },
            "m02_direct_request_from_another_source_is_invalid",
            "expected FFA_ERROR(INVALID_PARAMETERS), got FFA_MSG_SEND_DIRECT_RESP_32",
        ),
        (
            Faults { version_never_locked: true, ..Faults::default() },
            "d04_version_is_fixed_after_another_call",
            "expected w0=0xffffffff, got w0=0x10002",
        ),
        (
            Faults { msg_send_answered: true, ..Faults::default() },
            "i06_v1_0_msg_send_is_refused_or_not_supported",
            "expected FFA_ERROR(NOT_SUPPORTED), got FFA_SUCCESS_32",
        ),
    ];
    for (faults, check, message) in cases {
        let (summary, text, _) = run_against(faults);
        assert_eq!(summary.failed, 1, "{faults:?}:\n{text}");
        let line = text.lines().find(|line| line.contains(check)).expect("the check ran");
        assert!(line.ends_with(&format!("Result=Failed ({message})")), "{line}");
    }
}

#[test]
fn selection_by_suite_and_name() {
    let mut fake = Fake::default();
    let mut context = Context::new(&mut fake, Endpoint::VirtualMachine);
    let mut text = String::new();
    let summary =
        run(suites::ALL, Selection { suite: "setup", name: "d0" }, &mut context, &mut text, None);
    assert!(summary.passed > 0);
    assert!(text
        .lines()
        .filter(|line| line.starts_with("Suite="))
        .all(|line| line.starts_with("Suite=setup_discovery : Test=d0")));
}

#[test]
fn the_json_result_file_is_an_array_with_one_object_per_check() {
    let (summary, _, json) =
        run_against(Faults { spoofed_source_accepted: true, ..Faults::default() });
    assert!(json.starts_with("[{\"suite\":\"setup_discovery\"") && json.ends_with("]\n"), "{json}");
    assert_eq!(
        json.matches("\"result\":").count(),
        summary.passed + summary.failed + summary.skipped
    );
    assert!(json.contains("\"result\":\"failed\",\"expected\":\"FFA_ERROR(INVALID_PARAMETERS)\",\"got\":\"FFA_MSG_SEND_DIRECT_RESP_32\""));
}
