//! Drives a small ledger with an arbitrary operation sequence (for a cargo-fuzz target).

use ffa_core::memory::{
    AccessPermissions, AddressRange, DataAccess, HandleAllocator, InstructionAccess, Layout,
    MemoryHandle, MemoryRegionAttributes, ReceiverAccess, ReclaimFlags, RelinquishFlags,
    TransactionFields, TransactionFlags, TransactionType,
};
use ffa_core::EndpointId;

use crate::SendRequest;
use crate::{Ledger, MemoryKind, NullAddressSpace, PendingSend, Pools, RetrieveArguments};

const ENDPOINTS: [EndpointId; 4] =
    [EndpointId(1), EndpointId(2), EndpointId(0x8001), EndpointId(0x8002)];

/// Reads bytes one at a time, zero when exhausted.
struct Bytes<'d> {
    data: core::slice::Iter<'d, u8>,
}

impl Bytes<'_> {
    fn next(&mut self) -> u8 {
        self.data.next().copied().unwrap_or(0)
    }

    fn endpoint(&mut self) -> EndpointId {
        ENDPOINTS.get(usize::from(self.next() % 4)).copied().unwrap_or(EndpointId(1))
    }

    fn range(&mut self) -> AddressRange {
        let page = u64::from(self.next() % 80);
        AddressRange { address: 0x10_0000 + page * 4096, page_count: u32::from(self.next() % 4) }
    }

    fn kind(&mut self) -> TransactionType {
        match self.next() % 3 {
            0 => TransactionType::Share,
            1 => TransactionType::Lend,
            _ => TransactionType::Donate,
        }
    }
}

/// Runs an arbitrary sequence of sends (one-shot and batched), retrieves, relinquishes,
/// reclaims, aborts and hypervisor retrieves decoded from `data`; must never panic.
#[doc(hidden)]
pub fn fuzz_operations(data: &[u8]) {
    let mut pools = Pools::<16, 8, 32, 16>::new();
    let mut ledger = Ledger::new(pools.storage(), HandleAllocator::Spmc);
    let mut space = NullAddressSpace;
    for (position, owner) in ENDPOINTS.iter().enumerate() {
        let base = 0x10_0000 + position as u64 * 16 * 4096;
        let _ =
            ledger.add_region(*owner, base, 16, MemoryKind::Normal { secure: owner.is_secure() });
    }
    let _ = ledger.add_region(EndpointId(1), 0x10_0000 + 64 * 4096, 8, MemoryKind::Device);
    let _ = ledger.mark_rxtx(EndpointId(2), AddressRange { address: 0x11_0000, page_count: 1 });
    let mut bytes = Bytes { data: data.iter() };
    let mut handles = [MemoryHandle(0); 4];
    let mut pending: Option<PendingSend> = None;
    while bytes.data.len() > 0 {
        let operation = bytes.next();
        let handle = handles.get(usize::from(bytes.next() % 4)).copied().unwrap_or_default();
        match operation % 9 {
            0 | 1 => {
                let call = bytes.kind();
                let sender = bytes.endpoint();
                let receivers = [
                    ReceiverAccess::new(bytes.endpoint(), permissions(bytes.next(), call)),
                    ReceiverAccess::new(bytes.endpoint(), permissions(bytes.next(), call)),
                ];
                let count = usize::from(bytes.next() % 2) + 1;
                let ranges = [bytes.range(), bytes.range()];
                let range_count = usize::from(bytes.next() % 2) + 1;
                let used = ranges.get(..range_count).unwrap_or(&[]);
                let request = SendRequest {
                    caller: sender,
                    transaction_type: call,
                    fields: TransactionFields {
                        sender,
                        attributes: if call == TransactionType::Share || count > 1 {
                            MemoryRegionAttributes::NORMAL_WRITE_BACK_INNER
                        } else {
                            MemoryRegionAttributes::NOT_SPECIFIED
                        },
                        flags: TransactionFlags(u32::from(bytes.next() % 2)),
                        handle: MemoryHandle(0),
                        tag: u64::from(bytes.next() % 2),
                    },
                    receivers: receivers.get(..count).unwrap_or(&[]),
                    total_page_count: used.iter().map(|range| u64::from(range.page_count)).sum(),
                };
                if operation % 9 == 0 {
                    if let Ok(new) = ledger.send(&request, used, &mut space) {
                        remember(&mut handles, new);
                    }
                } else if let Ok(new) = ledger.begin_send(&request) {
                    if let Some(old) = pending.replace(new) {
                        let _ = ledger.abort(old);
                    }
                }
            }
            2 => {
                if let Some(current) = pending {
                    let _ = ledger.add_ranges(current, &[bytes.range()]);
                }
            }
            3 => {
                if let Some(current) = pending.take() {
                    if let Ok(new) = ledger.commit(current, &mut space) {
                        remember(&mut handles, new);
                    }
                }
            }
            4 => {
                if let Some(current) = pending.take() {
                    let _ = ledger.abort(current);
                }
            }
            5 => {
                let caller = bytes.endpoint();
                let info = ledger.hypervisor_retrieve(handle);
                let (sender, tag, kind) = match info {
                    Ok(info) => (info.sender, info.tag, info.transaction_type),
                    Err(_) => (bytes.endpoint(), 0, TransactionType::Share),
                };
                let instruction = if bytes.next() % 2 == 0 {
                    InstructionAccess::NotSpecified
                } else {
                    InstructionAccess::NotExecutable
                };
                let asked = ReceiverAccess::new(
                    caller,
                    AccessPermissions { data: DataAccess::ReadOnly, instruction },
                );
                let flags = TransactionFlags(u32::from(bytes.next() & 0b101)).with_type(kind);
                let request = RetrieveArguments {
                    caller,
                    handle,
                    sender,
                    tag,
                    flags,
                    attributes: MemoryRegionAttributes::NOT_SPECIFIED,
                    layout: Layout::V1_1,
                    receivers: &[asked],
                };
                let _ = ledger.retrieve(&request, &mut space);
            }
            6 => {
                let flags =
                    RelinquishFlags { clear_memory: bytes.next() % 2 == 0, time_slicing: false };
                let _ = ledger.relinquish(bytes.endpoint(), handle, flags, &mut space);
            }
            7 => {
                let flags =
                    ReclaimFlags { clear_memory: bytes.next() % 2 == 0, time_slicing: false };
                let _ = ledger.reclaim(bytes.endpoint(), handle, flags, &mut space);
            }
            _ => {
                if let Ok(mut cursor) = ledger.ranges(handle) {
                    let mut out = [AddressRange { address: 0, page_count: 0 }; 2];
                    while let Ok(count) = ledger.read_ranges(&mut cursor, &mut out) {
                        if count == 0 {
                            break;
                        }
                    }
                }
            }
        }
    }
}

fn permissions(byte: u8, call: TransactionType) -> AccessPermissions {
    let data = match (call, byte % 3) {
        (TransactionType::Donate, _) | (_, 0) => DataAccess::NotSpecified,
        (_, 1) => DataAccess::ReadOnly,
        _ => DataAccess::ReadWrite,
    };
    AccessPermissions { data, instruction: InstructionAccess::NotSpecified }
}

fn remember(handles: &mut [MemoryHandle; 4], handle: MemoryHandle) {
    handles.rotate_right(1);
    if let Some(first) = handles.first_mut() {
        *first = handle;
    }
}
