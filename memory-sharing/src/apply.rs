//! Applying a checked operation to the address spaces, undoing every step if one fails.

use ffa_core::memory::{AccessPermissions, AddressRange};
use ffa_core::{EndpointId, FfaError};

use crate::address_space::AddressSpace;
use crate::ledger::{Ledger, RangeChain};
use crate::region::bounds;

impl Ledger<'_> {
    /// The permissions the owner has `range` mapped with (read-write unless its region is
    /// read-only).
    pub(crate) fn owner_permissions(&self, range: AddressRange) -> AccessPermissions {
        let (start, end) = bounds(range);
        self.map
            .containing(start, end)
            .map(|region| region.owner_permissions())
            .unwrap_or(AccessPermissions::READ_WRITE)
    }

    /// Maps every range of the chain from `head` for `endpoint` with `permissions(range)`; if
    /// one map fails, unmaps the ranges already mapped and returns the error.
    pub(crate) fn map_all(
        &self,
        endpoint: EndpointId,
        head: u32,
        permissions: impl Fn(AddressRange) -> AccessPermissions,
        space: &mut impl AddressSpace,
    ) -> Result<(), FfaError> {
        for (done, range) in RangeChain::new(self.ranges, head).enumerate() {
            if let Err(error) = space.map(endpoint, range, permissions(range)) {
                for undo in RangeChain::new(self.ranges, head).take(done) {
                    // Undoing a map we just made; a failure here has no better answer.
                    let _ = space.unmap(endpoint, undo);
                }
                return Err(error);
            }
        }
        Ok(())
    }

    /// Unmaps every range of the chain from `head` for `endpoint`; if one unmap fails, maps
    /// the ranges already unmapped back with `restore(range)` and returns the error.
    pub(crate) fn unmap_all(
        &self,
        endpoint: EndpointId,
        head: u32,
        restore: impl Fn(AddressRange) -> AccessPermissions,
        space: &mut impl AddressSpace,
    ) -> Result<(), FfaError> {
        for (done, range) in RangeChain::new(self.ranges, head).enumerate() {
            if let Err(error) = space.unmap(endpoint, range) {
                for undo in RangeChain::new(self.ranges, head).take(done) {
                    let _ = space.map(endpoint, undo, restore(undo));
                }
                return Err(error);
            }
        }
        Ok(())
    }

    /// Zeroes every range of the chain from `head`.
    pub(crate) fn zero_all(&self, head: u32, space: &mut impl AddressSpace) {
        for range in RangeChain::new(self.ranges, head) {
            space.zero(range);
        }
    }
}
