//! VM lifecycle through the whole stack: the platform destroys a VM in the middle of a memory
//! transaction with a partition (teardown pass, reclaim at the SPMC once the partition lets
//! go), VM_CREATED / VM_DESTROYED reach the partitions that subscribed, a VM's mailbox
//! registered with the SPMC, and the forwarder's access policy.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use conformance::server::{Answer, Command, Status};
use ffa_core::memory::{AccessPermissions, DataAccess, InstructionAccess};
use ffa_core::notification::NotificationBitmap;
use ffa_core::{EndpointId, FfaError};
use ffa_guest_driver::memory::MemorySend;
use ffa_guest_driver::partition::RequestHandler;
use ffa_guest_driver::{MemoryHandle, MemoryOperation, PageRange, Receiver};
use host_model::endpoints::{
    secure_partition, test_uuid, virtual_machine, with_indirect_messaging, with_notifications,
};
use host_model::memory::{lock, Access};
use host_model::suite::conformance_server;
use host_model::{GuestMemory, IntermediateAddress, ModelBuilder, ModelConduit, PlatformAction};
use spmc::manifest::VmAvailabilityMessages;
use spmc::partition_manager::{CallKinds, Policy, PolicyRule, Role};

/// The CPU platform passes run on (VM 1 is on CPU 0, VM 2 on CPU 1).
const PASS_CPU: u16 = 2;

const BOTH: VmAvailabilityMessages =
    VmAvailabilityMessages::VM_CREATED.union(VmAvailabilityMessages::VM_DESTROYED);

/// A framework message a partition received: (created?, VM).
type Seen = Arc<Mutex<Vec<(bool, EndpointId)>>>;

/// A partition that records every VM availability message and acknowledges it.
struct Recorder {
    seen: Seen,
}

impl RequestHandler for Recorder {
    fn direct_request_32(&mut self, _: EndpointId, payload: [u32; 5]) -> [u32; 5] {
        let count = self.seen.lock().unwrap().len() as u32;
        [payload[0] + 1, count, 0, 0, 0]
    }

    fn vm_created(&mut self, vm: EndpointId, _: u64) -> Result<(), FfaError> {
        self.seen.lock().unwrap().push((true, vm));
        Ok(())
    }

    fn vm_destroyed(&mut self, vm: EndpointId, _: u64) -> Result<(), FfaError> {
        self.seen.lock().unwrap().push((false, vm));
        Ok(())
    }
}

fn recorder(seen: Seen) -> impl Fn(ModelConduit, GuestMemory) + Send + Sync + 'static {
    move |conduit, _| {
        let mut handler = Recorder { seen: seen.clone() };
        let _ = driver(conduit).serve(&mut handler);
    }
}

fn command(driver: &mut ModelDriver, server: EndpointId, command: Command) -> Answer {
    Answer::decode(driver.direct_request_64(server, command.encode()).expect("the server answers"))
}

const LEND: AccessPermissions = AccessPermissions {
    data: DataAccess::ReadWrite,
    instruction: InstructionAccess::NotExecutable,
};

/// The lender's side names no instruction access (matrix MM21 leaves it to the borrower).
const LEND_SEND: AccessPermissions =
    AccessPermissions { data: DataAccess::ReadWrite, instruction: InstructionAccess::NotSpecified };

/// What VM 2 lent to SP1 before it was destroyed.
#[derive(Debug, Clone)]
struct Lent {
    handle: MemoryHandle,
    pages: Vec<PageRange>,
    retrieved: Answer,
}

/// VM 2 lends two scattered pages to SP1, has SP1 retrieve them, publishes the handle and
/// waits for messages (so the platform may destroy it).
fn lender(slot: Arc<Mutex<Option<Lent>>>) -> impl FnOnce(ModelConduit, GuestMemory) + Send {
    move |conduit, memory| {
        let mut driver = driver_with_buffers(conduit, &memory);
        let base = memory.allocate(4, 4096).unwrap().0;
        let pages = vec![
            PageRange { address: base, page_count: 1 },
            PageRange { address: base + 2 * 4096, page_count: 1 },
        ];
        memory.write(IntermediateAddress(base), &0x5151u64.to_le_bytes()).unwrap();
        let receivers = [Receiver { id: SP1, permissions: LEND_SEND }];
        let handle = driver.memory_send(&MemorySend::lend(&receivers, &pages)).expect("LEND");
        let retrieved = command(
            &mut driver,
            SP1,
            Command::Retrieve {
                handle: handle.0,
                sender: VM2,
                operation: Some(MemoryOperation::Lend),
                permissions: LEND,
                tag: 0,
                flags: 0,
            },
        );
        *slot.lock().unwrap() = Some(Lent { handle, pages, retrieved });
        struct Idle;
        impl RequestHandler for Idle {}
        let _ = driver.serve(&mut Idle);
    }
}

