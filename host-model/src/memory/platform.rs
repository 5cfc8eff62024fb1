//! Memory sharing on the simulated stage 2: each manager's `MemoryPlatform` (translation of its
//! endpoints' addresses, map/unmap/zero for the ledger, the forwarder's buffer towards the SPMC).
//!
//! The ledger names physical pages. A page an endpoint loses (LEND, DONATE, relinquish) is
//! removed from its stage 2 at every address it had there, and remembered, so giving it back
//! (reclaim) maps it at the same addresses again; a page an endpoint gains without ever having
//! had it (a borrower's retrieve) is mapped at IPA = PA, which is the address retrieve
//! responses report.

use std::collections::BTreeMap;

use ffa_core::memory::{AccessPermissions, AddressRange, DataAccess, InstructionAccess};
use ffa_core::{EndpointId, FfaError};
use memory_sharing::AddressSpace;
use spmc::partition_manager::{MemoryPlatform, PhysicalRun, Role};

use super::{lock, Access, SharedMemory};
use crate::address::{IntermediateAddress, PhysicalAddress, PAGE_SIZE};

/// The longest run [`MemoryPlatform::translate`] reports at once (pages).
const LONGEST_RUN: u64 = 4096;

/// Where a page was before its endpoint lost it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ParkedPage {
    address: IntermediateAddress,
    access: Access,
}

/// One manager's memory platform: it changes the stage 2 of that manager's local endpoints
/// only (the other world's manager looks after its own).
#[derive(Debug)]
pub struct ModelPlatform {
    system: SharedMemory,
    role: Role,
    /// Pages local endpoints lost, by (endpoint, physical page number): every address the page
    /// was mapped at.
    parked: BTreeMap<(EndpointId, u64), Vec<ParkedPage>>,
    /// Forwarder: the hypervisor's TX buffer at the SPMC (physical) and its size in bytes.
    forward_buffer: Option<(PhysicalAddress, usize)>,
}

impl ModelPlatform {
    /// The platform of the manager in `role`; the forwarder's writes forwarded descriptors to
    /// `forward_buffer` (the hypervisor's TX buffer, mapped at the SPMC).
    pub fn new(
        system: SharedMemory,
        role: Role,
        forward_buffer: Option<(PhysicalAddress, usize)>,
    ) -> Self {
        Self { system, role, parked: BTreeMap::new(), forward_buffer }
    }

    fn local(&self, endpoint: EndpointId) -> bool {
        endpoint.is_secure() == self.role.local_is_secure()
    }

    /// How many pages endpoints of this manager have lost and not had back.
    pub fn parked_pages(&self) -> usize {
        self.parked.len()
    }
}

/// The physical page numbers of `range`.
fn pages(range: AddressRange) -> Result<std::ops::Range<u64>, FfaError> {
    let first = range.address / PAGE_SIZE;
    let end = first.checked_add(u64::from(range.page_count)).ok_or(FfaError::InvalidParameters)?;
    if range.address % PAGE_SIZE != 0 {
        return Err(FfaError::InvalidParameters);
    }
    Ok(first..end)
}

fn access_of(permissions: AccessPermissions, before: Option<Access>) -> Access {
    let mut access = Access::READ;
    match permissions.data {
        DataAccess::ReadOnly => {}
        DataAccess::ReadWrite => access |= Access::WRITE,
        // The owner's usual mapping.
        DataAccess::NotSpecified => {
            access |= before.map_or(Access::WRITE, |before| before & Access::WRITE)
        }
    }
    match permissions.instruction {
        InstructionAccess::Executable => access |= Access::EXECUTE,
        InstructionAccess::NotExecutable => {}
        InstructionAccess::NotSpecified => {
            access |= before.map_or(Access::empty(), |before| before & Access::EXECUTE)
        }
    }
    access
}

