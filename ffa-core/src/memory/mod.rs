//! FF-A memory-management descriptors (reference §7): checked value types, zero-copy views,
//! builders, layout conversion and fragmentation.
//!
//! Parsing never allocates and never needs a whole descriptor in one buffer: the ledger gets a
//! [`TransactionHeader`] (sender, attributes, flags, handle, tag, receivers) from the first
//! fragment and [`AddressRange`]s fragment by fragment from a [`TransactionReader`]. Every
//! rejection is the [`crate::FfaError`] the reference names (almost always INVALID_PARAMETERS).
//!
//! What this module does not check, because it needs state: that the sender is the caller
//! beyond [`TransactionHeader::check_send`], that ranges do not overlap each other or ranges in
//! flight (reference §7.10 rule 9), ownership, and retrieve requests against the stored
//! transaction.

mod attributes;
mod builder;
mod constituents;
mod convert;
mod flags;
mod handle;
mod header;
mod layout;
mod permissions;
mod reader;
mod receivers;
mod relinquish;
mod retrieve;
mod wire;

pub use attributes::{
    Cacheability, DeviceAttributes, MemoryRegionAttributes, MemoryType, Shareability,
};
pub use builder::{build_transaction, FragmentWriter};
pub use constituents::{AddressRange, ConstituentIter, Constituents, PAGE_SIZE};
pub use convert::convert_layout;
pub use flags::{ReceiverFlags, ReclaimFlags, RelinquishFlags, TransactionFlags, TransactionType};
pub use handle::{HandleAllocator, MemoryHandle};
pub use header::{CompositeHeader, TransactionFields, TransactionHeader};
pub use layout::Layout;
pub use permissions::{AccessPermissions, DataAccess, InstructionAccess};
pub use reader::{fragment_boundaries, TransactionDescriptor, TransactionReader};
pub use receivers::{ReceiverAccess, ReceiverIter, Receivers, MAX_RECEIVERS};
pub use relinquish::{build_relinquish, RelinquishDescriptor};
pub use retrieve::{build_hypervisor_retrieve_request, RetrieveRequest};

/// Runs every parser in this module on `data` (for a cargo-fuzz target); must never panic.
#[doc(hidden)]
pub fn fuzz_parse_descriptors(data: &[u8]) {
    for layout in Layout::ALL {
        if let Ok(descriptor) = TransactionDescriptor::parse(data, layout) {
            let header = descriptor.header;
            let _ = header.check_send(TransactionType::Share, header.fields.sender);
            let _ = header.check_retrieve_request();
            let _ = header.check_retrieve_response();
            for access in header.receivers.iter() {
                core::hint::black_box(access);
            }
            for range in descriptor.constituents.iter() {
                core::hint::black_box(range);
            }
        }
        let _ = RetrieveRequest::parse(data, layout);
        // Stream the same bytes in 16-byte fragments after a first fragment of every size
        // that could end the header part.
        let total = u32::try_from(data.len()).unwrap_or(u32::MAX);
        for first_length in (0..=data.len().min(256)).step_by(8) {
            let (first, rest) = data.split_at(first_length);
            if let Ok((mut reader, _, _)) = TransactionReader::start(first, total, layout) {
                for fragment in rest.chunks(16) {
                    if reader.next_fragment(fragment).is_err() {
                        break;
                    }
                }
                let _ = reader.finish();
            }
        }
        for to in Layout::ALL {
            let mut out = [0u8; 512];
            let _ = convert_layout(data, layout, &mut out, to);
        }
    }
    if let Ok(relinquish) = RelinquishDescriptor::parse(data) {
        let _ = relinquish.single_endpoint();
        for endpoint in relinquish.endpoints() {
            core::hint::black_box(endpoint);
        }
    }
}
