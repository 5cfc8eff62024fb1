//! Memory: share/lend/donate of scatter-gather lists with fragmentation, reclaim (DENIED while
//! borrowed), borrower-side retrieve across FRAG_RX/FRAG_TX and relinquish.
#![allow(clippy::unwrap_used, reason = "test helpers: a failed expectation is a panic")]

mod common;

use common::{Firmware, TestBuffers};
use ffa_core::{EndpointId, FfaError, FunctionId};
use ffa_guest_driver::memory::{MemorySend, RetrieveRequest};
use ffa_guest_driver::{
    AccessPermissions, Driver, ErrorKind, MemoryHandle, MemoryOperation, PageRange, Receiver,
};

type TestDriver = Driver<Firmware, TestBuffers>;

fn mapped(firmware: &Firmware) -> TestDriver {
    let mut driver = TestDriver::new(firmware.clone()).unwrap();
    let buffers = TestBuffers::new(0x4000_0000, 0x4000_1000, 4096);
    firmware.attach(&buffers);
    driver.map_buffers(buffers).unwrap();
    driver
}

/// `count` non-contiguous ranges of 1-3 pages.
fn scattered(count: usize) -> Vec<PageRange> {
    (0..count)
        .map(|index| PageRange {
            address: 0x8000_0000 + index as u64 * 0x10_000,
            page_count: 1 + (index % 3) as u32,
        })
        .collect()
}

#[test]
fn a_small_share_fits_one_fragment() {
    let firmware = Firmware::new();
    let mut driver = mapped(&firmware);
    let ranges = [PageRange { address: 0x402d_b000, page_count: 1 }];
    let handle = driver.memory_share(EndpointId(0x8001), &ranges).unwrap();
    let model = firmware.model();
    let transaction = &model.transactions[&handle.0];
    // v1.2: header 48, one 32-byte EMAD, composite 16, one constituent 16.
    assert_eq!(transaction.fragments, vec![112]);
    assert_eq!(transaction.sender, 1);
    assert_eq!(transaction.attributes, 0x2F);
    assert_eq!(transaction.receivers, vec![(0x8001, 0x02)]);
    assert_eq!(transaction.ranges, vec![(0x402d_b000, 1)]);
}

#[test]
fn a_long_scatter_gather_list_is_sent_in_tx_sized_fragments() {
    let firmware = Firmware::new();
    let mut driver = mapped(&firmware);
    let ranges = scattered(600);
    let handle = driver.memory_share(EndpointId(0x8001), &ranges).unwrap();
    let model = firmware.model();
    let transaction = &model.transactions[&handle.0];
    // 96 fixed bytes (v1.2 EMAD) + 600 * 16 = 9696: 4096 (96 + 250 constituents) + 4096 + 1504.
    assert_eq!(transaction.fragments, vec![4096, 4096, 1504]);
    let expected: Vec<_> = ranges.iter().map(|range| (range.address, range.page_count)).collect();
    assert_eq!(transaction.ranges, expected);
    drop(model);
    let calls = firmware.functions_called();
    let tail = &calls[calls.len() - 3..];
    assert_eq!(tail, &[FunctionId::MemShare32, FunctionId::MemFragTx, FunctionId::MemFragTx]);
}

#[test]
fn lend_and_donate_carry_their_rules() {
    let firmware = Firmware::new();
    let mut driver = mapped(&firmware);
    let ranges = scattered(3);
    let two = [
        Receiver { id: EndpointId(0x8001), permissions: AccessPermissions::READ_WRITE },
        Receiver { id: EndpointId(0x8002), permissions: AccessPermissions::READ_ONLY },
    ];
    let lend = MemorySend { zero_memory: true, ..MemorySend::lend(&two, &ranges) };
    let handle = driver.memory_send(&lend).unwrap();
    {
        let model = firmware.model();
        let transaction = &model.transactions[&handle.0];
        assert_eq!(transaction.function, FunctionId::MemLend32);
        assert_eq!(transaction.attributes, 0);
        assert_eq!(transaction.flags, 1);
        assert_eq!(transaction.receivers, vec![(0x8001, 0x02), (0x8002, 0x01)]);
    }
    let error = driver.memory_send(&MemorySend::donate(&two, &ranges)).unwrap_err();
    assert!(matches!(error.kind, ErrorKind::InvalidArgument(_)));
    let one = [Receiver { id: EndpointId(0x8001), permissions: AccessPermissions::NOT_SPECIFIED }];
    let handle = driver.memory_send(&MemorySend::donate(&one, &ranges)).unwrap();
    assert_eq!(firmware.model().transactions[&handle.0].function, FunctionId::MemDonate32);
    // Local validation: zeroing a share, unaligned or empty ranges, sharing with oneself.
    let zero_share = MemorySend { zero_memory: true, ..MemorySend::share(&one, &ranges) };
    assert!(driver.memory_send(&zero_share).is_err());
    let unaligned = [PageRange { address: 0x8000_0800, page_count: 1 }];
    assert!(driver.memory_share(EndpointId(0x8001), &unaligned).is_err());
    let empty = [PageRange { address: 0x8000_0000, page_count: 0 }];
    assert!(driver.memory_share(EndpointId(0x8001), &empty).is_err());
    let error = driver.memory_share(EndpointId(1), &ranges).unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidArgument("receiver is the sender"));
}

