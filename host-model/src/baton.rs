//! The baton: each endpoint execution context runs its code on its own OS thread, and exactly
//! one thread runs at a time. A context's `Conduit::call` hands its registers to the model's
//! dispatcher and blocks until a delivery enters the context again.

use std::any::Any;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use ffa_core::{Conduit, EndpointId, FfaError};
use spmc::partition_manager::ContextId;

use crate::memory::GuestMemory;
use crate::platform::PlatformAction;

/// What the dispatcher hands a blocked context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Entry {
    /// The result of the context's call (or the next message it waited for): x0-x17.
    Registers([u64; 18]),
    /// The context was preempted by [`ModelConduit::interrupt`] and is now resumed.
    Restored,
    /// The partition manager refused to preempt the context; it just carries on.
    NotPreempted(FfaError),
    /// The outcome of the platform action the context asked for ([`ModelConduit::platform`]).
    PlatformDone(Result<(), FfaError>),
    /// The model is shutting down: the context's thread unwinds and ends.
    Terminate,
}

/// Why an endpoint's program stopped other than by returning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// It faulted: [`ModelConduit::fault`], or a memory access its stage 2 does not allow.
    Fault(String),
    /// It panicked (e.g. a failed assertion), with the panic message.
    Panic(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fault(reason) => write!(formatter, "fault: {reason}"),
            Self::Panic(message) => write!(formatter, "panic: {message}"),
        }
    }
}

/// What a context's thread tells the dispatcher.
pub(crate) enum Event {
    /// It made an FF-A call (HVC/SMC) with x0-x17.
    Call([u64; 18]),
    /// The platform takes an interrupt with this ID while the context runs.
    Interrupt(u32),
    /// The context asks the platform to do something ([`ModelConduit::platform`]).
    Platform(PlatformAction),
    /// Its program returned this value.
    Finished(Box<dyn Any + Send>),
    /// Its program stopped.
    Failed(Failure),
}

impl fmt::Debug for Event {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Call(registers) => write!(formatter, "Call({:#x}, ..)", registers[0]),
            Self::Interrupt(id) => write!(formatter, "Interrupt({id})"),
            Self::Platform(action) => write!(formatter, "Platform({action:?})"),
            Self::Finished(_) => write!(formatter, "Finished"),
            Self::Failed(failure) => write!(formatter, "Failed({failure})"),
        }
    }
}

/// The channel every context reports on.
pub(crate) type EventSender = Sender<(ContextId, Event)>;

/// The unwinding payload that ends a context's thread when the model shuts down.
struct Terminated;

/// The unwinding payload of a fault.
struct FaultPayload(String);

/// Stops the calling endpoint with a fault (a data abort on hardware): its thread unwinds, and
/// the model reports the fault to the partition manager, which aborts the context. Unlike a
/// panic it prints nothing.
pub fn fault(reason: &str) -> ! {
    panic::resume_unwind(Box::new(FaultPayload(reason.to_owned())))
}

fn terminate() -> ! {
    panic::resume_unwind(Box::new(Terminated))
}

struct Link {
    context: ContextId,
    events: EventSender,
    entries: Mutex<Receiver<Entry>>,
    /// Set once the model told this context to end: calls made while its thread unwinds (from
    /// destructors) must not block or unwind again.
    shut_down: AtomicBool,
}

/// The conduit of one execution context in the model: `call` is its HVC (VMs) or SMC
/// (partitions). Clones are the same context, so a partition's request handler can keep one to
/// make nested calls while the guest driver owns another.
#[derive(Clone)]
pub struct ModelConduit {
    link: Arc<Link>,
}

impl fmt::Debug for ModelConduit {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_struct("ModelConduit").field("context", &self.link.context).finish()
    }
}

impl ModelConduit {
    /// The execution context this conduit belongs to.
    pub fn context(&self) -> ContextId {
        self.link.context
    }

    /// The endpoint this conduit belongs to.
    pub fn endpoint(&self) -> EndpointId {
        self.link.context.endpoint
    }

    /// The platform takes an interrupt with `interrupt_id` right here: the partition manager
    /// preempts the context (whoever waits on it gets FFA_INTERRUPT) and this returns `Ok` once
    /// FFA_RUN resumed it. If the manager refuses to preempt (e.g. during boot), this returns
    /// its error at once and the context simply carries on.
    pub fn interrupt(&mut self, interrupt_id: u32) -> Result<(), FfaError> {
        match self.exchange(Event::Interrupt(interrupt_id)) {
            Entry::Restored => Ok(()),
            Entry::NotPreempted(error) => Err(error),
            Entry::Terminate => {
                shut_down_or([0; 18]);
                Err(FfaError::Aborted)
            }
            other => fault(&format!("model protocol: an interrupt was resumed with {other:?}")),
        }
    }

