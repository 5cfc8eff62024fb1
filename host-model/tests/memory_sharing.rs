//! Memory sharing through the whole stack: VMs share, lend and donate pages of their RAM with
//! partitions running the conformance server, which retrieve, write and relinquish them; the
//! stage 2 of every endpoint follows (lenders lose access, reclaim gives it back).
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod common;

use common::*;
use conformance::server::{Answer, Command, Status};
use ffa_core::memory::{AccessPermissions, DataAccess, InstructionAccess};
use ffa_core::{EndpointId, FfaError};
use ffa_guest_driver::memory::MemorySend;
use ffa_guest_driver::{MemoryHandle, MemoryOperation, PageRange, Receiver};
use host_model::endpoints::{secure_partition, test_uuid, virtual_machine};
use host_model::memory::{lock, Access};
use host_model::suite::conformance_server;
use host_model::{GuestMemory, IntermediateAddress, ModelBuilder};

/// Two server partitions.
fn servers() -> ModelBuilder {
    ModelBuilder::new()
        .partition(secure_partition(SP1.0, test_uuid(1)), conformance_server)
        .partition(secure_partition(SP2.0, test_uuid(2)), conformance_server)
}

fn command(driver: &mut ModelDriver, server: EndpointId, command: Command) -> Answer {
    Answer::decode(driver.direct_request_64(server, command.encode()).expect("the server answers"))
}

/// Read-write: unspecified instruction access for SHARE, not executable for the single
/// borrower of a LEND or DONATE (matrix MM21).
fn retrieve(handle: MemoryHandle, sender: EndpointId, operation: MemoryOperation) -> Command {
    let permissions = match operation {
        MemoryOperation::Share => AccessPermissions::READ_WRITE,
        _ => AccessPermissions {
            data: DataAccess::ReadWrite,
            instruction: InstructionAccess::NotExecutable,
        },
    };
    Command::Retrieve {
        handle: handle.0,
        sender,
        operation: Some(operation),
        permissions,
        tag: 0,
        flags: 0,
    }
}

const LEND_READ_WRITE: AccessPermissions =
    AccessPermissions { data: DataAccess::ReadWrite, instruction: InstructionAccess::NotSpecified };

/// Every other page of `count * 2` fresh pages: a non-contiguous buffer.
fn scattered(memory: &GuestMemory, count: usize) -> Vec<PageRange> {
    let base = memory.allocate(2 * count as u64, 4096).expect("RAM");
    (0..count)
        .map(|index| PageRange { address: base.0 + 2 * 4096 * index as u64, page_count: 1 })
        .collect()
}

fn read_u64(memory: &GuestMemory, address: u64) -> Result<u64, host_model::memory::MemoryError> {
    let mut bytes = [0u8; 8];
    memory.read(IntermediateAddress(address), &mut bytes).map(|()| u64::from_le_bytes(bytes))
}

#[test]
fn a_vm_shares_a_scattered_buffer_that_a_partition_retrieves_writes_and_relinquishes() {
    let report = servers()
        .run(|conduit, memory| {
            let mut driver = driver_with_buffers(conduit, &memory);
            let pages = scattered(&memory, 3);
            for (index, page) in pages.iter().enumerate() {
                memory
                    .write(IntermediateAddress(page.address), &(index as u64).to_le_bytes())
                    .unwrap();
            }
            let handle = match driver.memory_share(SP1, &pages) {
                Ok(h) => h,
                Err(e) => {
                    eprintln!("SHARE {e:?}");
                    return vec![];
                }
            };
            let got = command(&mut driver, SP1, retrieve(handle, VM1, MemoryOperation::Share));
            assert_eq!(got.status, Status::Done, "{got:?}");
            let read = command(&mut driver, SP1, Command::Read { handle: handle.0, page: 2 });
            assert_eq!(read.values[0], 2, "the partition reads what the VM wrote");
            let written =
                command(&mut driver, SP1, Command::Write { handle: handle.0, value: 100 });
            assert_eq!(written, Answer::done([3, 0, 0, 0]));
            let relinquished = command(&mut driver, SP1, Command::Relinquish { handle: handle.0 });
            assert_eq!(relinquished.status, Status::Done);
            driver.memory_reclaim(handle, false).expect("RECLAIM");
            pages.iter().map(|page| read_u64(&memory, page.address).unwrap()).collect::<Vec<_>>()
        })
        .expect("run");
    if report.value.is_empty() {
        eprintln!("{}", report.trace_text());
    }
    assert_eq!(report.value, [100, 101, 102], "the VM reads the partition's writes");
}

