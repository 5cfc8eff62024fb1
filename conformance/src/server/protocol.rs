//! The command protocol between the suite and its server partitions: DIRECT_REQ_64 with a
//! command word in x3 and arguments in x4-x7; the answer carries a status in x3 and values in
//! x4-x7.

use ffa_core::memory::AccessPermissions;
use ffa_core::{EndpointId, FfaError};
use ffa_guest_driver::MemoryOperation;

/// The command words (x3 of the request). Any other x3 is the plain test service (x3 + 1).
pub mod word {
    /// Retrieve a handle (x4 handle, x5 sender | operation << 16 | permissions << 24, x6 tag,
    /// x7 more transaction flags).
    pub const RETRIEVE: u64 = 0xC0F0_0001;
    /// Write a value at both ends of every retrieved page (x4 handle, x5 value).
    pub const WRITE: u64 = 0xC0F0_0002;
    /// Read both ends of one retrieved page (x4 handle, x5 page index).
    pub const READ: u64 = 0xC0F0_0003;
    /// Relinquish a handle (x4 handle).
    pub const RELINQUISH: u64 = 0xC0F0_0004;
    /// Send an indirect message (x4 destination, x5 the 8-byte payload).
    pub const SEND_INDIRECT: u64 = 0xC0F0_0005;
    /// Read the indirect message in the server's RX buffer.
    pub const RECEIVE_INDIRECT: u64 = 0xC0F0_0006;
    /// Send retrieved memory on (x4 handle, x5 receiver, x6 operation 1-3).
    pub const SEND_MEMORY: u64 = 0xC0F0_0007;
    /// Read the first page of memory once retrieved, even after relinquish (x4 handle).
    pub const PROBE: u64 = 0xC0F0_0008;
    /// Reclaim a handle as if the server were its owner (x4 handle).
    pub const RECLAIM: u64 = 0xC0F0_0009;
    /// FFA_NOTIFICATION_BIND for the server (x4 sender | per-vCPU << 16, x5 bitmap).
    pub const BIND: u64 = 0xC0F0_000A;
    /// FFA_NOTIFICATION_UNBIND for the server (x4 sender, x5 bitmap).
    pub const UNBIND: u64 = 0xC0F0_000B;
    /// FFA_NOTIFICATION_SET from the server (x4 receiver | per-vCPU << 16 | delay SRI << 17 |
    /// vCPU << 32, x5 bitmap).
    pub const SET: u64 = 0xC0F0_000C;
    /// FFA_NOTIFICATION_GET for the server (x4 vCPU, x5 flags).
    pub const GET: u64 = 0xC0F0_000D;
    /// A retrieve request written by hand (x4 handle, x5 sender | operation << 16 |
    /// permissions << 24 | memory region attributes << 32, x6 and x7 the implementation-defined
    /// words of the server's access descriptor).
    pub const RETRIEVE_WITH_ATTRIBUTES: u64 = 0xC0F0_000E;
    /// While servicing this request, FFA_MSG_WAIT, a DIRECT_RESP to itself and a DIRECT_RESP
    /// to x4 (an endpoint other than the requester), then the real response.
    pub const SERVICING_RULES: u64 = 0xC0F0_000F;
    /// FFA_MEM_RELINQUISH of a handle with a hand-written flags word (x4 handle, x5 flags).
    pub const RELINQUISH_WITH_FLAGS: u64 = 0xC0F0_0010;
    /// A retrieve request written by hand with the lengths it claims in the call's w1 and w2
    /// replaced (x4 handle, x5 sender | operation << 16 | permissions << 24, x6 total length,
    /// x7 fragment length; 0 keeps the real length).
    pub const RETRIEVE_WITH_LENGTHS: u64 = 0xC0F0_0011;
    /// FFA_YIELD while servicing this request, then the response once resumed.
    pub const YIELD: u64 = 0xC0F0_0012;
}

