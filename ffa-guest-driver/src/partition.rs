//! Partition side: the FFA_MSG_WAIT / DIRECT_RESP service loop and framework messages.

use core::convert::Infallible;

use ffa_core::call::MsgWaitFlags;
use ffa_core::direct_message::{DirectBody, DirectMessage, DirectMessage2};
use ffa_core::framework_message::FrameworkMessage;
use ffa_core::{Call, Conduit, EndpointId, FfaError, FunctionId, Uuid};

use crate::buffers::Buffers;
use crate::error::{DriverError, ErrorKind, Result};
use crate::Driver;

/// Why the partition was resumed without a direct request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wakeup {
    /// FFA_RUN: scheduled to do pending work (notifications, an indirect message).
    Run,
    /// FFA_INTERRUPT: an interrupt with this ID arrived while waiting.
    Interrupt(u32),
}

/// A partition's request handling. Every method has a default, so a handler implements only
/// what its partition serves; unanswered partition messages get all-zero responses.
pub trait RequestHandler {
    /// A DIRECT_REQ_32 from `source`; returns the response words.
    fn direct_request_32(&mut self, source: EndpointId, payload: [u32; 5]) -> [u32; 5] {
        let _ = (source, payload);
        [0; 5]
    }

    /// A DIRECT_REQ_64 from `source`.
    fn direct_request_64(&mut self, source: EndpointId, payload: [u64; 5]) -> [u64; 5] {
        let _ = (source, payload);
        [0; 5]
    }

    /// A DIRECT_REQ2 from `source` for service `uuid`.
    fn direct_request2(&mut self, source: EndpointId, uuid: Uuid, payload: [u64; 14]) -> [u64; 14] {
        let _ = (source, uuid, payload);
        [0; 14]
    }

    /// Framework message: VM `vm` was created. The result is the acknowledgement's status.
    fn vm_created(&mut self, vm: EndpointId, handle: u64) -> core::result::Result<(), FfaError> {
        let _ = (vm, handle);
        Ok(())
    }

    /// Framework message: VM `vm` was destroyed.
    fn vm_destroyed(&mut self, vm: EndpointId, handle: u64) -> core::result::Result<(), FfaError> {
        let _ = (vm, handle);
        Ok(())
    }

    /// Framework message: a PSCI request (e.g. CPU_OFF); returns the PSCI status (0 success).
    fn psci(&mut self, function: u32, arguments: [u64; 3]) -> i32 {
        let _ = (function, arguments);
        0
    }

    /// Resumed without a request; the loop waits again afterwards.
    fn woken(&mut self, wakeup: Wakeup) {
        let _ = wakeup;
    }
}

/// The framework response to a framework request, or `None` for messages that are not
/// requests a partition answers.
fn answer_framework<H: RequestHandler>(
    handler: &mut H,
    message: FrameworkMessage,
) -> Option<FrameworkMessage> {
    Some(match message {
        FrameworkMessage::VmCreated { handle, vm_id } => {
            FrameworkMessage::VmCreatedResponse(handler.vm_created(vm_id, handle))
        }
        FrameworkMessage::VmDestroyed { handle, vm_id } => {
            FrameworkMessage::VmDestroyedResponse(handler.vm_destroyed(vm_id, handle))
        }
        FrameworkMessage::PsciRequest { function, arguments } => {
            FrameworkMessage::PowerManagementResponse { status: handler.psci(function, arguments) }
        }
        FrameworkMessage::WarmBootRequest(_) => {
            FrameworkMessage::PowerManagementResponse { status: 0 }
        }
        _ => return None,
    })
}

