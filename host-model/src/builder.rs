//! Describing a model system: CPUs, VMs and secure partitions with their programs, the FF-A
//! version, and extra stage-2 mappings; `run` builds it and runs VM 1's program.

use std::any::Any;
use std::sync::Arc;

use ffa_core::{EndpointId, Version};
use spmc::manifest::VmAvailabilityMessages;
use spmc::partition_manager::{EndpointDescription, FeatureInterrupts, Policy};

use crate::address::{IntermediateAddress, PhysicalAddress, PAGE_SIZE};
use crate::baton::{BoxedProgram, ModelConduit};
use crate::dispatcher::{Dispatcher, MAX_CPUS};
use crate::endpoints::{virtual_machine, DRIVER_VM};
use crate::memory::GuestMemory;
use crate::report::{ModelError, Report};

/// Where every VM's RAM starts in its own address space (IPA).
pub const VM_RAM_ADDRESS: IntermediateAddress = IntermediateAddress(0x4000_0000);
/// Where the VMs' RAM is in physical memory: VM number `n` (0 is VM 1, then the other VMs in
/// the order they were added) at `VM_RAM_PHYSICAL + n * RAM_PAGES * 4 KiB`. Non-secure.
pub const VM_RAM_PHYSICAL: PhysicalAddress = PhysicalAddress(0x8000_0000);
/// Where every partition's RAM starts in its own address space (IPA).
pub const PARTITION_RAM_ADDRESS: IntermediateAddress = IntermediateAddress(0x0600_0000);
/// Where the partitions' RAM is in physical memory, in configuration order. Secure.
pub const PARTITION_RAM_PHYSICAL: PhysicalAddress = PhysicalAddress(0x1_0000_0000);
/// The hypervisor's own TX buffer (then its RX buffer, one page each), mapped at the SPMC with
/// FFA_RXTX_MAP during its boot: the forwarder writes forwarded memory descriptors there.
/// Non-secure memory no endpoint owns.
pub const HYPERVISOR_BUFFERS: PhysicalAddress = PhysicalAddress(0x7F00_0000);
/// RAM per endpoint, in 4 KiB pages (16 MiB; pages never written take no host memory).
pub const RAM_PAGES: u64 = 4096;

/// A secure partition's program: run once per execution context, from its first entry (it
/// typically brings up a guest driver and calls its `serve` loop).
pub type PartitionProgram = Arc<dyn Fn(ModelConduit, GuestMemory) + Send + Sync>;

/// Stage-2 memory one endpoint shares with another by construction.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SharedMapping {
    pub(crate) endpoint: EndpointId,
    pub(crate) address: IntermediateAddress,
    pub(crate) source: EndpointId,
    pub(crate) source_address: IntermediateAddress,
    pub(crate) page_count: u64,
}

/// The description of a model system.
pub struct ModelBuilder {
    pub(crate) cpus: u16,
    pub(crate) version: Version,
    pub(crate) driver: EndpointDescription,
    pub(crate) vms: Vec<(EndpointDescription, BoxedProgram)>,
    pub(crate) partitions: Vec<(EndpointDescription, PartitionProgram)>,
    pub(crate) interrupts: FeatureInterrupts,
    pub(crate) maximum_mailbox_pages: u16,
    pub(crate) step_limit: u64,
    pub(crate) shared: Vec<SharedMapping>,
    pub(crate) vm_availability: Vec<(EndpointId, VmAvailabilityMessages)>,
    pub(crate) policy: Policy,
    /// Pages of endpoints' RAM the memory maps say are read-only: (endpoint, first page
    /// index, page count).
    pub(crate) read_only: Vec<(EndpointId, u64, u64)>,
}

impl core::fmt::Debug for ModelBuilder {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter
            .debug_struct("ModelBuilder")
            .field("cpus", &self.cpus)
            .field("version", &self.version)
            .field("driver", &self.driver.id)
            .field("vms", &self.vms.iter().map(|(vm, _)| vm.id).collect::<Vec<_>>())
            .field("partitions", &self.partitions.iter().map(|(sp, _)| sp.id).collect::<Vec<_>>())
            .finish()
    }
}

impl Default for ModelBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ModelBuilder {
    /// Four CPUs, FF-A v1.2, VM 1 (one vCPU) and nothing else.
    pub fn new() -> Self {
        Self {
            cpus: 4,
            version: Version::V1_2,
            driver: virtual_machine(DRIVER_VM.0),
            vms: Vec::new(),
            partitions: Vec::new(),
            interrupts: FeatureInterrupts::default(),
            maximum_mailbox_pages: 0,
            step_limit: 1_000_000,
            shared: Vec::new(),
            vm_availability: Vec::new(),
            policy: Policy::allow_all(),
            read_only: Vec::new(),
        }
    }

    /// The number of physical CPUs (1 to 8). VM 1 runs on CPU 0 and each other VM's vCPU 0
    /// on its own CPU, so there must be at least as many CPUs as VMs.
    pub fn cpus(mut self, cpus: u16) -> Self {
        self.cpus = cpus;
        self
    }

    /// The FF-A version both partition managers implement.
    pub fn version(mut self, version: Version) -> Self {
        self.version = version;
        self
    }

    /// VM 1's description (its ID must be 1).
    pub fn driver_vm(mut self, description: EndpointDescription) -> Self {
        self.driver = description;
        self
    }

