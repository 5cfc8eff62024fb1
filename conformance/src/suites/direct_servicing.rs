//! What a partition may not do while it services a direct request (matrix M05, M07), and
//! requests to a partition that takes none (M08).
#![allow(
    clippy::result_large_err,
    reason = "a failed step is the check's Outcome (with the registers that came back), passed up once"
)]

use ffa_core::{EndpointId, FfaError, Uuid, Version};
use ffa_guest_driver::{PartitionInfo, PartitionProperties};

use super::id::*;
use super::support::{driver_failed, error_registers};
use crate::check::{Check, Expected, Got, Outcome};
use crate::context::{Context, Endpoint};
use crate::server::{word, Answer, Command, Status};

const SUITE: &str = "direct_messaging";
const NO_PARTITION: &str = "the setup names no partition that answers direct requests";
const NO_ID: &str = "FFA_ID_GET did not answer";
const NOT_A_SERVER: &str = "the server partition does not run conformance::server";
const NO_REQUEST_64: &str = "FFA_MSG_SEND_DIRECT_REQ_64 is not offered";
const FFA_MSG_SEND_DIRECT_REQ_64: u64 = 0xC400_006F;
const FFA_MSG_SEND_DIRECT_RESP_64: u64 = 0xC400_0070;
const FFA_YIELD: u64 = 0x8400_006C;
/// Partitions the discovery looks at.
const LISTED: usize = 16;
/// An endpoint ID no setup gives out.
const NOBODY: EndpointId = EndpointId(0x7FFE);

fn endpoints(source: EndpointId, destination: EndpointId) -> u64 {
    u64::from(source.0) << 16 | u64::from(destination.0)
}

/// A plain request the test service answers with w3 + 1: the partition is back to waiting.
fn still_answers(context: &mut Context<'_>, own: EndpointId, partition: EndpointId) -> Outcome {
    let answer = context.call(&[FFA_MSG_SEND_DIRECT_REQ_32, endpoints(own, partition), 0, 0x4D05]);
    Outcome::expect(
        answer[0] == FFA_MSG_SEND_DIRECT_RESP_32 && answer[3] == 0x4D06,
        Expected::Text("afterwards, a plain request answered with w3 + 1"),
        answer,
    )
}

/// The server's answer to `command` sent as a raw DIRECT_REQ_64, or the outcome when it is
/// no server's answer.
fn command(
    context: &mut Context<'_>,
    own: EndpointId,
    partition: EndpointId,
    command: Command,
) -> Result<Answer, Outcome> {
    let [first, second, third, fourth, fifth] = command.encode();
    let answer = context.call(&[
        FFA_MSG_SEND_DIRECT_REQ_64,
        endpoints(own, partition),
        0,
        first,
        second,
        third,
        fourth,
        fifth,
    ]);
    if answer[0] != FFA_MSG_SEND_DIRECT_RESP_64 || answer[1] != endpoints(partition, own) {
        return Err(Outcome::Failed {
            expected: Expected::Text("the partition's DIRECT_RESP_64 once it gave up"),
            got: Got(answer),
        });
    }
    if answer[3] == first.wrapping_add(1) {
        return Err(Outcome::Skipped(NOT_A_SERVER));
    }
    Ok(Answer::decode([answer[3], answer[4], answer[5], answer[6], answer[7]]))
}

/// Passed if `word` is the status of `error`.
fn status_is(word: u64, error: FfaError) -> Outcome {
    if Status::from_word(word) == Status::Ffa(error) {
        Outcome::Passed
    } else {
        let got = match Status::from_word(word) {
            Status::Ffa(other) => error_registers(other),
            // The call was not refused with an FFA_ERROR.
            _ => [0; 18],
        };
        Outcome::Failed { expected: Expected::Error(error), got: Got(got) }
    }
}

/// The three statuses of [`Command::ServicingRules`], the server's response proving the
/// request was still pending after them.
fn servicing_rules(context: &mut Context<'_>) -> Result<([u64; 4], EndpointId), Outcome> {
    let partition = context.partition.ok_or(Outcome::Skipped(NO_PARTITION))?;
    let own = context.own_id().ok_or(Outcome::Skipped(NO_ID))?;
    if !context.offers(FFA_MSG_SEND_DIRECT_REQ_64) {
        return Err(Outcome::Skipped(NO_REQUEST_64));
    }
    let answer = command(context, own, partition, Command::ServicingRules { other: NOBODY })?;
    if answer.status != Status::Done {
        return Err(Outcome::Failed {
            expected: Expected::Text("the server reports the three refusals"),
            got: Got(error_registers(FfaError::NotSupported)),
        });
    }
    Ok((answer.values, partition))
}

/// M05: while servicing a request, a partition's DIRECT_RESP naming itself as the
/// destination, or an endpoint other than the requester, is INVALID_PARAMETERS, and the
/// request stays pending (the real response follows; the partition then takes new requests).
/// M05's w2 rule (non-zero w2 before v1.2) needs a server below v1.2; the server speaks 1.2.
pub const M05: Check = Check {
    suite: SUITE,
    name: "m05_direct_response_to_itself_or_a_non_requester_is_invalid",
    source: "M05",
    run: m05,
};
fn m05(context: &mut Context<'_>) -> Outcome {
    let ([_, to_itself, elsewhere, _], partition) = match servicing_rules(context) {
        Ok(got) => got,
        Err(outcome) => return outcome,
    };
    let Some(own) = context.own_id() else { return Outcome::Skipped(NO_ID) };
    Outcome::all(&[
        status_is(to_itself, FfaError::InvalidParameters),
        status_is(elsewhere, FfaError::InvalidParameters),
        still_answers(context, own, partition),
    ])
}

