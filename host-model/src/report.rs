//! What a model run gives back: the driver's value, a trace of every call and delivery, the
//! endpoints that failed, the final context states; or the error that stopped the run.

use core::fmt;

use ffa_core::memory::MemoryHandle;
use ffa_core::{EndpointId, FunctionId};
use spmc::partition_manager::{ContextId, ContextState, Delivery, InvariantViolation, Role};

use crate::baton::Failure;
use crate::memory::{MemoryError, SharedMemory};

/// One line of the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceEntry {
    /// The dispatcher step it happened in.
    pub step: u64,
    /// The physical CPU.
    pub cpu: u16,
    /// What happened.
    pub event: TraceEvent,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceEvent {
    /// An endpoint context made a call to its partition manager.
    Call {
        /// The caller.
        from: ContextId,
        /// x0-x17.
        registers: [u64; 18],
    },
    /// A call crossed from the normal world into the SPMC (through the SPMD): a forwarded
    /// call, or the hypervisor's own.
    SecureWorldCall {
        /// The context name the SPMC was given.
        from: ContextId,
        /// x0-x17.
        registers: [u64; 18],
    },
    /// A partition manager's answer: what runs next.
    Delivery {
        /// Which manager.
        manager: Role,
        /// What it returned.
        delivery: Delivery,
    },
    /// The platform took an interrupt while `context` ran.
    Interrupt {
        /// The running context.
        context: ContextId,
        /// The interrupt ID.
        interrupt_id: u32,
    },
    /// An endpoint's program stopped; the model reported it as a fault of the context.
    Stopped {
        /// The context.
        context: ContextId,
        /// Why (`None`: its program returned).
        failure: Option<Failure>,
    },
    /// A context asked the platform for an action ([`crate::ModelConduit::platform`]).
    Platform {
        /// The context that asked.
        context: ContextId,
        /// What it asked for.
        action: crate::platform::PlatformAction,
    },
}

fn function_name(register: u64) -> &'static str {
    FunctionId::from_register(register).map(FunctionId::name).unwrap_or("(not an FF-A function)")
}

fn context_name(context: ContextId) -> String {
    format!("{:#06x}.{}", context.endpoint.0, context.vcpu.0)
}

impl fmt::Display for TraceEntry {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "#{:<5} cpu{} ", self.step, self.cpu)?;
        match &self.event {
            TraceEvent::Call { from, registers } => write!(
                formatter,
                "{} calls {} w1={:#x} w2={:#x} w3={:#x}",
                context_name(*from),
                function_name(registers[0]),
                registers[1],
                registers[2],
                registers[3]
            ),
            TraceEvent::SecureWorldCall { from, registers } => write!(
                formatter,
                "  SPMC gets {} from {} w1={:#x} w2={:#x} w3={:#x}",
                function_name(registers[0]),
                context_name(*from),
                registers[1],
                registers[2],
                registers[3]
            ),
            TraceEvent::Delivery { manager, delivery } => write!(
                formatter,
                "  {manager:?} -> {:?} {} with {} w1={:#x} w2={:#x} w3={:#x}",
                delivery.transfer,
                context_name(delivery.to),
                function_name(delivery.registers[0]),
                delivery.registers[1],
                delivery.registers[2],
                delivery.registers[3]
            ),
            TraceEvent::Interrupt { context, interrupt_id } => {
                write!(formatter, "interrupt {interrupt_id} preempts {}", context_name(*context))
            }
            TraceEvent::Stopped { context, failure: Some(failure) } => {
                write!(formatter, "{} stops: {failure}", context_name(*context))
            }
            TraceEvent::Stopped { context, failure: None } => {
                write!(formatter, "{} stops: its program returned", context_name(*context))
            }
            TraceEvent::Platform { context, action } => {
                write!(formatter, "{} asks the platform: {action:?}", context_name(*context))
            }
        }
    }
}

/// An endpoint context whose program stopped during the run (other than VM 1's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoppedContext {
    /// The context.
    pub context: ContextId,
    /// Why (`None`: its program returned).
    pub failure: Option<Failure>,
}

