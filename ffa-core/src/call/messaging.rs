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

/// A DIRECT_REQ (`is_request`) or DIRECT_RESP, built straight into the call.
#[inline]
fn decode_direct(reader: &Reader<'_>, is_64: bool, is_request: bool) -> Result<Call, FfaError> {
    let (source, destination) = endpoints_from_register(reader.x(1))?;
    let flags_register = reader.x(2);
    if flags_register >> 32 != 0 {
        return Err(FfaError::InvalidParameters);
    }
    let flags = flags_register as u32;
    let payload = [reader.x(3), reader.x(4), reader.x(5), reader.x(6), reader.x(7)];
    let body = if flags & FRAMEWORK_MESSAGE_BIT != 0 {
        let message = FrameworkMessage::decode(flags, payload)?;
        if is_64 {
            DirectBody::Framework64(message)
        } else {
            DirectBody::Framework32(message)
        }
    } else {
        // Matrix M04/M05: up to v1.1 a partition message's w2 is MBZ; v1.2 ignores it.
        if flags != 0 && !reader.version_at_least(Version::V1_2) {
            return Err(FfaError::InvalidParameters);
        }
        if is_64 {
            DirectBody::Partition64(payload)
        } else {
            let [w3, w4, w5, w6, w7] = payload;
            DirectBody::Partition32([w3 as u32, w4 as u32, w5 as u32, w6 as u32, w7 as u32])
        }
    };
    let message = DirectMessage { source, destination, body };
    Ok(if is_request { Call::MsgSendDirectReq(message) } else { Call::MsgSendDirectResp(message) })
}

/// A direct request or response: `w1` endpoints, `w2` flags, `w3`-`w7` payload.
#[inline]
pub(super) fn encode_direct(writer: &Writer, message: &DirectMessage) -> [u64; 18] {
    let endpoints = endpoints_to_register(message.source, message.destination);
    match &message.body {
        DirectBody::Partition32([a, b, c, d, e]) => writer.registers([
            endpoints,
            0,
            (*a).into(),
            (*b).into(),
            (*c).into(),
            (*d).into(),
            (*e).into(),
        ]),
        DirectBody::Partition64([a, b, c, d, e]) => {
            writer.registers([endpoints, 0, *a, *b, *c, *d, *e])
        }
        DirectBody::Framework32(framework) | DirectBody::Framework64(framework) => {
            let (flags, [a, b, c, d, e]) = framework.encode();
            writer.registers([endpoints, flags.into(), a, b, c, d, e])
        }
    }
}

/// A REQ2 or RESP2: `x1` endpoints, `x2`-`x3` UUID, `x4`-`x17` payload.
#[inline]
pub(super) fn encode_direct2(writer: &Writer, message: &DirectMessage2) -> [u64; 18] {
    let endpoints = endpoints_to_register(message.source, message.destination);
    let [x2, x3] = message.uuid.to_register_pair();
    let [x4, x5, x6, x7, x8, x9, x10, x11, x12, x13, x14, x15, x16, x17] = message.payload;
    writer.registers([
        endpoints, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, x12, x13, x14, x15, x16, x17,
    ])
}

/// FFA_INTERRUPT: `w1` target, `w2` interrupt ID.
#[inline]
pub(super) fn encode_interrupt(
    writer: &Writer,
    target: TargetInfo,
    interrupt_id: u32,
) -> [u64; 18] {
    writer.registers([target.to_register(), interrupt_id.into()])
}

/// FFA_YIELD: `w1` target, `w2`/`w3` timeout (low, high).
#[inline]
pub(super) fn encode_yield(writer: &Writer, target: TargetInfo, timeout: u64) -> [u64; 18] {
    writer.registers([target.to_register(), timeout & 0xFFFF_FFFF, timeout >> 32])
}

/// FFA_MSG_WAIT: `w2` flags.
#[inline]
pub(super) fn encode_msg_wait(writer: &Writer, flags: MsgWaitFlags) -> [u64; 18] {
    writer.registers([0, flags.bits().into()])
}

