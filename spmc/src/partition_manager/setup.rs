//! Setup and discovery answered from the core's own state: FFA_VERSION, FFA_ID_GET,
//! FFA_SPM_ID_GET and FFA_FEATURES (what this core really supports, per role and caller).

use ffa_core::call::Return;
use ffa_core::features::{FeatureId, FeaturesQuery, MinimumBufferSize, RxtxMapProperties};
use ffa_core::{FunctionId, SuccessArgs, Version};

use super::state::Scheduler;
use super::{Caller, EndpointDescription, EndpointMemory, MemoryPlatform, PartitionManager, Role};
use crate::manifest::{ExceptionLevel, MessagingMethod};

impl<
        M: EndpointMemory,
        const ENDPOINTS: usize,
        const VCPUS: usize,
        const CPUS: usize,
        S: MemoryPlatform,
    > PartitionManager<M, ENDPOINTS, VCPUS, CPUS, S>
{
    /// A local endpoint's description (none for a destroyed VM).
    pub(super) fn description(&self, id: ffa_core::EndpointId) -> Option<&EndpointDescription> {
        if self.is_destroyed(id) {
            return None;
        }
        self.local.iter().find(|description| description.id == id)
    }

    /// FFA_VERSION (matrix D01-D04): the manager's own version, or NOT_SUPPORTED for bit 31,
    /// another major number, or a different version once the caller's version is frozen.
    pub(super) fn version(
        &self,
        scheduler: &mut Scheduler<ENDPOINTS, VCPUS>,
        caller: &Caller,
        requested: u32,
    ) -> Return {
        let own = self.settings.version;
        let negotiated = if caller.local {
            match scheduler.endpoint_mut(caller.context.endpoint) {
                Some(endpoint) => &mut endpoint.version,
                None => return Return::Version(ffa_core::version::VersionResponse::NotSupported),
            }
        } else {
            &mut scheduler.remote_version
        };
        Return::Version(Self::negotiate(negotiated, own, requested))
    }

    /// FFA_ID_GET (matrix D05): the caller's own ID.
    pub(super) fn id_get(&self, caller: &Caller) -> Return {
        Return::success(SuccessArgs::id(caller.context.endpoint))
    }

    /// FFA_SPM_ID_GET (matrix D06).
    pub(super) fn spm_id_get(&self) -> Return {
        Return::success(SuccessArgs::id(self.settings.spm_id))
    }

    /// Whether FFA_FEATURES offers `function` to `caller` (matrix D11: what it does not offer
    /// answers NOT_SUPPORTED).
    pub(super) fn offers(&self, caller: &Caller, function: FunctionId) -> bool {
        matches!(
            self.features(caller, FeaturesQuery::Function { function, properties: 0 }),
            Return::Success { .. }
        )
    }

    /// FFA_FEATURES (matrix D07-D13).
    pub(super) fn features(&self, caller: &Caller, query: FeaturesQuery) -> Return {
        if let FeaturesQuery::Function { function, properties } = query {
            if let Some(answer) = self.memory_features(caller, function, properties) {
                return answer;
            }
        }
        let properties = match query {
            FeaturesQuery::Function { function, .. } => self.function_properties(caller, function),
            FeaturesQuery::Feature(feature) => self.feature_interrupt(caller, feature),
        };
        match properties {
            Some(word) => Return::success(SuccessArgs::Args32([word, 0, 0, 0, 0, 0])),
            None => Return::error(ffa_core::FfaError::NotSupported),
        }
    }

    /// `w2` for a supported function, `None` when this caller cannot use it.
    fn function_properties(&self, caller: &Caller, function: FunctionId) -> Option<u32> {
        use FunctionId as F;
        if function.minimum_version() > caller.version {
            return None;
        }
        let messaging = if caller.local {
            self.description(caller.context.endpoint).map(|description| description.messaging)
        } else {
            None
        };
        // The other world may request (and never responds: requests to it are refused or
        // forwarded by the other side's manager).
        let can = |local_bit: MessagingMethod, remote: bool| match messaging {
            Some(methods) => methods.contains(local_bit),
            None => remote,
        };
        if let Some(supported) = self.notification_features(caller, function) {
            return supported.then_some(0);
        }
        let supported = match function {
            F::Error32
            | F::Success32
            | F::Success64
            | F::Interrupt32
            | F::Version
            | F::Features
            | F::IdGet
            | F::SpmIdGet
            | F::RxRelease
            | F::RxtxUnmap
            | F::PartitionInfoGet
            | F::PartitionInfoGetRegs
            | F::Run32 => true,
            F::RxtxMap32 | F::RxtxMap64 => {
                let maximum_pages = if caller.version >= Version::V1_2 {
                    self.settings.maximum_mailbox_pages
                } else {
                    0
                };
                let properties =
                    RxtxMapProperties { minimum_size: MinimumBufferSize::Size4K, maximum_pages };
                return Some(properties.to_word());
            }
            F::MsgWait32 | F::Yield32 => caller.local,
            // Only the hypervisor asks the SPMC for a VM's RX buffer (matrix D10).
            F::RxAcquire => !caller.local && self.effective_role() == Role::Spmc,
            F::MsgSendDirectReq32 | F::MsgSendDirectReq64 => {
                can(MessagingMethod::SEND_DIRECT_REQUEST, self.effective_role() == Role::Spmc)
            }
            F::MsgSendDirectResp32 | F::MsgSendDirectResp64 => {
                can(MessagingMethod::RECEIVE_DIRECT_REQUEST, false)
            }
            F::MsgSendDirectReq2 => {
                can(MessagingMethod::SEND_DIRECT_REQUEST2, self.effective_role() == Role::Spmc)
            }
            F::MsgSendDirectResp2 => can(MessagingMethod::RECEIVE_DIRECT_REQUEST2, false),
            // Matrix D10: NORMAL_WORLD_RESUME is not for endpoints.
            _ => false,
        };
        supported.then_some(0)
    }

    /// The interrupt ID of a feature (matrix D12): SRI for the normal world only (SPMC role),
    /// NPI for S-EL1 partitions and (forwarder) VMs, MEI for S-EL1 partitions only.
    fn feature_interrupt(&self, caller: &Caller, feature: FeatureId) -> Option<u32> {
        let interrupts = self.settings.interrupts;
        let secure_el1 = caller.local
            && self.effective_role() == Role::Spmc
            && self.description(caller.context.endpoint).is_some_and(|description| {
                matches!(
                    description.exception_level,
                    ExceptionLevel::SecureEl1 | ExceptionLevel::SecureSupervisor
                )
            });
        match feature {
            FeatureId::ScheduleReceiverInterrupt => {
                if !caller.local && self.effective_role() == Role::Spmc {
                    interrupts.schedule_receiver
                } else {
                    None
                }
            }
            FeatureId::NotificationPendingInterrupt
                if caller.local && self.receives_notification_pending(caller.context.endpoint) =>
            {
                interrupts.notification_pending
            }
            FeatureId::ManagedExitInterrupt if secure_el1 => interrupts.managed_exit,
            _ => None,
        }
    }
}
