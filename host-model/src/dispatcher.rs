//! The dispatcher: owns both partition managers, wires them as the real stack is wired, and
//! passes the baton from context to context until VM 1's program returns.
//!
//! A forwarder delivery to the other world is an SMC that the SPMD passes to the SPMC as a
//! normal-world call (`handle` with endpoint 0 on that CPU); the SPMC's delivery back to the
//! normal world is the result the forwarder waits for (`handle(to, result)`). Enter, Start and
//! Restore deliveries enter the endpoint's thread; a forwarder Scheduler delivery leaves the CPU
//! to the hypervisor's scheduler (idle). CPUs with work take turns, one context entry each.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};

use ffa_core::{EndpointId, FfaError, FunctionId, VcpuId};
use memory_sharing::{MemoryKind, Pools};
use spmc::partition_manager::{
    Configuration, ContextId, ContextState, Delivery, EndpointDescription, MemoryRegionDescription,
    MemorySharing, PartitionManager, Role, Transfer,
};

use crate::address::PhysicalAddress;
use crate::baton::{self, BoxedProgram, ContextThread, Entry, Event, EventSender, Failure};
use crate::builder::{
    ModelBuilder, PartitionProgram, SharedMapping, HYPERVISOR_BUFFERS, PARTITION_RAM_ADDRESS,
    PARTITION_RAM_PHYSICAL, RAM_PAGES, VM_RAM_ADDRESS, VM_RAM_PHYSICAL,
};
use crate::endpoints::{DRIVER_VM, SPMC_ID};
use crate::memory::{
    Access, GuestMemory, ManagerMemory, ModelPlatform, PhysicalRegion, SecurityState, SharedMemory,
    SystemMemory,
};
use crate::report::{ModelError, Report, StoppedContext, TraceEntry, TraceEvent};

/// Endpoints each manager can hold (local, and separately remote).
pub(crate) const MAX_ENDPOINTS: usize = 16;
/// Execution contexts per endpoint.
pub(crate) const MAX_VCPUS: usize = 8;
/// Physical CPUs.
pub const MAX_CPUS: usize = 8;

/// Both managers have this type.
pub(crate) type Manager =
    PartitionManager<ManagerMemory, MAX_ENDPOINTS, MAX_VCPUS, MAX_CPUS, ModelPlatform>;

/// Pages of the hypervisor's TX buffer at the SPMC (the forward buffer), and of its RX buffer.
pub(crate) const HYPERVISOR_BUFFER_PAGES: u32 = 1;

/// Fresh ledger pools for one manager (leaked: a model run is a test process's lifetime).
fn ledger_storage() -> memory_sharing::LedgerStorage<'static> {
    Box::leak(Box::new(Pools::<256, 64, 2048, 256>::new())).storage()
}

/// What a CPU does next.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Pending {
    /// Start a context's program.
    Start(ContextId),
    /// Return from a context's call with these registers.
    Enter(ContextId, [u64; 18]),
    /// Resume a context that was preempted.
    Restore(ContextId),
    /// Tell a context its interrupt did not preempt it.
    NotPreempted(ContextId, FfaError),
    /// Give a context the outcome of the platform action it asked for.
    PlatformDone(ContextId, Result<(), FfaError>),
}

/// Where a context's thread is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ThreadState {
    /// Blocked in a call (or not yet past its start).
    InCall,
    /// Blocked in [`crate::ModelConduit::interrupt`].
    Interrupted,
    /// Blocked in [`crate::ModelConduit::platform`].
    InPlatform,
    /// Its program ended.
    Stopped,
}

/// The running system.
pub(crate) struct Dispatcher {
    pub(crate) forwarder: Manager,
    pub(crate) spmc: Manager,
    pub(crate) memory: SharedMemory,
    pub(crate) version: ffa_core::Version,
    pub(crate) cpus: usize,
    vm_programs: BTreeMap<EndpointId, BoxedProgram>,
    partition_programs: BTreeMap<EndpointId, PartitionProgram>,
    /// VMs other than VM 1, with the CPU each starts on.
    other_vms: Vec<(EndpointId, u16)>,
    /// Every context of both managers, for reports.
    contexts: Vec<ContextId>,
    threads: BTreeMap<ContextId, (ContextThread, ThreadState)>,
    pub(crate) pending: Vec<Option<Pending>>,
    /// Per CPU: the forwarder's other-world delivery awaiting the secure world's answer.
    pub(crate) forwarded: Vec<Option<ContextId>>,
    /// Per CPU: the context waiting for the platform action's pass running there.
    pub(crate) platform_waiters: Vec<Option<crate::platform::PlatformWaiter>>,
    /// Per CPU: the SPMC finished booting it.
    booted: Vec<bool>,
    events: Receiver<(ContextId, Event)>,
    event_sender: EventSender,
    pub(crate) trace: Vec<TraceEntry>,
    stopped: Vec<StoppedContext>,
    driver_value: Option<Box<dyn Any + Send>>,
    step: u64,
    step_limit: u64,
    cursor: usize,
}