/// Answers one message delivered to partition `own` with `handler`, as [`Driver::serve`] does:
/// the direct response to send, or FFA_MSG_WAIT when the message needs none (FFA_RUN,
/// FFA_INTERRUPT, after `woken`). A message a partition cannot be sent is an error.
///
/// The message is borrowed and the answer built in place: a `Call` is large, and each move of
/// one is a memcpy on the partition's message path. Not inlined: in the partition's service
/// loop (at opt-level 3) it is 5 instructions a round trip cheaper as a call, which builds its
/// answer straight into the caller's slot.
#[inline(never)]
pub fn answer_message<H: RequestHandler>(
    own: EndpointId,
    handler: &mut H,
    incoming: &Call,
) -> Result<Call> {
    let wait = Call::MsgWait { flags: MsgWaitFlags::empty(), is_64: false };
    Ok(match *incoming {
        Call::MsgSendDirectReq(DirectMessage { source, body, .. }) => {
            let body = match body {
                DirectBody::Partition32(payload) => {
                    DirectBody::Partition32(handler.direct_request_32(source, payload))
                }
                DirectBody::Partition64(payload) => {
                    DirectBody::Partition64(handler.direct_request_64(source, payload))
                }
                DirectBody::Framework32(message) | DirectBody::Framework64(message) => {
                    let response = answer_framework(handler, message).ok_or(DriverError::new(
                        FunctionId::MsgWait32,
                        ErrorKind::MalformedResponse("framework message is not a request"),
                    ))?;
                    if body.is_64bit() {
                        DirectBody::Framework64(response)
                    } else {
                        DirectBody::Framework32(response)
                    }
                }
            };
            Call::MsgSendDirectResp(DirectMessage { source: own, destination: source, body })
        }
        Call::MsgSendDirectReq2(DirectMessage2 { source, uuid, ref payload, .. }) => {
            let payload = *payload;
            let payload = handler.direct_request2(source, uuid, payload);
            Call::MsgSendDirectResp2(DirectMessage2 {
                source: own,
                destination: source,
                uuid: Uuid::NIL,
                payload,
            })
        }
        Call::Run { .. } => {
            handler.woken(Wakeup::Run);
            wait
        }
        Call::Interrupt { interrupt_id, .. } => {
            handler.woken(Wakeup::Interrupt(interrupt_id));
            wait
        }
        other => {
            return Err(DriverError::new(
                FunctionId::MsgWait32,
                ErrorKind::UnexpectedResponse(other.function_id().value()),
            ))
        }
    })
}

impl<C: Conduit, B: Buffers> Driver<C, B> {
    /// Sends `call` and decodes what the partition manager delivers next as a call.
    fn deliver(&mut self, call: &Call) -> Result<Call> {
        let function = call.function_id();
        let registers = self.link.conduit.call(call.encode(self.version()));
        match Call::decode(&registers, self.version()) {
            Ok(Call::Error { error, .. }) => Err(DriverError::new(function, ErrorKind::Ffa(error))),
            Ok(next) => Ok(next),
            Err(_) if FunctionId::from_register(registers[0]).is_err() => {
                Err(DriverError::new(function, ErrorKind::UnexpectedResponse(registers[0] as u32)))
            }
            Err(_) => {
                Err(DriverError::new(function, ErrorKind::MalformedResponse("incoming message")))
            }
        }
    }

    /// Sends `reply` (FFA_MSG_WAIT, or the response [`answer_message`] built) and returns the
    /// next message the partition manager delivers. With [`answer_message`], the steps of
    /// [`Self::serve`] for a partition whose handler uses the driver while it answers (to
    /// retrieve memory, say), which `serve` cannot lend it.
    pub fn next_message(&mut self, reply: &Call) -> Result<Call> {
        self.deliver(reply)
    }

    /// The partition's main loop: FFA_MSG_WAIT, then answer each direct request (partition or
    /// framework message) with a direct response, which also waits for the next message.
    /// VM created/destroyed are acknowledged and PSCI requests answered through `handler`.
    /// Returns only on failure (e.g. the partition manager answering FFA_ERROR).
    pub fn serve<H: RequestHandler>(&mut self, handler: &mut H) -> Result<Infallible> {
        let wait = Call::MsgWait { flags: MsgWaitFlags::empty(), is_64: false };
        let mut incoming = self.deliver(&wait)?;
        loop {
            let reply = answer_message(self.id(), handler, &incoming)?;
            incoming = self.deliver(&reply)?;
        }
    }
}
