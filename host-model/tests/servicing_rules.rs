//! What a partition servicing a direct request may not do, at the versions where the rules
//! differ (matrix M05, M07): partitions here negotiate v1.0 or v1.1 and make raw calls. (At
//! v1.2 the conformance suite's M05/M07 checks cover the same through its server.)
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use ffa_core::{Conduit, FfaError, Version};
use host_model::endpoints::{secure_partition, test_uuid};
use host_model::{GuestMemory, ModelBuilder, ModelConduit};

const FFA_VERSION: u64 = 0x8400_0063;
const FFA_ID_GET: u64 = 0x8400_0069;
const FFA_YIELD: u64 = 0x8400_006C;
const FFA_MSG_SEND: u64 = 0x8400_006E;
const FFA_MSG_WAIT: u64 = 0x8400_006B;
const FFA_DIRECT_RESP_32: u64 = 0x8400_0070;

/// What the partition's refused calls answered, per request served.
type Refusals = Arc<Mutex<Vec<Vec<Option<FfaError>>>>>;

fn raw(conduit: &mut ModelConduit, leading: &[u64]) -> [u64; 18] {
    let mut registers = [0u64; 18];
    registers.iter_mut().zip(leading).for_each(|(slot, value)| *slot = *value);
    conduit.call(registers)
}

/// A partition that negotiates `version` with raw calls and, for each DIRECT_REQ_32, first
/// tries a response with w2 = 1, one naming the requester as its source, and (at v1.0)
/// FFA_YIELD and FFA_MSG_SEND, recording what each answered, then responds with w3 + 1.
fn servicing_partition(
    version: Version,
    refusals: Refusals,
) -> impl Fn(ModelConduit, GuestMemory) + Send + Sync + 'static {
    move |mut conduit, _| {
        let word = u64::from(version.major()) << 16 | u64::from(version.minor());
        raw(&mut conduit, &[FFA_VERSION, word]);
        let own = raw(&mut conduit, &[FFA_ID_GET])[2] & 0xFFFF;
        let mut request = raw(&mut conduit, &[FFA_MSG_WAIT]);
        loop {
            let requester = request[1] >> 16 & 0xFFFF;
            let endpoints = own << 16 | requester;
            let answer = request[3].wrapping_add(1);
            let mut tried = vec![
                // M05 (v1.1 and before): w2 is MBZ.
                raw(&mut conduit, &[FFA_DIRECT_RESP_32, endpoints, 1, answer]),
                // M05: the source is not the caller (source and destination swapped).
                raw(&mut conduit, &[FFA_DIRECT_RESP_32, requester << 16 | own, 0, answer]),
            ];
            if version == Version::V1_0 {
                // M07 (v1.0): neither yielding nor a v1.0 message is allowed while servicing.
                tried.push(raw(&mut conduit, &[FFA_YIELD, own << 16]));
                tried.push(raw(&mut conduit, &[FFA_MSG_SEND, endpoints, 0, 8, 0]));
            }
            refusals.lock().unwrap().push(tried.iter().map(error_in).collect());
            request = raw(&mut conduit, &[FFA_DIRECT_RESP_32, endpoints, 0, answer]);
        }
    }
}

/// Two requests to a partition at `version`: both answered (the refusals changed nothing),
/// and what its refused calls answered.
fn serve_twice(version: Version) -> ([[u32; 5]; 2], Vec<Vec<Option<FfaError>>>) {
    let refusals = Refusals::default();
    let mut description = secure_partition(SP1.0, test_uuid(1));
    description.version = version;
    let report = ModelBuilder::new()
        .partition(description, servicing_partition(version, refusals.clone()))
        .run(|conduit, _| {
            let mut driver = driver(conduit);
            let first = driver.direct_request_32(SP1, [41, 0, 0, 0, 0]).expect("REQ_32");
            let second = driver.direct_request_32(SP1, [7, 0, 0, 0, 0]).expect("REQ_32");
            [first, second]
        })
        .expect("the model runs");
    let seen = refusals.lock().unwrap().clone();
    (report.value, seen)
}

#[test]
fn m05_a_v1_1_partitions_response_with_w2_set_or_a_wrong_source_is_invalid() {
    let (answers, refusals) = serve_twice(Version::V1_1);
    assert_eq!(answers, [[42, 0, 0, 0, 0], [8, 0, 0, 0, 0]]);
    let invalid = Some(FfaError::InvalidParameters);
    assert_eq!(refusals, vec![vec![invalid, invalid]; 2]);
}

#[test]
fn m05_m07_a_v1_0_partition_servicing_a_request_may_not_yield_or_send() {
    let (answers, refusals) = serve_twice(Version::V1_0);
    assert_eq!(answers, [[42, 0, 0, 0, 0], [8, 0, 0, 0, 0]]);
    let invalid = Some(FfaError::InvalidParameters);
    let denied = Some(FfaError::Denied);
    // M07 names DENIED for the yield and "an error" for FFA_MSG_SEND, which the SPMC does not
    // offer at all.
    let not_supported = Some(FfaError::NotSupported);
    assert_eq!(refusals, vec![vec![invalid, invalid, denied, not_supported]; 2]);
}