#[test]
fn lend_removes_the_lenders_access_and_reclaim_restores_it() {
    let report = servers()
        .run(|conduit, memory| {
            let mut driver = driver_with_buffers(conduit, &memory);
            let pages = scattered(&memory, 2);
            memory.write(IntermediateAddress(pages[0].address), &7u64.to_le_bytes()).unwrap();
            let receivers = [Receiver { id: SP1, permissions: LEND_READ_WRITE }];
            let handle = driver.memory_send(&MemorySend::lend(&receivers, &pages)).expect("LEND");
            let lent = read_u64(&memory, pages[0].address).is_err();
            let got = command(&mut driver, SP1, retrieve(handle, VM1, MemoryOperation::Lend));
            let read = command(&mut driver, SP1, Command::Read { handle: handle.0, page: 0 });
            command(&mut driver, SP1, Command::Write { handle: handle.0, value: 9 });
            let relinquished = command(&mut driver, SP1, Command::Relinquish { handle: handle.0 });
            let still_lent = read_u64(&memory, pages[0].address).is_err();
            driver.memory_reclaim(handle, false).expect("RECLAIM");
            let back = read_u64(&memory, pages[0].address).expect("access again");
            (lent, got, read, relinquished, still_lent, back)
        })
        .expect("run");
    let (lent, got, read, relinquished, still_lent, back) = report.value;
    assert!(lent, "LEND takes the lender's access away");
    assert_eq!(got.status, Status::Done, "{got:?}");
    assert_eq!((got.values[2] >> 3) & 3, 2, "the response says LEND");
    assert_eq!(read.values[0], 7, "the borrower reads the lender's data");
    assert_eq!(relinquished.status, Status::Done);
    assert!(still_lent, "no access between relinquish and reclaim");
    assert_eq!(
        back, 9,
        "reclaim maps the pages back at the same address, with the borrower's data"
    );
}

#[test]
fn a_vm_cannot_share_addresses_outside_its_own_stage_2() {
    let report = servers()
        .vm(virtual_machine(2), conformance_server)
        .run(|conduit, memory| {
            let mut driver = driver_with_buffers(conduit, &memory);
            // Not mapped in VM 1's stage 2 at all; then VM 2's RAM by its physical address
            // (0x8100_0000), which VM 1's stage 2 does not map either.
            let outside = [PageRange { address: 0x1000_0000, page_count: 1 }];
            let other_vm = [PageRange { address: 0x8100_0000, page_count: 1 }];
            // One page inside and one outside: nothing may be shared.
            let inside = memory.allocate(1, 4096).unwrap().0;
            let mixed = [PageRange { address: inside, page_count: 1 }, outside[0]];
            let results = [&outside[..], &other_vm[..], &mixed[..]]
                .map(|pages| ffa_error(driver.memory_share(SP1, pages)));
            // The inside page is still VM 1's to share afterwards.
            let handle = driver.memory_share(SP1, &mixed[..1]).expect("SHARE of the page alone");
            driver.memory_reclaim(handle, false).expect("RECLAIM");
            results
        })
        .expect("run");
    assert_eq!(report.value, [FfaError::Denied; 3]);
}

