//! A partition manager's view of endpoint memory: RX/TX buffers checked against the endpoint's
//! stage 2 and the physical memory map (the `EndpointMemory` of both managers).

use ffa_core::{EndpointId, FfaError};
use spmc::partition_manager::{EndpointMemory, Role};

use super::{lock, Access, Mailbox, SecurityState, SharedMemory, SystemMemory};
use crate::address::{IntermediateAddress, PhysicalAddress, PAGE_SIZE};

/// A mapped RX or TX buffer: an index into the system's mailbox table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailboxBuffer(usize);

/// The memory as one partition manager sees it.
#[derive(Debug, Clone)]
pub struct ManagerMemory {
    system: SharedMemory,
    role: Role,
}

impl ManagerMemory {
    /// The view of the manager in `role`.
    pub fn new(system: SharedMemory, role: Role) -> Self {
        Self { system, role }
    }

    /// The physical pages of a buffer `endpoint` offers at `address`, or the FF-A error for
    /// memory it cannot offer (DENIED, matrix D20).
    fn resolve(
        &self,
        system: &SystemMemory,
        endpoint: EndpointId,
        address: u64,
        page_count: u32,
    ) -> Result<Vec<PhysicalAddress>, FfaError> {
        let local = endpoint.is_secure() == self.role.local_is_secure();
        let mut pages = Vec::new();
        for index in 0..u64::from(page_count) {
            let offset = index.checked_mul(PAGE_SIZE).ok_or(FfaError::InvalidParameters)?;
            let page = address.checked_add(offset).ok_or(FfaError::InvalidParameters)?;
            let physical = if local {
                // A local endpoint names its own (intermediate) addresses: its stage 2 decides.
                system
                    .translate(endpoint, IntermediateAddress(page), Access::READ_WRITE)
                    .map_err(|_| FfaError::Denied)?
            } else if self.role == Role::Spmc {
                // The normal world names physical addresses, which must be non-secure memory.
                let physical = PhysicalAddress(page);
                match system.physical().region_of(physical) {
                    Some(region) if region.security == SecurityState::NonSecure => physical,
                    _ => return Err(FfaError::Denied),
                }
            } else {
                return Err(FfaError::Denied);
            };
            pages.push(physical);
        }
        Ok(pages)
    }

    /// The physical address of byte `offset` of a mapped buffer.
    fn locate(
        system: &SystemMemory,
        buffer: MailboxBuffer,
        offset: usize,
    ) -> Result<PhysicalAddress, FfaError> {
        let mailbox = system
            .mailboxes
            .get(buffer.0)
            .and_then(Option::as_ref)
            .ok_or(FfaError::InvalidParameters)?;
        let page =
            mailbox.pages.get(offset / PAGE_SIZE as usize).ok_or(FfaError::InvalidParameters)?;
        page.checked_add(offset as u64 % PAGE_SIZE).ok_or(FfaError::InvalidParameters)
    }

    /// Copies between a buffer and `length` bytes, one page-bounded piece at a time.
    fn pieces(
        system: &SystemMemory,
        buffer: MailboxBuffer,
        offset: usize,
        length: usize,
    ) -> Result<Vec<(PhysicalAddress, usize, usize)>, FfaError> {
        let mailbox = system
            .mailboxes
            .get(buffer.0)
            .and_then(Option::as_ref)
            .ok_or(FfaError::InvalidParameters)?;
        let size = mailbox.pages.len() * PAGE_SIZE as usize;
        let end = offset.checked_add(length).ok_or(FfaError::InvalidParameters)?;
        if end > size {
            return Err(FfaError::InvalidParameters);
        }
        let mut pieces = Vec::new();
        let mut done = 0;
        while done < length {
            let position = offset + done;
            let piece = (length - done).min(PAGE_SIZE as usize - position % PAGE_SIZE as usize);
            pieces.push((Self::locate(system, buffer, position)?, done, piece));
            done += piece;
        }
        Ok(pieces)
    }
}

impl EndpointMemory for ManagerMemory {
    type Buffer = MailboxBuffer;

    fn map_buffer(
        &mut self,
        endpoint: EndpointId,
        address: u64,
        page_count: u32,
    ) -> Result<MailboxBuffer, FfaError> {
        if address % PAGE_SIZE != 0 || page_count == 0 {
            return Err(FfaError::InvalidParameters);
        }
        let mut system = lock(&self.system);
        let pages = self.resolve(&system, endpoint, address, page_count)?;
        // Matrix D19: pages that already are another endpoint's buffer.
        let taken = system.mailboxes().any(|mailbox| {
            mailbox.owner != endpoint && mailbox.pages.iter().any(|page| pages.contains(page))
        });
        if taken {
            return Err(FfaError::InvalidParameters);
        }
        system.mailboxes.push(Some(Mailbox { manager: self.role, owner: endpoint, pages }));
        Ok(MailboxBuffer(system.mailboxes.len() - 1))
    }

    fn unmap_buffer(&mut self, buffer: MailboxBuffer) {
        if let Some(slot) = lock(&self.system).mailboxes.get_mut(buffer.0) {
            *slot = None;
        }
    }

    fn write(
        &mut self,
        buffer: MailboxBuffer,
        offset: usize,
        bytes: &[u8],
    ) -> Result<(), FfaError> {
        let mut system = lock(&self.system);
        for (physical, start, length) in Self::pieces(&system, buffer, offset, bytes.len())? {
            let source = bytes.get(start..start + length).ok_or(FfaError::InvalidParameters)?;
            system.physical.write(physical, source).map_err(|_| FfaError::InvalidParameters)?;
        }
        Ok(())
    }

    fn read(
        &mut self,
        buffer: MailboxBuffer,
        offset: usize,
        bytes: &mut [u8],
    ) -> Result<(), FfaError> {
        let system = lock(&self.system);
        for (physical, start, length) in Self::pieces(&system, buffer, offset, bytes.len())? {
            let target = bytes.get_mut(start..start + length).ok_or(FfaError::InvalidParameters)?;
            system.physical.read(physical, target).map_err(|_| FfaError::InvalidParameters)?;
        }
        Ok(())
    }
}