#[test]
fn reclaim_is_denied_while_borrowed_and_rejects_unknown_handles() {
    let firmware = Firmware::new();
    let mut driver = mapped(&firmware);
    let handle = driver.memory_share(EndpointId(0x8001), &scattered(2)).unwrap();
    firmware.model().transactions.get_mut(&handle.0).unwrap().borrowed = true;
    let error = driver.memory_reclaim(handle, false).unwrap_err();
    assert_eq!(
        (error.call, error.kind),
        (FunctionId::MemReclaim, ErrorKind::Ffa(FfaError::Denied))
    );
    firmware.model().transactions.get_mut(&handle.0).unwrap().borrowed = false;
    driver.memory_reclaim(handle, false).unwrap();
    assert!(firmware.model().transactions.is_empty());
    let error = driver.memory_reclaim(handle, false).unwrap_err();
    assert!(error.is(FfaError::InvalidParameters));
}

#[test]
fn share_errors_from_the_callee_surface_typed() {
    let firmware = Firmware::new();
    firmware.model().caller_id = 1;
    let mut driver = mapped(&firmware);
    // The double now believes the caller is someone else: the descriptor's sender is wrong.
    firmware.model().caller_id = 2;
    let error = driver.memory_share(EndpointId(0x8001), &scattered(1)).unwrap_err();
    assert_eq!(
        (error.call, error.kind),
        (FunctionId::MemShare32, ErrorKind::Ffa(FfaError::Denied))
    );
    let error = driver.memory_share(EndpointId(0x8001), &scattered(400)).unwrap_err();
    assert_eq!(error.call, FunctionId::MemFragTx);
    assert!(error.is(FfaError::Denied));
}

fn borrower(fragment: usize, ranges: usize) -> (Firmware, TestDriver, Vec<(u64, u32)>) {
    let firmware = Firmware::new();
    firmware.model().caller_id = 0x8001;
    firmware.model().retrieve_fragment = fragment;
    let driver = mapped(&firmware);
    let list: Vec<_> =
        scattered(ranges).iter().map(|range| (range.address, range.page_count)).collect();
    firmware.model().seed_transaction(0x1234, 1, 0x8001, list.clone());
    (firmware, driver, list)
}

fn request() -> RetrieveRequest {
    RetrieveRequest {
        handle: MemoryHandle(0x1234),
        sender: EndpointId(1),
        operation: Some(MemoryOperation::Share),
        tag: 0,
        permissions: AccessPermissions::READ_WRITE,
    }
}

#[test]
fn retrieve_follows_fragments_and_relinquish_returns_the_memory() {
    // Whole-buffer fragments, and odd-sized ones that split constituents.
    for fragment in [4096usize, 1000] {
        let (firmware, mut driver, list) = borrower(fragment, 400);
        let mut out = vec![PageRange::default(); 400];
        let retrieved = driver.memory_retrieve(&request(), &mut out).unwrap();
        assert_eq!(retrieved.handle, MemoryHandle(0x1234));
        assert_eq!(retrieved.sender, EndpointId(1));
        assert_eq!(retrieved.range_count, 400);
        assert_eq!(retrieved.operation, Some(MemoryOperation::Share));
        assert_eq!(retrieved.attributes.0 & 0x40, 0x40, "NS bit reported");
        assert_eq!(retrieved.total_pages, list.iter().map(|&(_, pages)| pages).sum::<u32>());
        let got: Vec<_> = out.iter().map(|range| (range.address, range.page_count)).collect();
        assert_eq!(got, list);
        assert!(!firmware.model().rx_full, "RX released after the last fragment");
        let fragments =
            firmware.functions_called().iter().filter(|f| **f == FunctionId::MemFragRx).count();
        assert_eq!(fragments, (80 + 400 * 16usize).div_ceil(fragment) - 1);
        assert!(firmware.model().transactions[&0x1234].borrowed);
        driver.memory_relinquish(MemoryHandle(0x1234)).unwrap();
        assert!(!firmware.model().transactions[&0x1234].borrowed);
        let error = driver.memory_relinquish(MemoryHandle(0x1234)).unwrap_err();
        assert!(error.is(FfaError::Denied));
    }
}

#[test]
fn retrieve_errors_are_typed() {
    let (_firmware, mut driver, _) = borrower(4096, 2);
    let mut out = [PageRange::default(); 2];
    let unknown = RetrieveRequest { handle: MemoryHandle(0x9999), ..request() };
    let error = driver.memory_retrieve(&unknown, &mut out).unwrap_err();
    assert_eq!(
        (error.call, error.kind),
        (FunctionId::MemRetrieveReq32, ErrorKind::Ffa(FfaError::InvalidParameters))
    );
    let wrong_sender = RetrieveRequest { sender: EndpointId(7), ..request() };
    assert!(driver.memory_retrieve(&wrong_sender, &mut out).unwrap_err().is(FfaError::Denied));
}
