//! The SPMC's side of memory sharing: partitions' stage-2 changes for the core's ledger.
//!
//! Partitions see memory they retrieve at IPA = PA (as under Hafnium), in their secure
//! stage-2, with the NS bit set for normal-world memory. Before anything is mapped for a
//! partition, the range is checked (`platform_common::grantable`) to be either partition memory
//! (secure RAM some partition owns) or normal-world DRAM (`board::NORMAL_WORLD_MEMORY`, which
//! holds no secure memory and none of the SPMC's): the SPMC never maps its own memory, the
//! monitor's, or a device for a partition. The normal world's endpoints have no stage-2 here (the hypervisor keeps its VMs'),
//! so mapping and unmapping for them changes nothing.

use ffa_core::memory::{AccessPermissions, AddressRange, DataAccess, InstructionAccess, PAGE_SIZE};
use ffa_core::{EndpointId, FfaError};
use memory_sharing::AddressSpace;
use platform_common::board::NORMAL_WORLD_MEMORY;
use platform_common::grantable::{self, Grantable};
use platform_common::stage2::{MapError, PageAccess};
use spmc::partition_manager::{MemoryPlatform, PhysicalRun};

use crate::stage2::{self, MAXIMUM_PARTITIONS, PARTITION_BLOCK};

/// The partitions' stage-2 tables as the core's memory platform.
#[derive(Debug)]
pub struct PartitionStage2 {
    /// Each partition slot's ID and the base of its 2 MiB block.
    partitions: [Option<(EndpointId, u64)>; MAXIMUM_PARTITIONS],
}

impl PartitionStage2 {
    /// `partitions` gives each slot's ID and memory block base (as `stage2::build` mapped it).
    pub fn new(partitions: [Option<(EndpointId, u64)>; MAXIMUM_PARTITIONS]) -> Self {
        Self { partitions }
    }

    fn slot(&self, endpoint: EndpointId) -> Option<(usize, u64)> {
        self.partitions.iter().enumerate().find_map(|(index, partition)| match partition {
            Some((id, base)) if *id == endpoint => Some((index, *base)),
            _ => None,
        })
    }

    /// Checks `range` is partition memory or normal-world DRAM, wholly (DENIED otherwise).
    fn place(&self, range: AddressRange) -> Result<(u64, u64, Grantable), FfaError> {
        let length = u64::from(range.page_count)
            .checked_mul(PAGE_SIZE)
            .ok_or(FfaError::InvalidParameters)?;
        let blocks = self.partitions.iter().flatten().map(|&(_, base)| base);
        let place = grantable::classify(
            range.address,
            length,
            blocks,
            PARTITION_BLOCK,
            &NORMAL_WORLD_MEMORY,
        )
        .ok_or(FfaError::Denied)?;
        Ok((range.address, length, place))
    }
}

fn map_error(error: MapError) -> FfaError {
    match error {
        MapError::NoTables => FfaError::NoMemory,
        MapError::Unaligned | MapError::OutOfRange => FfaError::InvalidParameters,
        MapError::Overlap | MapError::NotMapped => FfaError::Denied,
    }
}

impl AddressSpace for PartitionStage2 {
    fn map(
        &mut self,
        endpoint: EndpointId,
        range: AddressRange,
        permissions: AccessPermissions,
    ) -> Result<(), FfaError> {
        let Some((slot, base)) = self.slot(endpoint) else {
            // A normal-world endpoint: its stage-2 is the hypervisor's.
            return Ok(());
        };
        let (address, length, place) = self.place(range)?;
        // "Not specified" for the owner's own pages means its usual mapping (executable).
        let own = address >= base && address + length <= base + PARTITION_BLOCK;
        let access = PageAccess {
            write: permissions.data == DataAccess::ReadWrite,
            execute: permissions.instruction == InstructionAccess::Executable
                || (own && permissions.instruction == InstructionAccess::NotSpecified),
            non_secure: place == Grantable::NormalWorld,
        };
        stage2::map_shared(slot, address, length, access).map_err(map_error)
    }

    fn unmap(&mut self, endpoint: EndpointId, range: AddressRange) -> Result<(), FfaError> {
        let Some((slot, _)) = self.slot(endpoint) else { return Ok(()) };
        // A partition relinquishes, or lends its own pages: the end of a memory call's deep
        // path (its retrieve came first), a good moment to see how deep the stacks have been
        // (and off the messaging path, which pays nothing for it).
        crate::stack::report();
        let (address, length, _) = self.place(range)?;
        stage2::unmap(slot, address, length).map_err(map_error)
    }

    fn zero(&mut self, range: AddressRange) {
        // The ledger zeroes only ranges of its memory map; checked again all the same.
        let Ok((address, length, _)) = self.place(range) else { return };
        for offset in (0..length).step_by(8) {
            // SAFETY: `place` confirmed the range is partition memory or normal-world DRAM,
            // never the SPMC's own; the SPMC runs with its MMU off, so the physical address is
            // used as is. The ledger zeroes memory no endpoint has access to at this point.
            unsafe { core::ptr::write_volatile((address + offset) as *mut u64, 0) };
        }
    }
}

impl MemoryPlatform for PartitionStage2 {
    /// A partition's addresses are physical within its own block.
    fn translate(&mut self, endpoint: EndpointId, address: u64) -> Result<PhysicalRun, FfaError> {
        let (_, base) = self.slot(endpoint).ok_or(FfaError::Denied)?;
        let offset = address.checked_sub(base).ok_or(FfaError::Denied)?;
        if offset >= PARTITION_BLOCK {
            return Err(FfaError::Denied);
        }
        Ok(PhysicalRun {
            address: address & !(PAGE_SIZE - 1),
            page_count: (PARTITION_BLOCK - (offset & !(PAGE_SIZE - 1))) / PAGE_SIZE,
        })
    }
}
