//! An FF-A conformance suite: checks written once against the ABI, run on any implementation.
#![no_std]
