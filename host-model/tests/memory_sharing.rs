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

fn retrieve(handle: MemoryHandle, sender: EndpointId, operation: MemoryOperation) -> Command {
    Command::Retrieve {
        handle: handle.0,
        sender,
        operation: Some(operation),
        permissions: AccessPermissions::READ_WRITE,
        tag: 0,
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