    /// Asks the platform (the hypervisor, outside FF-A) to carry out `action` while this
    /// context waits; see [`PlatformAction`]. Returns once the action's pass through the
    /// partition managers ended: `Ok` when the forwarder ended it with FFA_SUCCESS, or the
    /// error it refused the action with or ended the pass with (RETRY: partitions or
    /// transactions are left for another pass).
    pub fn platform(&mut self, action: PlatformAction) -> Result<(), FfaError> {
        match self.exchange(Event::Platform(action)) {
            Entry::PlatformDone(result) => result,
            Entry::Terminate => {
                shut_down_or([0; 18]);
                Err(FfaError::Aborted)
            }
            other => fault(&format!("model protocol: a platform action ended with {other:?}")),
        }
    }

    /// Faults the context (see [`fault`]).
    pub fn fault(&self, reason: &str) -> ! {
        fault(reason)
    }

    /// Reports `event` and blocks until the dispatcher enters this context again.
    /// After shutdown it returns [`Entry::Terminate`] at once; the caller then unwinds (or, if
    /// already unwinding, answers without blocking).
    fn exchange(&self, event: Event) -> Entry {
        if self.link.shut_down.load(Ordering::SeqCst) {
            return Entry::Terminate;
        }
        if self.link.events.send((self.link.context, event)).is_err() {
            self.link.shut_down.store(true, Ordering::SeqCst);
            return Entry::Terminate;
        }
        let entry = {
            let entries = self.link.entries.lock().unwrap_or_else(PoisonError::into_inner);
            entries.recv()
        };
        match entry {
            Ok(Entry::Terminate) | Err(_) => {
                self.link.shut_down.store(true, Ordering::SeqCst);
                Entry::Terminate
            }
            Ok(entry) => entry,
        }
    }
}

/// Ends the calling thread for the model's shutdown, unless it is already unwinding.
fn shut_down_or(answer: [u64; 18]) -> [u64; 18] {
    if std::thread::panicking() {
        answer
    } else {
        terminate()
    }
}

impl Conduit for ModelConduit {
    fn call(&mut self, registers: [u64; 18]) -> [u64; 18] {
        match self.exchange(Event::Call(registers)) {
            Entry::Registers(answer) => answer,
            Entry::Terminate => shut_down_or(
                ffa_core::Return::error(FfaError::Aborted).encode(ffa_core::Version::V1_2),
            ),
            other => fault(&format!("model protocol: a call was resumed with {other:?}")),
        }
    }
}

/// An endpoint program, boxed: it gets the context's conduit and memory and returns a value
/// (only VM 1's value is kept).
pub(crate) type BoxedProgram =
    Box<dyn FnOnce(ModelConduit, GuestMemory) -> Box<dyn Any + Send> + Send>;

/// A running context's thread, as the dispatcher holds it.
#[derive(Debug)]
pub(crate) struct ContextThread {
    pub(crate) entries: Sender<Entry>,
    pub(crate) handle: JoinHandle<()>,
}

/// The text of a panic payload.
fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic with a non-text payload".to_owned()
    }
}

/// Starts `program` for `context` on a new thread, which runs at once (the caller then waits
/// for its first event: that hands the baton over).
pub(crate) fn spawn(
    context: ContextId,
    events: EventSender,
    memory: GuestMemory,
    program: BoxedProgram,
) -> std::io::Result<ContextThread> {
    let (entries, receiver) = std::sync::mpsc::channel();
    let link = Arc::new(Link {
        context,
        events: events.clone(),
        entries: Mutex::new(receiver),
        shut_down: AtomicBool::new(false),
    });
    let conduit = ModelConduit { link };
    let name = format!("endpoint {:#06x} vCPU {}", context.endpoint.0, context.vcpu.0);
    let handle = std::thread::Builder::new().name(name).spawn(move || {
        let outcome = panic::catch_unwind(AssertUnwindSafe(move || program(conduit, memory)));
        let event = match outcome {
            Ok(value) => Event::Finished(value),
            Err(payload) if payload.is::<Terminated>() => return,
            Err(payload) => match payload.downcast::<FaultPayload>() {
                Ok(fault) => Event::Failed(Failure::Fault(fault.0)),
                Err(payload) => Event::Failed(Failure::Panic(panic_message(payload.as_ref()))),
            },
        };
        let _ = events.send((context, event));
    })?;
    Ok(ContextThread { entries, handle })
}
