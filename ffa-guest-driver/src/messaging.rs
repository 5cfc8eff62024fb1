//! Messaging: direct requests (32, 64, REQ2) resumed with FFA_RUN across FFA_INTERRUPT and
//! FFA_YIELD, and indirect messages (FFA_MSG_SEND2, reading an RX message).

use ffa_core::call::Return;
use ffa_core::direct_message::{DirectBody, DirectMessage, DirectMessage2};
use ffa_core::indirect_message::MsgSend2Flags;
use ffa_core::{Call, Conduit, EndpointId, FunctionId, TargetInfo, Uuid, Version};
use zerocopy::little_endian::U32;
use zerocopy::{FromBytes, IntoBytes};

use crate::buffers::Buffers;
use crate::driver::response_function;
use crate::error::{DriverError, ErrorKind, Result};
use crate::message_header::{PartitionMessageHeaderV1_1, PartitionMessageHeaderV1_2};
use crate::Driver;

/// An indirect message read from the RX buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndirectMessage {
    /// Who sent it.
    pub sender: EndpointId,
    /// Who it was for (us).
    pub receiver: EndpointId,
    /// Protocol UUID (v1.2 headers; Nil before).
    pub uuid: Uuid,
    /// Payload length; the first `min(length, out.len())` bytes were copied out.
    pub length: usize,
}

impl<C: Conduit, B: Buffers> Driver<C, B> {
    /// Sends a request and follows FFA_INTERRUPT / FFA_YIELD with FFA_RUN on the returned
    /// target until something else arrives.
    fn request_until_done(&mut self, call: Call) -> Result<Return> {
        let function = call.function_id();
        let mut response = self.link.call(call)?;
        loop {
            let target: TargetInfo = match response {
                Return::Interrupt { target, .. } | Return::Yield { target, .. } => target,
                other => return Ok(other),
            };
            response = self.link.call(Call::Run { target, is_64: false }).map_err(|error| {
                // Keep the request as the failing call; the resume is part of it.
                DriverError::new(function, error.kind)
            })?;
        }
    }

    fn check_responder(
        &self,
        function: FunctionId,
        destination: EndpointId,
        source: EndpointId,
        receiver: EndpointId,
    ) -> Result<()> {
        if source != destination || receiver != self.id() {
            return Err(DriverError::new(
                function,
                ErrorKind::MalformedResponse("response from or to the wrong endpoint"),
            ));
        }
        Ok(())
    }

    fn direct(&mut self, destination: EndpointId, body: DirectBody) -> Result<DirectBody> {
        let message = DirectMessage { source: self.id(), destination, body };
        let call = Call::MsgSendDirectReq(message);
        let function = call.function_id();
        match self.request_until_done(call)? {
            Return::DirectResponse(response) => {
                self.check_responder(function, destination, response.source, response.destination)?;
                Ok(response.body)
            }
            other => Err(DriverError::new(
                function,
                ErrorKind::UnexpectedResponse(response_function(&other)),
            )),
        }
    }

    /// FFA_MSG_SEND_DIRECT_REQ_32: five words to `destination`, five words back.
    pub fn direct_request_32(
        &mut self,
        destination: EndpointId,
        payload: [u32; 5],
    ) -> Result<[u32; 5]> {
        match self.direct(destination, DirectBody::Partition32(payload))? {
            DirectBody::Partition32(words) => Ok(words),
            _ => Err(DriverError::new(
                FunctionId::MsgSendDirectReq32,
                ErrorKind::MalformedResponse("framework message answered a partition message"),
            )),
        }
    }

    /// FFA_MSG_SEND_DIRECT_REQ_64: five 64-bit words each way.
    pub fn direct_request_64(
        &mut self,
        destination: EndpointId,
        payload: [u64; 5],
    ) -> Result<[u64; 5]> {
        match self.direct(destination, DirectBody::Partition64(payload))? {
            DirectBody::Partition64(words) => Ok(words),
            _ => Err(DriverError::new(
                FunctionId::MsgSendDirectReq64,
                ErrorKind::MalformedResponse("wrong response width or framework message"),
            )),
        }
    }

