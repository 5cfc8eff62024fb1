//! What the callee offers, learnt once with FFA_FEATURES during bring-up.

use ffa_core::features::{FeatureId, FeaturesQuery, RetrieveProperties, RETRIEVE_INPUT_NS_BIT};
use ffa_core::{Call, FunctionId, Version};

use crate::buffers::BufferRequirements;
use crate::driver::Link;
use crate::error::{ErrorKind, Result};
use ffa_core::Conduit;

/// The optional functions the driver asks about, in the order it asks.
const PROBED: &[FunctionId] = &[
    FunctionId::PartitionInfoGetRegs,
    FunctionId::MsgSendDirectReq2,
    FunctionId::MsgSend2,
    FunctionId::NotificationBitmapCreate,
    FunctionId::NotificationBind,
    FunctionId::NotificationSet,
    FunctionId::NotificationGet,
    FunctionId::NotificationInfoGet64,
    FunctionId::MemShare32,
    FunctionId::MemLend32,
    FunctionId::MemDonate32,
    FunctionId::MemRetrieveReq32,
];

/// The callee's answers to FFA_FEATURES.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    /// RX/TX buffer size and alignment (4 KiB with no limit when FEATURES did not say).
    pub buffers: BufferRequirements,
    /// FFA_RXTX_MAP_64 is offered (else the SMC32 form is used and addresses must fit 32 bits).
    pub rxtx_map_64: bool,
    /// Schedule Receiver Interrupt ID (feature 2), if offered.
    pub schedule_receiver_interrupt: Option<u32>,
    /// Notification Pending Interrupt ID (feature 1), if offered.
    pub notification_pending_interrupt: Option<u32>,
    /// Managed Exit Interrupt ID (feature 3), if offered.
    pub managed_exit_interrupt: Option<u32>,
    /// FFA_MEM_RETRIEVE_REQ properties, if retrieve is offered.
    pub retrieve: Option<RetrieveProperties>,
    probed: u128,
    offered: u128,
}

fn bit(function: FunctionId) -> u128 {
    FunctionId::ALL
        .iter()
        .position(|candidate| *candidate == function)
        .and_then(|position| 1u128.checked_shl(position as u32))
        .unwrap_or(0)
}

impl Features {
    /// Whether FFA_FEATURES reported `function` as implemented. `None` when the driver did not
    /// ask (it asks about the optional calls it uses: PARTITION_INFO_GET_REGS, DIRECT_REQ2,
    /// MSG_SEND2, notifications, memory management).
    pub fn offers(&self, function: FunctionId) -> Option<bool> {
        let mask = bit(function);
        (self.probed & mask != 0).then_some(self.offered & mask != 0)
    }

    fn record(&mut self, function: FunctionId, offered: bool) {
        self.probed |= bit(function);
        if offered {
            self.offered |= bit(function);
        }
    }

    /// Asks about everything the driver uses. NOT_SUPPORTED marks a function absent; any other
    /// failure is returned.
    pub(crate) fn probe<C: Conduit>(transport: &mut Link<C>, version: Version) -> Result<Self> {
        let mut features = Self {
            buffers: BufferRequirements { minimum_size: 4096, maximum_pages: None },
            rxtx_map_64: false,
            schedule_receiver_interrupt: None,
            notification_pending_interrupt: None,
            managed_exit_interrupt: None,
            retrieve: None,
            probed: 0,
            offered: 0,
        };
        for function in [FunctionId::RxtxMap64, FunctionId::RxtxMap32] {
            let Some(args) = query_function(transport, function, 0)? else {
                features.record(function, false);
                continue;
            };
            features.record(function, true);
            let word = args.register(2) as u32;
            let properties =
                ffa_core::features::RxtxMapProperties::from_word(word).map_err(|_| {
                    transport.error(
                        FunctionId::Features,
                        ErrorKind::MalformedResponse("RXTX_MAP properties"),
                    )
                })?;
            features.buffers = BufferRequirements {
                minimum_size: properties.minimum_size.bytes(),
                maximum_pages: (properties.maximum_pages != 0).then_some(properties.maximum_pages),
            };
            features.rxtx_map_64 = function == FunctionId::RxtxMap64;
            break;
        }
        for &function in PROBED {
            if function.minimum_version() > version {
                features.record(function, false);
                continue;
            }
            let input = match function {
                FunctionId::MemRetrieveReq32 if version >= Version::V1_1 => RETRIEVE_INPUT_NS_BIT,
                _ => 0,
            };
            let answer = query_function(transport, function, input)?;
            features.record(function, answer.is_some());
            if let (FunctionId::MemRetrieveReq32, Some(args)) = (function, answer) {
                features.retrieve =
                    Some(RetrieveProperties::from_bits_truncate(args.register(2) as u32));
            }
        }
        if version >= Version::V1_1 {
            features.schedule_receiver_interrupt =
                query_feature(transport, FeatureId::ScheduleReceiverInterrupt)?;
            features.notification_pending_interrupt =
                query_feature(transport, FeatureId::NotificationPendingInterrupt)?;
        }
        features.managed_exit_interrupt =
            query_feature(transport, FeatureId::ManagedExitInterrupt)?;
        Ok(features)
    }
}

fn query<C: Conduit>(
    transport: &mut Link<C>,
    query: FeaturesQuery,
) -> Result<Option<ffa_core::SuccessArgs>> {
    match transport.call_success(Call::Features(query)) {
        Ok(args) => Ok(Some(args)),
        Err(error) if error.is(ffa_core::FfaError::NotSupported) => Ok(None),
        Err(error) => Err(error),
    }
}

fn query_function<C: Conduit>(
    transport: &mut Link<C>,
    function: FunctionId,
    properties: u32,
) -> Result<Option<ffa_core::SuccessArgs>> {
    query(transport, FeaturesQuery::Function { function, properties })
}

fn query_feature<C: Conduit>(transport: &mut Link<C>, feature: FeatureId) -> Result<Option<u32>> {
    Ok(query(transport, FeaturesQuery::Feature(feature))?.map(|args| args.register(2) as u32))
}
