//! A deterministic in-process model of the whole FF-A stack, for host tests.
//!
//! The model runs the real partition manager core twice, as the real stack does: a forwarder
//! (the hypervisor at NS-EL2, whose local endpoints are VMs 1..N) and an SPMC (S-EL2, whose
//! local endpoints are the secure partitions), joined through a modelled SPMD. Endpoints are
//! ordinary Rust programs that make FF-A calls through [`ModelConduit`] (an
//! `ffa_core::Conduit`), typically with `ffa_guest_driver::Driver`; each execution context
//! runs on its own thread, and a baton lets exactly one run at a time, so every run is the
//! same run. Memory is simulated: one physical memory, a stage-2 translation per endpoint
//! (a VM's addresses are not physical addresses), and RX/TX buffers that the managers and
//! the drivers really share.
//!
//! ```
//! use ffa_core::EndpointId;
//! use ffa_guest_driver::Driver;
//! use host_model::endpoints::{secure_partition, test_uuid};
//! use host_model::partitions::test_service;
//! use host_model::{ModelBuffers, ModelBuilder};
//!
//! let report = ModelBuilder::new()
//!     .partition(secure_partition(0x8001, test_uuid(1)), test_service)
//!     .run(|conduit, _memory| {
//!         let mut driver = Driver::<_, ModelBuffers>::new(conduit).expect("bring-up");
//!         driver.direct_request_32(EndpointId(0x8001), [41, 0, 0, 0, 0])
//!     })
//!     .expect("the model runs");
//! assert_eq!(report.value.expect("answered"), [42, 0, 0, 0, 0]);
//! ```
//!
//! See the book's "host model" chapter for the design and how to add a test.

pub mod address;
mod baton;
pub mod builder;
mod dispatcher;
pub mod endpoints;
mod hypervisor;
pub mod memory;
pub mod partitions;
pub mod platform;
pub mod report;
pub mod suite;

pub use address::{IntermediateAddress, PhysicalAddress, PAGE_SIZE};
pub use baton::{fault, Failure, ModelConduit};
pub use builder::{ModelBuilder, PartitionProgram};
pub use dispatcher::MAX_CPUS;
pub use memory::{GuestMemory, ModelBuffers};
pub use platform::PlatformAction;
pub use report::{ModelError, Report, StoppedContext, TraceEntry, TraceEvent};