impl AddressSpace for ModelPlatform {
    fn map(
        &mut self,
        endpoint: EndpointId,
        range: AddressRange,
        permissions: AccessPermissions,
    ) -> Result<(), FfaError> {
        if !self.local(endpoint) {
            return Ok(());
        }
        let mut system = lock(&self.system);
        let space = system.space(endpoint).map_err(|_| FfaError::InvalidParameters)?;
        let mut plan = Vec::new();
        for page in pages(range)? {
            let places = match self.parked.get(&(endpoint, page)) {
                Some(parked) => parked
                    .iter()
                    .map(|place| (place.address, access_of(permissions, Some(place.access))))
                    .collect(),
                None => {
                    let address =
                        IntermediateAddress::of_page(page).ok_or(FfaError::InvalidParameters)?;
                    vec![(address, access_of(permissions, None))]
                }
            };
            for (address, access) in places {
                if space.translation.mapping(address).is_some() {
                    return Err(FfaError::Denied);
                }
                plan.push((page, address, access));
            }
        }
        for (page, address, access) in plan {
            let physical = PhysicalAddress::of_page(page).ok_or(FfaError::InvalidParameters)?;
            system
                .map(endpoint, address, physical, 1, access)
                .map_err(|_| FfaError::InvalidParameters)?;
            self.parked.remove(&(endpoint, page));
        }
        Ok(())
    }

    fn unmap(&mut self, endpoint: EndpointId, range: AddressRange) -> Result<(), FfaError> {
        if !self.local(endpoint) {
            return Ok(());
        }
        let mut system = lock(&self.system);
        let space = system.space(endpoint).map_err(|_| FfaError::InvalidParameters)?;
        let mut plan = Vec::new();
        for page in pages(range)? {
            let physical = PhysicalAddress::of_page(page).ok_or(FfaError::InvalidParameters)?;
            let places = space.translation.find_physical(physical);
            if places.is_empty() {
                return Err(FfaError::Denied);
            }
            plan.push((page, places));
        }
        for (page, places) in plan {
            let mut parked = Vec::new();
            for (address, mapping) in places {
                system.unmap(endpoint, address, 1).map_err(|_| FfaError::InvalidParameters)?;
                parked.push(ParkedPage { address, access: mapping.access });
            }
            self.parked.insert((endpoint, page), parked);
        }
        Ok(())
    }

    fn zero(&mut self, range: AddressRange) {
        let Ok(pages) = pages(range) else { return };
        let zeros = [0u8; PAGE_SIZE as usize];
        let mut system = lock(&self.system);
        for page in pages {
            if let Some(physical) = PhysicalAddress::of_page(page) {
                // Pages outside physical memory were never shareable: nothing to zero.
                let _ = system.physical_mut().write(physical, &zeros);
            }
        }
    }
}

impl MemoryPlatform for ModelPlatform {
    fn translate(&mut self, endpoint: EndpointId, address: u64) -> Result<PhysicalRun, FfaError> {
        if !self.local(endpoint) || address % PAGE_SIZE != 0 {
            return Err(FfaError::Denied);
        }
        let system = lock(&self.system);
        let space = system.space(endpoint).map_err(|_| FfaError::Denied)?;
        let first =
            space.translation.mapping(IntermediateAddress(address)).ok_or(FfaError::Denied)?;
        let mut page_count = 1;
        while page_count < LONGEST_RUN {
            let next = address.checked_add(page_count * PAGE_SIZE).map(IntermediateAddress);
            let expected = first.physical.checked_add(page_count * PAGE_SIZE);
            match (next.and_then(|next| space.translation.mapping(next)), expected) {
                (Some(mapping), Some(expected)) if mapping.physical == expected => page_count += 1,
                _ => break,
            }
        }
        Ok(PhysicalRun { address: first.physical.0, page_count })
    }

    fn forward_buffer_size(&self) -> usize {
        self.forward_buffer.map_or(0, |(_, size)| size)
    }

    fn write_forward_buffer(&mut self, offset: usize, bytes: &[u8]) -> Result<(), FfaError> {
        let (base, size) = self.forward_buffer.ok_or(FfaError::NotSupported)?;
        let end = offset.checked_add(bytes.len()).ok_or(FfaError::InvalidParameters)?;
        if end > size {
            return Err(FfaError::InvalidParameters);
        }
        let address = base.checked_add(offset as u64).ok_or(FfaError::InvalidParameters)?;
        lock(&self.system)
            .physical_mut()
            .write(address, bytes)
            .map_err(|_| FfaError::InvalidParameters)
    }
}
