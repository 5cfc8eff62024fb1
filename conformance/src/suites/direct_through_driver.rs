//! Direct messaging through the guest driver: FFA_MSG_SEND_DIRECT_REQ2 to the server,
//! addressed by the UUID discovery reports (matrix M01 for REQ2, M10's well-formed case).

use ffa_core::Uuid;
use ffa_guest_driver::PartitionInfo;

use super::support::{driver_failed, step_failed, with_driver};
use crate::check::{Check, Outcome};
use crate::context::Context;

const SUITE: &str = "direct_messaging";
const FFA_MSG_SEND_DIRECT_REQ2: u64 = 0xC400_008D;

/// M01/M10: a DIRECT_REQ2 to the server, naming the UUID FFA_PARTITION_INFO_GET reports for it,
/// is answered by the server (x4 + 1, the other words echoed) through DIRECT_RESP2.
pub const M01_REQ2: Check = Check {
    suite: SUITE,
    name: "m01_direct_request2_to_the_servers_uuid_is_answered",
    source: "M01",
    run: request2,
};
fn request2(context: &mut Context<'_>) -> Outcome {
    let Some(server) = context.partition else {
        return Outcome::Skipped("the setup names no server partition");
    };
    if context.buffers.is_none() {
        return Outcome::Skipped("the runner lends no RX/TX buffers");
    }
    if !context.offers(FFA_MSG_SEND_DIRECT_REQ2) {
        return Outcome::Skipped("FFA_MSG_SEND_DIRECT_REQ2 is not offered");
    }
    with_driver(context, |driver, _| {
        let mut found = [PartitionInfo::EMPTY; 16];
        let count = match driver.partition_info(Uuid::NIL, &mut found) {
            Ok(count) => count,
            Err(error) => return driver_failed("FFA_PARTITION_INFO_GET(Nil) succeeds", error),
        };
        let Some(info) = found.iter().take(count).find(|info| info.id == server).copied() else {
            return step_failed("discovery lists the server partition");
        };
        if !info.accepts_direct_request2() {
            return Outcome::Skipped("the server partition does not take DIRECT_REQ2");
        }
        let mut payload = [0u64; 14];
        for (index, word) in payload.iter_mut().enumerate() {
            *word = 0x2000 + index as u64;
        }
        payload[0] = 41;
        match driver.direct_request2(server, info.uuid, payload) {
            Ok(answer) => {
                let mut expected = payload;
                expected[0] = 42;
                if answer == expected {
                    Outcome::Passed
                } else {
                    step_failed("DIRECT_RESP2 with x4 = 42 and x5-x17 echoed")
                }
            }
            Err(error) => driver_failed("the server answers DIRECT_REQ2", error),
        }
    })
}
