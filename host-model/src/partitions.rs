//! Ready-made endpoint programs: the test service the conformance suite and the QEMU test
//! partition agree on (a direct request is answered with w3 + 1), plus commands to fault, take
//! an interrupt, or relay a request along a chain of partitions.

use ffa_core::direct_message::{DirectBody, DirectMessage};
use ffa_core::{Call, Conduit, EndpointId, FfaError, Return, Uuid, Version};
use ffa_guest_driver::partition::RequestHandler;
use ffa_guest_driver::Driver;

use crate::baton::ModelConduit;
use crate::memory::{GuestMemory, ModelBuffers};

/// w3 of a DIRECT_REQ_32 that makes the service fault (as the QEMU test partition does).
pub const FAULT_COMMAND: u32 = 0xFA17;
/// w3 of a DIRECT_REQ_32 that makes the service take interrupt [`SERVICE_INTERRUPT_ID`] before
/// it answers, so the requester sees FFA_INTERRUPT and resumes it with FFA_RUN.
pub const INTERRUPT_COMMAND: u32 = 0x1A7E;
/// w3 of a DIRECT_REQ_32 that makes the service call FFA_YIELD before it answers, so the
/// requester sees FFA_YIELD and resumes it with FFA_RUN.
pub const YIELD_COMMAND: u32 = 0x71E1;
/// The interrupt ID [`INTERRUPT_COMMAND`] takes.
pub const SERVICE_INTERRUPT_ID: u32 = 42;
/// x3 of a DIRECT_REQ_64 that relays: x4 holds up to four endpoint IDs (16 bits each, first
/// hop in the low bits, 0 ends the list), x5 a value. With no hop left the service answers
/// `[0, x5 + 1, own ID, 0, 0]`; otherwise it sends `[RELAY_COMMAND, x4 >> 16, x5, 0, 0]` to
/// the first hop and answers with that response, or with `[error code, own ID, hop, 0, 0]`
/// when the hop's request failed.
pub const RELAY_COMMAND: u64 = 0x5E1A_7000;

/// The relay hops word for [`RELAY_COMMAND`].
pub fn relay_hops(hops: &[EndpointId]) -> u64 {
    hops.iter()
        .take(4)
        .enumerate()
        .fold(0, |word, (index, hop)| word | u64::from(hop.0) << (16 * index))
}

/// The test service's request handling.
#[derive(Debug)]
struct TestService {
    /// A second handle on the service's own context, for nested requests.
    conduit: ModelConduit,
    own: EndpointId,
    version: Version,
}

impl TestService {
    /// DIRECT_REQ_64 to `destination`, resumed with FFA_RUN across interrupts and yields.
    fn request_64(
        &mut self,
        destination: EndpointId,
        payload: [u64; 5],
    ) -> Result<[u64; 5], FfaError> {
        let message =
            DirectMessage { source: self.own, destination, body: DirectBody::Partition64(payload) };
        let mut registers = self.conduit.call(Call::MsgSendDirectReq(message).encode(self.version));
        loop {
            match Return::decode(&registers, self.version) {
                Ok(Return::DirectResponse(DirectMessage {
                    source,
                    body: DirectBody::Partition64(words),
                    ..
                })) if source == destination => return Ok(words),
                Ok(Return::Error { error, .. }) => return Err(error),
                Ok(Return::Interrupt { target, .. } | Return::Yield { target, .. }) => {
                    let resume = Call::Run { target, is_64: false };
                    registers = self.conduit.call(resume.encode(self.version));
                }
                _ => return Err(FfaError::InvalidParameters),
            }
        }
    }

    fn relay(&mut self, hops: u64, value: u64) -> [u64; 5] {
        let next = EndpointId(hops as u16);
        if next.0 == 0 {
            return [0, value.wrapping_add(1), u64::from(self.own.0), 0, 0];
        }
        match self.request_64(next, [RELAY_COMMAND, hops >> 16, value, 0, 0]) {
            Ok(words) => words,
            Err(error) => [error.to_register(), u64::from(self.own.0), u64::from(next.0), 0, 0],
        }
    }
}

impl RequestHandler for TestService {
    fn direct_request_32(&mut self, _source: EndpointId, payload: [u32; 5]) -> [u32; 5] {
        match payload[0] {
            FAULT_COMMAND => self.conduit.fault("asked to fault (FAULT_COMMAND)"),
            INTERRUPT_COMMAND => {
                // Whether or not the manager preempted us, the answer is the same.
                let _ = self.conduit.interrupt(SERVICE_INTERRUPT_ID);
            }
            YIELD_COMMAND => {
                let context = self.conduit.context();
                let call = Call::Yield { target: context.target_info(), timeout: 0, is_64: false };
                // FFA_SUCCESS when resumed; an error (e.g. at v1.0) means it did not yield.
                let _ = self.conduit.call(call.encode(self.version));
            }
            _ => {}
        }
        let [first, rest @ ..] = payload;
        let [second, third, fourth, fifth] = rest;
        [first.wrapping_add(1), second, third, fourth, fifth]
    }

    fn direct_request_64(&mut self, _source: EndpointId, payload: [u64; 5]) -> [u64; 5] {
        if payload[0] == RELAY_COMMAND {
            return self.relay(payload[1], payload[2]);
        }
        let [first, rest @ ..] = payload;
        let [second, third, fourth, fifth] = rest;
        [first.wrapping_add(1), second, third, fourth, fifth]
    }

    fn direct_request2(
        &mut self,
        _source: EndpointId,
        _uuid: Uuid,
        payload: [u64; 14],
    ) -> [u64; 14] {
        let mut answer = payload;
        answer[0] = payload[0].wrapping_add(1);
        answer
    }
}

/// The test service, for a partition or a VM: brings up a guest driver, then serves direct
/// requests until the partition manager stops it. A request with w3 = 41 is answered with
/// w3 = 42, other payload registers echoed (DIRECT_REQ_32 and _64; REQ2 adds 1 to x4);
/// [`FAULT_COMMAND`], [`INTERRUPT_COMMAND`], [`YIELD_COMMAND`] and [`RELAY_COMMAND`] do what
/// they say.
pub fn test_service(conduit: ModelConduit, _memory: GuestMemory) {
    let handle = conduit.clone();
    let mut driver = match Driver::<ModelConduit, ModelBuffers>::new(conduit) {
        Ok(driver) => driver,
        Err(error) => handle.fault(&format!("bring-up failed: {error:?}")),
    };
    let mut service =
        TestService { conduit: handle.clone(), own: driver.id(), version: driver.version() };
    let Err(error) = driver.serve(&mut service);
    handle.fault(&format!("the service loop ended: {error:?}"));
}
