//! What a partition manager is built from: its role, its own IDs and the endpoints it knows.

use ffa_core::{EndpointId, FfaError, Uuid, Version};

use crate::manifest::{
    ExceptionLevel, ExecutionState, MessagingMethod, PartitionManifest, PowerManagementMessages,
};

/// Protocol UUIDs one endpoint may carry (the manifest parser's limit).
pub const MAX_UUIDS: usize = crate::manifest::MAX_SERVICES;

/// Which side of the FF-A split this partition manager is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The SPMC at S-EL2: local endpoints are secure partitions, the other world is the normal
    /// world reached through the SPMD at EL3.
    Spmc,
    /// The hypervisor at NS-EL2: local endpoints are VMs, the other world is the secure world;
    /// calls addressed to secure endpoints are forwarded to the SPMC.
    Forwarder,
}

/// One endpoint as the partition manager sees it: a secure partition, a VM, or an endpoint of
/// the other world.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointDescription {
    /// The endpoint ID.
    pub id: EndpointId,
    /// Protocol UUIDs (may be empty for VMs).
    pub uuids: heapless::Vec<Uuid, MAX_UUIDS>,
    /// Execution contexts (vCPUs): 1 is a UP endpoint that migrates between CPUs; more is an
    /// MP endpoint whose context n runs on CPU n.
    pub execution_context_count: u16,
    /// The messaging methods (partition-properties bits 0-2, 9, 10).
    pub messaging: MessagingMethod,
    /// The FF-A version the endpoint uses until it negotiates another with FFA_VERSION.
    pub version: Version,
    /// The exception level it runs at.
    pub exception_level: ExceptionLevel,
    /// AArch64 (partition-properties bit 8).
    pub aarch64: bool,
    /// Receives notifications (partition-properties bit 3).
    pub notification_support: bool,
    /// Power-management messages it subscribed to.
    pub power_management: PowerManagementMessages,
}

impl EndpointDescription {
    /// A secure partition from its checked manifest. `id` is the manifest's `id` unless the
    /// integrator assigns one (the manifest's ID wins when both are given and differ: that is
    /// a configuration error).
    pub fn from_manifest(
        manifest: &PartitionManifest<'_>,
        assigned_id: Option<EndpointId>,
    ) -> Result<Self, ConfigError> {
        let id = match (manifest.id, assigned_id) {
            (Some(own), Some(assigned)) if own != assigned => {
                return Err(ConfigError::ConflictingId(own))
            }
            (Some(id), _) | (None, Some(id)) => id,
            (None, None) => return Err(ConfigError::MissingId),
        };
        let version = Version::new(manifest.ffa_version.major, manifest.ffa_version.minor)
            .ok_or(ConfigError::UnsupportedVersion(id))?;
        let mut uuids = heapless::Vec::new();
        for service in &manifest.services {
            uuids.push(Uuid(service.uuid.0)).map_err(|_| ConfigError::TooManyUuids(id))?;
        }
        Ok(Self {
            id,
            uuids,
            execution_context_count: manifest.execution_context_count,
            messaging: manifest.messaging_method,
            version,
            exception_level: manifest.exception_level,
            aarch64: manifest.execution_state == ExecutionState::AArch64,
            notification_support: manifest.notification_support,
            power_management: manifest.power_management_messages,
        })
    }

    /// A VM (or the normal-world OS at ID 0): no UUIDs, AArch64, NS-EL1.
    pub fn virtual_machine(
        id: EndpointId,
        vcpu_count: u16,
        version: Version,
        messaging: MessagingMethod,
    ) -> Self {
        Self {
            id,
            uuids: heapless::Vec::new(),
            execution_context_count: vcpu_count,
            messaging,
            version,
            exception_level: ExceptionLevel::El1,
            aarch64: true,
            notification_support: false,
            power_management: PowerManagementMessages::empty(),
        }
    }

    /// Whether the endpoint has one execution context that follows the requesting CPU.
    pub const fn is_uniprocessor(&self) -> bool {
        self.execution_context_count == 1
    }

    /// Whether `uuid` is one of the endpoint's protocol UUIDs.
    pub fn has_uuid(&self, uuid: &Uuid) -> bool {
        self.uuids.iter().any(|own| own == uuid)
    }
}

/// Interrupt IDs the platform assigned to FF-A features (FFA_FEATURES with a feature ID).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FeatureInterrupts {
    /// Notification pending interrupt (feature 1), offered to S-EL1 partitions.
    pub notification_pending: Option<u32>,
    /// Schedule receiver interrupt (feature 2), offered to the normal world only.
    pub schedule_receiver: Option<u32>,
    /// Managed exit interrupt (feature 3), offered to S-EL1 partitions.
    pub managed_exit: Option<u32>,
}

/// Everything a [`super::PartitionManager`] is built from.
#[derive(Debug, Clone, Copy)]
pub struct Configuration<'a> {
    /// SPMC or forwarder.
    pub role: Role,
    /// The manager's own endpoint ID: 0x8000 for the SPMC, 0 for the hypervisor.
    pub own_id: EndpointId,
    /// What FFA_SPM_ID_GET answers: the SPMC's ID (the SPMC's own ID in the SPMC role).
    pub spm_id: EndpointId,
    /// The FF-A version this manager implements (FFA_VERSION answers it).
    pub version: Version,
    /// Endpoints this manager runs, in boot order.
    pub local: &'a [EndpointDescription],
    /// Endpoints of the other world that may talk to local endpoints (SPMC: the normal-world
    /// OS/hypervisor ID 0 and the VMs it forwards for; forwarder: the secure partitions).
    pub remote: &'a [EndpointDescription],
    /// Interrupt IDs for FFA_FEATURES feature queries.
    pub interrupts: FeatureInterrupts,
    /// Largest RX/TX buffer in 4 KiB pages an endpoint may map (0 = no limit).
    pub maximum_mailbox_pages: u16,
}

