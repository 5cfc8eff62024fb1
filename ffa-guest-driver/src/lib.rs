//! An FF-A endpoint driver for guest kernels and secure partitions, generic over the conduit.
//!
//! [`Driver`] speaks FF-A v1.0-v1.2 to any conformant partition manager (Hafnium, TF-A's SPMC,
//! OP-TEE's SPMC, pKVM, Xen, ours) through a [`ffa_core::Conduit`] (SMC or HVC): bring-up,
//! partition discovery, direct and indirect messaging, notifications, memory sharing with
//! automatic fragmentation, the partition-side service loop, and a TEE-agnostic layer
//! ([`tee`]) on top. It needs no heap: the kernel lends it RX/TX buffers through [`Buffers`].
//! See `DRIVER.md` for the integration guide.
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::panic))]

pub mod buffers;
pub mod discovery;
pub mod driver;
pub mod error;
pub mod features;
pub mod memory;
pub mod messaging;
pub mod notifications;
pub mod partition;
pub mod tee;

mod message_header;
mod partition_info_descriptor;
mod transaction_descriptor;

pub use buffers::{BufferRequirements, Buffers, SliceBuffers};
pub use discovery::{PartitionInfo, PartitionProperties};
pub use driver::{Driver, MapError};
pub use error::{DriverError, ErrorKind, Result};
pub use features::Features;
pub use memory::{
    AccessPermissions, MemoryAttributes, MemoryHandle, MemoryOperation, PageRange, Receiver,
};
