//! Which partitions each VM may reach: this hypervisor's table, handed to the spmc crate's
//! forwarder as its [`Policy`].
//!
//! The rule here is fixed (VM 2 may not reach partition 0x8002 at all); a product would read
//! it from the VMs' configuration. The forwarder answers a refused call FFA_ERROR(DENIED) and
//! it never leaves the hypervisor: direct requests, memory transactions naming the partition,
//! indirect messages and notification binds and sets (docs/src/partition-manager.md).

use ffa_core::EndpointId;
use spmc::partition_manager::{CallKinds, Policy, PolicyRule};

/// (VM, partition) pairs that are refused every kind of call.
const REFUSED: &[(u16, u16)] = &[(2, 0x8002)];

/// The forwarder's policy for this platform.
pub fn policy() -> Policy {
    let mut policy = Policy::allow_all();
    for &(vm, partition) in REFUSED {
        let rule = PolicyRule {
            vm: Some(EndpointId(vm)),
            partition: Some(EndpointId(partition)),
            calls: CallKinds::all(),
        };
        // REFUSED is far shorter than the policy's capacity.
        let _ = policy.refuse(rule);
    }
    policy
}