/// A configuration the partition manager cannot run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigError {
    /// More local or remote endpoints than the `ENDPOINTS` capacity.
    TooManyEndpoints,
    /// An endpoint has more execution contexts than the `VCPUS` capacity, or none.
    ContextCount(EndpointId),
    /// Two endpoints (or an endpoint and the manager) share an ID.
    DuplicateId(EndpointId),
    /// An endpoint's ID is in the wrong world for its side (bit 15), or is the SPMD's ID.
    WrongWorld(EndpointId),
    /// An endpoint's version is not one this manager can serve (different major number).
    UnsupportedVersion(EndpointId),
    /// The manifest names no ID and none was assigned.
    MissingId,
    /// The manifest's ID differs from the assigned one.
    ConflictingId(EndpointId),
    /// More UUIDs than [`MAX_UUIDS`].
    TooManyUuids(EndpointId),
    /// A memory region of this owner overlaps another, is malformed, does not fit the
    /// ledger's pools, or its owner is neither a local nor a remote endpoint.
    MemoryMap(EndpointId),
    /// The forwarder role on a platform built without it
    /// ([`super::EndpointMemory::FORWARDER_ROLE`] is `false`).
    RoleNotBuilt,
}

impl ConfigError {
    /// What is wrong, in words (for firmware logs that avoid `core::fmt`).
    pub const fn message(self) -> &'static str {
        match self {
            Self::TooManyEndpoints => "more endpoints than the manager's capacity",
            Self::ContextCount(_) => "an endpoint has no execution context or more than the capacity",
            Self::DuplicateId(_) => "two endpoints share an ID",
            Self::WrongWorld(_) => "an endpoint's ID is in the wrong world (bit 15) or is the SPMD's",
            Self::UnsupportedVersion(_) => "an endpoint's FF-A version has another major number",
            Self::MissingId => "the manifest names no ID and none was assigned",
            Self::ConflictingId(_) => "the manifest's ID differs from the assigned one",
            Self::TooManyUuids(_) => "an endpoint names more UUIDs than the capacity",
            Self::MemoryMap(_) => {
                "a memory region overlaps another, is malformed, does not fit the pools, or has an unknown owner"
            }
            Self::RoleNotBuilt => "the forwarder role is not built into this platform",
        }
    }

    /// The endpoint the problem is about, when there is one.
    pub const fn endpoint(self) -> Option<EndpointId> {
        match self {
            Self::ContextCount(id)
            | Self::DuplicateId(id)
            | Self::WrongWorld(id)
            | Self::UnsupportedVersion(id)
            | Self::ConflictingId(id)
            | Self::TooManyUuids(id)
            | Self::MemoryMap(id) => Some(id),
            Self::TooManyEndpoints | Self::MissingId | Self::RoleNotBuilt => None,
        }
    }
}

impl From<ConfigError> for FfaError {
    fn from(error: ConfigError) -> Self {
        match error {
            ConfigError::TooManyEndpoints
            | ConfigError::ContextCount(_)
            | ConfigError::TooManyUuids(_) => FfaError::NoMemory,
            _ => FfaError::InvalidParameters,
        }
    }
}

impl Role {
    /// Whether endpoints local to this role have bit 15 set.
    pub const fn local_is_secure(self) -> bool {
        matches!(self, Self::Spmc)
    }
}

impl Configuration<'_> {
    /// Checks IDs, worlds, versions and context counts against the capacities.
    pub(crate) fn check(
        &self,
        maximum_endpoints: usize,
        maximum_contexts: usize,
    ) -> Result<(), ConfigError> {
        if self.local.len() > maximum_endpoints || self.remote.len() > maximum_endpoints {
            return Err(ConfigError::TooManyEndpoints);
        }
        let local_secure = self.role.local_is_secure();
        for (index, endpoint) in self.local.iter().enumerate() {
            if endpoint.id.is_secure() != local_secure || endpoint.id == EndpointId::SPMD {
                return Err(ConfigError::WrongWorld(endpoint.id));
            }
            if endpoint.execution_context_count == 0
                || usize::from(endpoint.execution_context_count) > maximum_contexts
            {
                return Err(ConfigError::ContextCount(endpoint.id));
            }
            if endpoint.version.major() != self.version.major() {
                return Err(ConfigError::UnsupportedVersion(endpoint.id));
            }
            let earlier = self.local.iter().take(index);
            if endpoint.id == self.own_id || earlier.clone().any(|other| other.id == endpoint.id) {
                return Err(ConfigError::DuplicateId(endpoint.id));
            }
        }
        for (index, endpoint) in self.remote.iter().enumerate() {
            if endpoint.id.is_secure() == local_secure || endpoint.id == EndpointId::SPMD {
                return Err(ConfigError::WrongWorld(endpoint.id));
            }
            if self.remote.iter().take(index).any(|other| other.id == endpoint.id) {
                return Err(ConfigError::DuplicateId(endpoint.id));
            }
        }
        Ok(())
    }
}
