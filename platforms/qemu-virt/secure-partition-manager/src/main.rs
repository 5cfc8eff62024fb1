//! The SPMC image for QEMU virt at S-EL2: the spmc crate's SPMC role with this board's glue.
//!
//! It loads the secure partitions from the TF-A SP packages its core manifest points at, gives
//! each its own secure stage-2, and hands every FF-A call (from a partition, or from the normal
//! world through the EL3 monitor) to `spmc::partition_manager::PartitionManager`. The core
//! answers with a `Delivery`, which this image carries out: enter a partition's context, or
//! SMC to the monitor for the normal world. No FF-A rule lives here.
#![no_std]
#![no_main]

platform_common::simple_entry!();

mod boot;
mod contexts;
mod delivery_slot;
mod mailbox;
mod normal_world_el1;
mod shared_memory;
mod stack;
mod stage2;

use core::sync::atomic::{AtomicBool, Ordering};

use aarch64_cpu::registers::{CurrentEL, Readable};
use ffa_core::{EndpointId, Version};
use memory_sharing::MemoryKind;
use platform_common::ledger_storage::LedgerSlots;
use platform_common::smc::smc;
use platform_common::write_sysreg;
use spmc::manifest::MessagingMethod;
use spmc::partition_manager::{
    Configuration, ContextId, Delivery, EndpointDescription, FeatureInterrupts,
    MemoryRegionDescription, MemorySharing, PartitionManager, Role, Transfer,
};

use contexts::{Entry, Stop, CPUS, MAXIMUM_CONTEXTS};
use mailbox::PhysicalMailboxes;
use platform_common::board::{LOG_LOCK, LOG_UART};
use shared_memory::PartitionStage2;
use stage2::MAXIMUM_PARTITIONS;

const FFA_MSG_WAIT: u64 = 0x8400_006B;
const FFA_SUCCESS_64: u64 = 0xC400_0061;
const FFA_SECONDARY_EP_REGISTER_64: u64 = 0xC400_0087;
/// The SPMC's own endpoint ID.
const SPMC_ID: EndpointId = EndpointId(0x8000);
/// Largest RX/TX buffer an endpoint may map, in 4 KiB pages.
const MAXIMUM_MAILBOX_PAGES: u16 = 16;
/// HCR_EL2 while partitions run: VM, SWIO, TSC (trap SMC), RW (EL1 is AArch64), APK, API.
const HCR_PARTITION: u64 = 1 | (1 << 1) | (1 << 19) | (1 << 31) | (1 << 40) | (1 << 41);

/// The core's endpoint capacity, for local and remote endpoints alike: the partitions
/// (`MAXIMUM_PARTITIONS`) and the normal world's endpoints (the hypervisor and its two VMs).
const MANAGER_ENDPOINTS: usize = 3;
const _: () = assert!(MANAGER_ENDPOINTS >= MAXIMUM_PARTITIONS);

/// The partition manager core in the SPMC role, with this board's capacities and memory sharing.
type Manager =
    PartitionManager<PhysicalMailboxes, MANAGER_ENDPOINTS, MAXIMUM_CONTEXTS, CPUS, PartitionStage2>;

/// The ledger's slots: memory-map regions, transactions, constituents, receivers. 320
/// constituents: one transaction may have 300 separate pages (the conformance suite's
/// fragmented share, matrix MM32), with room for others alongside. In .bss, filled in place.
static LEDGER: LedgerSlots<32, 8, 320, 16> = LedgerSlots::new();

/// The core, configured in place at boot (`Manager::empty` is all zero bytes, so this sits in
/// .bss and no copy of the core is ever built on a stack).
static MANAGER_STORAGE: spin::Mutex<Manager> =
    spin::Mutex::new(Manager::empty(PhysicalMailboxes::EMPTY));

/// The configured core, shared by every CPU once the boot CPU has set it up.
static MANAGER: spin::Once<&'static Manager> = spin::Once::new();

/// Per partition slot: whether it has ended its boot (its first FFA_MSG_WAIT), for the log.
static BOOTED: [AtomicBool; MAXIMUM_PARTITIONS] =
    [const { AtomicBool::new(false) }; MAXIMUM_PARTITIONS];

/// Per partition slot: its endpoint ID and entry point (what `Transfer::Start` needs).
static PARTITIONS: spin::Once<[Option<(EndpointId, u64)>; MAXIMUM_PARTITIONS]> = spin::Once::new();

extern "C" {
    /// Where the EL3 monitor starts this image on a CPU brought up by PSCI CPU_ON.
    fn spmc_secondary_start() -> !;
}

