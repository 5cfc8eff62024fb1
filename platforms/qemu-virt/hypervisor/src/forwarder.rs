//! The spmc crate's forwarder role for this hypervisor: built at boot from the VMs it hosts
//! and the partitions the SPMC reports, then handed every FF-A call a VM makes.
//!
//! The seam is small: `Forwarder::handle` takes the VM's call and returns the registers to
//! resume the VM with (or `None` when the VM gave its CPU back with FFA_MSG_WAIT or
//! FFA_YIELD). In between, the core's deliveries are carried out here: SMC to the secure world
//! for `OtherWorld`, back to the VM for `Enter`.
//!
//! A VM's FFA_RXTX_MAP also registers its buffers with the SPMC (the core writes the endpoint
//! RX/TX descriptor into the hypervisor's TX page and forwards FFA_RXTX_MAP, then its
//! FFA_RXTX_UNMAP unmaps them there first), and a VM's first BIND of a partition's
//! notification creates its bitmap at the SPMC: both are SMCs `drive` carries out like any
//! other, so nothing here calls `register_vm_mailbox`.

use ffa_core::{EndpointId, Uuid, Version};
use ffa_guest_driver::{Driver, PartitionInfo, SliceBuffers};
use memory_sharing::MemoryKind;
use platform_common::grantable::{around_read_only, GUEST_READ_ONLY_PAGE};
use platform_common::ledger_storage::LedgerSlots;
use spmc::manifest::{ExceptionLevel, MessagingMethod, PowerManagementMessages};
use spmc::partition_manager::{
    Configuration, ContextId, Delivery, EndpointDescription, FeatureInterrupts,
    MemoryRegionDescription, MemorySharing, PartitionManager, Role, Transfer,
};

use crate::mailbox::VmMailboxes;
use crate::shared_memory::{self, VmStage2};
use crate::vm::GUEST_RAM_SIZE;
use platform_common::board;
use platform_common::smc::{smc, smc_in_place};

/// VMs the hypervisor hosts, partitions it can learn of, CPUs.
const VMS: usize = 2;
const ENDPOINTS: usize = 4;
const CPUS: usize = 4;
/// Largest RX/TX buffer a VM may map, in 4 KiB pages.
const MAXIMUM_MAILBOX_PAGES: u16 = 16;
/// The SPMC's endpoint ID (FFA_SPM_ID_GET to VMs).
const SPMC_ID: EndpointId = EndpointId(0x8000);
/// Partition-properties bit 3: the partition receives notifications.
const NOTIFICATIONS: u32 = 1 << 3;

/// The core with this hypervisor's capacities: one vCPU per VM, memory sharing through the
/// VMs' stage-2.
pub type Manager = PartitionManager<VmMailboxes, ENDPOINTS, 1, CPUS, VmStage2>;

/// The ledger's slots: memory-map regions, transactions, constituents (320: MM32 sends 300
/// separate pages), receivers. In .bss, filled in place at boot (never on a stack).
static LEDGER: LedgerSlots<32, 8, 320, 16> = LedgerSlots::new();

/// Why the forwarder could not be built.
#[derive(Debug, Clone, Copy)]
pub enum SetupError {
    /// Asking the SPMC for its partitions failed.
    Discovery,
    /// The core refused the configuration.
    Configuration,
}

/// The core, configured in place by [`build`]: `Manager::empty` is all zero bytes, so it sits
/// in .bss and no copy of the core is ever built on a CPU's 16 KiB stack.
static MANAGER: spin::Mutex<Manager> = spin::Mutex::new(Manager::empty(VmMailboxes::new()));

/// What the forwarder was built with.
#[derive(Debug)]
pub struct Built {
    pub manager: &'static Manager,
    /// The SPMC's error if it refused the hypervisor's RX/TX buffers (then memory sharing
    /// with partitions is NOT_SUPPORTED).
    pub buffers_refused: Option<u64>,
}

/// The hypervisor's own conduit to the secure world (SMC to the EL3 monitor).
#[derive(Debug)]
struct Firmware;

impl ffa_core::Conduit for Firmware {
    fn call(&mut self, registers: [u64; 18]) -> [u64; 18] {
        smc(registers)
    }
}

/// A partition the SPMC reported, as the forwarder's core describes it.
fn describe(partition: &PartitionInfo) -> EndpointDescription {
    let properties = partition.properties.bits();
    let mut uuids = heapless::Vec::new();
    // One UUID per GET_REGS descriptor; a partition with several services appears once each.
    let _ = uuids.push(partition.uuid);
    EndpointDescription {
        id: partition.id,
        uuids,
        execution_context_count: partition.execution_contexts.max(1),
        messaging: MessagingMethod::from_bits_truncate(properties),
        version: Version::V1_2,
        exception_level: ExceptionLevel::SecureEl1,
        aarch64: true,
        notification_support: properties & NOTIFICATIONS != 0,
        power_management: PowerManagementMessages::empty(),
    }
}

