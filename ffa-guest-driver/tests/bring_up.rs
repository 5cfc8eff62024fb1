//! Bring-up: version negotiation, ID_GET, FEATURES, RXTX_MAP/UNMAP and their errors.
#![allow(clippy::unwrap_used, reason = "test helpers: a failed expectation is a panic")]

mod common;

use common::{Firmware, TestBuffers};
use ffa_core::{FfaError, FunctionId, Version};
use ffa_guest_driver::{Buffers, Driver, ErrorKind};

type TestDriver = Driver<Firmware, TestBuffers>;

#[test]
fn negotiates_highest_version_and_learns_id_and_features() {
    let firmware = Firmware::new();
    let driver = TestDriver::new(firmware.clone()).unwrap();
    assert_eq!(driver.version(), Version::V1_2);
    assert_eq!(driver.id().0, 1);
    let features = driver.features();
    assert!(features.rxtx_map_64);
    assert_eq!(features.offers(FunctionId::MsgSendDirectReq2), Some(true));
    assert_eq!(features.offers(FunctionId::MemShare32), Some(true));
    assert_eq!(features.offers(FunctionId::Run32), None);
    assert_eq!(features.schedule_receiver_interrupt, Some(8));
    assert_eq!(features.notification_pending_interrupt, None);
    let calls = firmware.functions_called();
    assert_eq!(&calls[..3], &[FunctionId::Version, FunctionId::IdGet, FunctionId::Features]);
    // The version request asked for v1.2.
    assert_eq!(firmware.model().log[0], ffa_core::Call::Version { requested: 0x0001_0002 });
}

#[test]
fn accepts_a_lower_compatible_version_and_skips_newer_features() {
    let firmware = Firmware::new();
    firmware.model().own_version = Version::V1_1;
    let driver = TestDriver::new(firmware.clone()).unwrap();
    assert_eq!(driver.version(), Version::V1_1);
    // v1.2-only calls are not asked about and count as absent.
    assert_eq!(driver.features().offers(FunctionId::PartitionInfoGetRegs), Some(false));
    assert!(!firmware.functions_called().is_empty());
}

#[test]
fn steps_down_when_a_newer_minor_is_refused() {
    let firmware = Firmware::new();
    firmware.model().own_version = Version::V1_0;
    firmware.model().refuse_newer_minor = true;
    let driver = TestDriver::new(firmware.clone()).unwrap();
    assert_eq!(driver.version(), Version::V1_0);
    let requested: Vec<_> = firmware
        .model()
        .log
        .iter()
        .filter_map(|call| match call {
            ffa_core::Call::Version { requested } => Some(*requested),
            _ => None,
        })
        .collect();
    assert_eq!(requested, vec![0x0001_0002, 0x0001_0001, 0x0001_0000]);
}

#[test]
fn incompatible_version_is_reported_with_both_versions() {
    let firmware = Firmware::new();
    firmware.model().own_version = Version::new(2, 0).unwrap();
    let error = TestDriver::new(firmware).unwrap_err();
    assert_eq!(error.call, FunctionId::Version);
    assert_eq!(
        error.kind,
        ErrorKind::IncompatibleVersion { requested: Version::V1_2, offered: None }
    );
    // A callee answering an incompatible version word directly.
    let firmware = Firmware::new();
    let mut answer = [0u64; 18];
    answer[0] = 0x0002_0000;
    firmware.model().overrides.insert(FunctionId::Version.value(), answer);
    let error = TestDriver::new(firmware).unwrap_err();
    assert_eq!(
        error.kind,
        ErrorKind::IncompatibleVersion {
            requested: Version::V1_2,
            offered: Some(Version::new(2, 0).unwrap())
        }
    );
}