#[cfg(target_arch = "aarch64")]
core::arch::global_asm!(
    r#"
    .section .text, "ax"
    .global spmc_secondary_start
spmc_secondary_start:
    // x4 = this CPU's index (set by the EL3 monitor, 1-3); its stack is the index-th from
    // the bottom of the stack area (the boot CPU's is the top one; see stack.rs).
    ldr     x1, =__stack_bottom
    mov     x2, #{per_cpu}
    madd    x1, x4, x2, x1
    mov     sp, x1
    mov     x0, x4
    bl      image_secondary_main
    b       .
    .ltorg
"#,
    per_cpu = const stack::PER_CPU,
);

/// The slot of partition `endpoint` and its entry point.
fn partition_slot(endpoint: EndpointId) -> Option<(usize, u64)> {
    PARTITIONS.get()?.iter().enumerate().find_map(|(index, partition)| match partition {
        Some((id, entry)) if *id == endpoint => Some((index, *entry)),
        _ => None,
    })
}

/// Carries out deliveries on `cpu` forever: the core decides, this loop enters partitions and
/// calls the monitor. Register blocks stay in place: the SMC reads and writes the delivery's
/// own block, and a partition's call is handed to the core from its saved registers. Each
/// step's delivery is built in place in a fresh slot (a `delivery = step(&delivery)` builds it
/// aside and copies it with memcpy); only the one carried to the next iteration is moved, by
/// `delivery_slot`.
fn drive(manager: &Manager, cpu: usize, first: Delivery) -> ! {
    let mut current = first;
    loop {
        let mut next = carry_out(manager, cpu, &mut current);
        let after = carry_out(manager, cpu, &mut next);
        delivery_slot::move_into(&mut current, &after);
    }
}

/// Carries out `delivery` on `cpu` and returns the core's next one.
fn carry_out(manager: &Manager, cpu: usize, delivery: &mut Delivery) -> Delivery {
    match delivery.transfer {
        Transfer::OtherWorld => {
            // What comes back is the normal world's next call (or a result); the core takes
            // normal-world input as from endpoint 0 on this CPU and reads the real sender
            // from the call itself.
            contexts::call_normal_world(&mut delivery.registers);
            manager.handle(ContextId::new(0, cpu as u16), &delivery.registers)
        }
        Transfer::Start | Transfer::Enter | Transfer::Restore => {
            run_context(manager, cpu, delivery)
        }
        // Only the forwarder role hands a CPU back to a scheduler.
        Transfer::Scheduler => {
            defmt::error!("spmc: the core asked for a scheduler on cpu {=usize}", cpu);
            platform_common::semihosting::exit(6)
        }
    }
}

/// Runs the context a delivery names until its next call (handed to the core) or fault
/// (reported to the core, which aborts the partition).
fn run_context(manager: &Manager, cpu: usize, delivery: &Delivery) -> Delivery {
    let context = delivery.to;
    let Some((slot, entry)) = partition_slot(context.endpoint) else {
        defmt::error!("spmc: the core named unknown partition {=u16:#x}", context.endpoint.0);
        platform_common::semihosting::exit(6)
    };
    let how = match delivery.transfer {
        Transfer::Start => Entry::Start { entry },
        Transfer::Restore => Entry::Restore,
        _ => Entry::Enter(&delivery.registers),
    };
    contexts::run(slot, usize::from(context.vcpu.0), cpu, how, |stop| match stop {
        Stop::Call(registers) => {
            let first_wait = registers[0] == FFA_MSG_WAIT
                && BOOTED.get(slot).is_some_and(|booted| !booted.swap(true, Ordering::Relaxed));
            if first_wait {
                defmt::info!(
                    "spmc: partition {=u16:#x} initialised (FFA_MSG_WAIT)",
                    context.endpoint.0
                );
            }
            manager.handle(context, registers)
        }
        Stop::Fault { syndrome, address, resume } => {
            defmt::error!(
                "spmc: partition {=u16:#x} stopped with ESR_EL2 {=u64:#x} at {=u64:#x} (FAR {=u64:#x}); aborted",
                context.endpoint.0,
                syndrome,
                resume,
                address
            );
            match manager.abort(context) {
                Ok(next) => next,
                Err(_) => {
                    defmt::error!("spmc: the core refused to abort a running context");
                    platform_common::semihosting::exit(6)
                }
            }
        }
    })
}

/// This CPU's EL2 controls for running partitions.
fn configure_cpu() {
    platform_common::guest::install_vectors();
    stage2::configure_cpu();
    write_sysreg!("hcr_el2", HCR_PARTITION);
}

