//! Platform actions: what the hypervisor does outside FF-A calls (a VM created or destroyed,
//! a VM's RX/TX buffers registered with the SPMC), run as a pass of the forwarder on an idle
//! CPU while the context that asked for it waits.

use ffa_core::{EndpointId, FfaError, FunctionId};
use spmc::partition_manager::{ContextId, Delivery, Role};

use crate::dispatcher::{Dispatcher, Pending};
use crate::report::{ModelError, TraceEvent};

/// Something the platform does, asked for with [`crate::ModelConduit::platform`]. Each runs
/// on `cpu`, which must be idle (no context of either world on it); the forwarder tells the
/// secure world on that CPU, and partitions it enters run there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlatformAction {
    /// The VM `vm` was created (again): the forwarder's `vm_created` pass tells the partitions
    /// that subscribed to VM_CREATED.
    VmCreated {
        /// The VM.
        vm: EndpointId,
        /// The CPU the pass runs on.
        cpu: u16,
    },
    /// Destroy VM `vm` (it must not be running or waiting in a call): the forwarder's
    /// `destroy_vm` stops it, releases what it holds, tells the partitions that subscribed to
    /// VM_DESTROYED and reclaims at the SPMC what it forwarded there. Asking again for a
    /// destroyed VM runs another pass for what is left.
    DestroyVm {
        /// The VM.
        vm: EndpointId,
        /// The CPU the pass runs on.
        cpu: u16,
    },
    /// Register the RX/TX buffers VM `vm` mapped with the SPMC (the forwarder's
    /// `register_vm_mailbox`: FFA_RXTX_MAP with the endpoint RX/TX descriptor).
    RegisterVmMailbox {
        /// The VM.
        vm: EndpointId,
        /// The CPU the call is made on.
        cpu: u16,
    },
}

impl PlatformAction {
    /// The CPU the action runs on.
    pub fn cpu(&self) -> u16 {
        match *self {
            Self::VmCreated { cpu, .. }
            | Self::DestroyVm { cpu, .. }
            | Self::RegisterVmMailbox { cpu, .. } => cpu,
        }
    }
}

/// Who waits for the pass running on a CPU.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PlatformWaiter {
    /// The context that asked.
    pub(crate) context: ContextId,
    /// The CPU it waits on.
    pub(crate) cpu: usize,
}

impl Dispatcher {
    /// `context`, running on `cpu`, asked for `action`: starts the forwarder's pass on the
    /// action's CPU, or answers the refusal at once.
    pub(crate) fn on_platform_action(
        &mut self,
        cpu: usize,
        context: ContextId,
        action: PlatformAction,
    ) -> Result<(), ModelError> {
        self.record(cpu, TraceEvent::Platform { context, action });
        let target = usize::from(action.cpu());
        if target < self.cpus
            && (self.pending[target].is_some() || self.forwarded[target].is_some())
        {
            self.pending[cpu] = Some(Pending::PlatformDone(context, Err(FfaError::Denied)));
            return Ok(());
        }
        let started = match action {
            PlatformAction::VmCreated { vm, cpu } => self.forwarder.vm_created(vm, cpu),
            PlatformAction::DestroyVm { vm, cpu } => self.forwarder.destroy_vm(vm, cpu),
            PlatformAction::RegisterVmMailbox { vm, cpu } => {
                self.forwarder.register_vm_mailbox(vm, cpu)
            }
        };
        match started {
            Err(error) => {
                self.pending[cpu] = Some(Pending::PlatformDone(context, Err(error)));
                Ok(())
            }
            Ok(delivery) => {
                self.check(Role::Forwarder)?;
                self.platform_waiters[target] = Some(PlatformWaiter { context, cpu });
                self.settle(target, Role::Forwarder, delivery)
            }
        }
    }

    /// The forwarder handed `cpu` to the scheduler with `delivery`: if a platform action's
    /// pass ran there, its waiter gets the outcome. Returns whether it was such a pass.
    pub(crate) fn platform_pass_ended(&mut self, cpu: usize, delivery: &Delivery) -> bool {
        let Some(waiter) = self.platform_waiters.get_mut(cpu).and_then(Option::take) else {
            return false;
        };
        let registers = delivery.registers;
        let outcome = if registers[0] == FunctionId::Success32.to_register()
            || registers[0] == FunctionId::Success64.to_register()
        {
            Ok(())
        } else if registers[0] == FunctionId::Error32.to_register() {
            Err(FfaError::from_register(registers[2]).unwrap_or(FfaError::Aborted))
        } else {
            Err(FfaError::Aborted)
        };
        self.pending[waiter.cpu] = Some(Pending::PlatformDone(waiter.context, outcome));
        true
    }
}
