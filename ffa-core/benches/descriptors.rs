//! Descriptor build and parse+validate timings, ours beside arm-ffa 0.5 (see ffa-core/Cargo.toml).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test and benchmark code: a failed expectation should abort loudly"
)]
//!
//! `cargo bench -p ffa-core --bench descriptors` prints a table (median ns/op over many runs,
//! and ns per constituent). `-- --case <name> --iterations N` runs one case N times, for
//! `valgrind --tool=callgrind`. Each case is one `#[inline(never)] fn case_<name>()` doing one
//! operation on data prepared once.

use std::hint::black_box;
use std::sync::OnceLock;
use std::time::Instant;

use arm_ffa::memory_management as oracle;
use ffa_core::memory::*;
use ffa_core::EndpointId;

struct Shape {
    receivers: Vec<ReceiverAccess>,
    ranges: Vec<AddressRange>,
    oracle_access: Vec<oracle::MemAccessPerm>,
    oracle_ranges: Vec<oracle::ConstituentMemRegion>,
    bytes: Vec<u8>,
    fragments: Vec<Vec<u8>>,
}

struct Data {
    shapes: [Shape; 4],
}

const FIELDS: TransactionFields = TransactionFields {
    sender: EndpointId(1),
    attributes: MemoryRegionAttributes::NORMAL_WRITE_BACK_INNER,
    flags: TransactionFlags(0),
    handle: MemoryHandle(0),
    tag: 0,
};

const FRAGMENT_SIZE: usize = 4096;

fn shape(receiver_count: u16, range_count: u64) -> Shape {
    let receivers: Vec<ReceiverAccess> = (0..receiver_count)
        .map(|index| ReceiverAccess::new(EndpointId(0x8001 + index), AccessPermissions::READ_WRITE))
        .collect();
    let ranges: Vec<AddressRange> = (0..range_count)
        .map(|index| AddressRange { address: 0x4000_0000 + index * 0x3000, page_count: 2 })
        .collect();
    let oracle_access = receivers
        .iter()
        .map(|access| oracle::MemAccessPerm {
            endpoint_id: access.receiver.0,
            instr_access: oracle::InstuctionAccessPerm::NotSpecified,
            data_access: oracle::DataAccessPerm::ReadWrite,
            flags: 0,
        })
        .collect();
    let oracle_ranges = ranges
        .iter()
        .map(|range| oracle::ConstituentMemRegion {
            address: range.address,
            page_cnt: range.page_count,
        })
        .collect();
    let mut bytes = vec![0u8; 64 * 1024];
    let length = build_transaction(&mut bytes, Layout::V1_1, &FIELDS, &receivers, &ranges).unwrap();
    bytes.truncate(length);
    let mut writer = FragmentWriter::new(Layout::V1_1, FIELDS, &receivers, &ranges).unwrap();
    let mut fragments = Vec::new();
    let mut buffer = vec![0u8; FRAGMENT_SIZE];
    while let Some(fragment_length) = writer.next_fragment(&mut buffer).unwrap() {
        fragments.push(buffer[..fragment_length].to_vec());
    }
    Shape { receivers, ranges, oracle_access, oracle_ranges, bytes, fragments }
}

fn data() -> &'static Data {
    static DATA: OnceLock<Data> = OnceLock::new();
    DATA.get_or_init(|| Data { shapes: [shape(1, 1), shape(1, 64), shape(4, 64), shape(1, 1024)] })
}

thread_local! {
    static OUT: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; 64 * 1024]);
}

/// Runs `write` on the per-thread output buffer.
fn with_output<T>(write: impl FnOnce(&mut [u8]) -> T) -> T {
    OUT.with(|out| write(&mut out.borrow_mut()))
}

fn ours_build(shape: &Shape) -> usize {
    with_output(|out| {
        build_transaction(out, Layout::V1_1, &FIELDS, &shape.receivers, &shape.ranges).unwrap()
    })
}

/// Parse and validate only: every field and range is checked, nothing is read again.
fn ours_parse(shape: &Shape) -> u64 {
    let descriptor = TransactionDescriptor::parse(black_box(&shape.bytes), Layout::V1_1).unwrap();
    black_box(&descriptor);
    descriptor.header.receivers.len() as u64 + descriptor.constituents.len() as u64
}

/// Parse, validate, then read every range (what a consumer that walks the ranges pays).
fn ours_parse_and_read(shape: &Shape) -> u64 {
    let descriptor = TransactionDescriptor::parse(black_box(&shape.bytes), Layout::V1_1).unwrap();
    descriptor
        .constituents
        .iter()
        .fold(descriptor.header.receivers.len() as u64, |sum, range| sum ^ range.address)
}

