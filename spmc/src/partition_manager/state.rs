//! The scheduling state behind the core's lock: per-endpoint versions and execution contexts.

use ffa_core::{EndpointId, Version};

use super::config::EndpointDescription;
use super::context::{ContextId, ContextState};
use super::lifecycle_state::Lifecycle;

/// Who gets control back when a running context gives it up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Party {
    /// A local context, blocked on the one that runs.
    Local(ContextId),
    /// The other world on CPU `vcpu` (the endpoint is the requester's ID when known).
    Remote(ContextId),
    /// The boot sequence of the CPU.
    Boot,
    /// The platform's scheduler (forwarder: a VM vCPU it started).
    Scheduler,
}

impl Party {
    /// The endpoint a response must be addressed to, if the party is an endpoint.
    pub(crate) fn endpoint(self) -> Option<EndpointId> {
        match self {
            Self::Local(context) | Self::Remote(context) => Some(context.endpoint),
            Self::Boot | Self::Scheduler => None,
        }
    }
}

/// Which request a context is servicing, so its response can be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestKind {
    /// FFA_MSG_SEND_DIRECT_REQ_32/64 with a partition message.
    Partition,
    /// FFA_MSG_SEND_DIRECT_REQ2.
    Partition2,
    /// FFA_MSG_SEND_DIRECT_REQ_32/64 with a framework message.
    Framework,
}

/// A direct request a context is servicing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Request {
    /// Who sent it (and waits for the response unless it was handed an FFA_YIELD).
    pub(crate) requester: Party,
    /// What kind of response ends it.
    pub(crate) kind: RequestKind,
    /// For a framework request, its message type (the response must be the matching one).
    pub(crate) framework_type: Option<u8>,
}

/// The state of one execution context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    NotStarted,
    Running { cpu: u16, return_to: Party },
    Waiting,
    Blocked { cpu: u16, return_to: Party, callee: Party },
    Preempted { interrupted: bool },
    Aborted,
}

/// One execution context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Context {
    pub(crate) state: State,
    pub(crate) request: Option<Request>,
}

impl Context {
    const NEW: Self = Self { state: State::NotStarted, request: None };

    pub(crate) fn public_state(&self) -> ContextState {
        match self.state {
            State::NotStarted => ContextState::NotStarted,
            State::Running { cpu, return_to } => {
                ContextState::Running { cpu, booting: return_to == Party::Boot }
            }
            State::Waiting => ContextState::Waiting,
            State::Blocked { cpu, .. } => ContextState::Blocked { cpu },
            State::Preempted { .. } => ContextState::Preempted,
            State::Aborted => ContextState::Aborted,
        }
    }

    /// The CPU this context occupies (running, or blocked in a chain on it).
    pub(crate) fn cpu(&self) -> Option<u16> {
        match self.state {
            State::Running { cpu, .. } | State::Blocked { cpu, .. } => Some(cpu),
            _ => None,
        }
    }
}

/// The FF-A version of one endpoint (or of the other world) and whether it is frozen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NegotiatedVersion {
    pub(crate) version: Version,
    /// Set by the first call other than FFA_VERSION (matrix D04).
    pub(crate) frozen: bool,
}

impl NegotiatedVersion {
    pub(crate) const fn new(version: Version) -> Self {
        Self { version, frozen: false }
    }
}

/// A local endpoint's mutable state.
#[derive(Debug)]
pub(crate) struct Endpoint<const VCPUS: usize> {
    pub(crate) id: EndpointId,
    pub(crate) version: NegotiatedVersion,
    /// Set by a boot failure or a fault: direct requests get ABORTED.
    pub(crate) aborted: bool,
    pub(crate) contexts: heapless::Vec<Context, VCPUS>,
}

impl<const VCPUS: usize> Endpoint<VCPUS> {
    pub(crate) fn new(description: &EndpointDescription) -> Option<Self> {
        let mut contexts = heapless::Vec::new();
        for _ in 0..description.execution_context_count {
            contexts.push(Context::NEW).ok()?;
        }
        Some(Self {
            id: description.id,
            version: NegotiatedVersion::new(description.version),
            aborted: false,
            contexts,
        })
    }

