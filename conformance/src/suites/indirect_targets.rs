//! Indirect messages to partitions that do not take them (matrix I03).

use ffa_core::{FfaError, Uuid};
use ffa_guest_driver::{DriverError, ErrorKind, PartitionInfo, PartitionProperties};

use super::support::{driver_failed, error_registers, missing, setup_lacks, with_driver};
use crate::check::{Check, Expected, Got, Outcome};
use crate::context::Context;

const SUITE: &str = "indirect_messaging";
const FFA_MSG_SEND2: u64 = 0x8400_0086;
/// Partitions the discovery looks at.
const LISTED: usize = 16;

/// I03: FFA_MSG_SEND2 to a partition whose properties say it takes no indirect messages is
/// DENIED. The partition is found with FFA_PARTITION_INFO_GET; with none such, the check
/// skips.
pub const I03: Check = Check {
    suite: SUITE,
    name: "i03_message_to_a_partition_without_indirect_messaging_is_denied",
    source: "I03",
    run: i03,
};
fn i03(context: &mut Context<'_>) -> Outcome {
    if let Some(skip) = setup_lacks(context, 0) {
        return skip;
    }
    if let Some(skip) = missing(context, &[(FFA_MSG_SEND2, "FFA_MSG_SEND2 is not offered")]) {
        return skip;
    }
    with_driver(context, |driver, _| {
        let empty = PartitionInfo {
            id: ffa_core::EndpointId(0),
            execution_contexts: 0,
            properties: PartitionProperties::empty(),
            uuid: Uuid::NIL,
            image_uuid: None,
            partition_version: None,
        };
        let mut listed = [empty; LISTED];
        let count = match driver.partition_info(Uuid::NIL, &mut listed) {
            Ok(count) => count,
            Err(error) => return driver_failed("FFA_PARTITION_INFO_GET lists partitions", error),
        };
        let own = driver.id();
        let Some(target) = listed.iter().take(count).find(|info| {
            info.id.0 & 0x8000 != 0
                && info.id != own
                && !info.properties.contains(PartitionProperties::INDIRECT_MESSAGES)
        }) else {
            return Outcome::Skipped("no partition without indirect messaging is listed");
        };
        let target = target.id;
        let expected = Expected::Error(FfaError::Denied);
        match driver.send_indirect(target, Uuid::NIL, &0x103u64.to_le_bytes()) {
            Err(DriverError { kind: ErrorKind::Ffa(FfaError::Denied), .. }) => Outcome::Passed,
            Err(DriverError { kind: ErrorKind::Ffa(other), .. }) => {
                Outcome::Failed { expected, got: Got(error_registers(other)) }
            }
            Err(other) => driver_failed("the call reaches the implementation", other),
            Ok(()) => {
                let mut registers = [0u64; 18];
                registers[0] = 0x8400_0061;
                Outcome::Failed { expected, got: Got(registers) }
            }
        }
    })
}
