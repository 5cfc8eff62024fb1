//! The typed FF-A call (`Call`), the response side (`Return`) and their register codec.
//!
//! Decoding never panics: any `[u64; 18]` with any version gives a `Call` or the `FfaError` the
//! partition manager should answer with. SMC32 calls see only the low 32 bits of x1-x7;
//! x8-x17 are read only for SMC64 calls at v1.2+. Registers a call does not use are ignored on
//! decode and zero on encode; reserved bits inside used fields are INVALID_PARAMETERS.

mod codec;
mod memory;
mod messaging;
mod notification;
mod response;
mod setup;
mod status;

pub use memory::{DescriptorBuffer, MemoryTransaction, ReclaimFlags};
pub use messaging::{ConsoleLogMessage, MsgWaitFlags};
pub use response::{Return, NO_TARGET};
pub use status::SuccessArgs;

use crate::direct_message::{DirectMessage, DirectMessage2};
use crate::features::FeaturesQuery;
use crate::indirect_message::MsgSend2Flags;
use crate::notification::{BindFlags, GetFlags, NotificationBitmap, SetFlags};
use crate::partition_info::PartitionInfoGetFlags;
use crate::rxtx::RxtxMapArgs;
use crate::{EndpointId, FfaError, FunctionId, TargetInfo, Uuid, VcpuId, Version};
use codec::{Reader, Writer};