/// A command for a server partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// FFA_MEM_RETRIEVE_REQ of `handle` as described; the server remembers what it got.
    Retrieve {
        /// The handle.
        handle: u64,
        /// The owner the request names.
        sender: EndpointId,
        /// The transaction type the request names (`None`: leave it to the implementation).
        operation: Option<MemoryOperation>,
        /// The permissions asked for.
        permissions: AccessPermissions,
        /// The tag the request names.
        tag: u64,
        /// Transaction flags beyond the type (e.g. bit 10, bypass the multi-borrower check).
        flags: u32,
    },
    /// Writes `value + n` at the first and last 8 bytes of the n-th retrieved page (of the
    /// first 8 ranges, at most 4096 pages).
    Write {
        /// The handle retrieved.
        handle: u64,
        /// The value.
        value: u64,
    },
    /// Reads the first and last 8 bytes of retrieved page `page`.
    Read {
        /// The handle retrieved.
        handle: u64,
        /// Page index in the retrieved memory.
        page: u64,
    },
    /// FFA_MEM_RELINQUISH of `handle`.
    Relinquish {
        /// The handle.
        handle: u64,
    },
    /// FFA_MSG_SEND2 of 8 bytes to `destination`.
    SendIndirect {
        /// The receiver.
        destination: EndpointId,
        /// The payload.
        value: u64,
    },
    /// Reads the indirect message in the server's RX buffer and releases it.
    ReceiveIndirect,
    /// Sends the memory retrieved under `handle` on to `receiver` (a borrower re-sending).
    SendMemory {
        /// The handle retrieved.
        handle: u64,
        /// Who would get it.
        receiver: EndpointId,
        /// How.
        operation: MemoryOperation,
    },
    /// Reads the first 8 bytes of the memory once retrieved under `handle`.
    Probe {
        /// The handle.
        handle: u64,
    },
    /// FFA_MEM_RECLAIM of `handle` (to check that only the owner may).
    Reclaim {
        /// The handle.
        handle: u64,
    },
    /// FFA_NOTIFICATION_BIND: lets `sender` signal `bitmap` to the server.
    Bind {
        /// The sender bound.
        sender: EndpointId,
        /// The notifications.
        bitmap: u64,
        /// Bound per vCPU.
        per_vcpu: bool,
    },
    /// FFA_NOTIFICATION_UNBIND of `bitmap` bound to `sender`.
    Unbind {
        /// The sender.
        sender: EndpointId,
        /// The notifications.
        bitmap: u64,
    },
    /// FFA_NOTIFICATION_SET of `bitmap` to `receiver`.
    Set {
        /// The receiver.
        receiver: EndpointId,
        /// The notifications.
        bitmap: u64,
        /// `Some(vCPU)`: a per-vCPU notification of that vCPU; `None`: global.
        vcpu: Option<u16>,
        /// Ask the partition manager to delay the schedule receiver interrupt.
        delay_schedule_receiver: bool,
    },
    /// FFA_MEM_RETRIEVE_REQ of `handle` (tag 0) written by the server itself with the
    /// attributes field and implementation-defined words given here, which the guest driver
    /// would not put in a request. A refusal leaves nothing to undo; a request that is granted
    /// after all is relinquished again at once (and answered Done).
    RetrieveWithAttributes {
        /// The handle.
        handle: u64,
        /// The owner the request names.
        sender: EndpointId,
        /// The transaction type the request names (`None`: leave it to the implementation).
        operation: Option<MemoryOperation>,
        /// The permissions asked for.
        permissions: AccessPermissions,
        /// The memory region attributes field (v1.1 and later: bits `[5:0]` type and
        /// attributes, bit 6 NS).
        attributes: u16,
        /// The implementation-defined words of the server's endpoint memory access
        /// descriptor (v1.2; ignored before).
        impdef: [u64; 2],
    },
    /// FFA_NOTIFICATION_GET of the server's own notifications on `vcpu` (the vCPU the
    /// request runs on) with the GET flags `flags` (bit 0 SP, 1 VM, 2 SPM framework, 3
    /// hypervisor framework).
    Get {
        /// The vCPU.
        vcpu: u16,
        /// The GET flags.
        flags: u32,
    },
    /// While servicing the request: FFA_MSG_WAIT, FFA_MSG_SEND_DIRECT_RESP_64 with the server
    /// as both source and destination, and one to `other` (not the requester); each should
    /// be refused, and the request stays pending, so the real response follows. Answers the
    /// three refusals' statuses (an answer that was no FFA_ERROR is a driver failure).
    ServicingRules {
        /// The endpoint named as the wrong destination.
        other: EndpointId,
    },
    /// FFA_MEM_RELINQUISH of `handle` with `flags` in the descriptor's flags word (bit 0:
    /// zero the memory), which the guest driver never sets. On success the server holds the
    /// handle no more.
    RelinquishWithFlags {
        /// The handle.
        handle: u64,
        /// The flags word.
        flags: u32,
    },
    /// FFA_MEM_RETRIEVE_REQ of `handle` (tag 0, attributes left to the implementation) whose
    /// total and fragment lengths (w1, w2) are the ones given (0 keeps the real length). A
    /// refusal leaves nothing to undo; a grant is relinquished again at once (and answered
    /// Done).
    RetrieveWithLengths {
        /// The handle.
        handle: u64,
        /// The owner the request names.
        sender: EndpointId,
        /// The transaction type the request names.
        operation: Option<MemoryOperation>,
        /// The permissions asked for.
        permissions: AccessPermissions,
        /// w1, the total length claimed (0: the real length).
        total_length: u32,
        /// w2, the fragment length claimed (0: the real length).
        fragment_length: u32,
    },
    /// FFA_YIELD while servicing the request; once resumed, answers Done with w0 of what
    /// resumed it (a refusal is answered with its error).
    Yield,
}

