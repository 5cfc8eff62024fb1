//! FFA_MSG_SEND2: its flags and the partition message header in the TX/RX buffer (reference §9).

use crate::{EndpointId, FfaError, Uuid, Version};
use zerocopy::little_endian::U32;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

bitflags::bitflags! {
    /// FFA_MSG_SEND2 `w2`; every bit but bit 1 is MBZ.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct MsgSend2Flags: u32 {
        /// Raise the schedule receiver interrupt only when returning to the normal world.
        const DELAY_SCHEDULE_RECEIVER = 1 << 1;
    }
}

/// Table "Partition message header", v1.1 (20 bytes).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct PartitionMessageHeaderV1_1 {
    flags: U32,
    reserved: U32,
    payload_offset: U32,
    endpoints: U32,
    payload_size: U32,
}
const _: () = assert!(size_of::<PartitionMessageHeaderV1_1>() == 20);

/// Table "Partition message header", v1.2 (40 bytes).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct PartitionMessageHeaderV1_2 {
    base: PartitionMessageHeaderV1_1,
    reserved: U32,
    uuid: [u8; 16],
}
const _: () = assert!(size_of::<PartitionMessageHeaderV1_2>() == 40);

/// The header size at `version`: 20 (v1.1), 40 (v1.2+); NOT_SUPPORTED at v1.0.
pub fn header_size(version: Version) -> Result<usize, FfaError> {
    if version >= Version::V1_2 {
        Ok(40)
    } else if version >= Version::V1_1 {
        Ok(20)
    } else {
        Err(FfaError::NotSupported)
    }
}

/// A checked indirect message header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageHeader {
    /// Sender (`[31:16]` of the word at offset 12).
    pub sender: EndpointId,
    /// Receiver (`[15:0]`).
    pub receiver: EndpointId,
    /// Offset of the payload from the buffer start.
    pub payload_offset: u32,
    /// Payload size in bytes.
    pub payload_size: u32,
    /// Protocol UUID (v1.2 form; Nil in the v1.1 form).
    pub uuid: Uuid,
}

impl MessageHeader {
    /// Parses and checks the header at the start of `buffer` (a TX buffer of a sender at
    /// `version`), returning it and the payload. Non-zero flags/reserved fields, an offset
    /// inside the header, an empty payload or one past the buffer end, sender = receiver, or
    /// receiver 0xFFFF are INVALID_PARAMETERS (reference §9, matrix I01, I02).
    pub fn parse(buffer: &[u8], version: Version) -> Result<(Self, &[u8]), FfaError> {
        let size = header_size(version)?;
        let invalid = FfaError::InvalidParameters;
        let (base, uuid) = if size == 40 {
            let (wire, _) =
                PartitionMessageHeaderV1_2::ref_from_prefix(buffer).map_err(|_| invalid)?;
            if wire.reserved.get() != 0 {
                return Err(invalid);
            }
            (&wire.base, Uuid(wire.uuid))
        } else {
            let (wire, _) =
                PartitionMessageHeaderV1_1::ref_from_prefix(buffer).map_err(|_| invalid)?;
            (wire, Uuid::NIL)
        };
        if base.flags.get() != 0 || base.reserved.get() != 0 {
            return Err(invalid);
        }
        let endpoints = base.endpoints.get();
        let header = Self {
            sender: EndpointId((endpoints >> 16) as u16),
            receiver: EndpointId(endpoints as u16),
            payload_offset: base.payload_offset.get(),
            payload_size: base.payload_size.get(),
            uuid,
        };
        let offset = usize::try_from(header.payload_offset).map_err(|_| invalid)?;
        let length = usize::try_from(header.payload_size).map_err(|_| invalid)?;
        if offset < size
            || length == 0
            || header.sender == header.receiver
            || header.receiver == EndpointId(0xFFFF)
        {
            return Err(invalid);
        }
        let end = offset.checked_add(length).ok_or(invalid)?;
        let payload = buffer.get(offset..end).ok_or(invalid)?;
        Ok((header, payload))
    }