/// One FF-A call (or any other FF-A message carried in registers), with checked fields.
///
/// Variants for functions with SMC32 and SMC64 forms carry `is_64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Call {
    /// FFA_ERROR: `w1` target information, `w2` status.
    Error {
        /// Target information (usually 0).
        target: TargetInfo,
        /// The status.
        error: FfaError,
        /// FFA_ERROR_64.
        is_64: bool,
    },
    /// FFA_SUCCESS_32/64: `w1` target information, `w2`.. function-specific results.
    Success {
        /// Target information (usually 0).
        target: TargetInfo,
        /// The results; the variant chooses SUCCESS_32 or SUCCESS_64.
        args: SuccessArgs,
    },
    /// FFA_INTERRUPT: `w1` endpoint/vCPU, `w2` interrupt ID.
    Interrupt {
        /// Preempted endpoint and vCPU (0 from the SPMD).
        target: TargetInfo,
        /// Interrupt ID.
        interrupt_id: u32,
        /// FFA_INTERRUPT_64 (v1.3).
        is_64: bool,
    },
    /// FFA_VERSION: `w1` the caller's version word, unchecked (see [`crate::version::negotiate`]).
    Version {
        /// The raw requested version word.
        requested: u32,
    },
    /// FFA_FEATURES.
    Features(FeaturesQuery),
    /// FFA_RX_RELEASE: `w1[15:0]` VM ID (hypervisor forwarding, else 0).
    RxRelease {
        /// The VM on whose behalf the buffer is released.
        vm_id: EndpointId,
    },
    /// FFA_RXTX_MAP.
    RxtxMap {
        /// The buffers.
        buffers: RxtxMapArgs,
        /// FFA_RXTX_MAP_64.
        is_64: bool,
    },
    /// FFA_RXTX_UNMAP: `w1[31:16]` VM ID (hypervisor only), `[15:0]` MBZ.
    RxtxUnmap {
        /// The VM whose buffers are unmapped.
        vm_id: EndpointId,
    },
    /// FFA_PARTITION_INFO_GET: `w1`-`w4` UUID, `w5` flags.
    PartitionInfoGet {
        /// The UUID, Nil for all partitions.
        uuid: Uuid,
        /// Flags (MBZ at v1.0).
        flags: PartitionInfoGetFlags,
    },
    /// FFA_PARTITION_INFO_GET_REGS: `x1`-`x2` UUID, `x3` start index and tag.
    PartitionInfoGetRegs {
        /// The UUID, Nil for all partitions.
        uuid: Uuid,
        /// First descriptor to return.
        start_index: u16,
        /// UUID information tag (0 when `start_index` is 0).
        tag: u16,
    },
    /// FFA_ID_GET.
    IdGet,
    /// FFA_SPM_ID_GET.
    SpmIdGet,
    /// FFA_MSG_WAIT: `w2` flags (v1.2).
    MsgWait {
        /// Flags.
        flags: MsgWaitFlags,
        /// FFA_MSG_WAIT_64 (v1.3).
        is_64: bool,
    },
    /// FFA_YIELD: `w1` target (as seen by the normal world), `w2`/`w3` timeout.
    Yield {
        /// The yielding endpoint and vCPU.
        target: TargetInfo,
        /// Timeout (w2 low, w3 high; single source: Hafnium).
        timeout: u64,
        /// FFA_YIELD_64 (v1.3).
        is_64: bool,
    },
    /// FFA_RUN: `w1` target endpoint and vCPU.
    Run {
        /// What to run.
        target: TargetInfo,
        /// FFA_RUN_64 (v1.3).
        is_64: bool,
    },
    /// FFA_MSG_SEND_DIRECT_REQ_32/64.
    MsgSendDirectReq(DirectMessage),
    /// FFA_MSG_SEND_DIRECT_RESP_32/64.
    MsgSendDirectResp(DirectMessage),
    /// FFA_MSG_SEND_DIRECT_REQ2.
    MsgSendDirectReq2(DirectMessage2),
    /// FFA_MSG_SEND_DIRECT_RESP2 (`uuid` is Nil).
    MsgSendDirectResp2(DirectMessage2),
    /// FFA_MEM_DONATE.
    MemDonate {
        /// Descriptor location and lengths.
        transaction: MemoryTransaction,
        /// FFA_MEM_DONATE_64.
        is_64: bool,
    },
    /// FFA_MEM_LEND.
    MemLend {
        /// Descriptor location and lengths.
        transaction: MemoryTransaction,
        /// FFA_MEM_LEND_64.
        is_64: bool,
    },
    /// FFA_MEM_SHARE.
    MemShare {
        /// Descriptor location and lengths.
        transaction: MemoryTransaction,
        /// FFA_MEM_SHARE_64.
        is_64: bool,
    },
    /// FFA_MEM_RETRIEVE_REQ.
    MemRetrieveReq {
        /// Descriptor location and lengths.
        transaction: MemoryTransaction,
        /// FFA_MEM_RETRIEVE_REQ_64.
        is_64: bool,
    },
    /// FFA_MEM_RETRIEVE_RESP: `w1` total length, `w2` fragment length.
    MemRetrieveResp {
        /// Total descriptor length.
        total_length: u32,
        /// Length now in the RX buffer (at most `total_length`).
        fragment_length: u32,
    },
    /// FFA_MEM_RELINQUISH (descriptor in the TX buffer).
    MemRelinquish,
    /// FFA_MEM_RECLAIM: `w1`/`w2` handle, `w3` flags.
    MemReclaim {
        /// The transaction handle.
        handle: u64,
        /// Flags.
        flags: ReclaimFlags,
    },
    /// FFA_MEM_OP_PAUSE: `w1`/`w2` handle.
    MemOpPause {
        /// The transaction handle.
        handle: u64,
    },
    /// FFA_MEM_OP_RESUME: `w1`/`w2` handle.
    MemOpResume {
        /// The transaction handle.
        handle: u64,
    },
    /// FFA_MEM_FRAG_RX: `w1`/`w2` handle, `w3` offset, `w4[31:16]` endpoint.
    MemFragRx {
        /// The transaction handle.
        handle: u64,
        /// Bytes already transferred.
        offset: u32,
        /// Sender or endpoint ID (hypervisor forwarding), else 0.
        endpoint: EndpointId,
    },
    /// FFA_MEM_FRAG_TX: `w1`/`w2` handle, `w3` fragment length, `w4[31:16]` endpoint.
    MemFragTx {
        /// The transaction handle.
        handle: u64,
        /// Length of this fragment.
        fragment_length: u32,
        /// Sender or endpoint ID (hypervisor forwarding), else 0.
        endpoint: EndpointId,
    },
    /// FFA_NORMAL_WORLD_RESUME.
    NormalWorldResume {
        /// FFA_NORMAL_WORLD_RESUME_64 (v1.3).
        is_64: bool,
    },
    /// FFA_NOTIFICATION_BITMAP_CREATE: `w1[15:0]` VM ID, `w2` vCPU count.
    NotificationBitmapCreate {
        /// The VM.
        vm_id: EndpointId,
        /// Its number of vCPUs.
        vcpu_count: u32,
    },
    /// FFA_NOTIFICATION_BITMAP_DESTROY: `w1[15:0]` VM ID.
    NotificationBitmapDestroy {
        /// The VM.
        vm_id: EndpointId,
    },
    /// FFA_NOTIFICATION_BIND.
    NotificationBind {
        /// Sender allowed to signal (`w1[31:16]`).
        sender: EndpointId,
        /// Receiver (`w1[15:0]`).
        receiver: EndpointId,
        /// Flags.
        flags: BindFlags,
        /// Notifications to bind (non-zero).
        bitmap: NotificationBitmap,
    },
    /// FFA_NOTIFICATION_UNBIND (`w2` MBZ).
    NotificationUnbind {
        /// Sender (`w1[31:16]`).
        sender: EndpointId,
        /// Receiver (`w1[15:0]`).
        receiver: EndpointId,
        /// Notifications to unbind.
        bitmap: NotificationBitmap,
    },
    /// FFA_NOTIFICATION_SET.
    NotificationSet {
        /// Sender (`w1[31:16]`).
        sender: EndpointId,
        /// Receiver (`w1[15:0]`).
        receiver: EndpointId,
        /// Flags.
        flags: SetFlags,
        /// Notifications to set.
        bitmap: NotificationBitmap,
    },
    /// FFA_NOTIFICATION_GET: `w1` `vCPU << 16 | receiver`, `w2` flags.
    NotificationGet {
        /// Receiver (`w1[15:0]`).
        receiver: EndpointId,
        /// vCPU (`w1[31:16]`).
        vcpu: VcpuId,
        /// Which bitmaps.
        flags: GetFlags,
    },
    /// FFA_NOTIFICATION_INFO_GET.
    NotificationInfoGet {
        /// FFA_NOTIFICATION_INFO_GET_64.
        is_64: bool,
    },
    /// FFA_RX_ACQUIRE: `w1[15:0]` VM ID.
    RxAcquire {
        /// The VM.
        vm_id: EndpointId,
    },
    /// FFA_MSG_SEND2: `w1[31:16]` sender VM (hypervisor only), `w2` flags.
    MsgSend2 {
        /// The VM a hypervisor sends for, else 0.
        sender_vm: EndpointId,
        /// Flags.
        flags: MsgSend2Flags,
    },
    /// FFA_SECONDARY_EP_REGISTER: `x1` entry point.
    SecondaryEpRegister {
        /// Entry point address.
        entry_point: u64,
        /// FFA_SECONDARY_EP_REGISTER_64.
        is_64: bool,
    },
    /// FFA_MEM_PERM_GET: `x1` address, `w2` (v1.3) page count − 1.
    MemPermGet {
        /// Virtual address.
        address: u64,
        /// v1.3 page count minus one; 0 before v1.3 (MBZ).
        page_count_minus_one: u32,
        /// FFA_MEM_PERM_GET_64.
        is_64: bool,
    },
    /// FFA_MEM_PERM_SET: `x1` address, `w2` page count, `w3` permissions.
    MemPermSet {
        /// Virtual address.
        address: u64,
        /// Page count.
        page_count: u32,
        /// Permissions `[2:0]` (layout not in the reference; `[31:3]` MBZ).
        permissions: u32,
        /// FFA_MEM_PERM_SET_64.
        is_64: bool,
    },
    /// FFA_CONSOLE_LOG: `w1` character count, characters from `x2`.
    ConsoleLog {
        /// The characters.
        message: ConsoleLogMessage,
        /// FFA_CONSOLE_LOG_64.
        is_64: bool,
    },
    /// FFA_EL3_INTR_HANDLE.
    El3IntrHandle,
    /// A recognised function whose arguments this crate does not decode (legacy MSG_SEND,
    /// MSG_POLL; v1.3 NS_RES_INFO_GET, ABORT, BIND2..GET2). A partition manager answers
    /// NOT_SUPPORTED.
    Undecoded {
        /// The function.
        function: FunctionId,
    },
}

