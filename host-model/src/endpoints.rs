//! Ready-made endpoint descriptions for model systems: VMs and secure partitions with the usual
//! messaging, and the IDs the model gives the partition managers.

use ffa_core::{EndpointId, Uuid, Version};
use spmc::manifest::{ExceptionLevel, MessagingMethod, PowerManagementMessages};
use spmc::partition_manager::EndpointDescription;

/// The SPMC's own endpoint ID (what FFA_SPM_ID_GET answers).
pub const SPMC_ID: EndpointId = EndpointId(0x8000);

/// VM 1: the VM whose program drives the run.
pub const DRIVER_VM: EndpointId = EndpointId(1);

/// Sending and receiving DIRECT_REQ and DIRECT_REQ2.
pub fn all_direct_messaging() -> MessagingMethod {
    MessagingMethod::RECEIVE_DIRECT_REQUEST
        | MessagingMethod::SEND_DIRECT_REQUEST
        | MessagingMethod::RECEIVE_DIRECT_REQUEST2
        | MessagingMethod::SEND_DIRECT_REQUEST2
}

/// A VM with one vCPU at FF-A v1.2 that sends and receives direct requests of both kinds.
pub fn virtual_machine(id: u16) -> EndpointDescription {
    EndpointDescription::virtual_machine(EndpointId(id), 1, Version::V1_2, all_direct_messaging())
}

/// A UP S-EL1 partition at FF-A v1.2 with one protocol UUID that sends and receives direct
/// requests of both kinds.
pub fn secure_partition(id: u16, uuid: Uuid) -> EndpointDescription {
    let mut uuids = heapless::Vec::new();
    // One UUID always fits (MAX_UUIDS is at least 1).
    let _ = uuids.push(uuid);
    EndpointDescription {
        id: EndpointId(id),
        uuids,
        execution_context_count: 1,
        messaging: all_direct_messaging(),
        version: Version::V1_2,
        exception_level: ExceptionLevel::SecureEl1,
        aarch64: true,
        notification_support: false,
        power_management: PowerManagementMessages::empty(),
    }
}

/// A recognisable test UUID: `index` in the first byte, `0xA0 | index` in the last.
pub fn test_uuid(index: u8) -> Uuid {
    let mut bytes = [0x5Au8; 16];
    bytes[0] = index;
    bytes[15] = 0xA0 | index;
    Uuid(bytes)
}

/// The same endpoint, also sending and receiving indirect messages (FFA_MSG_SEND2).
pub fn with_indirect_messaging(mut description: EndpointDescription) -> EndpointDescription {
    description.messaging |= MessagingMethod::INDIRECT;
    description
}

/// The same endpoint, also receiving notifications (manifest `notification-support`).
pub fn with_notifications(mut description: EndpointDescription) -> EndpointDescription {
    description.notification_support = true;
    description
}