fn cpu_context(endpoint: EndpointId, cpu: usize) -> ContextId {
    ContextId { endpoint, vcpu: VcpuId(cpu as u16) }
}

fn role_of(endpoint: EndpointId) -> Role {
    if endpoint.is_secure() {
        Role::Spmc
    } else {
        Role::Forwarder
    }
}

/// Lays out RAM for every endpoint and the shared mappings.
fn build_memory(builder: &ModelBuilder) -> Result<SystemMemory, ModelError> {
    let mut memory = SystemMemory::default();
    let ram_bytes = RAM_PAGES * crate::address::PAGE_SIZE;
    let vms = std::iter::once(&builder.driver).chain(builder.vms.iter().map(|(vm, _)| vm));
    for (index, vm) in vms.enumerate() {
        let physical = VM_RAM_PHYSICAL
            .checked_add(index as u64 * ram_bytes)
            .ok_or(crate::memory::MemoryError::Overflow)?;
        memory.add_endpoint_ram(
            vm.id,
            VM_RAM_ADDRESS,
            physical,
            RAM_PAGES,
            SecurityState::NonSecure,
        )?;
    }
    for (index, (partition, _)) in builder.partitions.iter().enumerate() {
        let physical = PARTITION_RAM_PHYSICAL
            .checked_add(index as u64 * ram_bytes)
            .ok_or(crate::memory::MemoryError::Overflow)?;
        memory.add_endpoint_ram(
            partition.id,
            PARTITION_RAM_ADDRESS,
            physical,
            RAM_PAGES,
            SecurityState::Secure,
        )?;
    }
    memory.physical_mut().add_region(PhysicalRegion {
        name: "hypervisor RX/TX buffers".into(),
        base: HYPERVISOR_BUFFERS,
        page_count: 2 * u64::from(HYPERVISOR_BUFFER_PAGES),
        security: SecurityState::NonSecure,
    })?;
    for SharedMapping { endpoint, address, source, source_address, page_count } in &builder.shared {
        let physical = memory.translate(*source, *source_address, Access::READ)?;
        memory.map(*endpoint, *address, physical, *page_count, Access::READ_WRITE)?;
    }
    Ok(memory)
}