fn operation_code(operation: Option<MemoryOperation>) -> u64 {
    match operation {
        None => 0,
        Some(MemoryOperation::Share) => 1,
        Some(MemoryOperation::Lend) => 2,
        Some(MemoryOperation::Donate) => 3,
    }
}

fn operation_of(code: u64) -> Option<MemoryOperation> {
    match code & 3 {
        1 => Some(MemoryOperation::Share),
        2 => Some(MemoryOperation::Lend),
        3 => Some(MemoryOperation::Donate),
        _ => None,
    }
}

impl Command {
    /// The request's x3-x7.
    pub fn encode(self) -> [u64; 5] {
        match self {
            Self::Retrieve { handle, sender, operation, permissions, tag, flags } => [
                word::RETRIEVE,
                handle,
                u64::from(sender.0)
                    | operation_code(operation) << 16
                    | u64::from(permissions.to_byte()) << 24,
                tag,
                u64::from(flags),
            ],
            Self::Write { handle, value } => [word::WRITE, handle, value, 0, 0],
            Self::Read { handle, page } => [word::READ, handle, page, 0, 0],
            Self::Relinquish { handle } => [word::RELINQUISH, handle, 0, 0, 0],
            Self::SendIndirect { destination, value } => {
                [word::SEND_INDIRECT, u64::from(destination.0), value, 0, 0]
            }
            Self::ReceiveIndirect => [word::RECEIVE_INDIRECT, 0, 0, 0, 0],
            Self::SendMemory { handle, receiver, operation } => [
                word::SEND_MEMORY,
                handle,
                u64::from(receiver.0),
                operation_code(Some(operation)),
                0,
            ],
            Self::Probe { handle } => [word::PROBE, handle, 0, 0, 0],
            Self::Reclaim { handle } => [word::RECLAIM, handle, 0, 0, 0],
            Self::Bind { sender, bitmap, per_vcpu } => {
                [word::BIND, u64::from(sender.0) | u64::from(per_vcpu) << 16, bitmap, 0, 0]
            }
            Self::Unbind { sender, bitmap } => [word::UNBIND, u64::from(sender.0), bitmap, 0, 0],
            Self::Set { receiver, bitmap, vcpu, delay_schedule_receiver } => [
                word::SET,
                u64::from(receiver.0)
                    | u64::from(vcpu.is_some()) << 16
                    | u64::from(delay_schedule_receiver) << 17
                    | u64::from(vcpu.unwrap_or(0)) << 32,
                bitmap,
                0,
                0,
            ],
            Self::Get { vcpu, flags } => [word::GET, u64::from(vcpu), u64::from(flags), 0, 0],
            Self::RetrieveWithAttributes {
                handle,
                sender,
                operation,
                permissions,
                attributes,
                impdef,
            } => [
                word::RETRIEVE_WITH_ATTRIBUTES,
                handle,
                u64::from(sender.0)
                    | operation_code(operation) << 16
                    | u64::from(permissions.to_byte()) << 24
                    | u64::from(attributes) << 32,
                impdef[0],
                impdef[1],
            ],
            Self::ServicingRules { other } => [word::SERVICING_RULES, u64::from(other.0), 0, 0, 0],
            Self::RelinquishWithFlags { handle, flags } => {
                [word::RELINQUISH_WITH_FLAGS, handle, u64::from(flags), 0, 0]
            }
            Self::RetrieveWithLengths {
                handle,
                sender,
                operation,
                permissions,
                total_length,
                fragment_length,
            } => [
                word::RETRIEVE_WITH_LENGTHS,
                handle,
                u64::from(sender.0)
                    | operation_code(operation) << 16
                    | u64::from(permissions.to_byte()) << 24,
                u64::from(total_length),
                u64::from(fragment_length),
            ],
            Self::Yield => [word::YIELD, 0, 0, 0, 0],
        }
    }