/// Everything VM 1 saw, for the assertions after the run.
#[derive(Debug)]
struct Teardown {
    lent: Lent,
    partition_read: Answer,
    intruder_reclaim: FfaError,
    intruder_retrieve: Answer,
    registered: Result<(), FfaError>,
    busy_cpu: Result<(), FfaError>,
    first_pass: Result<(), FfaError>,
    recreate_too_early: Result<(), FfaError>,
    reclaim_after_destroy: FfaError,
    relinquished: Answer,
    second_pass: Result<(), FfaError>,
    direct_to_destroyed: FfaError,
    share_with_destroyed: FfaError,
    partition_access_after: Answer,
    message_to_destroyed: Answer,
    recorded_after_destroy: u32,
    recreated: Result<(), FfaError>,
    message_after_recreated: Answer,
}

#[test]
fn a_vm_destroyed_mid_transaction_is_torn_down_through_the_whole_stack() {
    let seen: Seen = Arc::default();
    let slot: Arc<Mutex<Option<Lent>>> = Arc::default();
    let report = ModelBuilder::new()
        .partition(
            with_indirect_messaging(secure_partition(SP1.0, test_uuid(1))),
            conformance_server,
        )
        .partition(secure_partition(SP2.0, test_uuid(2)), recorder(seen.clone()))
        .vm_availability(SP1, VmAvailabilityMessages::VM_DESTROYED)
        .vm_availability(SP2, BOTH)
        .vm(virtual_machine(2), lender(slot.clone()))
        .vm(virtual_machine(3), conformance_server)
        .run(move |mut conduit, memory| {
            let lent = slot.lock().unwrap().clone().expect("VM 2 lent its pages");
            let mut driver = driver_with_buffers(conduit.clone(), &memory);
            let handle = lent.handle;
            let partition_read =
                command(&mut driver, SP1, Command::Read { handle: handle.0, page: 0 });
            // Another VM can neither reclaim nor retrieve VM 2's handle.
            let intruder_reclaim = ffa_error(driver.memory_reclaim(handle, false));
            let intruder_retrieve = command(
                &mut driver,
                VM3,
                Command::Retrieve {
                    handle: handle.0,
                    sender: VM2,
                    operation: Some(MemoryOperation::Lend),
                    permissions: LEND,
                    tag: 0,
                    flags: 0,
                },
            );
            // VM 2's buffers were registered with the SPMC when it mapped them (the teardown
            // unmaps them there): the platform cannot register them again.
            let registered =
                conduit.platform(PlatformAction::RegisterVmMailbox { vm: VM2, cpu: PASS_CPU });
            // CPU 0 runs VM 1: the platform cannot run a pass there.
            let busy_cpu = conduit.platform(PlatformAction::DestroyVm { vm: VM2, cpu: 0 });
            // The platform destroys VM 2. SP1 still holds the pages: the SPMC refuses the
            // reclaim and the pass ends asking to be run again.
            let first_pass = conduit.platform(PlatformAction::DestroyVm { vm: VM2, cpu: PASS_CPU });
            let recreate_too_early =
                conduit.platform(PlatformAction::VmCreated { vm: VM2, cpu: PASS_CPU });
            let reclaim_after_destroy = ffa_error(driver.memory_reclaim(handle, false));
            let relinquished = command(&mut driver, SP1, Command::Relinquish { handle: handle.0 });
            let second_pass =
                conduit.platform(PlatformAction::DestroyVm { vm: VM2, cpu: PASS_CPU });
            // The destroyed VM's ID is unknown now.
            let direct_to_destroyed = ffa_error(driver.direct_request_32(VM2, [1, 0, 0, 0, 0]));
            let page = memory.allocate(1, 4096).unwrap().0;
            let share_with_destroyed =
                ffa_error(driver.memory_share(VM2, &[PageRange { address: page, page_count: 1 }]));
            let partition_access_after =
                command(&mut driver, SP1, Command::Probe { handle: handle.0 });
            let message_to_destroyed =
                command(&mut driver, SP1, Command::SendIndirect { destination: VM2, value: 3 });
            let recorded_after_destroy =
                driver.direct_request_32(SP2, [0, 0, 0, 0, 0]).expect("SP2 answers")[1];
            let recreated = conduit.platform(PlatformAction::VmCreated { vm: VM2, cpu: PASS_CPU });
            let message_after_recreated =
                command(&mut driver, SP1, Command::SendIndirect { destination: VM2, value: 4 });
            Teardown {
                lent,
                partition_read,
                intruder_reclaim,
                intruder_retrieve,
                registered,
                busy_cpu,
                first_pass,
                recreate_too_early,
                reclaim_after_destroy,
                relinquished,
                second_pass,
                direct_to_destroyed,
                share_with_destroyed,
                partition_access_after,
                message_to_destroyed,
                recorded_after_destroy,
                recreated,
                message_after_recreated,
            }
        });
    let report = match report {
        Ok(report) => report,
        Err(error) => panic!("run: {error}"),
    };
    let outcome = &report.value;
    assert_eq!(outcome.lent.retrieved.status, Status::Done, "{outcome:?}");
    assert_eq!(outcome.partition_read.values[0], 0x5151, "SP1 reads what VM 2 lent");
    assert_eq!(outcome.intruder_reclaim, FfaError::Denied, "only the owner reclaims");
    assert_eq!(
        outcome.intruder_retrieve.status,
        Status::Ffa(FfaError::InvalidParameters),
        "a VM is no borrower of a partition's transaction (reference 7.10 rule 15)"
    );
    assert_eq!(outcome.registered, Err(FfaError::Denied), "registered at FFA_RXTX_MAP");
    assert_eq!(outcome.busy_cpu, Err(FfaError::Denied));
    assert_eq!(outcome.first_pass, Err(FfaError::Retry), "SP1 still holds the pages");
    assert_eq!(outcome.recreate_too_early, Err(FfaError::Denied), "teardown not finished");
    assert_eq!(outcome.reclaim_after_destroy, FfaError::Denied, "still not VM 1's handle");
    assert_eq!(outcome.relinquished.status, Status::Done, "{:?}", outcome.relinquished);
    assert_eq!(outcome.second_pass, Ok(()), "reclaimed at the SPMC");
    assert_eq!(outcome.direct_to_destroyed, FfaError::InvalidParameters);
    assert_eq!(outcome.share_with_destroyed, FfaError::InvalidParameters);
    assert_eq!(
        outcome.partition_access_after.status,
        Status::AccessFault,
        "SP1 lost the pages: {:?}",
        outcome.partition_access_after
    );
    // SP2 was told VM 2 was destroyed (once, by the first pass) before VM 1 asked it, then
    // that VM 2 was created again.
    assert_eq!(outcome.recorded_after_destroy, 1);
    assert_eq!(outcome.recreated, Ok(()));
    assert_eq!(*seen.lock().unwrap(), [(false, VM2), (true, VM2)]);
    // No handle is left in either ledger, and the pages are mapped in no partition.
    assert_eq!(report.forwarder_handles, [], "forwarder ledger");
    assert_eq!(report.spmc_handles, [], "SPMC ledger");
    let memory = lock(&report.memory);
    for page in &outcome.lent.pages {
        let vm2_ram = 0x8100_0000 + (page.address - 0x4000_0000);
        for partition in [SP1, SP2] {
            assert!(
                memory.translate(partition, IntermediateAddress(vm2_ram), Access::READ).is_err(),
                "{partition:?} still maps {vm2_ram:#x}"
            );
        }
        for vm in [VM1, VM3] {
            assert!(memory
                .translate(vm, IntermediateAddress(page.address), Access::READ)
                .map_or(true, |physical| physical.0 != vm2_ram));
        }
    }
    // A partition's message to the destroyed VM is refused as one to an endpoint that does
    // not exist (INVALID_PARAMETERS, as matrix I02): the SPMC marked VM 2 destroyed when it
    // relayed VM_DESTROYED to SP1 and SP2. Once VM 2 is created again (VM_CREATED relayed to
    // SP2) it is a receiver again, though without buffers mapped yet (BUSY, matrix I04).
    assert_eq!(outcome.message_to_destroyed.status, Status::Ffa(FfaError::InvalidParameters));
    assert_eq!(outcome.message_after_recreated.status, Status::Ffa(FfaError::Busy));
    // The teardown's reclaim and the unmap of VM 2's registered buffers crossed into the
    // secure world.
    assert!(report
        .secure_world_calls()
        .any(|registers| registers[0] == 0x8400_0067 && registers[1] >> 16 == u64::from(VM2.0)));
    assert!(report.secure_world_calls().any(|registers| registers[0] == 0x8400_0077));
}

