//! The checks, by suite, in the order they run (version negotiation first: D04 depends on it).

mod direct_messaging;
mod direct_servicing;
mod direct_through_driver;
mod direct_variants;
mod discovery_buffers;
mod discovery_variants;
mod features;
mod indirect_messaging;
mod indirect_targets;
mod memory_arguments;
mod memory_boundaries;
mod memory_cycles;
mod memory_descriptors;
mod memory_flow;
mod memory_management;
mod memory_read_only;
mod memory_request_words;
mod memory_retrieve_attributes;
mod memory_retrieve_rules;
mod memory_send_rules;
mod notification_delivery;
mod notification_variants;
mod notifications;
mod optional_calls;
mod setup_discovery;
mod support;

use crate::check::Check;

/// Function IDs the checks use.
pub(crate) mod id {
    pub const FFA_ERROR: u64 = 0x8400_0060;
    pub const FFA_SUCCESS_32: u64 = 0x8400_0061;
    pub const FFA_INTERRUPT: u64 = 0x8400_0062;
    pub const FFA_VERSION: u64 = 0x8400_0063;
    pub const FFA_FEATURES: u64 = 0x8400_0064;
    pub const FFA_RX_RELEASE: u64 = 0x8400_0065;
    pub const FFA_RXTX_MAP_32: u64 = 0x8400_0066;
    pub const FFA_RXTX_MAP_64: u64 = 0xC400_0066;
    pub const FFA_RXTX_UNMAP: u64 = 0x8400_0067;
    pub const FFA_PARTITION_INFO_GET: u64 = 0x8400_0068;
    pub const FFA_ID_GET: u64 = 0x8400_0069;
    pub const FFA_RUN: u64 = 0x8400_006D;
    pub const FFA_MSG_SEND_DIRECT_REQ_32: u64 = 0x8400_006F;
    pub const FFA_MSG_SEND_DIRECT_RESP_32: u64 = 0x8400_0070;
    pub const FFA_NORMAL_WORLD_RESUME: u64 = 0x8400_007C;
    pub const FFA_RX_ACQUIRE: u64 = 0x8400_0084;
    pub const FFA_SPM_ID_GET: u64 = 0x8400_0085;
    pub const FFA_SUCCESS_64: u64 = 0xC400_0061;
    pub const FFA_MEM_RECLAIM: u64 = 0x8400_0077;
    pub const FFA_NOTIFICATION_BITMAP_CREATE: u64 = 0x8400_007D;
    pub const FFA_NOTIFICATION_BIND: u64 = 0x8400_007F;
    pub const FFA_NOTIFICATION_UNBIND: u64 = 0x8400_0080;
    pub const FFA_NOTIFICATION_SET: u64 = 0x8400_0081;
    pub const FFA_NOTIFICATION_GET: u64 = 0x8400_0082;
    pub const FFA_NOTIFICATION_INFO_GET_64: u64 = 0xC400_0083;
    pub const FFA_MEM_PERM_GET_32: u64 = 0x8400_0088;
    pub const FFA_MEM_PERM_SET_32: u64 = 0x8400_0089;
    pub const FEATURE_SCHEDULE_RECEIVER_INTERRUPT: u64 = 2;
}