/// The normal-world endpoints that may talk to partitions: the hypervisor (ID 0) and its VMs.
fn normal_world_endpoints() -> [EndpointDescription; 3] {
    let messaging = MessagingMethod::SEND_DIRECT_REQUEST
        | MessagingMethod::SEND_DIRECT_REQUEST2
        | MessagingMethod::INDIRECT;
    let [first, second] = platform_common::board::GUESTS;
    [
        EndpointDescription::virtual_machine(EndpointId(0), CPUS as u16, Version::V1_2, messaging),
        EndpointDescription::virtual_machine(
            EndpointId(first.id as u16),
            CPUS as u16,
            Version::V1_2,
            messaging,
        ),
        EndpointDescription::virtual_machine(
            EndpointId(second.id as u16),
            CPUS as u16,
            Version::V1_2,
            messaging,
        ),
    ]
}

/// The ledger's memory map: each partition owns its 2 MiB block of secure RAM; each VM of the
/// normal world owns its RAM (board `GUESTS`, 16 MiB of DRAM each) and the hypervisor
/// (endpoint 0) its image region, all non-secure. Nothing else can be shared through the SPMC.
fn memory_map(
    partitions: &[Option<(EndpointId, u64)>; MAXIMUM_PARTITIONS],
) -> heapless::Vec<MemoryRegionDescription, { MAXIMUM_PARTITIONS + 7 }> {
    const PAGES_PER_PARTITION: u32 = (stage2::PARTITION_BLOCK / 4096) as u32;
    const PAGES_PER_GUEST: u32 = (16 << 20) / 4096;
    let mut regions = heapless::Vec::new();
    for &(owner, base) in partitions.iter().flatten() {
        let _ = regions.push(MemoryRegionDescription {
            owner,
            base,
            page_count: PAGES_PER_PARTITION,
            kind: MemoryKind::Normal { secure: true },
            read_only: false,
        });
    }
    let (hypervisor_base, hypervisor_size) = platform_common::board::HYPERVISOR_MEMORY;
    let _ = regions.push(MemoryRegionDescription {
        owner: EndpointId(0),
        base: hypervisor_base,
        page_count: (hypervisor_size / 4096) as u32,
        kind: MemoryKind::Normal { secure: false },
        read_only: false,
    });
    for guest in platform_common::board::GUESTS {
        // Cut around the test VM's read-only page, as the hypervisor's ledger has it (MM13).
        let pieces = platform_common::grantable::around_read_only(
            guest.ram,
            PAGES_PER_GUEST,
            platform_common::grantable::GUEST_READ_ONLY_PAGE,
        );
        for piece in pieces.into_iter().flatten() {
            let _ = regions.push(MemoryRegionDescription {
                owner: EndpointId(guest.id as u16),
                base: piece.base,
                page_count: piece.page_count,
                kind: MemoryKind::Normal { secure: false },
                read_only: piece.read_only,
            });
        }
    }
    regions
}

#[no_mangle]
extern "C" fn image_main(manifest: u64) -> ! {
    stack::paint();
    let manager = set_up(manifest);
    defmt::info!(
        "spmc: boot set-up used {=usize} bytes of stack (the area has {=usize})",
        stack::boot_depth(),
        stack::PER_CPU * CPUS
    );
    if !stack::area_matches() {
        defmt::error!("spmc: the linker script's stack area is not CPUS * stack::PER_CPU bytes");
        platform_common::semihosting::exit(4)
    }
    // Again: set-up ran through the other CPUs' stacks, which serving measures from clean.
    stack::paint();
    configure_cpu();

    let mut register = [0u64; 18];
    register[0] = FFA_SECONDARY_EP_REGISTER_64;
    register[1] = spmc_secondary_start as *const () as u64;
    let reply = smc(register);
    if reply[0] == FFA_SUCCESS_64 {
        defmt::info!("spmc: secondary entry registered with the monitor");
    } else {
        defmt::error!("spmc: FFA_SECONDARY_EP_REGISTER failed ({=u64:#x})", reply[2]);
    }
    boot_cpu(manager, 0)
}

