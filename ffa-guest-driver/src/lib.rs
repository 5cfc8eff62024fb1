//! An FF-A endpoint driver for guest kernels and secure partitions, generic over the conduit.
#![no_std]