impl Dispatcher {
    /// Builds both managers and the memory system from `builder`.
    pub(crate) fn new(builder: ModelBuilder) -> Result<Self, ModelError> {
        let memory = Arc::new(Mutex::new(build_memory(&builder)?));
        let vms: Vec<EndpointDescription> = std::iter::once(builder.driver.clone())
            .chain(builder.vms.iter().map(|(vm, _)| vm.clone()))
            .collect();
        let partitions: Vec<EndpointDescription> =
            builder.partitions.iter().map(|(partition, _)| partition.clone()).collect();
        // The SPMC knows the hypervisor (ID 0) and every VM as normal-world endpoints.
        let hypervisor = EndpointDescription::virtual_machine(
            EndpointId::HYPERVISOR,
            builder.cpus,
            builder.version,
            crate::endpoints::all_direct_messaging(),
        );
        let normal_world: Vec<EndpointDescription> =
            std::iter::once(hypervisor).chain(vms.iter().cloned()).collect();
        let configuration = |role, own_id, local, remote| Configuration {
            role,
            own_id,
            spm_id: SPMC_ID,
            version: builder.version,
            local,
            remote,
            interrupts: if role == Role::Spmc {
                builder.interrupts
            } else {
                spmc::partition_manager::FeatureInterrupts::default()
            },
            maximum_mailbox_pages: builder.maximum_mailbox_pages,
        };
        let configuration_error =
            |error| ModelError::Configuration(format!("partition manager: {error:?}"));
        // The memory map each ledger starts with: every endpoint owns its RAM.
        let region = |owner: &EndpointDescription, index: usize, base: PhysicalAddress, secure| {
            MemoryRegionDescription {
                owner: owner.id,
                base: base.0 + index as u64 * RAM_PAGES * crate::address::PAGE_SIZE,
                page_count: RAM_PAGES as u32,
                kind: MemoryKind::Normal { secure },
                read_only: false,
            }
        };
        let vm_regions: Vec<MemoryRegionDescription> = vms
            .iter()
            .enumerate()
            .flat_map(|(index, vm)| {
                split_read_only(region(vm, index, VM_RAM_PHYSICAL, false), &builder.read_only)
            })
            .collect();
        let spmc_regions: Vec<MemoryRegionDescription> = partitions
            .iter()
            .enumerate()
            .flat_map(|(index, partition)| {
                let whole = region(partition, index, PARTITION_RAM_PHYSICAL, true);
                split_read_only(whole, &builder.read_only)
            })
            .chain(vm_regions.iter().copied())
            .collect();
        let spmc = Manager::with_memory_sharing(
            &configuration(Role::Spmc, SPMC_ID, &partitions, &normal_world),
            ManagerMemory::new(memory.clone(), Role::Spmc),
            MemorySharing {
                platform: ModelPlatform::new(memory.clone(), Role::Spmc, None),
                storage: ledger_storage(),
                regions: &spmc_regions,
            },
        )
        .map_err(configuration_error)?;
        // The forwarder learns of the partitions by discovery when the hypervisor boots.
        let forward_buffer = (
            HYPERVISOR_BUFFERS,
            HYPERVISOR_BUFFER_PAGES as usize * crate::address::PAGE_SIZE as usize,
        );
        let mut forwarder = Manager::with_memory_sharing(
            &configuration(Role::Forwarder, EndpointId::HYPERVISOR, &vms, &[]),
            ManagerMemory::new(memory.clone(), Role::Forwarder),
            MemorySharing {
                platform: ModelPlatform::new(memory.clone(), Role::Forwarder, Some(forward_buffer)),
                storage: ledger_storage(),
                regions: &vm_regions,
            },
        )
        .map_err(configuration_error)?;
        forwarder.set_policy(builder.policy.clone());
        for &(partition, messages) in &builder.vm_availability {
            spmc.set_vm_availability(partition, messages).map_err(|error| {
                ModelError::Configuration(format!(
                    "VM availability messages of {:#06x}: {error:?}",
                    partition.0
                ))
            })?;
        }
        let contexts = vms
            .iter()
            .chain(partitions.iter())
            .flat_map(|description| {
                (0..description.execution_context_count)
                    .map(move |vcpu| ContextId::new(description.id.0, vcpu))
            })
            .collect();
        let cpus = usize::from(builder.cpus);
        let other_vms = builder
            .vms
            .iter()
            .enumerate()
            .map(|(index, (vm, _))| (vm.id, index as u16 + 1))
            .collect();
        let vm_programs = builder.vms.into_iter().map(|(vm, program)| (vm.id, program)).collect();
        let partition_programs = builder
            .partitions
            .into_iter()
            .map(|(partition, program)| (partition.id, program))
            .collect();
        let (event_sender, events) = std::sync::mpsc::channel();
        Ok(Self {
            forwarder,
            spmc,
            memory,
            version: builder.version,
            cpus,
            vm_programs,
            partition_programs,
            other_vms,
            contexts,
            threads: BTreeMap::new(),
            pending: vec![None; cpus],
            forwarded: vec![None; cpus],
            platform_waiters: vec![None; cpus],
            booted: vec![false; cpus],
            events,
            event_sender,
            trace: Vec::new(),
            stopped: Vec::new(),
            driver_value: None,
            step: 0,
            step_limit: builder.step_limit,
            cursor: 0,
        })
    }

    /// Boots everything and runs `driver` as VM 1 until it returns; gives its value.
    pub(crate) fn run(&mut self, driver: BoxedProgram) -> Result<Box<dyn Any + Send>, ModelError> {
        for cpu in 0..self.cpus {
            let delivery = self.spmc.boot(cpu as u16).map_err(|error| {
                ModelError::Platform(format!("SPMC refused to boot CPU {cpu}: {error:?}"))
            })?;
            self.settle(cpu, Role::Spmc, delivery)?;
            self.run_until(|dispatcher| dispatcher.idle())?;
            if !self.booted[cpu] {
                return Err(ModelError::Platform(format!("boot of CPU {cpu} did not end")));
            }
        }
        self.boot_hypervisor()?;
        for (vm, cpu) in self.other_vms.clone() {
            self.start_vm(vm, cpu)?;
        }
        self.run_until(|dispatcher| dispatcher.idle())?;
        self.vm_programs.insert(DRIVER_VM, driver);
        self.start_vm(DRIVER_VM, 0)?;
        self.run_until(|dispatcher| dispatcher.driver_value.is_some())?;
        self.driver_value
            .take()
            .ok_or_else(|| ModelError::Platform("VM 1 finished without a value".into()))
    }

