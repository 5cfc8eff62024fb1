//! The conformance server's view of the partition's memory: retrieved pages at IPA = PA.

use conformance::server::ServerMemory;
use conformance::AccessFault;

/// Memory the partition retrieved, reached at the addresses the retrieve response reports (its
/// stage-2 maps borrowed pages at IPA = PA and its MMU is off).
#[derive(Debug)]
pub struct RetrievedMemory;

impl ServerMemory for RetrievedMemory {
    fn read(&mut self, address: u64, bytes: &mut [u8]) -> Result<(), AccessFault> {
        for (offset, byte) in bytes.iter_mut().enumerate() {
            let at = address.checked_add(offset as u64).ok_or(AccessFault)?;
            // SAFETY: the server reads only pages a retrieve it made reported (and has not
            // relinquished: `Probe` is refused because `survives_faults` is false), which the
            // SPMC mapped into this partition's stage-2 at IPA = PA.
            *byte = unsafe { core::ptr::read_volatile(at as *const u8) };
        }
        Ok(())
    }

    fn write(&mut self, address: u64, bytes: &[u8]) -> Result<(), AccessFault> {
        for (offset, byte) in bytes.iter().enumerate() {
            let at = address.checked_add(offset as u64).ok_or(AccessFault)?;
            // SAFETY: as for `read`: a page of memory this partition retrieved. A read-only
            // grant faults at S-EL2 and the SPMC aborts the partition (nothing here survives
            // it), so the suite asks for writes only where it was granted read-write.
            unsafe { core::ptr::write_volatile(at as *mut u8, *byte) };
        }
        Ok(())
    }

    /// A refused access stops the partition (the SPMC marks it aborted), so it never comes
    /// back as [`AccessFault`].
    fn survives_faults(&self) -> bool {
        false
    }
}
