//! The stage-2 (or stage-1) mappings the ledger drives: map, unmap and zero page ranges.

use ffa_core::memory::{AccessPermissions, AddressRange};
use ffa_core::{EndpointId, FfaError};

/// The translation tables of every endpoint, as the ledger sees them.
///
/// Addresses are the same for every endpoint (the ledger does not translate between a
/// sender's and a borrower's address spaces). A failed `map` or `unmap` must leave that range
/// as it was; the ledger then undoes its earlier steps of the same operation, so every
/// operation either fully happens or changes no mapping. `zero` cannot fail; it is done before
/// anything is mapped for a new reader, so a later failed step may leave memory zeroed that
/// nobody could read anyway.
pub trait AddressSpace {
    /// Maps `range` for `endpoint` with `permissions` (for the owner's own pages: data RW or
    /// RO, instruction "not specified", meaning the owner's usual mapping).
    fn map(
        &mut self,
        endpoint: EndpointId,
        range: AddressRange,
        permissions: AccessPermissions,
    ) -> Result<(), FfaError>;

    /// Removes `range` from `endpoint`'s mappings.
    fn unmap(&mut self, endpoint: EndpointId, range: AddressRange) -> Result<(), FfaError>;

    /// Fills `range` with zeros.
    fn zero(&mut self, range: AddressRange);
}

/// An address space that records nothing and never fails (for fuzzing and benchmarks).
#[derive(Debug, Clone, Copy, Default)]
pub struct NullAddressSpace;

impl AddressSpace for NullAddressSpace {
    fn map(
        &mut self,
        _: EndpointId,
        _: AddressRange,
        _: AccessPermissions,
    ) -> Result<(), FfaError> {
        Ok(())
    }

    fn unmap(&mut self, _: EndpointId, _: AddressRange) -> Result<(), FfaError> {
        Ok(())
    }

    fn zero(&mut self, _: AddressRange) {}
}