    fn start_vm(&mut self, vm: EndpointId, cpu: u16) -> Result<(), ModelError> {
        let context = ContextId { endpoint: vm, vcpu: VcpuId(0) };
        let delivery = self.forwarder.start(context, cpu).map_err(|error| {
            ModelError::Platform(format!("forwarder refused to start VM {:#x}: {error:?}", vm.0))
        })?;
        self.check(Role::Forwarder)?;
        self.settle(usize::from(cpu), Role::Forwarder, delivery)
    }

    /// Nothing is pending on any CPU.
    fn idle(&self) -> bool {
        self.pending.iter().all(Option::is_none)
    }

    fn run_until(&mut self, done: impl Fn(&Self) -> bool) -> Result<(), ModelError> {
        loop {
            if done(self) {
                return Ok(());
            }
            let Some(cpu) = self.next_cpu() else {
                return Err(ModelError::Deadlock {
                    states: self.states(),
                    trace_tail: self.trace.iter().rev().take(12).rev().cloned().collect(),
                });
            };
            self.step(cpu)?;
        }
    }

    /// The next CPU with work, taking turns from the one after the last that ran.
    fn next_cpu(&mut self) -> Option<usize> {
        let cpus = self.cpus;
        let found = (0..cpus)
            .map(|offset| (self.cursor + offset) % cpus)
            .find(|&cpu| self.pending[cpu].is_some())?;
        self.cursor = found + 1;
        Some(found)
    }

    /// Enters the context pending on `cpu` and handles what it does next.
    fn step(&mut self, cpu: usize) -> Result<(), ModelError> {
        let Some(pending) = self.pending[cpu].take() else { return Ok(()) };
        self.step += 1;
        if self.step > self.step_limit {
            return Err(ModelError::StepLimit(self.step_limit));
        }
        let context = match pending {
            Pending::Start(context) => {
                self.spawn(context)?;
                context
            }
            Pending::Enter(context, registers) => {
                self.resume(context, ThreadState::InCall, Entry::Registers(registers))?;
                context
            }
            Pending::Restore(context) => {
                self.resume(context, ThreadState::Interrupted, Entry::Restored)?;
                context
            }
            Pending::NotPreempted(context, error) => {
                self.resume(context, ThreadState::Interrupted, Entry::NotPreempted(error))?;
                context
            }
            Pending::PlatformDone(context, outcome) => {
                self.resume(context, ThreadState::InPlatform, Entry::PlatformDone(outcome))?;
                context
            }
        };
        let (from, event) = self
            .events
            .recv()
            .map_err(|_| ModelError::Thread("every context thread is gone".into()))?;
        if from != context {
            return Err(ModelError::Platform(format!(
                "{from:?} reported while {context:?} held the baton"
            )));
        }
        self.on_event(cpu, context, event)
    }

    fn spawn(&mut self, context: ContextId) -> Result<(), ModelError> {
        if self.threads.contains_key(&context) {
            return Err(ModelError::Platform(format!("{context:?} started twice")));
        }
        let program: BoxedProgram = if context.endpoint.is_secure() {
            let program =
                self.partition_programs.get(&context.endpoint).cloned().ok_or_else(|| {
                    ModelError::Platform(format!("no program for {:?}", context.endpoint))
                })?;
            Box::new(move |conduit, memory| {
                program(conduit, memory);
                Box::new(()) as Box<dyn Any + Send>
            })
        } else {
            self.vm_programs.remove(&context.endpoint).ok_or_else(|| {
                ModelError::Platform(format!("no program for VM {:#x}", context.endpoint.0))
            })?
        };
        let memory = GuestMemory::new(self.memory.clone(), context.endpoint);
        let thread = baton::spawn(context, self.event_sender.clone(), memory, program)
            .map_err(|error| ModelError::Thread(error.to_string()))?;
        self.threads.insert(context, (thread, ThreadState::InCall));
        Ok(())
    }

