//! FFA_FEATURES of each interface: the answer's shape (reference §3.3) and its agreement with
//! what the call does (matrix D11).

use ffa_core::FfaError;

use super::id::*;
use crate::check::{Check, Expected, Outcome};
use crate::context::Context;

const SUITE: &str = "setup_discovery";

/// Input properties FFA_FEATURES needs for `function`: FFA_MEM_RETRIEVE_REQ from a v1.1+
/// caller must announce NS-bit handling (reference §3.3, matrix D13); every other w2 is MBZ.
fn input_properties(function: u64) -> u64 {
    if function as u32 == 0x8400_0074 {
        1 << 1
    } else {
        0
    }
}

/// The answer to FFA_FEATURES(`function`) is FFA_SUCCESS with w4-w7 zero, or
/// FFA_ERROR(NOT_SUPPORTED) (reference §3.3).
fn shape(context: &mut Context<'_>, function: u64) -> Outcome {
    let answer = context.call(&[FFA_FEATURES, function, input_properties(function)]);
    let success = matches!(answer[0], FFA_SUCCESS_32 | FFA_SUCCESS_64)
        && answer.get(4..=7).is_some_and(|slice| slice.iter().all(|&value| value == 0));
    if success {
        return Outcome::Passed;
    }
    if answer[0] as u32 == FFA_ERROR as u32 {
        return Outcome::expect_error(answer, FfaError::NotSupported);
    }
    Outcome::expect(
        false,
        Expected::Text("FFA_SUCCESS with w4-w7 zero, or FFA_ERROR(NOT_SUPPORTED)"),
        answer,
    )
}

macro_rules! feature_shape_checks {
    ($($constant:ident, $function_name:ident, $name:literal, $id:expr;)*) => {
        $(
            #[doc = concat!("FFA_FEATURES(", stringify!($id), "): success with w4-w7 zero, or NOT_SUPPORTED.")]
            pub const $constant: Check = Check {
                suite: SUITE,
                name: $name,
                source: "reference §3.3 (FFA_FEATURES)",
                run: $function_name,
            };
            fn $function_name(context: &mut Context<'_>) -> Outcome {
                shape(context, $id)
            }
        )*
    };
}