#[test]
fn vm_created_and_destroyed_reach_only_subscribers() {
    let seen_both: Seen = Arc::default();
    let seen_created: Seen = Arc::default();
    let seen_none: Seen = Arc::default();
    let report = ModelBuilder::new()
        .partition(secure_partition(SP1.0, test_uuid(1)), recorder(seen_both.clone()))
        .partition(secure_partition(SP2.0, test_uuid(2)), recorder(seen_created.clone()))
        .partition(secure_partition(SP3.0, test_uuid(3)), recorder(seen_none.clone()))
        .vm_availability(SP1, BOTH)
        .vm_availability(SP2, VmAvailabilityMessages::VM_CREATED)
        .vm(virtual_machine(2), |conduit, _| {
            struct Idle;
            impl RequestHandler for Idle {}
            let _ = driver(conduit).serve(&mut Idle);
        })
        .run(|mut conduit, _| {
            let created = conduit.platform(PlatformAction::VmCreated { vm: VM2, cpu: PASS_CPU });
            let destroyed = conduit.platform(PlatformAction::DestroyVm { vm: VM2, cpu: PASS_CPU });
            let again = conduit.platform(PlatformAction::DestroyVm { vm: VM2, cpu: PASS_CPU });
            let unknown =
                conduit.platform(PlatformAction::DestroyVm { vm: EndpointId(9), cpu: PASS_CPU });
            (created, destroyed, again, unknown)
        })
        .expect("run");
    assert_eq!(report.value, (Ok(()), Ok(()), Ok(()), Err(FfaError::InvalidParameters)));
    assert_eq!(*seen_both.lock().unwrap(), [(true, VM2), (false, VM2)]);
    assert_eq!(*seen_created.lock().unwrap(), [(true, VM2)]);
    assert_eq!(*seen_none.lock().unwrap(), []);
    // Each message went to the partition as a framework direct request from the hypervisor.
    let framework_requests = report
        .secure_world_calls()
        .filter(|registers| {
            registers[0] == 0x8400_006F && registers[1] >> 16 == 0 && registers[2] & (1 << 31) != 0
        })
        .count();
    assert_eq!(framework_requests, 3);
}