    /// Another VM and the program its vCPU 0 runs. These VMs start before VM 1 and run until
    /// each waits for messages (FFA_MSG_WAIT, e.g. the driver's `serve`) or its program ends.
    pub fn vm(
        mut self,
        description: EndpointDescription,
        program: impl FnOnce(ModelConduit, GuestMemory) + Send + 'static,
    ) -> Self {
        let boxed: BoxedProgram = Box::new(move |conduit, memory| {
            program(conduit, memory);
            Box::new(()) as Box<dyn Any + Send>
        });
        self.vms.push((description, boxed));
        self
    }

    /// A secure partition and the program each of its execution contexts runs. Partitions boot
    /// in the order they are added.
    pub fn partition(
        mut self,
        description: EndpointDescription,
        program: impl Fn(ModelConduit, GuestMemory) + Send + Sync + 'static,
    ) -> Self {
        self.partitions.push((description, Arc::new(program)));
        self
    }

    /// Interrupt IDs the SPMC reports for FFA_FEATURES feature queries.
    pub fn interrupts(mut self, interrupts: FeatureInterrupts) -> Self {
        self.interrupts = interrupts;
        self
    }

    /// The largest RX/TX buffer (in pages) both managers accept; 0 for no limit.
    pub fn maximum_mailbox_pages(mut self, pages: u16) -> Self {
        self.maximum_mailbox_pages = pages;
        self
    }

    /// How many dispatcher steps (context entries) a run may take before it is stopped.
    pub fn step_limit(mut self, steps: u64) -> Self {
        self.step_limit = steps;
        self
    }

    /// Also maps `page_count` pages of `source`'s memory at `source_address` into `endpoint`'s
    /// stage 2 at `address` (read-write), as memory the platform shares between them.
    pub fn share_memory(
        mut self,
        endpoint: EndpointId,
        address: IntermediateAddress,
        source: EndpointId,
        source_address: IntermediateAddress,
        page_count: u64,
    ) -> Self {
        self.shared.push(SharedMapping { endpoint, address, source, source_address, page_count });
        self
    }

    /// Partition `partition` subscribes to the VM availability messages `messages` (its
    /// manifest's `vm-availability-messages`): the SPMC learns it from its configuration, the
    /// hypervisor from the partition properties (bits 6 and 7) discovery reports.
    pub fn vm_availability(
        mut self,
        partition: EndpointId,
        messages: VmAvailabilityMessages,
    ) -> Self {
        self.vm_availability.push((partition, messages));
        self
    }

    /// Marks `page_count` pages of `endpoint`'s RAM, from page index `first` on, read-only in
    /// both managers' memory maps (the platform lets the endpoint share them only read-only,
    /// and never zero them: matrix MM13). The endpoint's own stage 2 is unchanged.
    pub fn read_only_pages(mut self, endpoint: EndpointId, first: u64, page_count: u64) -> Self {
        self.read_only.push((endpoint, first, page_count));
        self
    }

    /// The forwarder's access policy: which VMs may make which calls to which partitions.
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Builds the system, boots it (the SPMC's partitions, the hypervisor's discovery, the
    /// other VMs) and runs `program` as VM 1 until it returns.
    pub fn run<R: Send + 'static>(
        self,
        program: impl FnOnce(ModelConduit, GuestMemory) -> R + Send + 'static,
    ) -> Result<Report<R>, ModelError> {
        self.check()?;
        let boxed: BoxedProgram = Box::new(move |conduit, memory| {
            Box::new(program(conduit, memory)) as Box<dyn Any + Send>
        });
        let mut dispatcher = Dispatcher::new(self)?;
        let value = dispatcher.run(boxed)?;
        let value = value
            .downcast::<R>()
            .map_err(|_| ModelError::Platform("VM 1 returned a value of another type".into()))?;
        Ok(dispatcher.into_report(*value))
    }

    /// Checks what the partition managers' own configuration check does not.
    fn check(&self) -> Result<(), ModelError> {
        let error = |reason: String| Err(ModelError::Configuration(reason));
        if self.cpus == 0 || usize::from(self.cpus) > MAX_CPUS {
            return error(format!("{} CPUs (1 to {MAX_CPUS})", self.cpus));
        }
        if self.driver.id != DRIVER_VM {
            return error(format!("VM 1's description has ID {:#x}", self.driver.id.0));
        }
        if self.vms.len() + 1 > usize::from(self.cpus) {
            return error(format!("{} VMs need as many CPUs", self.vms.len() + 1));
        }
        for (description, _) in &self.partitions {
            if description.execution_context_count > 1
                && description.execution_context_count != self.cpus
            {
                return error(format!(
                    "MP partition {:#06x} has {} contexts on {} CPUs",
                    description.id.0, description.execution_context_count, self.cpus
                ));
            }
        }
        let ids: Vec<EndpointId> = std::iter::once(&self.driver)
            .chain(self.vms.iter().map(|(vm, _)| vm))
            .chain(self.partitions.iter().map(|(partition, _)| partition))
            .map(|description| description.id)
            .collect();
        for (index, id) in ids.iter().enumerate() {
            if ids.iter().take(index).any(|earlier| earlier == id) {
                return error(format!("endpoint ID {:#06x} is used twice", id.0));
            }
        }
        let endpoints = ids.len();
        let room = (0x1_0000_0000u64 - VM_RAM_PHYSICAL.0) / (RAM_PAGES * PAGE_SIZE);
        if endpoints as u64 > room {
            return error(format!("{endpoints} endpoints do not fit the memory map"));
        }
        Ok(())
    }
}