#[test]
fn maps_buffers_of_the_size_features_asks_for_and_unmaps_them() {
    let firmware = Firmware::new();
    firmware.model().rxtx_properties = 2; // 16 KiB minimum and alignment
    let mut driver = TestDriver::new(firmware.clone()).unwrap();
    assert_eq!(driver.features().buffers.minimum_size, 16384);
    let small = TestBuffers::new(0x4000_0000, 0x4000_4000, 4096);
    firmware.attach(&small);
    let refused = driver.map_buffers(small).unwrap_err();
    assert!(matches!(refused.error.kind, ErrorKind::InvalidArgument(_)));
    assert_eq!(refused.buffers.size(), 4096);
    let misaligned = TestBuffers::new(0x4000_1000, 0x4001_0000, 16384);
    assert!(driver.map_buffers(misaligned).is_err());
    assert!(firmware.model().mapped.is_none());
    let buffers = TestBuffers::new(0x4000_0000, 0x4001_0000, 16384);
    firmware.attach(&buffers);
    driver.map_buffers(buffers.clone()).unwrap();
    assert_eq!(firmware.model().mapped, Some((0x4000_0000, 0x4001_0000, 4)));
    let again = driver.map_buffers(buffers).unwrap_err();
    assert_eq!(again.error.kind, ErrorKind::BuffersAlreadyMapped);
    let returned = driver.unmap_buffers().unwrap();
    assert_eq!(returned.tx_address, 0x4000_0000);
    assert!(firmware.model().mapped.is_none());
    let error = driver.unmap_buffers().unwrap_err();
    assert_eq!(error.kind, ErrorKind::BuffersNotMapped);
}

#[test]
fn map_failure_from_the_callee_is_typed_and_hands_buffers_back() {
    let firmware = Firmware::new();
    let mut driver = TestDriver::new(firmware.clone()).unwrap();
    // Not attached: the double does not know this memory and answers DENIED.
    let buffers = TestBuffers::new(0x5000_0000, 0x5000_1000, 4096);
    let failure = driver.map_buffers(buffers).unwrap_err();
    assert_eq!(failure.error.call, FunctionId::RxtxMap64);
    assert_eq!(failure.error.kind, ErrorKind::Ffa(FfaError::Denied));
    assert_eq!(failure.buffers.rx_address, 0x5000_1000);
    assert!(!driver.buffers_mapped());
}

#[test]
fn unexpected_and_malformed_replies_are_told_apart() {
    let firmware = Firmware::new();
    let mut answer = [0u64; 18];
    answer[0] = 0x8400_0070; // a DIRECT_RESP answering ID_GET
    answer[1] = 0x8001_0001;
    firmware.model().overrides.insert(FunctionId::IdGet.value(), answer);
    let error = TestDriver::new(firmware).unwrap_err();
    assert_eq!(error.call, FunctionId::IdGet);
    assert_eq!(error.kind, ErrorKind::UnexpectedResponse(0x8400_0070));

    let firmware = Firmware::new();
    let mut answer = [0u64; 18];
    answer[0] = 0x1234_5678; // not FF-A at all
    firmware.model().overrides.insert(FunctionId::IdGet.value(), answer);
    let error = TestDriver::new(firmware).unwrap_err();
    assert_eq!(error.kind, ErrorKind::UnexpectedResponse(0x1234_5678));

    let firmware = Firmware::new();
    let mut answer = [0u64; 18];
    answer[0] = 0x8400_0060; // FFA_ERROR with an undefined status
    answer[2] = 0x7777;
    firmware.model().overrides.insert(FunctionId::IdGet.value(), answer);
    let error = TestDriver::new(firmware).unwrap_err();
    assert!(matches!(error.kind, ErrorKind::MalformedResponse(_)));

    let firmware = Firmware::new();
    let mut answer = [0u64; 18];
    answer[0] = 0x8400_0061;
    answer[2] = 0x0001_0001; // ID_GET w2[31:16] must be zero
    firmware.model().overrides.insert(FunctionId::IdGet.value(), answer);
    let error = TestDriver::new(firmware).unwrap_err();
    assert!(matches!(error.kind, ErrorKind::MalformedResponse(_)));
    assert!(format!("{error}").contains("FFA_ID_GET"));
}