/// Loads the partitions and configures the core in place. Not inlined: its frame (manifests,
/// descriptions; deeper than one CPU's stack, see stack.rs) is gone before CPU 0 starts
/// serving, and before any other CPU starts.
#[inline(never)]
fn set_up(manifest: u64) -> &'static Manager {
    // SAFETY: on QEMU virt this is the secure PL011, reserved for the defmt log stream, and
    // LOG_LOCK is a secure RAM word reserved for the frame lock (docs/src/memory-map.md).
    unsafe {
        platform_common::logger::init_shared(
            LOG_UART,
            platform_common::logger::ImageId::Spmc,
            LOG_LOCK,
        )
    };
    let level = CurrentEL.read(CurrentEL::EL);
    defmt::info!("spmc: running at S-EL{=u64}, core manifest at {=u64:#x}", level, manifest);

    let packages = match boot::find_partitions::<MAXIMUM_PARTITIONS>(manifest) {
        Ok(packages) => packages,
        Err(problem) => {
            defmt::error!("spmc: cannot load the partitions: {=str}", problem.as_str());
            platform_common::semihosting::exit(4)
        }
    };
    stage2::configure_cpu();
    let mut descriptions: heapless::Vec<EndpointDescription, MAXIMUM_PARTITIONS> =
        heapless::Vec::new();
    let mut slots = [None; MAXIMUM_PARTITIONS];
    let mut blocks = [None; MAXIMUM_PARTITIONS];
    for (index, package) in packages.iter().enumerate() {
        let Some(package) = package else { continue };
        defmt::info!(
            "spmc: partition {=u64:#x}: package at {=u64:#x}, entry {=u64:#x}",
            package.partition_id,
            package.package_base,
            package.entry
        );
        let memory = stage2::PartitionMemory {
            memory_base: package.package_base,
            device_page: LOG_UART as u64,
        };
        if stage2::build(index, memory).is_err() {
            defmt::error!(
                "spmc: partition {=u64:#x}: cannot build its stage-2 tables",
                package.partition_id
            );
            platform_common::semihosting::exit(4)
        }
        let id = package.description.id;
        if let (Some(slot), Some(block)) = (slots.get_mut(index), blocks.get_mut(index)) {
            *slot = Some((id, package.entry));
            *block = Some((id, package.package_base));
        }
        // Capacity is MAXIMUM_PARTITIONS, the same as the packages array's length.
        let _ = descriptions.push(package.description.clone());
    }
    PARTITIONS.call_once(|| slots);
    let remote = normal_world_endpoints();
    let configuration = Configuration {
        role: Role::Spmc,
        own_id: SPMC_ID,
        spm_id: SPMC_ID,
        version: Version::V1_2,
        local: &descriptions,
        remote: &remote,
        interrupts: FeatureInterrupts::default(),
        maximum_mailbox_pages: MAXIMUM_MAILBOX_PAGES,
    };
    let regions = memory_map(&blocks);
    let Some(storage) = LEDGER.take() else {
        defmt::error!("spmc: the ledger's storage was taken before set-up");
        platform_common::semihosting::exit(4)
    };
    let sharing =
        MemorySharing { platform: PartitionStage2::new(blocks), storage, regions: &regions };
    let manager = spin::MutexGuard::leak(MANAGER_STORAGE.lock());
    manager.with_memory(|memory| *memory = PhysicalMailboxes::new(blocks));
    if let Err(problem) = manager.configure_with_memory_sharing(&configuration, sharing) {
        defmt::error!(
            "spmc: the partitions' configuration is not usable: {=str} (endpoint {=u16:#x})",
            problem.message(),
            problem.endpoint().map_or(0, |id| id.0)
        );
        platform_common::semihosting::exit(4)
    }
    let manager: &'static Manager = manager;
    MANAGER.call_once(|| manager)
}

/// Boots this CPU's partition contexts, then serves calls forever.
fn boot_cpu(manager: &Manager, cpu: usize) -> ! {
    match manager.boot(cpu as u16) {
        Ok(first) => drive(manager, cpu, first),
        Err(_) => {
            defmt::error!("spmc: the core refused to boot cpu {=usize}", cpu);
            platform_common::semihosting::exit(6)
        }
    }
}

/// A CPU the normal world started with PSCI CPU_ON.
#[no_mangle]
extern "C" fn image_secondary_main(cpu: usize) -> ! {
    configure_cpu();
    defmt::info!("spmc: cpu {=usize} ready", cpu);
    let Some(manager) = MANAGER.get() else {
        defmt::error!("spmc: cpu {=usize} started before the boot CPU set up the core", cpu);
        platform_common::semihosting::exit(6)
    };
    boot_cpu(manager, cpu)
}

/// Any S-EL2 vector other than a partition's trap.
#[no_mangle]
extern "C" fn guest_unexpected_exception(kind: u64) -> ! {
    let syndrome = platform_common::read_sysreg!("esr_el2");
    let link = platform_common::read_sysreg!("elr_el2");
    let fault = platform_common::read_sysreg!("far_el2");
    defmt::error!(
        "spmc: unexpected exception (vector {=u64}): ESR_EL2={=u64:#x} ELR_EL2={=u64:#x} FAR_EL2={=u64:#x}",
        kind,
        syndrome,
        link,
        fault
    );
    platform_common::semihosting::exit(5)
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    defmt::error!("spmc: panic");
    platform_common::semihosting::exit(101)
}
