//! Full-cycle timings (share -> retrieve -> relinquish -> reclaim) per page, contiguous and
//! scattered, for 1 to 262144 pages.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "benchmark code: a failed expectation should abort loudly"
)]
//!
//! `cargo bench -p memory-sharing --bench ledger` prints median ns per cycle and per page.
//! `-- --list` prints one case a line (function name, tab, pages); `-- --case NAME
//! --iterations N` runs one case N times (for callgrind). Each case is an `#[inline(never)]
//! fn case_*()` running one full cycle on a ledger and data prepared once.

use std::cell::RefCell;
use std::hint::black_box;
use std::time::Instant;

use ffa_core::memory::*;
use ffa_core::EndpointId;
use memory_sharing::*;

const LARGEST: usize = 262_144;
const OWNER: EndpointId = EndpointId(1);
const BORROWER: EndpointId = EndpointId(0x8001);
const BASE: u64 = 0x1_0000_0000;

struct Bench {
    ledger: Ledger<'static>,
    contiguous: Vec<Vec<AddressRange>>,
    scattered: Vec<Vec<AddressRange>>,
}

const SIZES: [usize; 5] = [1, 64, 1024, 16_384, LARGEST];

fn leak<T: Clone>(value: T, count: usize) -> &'static mut [T] {
    Box::leak(vec![value; count].into_boxed_slice())
}

fn setup() -> Bench {
    let storage = LedgerStorage {
        regions: leak(Region::EMPTY, 4),
        transactions: leak(TransactionSlot::EMPTY, 4),
        ranges: leak(RangeSlot::EMPTY, LARGEST),
        index: leak(IndexEntry::EMPTY, LARGEST),
        scratch: leak(IndexEntry::EMPTY, LARGEST),
        receivers: leak(ReceiverSlot::EMPTY, 4),
    };
    let mut ledger = Ledger::new(storage, HandleAllocator::Spmc);
    ledger
        .add_region(OWNER, BASE, 2 * LARGEST as u32, MemoryKind::Normal { secure: false })
        .unwrap();
    let contiguous = SIZES
        .iter()
        .map(|&pages| vec![AddressRange { address: BASE, page_count: pages as u32 }])
        .collect();
    // One range per page, every other page, so no two ranges could be merged.
    let scattered = SIZES
        .iter()
        .map(|&pages| {
            (0..pages as u64)
                .map(|n| AddressRange { address: BASE + 2 * n * PAGE_SIZE, page_count: 1 })
                .collect()
        })
        .collect();
    Bench { ledger, contiguous, scattered }
}

thread_local! {
    static BENCH: RefCell<Bench> = RefCell::new(setup());
}

fn cycle(bench: &mut Bench, scattered: bool, size: usize) -> u64 {
    let ranges = if scattered { &bench.scattered[size] } else { &bench.contiguous[size] };
    let pages = SIZES[size] as u64;
    let ledger = &mut bench.ledger;
    let mut space = NullAddressSpace;
    let access = [ReceiverAccess::new(BORROWER, AccessPermissions::READ_WRITE)];
    let request = SendRequest {
        caller: OWNER,
        transaction_type: TransactionType::Share,
        fields: TransactionFields {
            sender: OWNER,
            attributes: MemoryRegionAttributes::NORMAL_WRITE_BACK_INNER,
            flags: TransactionFlags(0),
            handle: MemoryHandle(0),
            tag: 0,
        },
        receivers: &access,
        total_page_count: pages,
    };
    let handle = ledger.send(&request, black_box(ranges), &mut space).unwrap();
    let listed = [ReceiverAccess::new(BORROWER, AccessPermissions::READ_WRITE)];
    let retrieve = RetrieveArguments {
        caller: BORROWER,
        handle,
        sender: OWNER,
        tag: 0,
        flags: TransactionFlags(0).with_type(TransactionType::Share),
        attributes: MemoryRegionAttributes::NOT_SPECIFIED,
        layout: Layout::V1_1,
        receivers: &listed,
    };
    let info = ledger.retrieve(&retrieve, &mut space).unwrap();
    ledger.relinquish(BORROWER, handle, RelinquishFlags::default(), &mut space).unwrap();
    ledger.reclaim(OWNER, handle, ReclaimFlags::default(), &mut space).unwrap();
    info.page_count
}

macro_rules! cases {
    ($($name:ident: $scattered:expr, $size:expr;)*) => {
        $(
            #[inline(never)]
            fn $name() -> u64 {
                BENCH.with(|bench| cycle(&mut bench.borrow_mut(), $scattered, $size))
            }
        )*
        const CASES: &[(&str, fn() -> u64, usize)] = &[$((stringify!($name), $name, SIZES[$size])),*];
    };
}

cases! {
    case_contiguous_1: false, 0;
    case_contiguous_64: false, 1;
    case_contiguous_1024: false, 2;
    case_contiguous_16384: false, 3;
    case_contiguous_262144: false, 4;
    case_scattered_1: true, 0;
    case_scattered_64: true, 1;
    case_scattered_1024: true, 2;
    case_scattered_16384: true, 3;
    case_scattered_262144: true, 4;
}

fn median_ns(case: fn() -> u64, pages: usize) -> f64 {
    // Enough repetitions for ~4M pages per case, at least 5 samples.
    let repeats = (4_000_000 / pages).clamp(5, 20_000);
    let samples = 15;
    let mut times: Vec<f64> = (0..samples)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..repeats.div_ceil(samples) {
                black_box(case());
            }
            start.elapsed().as_nanos() as f64 / repeats.div_ceil(samples) as f64
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    if arguments.iter().any(|argument| argument == "--list") {
        for (name, _, pages) in CASES {
            println!("{name}\t{pages}");
        }
        return;
    }
    if let Some(position) = arguments.iter().position(|argument| argument == "--case") {
        let name = arguments.get(position + 1).expect("--case NAME");
        let iterations: u64 = arguments
            .iter()
            .position(|argument| argument == "--iterations")
            .and_then(|at| arguments.get(at + 1))
            .map_or(1, |value| value.parse().expect("--iterations N"));
        let (_, case, _) = CASES.iter().find(|(case, _, _)| case == name).expect("known case");
        for _ in 0..iterations {
            black_box(case());
        }
        return;
    }
    println!("{:<28} {:>8} {:>14} {:>10}", "case", "pages", "ns/cycle", "ns/page");
    for (name, case, pages) in CASES {
        case();
        let ns = median_ns(*case, *pages);
        println!("{name:<28} {pages:>8} {ns:>14.0} {:>10.2}", ns / *pages as f64);
    }
}
