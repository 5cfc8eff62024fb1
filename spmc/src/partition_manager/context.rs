//! Execution-context names, their states, and the `Delivery` the platform carries out.

use ffa_core::{EndpointId, TargetInfo, VcpuId};

/// An execution context: a local endpoint's vCPU, or, for the other world, an endpoint on the
/// physical CPU the call arrived on (`vcpu` is then the CPU index).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContextId {
    /// The endpoint.
    pub endpoint: EndpointId,
    /// Its vCPU (local) or the physical CPU (other world).
    pub vcpu: VcpuId,
}

impl ContextId {
    /// A context from raw IDs.
    pub const fn new(endpoint: u16, vcpu: u16) -> Self {
        Self { endpoint: EndpointId(endpoint), vcpu: VcpuId(vcpu) }
    }

    /// The `endpoint << 16 | vCPU` word naming this context in FFA_RUN, FFA_YIELD and
    /// FFA_INTERRUPT.
    pub const fn target_info(self) -> TargetInfo {
        TargetInfo { endpoint: self.endpoint, vcpu: self.vcpu }
    }
}

/// How the platform passes control to [`Delivery::to`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transfer {
    /// First entry of a local context: enter it at its entry point (`registers` are zero; the
    /// platform adds its boot arguments).
    Start,
    /// Resume a local context (ERET) with x0-x17 = `registers`.
    Enter,
    /// Resume a local context that was preempted by an interrupt, restoring the registers the
    /// platform saved at the preemption (`registers` are zero and unused).
    Restore,
    /// Reach the other world: SMC with x0-x17 = `registers` on CPU `to.vcpu`. What comes back
    /// (a result, or the other world's next call) goes to `handle(to, ..)`.
    OtherWorld,
    /// Nothing FF-A needs runs next on CPU `to.vcpu` (forwarder only): the platform's own
    /// scheduler picks. `registers` carry the status the last context ended with.
    Scheduler,
}

/// What runs next, and with which registers. Returned by every entry point of the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Delivery {
    /// The context to run.
    pub to: ContextId,
    /// How to reach it.
    pub transfer: Transfer,
    /// x0-x17.
    pub registers: [u64; 18],
}

/// The state of one local execution context, as the platform and tests may observe it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContextState {
    /// Not yet entered (booting has not reached it, or its CPU is not on).
    NotStarted,
    /// Running (or booting) on a CPU.
    Running {
        /// The physical CPU.
        cpu: u16,
        /// Still in its boot phase (ends with FFA_MSG_WAIT or FFA_ERROR).
        booting: bool,
    },
    /// In FFA_MSG_WAIT: ready for a direct request or FFA_RUN.
    Waiting,
    /// Made a direct request (or a forwarded call) and waits for the answer on `cpu`.
    Blocked {
        /// The physical CPU the call chain runs on.
        cpu: u16,
    },
    /// Gave up the CPU with FFA_YIELD or was preempted by an interrupt; resumed by FFA_RUN.
    Preempted,
    /// Faulted or failed to boot; never runs again.
    Aborted,
}
