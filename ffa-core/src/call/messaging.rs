//! Scheduling and messaging calls: direct messages, MSG_WAIT, YIELD, RUN, INTERRUPT, MSG_SEND2,
//! CONSOLE_LOG and the SPMD/SPMC hand-offs.

use super::codec::handle_from;
use super::setup::high_id;
use super::{Call, Reader, Writer};
use crate::direct_message::{
    endpoints_from_register, endpoints_to_register, DirectBody, DirectMessage, DirectMessage2,
};
use crate::framework_message::{FrameworkMessage, FRAMEWORK_MESSAGE_BIT};
use crate::indirect_message::MsgSend2Flags;
use crate::{FfaError, FunctionId, TargetInfo, Uuid, Version};

bitflags::bitflags! {
    /// FFA_MSG_WAIT `w2` (v1.2); every other bit is MBZ, all of `w2` before v1.2.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct MsgWaitFlags: u32 {
        /// Keep ownership of the RX buffer.
        const RETAIN_RX_BUFFER = 1 << 0;
    }
}

/// The characters of an FFA_CONSOLE_LOG call (at most 24 for SMC32, 128 for SMC64).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConsoleLogMessage {
    characters: [u8; Self::MAX_64],
    length: u8,
}

impl ConsoleLogMessage {
    /// Most characters in FFA_CONSOLE_LOG_32 (w2-w7).
    pub const MAX_32: usize = 24;
    /// Most characters in FFA_CONSOLE_LOG_64 (x2-x17).
    pub const MAX_64: usize = 128;

    /// A message; empty or longer than the form allows is INVALID_PARAMETERS (matrix D27).
    pub fn new(characters: &[u8], is_64: bool) -> Result<Self, FfaError> {
        let maximum = if is_64 { Self::MAX_64 } else { Self::MAX_32 };
        if characters.is_empty() || characters.len() > maximum {
            return Err(FfaError::InvalidParameters);
        }
        let mut message = Self { characters: [0; Self::MAX_64], length: characters.len() as u8 };
        message
            .characters
            .get_mut(..characters.len())
            .ok_or(FfaError::InvalidParameters)?
            .copy_from_slice(characters);
        Ok(message)
    }

    /// The characters.
    pub fn as_bytes(&self) -> &[u8] {
        self.characters.get(..usize::from(self.length)).unwrap_or(&[])
    }
}

fn target(value: u64) -> Result<TargetInfo, FfaError> {
    TargetInfo::from_register(value).ok_or(FfaError::InvalidParameters)
}

fn decode_direct(reader: &Reader<'_>, is_64: bool) -> Result<DirectMessage, FfaError> {
    let (source, destination) = endpoints_from_register(reader.x(1))?;
    let flags_register = reader.x(2);
    if flags_register >> 32 != 0 {
        return Err(FfaError::InvalidParameters);
    }
    let flags = flags_register as u32;
    let payload = reader.range::<5>(3);
    let body = if flags & FRAMEWORK_MESSAGE_BIT != 0 {
        let message = FrameworkMessage::decode(flags, payload)?;
        if is_64 {
            DirectBody::Framework64(message)
        } else {
            DirectBody::Framework32(message)
        }
    } else {
        // Matrix M04/M05: up to v1.1 a partition message's w2 is MBZ; v1.2 ignores it.
        if flags != 0 && reader.version < Version::V1_2 {
            return Err(FfaError::InvalidParameters);
        }
        if is_64 {
            DirectBody::Partition64(payload)
        } else {
            DirectBody::Partition32(payload.map(|value| value as u32))
        }
    };
    Ok(DirectMessage { source, destination, body })
}

/// A direct request's or response's `w1`-`w7`.
#[inline]
pub(super) fn encode_direct(writer: &mut Writer<'_>, message: &DirectMessage) {
    writer.set(1, endpoints_to_register(message.source, message.destination));
    match &message.body {
        DirectBody::Partition32(words) => {
            for (offset, &word) in words.iter().enumerate() {
                writer.set(3 + offset, word.into());
            }
        }
        DirectBody::Partition64(values) => writer.set_range(3, values),
        DirectBody::Framework32(framework) | DirectBody::Framework64(framework) => {
            let (flags, payload) = framework.encode();
            writer.set(2, flags.into());
            writer.set_range(3, &payload);
        }
    }
}

/// A REQ2's or RESP2's `x1`-`x17`.
#[inline]
pub(super) fn encode_direct2(writer: &mut Writer<'_>, message: &DirectMessage2) {
    writer.set(1, endpoints_to_register(message.source, message.destination));
    writer.set_range(2, &message.uuid.to_register_pair());
    writer.set_range(4, &message.payload);
}

/// FFA_INTERRUPT's `w1` and `w2`.
#[inline]
pub(super) fn encode_interrupt(writer: &mut Writer<'_>, target: TargetInfo, interrupt_id: u32) {
    writer.set(1, target.to_register());
    writer.set(2, interrupt_id.into());
}

/// FFA_YIELD's `w1`-`w3`.
#[inline]
pub(super) fn encode_yield(writer: &mut Writer<'_>, target: TargetInfo, timeout: u64) {
    writer.set(1, target.to_register());
    writer.set(2, timeout & 0xFFFF_FFFF);
    writer.set(3, timeout >> 32);
}

