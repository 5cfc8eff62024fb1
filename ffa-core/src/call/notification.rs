//! Notification calls in registers: BITMAP_CREATE/DESTROY, BIND, UNBIND, SET, GET, INFO_GET.

use super::setup::low_id;
use super::{Call, Reader, Writer};
use crate::notification::{BindFlags, GetFlags, NotificationBitmap, SetFlags};
use crate::{EndpointId, FfaError, FunctionId, VcpuId};

fn pair(word: u32) -> (u16, u16) {
    ((word >> 16) as u16, word as u16)
}

fn bitmap(reader: &Reader<'_>) -> NotificationBitmap {
    NotificationBitmap::from_halves(reader.w(3), reader.w(4))
}

pub(super) fn decode(function: FunctionId, reader: &Reader<'_>) -> Result<Call, FfaError> {
    use FunctionId as F;
    let (high, low) = pair(reader.w(1));
    let (sender, receiver) = (EndpointId(high), EndpointId(low));
    match function {
        F::NotificationBitmapCreate => low_id(reader.w(1))
            .map(|vm_id| Call::NotificationBitmapCreate { vm_id, vcpu_count: reader.w(2) }),
        F::NotificationBitmapDestroy => {
            low_id(reader.w(1)).map(|vm_id| Call::NotificationBitmapDestroy { vm_id })
        }
        F::NotificationBind => (|| {
            let flags = BindFlags::from_bits(reader.w(2)).ok_or(FfaError::InvalidParameters)?;
            // Matrix N03: binding an empty bitmap is INVALID_PARAMETERS.
            let bitmap = bitmap(reader);
            if bitmap.0 == 0 {
                return Err(FfaError::InvalidParameters);
            }
            Ok(Call::NotificationBind { sender, receiver, flags, bitmap })
        })(),
        F::NotificationUnbind => {
            if reader.w(2) != 0 {
                Err(FfaError::InvalidParameters)
            } else {
                Ok(Call::NotificationUnbind { sender, receiver, bitmap: bitmap(reader) })
            }
        }
        F::NotificationSet => SetFlags::from_word(reader.w(2)).map(|flags| Call::NotificationSet {
            sender,
            receiver,
            flags,
            bitmap: bitmap(reader),
        }),
        F::NotificationGet => GetFlags::from_bits(reader.w(2))
            .ok_or(FfaError::InvalidParameters)
            .map(|flags| Call::NotificationGet { receiver, vcpu: VcpuId(high), flags }),
        F::NotificationInfoGet32 | F::NotificationInfoGet64 => {
            Ok(Call::NotificationInfoGet { is_64: reader.is_64() })
        }
        // Not reached: `Call::decode` sends only this file's functions here.
        _ => Ok(Call::Undecoded { function }),
    }
}

/// `w1` as `high << 16 | low`.
fn pair_word(high: u16, low: u16) -> u64 {
    u64::from(high) << 16 | u64::from(low)
}

/// The `w3` (low) and `w4` (high) halves of a bitmap.
fn bitmap_words(bitmap: NotificationBitmap) -> (u64, u64) {
    let (low, high) = bitmap.halves();
    (low.into(), high.into())
}

pub(super) fn encode(call: &Call, writer: &Writer) -> [u64; 18] {
    match *call {
        Call::NotificationBitmapCreate { vm_id, vcpu_count } => {
            writer.registers([vm_id.0.into(), vcpu_count.into()])
        }
        Call::NotificationBitmapDestroy { vm_id } => writer.registers([vm_id.0.into()]),
        Call::NotificationBind { sender, receiver, flags, bitmap } => {
            let (low, high) = bitmap_words(bitmap);
            writer.registers([pair_word(sender.0, receiver.0), flags.bits().into(), low, high])
        }
        Call::NotificationUnbind { sender, receiver, bitmap } => {
            let (low, high) = bitmap_words(bitmap);
            writer.registers([pair_word(sender.0, receiver.0), 0, low, high])
        }
        Call::NotificationSet { sender, receiver, flags, bitmap } => {
            let (low, high) = bitmap_words(bitmap);
            writer.registers([pair_word(sender.0, receiver.0), flags.to_word().into(), low, high])
        }
        Call::NotificationGet { receiver, vcpu, flags } => {
            writer.registers([pair_word(vcpu.0, receiver.0), flags.bits().into()])
        }
        Call::NotificationInfoGet { .. } => writer.registers([]),
        // Not reached: `Call::encode` sends only this file's variants here.
        _ => writer.registers([]),
    }
}