fn armffa_build(shape: &Shape) -> usize {
    let descriptor = oracle::MemTransactionDesc {
        sender_id: 1,
        mem_region_attr: oracle::MemRegionAttributes::try_from(0x2fu16).unwrap(),
        flags: oracle::MemTransactionFlags(0),
        handle: oracle::Handle(0),
        tag: 0,
    };
    with_output(|out| descriptor.pack(&shape.oracle_ranges, &shape.oracle_access, out))
}

fn armffa_parse(shape: &Shape) -> u64 {
    let (descriptor, access, constituents) =
        oracle::MemTransactionDesc::unpack(black_box(&shape.bytes)).unwrap();
    let mut sum = u64::from(descriptor.sender_id);
    for item in access {
        sum ^= u64::from(item.unwrap().endpoint_id);
    }
    for item in constituents.unwrap() {
        sum ^= item.unwrap().address;
    }
    sum
}

fn ours_build_fragmented(shape: &Shape) -> usize {
    let mut writer =
        FragmentWriter::new(Layout::V1_1, FIELDS, &shape.receivers, &shape.ranges).unwrap();
    with_output(|out| {
        let mut total = 0;
        while let Some(length) = writer.next_fragment(&mut out[..FRAGMENT_SIZE]).unwrap() {
            total += length;
            black_box(&out[..length]);
        }
        total
    })
}

/// Fragments through the streaming reader: parse and validate only.
fn ours_parse_fragmented(shape: &Shape) -> u64 {
    let fragments = black_box(&shape.fragments);
    let total = shape.bytes.len() as u32;
    let (mut reader, header, first) =
        TransactionReader::start(&fragments[0], total, Layout::V1_1).unwrap();
    let mut count = header.receivers.len() as u64 + first.len() as u64;
    for fragment in &fragments[1..] {
        count += reader.next_fragment(fragment).unwrap().len() as u64;
    }
    reader.finish().unwrap();
    count
}

/// Fragments through the streaming reader, reading every range as it arrives.
fn ours_parse_and_read_fragmented(shape: &Shape) -> u64 {
    let fragments = black_box(&shape.fragments);
    let total = shape.bytes.len() as u32;
    let (mut reader, header, first) =
        TransactionReader::start(&fragments[0], total, Layout::V1_1).unwrap();
    let mut sum =
        first.iter().fold(header.receivers.len() as u64, |sum, range| sum ^ range.address);
    for fragment in &fragments[1..] {
        sum = reader
            .next_fragment(fragment)
            .unwrap()
            .iter()
            .fold(sum, |sum, range| sum ^ range.address);
    }
    reader.finish().unwrap();
    sum
}

macro_rules! cases {
    ($($name:ident => $body:expr, $constituents:expr;)*) => {
        $(
            #[inline(never)]
            fn $name() -> u64 {
                $body as u64
            }
        )*
        const CASES: &[(&str, fn() -> u64, u64)] = &[$((stringify!($name), $name, $constituents)),*];
    };
}

cases! {
    case_ours_build_1x1 => ours_build(&data().shapes[0]), 1;
    case_armffa_build_1x1 => armffa_build(&data().shapes[0]), 1;
    case_ours_parse_1x1 => ours_parse(&data().shapes[0]), 1;
    case_armffa_parse_1x1 => armffa_parse(&data().shapes[0]), 1;
    case_ours_build_1x64 => ours_build(&data().shapes[1]), 64;
    case_armffa_build_1x64 => armffa_build(&data().shapes[1]), 64;
    case_ours_parse_1x64 => ours_parse(&data().shapes[1]), 64;
    case_ours_parse_and_read_1x64 => ours_parse_and_read(&data().shapes[1]), 64;
    case_armffa_parse_1x64 => armffa_parse(&data().shapes[1]), 64;
    case_ours_build_4x64 => ours_build(&data().shapes[2]), 64;
    case_armffa_build_4x64 => armffa_build(&data().shapes[2]), 64;
    case_ours_parse_4x64 => ours_parse(&data().shapes[2]), 64;
    case_armffa_parse_4x64 => armffa_parse(&data().shapes[2]), 64;
    case_ours_build_1x1024 => ours_build_fragmented(&data().shapes[3]), 1024;
    case_ours_parse_1x1024 => ours_parse_fragmented(&data().shapes[3]), 1024;
    case_ours_parse_and_read_1x1024 => ours_parse_and_read_fragmented(&data().shapes[3]), 1024;
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
        for &(name, _, constituents) in CASES {
            println!("{name}\t{constituents}");
        }
        return;
    }
    data();
    if let Some(name) = value_of("--case") {
        let iterations: u64 =
            value_of("--iterations").and_then(|value| value.parse().ok()).unwrap_or(1);
        let Some(&(_, case, _)) = CASES.iter().find(|(case_name, _, _)| case_name == name) else {
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
    println!("{:<28} {:>12} {:>18}", "case", "ns/op", "ns/constituent");
    for &(name, case, constituents) in CASES {
        let ns = median_ns(case);
        println!("{:<28} {:>12.1} {:>18.2}", name, ns, ns / constituents as f64);
    }
}
