//! The enumerated and bit-field values of the partition manifest binding (ffa-reference.md §10.4).

use bitflags::bitflags;

/// Which version of the manifest binding the root `compatible` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindingVersion {
    /// `arm,ffa-manifest-1.0`: UUIDs as 4-cell tuples in the root `uuid` property.
    V1_0,
    /// `arm,ffa-manifest-1.1`: UUIDs as strings in the children of a `services` node.
    V1_1,
}

/// An FF-A version as the manifest's `ffa-version` word gives it (`major << 16 | minor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FfaVersion {
    /// Major version (15 bits).
    pub major: u16,
    /// Minor version.
    pub minor: u16,
}

impl FfaVersion {
    /// Splits a version word; `None` when bit 31 is set (ffa-reference.md §3.1).
    pub fn from_word(word: u32) -> Option<Self> {
        if word & 0x8000_0000 != 0 {
            return None;
        }
        Some(Self { major: (word >> 16) as u16, minor: (word & 0xFFFF) as u16 })
    }

    /// The version word.
    pub fn word(self) -> u32 {
        (u32::from(self.major) << 16) | u32::from(self.minor)
    }
}

/// The exception level a partition runs at (`exception-level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExceptionLevel {
    /// 0: non-secure EL1 (a VM).
    El1 = 0,
    /// 1: S-EL0.
    SecureEl0 = 1,
    /// 2: S-EL1.
    SecureEl1 = 2,
    /// 3: AArch32 supervisor mode (Hafnium extension).
    Supervisor = 3,
    /// 4: AArch32 secure user mode (Hafnium extension).
    SecureUser = 4,
    /// 5: AArch32 secure supervisor mode (Hafnium extension).
    SecureSupervisor = 5,
    /// 6: non-secure EL0 (Hafnium extension).
    El0 = 6,
}

impl ExceptionLevel {
    /// Decodes the manifest value.
    pub fn from_value(value: u32) -> Option<Self> {
        Some(match value {
            0 => Self::El1,
            1 => Self::SecureEl0,
            2 => Self::SecureEl1,
            3 => Self::Supervisor,
            4 => Self::SecureUser,
            5 => Self::SecureSupervisor,
            6 => Self::El0,
            _ => return None,
        })
    }

    /// Whether the level is one of the AArch32-only processor modes.
    pub fn is_aarch32_mode(self) -> bool {
        matches!(self, Self::Supervisor | Self::SecureUser | Self::SecureSupervisor)
    }

    /// Whether a partition at this level is a secure partition.
    pub fn is_secure(self) -> bool {
        matches!(
            self,
            Self::SecureEl0 | Self::SecureEl1 | Self::SecureUser | Self::SecureSupervisor
        )
    }

    /// Whether the level is EL1 or S-EL1 (or their AArch32 supervisor modes): the levels
    /// managed exit is offered to.
    pub fn is_el1_class(self) -> bool {
        matches!(self, Self::El1 | Self::SecureEl1 | Self::Supervisor | Self::SecureSupervisor)
    }
}

/// The execution state (`execution-state`, and `exec_state` in the SPMC manifest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutionState {
    /// 0: AArch64.
    AArch64 = 0,
    /// 1: AArch32.
    AArch32 = 1,
}

impl ExecutionState {
    /// Decodes the manifest value.
    pub fn from_value(value: u32) -> Option<Self> {
        match value {
            0 => Some(Self::AArch64),
            1 => Some(Self::AArch32),
            _ => None,
        }
    }
}

/// The translation granule (`xlat-granule`); region page counts are in these units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TranslationGranule {
    /// 0: 4 KiB.
    Size4KiB = 0,
    /// 1: 16 KiB.
    Size16KiB = 1,
    /// 2: 64 KiB.
    Size64KiB = 2,
}

impl TranslationGranule {
    /// Decodes the manifest value.
    pub fn from_value(value: u32) -> Option<Self> {
        match value {
            0 => Some(Self::Size4KiB),
            1 => Some(Self::Size16KiB),
            2 => Some(Self::Size64KiB),
            _ => None,
        }
    }

    /// The granule size in bytes.
    pub fn bytes(self) -> u64 {
        match self {
            Self::Size4KiB => 0x1000,
            Self::Size16KiB => 0x4000,
            Self::Size64KiB => 0x1_0000,
        }
    }
}

/// What the partition manager does with a non-secure interrupt while the partition runs
/// (`ns-interrupts-action`, or the deprecated `managed-exit` flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NsInterruptsAction {
    /// 0: the interrupt is queued until the partition yields.
    Queued = 0,
    /// 1: the partition is told (managed exit), then the interrupt is signaled.
    ManagedExit = 1,
    /// 2: the interrupt is signaled at once.
    Signaled = 2,
}

impl NsInterruptsAction {
    /// Decodes the manifest value.
    pub fn from_value(value: u32) -> Option<Self> {
        match value {
            0 => Some(Self::Queued),
            1 => Some(Self::ManagedExit),
            2 => Some(Self::Signaled),
            _ => None,
        }
    }
}

bitflags! {
    /// `messaging-method`: the messaging a partition supports (same bit positions as the
    /// partition properties of FFA_PARTITION_INFO_GET).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct MessagingMethod: u32 {
        /// Bit 0: receives FFA_MSG_SEND_DIRECT_REQ.
        const RECEIVE_DIRECT_REQUEST = 1 << 0;
        /// Bit 1: sends FFA_MSG_SEND_DIRECT_REQ.
        const SEND_DIRECT_REQUEST = 1 << 1;
        /// Bit 2: sends and receives indirect messages.
        const INDIRECT = 1 << 2;
        /// Bit 9: receives FFA_MSG_SEND_DIRECT_REQ2.
        const RECEIVE_DIRECT_REQUEST2 = 1 << 9;
        /// Bit 10: sends FFA_MSG_SEND_DIRECT_REQ2.
        const SEND_DIRECT_REQUEST2 = 1 << 10;
    }
}

bitflags! {
    /// `power-management-messages`: the power events a partition subscribes to.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct PowerManagementMessages: u32 {
        /// Bit 0: CPU_OFF.
        const CPU_OFF = 1 << 0;
        /// Bit 1: CPU_SUSPEND.
        const CPU_SUSPEND = 1 << 1;
        /// Bit 2: CPU_SUSPEND_RESUME.
        const CPU_SUSPEND_RESUME = 1 << 2;
    }
}

bitflags! {
    /// `vm-availability-messages`: the VM lifecycle messages a partition subscribes to.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct VmAvailabilityMessages: u32 {
        /// Bit 0: VM created.
        const VM_CREATED = 1 << 0;
        /// Bit 1: VM destroyed.
        const VM_DESTROYED = 1 << 1;
    }
}

bitflags! {
    /// A region's `attributes`: access permissions and security state.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct RegionAttributes: u32 {
        /// 0x1: readable.
        const READ = 0x1;
        /// 0x2: writable.
        const WRITE = 0x2;
        /// 0x4: executable.
        const EXECUTE = 0x4;
        /// 0x8: non-secure memory (security state bit set).
        const NON_SECURE = 0x8;
    }
}
