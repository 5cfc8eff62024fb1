//! The Arm Firmware Framework for A-profile (FF-A) ABI as checked types: no_std, no alloc, no unsafe.
//!
//! Every value that arrives from a peer (registers, descriptors in an RX/TX buffer) is parsed
//! into a checked type or rejected with the [`FfaError`] the specification names; nothing in
//! this crate panics on input.
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::panic))]

pub mod error;
pub mod ids;

pub use error::FfaError;
pub use ids::{EndpointId, TargetInfo, VcpuId};

// FF-A ABI: function IDs, versions, the register codec and the register/buffer formats.
pub mod call;
pub mod conduit;
pub mod direct_message;
pub mod features;
pub mod framework_message;
pub mod function_id;
pub mod indirect_message;
pub mod notification;
pub mod partition_info;
pub mod rxtx;
pub mod uuid;
pub mod version;

pub use call::{Call, Return, SuccessArgs};
pub use conduit::Conduit;
pub use function_id::FunctionId;
pub use uuid::Uuid;
pub use version::Version;