#[test]
fn a_vm_mailbox_is_registered_with_the_spmc_when_mapped_and_unregistered_when_unmapped() {
    let report = ModelBuilder::new()
        .partition(
            with_indirect_messaging(secure_partition(SP1.0, test_uuid(1))),
            conformance_server,
        )
        .driver_vm(with_indirect_messaging(virtual_machine(1)))
        .run(|mut conduit, memory| {
            // FFA_RXTX_MAP registers VM 1's buffers with the SPMC too: no platform action.
            let mut driver = driver_with_buffers(conduit.clone(), &memory);
            let sent = driver.send_indirect(SP1, ffa_core::Uuid::NIL, &0x1234u64.to_le_bytes());
            let received = command(&mut driver, SP1, Command::ReceiveIndirect);
            let twice =
                conduit.platform(PlatformAction::RegisterVmMailbox { vm: VM1, cpu: PASS_CPU });
            let spmc_maps_while_mapped = spmc_mailboxes_of(&memory, VM1);
            // FFA_RXTX_UNMAP unmaps them at the SPMC first.
            let buffers = driver.unmap_buffers().expect("RXTX_UNMAP");
            let spmc_maps_after_unmap = spmc_mailboxes_of(&memory, VM1);
            let not_mapped =
                conduit.platform(PlatformAction::RegisterVmMailbox { vm: VM1, cpu: PASS_CPU });
            // Mapped again: registered again, and messages flow again.
            driver.map_buffers(buffers).map_err(|failed| failed.error).expect("RXTX_MAP");
            let sent_again = driver.send_indirect(SP1, ffa_core::Uuid::NIL, &7u64.to_le_bytes());
            let received_again = command(&mut driver, SP1, Command::ReceiveIndirect);
            (
                (sent.map_err(|error| error.ffa_error()), received, twice),
                (spmc_maps_while_mapped, spmc_maps_after_unmap, not_mapped),
                (sent_again.map_err(|error| error.ffa_error()), received_again),
            )
        })
        .expect("run");
    let ((sent, received, twice), (while_mapped, after_unmap, not_mapped), again) = report.value;
    assert_eq!(sent, Ok(()), "the SPMC reads VM 1's registered TX buffer");
    assert_eq!(received, Answer::done([1, 8, 0x1234, 0]), "SP1 reads VM 1's message");
    assert_eq!(twice, Err(FfaError::Denied), "registered already");
    assert_eq!(while_mapped, 2, "the SPMC maps VM 1's TX and RX");
    assert_eq!(after_unmap, 0, "and unmaps both at FFA_RXTX_UNMAP");
    assert_eq!(not_mapped, Err(FfaError::Denied), "nothing mapped to register");
    assert_eq!(again, (Ok(()), Answer::done([1, 8, 7, 0])));
    // One forwarded FFA_RXTX_MAP per map and one FFA_RXTX_UNMAP for VM 1 reached the SPMC.
    // (The forwarded form has x1 = x2 = x3 = 0; the hypervisor's own map at start-up does not.)
    let maps = report
        .secure_world_calls()
        .filter(|registers| registers[0] == 0xC400_0066 && registers[1..4] == [0, 0, 0]);
    assert_eq!(maps.count(), 2);
    let unmaps = report
        .secure_world_calls()
        .filter(|registers| registers[0] == 0x8400_0067 && registers[1] >> 16 == 1);
    assert_eq!(unmaps.count(), 1);
}