    /// FFA_MSG_SEND_DIRECT_REQ2 (v1.2): fourteen 64-bit words to the service `uuid` of
    /// `destination` (Nil: the partition's default), fourteen back.
    pub fn direct_request2(
        &mut self,
        destination: EndpointId,
        uuid: Uuid,
        payload: [u64; 14],
    ) -> Result<[u64; 14]> {
        let function = FunctionId::MsgSendDirectReq2;
        if self.version() < Version::V1_2 {
            return Err(DriverError::new(function, ErrorKind::NotOffered));
        }
        self.require(function)?;
        let message = DirectMessage2 { source: self.id(), destination, uuid, payload };
        match self.request_until_done(Call::MsgSendDirectReq2(message))? {
            Return::DirectResponse2(response) => {
                self.check_responder(function, destination, response.source, response.destination)?;
                Ok(response.payload)
            }
            other => Err(DriverError::new(
                function,
                ErrorKind::UnexpectedResponse(response_function(&other)),
            )),
        }
    }

    /// FFA_MSG_SEND2 (v1.1): writes the partition message header (40 bytes at v1.2, with the
    /// protocol `uuid`; 20 bytes at v1.1) and `payload` into TX and sends it to `destination`.
    pub fn send_indirect(
        &mut self,
        destination: EndpointId,
        uuid: Uuid,
        payload: &[u8],
    ) -> Result<()> {
        let function = FunctionId::MsgSend2;
        if self.version() < Version::V1_1 {
            return Err(DriverError::new(function, ErrorKind::NotOffered));
        }
        self.require(function)?;
        let invalid = |reason| DriverError::new(function, ErrorKind::InvalidArgument(reason));
        if payload.is_empty() {
            return Err(invalid("empty payload"));
        }
        let wide = self.version() >= Version::V1_2;
        let header_size: usize = if wide { 40 } else { 20 };
        let own_id = self.id();
        let base = PartitionMessageHeaderV1_1 {
            payload_offset: U32::new(header_size as u32),
            endpoints: U32::new(u32::from(own_id.0) << 16 | u32::from(destination.0)),
            payload_size: U32::new(
                u32::try_from(payload.len()).map_err(|_| invalid("payload too long"))?,
            ),
            ..Default::default()
        };
        self.mapped(function)?
            .with_tx(|tx| {
                let end = header_size.checked_add(payload.len()).ok_or("payload too long")?;
                tx.get_mut(header_size..end)
                    .ok_or("payload does not fit the TX buffer")?
                    .copy_from_slice(payload);
                let written = if wide {
                    PartitionMessageHeaderV1_2 { base, uuid: uuid.0, ..Default::default() }
                        .write_to_prefix(tx)
                        .is_ok()
                } else {
                    base.write_to_prefix(tx).is_ok()
                };
                if written {
                    Ok(())
                } else {
                    Err("TX buffer too small")
                }
            })
            .map_err(invalid)?;
        let flags = MsgSend2Flags::empty();
        self.link.call_success(Call::MsgSend2 { sender_vm: EndpointId(0), flags }).map(drop)
    }

    /// Reads the indirect message in the RX buffer (after the "RX buffer full" notification),
    /// copies its payload to `out`, and releases RX.
    pub fn receive_indirect(&mut self, out: &mut [u8]) -> Result<IndirectMessage> {
        let function = FunctionId::MsgSend2;
        let read = self.mapped(function)?.with_rx(|rx| {
            let (header, _) =
                PartitionMessageHeaderV1_1::read_from_prefix(rx).map_err(|_| "short header")?;
            let offset = header.payload_offset.get() as usize;
            let length = header.payload_size.get() as usize;
            if offset < 20 {
                return Err("payload overlaps the header");
            }
            let end = offset.checked_add(length).ok_or("payload length")?;
            let payload = rx.get(offset..end).ok_or("payload outside RX")?;
            let uuid = match PartitionMessageHeaderV1_2::read_from_prefix(rx) {
                Ok((wide, _)) if offset >= 40 => Uuid(wide.uuid),
                _ => Uuid::NIL,
            };
            let copied = length.min(out.len());
            if let (Some(target), Some(source)) = (out.get_mut(..copied), payload.get(..copied)) {
                target.copy_from_slice(source);
            }
            let endpoints = header.endpoints.get();
            Ok(IndirectMessage {
                sender: EndpointId((endpoints >> 16) as u16),
                receiver: EndpointId(endpoints as u16),
                uuid,
                length,
            })
        });
        let released = self.release_rx();
        let message = read
            .map_err(|reason| DriverError::new(function, ErrorKind::MalformedResponse(reason)))?;
        released?;
        Ok(message)
    }
}
