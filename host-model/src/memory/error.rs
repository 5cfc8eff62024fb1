//! What can go wrong with simulated memory: faults of an access and errors of a setup step.

use core::fmt;

use ffa_core::EndpointId;

use super::Access;
use crate::address::{IntermediateAddress, PhysicalAddress};

/// A failed memory access or mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryError {
    /// The endpoint's stage 2 maps nothing at this address (a translation fault).
    NotMapped {
        /// The endpoint whose translation failed.
        endpoint: EndpointId,
        /// The address it used.
        address: IntermediateAddress,
    },
    /// The page is mapped, but not with the access that was needed (a permission fault).
    PermissionDenied {
        /// The endpoint whose access failed.
        endpoint: EndpointId,
        /// The address it used.
        address: IntermediateAddress,
        /// What it needed.
        needed: Access,
    },
    /// No physical memory exists at this address (an external abort on real hardware).
    NoPhysicalMemory(PhysicalAddress),
    /// An address or size that must be page-aligned is not.
    Misaligned(u64),
    /// The range runs past the end of the address space.
    Overflow,
    /// A new physical region or mapping overlaps one that exists.
    Overlap(u64),
    /// The endpoint's RAM has no room left for an allocation.
    OutOfMemory(EndpointId),
    /// The endpoint has no address space in the model.
    UnknownEndpoint(EndpointId),
}

impl fmt::Display for MemoryError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotMapped { endpoint, address } => {
                write!(
                    formatter,
                    "translation fault: endpoint {:#06x} has nothing at {address}",
                    endpoint.0
                )
            }
            Self::PermissionDenied { endpoint, address, needed } => write!(
                formatter,
                "permission fault: endpoint {:#06x} may not {needed:?} at {address}",
                endpoint.0
            ),
            Self::NoPhysicalMemory(address) => write!(formatter, "no physical memory at {address}"),
            Self::Misaligned(value) => write!(formatter, "{value:#x} is not 4 KiB aligned"),
            Self::Overflow => write!(formatter, "range runs past the end of the address space"),
            Self::Overlap(address) => write!(formatter, "overlaps what exists at {address:#x}"),
            Self::OutOfMemory(endpoint) => {
                write!(formatter, "endpoint {:#06x} has no RAM left", endpoint.0)
            }
            Self::UnknownEndpoint(endpoint) => {
                write!(formatter, "endpoint {:#06x} has no address space", endpoint.0)
            }
        }
    }
}

impl std::error::Error for MemoryError {}
