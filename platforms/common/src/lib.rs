//! Hardware glue shared by every aarch64 image: console, logging, power-off, exit codes.
#![no_std]

pub mod board;
pub mod boot_directory;
#[cfg(feature = "driver-buffers")]
pub mod driver_buffers;
pub mod el1_context;
pub mod entry;
pub mod exception_class;
pub mod grantable;
pub mod guest;
#[cfg(any(feature = "ledger-storage", test))]
pub mod ledger_storage;
pub mod logger;
pub mod memory_routines;
pub mod mmio;
pub mod pl011;
pub mod power;
pub mod semihosting;
pub mod smc;
pub mod stage2;
pub mod sysreg;
pub mod test_commands;
pub mod text;