/// Every check, in running order.
pub const ALL: &[Check] = &[
    setup_discovery::D01,
    setup_discovery::D02,
    setup_discovery::D03,
    setup_discovery::D05,
    setup_discovery::D04,
    setup_discovery::D06,
    setup_discovery::D07,
    setup_discovery::D08,
    setup_discovery::D09,
    setup_discovery::D10_NORMAL_WORLD_RESUME,
    setup_discovery::D10_RX_ACQUIRE,
    setup_discovery::D14,
    setup_discovery::D16,
    setup_discovery::D18,
    discovery_variants::D02_BIT_31_ALONE,
    discovery_variants::D03_MAJOR_ZERO,
    discovery_variants::D09_UNKNOWN_FEATURE,
    discovery_variants::D09_NO_SMC64_VARIANT,
    discovery_variants::D09_UNASSIGNED_FUNCTION,
    discovery_variants::D14_TWICE,
    discovery_variants::D15_TX,
    discovery_variants::D15_RX,
    discovery_variants::D16_SMC32,
    discovery_variants::D18_TWICE,
    discovery_variants::D23_UNKNOWN_UUID,
    discovery_variants::D24_COUNT,
    discovery_variants::D24_COUNT_STABLE,
    discovery_variants::D25_UNKNOWN_UUID,
    discovery_variants::D25_NIL,
    discovery_variants::D25_START_PAST_END,
    discovery_buffers::D17,
    discovery_buffers::D23_BUSY,
    discovery_buffers::D24_LIST,
    discovery_buffers::D25_AGREE,
    features::SHAPE_MSG_WAIT,
    features::SHAPE_YIELD,
    features::SHAPE_RUN,
    features::SHAPE_DIRECT_REQ_32,
    features::SHAPE_DIRECT_REQ_64,
    features::SHAPE_DIRECT_RESP_32,
    features::SHAPE_DIRECT_RESP_64,
    features::SHAPE_MEM_DONATE_32,
    features::SHAPE_MEM_DONATE_64,
    features::SHAPE_MEM_LEND_32,
    features::SHAPE_MEM_LEND_64,
    features::SHAPE_MEM_SHARE_32,
    features::SHAPE_MEM_SHARE_64,
    features::SHAPE_MEM_RETRIEVE_REQ,
    features::SHAPE_MEM_RETRIEVE_RESP,
    features::SHAPE_MEM_RELINQUISH,
    features::SHAPE_MEM_RECLAIM,
    features::SHAPE_MEM_FRAG_RX,
    features::SHAPE_MEM_FRAG_TX,
    features::SHAPE_BITMAP_CREATE,
    features::SHAPE_BITMAP_DESTROY,
    features::SHAPE_BIND,
    features::SHAPE_UNBIND,
    features::SHAPE_SET,
    features::SHAPE_GET,
    features::SHAPE_INFO_GET_64,
    features::SHAPE_MSG_SEND2,
    features::SHAPE_CONSOLE_LOG,
    features::SHAPE_PARTITION_INFO_GET_REGS,
    features::SHAPE_DIRECT_REQ2,
    features::SHAPE_DIRECT_RESP2,
    features::SHAPE_NPI,
    features::SHAPE_MEI,
    features::AGREES_SPM_ID_GET,
    features::AGREES_PARTITION_INFO_GET_REGS,
    features::AGREES_MEM_SHARE,
    features::AGREES_MEM_LEND,
    features::AGREES_MEM_DONATE,
    features::AGREES_MEM_RECLAIM,
    features::AGREES_MEM_RETRIEVE_REQ,
    features::AGREES_NOTIFICATION_SET,
    features::AGREES_NOTIFICATION_BIND,
    features::AGREES_CONSOLE_LOG,
    features::D11_RECLAIM,
    features::D11_RETRIEVE,
    features::D11_DIRECT,
    optional_calls::D27,
    direct_messaging::M01,
    direct_messaging::M02,
    direct_messaging::M03,
    direct_messaging::M04,
    direct_messaging::M06,
    direct_messaging::M09,
    direct_messaging::M14,
    direct_variants::M01_64,
    direct_variants::M01_REPEATED,
    direct_variants::M02_64,
    direct_variants::M03_64,
    direct_variants::M03_NO_SUCH_PARTITION,
    direct_variants::M10_WRONG_UUID,
    direct_variants::M10_SPOOF,
    direct_variants::M10_TO_ITSELF,
    direct_through_driver::M01_REQ2,
    direct_servicing::M05,
    direct_servicing::M07_WAIT,
    direct_servicing::M07_YIELD,
    direct_servicing::M08,
    setup_discovery::D12,
    memory_management::MM29,
    memory_management::MM29_FLAGS,
    memory_management::MM31,
    memory_arguments::MM08_SHARE_FRAGMENT_LONGER,
    memory_arguments::MM08_LEND_FRAGMENT_LONGER,
    memory_arguments::MM08_DONATE_FRAGMENT_LONGER,
    memory_arguments::MM08_SHARE_EMPTY,
    memory_arguments::MM08_LEND_EMPTY,
    memory_arguments::MM08_DONATE_EMPTY,
    memory_arguments::MM29_HANDLE_ZERO,
    memory_cycles::MM01_SHARE,
    memory_cycles::MM29_HELD,
    memory_cycles::MM30_LEND,
    memory_cycles::MM22_CLEAR,
    memory_cycles::MM29_ZERO,
    memory_retrieve_rules::MM15_TAG,
    memory_retrieve_rules::MM15_HANDLE,
    memory_retrieve_rules::MM16_TYPE,
    memory_retrieve_rules::MM17_SENDER,
    memory_retrieve_rules::MM19_READ_ONLY,
    memory_retrieve_rules::MM02_RESEND,
    memory_retrieve_rules::MM28_EARLY,
    memory_request_words::MM17_LENGTH,
    memory_request_words::MM28_ZERO_READ_ONLY,
    memory_retrieve_rules::MM30_RELINQUISHED,
    memory_cycles::MM01_TWO_BORROWERS,
    memory_cycles::MM32_FRAGMENTS,
    memory_retrieve_rules::D21_BUFFER,
    memory_retrieve_attributes::MM11_RETRIEVE_NS_BIT,
    memory_retrieve_attributes::MM20_EXECUTABLE_DEVICE,
    memory_retrieve_attributes::MM25_IMPDEF,
    memory_read_only::MM13_SHARE,
    memory_read_only::MM13_LEND_ZERO,
    memory_read_only::MM13_DONATE_ZERO,
    memory_read_only::MM13_RECLAIM_ZERO,
    memory_descriptors::MM03_TO_ITSELF,
    memory_descriptors::MM07_SENDER,
    memory_descriptors::MM04_CLEAR,
    memory_descriptors::MM11_NS_BIT,
    memory_descriptors::MM11_NS_BIT_LEND,
    memory_descriptors::MM11_NS_BIT_DONATE,
    memory_descriptors::MM09_PAGE_COUNT,
    memory_descriptors::MM09_OVERLAP,
    memory_send_rules::MM05_SHARE,
    memory_send_rules::MM05_LEND,
    memory_send_rules::MM06_LEND_TYPE,
    memory_send_rules::MM06_DONATE_ACCESS,
    memory_send_rules::MM14_TWICE,
    memory_send_rules::MM18_SHARE_CLEAR,
    memory_send_rules::MM24_AGAIN,
    memory_send_rules::MM26_BYPASS,
    memory_send_rules::MM27_UNKNOWN,
    memory_send_rules::MM21_TWO_LEND,
    memory_send_rules::MM23_HINT,
    memory_cycles::MM01_DONATE,
    memory_boundaries::MM10,
    memory_boundaries::MM12,
    memory_boundaries::MM33,
    indirect_messaging::I01,
    indirect_messaging::I02,
    indirect_messaging::I05_DELIVERY,
    indirect_messaging::I04,
    indirect_messaging::I05_REPLY,
    indirect_messaging::I05_SIGNAL,
    indirect_targets::I03,
    optional_calls::I06,
    notifications::N01,
    notifications::N03_EMPTY,
    notifications::N03_SPOOF,
    notifications::N03_FLAGS,
    notifications::N04,
    notifications::N05,
    notifications::N05_VCPU,
    notifications::N06,
    notifications::N07,
    notification_variants::N02_FROM_PARTITION,
    notification_variants::N03_UNKNOWN_SENDER,
    notification_variants::N03_SELF,
    notification_variants::N04_SPOOF,
    notification_variants::N04_UNKNOWN_SENDER,
    notification_variants::N04_UNBOUND,
    notification_variants::N05_SPOOF,
    notification_variants::N05_UNKNOWN_RECEIVER,
    notification_delivery::N08_TO_SERVER,
    notification_delivery::N08_FROM_SERVER,
    notification_delivery::N08_BETWEEN_SERVERS,
];