    fn resume(
        &mut self,
        context: ContextId,
        expected: ThreadState,
        entry: Entry,
    ) -> Result<(), ModelError> {
        let Some((thread, state)) = self.threads.get(&context) else {
            return Err(ModelError::Platform(format!("{context:?} entered before it started")));
        };
        if *state != expected {
            return Err(ModelError::Platform(format!(
                "{context:?} entered with {entry:?} while {state:?}"
            )));
        }
        thread
            .entries
            .send(entry)
            .map_err(|_| ModelError::Thread(format!("{context:?}'s thread is gone")))
    }

    fn set_thread_state(&mut self, context: ContextId, new: ThreadState) {
        if let Some((_, state)) = self.threads.get_mut(&context) {
            *state = new;
        }
    }

    pub(crate) fn record(&mut self, cpu: usize, event: TraceEvent) {
        self.trace.push(TraceEntry { step: self.step, cpu: cpu as u16, event });
    }

    fn manager(&self, role: Role) -> &Manager {
        match role {
            Role::Spmc => &self.spmc,
            Role::Forwarder => &self.forwarder,
        }
    }

    pub(crate) fn check(&self, role: Role) -> Result<(), ModelError> {
        self.manager(role)
            .check_invariants()
            .map_err(|violation| ModelError::Invariant { manager: role, violation })
    }

    fn on_event(&mut self, cpu: usize, context: ContextId, event: Event) -> Result<(), ModelError> {
        let role = role_of(context.endpoint);
        match event {
            Event::Call(registers) => {
                self.set_thread_state(context, ThreadState::InCall);
                self.record(cpu, TraceEvent::Call { from: context, registers });
                let delivery = self.manager(role).handle(context, &registers);
                self.check(role)?;
                self.settle(cpu, role, delivery)
            }
            Event::Interrupt(interrupt_id) => {
                self.record(cpu, TraceEvent::Interrupt { context, interrupt_id });
                match self.manager(role).preempt(context, interrupt_id) {
                    Ok(delivery) => {
                        self.set_thread_state(context, ThreadState::Interrupted);
                        self.check(role)?;
                        self.settle(cpu, role, delivery)
                    }
                    Err(error) => {
                        self.set_thread_state(context, ThreadState::Interrupted);
                        self.pending[cpu] = Some(Pending::NotPreempted(context, error));
                        Ok(())
                    }
                }
            }
            Event::Platform(action) => {
                self.set_thread_state(context, ThreadState::InPlatform);
                self.on_platform_action(cpu, context, action)
            }
            Event::Finished(value) if context.endpoint == DRIVER_VM => {
                self.set_thread_state(context, ThreadState::Stopped);
                self.driver_value = Some(value);
                Ok(())
            }
            Event::Failed(failure) if context.endpoint == DRIVER_VM => {
                self.set_thread_state(context, ThreadState::Stopped);
                Err(ModelError::DriverFailed(failure))
            }
            Event::Finished(_) => self.stop(cpu, context, None),
            Event::Failed(failure) => self.stop(cpu, context, Some(failure)),
        }
    }

    /// A context's program ended: the platform reports it as a fault of the context.
    fn stop(
        &mut self,
        cpu: usize,
        context: ContextId,
        failure: Option<Failure>,
    ) -> Result<(), ModelError> {
        self.set_thread_state(context, ThreadState::Stopped);
        self.record(cpu, TraceEvent::Stopped { context, failure: failure.clone() });
        self.stopped.push(StoppedContext { context, failure });
        let role = role_of(context.endpoint);
        match self.manager(role).abort(context) {
            Ok(delivery) => {
                self.check(role)?;
                self.settle(cpu, role, delivery)
            }
            // Not running any more as far as the manager knows: the CPU is simply idle.
            Err(_) => Ok(()),
        }
    }