/// Builds the forwarder (once): VMs from the board, partitions from FFA_PARTITION_INFO_GET_REGS,
/// memory sharing with the VMs' RAM as the memory map and the hypervisor's RX/TX buffers
/// mapped with the SPMC.
pub fn build() -> Result<Built, SetupError> {
    let mut driver = Driver::<Firmware, SliceBuffers<'static>>::new(Firmware)
        .map_err(|_| SetupError::Discovery)?;
    let mut found = [PartitionInfo::EMPTY; ENDPOINTS];
    let count =
        driver.partition_info_regs(Uuid::NIL, &mut found).map_err(|_| SetupError::Discovery)?;
    let mut remote: heapless::Vec<EndpointDescription, ENDPOINTS> = heapless::Vec::new();
    for partition in found.iter().take(count) {
        if remote.iter().any(|known| known.id == partition.id) {
            continue;
        }
        remote.push(describe(partition)).map_err(|_| SetupError::Configuration)?;
    }
    let messaging = MessagingMethod::SEND_DIRECT_REQUEST
        | MessagingMethod::RECEIVE_DIRECT_REQUEST
        | MessagingMethod::SEND_DIRECT_REQUEST2
        | MessagingMethod::RECEIVE_DIRECT_REQUEST2;
    let mut local: heapless::Vec<EndpointDescription, VMS> = heapless::Vec::new();
    for guest in board::GUESTS {
        let mut vm = EndpointDescription::virtual_machine(
            EndpointId(guest.id as u16),
            1,
            Version::V1_2,
            messaging,
        );
        vm.notification_support = true;
        local.push(vm).map_err(|_| SetupError::Configuration)?;
    }
    let configuration = Configuration {
        role: Role::Forwarder,
        own_id: EndpointId(0),
        spm_id: SPMC_ID,
        version: Version::V1_2,
        local: &local,
        remote: &remote,
        interrupts: FeatureInterrupts::default(),
        maximum_mailbox_pages: MAXIMUM_MAILBOX_PAGES,
    };
    let buffers_refused = shared_memory::map_with_spmc().err();
    // Each VM's RAM, cut around its read-only page (a test VM's; a Linux guest has none).
    let mut regions: heapless::Vec<MemoryRegionDescription, { 3 * VMS }> = heapless::Vec::new();
    for (index, guest) in board::GUESTS.into_iter().enumerate() {
        let page_count = (GUEST_RAM_SIZE / 4096) as u32;
        let read_only_offset =
            if crate::linux_guest::present(index) { GUEST_RAM_SIZE } else { GUEST_READ_ONLY_PAGE };
        for piece in around_read_only(guest.ram, page_count, read_only_offset).into_iter().flatten()
        {
            let region = MemoryRegionDescription {
                owner: EndpointId(guest.id as u16),
                base: piece.base,
                page_count: piece.page_count,
                kind: MemoryKind::Normal { secure: false },
                read_only: piece.read_only,
            };
            regions.push(region).map_err(|_| SetupError::Configuration)?;
        }
    }
    let sharing = MemorySharing {
        platform: VmStage2::new(buffers_refused.is_none()),
        storage: LEDGER.take().ok_or(SetupError::Configuration)?,
        regions: &regions,
    };
    // Built once: a second call finds the core taken and fails.
    let mut manager = MANAGER.try_lock().ok_or(SetupError::Configuration)?;
    manager
        .configure_with_memory_sharing(&configuration, sharing)
        .map_err(|_| SetupError::Configuration)?;
    manager.set_policy(crate::policy::policy());
    Ok(Built { manager: spin::MutexGuard::leak(manager), buffers_refused })
}

/// The context of VM `id` (one vCPU).
pub fn context_of(id: u64) -> ContextId {
    ContextId::new(id as u16, 0)
}

/// Carries out deliveries until one resumes `context`, whose registers are then written to
/// `reply` (`true`), or hands the CPU back to the hypervisor (`false`). A delivery to another
/// VM's context cannot happen while VMs run one at a time (the core answers BUSY for a VM that
/// is not waiting), so it ends the run too. The SMC works on the delivery's own registers.
pub fn drive(
    manager: &Manager,
    context: ContextId,
    mut delivery: Delivery,
    reply: &mut [u64; 18],
) -> bool {
    loop {
        match delivery.transfer {
            Transfer::OtherWorld => {
                smc_in_place(&mut delivery.registers);
                delivery = manager.handle(delivery.to, &delivery.registers);
            }
            Transfer::Enter if delivery.to == context => {
                *reply = delivery.registers;
                return true;
            }
            Transfer::Start | Transfer::Enter | Transfer::Restore | Transfer::Scheduler => {
                return false
            }
        }
    }
}
