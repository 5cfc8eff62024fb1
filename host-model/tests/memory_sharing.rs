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
use host_model::endpoints::{secure_partition, test_uuid};
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
    (0..count).map(|index| PageRange { address: base.0 + 2 * 4096 * index as u64, page_count: 1 }).collect()
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
                memory.write(IntermediateAddress(page.address), &(index as u64).to_le_bytes()).unwrap();
            }
            let handle = match driver.memory_share(SP1, &pages) { Ok(h) => h, Err(e) => { eprintln!("SHARE {e:?}"); return vec![]; } };
            let got = command(&mut driver, SP1, retrieve(handle, VM1, MemoryOperation::Share));
            assert_eq!(got.status, Status::Done, "{got:?}");
            let read = command(&mut driver, SP1, Command::Read { handle: handle.0, page: 2 });
            assert_eq!(read.values[0], 2, "the partition reads what the VM wrote");
            let written = command(&mut driver, SP1, Command::Write { handle: handle.0, value: 100 });
            assert_eq!(written, Answer::done([3, 0, 0, 0]));
            let relinquished = command(&mut driver, SP1, Command::Relinquish { handle: handle.0 });
            assert_eq!(relinquished.status, Status::Done);
            driver.memory_reclaim(handle, false).expect("RECLAIM");
            pages.iter().map(|page| read_u64(&memory, page.address).unwrap()).collect::<Vec<_>>()
        })
        .expect("run");
    if report.value.is_empty() { eprintln!("{}", report.trace_text()); }
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
    assert_eq!(back, 9, "reclaim maps the pages back at the same address, with the borrower's data");
}
