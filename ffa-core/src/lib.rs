//! The Arm Firmware Framework for A-profile (FF-A) ABI as checked types: no_std, no alloc, no unsafe.
//!
//! Every value that arrives from a peer (registers, descriptors in an RX/TX buffer) is parsed
//! into a checked type or rejected with the [`FfaError`] the specification names; nothing in
//! this crate panics on input.
//!
//! # Registers
//!
//! A partition manager decodes what an endpoint put in x0-x17 and encodes its answer. This is
//! the direct request Linux 6.12's OP-TEE driver sends first (GET_API_VERSION):
//!
//! ```
//! use ffa_core::call::{Call, Return};
//! use ffa_core::direct_message::{DirectBody, DirectMessage};
//! use ffa_core::{EndpointId, Version};
//!
//! let mut registers = [0u64; 18];
//! registers[0] = 0x8400_006F; // FFA_MSG_SEND_DIRECT_REQ_32
//! registers[1] = 0x0001_8001; // from VM 1 to partition 0x8001
//! let Ok(Call::MsgSendDirectReq(request)) = Call::decode(&registers, Version::V1_1) else {
//!     panic!("a valid direct request");
//! };
//! assert_eq!((request.source, request.destination), (EndpointId(1), EndpointId(0x8001)));
//!
//! // The partition's answer travels back with source and destination swapped.
//! let answer = Return::DirectResponse(DirectMessage {
//!     source: request.destination,
//!     destination: request.source,
//!     body: DirectBody::Partition32([1, 0, 0, 0, 0]),
//! });
//! let encoded = answer.encode(Version::V1_1);
//! assert_eq!(&encoded[..4], &[0x8400_0070, 0x8001_0001, 0, 1]);
//!
//! // An SMC32 call uses only w1-w7: the upper halves are ignored, as the SMCCC says.
//! registers[1] |= 0xFFFF_FFFF << 32;
//! assert!(Call::decode(&registers, Version::V1_1).is_ok());
//! // Reserved fields are refused with the error the specification names, never a panic:
//! // before v1.2, w2 of a partition message must be zero (conformance matrix M04).
//! registers[2] = 1;
//! assert_eq!(Call::decode(&registers, Version::V1_1), Err(ffa_core::FfaError::InvalidParameters));
//! ```
//!
//! ## Cost
//!
//! The calls of a message round trip (direct request/response, REQ2/RESP2, MSG_WAIT, RUN,
//! SUCCESS/ERROR, YIELD/INTERRUPT) decode with one table lookup of the function ID, one `match`
//! and straight-line masked register loads, built directly into the result; they encode as one
//! register array built in place. Instructions per call from `benches/registers.rs` (callgrind,
//! `cargo xtask bench`; about 20 of each figure is the benchmark's own harness), on the x86-64
//! host in the release profile and, in brackets, built as the firmware is (`opt-level = "s"`,
//! LTO, one codegen unit), before and after the codec was reworked for speed:
//!
//! | case | before | after |
//! |---|---:|---:|
//! | decode DIRECT_REQ_32 (v1.1) | 395 (320) | 139 (159) |
//! | decode DIRECT_REQ_64 (v1.2, x8-x17 set) | 407 (299) | 133 (153) |
//! | decode DIRECT_REQ2 (v1.2) | 430 (449) | 129 (182) |
//! | decode MSG_WAIT | 290 (181) | 86 (90) |
//! | `Return::decode` of DIRECT_RESP_32 | 512 (465) | 256 (305) |
//! | encode DIRECT_RESP_32 (`Return`) | 321 (327) | 80 (97) |
//! | encode DIRECT_RESP2 (`Return`) | 390 (506) | 89 (92) |
//! | encode SUCCESS (`Return`) | 280 (334) | 88 (130) |
//! | encode ERROR (`Return`) | 239 (268) | 71 (76) |
//! | encode RUN (`Call`) | 192 (152) | 71 (87) |
//!
//! # Memory transaction descriptors
//!
//! The MEM_SHARE descriptor Linux 6.12 wrote into its TX buffer (96 bytes, v1.1 layout):
//!
//! ```
//! use ffa_core::memory::{DataAccess, Layout, TransactionDescriptor};
//! use ffa_core::EndpointId;
//!
//! let words: [u32; 24] = [
//!     0x002f0001, 0, 0, 0, 0, 0, 0x10, 1, 0x30, 0, 0, 0, 0x00028001, 0x40, 0, 0,
//!     1, 1, 0, 0, 0x402db000, 0, 1, 0,
//! ];
//! let bytes: Vec<u8> = words.iter().flat_map(|word| word.to_le_bytes()).collect();
//! let descriptor = TransactionDescriptor::parse(&bytes, Layout::V1_1).expect("valid");
//! assert_eq!(descriptor.header.fields.sender, EndpointId(1));
//! let receiver = descriptor.header.receivers.get(0).expect("one receiver");
//! assert_eq!(receiver.receiver, EndpointId(0x8001));
//! assert_eq!(receiver.permissions.data, DataAccess::ReadWrite);
//! let ranges: Vec<_> = descriptor.constituents.iter().collect();
//! assert_eq!((ranges[0].address, ranges[0].page_count), (0x402d_b000, 1));
//!
//! // A descriptor cut short is an error, not a panic.
//! assert!(TransactionDescriptor::parse(&bytes[..90], Layout::V1_1).is_err());
//! ```
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
pub mod memory;
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
