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
pub mod memory;
