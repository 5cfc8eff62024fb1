//! The FF-A memory transaction ledger: page ownership and access states, validation, handles.
//!
//! A [`Ledger`] keeps, in caller-provided pools ([`LedgerStorage`], or [`Pools`] for a
//! `static`), the memory map (which endpoint owns which pages), every memory transaction
//! (SHARE, LEND, DONATE) from its first fragment to its reclaim, and which borrower holds what.
//! It drives the endpoints' translation tables through [`AddressSpace`]. Every operation
//! checks everything first and then applies; a failed operation changes nothing (a failed
//! address-space step is undone). Rules: reference §7, conformance MM01-MM33 and D21; the
//! states are drawn in `docs/src/ledger.md`.
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::panic))]

mod address_space;
mod apply;
mod fuzz;
mod heap_sort;
mod ledger;
mod region;
mod release;
mod retrieve;
mod send;
mod storage;

pub use address_space::{AddressSpace, NullAddressSpace};
pub use fuzz::fuzz_operations;
pub use ledger::{Capacity, Ledger};
pub use region::{MemoryKind, Region};
pub use retrieve::{RangeCursor, RetrieveArguments, TransactionInfo};
pub use send::{PendingSend, SendRequest};
pub use storage::{IndexEntry, LedgerStorage, Pools, RangeSlot, ReceiverSlot, TransactionSlot};