fn decode_direct2(reader: &Reader<'_>, is_request: bool) -> Result<DirectMessage2, FfaError> {
    let (source, destination) = endpoints_from_register(reader.x(1))?;
    let uuid = Uuid::from_register_pair(reader.x(2), reader.x(3));
    if !is_request && !uuid.is_nil() {
        return Err(FfaError::InvalidParameters);
    }
    Ok(DirectMessage2 { source, destination, uuid, payload: reader.range(4) })
}

fn decode_console_log(reader: &Reader<'_>, is_64: bool) -> Result<ConsoleLogMessage, FfaError> {
    let length = usize::try_from(reader.x(1)).map_err(|_| FfaError::InvalidParameters)?;
    let per_register = if is_64 { 8 } else { 4 };
    let mut characters = [0u8; ConsoleLogMessage::MAX_64];
    let maximum = if is_64 { ConsoleLogMessage::MAX_64 } else { ConsoleLogMessage::MAX_32 };
    for (index, character) in characters.iter_mut().take(length.min(maximum)).enumerate() {
        *character = (reader.x(2 + index / per_register) >> (8 * (index % per_register))) as u8;
    }
    ConsoleLogMessage::new(characters.get(..length).ok_or(FfaError::InvalidParameters)?, is_64)
}

pub(super) fn decode(function: FunctionId, reader: &Reader<'_>) -> Result<Call, FfaError> {
    use FunctionId as F;
    let is_64 = function.is_64bit();
    match function {
        F::Interrupt32 | F::Interrupt64 => target(reader.x(1)).map(|target| Call::Interrupt {
            target,
            interrupt_id: reader.w(2),
            is_64,
        }),
        F::MsgWait32 | F::MsgWait64 => {
            let allowed = if reader.version >= Version::V1_2 {
                MsgWaitFlags::RETAIN_RX_BUFFER
            } else {
                MsgWaitFlags::empty()
            };
            MsgWaitFlags::from_bits(reader.w(2))
                .filter(|flags| allowed.contains(*flags))
                .ok_or(FfaError::InvalidParameters)
                .map(|flags| Call::MsgWait { flags, is_64 })
        }
        F::Yield32 | F::Yield64 => target(reader.x(1)).map(|target| Call::Yield {
            target,
            timeout: handle_from(reader.w(2), reader.w(3)),
            is_64,
        }),
        F::Run32 | F::Run64 => target(reader.x(1)).map(|target| Call::Run { target, is_64 }),
        F::MsgSendDirectReq32 | F::MsgSendDirectReq64 => {
            decode_direct(reader, is_64).map(Call::MsgSendDirectReq)
        }
        F::MsgSendDirectResp32 | F::MsgSendDirectResp64 => {
            decode_direct(reader, is_64).map(Call::MsgSendDirectResp)
        }
        F::MsgSendDirectReq2 => decode_direct2(reader, true).map(Call::MsgSendDirectReq2),
        F::MsgSendDirectResp2 => decode_direct2(reader, false).map(Call::MsgSendDirectResp2),
        F::MsgSend2 => (|| {
            let sender_vm = high_id(reader.w(1))?;
            let flags = MsgSend2Flags::from_bits(reader.w(2)).ok_or(FfaError::InvalidParameters)?;
            Ok(Call::MsgSend2 { sender_vm, flags })
        })(),
        F::ConsoleLog32 | F::ConsoleLog64 => {
            decode_console_log(reader, is_64).map(|message| Call::ConsoleLog { message, is_64 })
        }
        F::NormalWorldResume32 | F::NormalWorldResume64 => Ok(Call::NormalWorldResume { is_64 }),
        F::El3IntrHandle => Ok(Call::El3IntrHandle),
        F::SecondaryEpRegister32 | F::SecondaryEpRegister64 => {
            Ok(Call::SecondaryEpRegister { entry_point: reader.x(1), is_64 })
        }
        // Not reached: `Call::decode` sends only this file's functions here.
        _ => Ok(Call::Undecoded { function }),
    }
}

pub(super) fn encode(call: &Call, writer: &mut Writer<'_>) {
    match call {
        Call::Interrupt { target, interrupt_id, .. } => {
            encode_interrupt(writer, *target, *interrupt_id)
        }
        Call::MsgWait { flags, .. } => writer.set(2, flags.bits().into()),
        Call::Yield { target, timeout, .. } => encode_yield(writer, *target, *timeout),
        Call::Run { target, .. } => writer.set(1, target.to_register()),
        Call::MsgSendDirectReq(message) | Call::MsgSendDirectResp(message) => {
            encode_direct(writer, message)
        }
        Call::MsgSendDirectReq2(message) | Call::MsgSendDirectResp2(message) => {
            encode_direct2(writer, message)
        }
        Call::MsgSend2 { sender_vm, flags } => {
            writer.set(1, u64::from(sender_vm.0) << 16);
            writer.set(2, flags.bits().into());
        }
        Call::ConsoleLog { message, is_64 } => {
            let per_register = if *is_64 { 8 } else { 4 };
            writer.set(1, message.as_bytes().len() as u64);
            for (index, chunk) in message.as_bytes().chunks(per_register).enumerate() {
                let mut bytes = [0u8; 8];
                if let Some(prefix) = bytes.get_mut(..chunk.len()) {
                    prefix.copy_from_slice(chunk);
                }
                writer.set(2 + index, u64::from_le_bytes(bytes));
            }
        }
        Call::NormalWorldResume { .. } | Call::El3IntrHandle => {}
        Call::SecondaryEpRegister { entry_point, .. } => writer.set(1, *entry_point),
        // Not reached: `Call::encode` sends only this file's variants here.
        _ => {}
    }
}