feature_shape_checks! {
    SHAPE_MSG_WAIT, shape_msg_wait, "features_of_msg_wait_is_well_formed", 0x8400_006B;
    SHAPE_YIELD, shape_yield, "features_of_yield_is_well_formed", 0x8400_006C;
    SHAPE_RUN, shape_run, "features_of_run_is_well_formed", 0x8400_006D;
    SHAPE_DIRECT_REQ_32, shape_direct_req_32, "features_of_direct_req_32_is_well_formed", 0x8400_006F;
    SHAPE_DIRECT_REQ_64, shape_direct_req_64, "features_of_direct_req_64_is_well_formed", 0xC400_006F;
    SHAPE_DIRECT_RESP_32, shape_direct_resp_32, "features_of_direct_resp_32_is_well_formed", 0x8400_0070;
    SHAPE_DIRECT_RESP_64, shape_direct_resp_64, "features_of_direct_resp_64_is_well_formed", 0xC400_0070;
    SHAPE_MEM_DONATE_32, shape_mem_donate_32, "features_of_mem_donate_32_is_well_formed", 0x8400_0071;
    SHAPE_MEM_DONATE_64, shape_mem_donate_64, "features_of_mem_donate_64_is_well_formed", 0xC400_0071;
    SHAPE_MEM_LEND_32, shape_mem_lend_32, "features_of_mem_lend_32_is_well_formed", 0x8400_0072;
    SHAPE_MEM_LEND_64, shape_mem_lend_64, "features_of_mem_lend_64_is_well_formed", 0xC400_0072;
    SHAPE_MEM_SHARE_32, shape_mem_share_32, "features_of_mem_share_32_is_well_formed", 0x8400_0073;
    SHAPE_MEM_SHARE_64, shape_mem_share_64, "features_of_mem_share_64_is_well_formed", 0xC400_0073;
    SHAPE_MEM_RETRIEVE_REQ, shape_mem_retrieve_req, "features_of_mem_retrieve_req_is_well_formed", 0x8400_0074;
    SHAPE_MEM_RETRIEVE_RESP, shape_mem_retrieve_resp, "features_of_mem_retrieve_resp_is_well_formed", 0x8400_0075;
    SHAPE_MEM_RELINQUISH, shape_mem_relinquish, "features_of_mem_relinquish_is_well_formed", 0x8400_0076;
    SHAPE_MEM_RECLAIM, shape_mem_reclaim, "features_of_mem_reclaim_is_well_formed", 0x8400_0077;
    SHAPE_MEM_FRAG_RX, shape_mem_frag_rx, "features_of_mem_frag_rx_is_well_formed", 0x8400_007A;
    SHAPE_MEM_FRAG_TX, shape_mem_frag_tx, "features_of_mem_frag_tx_is_well_formed", 0x8400_007B;
    SHAPE_BITMAP_CREATE, shape_bitmap_create, "features_of_notification_bitmap_create_is_well_formed", 0x8400_007D;
    SHAPE_BITMAP_DESTROY, shape_bitmap_destroy, "features_of_notification_bitmap_destroy_is_well_formed", 0x8400_007E;
    SHAPE_BIND, shape_bind, "features_of_notification_bind_is_well_formed", 0x8400_007F;
    SHAPE_UNBIND, shape_unbind, "features_of_notification_unbind_is_well_formed", 0x8400_0080;
    SHAPE_SET, shape_set, "features_of_notification_set_is_well_formed", 0x8400_0081;
    SHAPE_GET, shape_get, "features_of_notification_get_is_well_formed", 0x8400_0082;
    SHAPE_INFO_GET_64, shape_info_get_64, "features_of_notification_info_get_64_is_well_formed", 0xC400_0083;
    SHAPE_MSG_SEND2, shape_msg_send2, "features_of_msg_send2_is_well_formed", 0x8400_0086;
    SHAPE_CONSOLE_LOG, shape_console_log, "features_of_console_log_is_well_formed", 0x8400_008A;
    SHAPE_PARTITION_INFO_GET_REGS, shape_partition_info_get_regs, "features_of_partition_info_get_regs_is_well_formed", 0xC400_008B;
    SHAPE_DIRECT_REQ2, shape_direct_req2, "features_of_direct_req2_is_well_formed", 0xC400_008D;
    SHAPE_DIRECT_RESP2, shape_direct_resp2, "features_of_direct_resp2_is_well_formed", 0xC400_008E;
    SHAPE_NPI, shape_npi, "features_of_notification_pending_interrupt_is_well_formed", 1;
    SHAPE_MEI, shape_mei, "features_of_managed_exit_interrupt_is_well_formed", 3;
}

/// D11: a call FFA_FEATURES does not offer answers FFA_ERROR(NOT_SUPPORTED); one it offers
/// answers anything else (here to harmless malformed arguments).
fn agrees(context: &mut Context<'_>, function: u64, arguments: &[u64]) -> Outcome {
    // D13: a retrieve-request query says whether the caller handles the NS bit (w2 bit 1); a
    // v1.1+ caller that does not may be told NOT_SUPPORTED, so the suite (which does) says so.
    let properties = if function as u32 == 0x8400_0074 { 1 << 1 } else { 0 };
    let features = context.call(&[FFA_FEATURES, function, properties]);
    let offered = matches!(features[0], FFA_SUCCESS_32 | FFA_SUCCESS_64);
    let mut registers = [0u64; 8];
    registers[0] = function;
    for (slot, value) in registers.iter_mut().skip(1).zip(arguments) {
        *slot = *value;
    }
    let answer = context.call(&registers);
    let not_supported = answer[0] as u32 == FFA_ERROR as u32
        && answer[2] as u32 == FfaError::NotSupported.to_register() as u32;
    if offered {
        Outcome::expect(
            !not_supported,
            Expected::Text("an answer other than NOT_SUPPORTED (FFA_FEATURES offers the call)"),
            answer,
        )
    } else {
        Outcome::expect_error(answer, FfaError::NotSupported)
    }
}

macro_rules! agreement_checks {
    ($($constant:ident, $function_name:ident, $name:literal, $id:expr, [$($argument:expr),*];)*) => {
        $(
            #[doc = concat!("D11: FFA_FEATURES(", stringify!($id), ") agrees with what the call answers.")]
            pub const $constant: Check = Check {
                suite: SUITE,
                name: $name,
                source: "D11",
                run: $function_name,
            };
            fn $function_name(context: &mut Context<'_>) -> Outcome {
                agrees(context, $id, &[$($argument),*])
            }
        )*
    };
}

