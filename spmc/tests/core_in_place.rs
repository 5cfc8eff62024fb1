//! Building the core in place (`PartitionManager::empty` + `configure`), as firmware does in a
//! `static`: the same behaviour as a manager built by value, and reconfiguring replaces state.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

#[path = "core_harness.rs"]
mod harness;

use ffa_core::{Call, FfaError, FunctionId, Version};
use harness::*;
use spmc::partition_manager::{ContextState, Transfer};

/// Boots every CPU of `manager` (each partition ends its boot with FFA_MSG_WAIT) and sends one
/// direct request from the normal world to SP1 and back; returns the two deliveries.
fn boot_and_round_trip(manager: &Manager) -> Vec<spmc::partition_manager::Delivery> {
    for cpu in 0..4 {
        boot_cpu(manager, cpu, |_| msg_wait());
    }
    let request = call(manager, nwd(1), request32(VM1, SP1, [1, 2, 3, 4, 5]));
    let response = call(manager, request.to, response32(SP1, VM1, [6, 7, 8, 9, 10]));
    vec![request, response]
}

#[test]
fn configured_in_place_behaves_as_built_by_value() {
    let local = secure_partitions();
    let remote = normal_world();
    let by_value =
        Manager::new(&spmc_configuration(&local, &remote), FakeMemory::default()).expect("valid");
    let mut in_place = Manager::empty(FakeMemory::default());
    in_place.configure(&spmc_configuration(&local, &remote)).expect("valid");

    let expected = boot_and_round_trip(&by_value);
    assert_eq!(boot_and_round_trip(&in_place), expected);
    assert_eq!(expected[0].to, ec(SP1, 0));
    assert_eq!(expected[1].transfer, Transfer::OtherWorld);
    for manager in [&by_value, &in_place] {
        assert_eq!(manager.context_state(ec(SP1, 0)), Some(ContextState::Waiting));
        assert_eq!(manager.negotiated_version(SP1), Some(Version::V1_2));
        manager.check_invariants().expect("invariants");
    }
}

#[test]
fn an_unconfigured_manager_knows_no_endpoint_and_does_not_panic() {
    let manager = Manager::empty(FakeMemory::default());
    assert!(!manager.is_local(SP1));
    assert_eq!(manager.context_state(ec(SP1, 0)), None);
    let answer = call(&manager, nwd(0), request32(VM1, SP1, [0; 5]));
    assert_eq!(answer.transfer, Transfer::OtherWorld);
    assert_eq!(answer.registers[0], FunctionId::Error32.to_register());
    let id = call(&manager, nwd(0), Call::IdGet);
    assert_eq!(id.transfer, Transfer::OtherWorld);
}

#[test]
fn configuring_again_replaces_the_earlier_configuration() {
    let local = secure_partitions();
    let remote = normal_world();
    let mut manager =
        Manager::new(&spmc_configuration(&local, &remote), FakeMemory::default()).expect("valid");
    boot_and_round_trip(&manager);
    // A configuration with only the first partition: the others are gone, SP1 starts afresh.
    let fewer = &local[..1];
    manager.configure(&spmc_configuration(fewer, &remote)).expect("valid");
    assert_eq!(manager.context_state(ec(SP1, 0)), Some(ContextState::NotStarted));
    assert!(!manager.is_local(SP2));
    let refused = call(&manager, nwd(0), request32(VM1, SP2, [0; 5]));
    assert_eq!(error_of(&refused), Some(FfaError::InvalidParameters));
    manager.check_invariants().expect("invariants");
}

/// [`FakeMemory`] on a platform built without the forwarder role.
#[derive(Debug, Default)]
struct SpmcOnlyMemory(FakeMemory);

impl spmc::partition_manager::EndpointMemory for SpmcOnlyMemory {
    const FORWARDER_ROLE: bool = false;
    type Buffer = <FakeMemory as spmc::partition_manager::EndpointMemory>::Buffer;

    fn map_buffer(
        &mut self,
        endpoint: ffa_core::EndpointId,
        address: u64,
        page_count: u32,
    ) -> Result<Self::Buffer, FfaError> {
        self.0.map_buffer(endpoint, address, page_count)
    }

    fn unmap_buffer(&mut self, buffer: Self::Buffer) {
        self.0.unmap_buffer(buffer);
    }

    fn write(&mut self, buffer: Self::Buffer, offset: usize, bytes: &[u8]) -> Result<(), FfaError> {
        self.0.write(buffer, offset, bytes)
    }

    fn read(
        &mut self,
        buffer: Self::Buffer,
        offset: usize,
        bytes: &mut [u8],
    ) -> Result<(), FfaError> {
        self.0.read(buffer, offset, bytes)
    }
}

type SpmcOnlyManager = spmc::partition_manager::PartitionManager<SpmcOnlyMemory, 8, 4, 4>;

#[test]
fn a_platform_without_the_forwarder_role_refuses_it_and_still_serves_as_the_spmc() {
    use spmc::partition_manager::{ConfigError, Role};
    let local = secure_partitions();
    let remote = normal_world();
    let mut forwarder_configuration = spmc_configuration(&local, &remote);
    forwarder_configuration.role = Role::Forwarder;
    let refused = SpmcOnlyManager::new(&forwarder_configuration, SpmcOnlyMemory::default());
    assert_eq!(refused.err(), Some(ConfigError::RoleNotBuilt));

    // As the SPMC it answers exactly as a manager that has the forwarder role built in.
    let spmc_only = SpmcOnlyManager::new(&spmc_configuration(&local, &remote), Default::default())
        .expect("valid");
    let full =
        Manager::new(&spmc_configuration(&local, &remote), FakeMemory::default()).expect("valid");
    for cpu in 0..4 {
        let mut delivery = spmc_only.boot(cpu).expect("boots");
        let mut expected = full.boot(cpu).expect("boots");
        while delivery.transfer == Transfer::Start {
            assert_eq!(delivery, expected);
            delivery = spmc_only.handle(delivery.to, &msg_wait());
            expected = full.handle(expected.to, &msg_wait());
        }
        assert_eq!(delivery, expected);
    }
    let request = request32(VM1, SP1, [1, 2, 3, 4, 5]).encode(Version::V1_2);
    let delivered = spmc_only.handle(nwd(1), &request);
    assert_eq!(delivered, full.handle(nwd(1), &request));
    let response = response32(SP1, VM1, [6; 5]).encode(Version::V1_2);
    let answered = spmc_only.handle(delivered.to, &response);
    assert_eq!(answered, full.handle(delivered.to, &response));
    assert_eq!((answered.to, answered.transfer), (ec(VM1, 1), Transfer::OtherWorld));
    assert_eq!(&answered.registers[3..8], &[6; 5]);
}
