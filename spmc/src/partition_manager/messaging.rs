//! Scheduling and direct messaging: MSG_WAIT, YIELD, RUN, DIRECT_REQ/RESP(2), ERROR, the
//! SPMD's framework messages, and results coming back from the other world.

use ffa_core::call::{MsgWaitFlags, Return};
use ffa_core::direct_message::{DirectBody, DirectMessage, DirectMessage2};
use ffa_core::framework_message::FrameworkMessage;
use ffa_core::version::VersionResponse;
use ffa_core::{Call, EndpointId, FfaError, TargetInfo, VcpuId, Version};

use super::state::{Party, Request, RequestKind, Scheduler, State};
use super::{
    Caller, ContextId, Delivery, EndpointMemory, MemoryPlatform, PartitionManager, Role, Transfer,
};
use crate::manifest::{MessagingMethod, PowerManagementMessages};

/// The hypervisor's endpoint ID: the only normal-world sender of VM availability messages.
const HYPERVISOR_ID: EndpointId = EndpointId(0);

/// PSCI CPU_OFF, the only PSCI function the SPMD sends as a framework message.
const PSCI_CPU_OFF: u32 = 0x8400_0002;

/// A direct request or response of either generation, borrowed from the decoded call (so the
/// message is not copied on its way through the checks).
#[derive(Debug, Clone, Copy)]
pub(super) enum Message<'a> {
    Direct(&'a DirectMessage),
    Direct2(&'a DirectMessage2),
}

impl Message<'_> {
    fn source(&self) -> EndpointId {
        match self {
            Self::Direct(message) => message.source,
            Self::Direct2(message) => message.source,
        }
    }

    fn destination(&self) -> EndpointId {
        match self {
            Self::Direct(message) => message.destination,
            Self::Direct2(message) => message.destination,
        }
    }

    fn kind(&self) -> RequestKind {
        match self {
            Self::Direct(DirectMessage {
                body: DirectBody::Framework32(_) | DirectBody::Framework64(_),
                ..
            }) => RequestKind::Framework,
            Self::Direct(_) => RequestKind::Partition,
            Self::Direct2(_) => RequestKind::Partition2,
        }
    }

    /// The framework message a direct message carries, if it is one.
    fn framework(&self) -> Option<FrameworkMessage> {
        match self {
            Self::Direct(DirectMessage {
                body: DirectBody::Framework32(framework) | DirectBody::Framework64(framework),
                ..
            }) => Some(*framework),
            _ => None,
        }
    }

    fn as_request(&self) -> Call {
        match *self {
            Self::Direct(message) => Call::MsgSendDirectReq(*message),
            Self::Direct2(message) => Call::MsgSendDirectReq2(*message),
        }
    }

    /// The registers of this message as a request (`is_request`) or response for a peer at
    /// `version`, encoded from the borrowed message (no `Call` or `Return` is built).
    #[inline]
    fn encode(&self, is_request: bool, version: Version) -> [u64; 18] {
        match *self {
            Self::Direct(message) => message.encode(is_request, version),
            Self::Direct2(message) => message.encode(is_request, version),
        }
    }
}