agreement_checks! {
    AGREES_SPM_ID_GET, agrees_spm_id_get, "d11_features_agrees_with_spm_id_get", FFA_SPM_ID_GET, [];
    AGREES_PARTITION_INFO_GET_REGS, agrees_partition_info_get_regs, "d11_features_agrees_with_partition_info_get_regs", 0xC400_008B, [];
    AGREES_MEM_SHARE, agrees_mem_share, "d11_features_agrees_with_mem_share_32", 0x8400_0073, [];
    AGREES_MEM_LEND, agrees_mem_lend, "d11_features_agrees_with_mem_lend_32", 0x8400_0072, [];
    AGREES_MEM_DONATE, agrees_mem_donate, "d11_features_agrees_with_mem_donate_32", 0x8400_0071, [];
    AGREES_MEM_RECLAIM, agrees_mem_reclaim, "d11_features_agrees_with_mem_reclaim", FFA_MEM_RECLAIM, [0x10, 0x7FFF_FFFF];
    AGREES_MEM_RETRIEVE_REQ, agrees_mem_retrieve_req, "d11_features_agrees_with_mem_retrieve_req", 0x8400_0074, [];
    AGREES_NOTIFICATION_SET, agrees_notification_set, "d11_features_agrees_with_notification_set", FFA_NOTIFICATION_SET, [0xFFFF_FFFF];
    AGREES_NOTIFICATION_BIND, agrees_notification_bind, "d11_features_agrees_with_notification_bind", FFA_NOTIFICATION_BIND, [0xFFFF_FFFF];
    AGREES_CONSOLE_LOG, agrees_console_log, "d11_features_agrees_with_console_log", 0x8400_008A, [];
}

/// D11: any of SHARE/LEND/DONATE offered means RECLAIM is offered.
pub const D11_RECLAIM: Check = Check {
    suite: SUITE,
    name: "d11_lending_calls_imply_reclaim",
    source: "D11",
    run: d11_reclaim,
};
fn d11_reclaim(context: &mut Context<'_>) -> Outcome {
    let lends = [0x8400_0071, 0x8400_0072, 0x8400_0073].into_iter().any(|id| context.offers(id));
    if !lends {
        return Outcome::Skipped("none of SHARE/LEND/DONATE is offered");
    }
    let answer = context.call(&[FFA_FEATURES, FFA_MEM_RECLAIM]);
    Outcome::expect_success(answer)
}

/// D11: FFA_MEM_RETRIEVE_REQ is offered exactly when FFA_MEM_RETRIEVE_RESP is, and retrieve
/// implies FFA_MEM_RELINQUISH.
pub const D11_RETRIEVE: Check = Check {
    suite: SUITE,
    name: "d11_retrieve_request_and_response_go_together",
    source: "D11",
    run: d11_retrieve,
};
fn d11_retrieve(context: &mut Context<'_>) -> Outcome {
    let request = context.call(&[FFA_FEATURES, 0x8400_0074, 1 << 1]);
    let request_offered = matches!(request[0], FFA_SUCCESS_32 | FFA_SUCCESS_64);
    let response_offered = context.offers(0x8400_0075);
    let relinquish_offered = context.offers(0x8400_0076);
    Outcome::expect(
        request_offered == response_offered && (!request_offered || relinquish_offered),
        Expected::Text("RETRIEVE_REQ offered iff RETRIEVE_RESP, and then RELINQUISH too"),
        request,
    )
}

/// D11: the 32- and 64-bit direct request calls are offered together with their responses.
pub const D11_DIRECT: Check = Check {
    suite: SUITE,
    name: "d11_direct_request_implies_direct_response",
    source: "D11",
    run: d11_direct,
};
fn d11_direct(context: &mut Context<'_>) -> Outcome {
    let request = context.call(&[FFA_FEATURES, FFA_MSG_SEND_DIRECT_REQ_32]);
    let request_offered = matches!(request[0], FFA_SUCCESS_32 | FFA_SUCCESS_64);
    let response_offered = context.offers(FFA_MSG_SEND_DIRECT_RESP_32);
    Outcome::expect(
        !request_offered || response_offered,
        Expected::Text("DIRECT_RESP offered when DIRECT_REQ is"),
        request,
    )
}
