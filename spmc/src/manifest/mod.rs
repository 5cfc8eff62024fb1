//! FF-A manifests read from device tree blobs without allocation: partition manifests
//! (bindings 1.0 and 1.1) and the SPMC core manifest.
//!
//! Every value is checked; a rejected manifest yields a [`ManifestError`] naming the node and
//! property, e.g. `memory-regions/rx: pages-count: missing`. See `spmc/MANIFEST.md` for the
//! properties read, their defaults and the checks.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::panic))]

mod blob;
mod core_manifest;
mod error;
mod node;
mod partition;
mod regions;
mod uuid;
mod values;

pub use core_manifest::{SpmcManifest, MAX_PARTITION_PACKAGES};
pub use error::{ManifestError, NodePath, Problem, ValueKind, NODE_PATH_CAPACITY};
pub use partition::{PartitionManifest, Service, MAX_SERVICES};
pub use regions::{
    DeviceRegion, Interrupt, InterruptKind, MemoryRegion, RegionAddress, RxTxBuffer,
    MAX_DEVICE_REGIONS, MAX_INTERRUPTS_PER_DEVICE, MAX_MEMORY_REGIONS,
};
pub use uuid::Uuid;
pub use values::{
    BindingVersion, ExceptionLevel, ExecutionState, FfaVersion, MessagingMethod,
    NsInterruptsAction, PowerManagementMessages, RegionAttributes, TranslationGranule,
    VmAvailabilityMessages,
};

/// Fuzzing entry point: parses `data` as both kinds of manifest, ignoring the result.
/// It must never panic, whatever `data` holds.
#[doc(hidden)]
pub fn fuzz_parse_manifest(data: &[u8]) {
    if let Ok(manifest) = PartitionManifest::parse(data) {
        // Touch the borrowed parts so the whole result is materialised.
        let _ = manifest.description.map(str::len);
    }
    let _ = SpmcManifest::parse(data);
}