    /// Carries out `delivery` from `role`'s manager on `cpu`, following it across the worlds
    /// until a context is to run or the CPU goes idle.
    pub(crate) fn settle(
        &mut self,
        cpu: usize,
        mut role: Role,
        mut delivery: Delivery,
    ) -> Result<(), ModelError> {
        loop {
            self.record(cpu, TraceEvent::Delivery { manager: role, delivery });
            let Delivery { to, transfer, registers } = delivery;
            match (role, transfer) {
                (_, Transfer::Start) => {
                    self.pending[cpu] = Some(Pending::Start(to));
                    return Ok(());
                }
                (_, Transfer::Enter) => {
                    self.pending[cpu] = Some(Pending::Enter(to, registers));
                    return Ok(());
                }
                (_, Transfer::Restore) => {
                    self.pending[cpu] = Some(Pending::Restore(to));
                    return Ok(());
                }
                (Role::Forwarder, Transfer::Scheduler) => {
                    self.platform_pass_ended(cpu, &delivery);
                    return Ok(());
                }
                (Role::Spmc, Transfer::Scheduler) => {
                    return Err(ModelError::Platform("the SPMC asked for a scheduler".into()))
                }
                (Role::Forwarder, Transfer::OtherWorld) => {
                    if usize::from(to.vcpu.0) != cpu {
                        return Err(ModelError::Platform(format!(
                            "forwarded call for CPU {} made on CPU {cpu}",
                            to.vcpu.0
                        )));
                    }
                    if self.forwarded[cpu].replace(to).is_some() {
                        return Err(ModelError::Platform(format!(
                            "a second call forwarded on CPU {cpu} before the first was answered"
                        )));
                    }
                    let from = cpu_context(EndpointId::HYPERVISOR, cpu);
                    self.record(cpu, TraceEvent::SecureWorldCall { from, registers });
                    delivery = self.spmc.handle(from, &registers);
                    self.check(Role::Spmc)?;
                    role = Role::Spmc;
                }
                (Role::Spmc, Transfer::OtherWorld) if to.endpoint == EndpointId::SPMD => {
                    let wait = FunctionId::MsgWait32.to_register();
                    if !self.booted[cpu] && registers[0] == wait {
                        self.booted[cpu] = true;
                        return Ok(());
                    }
                    return Err(ModelError::Platform(format!(
                        "the SPMC sent {:#x} to the SPMD on CPU {cpu}",
                        registers[0]
                    )));
                }
                (Role::Spmc, Transfer::OtherWorld) => {
                    let Some(waiting) = self.forwarded[cpu].take() else {
                        return Err(ModelError::Platform(format!(
                            "the SPMC answered on CPU {cpu}, where no call was forwarded"
                        )));
                    };
                    delivery = self.forwarder.handle(waiting, &registers);
                    self.check(Role::Forwarder)?;
                    role = Role::Forwarder;
                }
            }
        }
    }

    /// Every context's state in its manager.
    fn states(&self) -> Vec<(ContextId, ContextState)> {
        self.contexts
            .iter()
            .filter_map(|&context| {
                self.manager(role_of(context.endpoint))
                    .context_state(context)
                    .map(|state| (context, state))
            })
            .collect()
    }

    /// The report of a finished run.
    pub(crate) fn into_report<R>(mut self, value: R) -> Report<R> {
        Report {
            value,
            trace: std::mem::take(&mut self.trace),
            stopped: std::mem::take(&mut self.stopped),
            states: self.states(),
            steps: self.step,
            memory: self.memory.clone(),
            forwarder_handles: ledger_handles(&self.forwarder),
            spmc_handles: ledger_handles(&self.spmc),
            spmc_vm_bitmaps: self.spmc.remote_notification_bitmaps().into_iter().collect(),
        }
    }
}

/// `whole` (an endpoint's RAM) cut where the builder's read-only pages of its owner begin and
/// end, those pieces marked read-only. Pages outside the RAM are ignored.
fn split_read_only(
    whole: MemoryRegionDescription,
    read_only: &[(EndpointId, u64, u64)],
) -> Vec<MemoryRegionDescription> {
    let total = u64::from(whole.page_count);
    let mut marks = vec![false; total as usize];
    for &(_, first, count) in read_only.iter().filter(|(owner, ..)| *owner == whole.owner) {
        for page in first..first.saturating_add(count).min(total) {
            marks[page as usize] = true;
        }
    }
    let mut pieces: Vec<MemoryRegionDescription> = Vec::new();
    for (page, read_only) in marks.into_iter().enumerate() {
        match pieces.last_mut() {
            Some(last) if last.read_only == read_only => last.page_count += 1,
            _ => pieces.push(MemoryRegionDescription {
                base: whole.base + page as u64 * crate::address::PAGE_SIZE,
                page_count: 1,
                read_only,
                ..whole
            }),
        }
    }
    pieces
}

/// Every handle in `manager`'s memory-sharing ledger.
fn ledger_handles(manager: &Manager) -> Vec<ffa_core::memory::MemoryHandle> {
    manager.with_ledger(|ledger| ledger.handles().collect()).unwrap_or_default()
}

impl Drop for Dispatcher {
    /// Ends every context thread still blocked in the model, one at a time.
    fn drop(&mut self) {
        for (_, (thread, _)) in std::mem::take(&mut self.threads) {
            let _ = thread.entries.send(Entry::Terminate);
            let _ = thread.handle.join();
        }
    }
}