    /// The state a context falls back to when it stops servicing: Waiting, or Aborted when
    /// the endpoint has been aborted meanwhile.
    pub(crate) fn idle_state(&self) -> State {
        if self.aborted {
            State::Aborted
        } else {
            State::Waiting
        }
    }
}

/// Everything the scheduling lock protects.
#[derive(Debug)]
pub(crate) struct Scheduler<const ENDPOINTS: usize, const VCPUS: usize> {
    pub(crate) endpoints: heapless::Vec<Endpoint<VCPUS>, ENDPOINTS>,
    /// The other world's negotiated version (it is one caller as far as versions go).
    pub(crate) remote_version: NegotiatedVersion,
    /// VM availability subscriptions and the forwarder's lifecycle passes.
    pub(crate) lifecycle: Lifecycle<ENDPOINTS>,
}

impl<const ENDPOINTS: usize, const VCPUS: usize> Scheduler<ENDPOINTS, VCPUS> {
    pub(crate) fn endpoint(&self, id: EndpointId) -> Option<&Endpoint<VCPUS>> {
        self.endpoints.iter().find(|endpoint| endpoint.id == id)
    }

    pub(crate) fn endpoint_mut(&mut self, id: EndpointId) -> Option<&mut Endpoint<VCPUS>> {
        self.endpoints.iter_mut().find(|endpoint| endpoint.id == id)
    }

    pub(crate) fn context(&self, id: ContextId) -> Option<&Context> {
        self.endpoint(id.endpoint)?.contexts.get(usize::from(id.vcpu.0))
    }

    pub(crate) fn context_mut(&mut self, id: ContextId) -> Option<&mut Context> {
        self.endpoint_mut(id.endpoint)?.contexts.get_mut(usize::from(id.vcpu.0))
    }

    /// Every local context with its ID.
    pub(crate) fn contexts(&self) -> impl Iterator<Item = (ContextId, &Context)> {
        self.endpoints.iter().flat_map(|endpoint| {
            endpoint
                .contexts
                .iter()
                .enumerate()
                .map(move |(index, context)| (ContextId::new(endpoint.id.0, index as u16), context))
        })
    }

    /// The context running on `cpu`, if any. (Plain loops: this and
    /// [`Self::blocked_on_remote`] run on every call from the other world.)
    pub(crate) fn running_on(&self, cpu: u16) -> Option<ContextId> {
        for endpoint in &self.endpoints {
            for (index, context) in endpoint.contexts.iter().enumerate() {
                if matches!(context.state, State::Running { cpu: running, .. } if running == cpu) {
                    return Some(ContextId::new(endpoint.id.0, index as u16));
                }
            }
        }
        None
    }

    /// The local context whose call was forwarded to the other world on `cpu`, if any.
    pub(crate) fn blocked_on_remote(&self, cpu: u16) -> Option<ContextId> {
        for endpoint in &self.endpoints {
            for (index, context) in endpoint.contexts.iter().enumerate() {
                let blocked = matches!(
                    context.state,
                    State::Blocked { cpu: blocked, callee: Party::Remote(_), .. } if blocked == cpu
                );
                if blocked {
                    return Some(ContextId::new(endpoint.id.0, index as u16));
                }
            }
        }
        None
    }

    /// Whether any local context occupies `cpu`, or a lifecycle pass waits on the other
    /// world there.
    pub(crate) fn cpu_busy(&self, cpu: u16) -> bool {
        self.contexts().any(|(_, context)| context.cpu() == Some(cpu))
            || self.lifecycle.occupies(cpu)
    }

    /// The version a local endpoint negotiated.
    pub(crate) fn version_of(&self, id: EndpointId) -> Option<Version> {
        self.endpoint(id).map(|endpoint| endpoint.version.version)
    }
}