impl Call {
    /// Decodes registers sent by a peer that negotiated `version`. Functions newer than
    /// `version` and unknown IDs are NOT_SUPPORTED.
    pub fn decode(registers: &[u64; 18], version: Version) -> Result<Self, FfaError> {
        use FunctionId as F;
        let function = FunctionId::from_register(registers[0])?;
        if function.minimum_version().to_word() > version.to_word() {
            return Err(FfaError::NotSupported);
        }
        let reader = Reader::new(registers, version);
        let is_64 = reader.is_64();
        // One dispatch on the function. The messaging and status calls (every round trip) go
        // straight to their own decoders; the rarer setup, memory and notification calls go to
        // their file's decoder, which picks the call. Each decoder builds the call directly in
        // this function's result.
        match function {
            F::Error32 | F::Error64 => status::decode_error(&reader),
            F::Success32 | F::Success64 => status::decode_success(&reader),
            F::Interrupt32 | F::Interrupt64 => messaging::decode_interrupt(&reader),
            F::MsgWait32 | F::MsgWait64 => messaging::decode_msg_wait(&reader),
            F::Yield32 | F::Yield64 => messaging::decode_yield(&reader),
            F::Run32 | F::Run64 => messaging::decode_run(&reader),
            F::MsgSendDirectReq32 | F::MsgSendDirectReq64 => {
                messaging::decode_direct(&reader, true)
            }
            F::MsgSendDirectResp32 | F::MsgSendDirectResp64 => {
                messaging::decode_direct(&reader, false)
            }
            F::MsgSendDirectReq2 => messaging::decode_direct2(&reader, true),
            F::MsgSendDirectResp2 => messaging::decode_direct2(&reader, false),
            F::MsgSend2 => messaging::decode_msg_send2(&reader),
            F::ConsoleLog32 | F::ConsoleLog64 => messaging::decode_console_log(&reader),
            F::NormalWorldResume32 | F::NormalWorldResume64 => {
                Ok(Self::NormalWorldResume { is_64 })
            }
            F::El3IntrHandle => Ok(Self::El3IntrHandle),
            F::SecondaryEpRegister32 | F::SecondaryEpRegister64 => {
                Ok(Self::SecondaryEpRegister { entry_point: reader.x(1), is_64 })
            }
            F::Version
            | F::Features
            | F::RxRelease
            | F::RxAcquire
            | F::RxtxMap32
            | F::RxtxMap64
            | F::RxtxUnmap
            | F::PartitionInfoGet
            | F::PartitionInfoGetRegs
            | F::IdGet
            | F::SpmIdGet => setup::decode(function, &reader),
            F::MemDonate32
            | F::MemDonate64
            | F::MemLend32
            | F::MemLend64
            | F::MemShare32
            | F::MemShare64
            | F::MemRetrieveReq32
            | F::MemRetrieveReq64
            | F::MemRetrieveResp
            | F::MemRelinquish
            | F::MemReclaim
            | F::MemOpPause
            | F::MemOpResume
            | F::MemFragRx
            | F::MemFragTx
            | F::MemPermGet32
            | F::MemPermGet64
            | F::MemPermSet32
            | F::MemPermSet64 => memory::decode(function, &reader),
            F::NotificationBitmapCreate
            | F::NotificationBitmapDestroy
            | F::NotificationBind
            | F::NotificationUnbind
            | F::NotificationSet
            | F::NotificationGet
            | F::NotificationInfoGet32
            | F::NotificationInfoGet64 => notification::decode(function, &reader),
            F::MsgPoll
            | F::MsgSend
            | F::NsResInfoGet
            | F::Abort32
            | F::Abort64
            | F::NotificationBind2
            | F::NotificationUnbind2
            | F::NotificationSet2
            | F::NotificationGet2 => Ok(Self::Undecoded { function }),
        }
    }

