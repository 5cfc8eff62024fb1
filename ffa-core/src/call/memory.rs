//! Memory-management calls in registers: DONATE/LEND/SHARE/RETRIEVE, RECLAIM, FRAG_RX/TX, ...

use super::codec::handle_from;
use super::setup::high_id;
use super::{Call, Reader, Writer};
use crate::rxtx::PAGE_SIZE;
use crate::{FfaError, FunctionId, Version};

/// A caller-allocated buffer holding the transaction descriptor instead of the TX buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DescriptorBuffer {
    /// Buffer address (`w3`/`x3`), 4 KiB aligned, non-zero.
    pub address: u64,
    /// Buffer size in 4 KiB pages (`w4`), non-zero.
    pub page_count: u32,
}

/// `w1`-`w4` of DONATE/LEND/SHARE/RETRIEVE_REQ (reference §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MemoryTransaction {
    /// Total descriptor length in bytes (`w1`).
    pub total_length: u32,
    /// Length of the fragment in this call (`w2`), at most `total_length`.
    pub fragment_length: u32,
    /// `None`: the descriptor is in the TX buffer (`w3` = `w4` = 0).
    pub buffer: Option<DescriptorBuffer>,
}

bitflags::bitflags! {
    /// FFA_MEM_RECLAIM `w3`; `[31:2]` MBZ.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct ReclaimFlags: u32 {
        /// Zero the memory before returning it to the owner.
        const ZERO_MEMORY = 1 << 0;
        /// The operation may be time-sliced (single source: the crate).
        const TIME_SLICE = 1 << 1;
    }
}

fn decode_transaction(reader: &Reader<'_>) -> Result<MemoryTransaction, FfaError> {
    let total_length = reader.w(1);
    let fragment_length = reader.w(2);
    let address = reader.x(3);
    let page_count = reader.w(4);
    if fragment_length > total_length {
        return Err(FfaError::InvalidParameters);
    }
    let buffer = match (address, page_count) {
        (0, 0) => None,
        (0, _) | (_, 0) => return Err(FfaError::InvalidParameters),
        (address, _) if address % PAGE_SIZE != 0 => return Err(FfaError::InvalidParameters),
        (address, page_count) => Some(DescriptorBuffer { address, page_count }),
    };
    Ok(MemoryTransaction { total_length, fragment_length, buffer })
}

fn handle(reader: &Reader<'_>) -> u64 {
    handle_from(reader.w(1), reader.w(2))
}

pub(super) fn decode(function: FunctionId, reader: &Reader<'_>) -> Result<Call, FfaError> {
    use FunctionId as F;
    let is_64 = reader.is_64();
    match function {
        F::MemDonate32 | F::MemDonate64 => {
            decode_transaction(reader).map(|transaction| Call::MemDonate { transaction, is_64 })
        }
        F::MemLend32 | F::MemLend64 => {
            decode_transaction(reader).map(|transaction| Call::MemLend { transaction, is_64 })
        }
        F::MemShare32 | F::MemShare64 => {
            decode_transaction(reader).map(|transaction| Call::MemShare { transaction, is_64 })
        }
        F::MemRetrieveReq32 | F::MemRetrieveReq64 => decode_transaction(reader)
            .map(|transaction| Call::MemRetrieveReq { transaction, is_64 }),
        F::MemRetrieveResp => {
            let (total_length, fragment_length) = (reader.w(1), reader.w(2));
            if fragment_length > total_length {
                Err(FfaError::InvalidParameters)
            } else {
                Ok(Call::MemRetrieveResp { total_length, fragment_length })
            }
        }
        F::MemRelinquish => Ok(Call::MemRelinquish),
        F::MemReclaim => ReclaimFlags::from_bits(reader.w(3))
            .ok_or(FfaError::InvalidParameters)
            .map(|flags| Call::MemReclaim { handle: handle(reader), flags }),
        F::MemOpPause => Ok(Call::MemOpPause { handle: handle(reader) }),
        F::MemOpResume => Ok(Call::MemOpResume { handle: handle(reader) }),
        F::MemFragRx => high_id(reader.w(4)).map(|endpoint| Call::MemFragRx {
            handle: handle(reader),
            offset: reader.w(3),
            endpoint,
        }),
        F::MemFragTx => high_id(reader.w(4)).map(|endpoint| Call::MemFragTx {
            handle: handle(reader),
            fragment_length: reader.w(3),
            endpoint,
        }),
        F::MemPermGet32 | F::MemPermGet64 => {
            let page_count_minus_one = reader.w(2);
            if page_count_minus_one != 0 && !reader.version_at_least(Version::V1_3) {
                Err(FfaError::InvalidParameters)
            } else {
                Ok(Call::MemPermGet { address: reader.x(1), page_count_minus_one, is_64 })
            }
        }
        F::MemPermSet32 | F::MemPermSet64 => {
            let permissions = reader.w(3);
            if permissions & !0b111 != 0 {
                Err(FfaError::InvalidParameters)
            } else {
                Ok(Call::MemPermSet {
                    address: reader.x(1),
                    page_count: reader.w(2),
                    permissions,
                    is_64,
                })
            }
        }
        // Not reached: `Call::decode` sends only this file's functions here.
        _ => Ok(Call::Undecoded { function }),
    }
}

/// A handle as the (low, high) pair of 32-bit register values.
fn handle_words(handle: u64) -> (u64, u64) {
    (handle & 0xFFFF_FFFF, handle >> 32)
}

pub(super) fn encode(call: &Call, writer: &Writer) -> [u64; 18] {
    match *call {
        Call::MemDonate { transaction, .. }
        | Call::MemLend { transaction, .. }
        | Call::MemShare { transaction, .. }
        | Call::MemRetrieveReq { transaction, .. } => {
            let (address, page_count) = match transaction.buffer {
                Some(buffer) => (buffer.address, buffer.page_count.into()),
                None => (0, 0),
            };
            writer.registers([
                transaction.total_length.into(),
                transaction.fragment_length.into(),
                address,
                page_count,
            ])
        }
        Call::MemRetrieveResp { total_length, fragment_length } => {
            writer.registers([total_length.into(), fragment_length.into()])
        }
        Call::MemRelinquish => writer.registers([]),
        Call::MemReclaim { handle, flags } => {
            let (low, high) = handle_words(handle);
            writer.registers([low, high, flags.bits().into()])
        }
        Call::MemOpPause { handle } | Call::MemOpResume { handle } => {
            let (low, high) = handle_words(handle);
            writer.registers([low, high])
        }
        Call::MemFragRx { handle, offset: value, endpoint }
        | Call::MemFragTx { handle, fragment_length: value, endpoint } => {
            let (low, high) = handle_words(handle);
            writer.registers([low, high, value.into(), u64::from(endpoint.0) << 16])
        }
        Call::MemPermGet { address, page_count_minus_one, .. } => {
            writer.registers([address, page_count_minus_one.into()])
        }
        Call::MemPermSet { address, page_count, permissions, .. } => {
            writer.registers([address, page_count.into(), permissions.into()])
        }
        // Not reached: `Call::encode` sends only this file's variants here.
        _ => writer.registers([]),
    }
}