#[test]
fn only_the_owner_reclaims_and_only_a_borrower_retrieves() {
    let report = servers()
        .vm(virtual_machine(2), conformance_server)
        .run(|conduit, memory| {
            let mut driver = driver_with_buffers(conduit, &memory);
            let pages = scattered(&memory, 2);
            memory.write(IntermediateAddress(pages[0].address), &5u64.to_le_bytes()).unwrap();
            // Forwarded to the SPMC (a partition borrows) and kept in the forwarder (a VM does).
            let to_partition = driver.memory_share(SP1, &pages[..1]).expect("SHARE to SP1");
            let to_vm = driver.memory_share(VM2, &pages[1..]).expect("SHARE to VM 2");
            let intruder_retrieve =
                command(&mut driver, VM2, retrieve(to_partition, VM1, MemoryOperation::Share));
            let intruder_reclaims = [to_partition, to_vm]
                .map(|handle| command(&mut driver, VM2, Command::Reclaim { handle: handle.0 }));
            let partition_reclaims =
                command(&mut driver, SP1, Command::Reclaim { handle: to_partition.0 });
            // Nothing changed: the real borrowers retrieve, read and let go; VM 1 reclaims.
            let retrieved =
                command(&mut driver, SP1, retrieve(to_partition, VM1, MemoryOperation::Share));
            let read = command(&mut driver, SP1, Command::Read { handle: to_partition.0, page: 0 });
            let vm_retrieved =
                command(&mut driver, VM2, retrieve(to_vm, VM1, MemoryOperation::Share));
            command(&mut driver, VM2, Command::Write { handle: to_vm.0, value: 77 });
            for (server, handle) in [(SP1, to_partition), (VM2, to_vm)] {
                let answer = command(&mut driver, server, Command::Relinquish { handle: handle.0 });
                assert_eq!(answer.status, Status::Done, "{server:?}");
                driver.memory_reclaim(handle, false).expect("the owner reclaims");
            }
            let written = read_u64(&memory, pages[1].address).unwrap();
            (
                intruder_retrieve,
                intruder_reclaims,
                partition_reclaims,
                retrieved,
                read,
                vm_retrieved,
                written,
            )
        })
        .expect("run");
    let (
        intruder_retrieve,
        intruder_reclaims,
        partition_reclaims,
        retrieved,
        read,
        vm_retrieved,
        written,
    ) = report.value;
    // VM 2 asks the forwarder: no transaction the SPMC allocated names a VM as a borrower, so
    // the borrower list cannot match (reference 7.10 rule 15).
    assert_eq!(intruder_retrieve.status, Status::Ffa(FfaError::InvalidParameters));
    assert_eq!(
        intruder_reclaims.map(|answer| answer.status),
        [Status::Ffa(FfaError::Denied); 2],
        "ledger rule (docs/src/ledger.md): reclaim by anyone but the owner is DENIED, for a \
         forwarded handle as for one the forwarder keeps"
    );
    assert_eq!(
        partition_reclaims.status,
        Status::Ffa(FfaError::Denied),
        "a borrower is not the owner"
    );
    assert_eq!(retrieved.status, Status::Done);
    assert_eq!(read.values[0], 5);
    assert_eq!(vm_retrieved.status, Status::Done, "a VM borrows from a VM in the forwarder");
    assert_eq!(written, 77, "VM 1 reads what VM 2 wrote");
}

#[test]
fn changing_the_tx_buffer_after_the_call_changes_nothing() {
    let report = servers()
        .run(|conduit, memory| {
            let mut driver = driver_with_buffers(conduit, &memory);
            let pages = scattered(&memory, 2);
            let handle = driver.memory_share(SP1, &pages).expect("SHARE");
            // Overwrite the whole descriptor: another receiver, other pages, other lengths.
            let tx = driver
                .buffers_mut()
                .map(|buffers| ffa_guest_driver::Buffers::tx_address(buffers))
                .unwrap();
            memory.write(IntermediateAddress(tx), &[0xA5; 4096]).unwrap();
            let got = command(&mut driver, SP1, retrieve(handle, VM1, MemoryOperation::Share));
            let relinquished = command(&mut driver, SP1, Command::Relinquish { handle: handle.0 });
            driver.memory_reclaim(handle, false).expect("RECLAIM");
            (pages, got, relinquished)
        })
        .expect("run");
    let (pages, got, relinquished) = report.value;
    assert_eq!(got.status, Status::Done, "{got:?}");
    assert_eq!(got.values[0], 2 | 2 << 32, "two pages in two ranges, as sent");
    let first = lock(&report.memory)
        .translate(VM1, IntermediateAddress(pages[0].address), Access::READ)
        .expect("VM 1's page");
    assert_eq!(got.values[1], first.0, "the first range is VM 1's first page, as sent");
    assert_eq!(relinquished.status, Status::Done);
}