/// A finished run.
#[derive(Debug)]
pub struct Report<R> {
    /// What VM 1's program returned.
    pub value: R,
    /// Every call and delivery, in order.
    pub trace: Vec<TraceEntry>,
    /// Contexts whose programs stopped (each was reported to its manager as a fault).
    pub stopped: Vec<StoppedContext>,
    /// The state of every context of both managers at the end.
    pub states: Vec<(ContextId, ContextState)>,
    /// Dispatcher steps taken.
    pub steps: u64,
    /// The memory system, for inspection.
    pub memory: SharedMemory,
    /// The handles in the forwarder's memory-sharing ledger at the end.
    pub forwarder_handles: Vec<MemoryHandle>,
    /// The handles in the SPMC's memory-sharing ledger at the end.
    pub spmc_handles: Vec<MemoryHandle>,
    /// The VMs whose notification bitmap the SPMC holds at the end.
    pub spmc_vm_bitmaps: Vec<EndpointId>,
}

impl<R> Report<R> {
    /// The final state of `context`.
    pub fn state_of(&self, context: ContextId) -> Option<ContextState> {
        self.states.iter().find(|(id, _)| *id == context).map(|(_, state)| *state)
    }

    /// The registers of every call that crossed into the secure world, in order.
    pub fn secure_world_calls(&self) -> impl Iterator<Item = &[u64; 18]> {
        self.trace.iter().filter_map(|entry| match &entry.event {
            TraceEvent::SecureWorldCall { registers, .. } => Some(registers),
            _ => None,
        })
    }

    /// The trace as text, one line per entry.
    pub fn trace_text(&self) -> String {
        self.trace.iter().map(|entry| format!("{entry}\n")).collect()
    }
}

/// Why a run stopped without a report.
#[derive(Debug)]
pub enum ModelError {
    /// The builder's settings cannot make a system.
    Configuration(String),
    /// Setting up memory failed.
    Memory(MemoryError),
    /// Every context is blocked and VM 1 has not finished.
    Deadlock {
        /// Every context's state when it happened.
        states: Vec<(ContextId, ContextState)>,
        /// The last trace lines.
        trace_tail: Vec<TraceEntry>,
    },
    /// More dispatcher steps than the limit (a partition that never stops calling).
    StepLimit(u64),
    /// VM 1's program faulted or panicked.
    DriverFailed(Failure),
    /// A partition manager asked for something the platform cannot do, or a context's thread
    /// broke the protocol (a bug in the core or in the model).
    Platform(String),
    /// A partition manager's scheduling invariants broke.
    Invariant {
        /// Which manager.
        manager: Role,
        /// What broke.
        violation: InvariantViolation,
    },
    /// A context thread could not be started.
    Thread(String),
}

impl fmt::Display for ModelError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Configuration(reason) => write!(formatter, "configuration: {reason}"),
            Self::Memory(error) => write!(formatter, "memory: {error}"),
            Self::Deadlock { states, trace_tail } => {
                writeln!(
                    formatter,
                    "deadlock: every context is blocked and VM 1 has not finished"
                )?;
                for (context, state) in states {
                    writeln!(formatter, "  {}: {state:?}", context_name(*context))?;
                }
                writeln!(formatter, "last trace lines:")?;
                for entry in trace_tail {
                    writeln!(formatter, "  {entry}")?;
                }
                Ok(())
            }
            Self::StepLimit(limit) => write!(formatter, "more than {limit} steps"),
            Self::DriverFailed(failure) => write!(formatter, "VM 1's program stopped: {failure}"),
            Self::Platform(reason) => write!(formatter, "platform: {reason}"),
            Self::Invariant { manager, violation } => {
                write!(formatter, "{manager:?} invariant broken: {violation:?}")
            }
            Self::Thread(reason) => write!(formatter, "thread: {reason}"),
        }
    }
}

impl std::error::Error for ModelError {}

impl From<MemoryError> for ModelError {
    fn from(error: MemoryError) -> Self {
        Self::Memory(error)
    }
}
