//! Scheduling and messaging calls: direct messages, MSG_WAIT, YIELD, RUN, INTERRUPT, MSG_SEND2,
//! CONSOLE_LOG and the SPMD/SPMC hand-offs.
//!
//! These are the calls of every message round trip, so each has its own decoder and encoder
//! that `Call::decode` and `Call::encode` call directly (one dispatch, no second `match`).

use super::codec::handle_from;
use super::setup::high_id;
use super::{Call, Reader, Writer};
use crate::direct_message::{
    endpoints_from_register, endpoints_to_register, DirectBody, DirectMessage, DirectMessage2,
};
use crate::framework_message::{FrameworkMessage, FRAMEWORK_MESSAGE_BIT};
use crate::indirect_message::MsgSend2Flags;
use crate::{EndpointId, FfaError, TargetInfo, Uuid, Version};

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

#[inline]
fn target(value: u64) -> Result<TargetInfo, FfaError> {
    TargetInfo::from_register(value).ok_or(FfaError::InvalidParameters)
}

/// FFA_INTERRUPT: `w1` target, `w2` interrupt ID.
#[inline]
pub(super) fn decode_interrupt(reader: &Reader<'_>) -> Result<Call, FfaError> {
    let target = target(reader.x(1))?;
    Ok(Call::Interrupt { target, interrupt_id: reader.w(2), is_64: reader.is_64() })
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

/// FFA_MSG_WAIT: `w2` flags (v1.2; MBZ before).
#[inline]
pub(super) fn decode_msg_wait(reader: &Reader<'_>) -> Result<Call, FfaError> {
    let allowed = if reader.version_at_least(Version::V1_2) {
        MsgWaitFlags::RETAIN_RX_BUFFER
    } else {
        MsgWaitFlags::empty()
    };
    let flags = MsgWaitFlags::from_bits(reader.w(2))
        .filter(|flags| allowed.contains(*flags))
        .ok_or(FfaError::InvalidParameters)?;
    Ok(Call::MsgWait { flags, is_64: reader.is_64() })
}

/// FFA_MSG_WAIT: `w2` flags.
#[inline]
pub(super) fn encode_msg_wait(writer: &Writer, flags: MsgWaitFlags) -> [u64; 18] {
    writer.registers([0, flags.bits().into()])
}

/// FFA_YIELD: `w1` target, `w2`/`w3` timeout (low, high).
#[inline]
pub(super) fn decode_yield(reader: &Reader<'_>) -> Result<Call, FfaError> {
    let target = target(reader.x(1))?;
    let timeout = handle_from(reader.w(2), reader.w(3));
    Ok(Call::Yield { target, timeout, is_64: reader.is_64() })
}

/// FFA_YIELD: `w1` target, `w2`/`w3` timeout (low, high).
#[inline]
pub(super) fn encode_yield(writer: &Writer, target: TargetInfo, timeout: u64) -> [u64; 18] {
    writer.registers([target.to_register(), timeout & 0xFFFF_FFFF, timeout >> 32])
}

/// FFA_RUN: `w1` target.
#[inline]
pub(super) fn decode_run(reader: &Reader<'_>) -> Result<Call, FfaError> {
    let target = target(reader.x(1))?;
    Ok(Call::Run { target, is_64: reader.is_64() })
}

/// FFA_RUN: `w1` target.
#[inline]
pub(super) fn encode_run(writer: &Writer, target: TargetInfo) -> [u64; 18] {
    writer.registers([target.to_register()])
}

/// A DIRECT_REQ (`is_request`) or DIRECT_RESP: `w1` endpoints, `w2` flags, `w3`-`w7` payload,
/// built straight into the call.
#[inline]
pub(super) fn decode_direct(reader: &Reader<'_>, is_request: bool) -> Result<Call, FfaError> {
    let (source, destination) = endpoints_from_register(reader.x(1))?;
    let flags_register = reader.x(2);
    if flags_register >> 32 != 0 {
        return Err(FfaError::InvalidParameters);
    }
    let flags = flags_register as u32;
    let body = if flags & FRAMEWORK_MESSAGE_BIT != 0 {
        decode_framework(reader, flags)?
    } else {
        // Matrix M04/M05: up to v1.1 a partition message's w2 is MBZ; v1.2 ignores it.
        if flags != 0 && !reader.version_at_least(Version::V1_2) {
            return Err(FfaError::InvalidParameters);
        }
        if reader.is_64() {
            DirectBody::Partition64([
                reader.x(3),
                reader.x(4),
                reader.x(5),
                reader.x(6),
                reader.x(7),
            ])
        } else {
            DirectBody::Partition32([
                reader.w(3),
                reader.w(4),
                reader.w(5),
                reader.w(6),
                reader.w(7),
            ])
        }
    };
    let message = DirectMessage { source, destination, body };
    Ok(if is_request { Call::MsgSendDirectReq(message) } else { Call::MsgSendDirectResp(message) })
}

/// The framework message of a direct message whose `w2` has the framework bit set (the SPMD's
/// power-management and VM messages: off the partition message path).
#[cold]
fn decode_framework(reader: &Reader<'_>, flags: u32) -> Result<DirectBody, FfaError> {
    let payload = [reader.x(3), reader.x(4), reader.x(5), reader.x(6), reader.x(7)];
    let message = FrameworkMessage::decode(flags, payload)?;
    Ok(if reader.is_64() {
        DirectBody::Framework64(message)
    } else {
        DirectBody::Framework32(message)
    })
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

impl DirectMessage {
    /// The registers of this message sent as FFA_MSG_SEND_DIRECT_REQ (`is_request`) or
    /// FFA_MSG_SEND_DIRECT_RESP to a peer at `version`: the same as encoding
    /// `Call::MsgSendDirectReq(*self)` or `Call::MsgSendDirectResp(*self)`, without building
    /// (and copying) the call.
    #[inline]
    pub fn encode(&self, is_request: bool, version: Version) -> [u64; 18] {
        use crate::FunctionId as F;
        let function = match (is_request, self.body.is_64bit()) {
            (true, false) => F::MsgSendDirectReq32,
            (true, true) => F::MsgSendDirectReq64,
            (false, false) => F::MsgSendDirectResp32,
            (false, true) => F::MsgSendDirectResp64,
        };
        encode_direct(&Writer::new(function, version), self)
    }
}

impl DirectMessage2 {
    /// The registers of this message sent as FFA_MSG_SEND_DIRECT_REQ2 (`is_request`) or
    /// FFA_MSG_SEND_DIRECT_RESP2 to a peer at `version`: the same as encoding the call form,
    /// without building it.
    #[inline]
    pub fn encode(&self, is_request: bool, version: Version) -> [u64; 18] {
        use crate::FunctionId as F;
        let function = if is_request { F::MsgSendDirectReq2 } else { F::MsgSendDirectResp2 };
        encode_direct2(&Writer::new(function, version), self)
    }
}

/// A REQ2 (`is_request`) or RESP2: `x1` endpoints, `x2`-`x3` UUID (MBZ in RESP2), `x4`-`x17`
/// payload, built straight into the call.
#[inline]
pub(super) fn decode_direct2(reader: &Reader<'_>, is_request: bool) -> Result<Call, FfaError> {
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

/// FFA_MSG_SEND2: `w1[31:16]` sender VM (`[15:0]` MBZ), `w2` flags.
pub(super) fn decode_msg_send2(reader: &Reader<'_>) -> Result<Call, FfaError> {
    let sender_vm = high_id(reader.w(1))?;
    let flags = MsgSend2Flags::from_bits(reader.w(2)).ok_or(FfaError::InvalidParameters)?;
    Ok(Call::MsgSend2 { sender_vm, flags })
}

/// FFA_MSG_SEND2: `w1[31:16]` sender VM, `w2` flags.
pub(super) fn encode_msg_send2(
    writer: &Writer,
    sender_vm: EndpointId,
    flags: MsgSend2Flags,
) -> [u64; 18] {
    writer.registers([u64::from(sender_vm.0) << 16, flags.bits().into()])
}

/// FFA_CONSOLE_LOG: `w1` length, the characters packed little-endian from `x2` (four to a
/// register for SMC32, eight for SMC64).
pub(super) fn decode_console_log(reader: &Reader<'_>) -> Result<Call, FfaError> {
    let is_64 = reader.is_64();
    let length = usize::try_from(reader.x(1)).map_err(|_| FfaError::InvalidParameters)?;
    let per_register = if is_64 { 8 } else { 4 };
    let mut characters = [0u8; ConsoleLogMessage::MAX_64];
    let maximum = if is_64 { ConsoleLogMessage::MAX_64 } else { ConsoleLogMessage::MAX_32 };
    for (index, character) in characters.iter_mut().take(length.min(maximum)).enumerate() {
        *character = (reader.x(2 + index / per_register) >> (8 * (index % per_register))) as u8;
    }
    let characters = characters.get(..length).ok_or(FfaError::InvalidParameters)?;
    Ok(Call::ConsoleLog { message: ConsoleLogMessage::new(characters, is_64)?, is_64 })
}

/// FFA_CONSOLE_LOG: `w1` length, the characters packed little-endian from `x2`.
pub(super) fn encode_console_log(
    writer: &Writer,
    message: &ConsoleLogMessage,
    is_64: bool,
) -> [u64; 18] {
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

#[cfg(test)]
// Tests may unwrap: a panic is a test failure.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::FunctionId;
    use proptest::prelude::*;

    const VERSIONS: [Version; 4] = [Version::V1_0, Version::V1_1, Version::V1_2, Version::V1_3];

    const DIRECT: [FunctionId; 6] = [
        FunctionId::MsgSendDirectReq32,
        FunctionId::MsgSendDirectReq64,
        FunctionId::MsgSendDirectResp32,
        FunctionId::MsgSendDirectResp64,
        FunctionId::MsgSendDirectReq2,
        FunctionId::MsgSendDirectResp2,
    ];

    /// Register values that often decode: zero, small, framework flags, 32-bit, anything.
    fn register() -> impl Strategy<Value = u64> {
        prop_oneof![
            Just(0u64),
            0..4u64,
            (0..10u64).prop_map(|kind| 0x8000_0000 | kind),
            any::<u32>().prop_map(u64::from),
            any::<u64>(),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// `DirectMessage(2)::encode` gives exactly the registers of the call form, at every
        /// version, and leaves every register past the message's own zero.
        #[test]
        fn message_encode_is_the_call_forms_encoding(
            function in proptest::sample::select(DIRECT.to_vec()),
            arguments in proptest::array::uniform17(register()),
        ) {
            let mut registers = [0u64; 18];
            registers[0] = function.to_register();
            registers[1..].copy_from_slice(&arguments);
            for decode_version in VERSIONS {
                let Ok(call) = Call::decode(&registers, decode_version) else { continue };
                for version in VERSIONS {
                    let (encoded, used) = match &call {
                        Call::MsgSendDirectReq(message) => (message.encode(true, version), 8),
                        Call::MsgSendDirectResp(message) => (message.encode(false, version), 8),
                        Call::MsgSendDirectReq2(message) => (message.encode(true, version), 18),
                        Call::MsgSendDirectResp2(message) => (message.encode(false, version), 18),
                        other => panic!("{function:?} decoded as {other:?}"),
                    };
                    prop_assert_eq!(encoded, call.encode(version));
                    prop_assert!(encoded[used..].iter().all(|&register| register == 0));
                    // x8-x17 only for SMC64 at v1.2+.
                    if !function.is_64bit() || version < Version::V1_2 {
                        prop_assert!(encoded[8..].iter().all(|&register| register == 0));
                    }
                }
            }
        }
    }

    #[test]
    fn a_partition_answer_encodes_with_swapped_endpoints_and_zero_tail() {
        let message = DirectMessage {
            source: EndpointId(0x8001),
            destination: EndpointId(1),
            body: DirectBody::Partition32([1, 2, 3, 4, 5]),
        };
        let encoded = message.encode(false, Version::V1_2);
        assert_eq!(encoded[..8], [0x8400_0070, 0x8001_0001, 0, 1, 2, 3, 4, 5]);
        assert_eq!(encoded[8..], [0; 10]);
        let request = message.encode(true, Version::V1_2);
        assert_eq!(request[0], 0x8400_006F);
        assert_eq!(request[1..], encoded[1..]);
    }
}
