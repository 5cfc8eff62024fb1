//! Parses the dtc-compiled manifests in tests/data and checks every field read.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use ffa_core::EndpointId;
use spmc::manifest::{
    BindingVersion, ExceptionLevel, ExecutionState, FfaVersion, Interrupt, InterruptKind,
    MessagingMethod, NsInterruptsAction, PartitionManifest, PowerManagementMessages, RegionAddress,
    RegionAttributes, RxTxBuffer, SpmcManifest, TranslationGranule, Uuid, VmAvailabilityMessages,
};

const V1_0: &[u8] = include_bytes!("data/sp_manifest_v1_0.dtb");
const V1_1: &[u8] = include_bytes!("data/sp_manifest_v1_1.dtb");
const SPMC: &[u8] = include_bytes!("data/spmc_manifest.dtb");

fn uuid(text: &str) -> Uuid {
    Uuid::parse_str(text).expect("test UUID")
}

#[test]
fn full_v1_0_manifest() {
    let manifest = PartitionManifest::parse(V1_0).expect("valid manifest");
    assert_eq!(manifest.binding, BindingVersion::V1_0);
    assert_eq!(manifest.ffa_version, FfaVersion { major: 1, minor: 1 });
    assert_eq!(manifest.services.len(), 2);
    let first = manifest.services[0];
    assert_eq!(first.uuid, uuid("486178e0-e7f8-11e3-bc5e-0002a5d5c51b"));
    assert_eq!(first.uuid.to_string(), "486178e0-e7f8-11e3-bc5e-0002a5d5c51b");
    assert_eq!(
        first.uuid.0,
        [
            0x48, 0x61, 0x78, 0xe0, 0xe7, 0xf8, 0x11, 0xe3, 0xbc, 0x5e, 0x00, 0x02, 0xa5, 0xd5,
            0xc5, 0x1b
        ]
    );
    assert_eq!(
        first.messaging_method,
        MessagingMethod::RECEIVE_DIRECT_REQUEST | MessagingMethod::SEND_DIRECT_REQUEST
    );
    assert_eq!(manifest.services[1].uuid, uuid("01234567-89ab-cdef-0123-456789abcdef"));
    assert_eq!(manifest.services[1].messaging_method, MessagingMethod::all());
    assert_eq!(manifest.messaging_method, MessagingMethod::all());
    assert_eq!(manifest.id, Some(EndpointId(0x8001)));
    assert_eq!(manifest.auxiliary_id, Some(EndpointId(0x8101)));
    assert_eq!(manifest.description, Some("test-sp"));
    assert_eq!(manifest.execution_context_count, 8);
    assert_eq!(manifest.exception_level, ExceptionLevel::SecureEl1);
    assert_eq!(manifest.execution_state, ExecutionState::AArch64);
    assert_eq!(manifest.load_address, Some(0x628_0000));
    assert_eq!(manifest.entrypoint_offset, 0x1000);
    assert_eq!(manifest.translation_granule, TranslationGranule::Size4KiB);
    assert_eq!(manifest.boot_order, Some(3));
    assert_eq!(manifest.ns_interrupts_action, NsInterruptsAction::ManagedExit);
    assert!(manifest.managed_exit_virq);
    assert!(manifest.notification_support);
    assert_eq!(manifest.gp_register_num, Some(0));
    assert_eq!(
        manifest.power_management_messages,
        PowerManagementMessages::CPU_OFF | PowerManagementMessages::CPU_SUSPEND_RESUME
    );
    assert_eq!(manifest.vm_availability_messages, VmAvailabilityMessages::all());

    let regions = &manifest.memory_regions;
    assert_eq!(regions.len(), 4);
    assert_eq!(regions[0].name, "rx");
    assert_eq!(regions[0].description, Some("rx-buffer"));
    assert_eq!(regions[0].address, RegionAddress::Absolute(0x730_0000));
    assert_eq!(regions[0].pages_count, 1);
    assert_eq!(regions[0].attributes, RegionAttributes::READ);
    assert_eq!(regions[0].phandle, Some(0x10));
    assert_eq!(regions[1].attributes, RegionAttributes::READ | RegionAttributes::WRITE);
    assert_eq!(regions[2].address, RegionAddress::RelativeToLoadAddress(0x10_0000));
    assert_eq!(regions[2].pages_count, 16);
    assert_eq!(regions[2].phandle, None);
    assert_eq!(regions[3].address, RegionAddress::ChosenByManager);
    assert_eq!(regions[3].description, None);
    assert!(regions[3].attributes.contains(RegionAttributes::NON_SECURE));
    assert_eq!(manifest.rx_tx_buffer, Some(RxTxBuffer { rx: 0, tx: 1 }));

    assert_eq!(manifest.device_regions.len(), 1);
    let uart = &manifest.device_regions[0];
    assert_eq!(uart.name, "uart1");
    assert_eq!(uart.description, Some("uart"));
    assert_eq!(uart.base_address, 0x1c0a_0000);
    assert_eq!(uart.pages_count, 1);
    assert!(uart.exclusive_access);
    assert_eq!(
        uart.interrupts.as_slice(),
        &[
            Interrupt {
                id: 37,
                priority: 0,
                secure: true,
                level_triggered: false,
                kind: InterruptKind::Spi
            },
            Interrupt {
                id: 8,
                priority: 0xa0,
                secure: true,
                level_triggered: false,
                kind: InterruptKind::Sgi
            },
        ]
    );
}