/// A REQ2 (`is_request`) or RESP2, built straight into the call.
#[inline]
fn decode_direct2(reader: &Reader<'_>, is_request: bool) -> Result<Call, FfaError> {
    let (source, destination) = endpoints_from_register(reader.x(1))?;
    let uuid = Uuid::from_register_pair(reader.x(2), reader.x(3));
    if !is_request && !uuid.is_nil() {
        return Err(FfaError::InvalidParameters);
    }
    // Each register named, not a loop: straight-line loads even where loops stay rolled.
    let payload = [
        reader.x(4),
        reader.x(5),
        reader.x(6),
        reader.x(7),
        reader.x(8),
        reader.x(9),
        reader.x(10),
        reader.x(11),
        reader.x(12),
        reader.x(13),
        reader.x(14),
        reader.x(15),
        reader.x(16),
        reader.x(17),
    ];
    let message = DirectMessage2 { source, destination, uuid, payload };
    Ok(if is_request {
        Call::MsgSendDirectReq2(message)
    } else {
        Call::MsgSendDirectResp2(message)
    })
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

#[inline]
pub(super) fn decode(function: FunctionId, reader: &Reader<'_>) -> Result<Call, FfaError> {
    use FunctionId as F;
    let is_64 = reader.is_64();
    match function {
        F::Interrupt32 | F::Interrupt64 => target(reader.x(1)).map(|target| Call::Interrupt {
            target,
            interrupt_id: reader.w(2),
            is_64,
        }),
        F::MsgWait32 | F::MsgWait64 => {
            let allowed = if reader.version_at_least(Version::V1_2) {
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
        F::MsgSendDirectReq32 | F::MsgSendDirectReq64 => decode_direct(reader, is_64, true),
        F::MsgSendDirectResp32 | F::MsgSendDirectResp64 => decode_direct(reader, is_64, false),
        F::MsgSendDirectReq2 => decode_direct2(reader, true),
        F::MsgSendDirectResp2 => decode_direct2(reader, false),
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

/// FFA_CONSOLE_LOG: `w1` length, the characters packed little-endian from `x2` (four to a
/// register for SMC32, eight for SMC64).
fn encode_console_log(writer: &Writer, message: &ConsoleLogMessage, is_64: bool) -> [u64; 18] {
    let per_register = if is_64 { 8 } else { 4 };
    let mut arguments = [0u64; 17];
    let [length, characters @ ..] = &mut arguments;
    *length = message.as_bytes().len() as u64;
    for (slot, chunk) in characters.iter_mut().zip(message.as_bytes().chunks(per_register)) {
        let mut bytes = [0u8; 8];
        if let Some(prefix) = bytes.get_mut(..chunk.len()) {
            prefix.copy_from_slice(chunk);
        }
        *slot = u64::from_le_bytes(bytes);
    }
    writer.registers(arguments)
}

pub(super) fn encode(call: &Call, writer: &Writer) -> [u64; 18] {
    match call {
        Call::Interrupt { target, interrupt_id, .. } => {
            encode_interrupt(writer, *target, *interrupt_id)
        }
        Call::MsgWait { flags, .. } => encode_msg_wait(writer, *flags),
        Call::Yield { target, timeout, .. } => encode_yield(writer, *target, *timeout),
        Call::Run { target, .. } => writer.registers([target.to_register()]),
        Call::MsgSendDirectReq(message) | Call::MsgSendDirectResp(message) => {
            encode_direct(writer, message)
        }
        Call::MsgSendDirectReq2(message) | Call::MsgSendDirectResp2(message) => {
            encode_direct2(writer, message)
        }
        Call::MsgSend2 { sender_vm, flags } => {
            writer.registers([u64::from(sender_vm.0) << 16, flags.bits().into()])
        }
        Call::ConsoleLog { message, is_64 } => encode_console_log(writer, message, *is_64),
        Call::NormalWorldResume { .. } | Call::El3IntrHandle => writer.registers([]),
        Call::SecondaryEpRegister { entry_point, .. } => writer.registers([*entry_point]),
        // Not reached: `Call::encode` sends only this file's variants here.
        _ => writer.registers([]),
    }
}
