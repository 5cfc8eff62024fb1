//! The response side: what can come back in `x0` after a call (reference §1.4).

use super::codec::Writer;
use super::{messaging, status, Call, MsgWaitFlags, SuccessArgs};
use crate::direct_message::{DirectMessage, DirectMessage2};
use crate::version::VersionResponse;
use crate::{EndpointId, FfaError, FunctionId, TargetInfo, VcpuId, Version};

/// Target information 0, as in almost every response.
pub const NO_TARGET: TargetInfo = TargetInfo { endpoint: EndpointId(0), vcpu: VcpuId(0) };

/// A response: FFA_SUCCESS, FFA_ERROR, the FFA_VERSION word, or another FF-A ID that completes
/// or suspends the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Return {
    /// FFA_SUCCESS_32/64.
    Success {
        /// Target information (usually 0).
        target: TargetInfo,
        /// Function-specific results.
        args: SuccessArgs,
    },
    /// FFA_ERROR_32/64.
    Error {
        /// Target information (usually 0).
        target: TargetInfo,
        /// The status.
        error: FfaError,
        /// FFA_ERROR_64.
        is_64: bool,
    },
    /// The answer to FFA_VERSION: `w0` alone (never SUCCESS/ERROR).
    Version(VersionResponse),
    /// FFA_INTERRUPT: the callee was preempted; resume with FFA_RUN on `target`.
    Interrupt {
        /// Preempted endpoint and vCPU.
        target: TargetInfo,
        /// Interrupt ID.
        interrupt_id: u32,
        /// FFA_INTERRUPT_64.
        is_64: bool,
    },
    /// FFA_YIELD: the callee yielded; resume with FFA_RUN on `target`.
    Yield {
        /// Yielding endpoint and vCPU.
        target: TargetInfo,
        /// Timeout.
        timeout: u64,
        /// FFA_YIELD_64.
        is_64: bool,
    },
    /// FFA_MSG_WAIT (answer to FFA_RUN).
    MsgWait {
        /// Flags.
        flags: MsgWaitFlags,
        /// FFA_MSG_WAIT_64.
        is_64: bool,
    },
    /// FFA_MSG_SEND_DIRECT_RESP_32/64.
    DirectResponse(DirectMessage),
    /// FFA_MSG_SEND_DIRECT_RESP2.
    DirectResponse2(DirectMessage2),
    /// FFA_MEM_FRAG_RX: send the next fragment.
    MemFragRx {
        /// Transaction handle.
        handle: u64,
        /// Bytes received so far.
        offset: u32,
        /// Sender ID (hypervisor forwarding), else 0.
        endpoint: EndpointId,
    },
    /// FFA_MEM_FRAG_TX: the next retrieve fragment is in the RX buffer.
    MemFragTx {
        /// Transaction handle.
        handle: u64,
        /// Fragment length.
        fragment_length: u32,
        /// Endpoint ID (hypervisor forwarding), else 0.
        endpoint: EndpointId,
    },
    /// FFA_MEM_RETRIEVE_RESP.
    MemRetrieveResp {
        /// Total descriptor length.
        total_length: u32,
        /// Length now in the RX buffer.
        fragment_length: u32,
    },
    /// FFA_MEM_OP_PAUSE: resume with FFA_MEM_OP_RESUME.
    MemOpPause {
        /// Transaction handle.
        handle: u64,
    },
    /// FFA_NORMAL_WORLD_RESUME (SPMC to SPMD).
    NormalWorldResume {
        /// FFA_NORMAL_WORLD_RESUME_64.
        is_64: bool,
    },
}

impl Return {
    /// An FFA_ERROR_32 with target 0.
    pub const fn error(error: FfaError) -> Self {
        Self::Error { target: NO_TARGET, error, is_64: false }
    }

    /// An FFA_SUCCESS with target 0.
    pub const fn success(args: SuccessArgs) -> Self {
        Self::Success { target: NO_TARGET, args }
    }

