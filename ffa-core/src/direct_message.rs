//! Direct request/response arguments: DIRECT_REQ/RESP (w3-w7 or x3-x7) and REQ2/RESP2 (x4-x17).

use crate::framework_message::FrameworkMessage;
use crate::{EndpointId, FfaError, Uuid};

/// What a DIRECT_REQ or DIRECT_RESP carries after `w1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DirectBody {
    /// A partition message over SMC32: five 32-bit words (w3-w7).
    Partition32([u32; 5]),
    /// A partition message over SMC64: five 64-bit words (x3-x7).
    Partition64([u64; 5]),
    /// A framework message (`w2` bit 31) over SMC32, as the SPMD sends them.
    Framework32(FrameworkMessage),
    /// A framework message over SMC64.
    Framework64(FrameworkMessage),
}

impl DirectBody {
    /// Whether the SMC64 function ID carries this body.
    pub const fn is_64bit(&self) -> bool {
        matches!(self, Self::Partition64(_) | Self::Framework64(_))
    }
}

/// A DIRECT_REQ or DIRECT_RESP (reference §5.1). `w1` holds `source << 16 | destination`; in
/// a response the source is the responder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DirectMessage {
    /// Sender (`w1[31:16]`).
    pub source: EndpointId,
    /// Receiver (`w1[15:0]`).
    pub destination: EndpointId,
    /// Payload and message kind.
    pub body: DirectBody,
}

/// A DIRECT_REQ2 or DIRECT_RESP2 (reference §5.3, SMC64 only, v1.2+).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DirectMessage2 {
    /// Sender (`x1[31:16]`).
    pub source: EndpointId,
    /// Receiver (`x1[15:0]`).
    pub destination: EndpointId,
    /// Service UUID (x2-x3) for REQ2; always Nil for RESP2 (x2-x3 MBZ).
    pub uuid: Uuid,
    /// x4-x17.
    pub payload: [u64; 14],
}

/// Packs `source << 16 | destination` for `w1`.
pub const fn endpoints_to_register(source: EndpointId, destination: EndpointId) -> u64 {
    ((source.0 as u64) << 16) | destination.0 as u64
}

/// Unpacks `w1`/`x1` of a message: `[63:32]` MBZ, source and destination must differ
/// (matrix M03, M05, M10: INVALID_PARAMETERS).
pub fn endpoints_from_register(register: u64) -> Result<(EndpointId, EndpointId), FfaError> {
    if register >> 32 != 0 {
        return Err(FfaError::InvalidParameters);
    }
    let source = EndpointId((register >> 16) as u16);
    let destination = EndpointId(register as u16);
    if source == destination {
        return Err(FfaError::InvalidParameters);
    }
    Ok((source, destination))
}