/// How many buffers the SPMC has mapped for `owner` right now.
fn spmc_mailboxes_of(memory: &GuestMemory, owner: EndpointId) -> usize {
    let system = memory.system();
    let guard = lock(&system);
    guard
        .mailboxes()
        .filter(|mailbox| mailbox.owner == owner && mailbox.manager == Role::Spmc)
        .count()
}

#[test]
fn a_vm_the_policy_refuses_gets_denied_and_nothing_reaches_the_spmc() {
    let mut policy = Policy::allow_all();
    policy
        .refuse(PolicyRule {
            vm: Some(VM1),
            partition: Some(SP1),
            calls: CallKinds::DIRECT_MESSAGES | CallKinds::MEMORY,
        })
        .unwrap();
    let report = three_partitions()
        .policy(policy)
        .run(|conduit, memory| {
            let mut driver = driver_with_buffers(conduit, &memory);
            let direct = ffa_error(driver.direct_request_32(SP1, [41, 0, 0, 0, 0]));
            let page = memory.allocate(1, 4096).unwrap().0;
            let pages = [PageRange { address: page, page_count: 1 }];
            let shared = ffa_error(driver.memory_share(SP1, &pages));
            let other = driver.direct_request_32(SP2, [41, 0, 0, 0, 0]).expect("SP2 answers");
            (direct, shared, other)
        })
        .expect("run");
    assert_eq!(report.value, (FfaError::Denied, FfaError::Denied, [42, 0, 0, 0, 0]));
    let to_sp1 = report.secure_world_calls().filter(|registers| {
        matches!(registers[0], 0x8400_006F | 0xC400_006F | 0xC400_008D)
            && registers[1] & 0xFFFF == u64::from(SP1.0)
            || matches!(registers[0], 0x8400_0073 | 0xC400_0073 | 0x8400_0074 | 0xC400_0074)
    });
    assert_eq!(to_sp1.count(), 0, "nothing refused was forwarded");
    assert_eq!(report.spmc_handles, [], "no transaction at the SPMC");
    assert_eq!(report.forwarder_handles, [], "none in the forwarder");
}

/// What VM 2 did before it waited: its BIND of SP1 and its buffers' map.
type Bound = Arc<Mutex<Option<(Result<(), FfaError>, Result<(), FfaError>)>>>;

