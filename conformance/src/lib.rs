//! An FF-A conformance suite: checks written once against the ABI, run on any implementation.
//!
//! Each [`Check`] follows a line of the conformance matrix (or a rule of the specification) and
//! says which. Checks talk to the implementation only through a [`ffa_core::Conduit`], so the
//! same code runs on the host model, inside a test VM on QEMU, or against another partition
//! manager. A check is skipped, not passed, when FFA_FEATURES says the call is not offered.
//!
//! Output, one line per check, then a closing count:
//!
//! ```text
//! Suite=setup_discovery : Test=d02_version_with_bit_31_is_not_supported : Result=Passed
//! Suite=setup_discovery : Test=d06_spm_id_get_succeeds : Result=Skipped (FFA_SPM_ID_GET is not offered)
//! Suite=direct_messaging : Test=m03_source_equal_to_destination : Result=Failed (expected FFA_ERROR(INVALID_PARAMETERS), got FFA_SUCCESS_32)
//! 2 passed, 1 failed, 1 skipped
//! ```
#![no_std]
#![forbid(unsafe_code)]

mod check;
mod context;
mod environment;
mod report;
mod runner;
pub mod server;
pub mod suites;

pub use check::{Check, Expected, Outcome};
pub use context::{Context, Endpoint};
pub use environment::{AccessFault, SuiteBuffers, SuiteMemory};
pub use report::{write_json, Summary};
pub use runner::{run, Selection};
