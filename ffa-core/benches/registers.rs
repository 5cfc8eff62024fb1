//! Register codec timings: decoding and encoding the calls on the direct-message hot path.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test and benchmark code: a failed expectation should abort loudly"
)]
//!
//! `cargo bench -p ffa-core --bench registers` prints a table (median ns per call over many
//! runs). `-- --list` prints the cases (name, a tab, one item per call), `-- --case <name>
//! --iterations N` runs one case N times, for `valgrind --tool=callgrind`. Each case is one
//! `#[inline(never)] fn case_<name>()` decoding or encoding one call prepared once; inputs pass
//! through `black_box`, so nothing is folded at compile time.

use std::hint::black_box;
use std::time::Instant;

use ffa_core::call::MsgWaitFlags;
use ffa_core::direct_message::{DirectBody, DirectMessage, DirectMessage2};
use ffa_core::{
    Call, EndpointId, FfaError, Return, SuccessArgs, TargetInfo, Uuid, VcpuId, Version,
};

/// FFA_MSG_SEND_DIRECT_REQ_32 from VM 1 to partition 0x8001, five payload words.
const DIRECT_REQUEST_32: [u64; 18] =
    [0x8400_006F, 0x0001_8001, 0, 0x11, 0x22, 0x33, 0x44, 0x55, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

/// FFA_MSG_SEND_DIRECT_REQ_64 at v1.2: x3-x7 payload, x8-x17 holding values the call ignores.
const DIRECT_REQUEST_64: [u64; 18] = [
    0xC400_006F,
    0x0001_8001,
    0,
    0x1111_0000_0000_0001,
    0x2222_0000_0000_0002,
    0x3333_0000_0000_0003,
    0x4444_0000_0000_0004,
    0x5555_0000_0000_0005,
    8,
    9,
    10,
    11,
    12,
    13,
    14,
    15,
    16,
    17,
];

/// FFA_MSG_SEND_DIRECT_REQ2 at v1.2: a service UUID in x2-x3 and x4-x17 payload.
const DIRECT_REQUEST_2: [u64; 18] = [
    0xC400_008D,
    0x0001_8001,
    0x0123_4567_89AB_CDEF,
    0xFEDC_BA98_7654_3210,
    4,
    5,
    6,
    7,
    8,
    9,
    10,
    11,
    12,
    13,
    14,
    15,
    16,
    17,
];

/// FFA_MSG_SEND_DIRECT_RESP_32 from partition 0x8001 to VM 1 (what a requester decodes).
const DIRECT_RESPONSE_32: [u64; 18] =
    [0x8400_0070, 0x8001_0001, 0, 1, 2, 3, 4, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

/// FFA_MSG_WAIT_32 with no flags.
const MSG_WAIT: [u64; 18] = [0x8400_006B, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

const DIRECT_RESPONSE: Return = Return::DirectResponse(DirectMessage {
    source: EndpointId(0x8001),
    destination: EndpointId(1),
    body: DirectBody::Partition32([1, 2, 3, 4, 5]),
});

const DIRECT_RESPONSE_2: Return = Return::DirectResponse2(DirectMessage2 {
    source: EndpointId(0x8001),
    destination: EndpointId(1),
    uuid: Uuid([0; 16]),
    payload: [4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17],
});

const SUCCESS: Return = Return::success(SuccessArgs::EMPTY);

const ERROR: Return = Return::error(FfaError::InvalidParameters);

const RUN: Call = Call::Run {
    target: TargetInfo { endpoint: EndpointId(0x8001), vcpu: VcpuId(0) },
    is_64: false,
};

/// Makes the decoded call escape (through `black_box`, by reference: no copy), so all of it
/// must be built.
fn decoded(result: Result<Call, FfaError>) -> u64 {
    black_box(&result);
    u64::from(result.is_ok())
}

/// Makes the encoded registers escape (by reference, as for [`decoded`]).
fn encoded(registers: [u64; 18]) -> u64 {
    black_box(&registers);
    registers[0] ^ registers[1]
}

fn decode(registers: &[u64; 18], version: Version) -> u64 {
    decoded(Call::decode(black_box(registers), black_box(version)))
}

fn decode_return(registers: &[u64; 18], version: Version) -> u64 {
    let result = Return::decode(black_box(registers), black_box(version));
    black_box(&result);
    u64::from(result.is_ok())
}

fn encode_return(answer: &Return, version: Version) -> u64 {
    encoded(black_box(answer).encode(black_box(version)))
}

fn encode_call(call: &Call, version: Version) -> u64 {
    encoded(black_box(call).encode(black_box(version)))
}

macro_rules! cases {
    ($($name:ident => $body:expr;)*) => {
        $(
            #[inline(never)]
            fn $name() -> u64 {
                $body
            }
        )*
        const CASES: &[(&str, fn() -> u64)] = &[$((stringify!($name), $name)),*];
    };
}

cases! {
    case_decode_direct_request_32 => decode(&DIRECT_REQUEST_32, Version::V1_1);
    case_decode_direct_request_64 => decode(&DIRECT_REQUEST_64, Version::V1_2);
    case_decode_direct_request_2 => decode(&DIRECT_REQUEST_2, Version::V1_2);
    case_decode_msg_wait => decode(&MSG_WAIT, Version::V1_2);
    case_return_decode_direct_response => decode_return(&DIRECT_RESPONSE_32, Version::V1_1);
    case_encode_direct_response => encode_return(&DIRECT_RESPONSE, Version::V1_1);
    case_encode_direct_response_2 => encode_return(&DIRECT_RESPONSE_2, Version::V1_2);
    case_encode_success => encode_return(&SUCCESS, Version::V1_2);
    case_encode_error => encode_return(&ERROR, Version::V1_2);
    case_encode_run => encode_call(&RUN, Version::V1_2);
}

/// Checks once that every case does what its name says (a decode that fails would make the
/// figures meaningless).
fn check_inputs() {
    assert!(matches!(
        Call::decode(&DIRECT_REQUEST_32, Version::V1_1),
        Ok(Call::MsgSendDirectReq(DirectMessage { body: DirectBody::Partition32(_), .. }))
    ));
    assert!(matches!(
        Call::decode(&DIRECT_REQUEST_64, Version::V1_2),
        Ok(Call::MsgSendDirectReq(DirectMessage { body: DirectBody::Partition64(_), .. }))
    ));
    assert!(matches!(
        Call::decode(&DIRECT_REQUEST_2, Version::V1_2),
        Ok(Call::MsgSendDirectReq2(_))
    ));
    assert!(matches!(
        Return::decode(&DIRECT_RESPONSE_32, Version::V1_1),
        Ok(Return::DirectResponse(DirectMessage { body: DirectBody::Partition32(_), .. }))
    ));
    assert_eq!(
        Call::decode(&MSG_WAIT, Version::V1_2),
        Ok(Call::MsgWait { flags: MsgWaitFlags::empty(), is_64: false })
    );
    assert_eq!(
        DIRECT_RESPONSE.encode(Version::V1_1)[..8],
        [0x8400_0070, 0x8001_0001, 0, 1, 2, 3, 4, 5]
    );
    assert_eq!(
        SUCCESS.encode(Version::V1_2),
        [0x8400_0061, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    );
    assert_eq!(ERROR.encode(Version::V1_2)[..3], [0x8400_0060, 0, 0xFFFF_FFFE]);
}

fn median_ns(case: fn() -> u64) -> f64 {
    let mut batch = 1u64;
    loop {
        let start = Instant::now();
        for _ in 0..batch {
            black_box(case());
        }
        if start.elapsed().as_micros() > 200 {
            break;
        }
        batch *= 2;
    }
    let mut samples: Vec<f64> = (0..101)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..batch {
                black_box(case());
            }
            start.elapsed().as_nanos() as f64 / batch as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn main() {
    let arguments: Vec<String> = std::env::args().collect();
    let value_of = |flag: &str| {
        arguments
            .iter()
            .position(|argument| argument == flag)
            .and_then(|index| arguments.get(index + 1))
    };
    if arguments.iter().any(|argument| argument == "--list") {
        for &(name, _) in CASES {
            println!("{name}\t1");
        }
        return;
    }
    check_inputs();
    if let Some(name) = value_of("--case") {
        let iterations: u64 =
            value_of("--iterations").and_then(|value| value.parse().ok()).unwrap_or(1);
        let Some(&(_, case)) = CASES.iter().find(|(case_name, _)| case_name == name) else {
            eprintln!(
                "unknown case {name}; known: {:?}",
                CASES.iter().map(|case| case.0).collect::<Vec<_>>()
            );
            std::process::exit(2);
        };
        for _ in 0..iterations {
            black_box(case());
        }
        return;
    }
    println!("{:<36} {:>12}", "case", "ns/call");
    for &(name, case) in CASES {
        println!("{:<36} {:>12.1}", name, median_ns(case));
    }
}