    /// The function ID this call is sent with.
    #[inline]
    pub fn function_id(&self) -> FunctionId {
        use FunctionId as F;
        let pick = |is_64: bool, narrow: F, wide: F| if is_64 { wide } else { narrow };
        match *self {
            Self::Error { is_64, .. } => pick(is_64, F::Error32, F::Error64),
            Self::Success { args, .. } => pick(args.is_64bit(), F::Success32, F::Success64),
            Self::Interrupt { is_64, .. } => pick(is_64, F::Interrupt32, F::Interrupt64),
            Self::Version { .. } => F::Version,
            Self::Features(_) => F::Features,
            Self::RxRelease { .. } => F::RxRelease,
            Self::RxtxMap { is_64, .. } => pick(is_64, F::RxtxMap32, F::RxtxMap64),
            Self::RxtxUnmap { .. } => F::RxtxUnmap,
            Self::PartitionInfoGet { .. } => F::PartitionInfoGet,
            Self::PartitionInfoGetRegs { .. } => F::PartitionInfoGetRegs,
            Self::IdGet => F::IdGet,
            Self::SpmIdGet => F::SpmIdGet,
            Self::MsgWait { is_64, .. } => pick(is_64, F::MsgWait32, F::MsgWait64),
            Self::Yield { is_64, .. } => pick(is_64, F::Yield32, F::Yield64),
            Self::Run { is_64, .. } => pick(is_64, F::Run32, F::Run64),
            Self::MsgSendDirectReq(message) => {
                pick(message.body.is_64bit(), F::MsgSendDirectReq32, F::MsgSendDirectReq64)
            }
            Self::MsgSendDirectResp(message) => {
                pick(message.body.is_64bit(), F::MsgSendDirectResp32, F::MsgSendDirectResp64)
            }
            Self::MsgSendDirectReq2(_) => F::MsgSendDirectReq2,
            Self::MsgSendDirectResp2(_) => F::MsgSendDirectResp2,
            Self::MemDonate { is_64, .. } => pick(is_64, F::MemDonate32, F::MemDonate64),
            Self::MemLend { is_64, .. } => pick(is_64, F::MemLend32, F::MemLend64),
            Self::MemShare { is_64, .. } => pick(is_64, F::MemShare32, F::MemShare64),
            Self::MemRetrieveReq { is_64, .. } => {
                pick(is_64, F::MemRetrieveReq32, F::MemRetrieveReq64)
            }
            Self::MemRetrieveResp { .. } => F::MemRetrieveResp,
            Self::MemRelinquish => F::MemRelinquish,
            Self::MemReclaim { .. } => F::MemReclaim,
            Self::MemOpPause { .. } => F::MemOpPause,
            Self::MemOpResume { .. } => F::MemOpResume,
            Self::MemFragRx { .. } => F::MemFragRx,
            Self::MemFragTx { .. } => F::MemFragTx,
            Self::NormalWorldResume { is_64 } => {
                pick(is_64, F::NormalWorldResume32, F::NormalWorldResume64)
            }
            Self::NotificationBitmapCreate { .. } => F::NotificationBitmapCreate,
            Self::NotificationBitmapDestroy { .. } => F::NotificationBitmapDestroy,
            Self::NotificationBind { .. } => F::NotificationBind,
            Self::NotificationUnbind { .. } => F::NotificationUnbind,
            Self::NotificationSet { .. } => F::NotificationSet,
            Self::NotificationGet { .. } => F::NotificationGet,
            Self::NotificationInfoGet { is_64 } => {
                pick(is_64, F::NotificationInfoGet32, F::NotificationInfoGet64)
            }
            Self::RxAcquire { .. } => F::RxAcquire,
            Self::MsgSend2 { .. } => F::MsgSend2,
            Self::SecondaryEpRegister { is_64, .. } => {
                pick(is_64, F::SecondaryEpRegister32, F::SecondaryEpRegister64)
            }
            Self::MemPermGet { is_64, .. } => pick(is_64, F::MemPermGet32, F::MemPermGet64),
            Self::MemPermSet { is_64, .. } => pick(is_64, F::MemPermSet32, F::MemPermSet64),
            Self::ConsoleLog { is_64, .. } => pick(is_64, F::ConsoleLog32, F::ConsoleLog64),
            Self::El3IntrHandle => F::El3IntrHandle,
            Self::Undecoded { function } => function,
        }
    }

