//! The FF-A memory transaction ledger: page ownership and access states, validation, handles.
#![no_std]
#![forbid(unsafe_code)]