impl<
        M: EndpointMemory,
        const ENDPOINTS: usize,
        const VCPUS: usize,
        const CPUS: usize,
        S: MemoryPlatform,
    > PartitionManager<M, ENDPOINTS, VCPUS, CPUS, S>
{
    /// FFA_MSG_WAIT: ends boot, or a run without a request; DENIED while servicing a request
    /// (matrix M07, M10) and NOT_SUPPORTED from the other world.
    pub(super) fn msg_wait(
        &self,
        scheduler: &mut Scheduler<ENDPOINTS, VCPUS>,
        caller: &Caller,
    ) -> Delivery {
        if !caller.local {
            return Self::reply(caller, Return::error(FfaError::NotSupported));
        }
        let Some(endpoint) = scheduler.endpoint_mut(caller.context.endpoint) else {
            return Self::reply(caller, Return::error(FfaError::InvalidParameters));
        };
        let idle = endpoint.idle_state();
        let Some(context) = endpoint.contexts.get_mut(usize::from(caller.context.vcpu.0)) else {
            return Self::reply(caller, Return::error(FfaError::InvalidParameters));
        };
        let State::Running { return_to, .. } = context.state else {
            return Self::reply(caller, Return::error(FfaError::Denied));
        };
        if context.request.is_some() {
            return Self::reply(caller, Return::error(FfaError::Denied));
        }
        context.state = idle;
        let wait = Return::MsgWait { flags: MsgWaitFlags::empty(), is_64: false };
        self.give_back(scheduler, return_to, caller.cpu, wait)
    }

    /// FFA_YIELD: the context gives up the CPU; whoever waits on it gets FFA_YIELD with its
    /// target information and resumes it with FFA_RUN. Refused while booting, and at v1.0
    /// while servicing a request (matrix M07).
    pub(super) fn yield_call(
        &self,
        scheduler: &mut Scheduler<ENDPOINTS, VCPUS>,
        caller: &Caller,
        timeout: u64,
    ) -> Delivery {
        if !caller.local {
            return Self::reply(caller, Return::error(FfaError::NotSupported));
        }
        let Some(context) = scheduler.context_mut(caller.context) else {
            return Self::reply(caller, Return::error(FfaError::InvalidParameters));
        };
        let State::Running { return_to, .. } = context.state else {
            return Self::reply(caller, Return::error(FfaError::Denied));
        };
        let refused = return_to == Party::Boot
            || (context.request.is_some() && caller.version < Version::V1_1);
        if refused {
            return Self::reply(caller, Return::error(FfaError::Denied));
        }
        context.state = State::Preempted { interrupted: false };
        let answer = Return::Yield { target: caller.context.target_info(), timeout, is_64: false };
        self.give_back(scheduler, return_to, caller.cpu, answer)
    }

    /// FFA_RUN: resumes a Waiting or Preempted context on the caller's CPU, or (forwarder)
    /// forwards the call for a secure target. Unknown endpoint or vCPU: INVALID_PARAMETERS
    /// (matrix M14).
    pub(super) fn run(
        &self,
        scheduler: &mut Scheduler<ENDPOINTS, VCPUS>,
        caller: &Caller,
        target: TargetInfo,
    ) -> Delivery {
        let target_context = ContextId { endpoint: target.endpoint, vcpu: target.vcpu };
        if !self.is_local(target.endpoint) {
            return self.run_remote(scheduler, caller, target_context);
        }
        let Some(endpoint) = scheduler.endpoint(target.endpoint) else {
            return Self::reply(caller, Return::error(FfaError::InvalidParameters));
        };
        let multiprocessor = endpoint.contexts.len() > 1;
        let aborted = endpoint.aborted;
        let version = endpoint.version.version;
        let Some(context) = endpoint.contexts.get(usize::from(target.vcpu.0)).copied() else {
            return Self::reply(caller, Return::error(FfaError::InvalidParameters));
        };
        // An MP endpoint's context n only runs on CPU n.
        if multiprocessor && target.vcpu.0 != caller.cpu {
            return Self::reply(caller, Return::error(FfaError::InvalidParameters));
        }
        if aborted || context.state == State::Aborted {
            return Self::reply(caller, Return::error(FfaError::Aborted));
        }
        let (transfer, registers) = match context.state {
            State::Waiting if !caller.local => {
                (Transfer::Enter, Call::Run { target, is_64: false }.encode(version))
            }
            State::Preempted { interrupted } => {
                let allowed = match context.request {
                    // Only the requester that was handed the yield or interrupt resumes it.
                    Some(request) => match (request.requester, caller.local) {
                        (Party::Local(requester), true) => requester == caller.context,
                        (Party::Remote(_), false) => true,
                        _ => false,
                    },
                    None => !caller.local,
                };
                if !allowed {
                    return Self::reply(caller, Return::error(FfaError::Denied));
                }
                if interrupted {
                    (Transfer::Restore, [0; 18])
                } else {
                    (Transfer::Enter, Return::success(ffa_core::SuccessArgs::EMPTY).encode(version))
                }
            }
            State::Waiting => return Self::reply(caller, Return::error(FfaError::Denied)),
            State::NotStarted | State::Running { .. } | State::Blocked { .. } => {
                return Self::reply(caller, Return::error(FfaError::Busy))
            }
            State::Aborted => return Self::reply(caller, Return::error(FfaError::Aborted)),
        };
        // A remote requester keeps its endpoint ID; only its CPU may change (UP migration).
        let party = match (context.request, caller.local) {
            (Some(Request { requester: Party::Remote(original), .. }), false) => {
                Party::Remote(ContextId { endpoint: original.endpoint, vcpu: VcpuId(caller.cpu) })
            }
            _ => caller.party(),
        };
        self.block_caller(scheduler, caller, Party::Local(target_context));
        if let Some(resumed) = scheduler.context_mut(target_context) {
            resumed.state = State::Running { cpu: caller.cpu, return_to: party };
            if let Some(request) = resumed.request.as_mut() {
                request.requester = party;
            }
        }
        Delivery { to: target_context, transfer, registers }
    }

    /// FFA_RUN of a context the manager does not run: the forwarder passes it on for a known
    /// secure endpoint; everything else is INVALID_PARAMETERS.
    fn run_remote(
        &self,
        scheduler: &mut Scheduler<ENDPOINTS, VCPUS>,
        caller: &Caller,
        target: ContextId,
    ) -> Delivery {
        let known = self.remote.lock().iter().any(|remote| {
            remote.id == target.endpoint && target.vcpu.0 < remote.execution_context_count
        });
        if !known || !caller.local || !self.is_forwarder() {
            return Self::reply(caller, Return::error(FfaError::InvalidParameters));
        }
        let call = Call::Run { target: target.target_info(), is_64: false };
        self.forward(scheduler, caller, target.endpoint, call)
    }

    /// Blocks a local caller in a call chain on `callee` (a remote caller needs no record: the
    /// other world waits on its CPU by itself).
    fn block_caller(
        &self,
        scheduler: &mut Scheduler<ENDPOINTS, VCPUS>,
        caller: &Caller,
        callee: Party,
    ) {
        if !caller.local {
            return;
        }
        if let Some(context) = scheduler.context_mut(caller.context) {
            if let State::Running { cpu, return_to } = context.state {
                context.state = State::Blocked { cpu, return_to, callee };
            }
        }
    }

    /// Forwarder: passes a local caller's call to the other world; the caller blocks until
    /// the result comes back on its CPU.
    pub(super) fn forward(
        &self,
        scheduler: &mut Scheduler<ENDPOINTS, VCPUS>,
        caller: &Caller,
        destination: EndpointId,
        call: Call,
    ) -> Delivery {
        let remote = ContextId { endpoint: destination, vcpu: VcpuId(caller.cpu) };
        self.block_caller(scheduler, caller, Party::Remote(remote));
        Delivery {
            to: remote,
            transfer: Transfer::OtherWorld,
            registers: call.encode(self.settings.version),
        }
    }

    /// The other world answered a call forwarded for `blocked`: it runs again with the answer.
    pub(super) fn remote_return(
        &self,
        scheduler: &mut Scheduler<ENDPOINTS, VCPUS>,
        blocked: ContextId,
        cpu: u16,
        registers: &[u64; 18],
    ) -> Delivery {
        let answer = Call::decode(registers, self.settings.version)
            .and_then(Return::from_call)
            .unwrap_or_else(Return::error);
        let answer = self.complete_forwarded_get(blocked, cpu, answer);
        self.give_back(scheduler, Party::Local(blocked), cpu, answer)
    }

    /// FFA_MSG_SEND_DIRECT_REQ(2): checks (matrix M02-M04, M08-M13) and delivery to the
    /// target context, which then services the request on the caller's CPU.
    pub(super) fn direct_request(
        &self,
        scheduler: &mut Scheduler<ENDPOINTS, VCPUS>,
        caller: &Caller,
        message: Message<'_>,
    ) -> Delivery {
        match self.check_request(scheduler, caller, &message) {
            Ok(Route::Local(target)) => {
                let version =
                    scheduler.version_of(target.endpoint).unwrap_or(self.settings.version);
                let party = if caller.local {
                    caller.party()
                } else {
                    let source = ContextId { endpoint: message.source(), vcpu: VcpuId(caller.cpu) };
                    Party::Remote(source)
                };
                self.block_caller(scheduler, caller, Party::Local(target));
                if let Some(context) = scheduler.context_mut(target) {
                    context.state = State::Running { cpu: caller.cpu, return_to: party };
                    context.request = Some(Request {
                        requester: party,
                        kind: message.kind(),
                        framework_type: message
                            .framework()
                            .map(|framework| framework.message_type()),
                    });
                }
                Delivery {
                    to: target,
                    transfer: Transfer::Enter,
                    registers: message.encode(true, version),
                }
            }
            Ok(Route::Remote) => {
                self.forward(scheduler, caller, message.destination(), message.as_request())
            }
            Ok(Route::Manager(framework)) => {
                let answer = self.framework_request(scheduler, &message, framework);
                Self::reply(caller, answer)
            }
            Err(error) => Self::reply(caller, Return::error(error)),
        }
    }

    fn check_request(
        &self,
        scheduler: &Scheduler<ENDPOINTS, VCPUS>,
        caller: &Caller,
        message: &Message<'_>,
    ) -> Result<Route, FfaError> {
        let (source, destination) = (message.source(), message.destination());
        let kind = message.kind();
        if caller.local {
            // Matrix M02: a local caller may only send as itself.
            if source != caller.context.endpoint {
                return Err(FfaError::InvalidParameters);
            }
            let sender = self.description(source).ok_or(FfaError::InvalidParameters)?;
            let needed = match kind {
                RequestKind::Partition2 => MessagingMethod::SEND_DIRECT_REQUEST2,
                RequestKind::Partition => MessagingMethod::SEND_DIRECT_REQUEST,
                // Framework messages come from partition managers, not partitions.
                RequestKind::Framework => return Err(FfaError::InvalidParameters),
            };
            if !sender.messaging.contains(needed) {
                return Err(FfaError::Denied);
            }
        } else {
            if destination == self.settings.own_id {
                let from_spmd = source == EndpointId::SPMD && self.effective_role() == Role::Spmc;
                return match message {
                    Message::Direct(DirectMessage {
                        body:
                            DirectBody::Framework32(framework) | DirectBody::Framework64(framework),
                        ..
                    }) if from_spmd => Ok(Route::Manager(*framework)),
                    _ => Err(FfaError::InvalidParameters),
                };
            }
            // The other world's sender must be one of its endpoints this manager knows (and
            // not one the hypervisor said is destroyed).
            let known = self.remote.lock().iter().any(|remote| remote.id == source)
                && !self.is_remote_destroyed(source);
            if !known {
                return Err(FfaError::InvalidParameters);
            }
            if let Some(framework) = message.framework() {
                // The only framework messages the other world may send a partition: VM
                // availability, from the hypervisor to the SPMC's partitions.
                let availability = matches!(
                    framework,
                    FrameworkMessage::VmCreated { .. } | FrameworkMessage::VmDestroyed { .. }
                );
                if !availability || self.effective_role() != Role::Spmc || source != HYPERVISOR_ID {
                    return Err(FfaError::InvalidParameters);
                }
            }
        }
        if !self.is_local(destination) {
            let forwardable = caller.local
                && self.is_forwarder()
                && destination.is_secure()
                && destination != EndpointId::SPMD
                && destination != self.settings.own_id;
            // Matrix M09: an SP cannot send direct requests to the normal world.
            return if forwardable { Ok(Route::Remote) } else { Err(FfaError::InvalidParameters) };
        }
        let target = self.description(destination).ok_or(FfaError::InvalidParameters)?;
        let needed = match kind {
            RequestKind::Partition2 => MessagingMethod::RECEIVE_DIRECT_REQUEST2,
            RequestKind::Partition | RequestKind::Framework => {
                MessagingMethod::RECEIVE_DIRECT_REQUEST
            }
        };
        // Matrix M08.
        if !target.messaging.contains(needed) {
            return Err(FfaError::Denied);
        }
        // A VM availability message goes only to a partition that subscribed to it.
        let event = match message.framework() {
            Some(FrameworkMessage::VmCreated { .. }) => Some(super::VmEvent::Created),
            Some(FrameworkMessage::VmDestroyed { .. }) => Some(super::VmEvent::Destroyed),
            _ => None,
        };
        if let Some(event) = event {
            if !scheduler.lifecycle.subscription(destination).contains(event.subscription()) {
                return Err(FfaError::Denied);
            }
            // The SPMC learns of the VM's fate from the message it relays.
            if let Some(
                FrameworkMessage::VmCreated { vm_id, .. }
                | FrameworkMessage::VmDestroyed { vm_id, .. },
            ) = message.framework()
            {
                self.mark_remote_destroyed(vm_id, event == super::VmEvent::Destroyed);
            }
        }
        if let Message::Direct2(request) = message {
            // Matrix M10: a non-Nil UUID must be one of the target's.
            if !request.uuid.is_nil() && !target.has_uuid(&request.uuid) {
                return Err(FfaError::InvalidParameters);
            }
        }
        let endpoint = scheduler.endpoint(destination).ok_or(FfaError::InvalidParameters)?;
        if endpoint.aborted {
            return Err(FfaError::Aborted);
        }
        if kind == RequestKind::Partition2 && endpoint.version.version < Version::V1_2 {
            return Err(FfaError::NotSupported);
        }
        // Matrix M13: an MP endpoint serves a request on CPU n with context n; a UP endpoint's
        // context 0 follows the caller.
        let index = if endpoint.contexts.len() == 1 { 0 } else { usize::from(caller.cpu) };
        let context = endpoint.contexts.get(index).ok_or(FfaError::Denied)?;
        match context.state {
            State::Waiting => Ok(Route::Local(ContextId::new(destination.0, index as u16))),
            State::Aborted => Err(FfaError::Aborted),
            // Matrix M11, M12: a context that is running, in a call chain or preempted is busy
            // (this is also what breaks request cycles).
            State::NotStarted
            | State::Running { .. }
            | State::Blocked { .. }
            | State::Preempted { .. } => Err(FfaError::Busy),
        }
    }

    /// FFA_MSG_SEND_DIRECT_RESP(2): ends the request the caller services (matrix M05, M06,
    /// M10) and returns the response to the requester.
    pub(super) fn direct_response(
        &self,
        scheduler: &mut Scheduler<ENDPOINTS, VCPUS>,
        caller: &Caller,
        message: Message<'_>,
    ) -> Delivery {
        if !caller.local {
            // Matrix M06: the other world never has a request of this manager pending.
            return Self::reply(caller, Return::error(FfaError::Denied));
        }
        if message.source() != caller.context.endpoint {
            return Self::reply(caller, Return::error(FfaError::InvalidParameters));
        }
        let Some(endpoint) = scheduler.endpoint_mut(caller.context.endpoint) else {
            return Self::reply(caller, Return::error(FfaError::InvalidParameters));
        };
        let idle = endpoint.idle_state();
        let Some(context) = endpoint.contexts.get_mut(usize::from(caller.context.vcpu.0)) else {
            return Self::reply(caller, Return::error(FfaError::InvalidParameters));
        };
        let (State::Running { return_to, .. }, Some(request)) = (context.state, context.request)
        else {
            return Self::reply(caller, Return::error(FfaError::Denied));
        };
        // A framework request is answered by its own response type (VM created 0x04 by
        // 0x05, VM destroyed 0x06 by 0x07).
        let framework_matches = match (request.framework_type, message.framework()) {
            (Some(request_type), Some(response)) => {
                response.message_type() == request_type.wrapping_add(1)
            }
            (None, None) => true,
            _ => false,
        };
        if request.kind != message.kind()
            || !framework_matches
            || request.requester.endpoint() != Some(message.destination())
        {
            return Self::reply(caller, Return::error(FfaError::InvalidParameters));
        }
        context.state = idle;
        context.request = None;
        self.give_back_with(scheduler, return_to, caller.cpu, |version| {
            message.encode(false, version)
        })
    }

    /// FFA_ERROR from a local context: during boot it aborts the partition; otherwise it ends
    /// what the context was doing and the error goes to whoever waits on it.
    pub(super) fn error_call(
        &self,
        scheduler: &mut Scheduler<ENDPOINTS, VCPUS>,
        caller: &Caller,
        error: FfaError,
    ) -> Delivery {
        if !caller.local {
            return Self::reply(caller, Return::error(FfaError::NotSupported));
        }
        let Some(context) = scheduler.context(caller.context).copied() else {
            return Self::reply(caller, Return::error(FfaError::InvalidParameters));
        };
        let State::Running { return_to, .. } = context.state else {
            return Self::reply(caller, Return::error(FfaError::Denied));
        };
        if return_to == Party::Boot {
            Self::abort_endpoint(scheduler, caller.context);
            return self.next_boot(scheduler, caller.cpu);
        }
        if let Some(endpoint) = scheduler.endpoint_mut(caller.context.endpoint) {
            let idle = endpoint.idle_state();
            if let Some(context) = endpoint.contexts.get_mut(usize::from(caller.context.vcpu.0)) {
                context.state = idle;
                context.request = None;
            }
        }
        self.give_back(scheduler, return_to, caller.cpu, Return::error(error))
    }

    /// A framework message from the SPMD to the SPMC: FFA_VERSION forwarding and power
    /// management, answered with a framework response or FFA_ERROR(NOT_SUPPORTED).
    fn framework_request(
        &self,
        scheduler: &mut Scheduler<ENDPOINTS, VCPUS>,
        message: &Message<'_>,
        framework: FrameworkMessage,
    ) -> Return {
        let response = match framework {
            FrameworkMessage::VersionRequest { requested } => FrameworkMessage::VersionResponse(
                Self::negotiate(&mut scheduler.remote_version, self.settings.version, requested),
            ),
            FrameworkMessage::PsciRequest { function: PSCI_CPU_OFF, .. } => {
                // Partitions that asked for CPU_OFF would need the message relayed to them;
                // without that, refuse rather than answer for them.
                let subscribed = self.local.iter().any(|endpoint| {
                    endpoint.power_management.contains(PowerManagementMessages::CPU_OFF)
                });
                if subscribed {
                    return Return::error(FfaError::NotSupported);
                }
                FrameworkMessage::PowerManagementResponse { status: 0 }
            }
            FrameworkMessage::WarmBootRequest(_) => {
                FrameworkMessage::PowerManagementResponse { status: 0 }
            }
            _ => return Return::error(FfaError::NotSupported),
        };
        let body = match message {
            Message::Direct(DirectMessage { body: DirectBody::Framework64(_), .. }) => {
                DirectBody::Framework64(response)
            }
            _ => DirectBody::Framework32(response),
        };
        Return::DirectResponse(DirectMessage {
            source: self.settings.own_id,
            destination: message.source(),
            body,
        })
    }

    /// The callee side of version negotiation with the freeze rule of matrix D04: once
    /// frozen, only the negotiated version is accepted again.
    pub(super) fn negotiate(
        negotiated: &mut super::state::NegotiatedVersion,
        own: Version,
        requested: u32,
    ) -> VersionResponse {
        let Ok(requested) = Version::from_word(requested) else {
            return VersionResponse::NotSupported;
        };
        if requested.major() != own.major() {
            return VersionResponse::NotSupported;
        }
        if negotiated.frozen {
            return if requested == negotiated.version {
                VersionResponse::Supported(own)
            } else {
                VersionResponse::NotSupported
            };
        }
        negotiated.version = core::cmp::min(requested, own);
        VersionResponse::Supported(own)
    }
}

/// Where a checked direct request goes.
#[derive(Debug, Clone, Copy)]
enum Route {
    /// To this local context.
    Local(ContextId),
    /// To the other world (forwarder).
    Remote,
    /// To the manager itself (framework message).
    Manager(FrameworkMessage),
}