    /// Encodes for a peer at `version`: SMC32 values truncated to 32 bits, x8-x17 written only
    /// for SMC64 at v1.2+, every unused register zero.
    pub fn encode(&self, version: Version) -> [u64; 18] {
        let writer = Writer::new(self.function_id(), version);
        // One dispatch on the variant, routed as in `decode`; each encoder builds the
        // registers directly in this function's result.
        match self {
            Self::Error { target, error, .. } => status::encode_error(&writer, *target, *error),
            Self::Success { target, args } => status::encode_success(&writer, *target, args),
            Self::Interrupt { target, interrupt_id, .. } => {
                messaging::encode_interrupt(&writer, *target, *interrupt_id)
            }
            Self::MsgWait { flags, .. } => messaging::encode_msg_wait(&writer, *flags),
            Self::Yield { target, timeout, .. } => {
                messaging::encode_yield(&writer, *target, *timeout)
            }
            Self::Run { target, .. } => messaging::encode_run(&writer, *target),
            Self::MsgSendDirectReq(message) | Self::MsgSendDirectResp(message) => {
                messaging::encode_direct(&writer, message)
            }
            Self::MsgSendDirectReq2(message) | Self::MsgSendDirectResp2(message) => {
                messaging::encode_direct2(&writer, message)
            }
            Self::MsgSend2 { sender_vm, flags } => {
                messaging::encode_msg_send2(&writer, *sender_vm, *flags)
            }
            Self::ConsoleLog { message, is_64 } => {
                messaging::encode_console_log(&writer, message, *is_64)
            }
            Self::SecondaryEpRegister { entry_point, .. } => writer.registers([*entry_point]),
            Self::NormalWorldResume { .. } | Self::El3IntrHandle | Self::Undecoded { .. } => {
                writer.registers([])
            }
            Self::Version { .. }
            | Self::Features(_)
            | Self::RxRelease { .. }
            | Self::RxAcquire { .. }
            | Self::RxtxMap { .. }
            | Self::RxtxUnmap { .. }
            | Self::PartitionInfoGet { .. }
            | Self::PartitionInfoGetRegs { .. }
            | Self::IdGet
            | Self::SpmIdGet => setup::encode(self, &writer),
            Self::MemDonate { .. }
            | Self::MemLend { .. }
            | Self::MemShare { .. }
            | Self::MemRetrieveReq { .. }
            | Self::MemRetrieveResp { .. }
            | Self::MemRelinquish
            | Self::MemReclaim { .. }
            | Self::MemOpPause { .. }
            | Self::MemOpResume { .. }
            | Self::MemFragRx { .. }
            | Self::MemFragTx { .. }
            | Self::MemPermGet { .. }
            | Self::MemPermSet { .. } => memory::encode(self, &writer),
            Self::NotificationBitmapCreate { .. }
            | Self::NotificationBitmapDestroy { .. }
            | Self::NotificationBind { .. }
            | Self::NotificationUnbind { .. }
            | Self::NotificationSet { .. }
            | Self::NotificationGet { .. }
            | Self::NotificationInfoGet { .. } => notification::encode(self, &writer),
        }
    }
}

/// Builds registers from arbitrary bytes (little-endian, zero-padded) and decodes them at every
/// version, for a cargo-fuzz target. Returns nothing: the property is "does not panic", and a
/// successful decode must re-encode and decode to the same call.
#[doc(hidden)]
pub fn fuzz_decode_registers(data: &[u8]) {
    let mut registers = [0u64; 18];
    for (register, chunk) in registers.iter_mut().zip(data.chunks(8)) {
        let mut bytes = [0u8; 8];
        if let Some(prefix) = bytes.get_mut(..chunk.len()) {
            prefix.copy_from_slice(chunk);
        }
        *register = u64::from_le_bytes(bytes);
    }
    for version in [Version::V1_0, Version::V1_1, Version::V1_2, Version::V1_3] {
        if let Ok(call) = Call::decode(&registers, version) {
            let again = Call::decode(&call.encode(version), version);
            debug_assert_eq!(again, Ok(call));
        }
        let _ = Return::decode(&registers, version);
    }
}