#[test]
fn a_destroyed_vm_leaves_no_bitmap_mailbox_or_handle_at_the_spmc_and_is_unknown_there() {
    let bound: Bound = Arc::default();
    let vm2_bound = bound.clone();
    let report = ModelBuilder::new()
        .partition(
            with_notifications(with_indirect_messaging(secure_partition(SP1.0, test_uuid(1)))),
            conformance_server,
        )
        .vm_availability(SP1, VmAvailabilityMessages::VM_DESTROYED)
        .vm(with_notifications(virtual_machine(2)), move |conduit, memory| {
            // VM 2 maps its buffers (registered with the SPMC) and binds a notification of
            // SP1's (its bitmap is created at the SPMC first), then waits.
            let mut driver = driver(conduit);
            let size = driver.features().buffers.minimum_size;
            let buffers = memory.allocate_buffers(size).expect("RAM for buffers");
            let mapped = driver.map_buffers(buffers).map_err(|failed| failed.error);
            let bind = driver.notification_bind(SP1, NotificationBitmap(1 << 5), false);
            *vm2_bound.lock().unwrap() = Some((
                mapped.map_err(|error| error.ffa_error().unwrap_or(FfaError::Aborted)),
                bind.map_err(|error| error.ffa_error().unwrap_or(FfaError::Aborted)),
            ));
            struct Idle;
            impl RequestHandler for Idle {}
            let _ = driver.serve(&mut Idle);
        })
        .run(move |mut conduit, memory| {
            let mut driver = driver_with_buffers(conduit.clone(), &memory);
            let set = |bitmap| Command::Set {
                receiver: VM2,
                bitmap,
                vcpu: None,
                delay_schedule_receiver: false,
            };
            // SP1 signals VM 2: the notification stays pending at the SPMC.
            let signalled = command(&mut driver, SP1, set(1 << 5));
            let unbound_bit = command(&mut driver, SP1, set(1 << 6));
            let before = spmc_mailboxes_of(&memory, VM2);
            let destroyed = conduit.platform(PlatformAction::DestroyVm { vm: VM2, cpu: PASS_CPU });
            let after = spmc_mailboxes_of(&memory, VM2);
            let set_after = command(&mut driver, SP1, set(1 << 5));
            let message_after =
                command(&mut driver, SP1, Command::SendIndirect { destination: VM2, value: 1 });
            let bind_after = command(
                &mut driver,
                SP1,
                Command::Bind { sender: VM2, bitmap: 1, per_vcpu: false },
            );
            (
                signalled,
                unbound_bit,
                before,
                destroyed,
                after,
                (set_after, message_after, bind_after),
            )
        })
        .expect("run");
    let (signalled, unbound_bit, before, destroyed, after, refused) = report.value;
    assert_eq!(*bound.lock().unwrap(), Some((Ok(()), Ok(()))), "VM 2 mapped and bound");
    assert_eq!(signalled.status, Status::Done, "SP1 may signal the bit VM 2 bound");
    assert_eq!(unbound_bit.status, Status::Ffa(FfaError::Denied), "matrix N05: not bound");
    assert_eq!(before, 2, "the SPMC maps VM 2's buffers");
    assert_eq!(destroyed, Ok(()), "the pass ends with nothing left");
    assert_eq!(after, 0, "the SPMC unmapped them");
    // The pass took the pending notification (GET) before it destroyed the bitmap.
    let calls: Vec<u64> = report
        .secure_world_calls()
        .filter(|registers| {
            matches!(registers[0], 0x8400_0082 | 0x8400_007E) && registers[1] & 0xFFFF == 2
        })
        .map(|registers| registers[0])
        .collect();
    assert_eq!(calls, [0x8400_0082, 0x8400_007E], "GET, then BITMAP_DESTROY of VM 2");
    assert_eq!(report.spmc_vm_bitmaps, [], "no VM bitmap left at the SPMC");
    assert_eq!(report.spmc_handles, [], "no handle at the SPMC");
    assert_eq!(report.forwarder_handles, [], "none in the forwarder");
    // VM 2 is no endpoint at the SPMC any more: what names it is INVALID_PARAMETERS.
    let (set_after, message_after, bind_after) = refused;
    assert_eq!(set_after.status, Status::Ffa(FfaError::InvalidParameters));
    assert_eq!(message_after.status, Status::Ffa(FfaError::InvalidParameters));
    assert_eq!(bind_after.status, Status::Ffa(FfaError::InvalidParameters));
}