    /// Writes a header for `version` followed directly by `payload` into `buffer`; returns the
    /// bytes used. NO_MEMORY if they do not fit, INVALID_PARAMETERS for an empty payload.
    /// `payload_offset` and `payload_size` are set by this function.
    pub fn write(
        sender: EndpointId,
        receiver: EndpointId,
        uuid: Uuid,
        payload: &[u8],
        version: Version,
        buffer: &mut [u8],
    ) -> Result<usize, FfaError> {
        let size = header_size(version)?;
        if payload.is_empty() {
            return Err(FfaError::InvalidParameters);
        }
        let end = size.checked_add(payload.len()).ok_or(FfaError::NoMemory)?;
        let base = PartitionMessageHeaderV1_1 {
            flags: 0.into(),
            reserved: 0.into(),
            payload_offset: u32::try_from(size).map_err(|_| FfaError::NoMemory)?.into(),
            endpoints: (u32::from(sender.0) << 16 | u32::from(receiver.0)).into(),
            payload_size: u32::try_from(payload.len()).map_err(|_| FfaError::NoMemory)?.into(),
        };
        let (head, tail) = buffer.get_mut(..end).ok_or(FfaError::NoMemory)?.split_at_mut(size);
        let written = if size == 40 {
            PartitionMessageHeaderV1_2 { base, reserved: 0.into(), uuid: uuid.0 }
                .write_to(head)
                .is_ok()
        } else {
            base.write_to(head).is_ok()
        };
        if !written {
            return Err(FfaError::NoMemory);
        }
        tail.copy_from_slice(payload);
        Ok(end)
    }
}

#[cfg(test)]
// Tests may unwrap: a panic is a test failure.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_in_both_forms() {
        let uuid = Uuid([7; 16]);
        for (version, size) in [(Version::V1_1, 20), (Version::V1_2, 40)] {
            let mut buffer = [0u8; 64];
            let used = MessageHeader::write(
                EndpointId(1),
                EndpointId(0x8001),
                uuid,
                b"hello",
                version,
                &mut buffer,
            )
            .unwrap();
            assert_eq!(used, size + 5);
            assert_eq!(&buffer[12..16], &[0x01, 0x80, 0x01, 0x00]);
            let (header, payload) = MessageHeader::parse(&buffer, version).unwrap();
            assert_eq!(payload, b"hello");
            assert_eq!(header.payload_offset as usize, size);
            assert_eq!(header.uuid, if size == 40 { uuid } else { Uuid::NIL });
        }
        assert_eq!(header_size(Version::V1_0), Err(FfaError::NotSupported));
    }

    #[test]
    fn invalid_headers_are_rejected() {
        let mut buffer = [0u8; 64];
        MessageHeader::write(
            EndpointId(1),
            EndpointId(2),
            Uuid::NIL,
            b"x",
            Version::V1_2,
            &mut buffer,
        )
        .unwrap();
        let check = |mutate: &dyn Fn(&mut [u8; 64])| {
            let mut copy = buffer;
            mutate(&mut copy);
            MessageHeader::parse(&copy, Version::V1_2).map(|(header, _)| header)
        };
        assert!(check(&|_| {}).is_ok());
        assert_eq!(check(&|b| b[0] = 1), Err(FfaError::InvalidParameters));
        assert_eq!(check(&|b| b[20] = 1), Err(FfaError::InvalidParameters));
        assert_eq!(check(&|b| b[8] = 39), Err(FfaError::InvalidParameters));
        assert_eq!(check(&|b| b[16] = 0), Err(FfaError::InvalidParameters));
        assert_eq!(check(&|b| b[16] = 25), Err(FfaError::InvalidParameters));
        assert_eq!(check(&|b| b[12] = 1), Err(FfaError::InvalidParameters));
        assert_eq!(
            check(&|b| {
                b[12] = 0xFF;
                b[13] = 0xFF
            }),
            Err(FfaError::InvalidParameters)
        );
        assert_eq!(
            check(&|b| b[8..12].copy_from_slice(&u32::MAX.to_le_bytes())),
            Err(FfaError::InvalidParameters)
        );
        assert_eq!(
            MessageHeader::write(
                EndpointId(1),
                EndpointId(2),
                Uuid::NIL,
                &[0; 30],
                Version::V1_2,
                &mut [0; 64]
            ),
            Err(FfaError::NoMemory)
        );
    }
}
