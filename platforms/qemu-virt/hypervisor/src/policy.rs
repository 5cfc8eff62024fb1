//! Which partitions each VM may talk to: the hypervisor's policy, checked before a call
//! reaches the forwarder.
//!
//! The rule here is a fixed table (VM 2 may not reach partition 0x8002); a product would read
//! it from the VMs' configuration. A direct request (32 or 64-bit, or REQ2) from a VM to a
//! partition it may not reach is answered FFA_ERROR(DENIED) and never leaves the hypervisor.

/// (VM, partition) pairs that are refused.
const REFUSED: &[(u16, u16)] = &[(2, 0x8002)];

const FFA_MSG_SEND_DIRECT_REQ_32: u64 = 0x8400_006F;
const FFA_MSG_SEND_DIRECT_REQ_64: u64 = 0xC400_006F;
const FFA_MSG_SEND_DIRECT_REQ2: u64 = 0xC400_008D;

/// Whether VM `vm` may make `call` (x0-x17 as the VM passed them).
pub fn allows(vm: u64, call: &[u64; 18]) -> bool {
    let direct = matches!(
        call[0],
        FFA_MSG_SEND_DIRECT_REQ_32 | FFA_MSG_SEND_DIRECT_REQ_64 | FFA_MSG_SEND_DIRECT_REQ2
    );
    if !direct {
        return true;
    }
    let destination = (call[1] & 0xFFFF) as u16;
    !REFUSED
        .iter()
        .any(|&(refused_vm, partition)| u64::from(refused_vm) == vm && partition == destination)
}
