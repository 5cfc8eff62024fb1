//! The forwarder's access policy: which VMs may reach which partitions, by kind of call.
//!
//! The default allows everything. A hypervisor refuses pairs with [`Policy::refuse`] and
//! installs the policy with [`PartitionManager::set_policy`](super::PartitionManager::set_policy)
//! before the manager serves calls. A VM's call that names a refused partition is answered
//! FFA_ERROR(DENIED) by the forwarder and never reaches the SPMC: direct requests (32/64-bit and
//! REQ2), indirect messages (FFA_MSG_SEND2), memory transactions naming the partition as a
//! borrower, and notification binds and sets between the two. Only the forwarder consults
//! it; the SPMC's own view of partitions is their manifests.

use bitflags::bitflags;
use ffa_core::EndpointId;

bitflags! {
    /// The kinds of call a rule refuses.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct CallKinds: u8 {
        /// FFA_MSG_SEND_DIRECT_REQ (32 and 64-bit) and FFA_MSG_SEND_DIRECT_REQ2.
        const DIRECT_MESSAGES = 1 << 0;
        /// FFA_MSG_SEND2.
        const INDIRECT_MESSAGES = 1 << 1;
        /// FFA_MEM_SHARE, FFA_MEM_LEND and FFA_MEM_DONATE with the partition as a borrower.
        const MEMORY = 1 << 2;
        /// FFA_NOTIFICATION_BIND (the VM binding the partition as a sender) and
        /// FFA_NOTIFICATION_SET (the VM signalling the partition).
        const NOTIFICATIONS = 1 << 3;
    }
}

/// One refusal: `vm` (or every VM) may not make `calls` to `partition` (or to any partition).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyRule {
    pub vm: Option<EndpointId>,
    pub partition: Option<EndpointId>,
    pub calls: CallKinds,
}

impl PolicyRule {
    fn matches(&self, vm: EndpointId, partition: EndpointId, kind: CallKinds) -> bool {
        self.vm.is_none_or(|refused| refused == vm)
            && self.partition.is_none_or(|refused| refused == partition)
            && self.calls.intersects(kind)
    }
}

/// How many refusals a policy holds.
pub const MAX_POLICY_RULES: usize = 16;

/// A list of refusals; everything not refused is allowed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Policy {
    refused: heapless::Vec<PolicyRule, MAX_POLICY_RULES>,
}

impl Policy {
    /// Allows every VM every call to every partition.
    pub const fn allow_all() -> Self {
        Self { refused: heapless::Vec::new() }
    }

    /// Adds a refusal. Gives the rule back when the policy already holds
    /// [`MAX_POLICY_RULES`].
    pub fn refuse(&mut self, rule: PolicyRule) -> Result<(), PolicyRule> {
        self.refused.push(rule)
    }

    /// Whether VM `vm` may make a call of `kind` to `partition`.
    pub fn allows(&self, vm: EndpointId, partition: EndpointId, kind: CallKinds) -> bool {
        !self.refused.iter().any(|rule| rule.matches(vm, partition, kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_policy_allows_everything_and_rules_refuse_only_what_they_name() {
        let mut policy = Policy::allow_all();
        assert!(policy.allows(EndpointId(2), EndpointId(0x8002), CallKinds::all()));
        let rule = PolicyRule {
            vm: Some(EndpointId(2)),
            partition: Some(EndpointId(0x8002)),
            calls: CallKinds::DIRECT_MESSAGES | CallKinds::MEMORY,
        };
        assert_eq!(policy.refuse(rule), Ok(()));
        assert!(!policy.allows(EndpointId(2), EndpointId(0x8002), CallKinds::DIRECT_MESSAGES));
        assert!(!policy.allows(EndpointId(2), EndpointId(0x8002), CallKinds::MEMORY));
        assert!(policy.allows(EndpointId(2), EndpointId(0x8002), CallKinds::NOTIFICATIONS));
        assert!(policy.allows(EndpointId(1), EndpointId(0x8002), CallKinds::DIRECT_MESSAGES));
        assert!(policy.allows(EndpointId(2), EndpointId(0x8001), CallKinds::DIRECT_MESSAGES));
        let everyone =
            PolicyRule { vm: None, partition: None, calls: CallKinds::INDIRECT_MESSAGES };
        assert_eq!(policy.refuse(everyone), Ok(()));
        assert!(!policy.allows(EndpointId(7), EndpointId(0x8005), CallKinds::INDIRECT_MESSAGES));
    }

    #[test]
    fn a_full_policy_gives_the_rule_back() {
        let mut policy = Policy::allow_all();
        let rule = PolicyRule { vm: None, partition: None, calls: CallKinds::MEMORY };
        for _ in 0..MAX_POLICY_RULES {
            assert_eq!(policy.refuse(rule), Ok(()));
        }
        assert_eq!(policy.refuse(rule), Err(rule));
    }
}
