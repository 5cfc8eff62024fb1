//! The FF-A partition manager core, shared by the S-EL2 SPMC role and the NS-EL2 forwarder role.
#![no_std]

pub mod manifest;
pub mod package;
pub mod partition_manager;
