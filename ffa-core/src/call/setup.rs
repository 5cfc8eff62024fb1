//! Setup and discovery calls: VERSION, FEATURES, RX/TX buffers, partition info, ID_GET.

use super::{Call, Reader, Writer};
use crate::features::FeaturesQuery;
use crate::partition_info::PartitionInfoGetFlags;
use crate::rxtx::RxtxMapArgs;
use crate::{EndpointId, FfaError, FunctionId, Uuid, Version};

/// `w1[15:0]` with `[31:16]` MBZ.
pub(super) fn low_id(value: u32) -> Result<EndpointId, FfaError> {
    if value >> 16 != 0 {
        return Err(FfaError::InvalidParameters);
    }
    Ok(EndpointId(value as u16))
}

/// `w1[31:16]` with `[15:0]` MBZ.
pub(super) fn high_id(value: u32) -> Result<EndpointId, FfaError> {
    if value & 0xFFFF != 0 {
        return Err(FfaError::InvalidParameters);
    }
    Ok(EndpointId((value >> 16) as u16))
}

pub(super) fn decode(function: FunctionId, reader: &Reader<'_>) -> Result<Call, FfaError> {
    use FunctionId as F;
    match function {
        F::Version => Ok(Call::Version { requested: reader.w(1) }),
        F::Features => FeaturesQuery::decode(reader.w(1), reader.w(2)).map(Call::Features),
        F::RxRelease => low_id(reader.w(1)).map(|vm_id| Call::RxRelease { vm_id }),
        F::RxAcquire => low_id(reader.w(1)).map(|vm_id| Call::RxAcquire { vm_id }),
        F::RxtxUnmap => high_id(reader.w(1)).map(|vm_id| Call::RxtxUnmap { vm_id }),
        F::RxtxMap32 | F::RxtxMap64 => RxtxMapArgs::decode(reader.x(1), reader.x(2), reader.w(3))
            .map(|buffers| Call::RxtxMap { buffers, is_64: reader.is_64() }),
        F::PartitionInfoGet => (|| {
            let uuid = Uuid::from_words([reader.w(1), reader.w(2), reader.w(3), reader.w(4)]);
            let flags = PartitionInfoGetFlags::from_bits(reader.w(5))
                .filter(|flags| reader.version_at_least(Version::V1_1) || flags.is_empty())
                .ok_or(FfaError::InvalidParameters)?;
            Ok(Call::PartitionInfoGet { uuid, flags })
        })(),
        F::PartitionInfoGetRegs => (|| {
            let uuid = Uuid::from_register_pair(reader.x(1), reader.x(2));
            let word = reader.x(3);
            let start_index = word as u16;
            let tag = (word >> 16) as u16;
            if word >> 32 != 0 || (start_index == 0 && tag != 0) {
                return Err(FfaError::InvalidParameters);
            }
            Ok(Call::PartitionInfoGetRegs { uuid, start_index, tag })
        })(),
        F::IdGet => Ok(Call::IdGet),
        F::SpmIdGet => Ok(Call::SpmIdGet),
        // Not reached: `Call::decode` sends only this file's functions here.
        _ => Ok(Call::Undecoded { function }),
    }
}

pub(super) fn encode(call: &Call, writer: &Writer) -> [u64; 18] {
    match *call {
        Call::Version { requested } => writer.registers([requested.into()]),
        Call::Features(query) => {
            let (word1, word2) = query.encode();
            writer.registers([word1.into(), word2.into()])
        }
        Call::RxRelease { vm_id } | Call::RxAcquire { vm_id } => writer.registers([vm_id.0.into()]),
        Call::RxtxUnmap { vm_id } => writer.registers([u64::from(vm_id.0) << 16]),
        Call::RxtxMap { buffers, .. } => {
            let (tx_address, rx_address, page_count) = buffers.encode();
            writer.registers([tx_address, rx_address, page_count.into()])
        }
        Call::PartitionInfoGet { uuid, flags } => {
            let [word1, word2, word3, word4] = uuid.to_words();
            writer.registers([
                word1.into(),
                word2.into(),
                word3.into(),
                word4.into(),
                flags.bits().into(),
            ])
        }
        Call::PartitionInfoGetRegs { uuid, start_index, tag } => {
            let [low, high] = uuid.to_register_pair();
            writer.registers([low, high, u64::from(tag) << 16 | u64::from(start_index)])
        }
        Call::IdGet | Call::SpmIdGet => writer.registers([]),
        // Not reached: `Call::encode` sends only this file's variants here.
        _ => writer.registers([]),
    }
}