#[test]
fn v1_0_uuid_cells_are_the_register_form() {
    let manifest = PartitionManifest::parse(V1_0).expect("valid manifest");
    assert_eq!(
        manifest.services[0].uuid.to_register_words(),
        [0xe0786148, 0xe311f8e7, 0x02005ebc, 0x1bc5d5a5]
    );
}

#[test]
fn v1_1_manifest_with_services_and_defaults() {
    let manifest = PartitionManifest::parse(V1_1).expect("valid manifest");
    assert_eq!(manifest.binding, BindingVersion::V1_1);
    assert_eq!(manifest.ffa_version, FfaVersion { major: 1, minor: 2 });
    assert_eq!(manifest.services.len(), 2);
    assert_eq!(manifest.services[0].uuid, uuid("b4b5671e-4a90-4fe1-b81f-fb13dae1dacb"));
    assert_eq!(
        manifest.services[0].messaging_method,
        MessagingMethod::RECEIVE_DIRECT_REQUEST | MessagingMethod::RECEIVE_DIRECT_REQUEST2
    );
    // Upper-case hex is accepted; the value is the same bytes.
    assert_eq!(manifest.services[1].uuid, uuid("7c5b1a2e-0d3f-4a6b-9c8d-1e2f3a4b5c6d"));
    assert_eq!(manifest.services[1].messaging_method, MessagingMethod::INDIRECT);
    // No root messaging-method: the union of the services' methods.
    assert_eq!(
        manifest.messaging_method,
        MessagingMethod::RECEIVE_DIRECT_REQUEST
            | MessagingMethod::RECEIVE_DIRECT_REQUEST2
            | MessagingMethod::INDIRECT
    );
    assert_eq!(manifest.exception_level, ExceptionLevel::SecureEl0);
    assert_eq!(manifest.translation_granule, TranslationGranule::Size64KiB);
    // Defaults.
    assert_eq!(manifest.id, None);
    assert_eq!(manifest.description, None);
    assert_eq!(manifest.load_address, None);
    assert_eq!(manifest.entrypoint_offset, 0);
    assert_eq!(manifest.boot_order, None);
    assert_eq!(manifest.ns_interrupts_action, NsInterruptsAction::Signaled);
    assert!(!manifest.managed_exit_virq);
    assert!(!manifest.notification_support);
    assert_eq!(manifest.gp_register_num, None);
    assert_eq!(manifest.power_management_messages, PowerManagementMessages::empty());
    assert_eq!(manifest.vm_availability_messages, VmAvailabilityMessages::empty());
    assert_eq!(manifest.device_regions.len(), 0);
    assert_eq!(manifest.rx_tx_buffer, None);
    assert_eq!(manifest.memory_regions.len(), 1);
    assert_eq!(manifest.memory_regions[0].address, RegionAddress::Absolute(0x8000_0000));
    assert_eq!(manifest.memory_regions[0].attributes, RegionAttributes::from_bits_truncate(7));
}

#[test]
fn spmc_core_manifest() {
    let manifest = SpmcManifest::parse(SPMC).expect("valid SPMC manifest");
    assert_eq!(manifest.spmc_id, EndpointId(0x8000));
    assert_eq!(manifest.version, FfaVersion { major: 1, minor: 2 });
    assert_eq!(manifest.execution_state, ExecutionState::AArch64);
    assert_eq!(manifest.load_address, 0x600_0000);
    assert_eq!(manifest.entrypoint, 0x600_0000);
    assert_eq!(manifest.binary_size, 0x8_0000);
}

#[test]
fn each_parser_rejects_the_other_kind() {
    let error = SpmcManifest::parse(V1_0).expect_err("a partition manifest is not an SPMC one");
    assert_eq!(error.node, "/");
    assert_eq!(error.property, "compatible");
    let error =
        PartitionManifest::parse(SPMC).expect_err("an SPMC manifest is not a partition one");
    assert_eq!(
        error.to_string(),
        "/: compatible: not \"arm,ffa-manifest-1.0\" or \"arm,ffa-manifest-1.1\""
    );
}