    /// The call this response is carried as (`None` for the FFA_VERSION word).
    pub fn to_call(self) -> Option<Call> {
        Some(match self {
            Self::Success { target, args } => Call::Success { target, args },
            Self::Error { target, error, is_64 } => Call::Error { target, error, is_64 },
            Self::Version(_) => return None,
            Self::Interrupt { target, interrupt_id, is_64 } => {
                Call::Interrupt { target, interrupt_id, is_64 }
            }
            Self::Yield { target, timeout, is_64 } => Call::Yield { target, timeout, is_64 },
            Self::MsgWait { flags, is_64 } => Call::MsgWait { flags, is_64 },
            Self::DirectResponse(message) => Call::MsgSendDirectResp(message),
            Self::DirectResponse2(message) => Call::MsgSendDirectResp2(message),
            Self::MemFragRx { handle, offset, endpoint } => {
                Call::MemFragRx { handle, offset, endpoint }
            }
            Self::MemFragTx { handle, fragment_length, endpoint } => {
                Call::MemFragTx { handle, fragment_length, endpoint }
            }
            Self::MemRetrieveResp { total_length, fragment_length } => {
                Call::MemRetrieveResp { total_length, fragment_length }
            }
            Self::MemOpPause { handle } => Call::MemOpPause { handle },
            Self::NormalWorldResume { is_64 } => Call::NormalWorldResume { is_64 },
        })
    }

    /// The response form of a call, if the call can be a response; INVALID_PARAMETERS if not.
    pub fn from_call(call: Call) -> Result<Self, FfaError> {
        Ok(match call {
            Call::Success { target, args } => Self::Success { target, args },
            Call::Error { target, error, is_64 } => Self::Error { target, error, is_64 },
            Call::Interrupt { target, interrupt_id, is_64 } => {
                Self::Interrupt { target, interrupt_id, is_64 }
            }
            Call::Yield { target, timeout, is_64 } => Self::Yield { target, timeout, is_64 },
            Call::MsgWait { flags, is_64 } => Self::MsgWait { flags, is_64 },
            Call::MsgSendDirectResp(message) => Self::DirectResponse(message),
            Call::MsgSendDirectResp2(message) => Self::DirectResponse2(message),
            Call::MemFragRx { handle, offset, endpoint } => {
                Self::MemFragRx { handle, offset, endpoint }
            }
            Call::MemFragTx { handle, fragment_length, endpoint } => {
                Self::MemFragTx { handle, fragment_length, endpoint }
            }
            Call::MemRetrieveResp { total_length, fragment_length } => {
                Self::MemRetrieveResp { total_length, fragment_length }
            }
            Call::MemOpPause { handle } => Self::MemOpPause { handle },
            Call::NormalWorldResume { is_64 } => Self::NormalWorldResume { is_64 },
            _ => return Err(FfaError::InvalidParameters),
        })
    }

    /// Decodes a response to any call but FFA_VERSION (use [`Return::decode_version`]).
    pub fn decode(registers: &[u64; 18], version: Version) -> Result<Self, FfaError> {
        Self::from_call(Call::decode(registers, version)?)
    }

    /// Decodes the answer to FFA_VERSION from `w0`. Other registers are ignored: the reference
    /// says they are MBZ, but callers only read `w0` and the Linux trace's firmware left `x1`
    /// holding the request.
    pub fn decode_version(registers: &[u64; 18]) -> Result<Self, FfaError> {
        VersionResponse::from_word(registers[0] as u32).map(Self::Version)
    }

    /// Encodes for a peer at `version`; every unused register is zero.
    ///
    /// The same registers as `self.to_call()` encoded, without building the call first (a
    /// `Call` is large: copying one costs more than encoding it).
    pub fn encode(&self, version: Version) -> [u64; 18] {
        use FunctionId as F;
        let writer = |is_64: bool, narrow: F, wide: F| {
            Writer::new(if is_64 { wide } else { narrow }, version)
        };
        match self {
            Self::Success { target, args } => {
                let writer = writer(args.is_64bit(), F::Success32, F::Success64);
                status::encode_success(&writer, *target, args)
            }
            Self::Error { target, error, is_64 } => {
                status::encode_error(&writer(*is_64, F::Error32, F::Error64), *target, *error)
            }
            Self::Version(response) => {
                let mut registers = [0u64; 18];
                registers[0] = response.to_word().into();
                registers
            }
            Self::Interrupt { target, interrupt_id, is_64 } => {
                let writer = writer(*is_64, F::Interrupt32, F::Interrupt64);
                messaging::encode_interrupt(&writer, *target, *interrupt_id)
            }
            Self::Yield { target, timeout, is_64 } => {
                messaging::encode_yield(&writer(*is_64, F::Yield32, F::Yield64), *target, *timeout)
            }
            Self::MsgWait { flags, is_64 } => {
                messaging::encode_msg_wait(&writer(*is_64, F::MsgWait32, F::MsgWait64), *flags)
            }
            Self::DirectResponse(message) => {
                let is_64 = message.body.is_64bit();
                let writer = writer(is_64, F::MsgSendDirectResp32, F::MsgSendDirectResp64);
                messaging::encode_direct(&writer, message)
            }
            Self::DirectResponse2(message) => {
                let writer = Writer::new(F::MsgSendDirectResp2, version);
                messaging::encode_direct2(&writer, message)
            }
            // Small variants off the messaging path: through the call form.
            Self::MemFragRx { .. }
            | Self::MemFragTx { .. }
            | Self::MemRetrieveResp { .. }
            | Self::MemOpPause { .. }
            | Self::NormalWorldResume { .. } => match self.to_call() {
                Some(call) => call.encode(version),
                None => [0; 18],
            },
        }
    }
}