/// M07: FFA_MSG_WAIT from a partition servicing a direct request is DENIED, and the request
/// stays pending.
pub const M07_WAIT: Check = Check {
    suite: SUITE,
    name: "m07_msg_wait_while_servicing_a_request_is_denied",
    source: "M07",
    run: m07_wait,
};
fn m07_wait(context: &mut Context<'_>) -> Outcome {
    let ([wait, ..], partition) = match servicing_rules(context) {
        Ok(got) => got,
        Err(outcome) => return outcome,
    };
    let Some(own) = context.own_id() else { return Outcome::Skipped(NO_ID) };
    Outcome::all(&[status_is(wait, FfaError::Denied), still_answers(context, own, partition)])
}

/// M07 (v1.1 and later): a partition may FFA_YIELD while servicing a request; the requester
/// gets FFA_YIELD naming the partition, resumes it with FFA_RUN, and then gets the response.
pub const M07_YIELD: Check = Check {
    suite: SUITE,
    name: "m07_yield_while_servicing_a_request_returns_to_the_requester",
    source: "M07",
    run: m07_yield,
};
fn m07_yield(context: &mut Context<'_>) -> Outcome {
    if context.version < Version::V1_1 {
        return Outcome::Skipped("before v1.1 a partition servicing a request may not yield");
    }
    if context.endpoint == Endpoint::SecurePartition {
        return Outcome::Skipped("FFA_RUN is the normal world's scheduler's call");
    }
    let Some(partition) = context.partition else { return Outcome::Skipped(NO_PARTITION) };
    let Some(own) = context.own_id() else { return Outcome::Skipped(NO_ID) };
    if !context.offers(FFA_RUN) {
        return Outcome::Skipped("FFA_RUN is not offered");
    }
    if !context.offers(FFA_MSG_SEND_DIRECT_REQ_64) {
        return Outcome::Skipped(NO_REQUEST_64);
    }
    let yielded =
        context.call(&[FFA_MSG_SEND_DIRECT_REQ_64, endpoints(own, partition), 0, word::YIELD]);
    if yielded[0] == FFA_MSG_SEND_DIRECT_RESP_64 && yielded[3] == word::YIELD.wrapping_add(1) {
        return Outcome::Skipped(NOT_A_SERVER);
    }
    if yielded[0] != FFA_YIELD || yielded[1] >> 16 != u64::from(partition.0) {
        return Outcome::Failed {
            expected: Expected::Text("FFA_YIELD naming the server in w1[31:16]"),
            got: Got(yielded),
        };
    }
    let resumed = context.call(&[FFA_RUN, yielded[1] & 0xFFFF_FFFF]);
    let answered = resumed[0] == FFA_MSG_SEND_DIRECT_RESP_64
        && resumed[1] == endpoints(partition, own)
        && Status::from_word(resumed[3]) == Status::Done;
    if !answered {
        return Outcome::Failed {
            expected: Expected::Text("FFA_RUN resumes the server, whose response comes back"),
            got: Got(resumed),
        };
    }
    still_answers(context, own, partition)
}

/// M08: a direct request to a partition whose discovered properties say it receives none is
/// DENIED (found with FFA_PARTITION_INFO_GET; with none such, the check skips). A request to
/// the server afterwards is still answered.
pub const M08: Check = Check {
    suite: SUITE,
    name: "m08_direct_request_to_a_partition_without_direct_receipt_is_denied",
    source: "M08",
    run: m08,
};
fn m08(context: &mut Context<'_>) -> Outcome {
    let Some(own) = context.own_id() else { return Outcome::Skipped(NO_ID) };
    let found = context.with_driver(|driver, _| {
        let empty = PartitionInfo {
            id: EndpointId(0),
            execution_contexts: 0,
            properties: PartitionProperties::empty(),
            uuid: Uuid::NIL,
            image_uuid: None,
            partition_version: None,
        };
        let mut listed = [empty; LISTED];
        let count = driver.partition_info(Uuid::NIL, &mut listed)?;
        Ok(listed.iter().take(count).map(|info| (info.id, info.properties)).find(
            |(id, properties)| {
                id.0 & 0x8000 != 0
                    && *id != own
                    && !properties.contains(PartitionProperties::DIRECT_REQUEST_RECEIVE)
            },
        ))
    });
    let target = match found {
        Ok(Ok(Some((target, _)))) => target,
        Ok(Ok(None)) => {
            return Outcome::Skipped("no partition without direct-request receipt is listed")
        }
        Ok(Err(error)) => return driver_failed("FFA_PARTITION_INFO_GET lists partitions", error),
        Err(_) => return Outcome::Skipped("the runner lends no RX/TX buffers for discovery"),
    };
    let refused = Outcome::expect_error(
        context.call(&[FFA_MSG_SEND_DIRECT_REQ_32, endpoints(own, target), 0, 0x4D08]),
        FfaError::Denied,
    );
    match context.partition {
        Some(partition) => Outcome::all(&[refused, still_answers(context, own, partition)]),
        None => refused,
    }
}