    /// The command in a request's x3-x7, `None` when x3 is no command word.
    pub fn decode(words: [u64; 5]) -> Option<Self> {
        let [command, first, second, third, fourth] = words;
        Some(match command {
            word::RETRIEVE => Self::Retrieve {
                handle: first,
                sender: EndpointId(second as u16),
                operation: operation_of(second >> 16),
                permissions: AccessPermissions::try_from((second >> 24) as u8)
                    .unwrap_or(AccessPermissions::NOT_SPECIFIED),
                tag: third,
                flags: fourth as u32,
            },
            word::WRITE => Self::Write { handle: first, value: second },
            word::READ => Self::Read { handle: first, page: second },
            word::RELINQUISH => Self::Relinquish { handle: first },
            word::SEND_INDIRECT => {
                Self::SendIndirect { destination: EndpointId(first as u16), value: second }
            }
            word::RECEIVE_INDIRECT => Self::ReceiveIndirect,
            word::SEND_MEMORY => Self::SendMemory {
                handle: first,
                receiver: EndpointId(second as u16),
                operation: operation_of(third)?,
            },
            word::PROBE => Self::Probe { handle: first },
            word::RECLAIM => Self::Reclaim { handle: first },
            word::BIND => Self::Bind {
                sender: EndpointId(first as u16),
                bitmap: second,
                per_vcpu: first >> 16 & 1 != 0,
            },
            word::UNBIND => Self::Unbind { sender: EndpointId(first as u16), bitmap: second },
            word::SET => Self::Set {
                receiver: EndpointId(first as u16),
                bitmap: second,
                vcpu: (first >> 16 & 1 != 0).then_some((first >> 32) as u16),
                delay_schedule_receiver: first >> 17 & 1 != 0,
            },
            word::GET => Self::Get { vcpu: first as u16, flags: second as u32 },
            word::RETRIEVE_WITH_ATTRIBUTES => Self::RetrieveWithAttributes {
                handle: first,
                sender: EndpointId(second as u16),
                operation: operation_of(second >> 16),
                permissions: AccessPermissions::try_from((second >> 24) as u8)
                    .unwrap_or(AccessPermissions::NOT_SPECIFIED),
                attributes: (second >> 32) as u16,
                impdef: [third, fourth],
            },
            word::SERVICING_RULES => Self::ServicingRules { other: EndpointId(first as u16) },
            word::RELINQUISH_WITH_FLAGS => {
                Self::RelinquishWithFlags { handle: first, flags: second as u32 }
            }
            word::RETRIEVE_WITH_LENGTHS => Self::RetrieveWithLengths {
                handle: first,
                sender: EndpointId(second as u16),
                operation: operation_of(second >> 16),
                permissions: AccessPermissions::try_from((second >> 24) as u8)
                    .unwrap_or(AccessPermissions::NOT_SPECIFIED),
                total_length: third as u32,
                fragment_length: fourth as u32,
            },
            word::YIELD => Self::Yield,
            _ => return None,
        })
    }
}