#[cfg(test)]
// Tests may unwrap: a panic is a test failure.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const VERSIONS: [Version; 4] = [Version::V1_0, Version::V1_1, Version::V1_2, Version::V1_3];

    /// Every function a response can be carried as.
    const RESPONSES: [FunctionId; 19] = [
        FunctionId::Success32,
        FunctionId::Success64,
        FunctionId::Error32,
        FunctionId::Error64,
        FunctionId::Interrupt32,
        FunctionId::Interrupt64,
        FunctionId::Yield32,
        FunctionId::Yield64,
        FunctionId::MsgWait32,
        FunctionId::MsgWait64,
        FunctionId::MsgSendDirectResp32,
        FunctionId::MsgSendDirectResp64,
        FunctionId::MsgSendDirectResp2,
        FunctionId::MemFragRx,
        FunctionId::MemFragTx,
        FunctionId::MemRetrieveResp,
        FunctionId::MemOpPause,
        FunctionId::NormalWorldResume32,
        FunctionId::NormalWorldResume64,
    ];

    /// Register values that often make a valid response: zero, small, framework flags, a
    /// 32-bit value, anything.
    fn register() -> impl Strategy<Value = u64> {
        prop_oneof![
            Just(0u64),
            0..4u64,
            (0..10u64).prop_map(|kind| 0x8000_0000 | kind),
            any::<u32>().prop_map(u64::from),
            any::<u64>(),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// `Return::encode` has its own route to the encoders; it must give exactly what the
        /// call form gives, at every version.
        #[test]
        fn encode_is_the_call_forms_encoding(
            function in proptest::sample::select(RESPONSES.to_vec()),
            arguments in proptest::array::uniform17(register()),
        ) {
            let mut registers = [0u64; 18];
            registers[0] = function.to_register();
            registers[1..].copy_from_slice(&arguments);
            for decode_version in VERSIONS {
                let Ok(answer) = Return::decode(&registers, decode_version) else { continue };
                for version in VERSIONS {
                    prop_assert_eq!(answer.encode(version), answer.to_call().unwrap().encode(version));
                }
            }
        }
    }

    #[test]
    fn every_response_kind_is_reached_and_encodes_as_its_call() {
        let target = TargetInfo { endpoint: EndpointId(0x8001), vcpu: VcpuId(2) };
        let message = DirectMessage {
            source: EndpointId(0x8001),
            destination: EndpointId(1),
            body: crate::direct_message::DirectBody::Partition64([1, 2, 3, 4, 1 << 40]),
        };
        let answers = [
            Return::success(SuccessArgs::Args64([u64::MAX; 16])),
            Return::Error { target, error: FfaError::Denied, is_64: true },
            Return::Interrupt { target, interrupt_id: 7, is_64: false },
            Return::Yield { target, timeout: u64::MAX, is_64: false },
            Return::MsgWait { flags: MsgWaitFlags::RETAIN_RX_BUFFER, is_64: true },
            Return::DirectResponse(message),
            Return::DirectResponse2(DirectMessage2 {
                source: EndpointId(0x8001),
                destination: EndpointId(1),
                uuid: crate::Uuid([0; 16]),
                payload: [u64::MAX; 14],
            }),
            Return::MemFragRx { handle: u64::MAX, offset: 3, endpoint: EndpointId(4) },
            Return::MemFragTx { handle: 1 << 33, fragment_length: 5, endpoint: EndpointId(6) },
            Return::MemRetrieveResp { total_length: 9, fragment_length: 8 },
            Return::MemOpPause { handle: 0x1_0000_0002 },
            Return::NormalWorldResume { is_64: true },
        ];
        for answer in answers {
            for version in VERSIONS {
                assert_eq!(answer.encode(version), answer.to_call().unwrap().encode(version));
            }
        }
        let version = Return::Version(VersionResponse::Supported(Version::V1_2));
        assert_eq!(version.encode(Version::V1_2)[0], 0x0001_0002);
        assert!(version.encode(Version::V1_2)[1..].iter().all(|&register| register == 0));
    }
}