#[test]
fn donate_moves_the_page_to_the_partition_for_good() {
    let report = servers()
        .run(|conduit, memory| {
            let mut driver = driver_with_buffers(conduit, &memory);
            let pages = scattered(&memory, 1);
            let receivers = [Receiver { id: SP1, permissions: AccessPermissions::NOT_SPECIFIED }];
            let handle =
                driver.memory_send(&MemorySend::donate(&receivers, &pages)).expect("DONATE");
            let got = command(&mut driver, SP1, retrieve(handle, VM1, MemoryOperation::Donate));
            let written = command(&mut driver, SP1, Command::Write { handle: handle.0, value: 3 });
            let reclaim = driver.memory_reclaim(handle, false);
            let reachable = read_u64(&memory, pages[0].address).is_ok();
            (pages, got, written, reclaim.map_err(|error| error.ffa_error()), reachable)
        })
        .expect("run");
    let (pages, got, written, reclaim, reachable) = report.value;
    assert_eq!(got.status, Status::Done, "{got:?}");
    assert_eq!((got.values[2] >> 3) & 3, 3, "the response says DONATE");
    assert_eq!(written.status, Status::Done);
    assert!(reclaim.is_err(), "the donor cannot take a donated page back: {reclaim:?}");
    assert!(!reachable, "the donor has no access");
    // The partition's stage 2 maps it at IPA = PA, with its data.
    let memory = lock(&report.memory);
    let physical = host_model::PhysicalAddress(got.values[1]);
    let mut bytes = [0u8; 8];
    memory.physical().read(physical, &mut bytes).unwrap();
    assert_eq!(u64::from_le_bytes(bytes), 3);
    assert!(memory.translate(SP1, IntermediateAddress(physical.0), Access::READ_WRITE).is_ok());
    assert!(memory.translate(VM1, IntermediateAddress(pages[0].address), Access::READ).is_err());
}

#[test]
fn a_long_share_between_two_vms_is_fragmented_both_ways_in_the_forwarder() {
    let report = servers()
        .vm(virtual_machine(2), conformance_server)
        .run(|conduit, memory| {
            let mut driver = driver_with_buffers(conduit, &memory);
            // 300 separate pages: a 4,896-byte descriptor, more than one 4 KiB TX or RX buffer.
            let pages = scattered(&memory, 300);
            let handle = driver.memory_share(VM2, &pages).expect("fragmented SHARE");
            let got = command(&mut driver, VM2, retrieve(handle, VM1, MemoryOperation::Share));
            command(&mut driver, VM2, Command::Write { handle: handle.0, value: 1000 });
            let relinquished = command(&mut driver, VM2, Command::Relinquish { handle: handle.0 });
            driver.memory_reclaim(handle, false).expect("RECLAIM");
            (got, relinquished, read_u64(&memory, pages[0].address).unwrap())
        })
        .expect("run");
    let (got, relinquished, first) = report.value;
    assert_eq!(got.status, Status::Done, "{got:?}");
    assert_eq!(got.values[0], 300 | 300 << 32, "every page, one range each");
    assert_eq!(relinquished.status, Status::Done);
    assert_eq!(first, 1000, "VM 2 wrote the first page (it keeps 8 ranges of the 300)");
    let calls: Vec<u64> = report
        .trace
        .iter()
        .filter_map(|entry| match entry.event {
            host_model::TraceEvent::Call { registers, .. } => Some(registers[0]),
            _ => None,
        })
        .collect();
    assert!(calls.contains(&0x8400_007B), "FFA_MEM_FRAG_TX was used");
    assert!(calls.contains(&0x8400_007A), "FFA_MEM_FRAG_RX was used");
}

#[test]
fn lend_takes_every_mapping_of_a_page_and_reclaim_gives_them_back() {
    // VM 1 sees one of its pages at a second address too.
    let page = host_model::builder::VM_RAM_ADDRESS.0 + 4000 * 4096;
    let alias = 0x5000_0000;
    let report = servers()
        .share_memory(VM1, IntermediateAddress(alias), VM1, IntermediateAddress(page), 1)
        .run(move |conduit, memory| {
            let mut driver = driver_with_buffers(conduit, &memory);
            memory.write(IntermediateAddress(alias), &8u64.to_le_bytes()).unwrap();
            let receivers = [Receiver { id: SP1, permissions: LEND_READ_WRITE }];
            let pages = [PageRange { address: page, page_count: 1 }];
            let handle = driver.memory_send(&MemorySend::lend(&receivers, &pages)).expect("LEND");
            let lent = [page, alias].map(|address| read_u64(&memory, address).is_err());
            driver.memory_reclaim(handle, false).expect("RECLAIM");
            let back = [page, alias].map(|address| read_u64(&memory, address).ok());
            (lent, back)
        })
        .expect("run");
    let (lent, back) = report.value;
    assert_eq!(lent, [true, true], "neither address reaches the lent page");
    assert_eq!(back, [Some(8), Some(8)], "both addresses are back after reclaim");
}