/// How a command went (x3 of the answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Done.
    Done,
    /// The FF-A call the command makes answered this error.
    Ffa(FfaError),
    /// The memory access faulted (the server's platform caught it).
    AccessFault,
    /// The server holds no memory under that handle.
    UnknownHandle,
    /// The server's driver failed in another way (a malformed answer, an unexpected call).
    DriverFailure,
    /// The server cannot survive a fault, so it did not try the access.
    CannotProbe,
}

impl Status {
    const ACCESS_FAULT: u64 = 0xFA;
    const UNKNOWN_HANDLE: u64 = 0xFB;
    const DRIVER_FAILURE: u64 = 0xFC;
    const CANNOT_PROBE: u64 = 0xFD;

    /// The x3 word.
    pub fn to_word(self) -> u64 {
        match self {
            Self::Done => 0,
            Self::Ffa(error) => error.to_register(),
            Self::AccessFault => Self::ACCESS_FAULT,
            Self::UnknownHandle => Self::UNKNOWN_HANDLE,
            Self::DriverFailure => Self::DRIVER_FAILURE,
            Self::CannotProbe => Self::CANNOT_PROBE,
        }
    }

    /// The status in an x3 word (an unknown word is a driver failure).
    pub fn from_word(word: u64) -> Self {
        match word {
            0 => Self::Done,
            Self::ACCESS_FAULT => Self::AccessFault,
            Self::UNKNOWN_HANDLE => Self::UnknownHandle,
            Self::CANNOT_PROBE => Self::CannotProbe,
            other => FfaError::from_register(other).map_or(Self::DriverFailure, Self::Ffa),
        }
    }
}

/// A server's answer: the status and up to four values (what each command reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    /// How the command went.
    pub status: Status,
    /// Retrieve: `[total pages | range count << 32, first range address, response flags,
    /// attributes | permissions << 16]`; Write: `[pages written, ..]`; Read and Probe:
    /// `[first 8 bytes, last 8 bytes, ..]`; ReceiveIndirect: `[sender, payload length,
    /// payload, ..]`; Get: `[from partitions, from VMs, SPM framework | hypervisor framework
    /// << 32, ..]`.
    pub values: [u64; 4],
}

impl Answer {
    /// A successful answer.
    pub fn done(values: [u64; 4]) -> Self {
        Self { status: Status::Done, values }
    }

    /// A failed answer.
    pub fn failed(status: Status) -> Self {
        Self { status, values: [0; 4] }
    }

    /// The response's x3-x7.
    pub fn encode(self) -> [u64; 5] {
        let [first, second, third, fourth] = self.values;
        [self.status.to_word(), first, second, third, fourth]
    }

    /// The answer in a response's x3-x7.
    pub fn decode(words: [u64; 5]) -> Self {
        let [status, first, second, third, fourth] = words;
        Self { status: Status::from_word(status), values: [first, second, third, fourth] }
    }
}
