//! Shared setups for the model tests: a standard system of three test-service partitions, and
//! small helpers for raw calls.
#![allow(dead_code, reason = "each test file uses a different part")]
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use ffa_core::{Call, EndpointId, FfaError, Version};
use ffa_guest_driver::Driver;
use host_model::endpoints::{secure_partition, test_uuid};
use host_model::partitions::test_service;
use host_model::{ModelBuffers, ModelBuilder, ModelConduit};

pub const VM1: EndpointId = EndpointId(1);
pub const VM2: EndpointId = EndpointId(2);
pub const VM3: EndpointId = EndpointId(3);
pub const SP1: EndpointId = EndpointId(0x8001);
pub const SP2: EndpointId = EndpointId(0x8002);
pub const SP3: EndpointId = EndpointId(0x8003);

pub type ModelDriver = Driver<ModelConduit, ModelBuffers>;

/// Three UP test-service partitions, 0x8001-0x8003, with test UUIDs 1-3.
pub fn three_partitions() -> ModelBuilder {
    ModelBuilder::new()
        .partition(secure_partition(SP1.0, test_uuid(1)), test_service)
        .partition(secure_partition(SP2.0, test_uuid(2)), test_service)
        .partition(secure_partition(SP3.0, test_uuid(3)), test_service)
}

/// A driver brought up on `conduit`, or a panic naming what failed.
pub fn driver(conduit: ModelConduit) -> ModelDriver {
    Driver::new(conduit).expect("bring-up")
}

/// A driver with 4 KiB RX/TX buffers allocated from the VM's RAM and mapped.
pub fn driver_with_buffers(conduit: ModelConduit, memory: &host_model::GuestMemory) -> ModelDriver {
    let mut driver = driver(conduit);
    let size = driver.features().buffers.minimum_size;
    let buffers = memory.allocate_buffers(size).expect("RAM for buffers");
    driver.map_buffers(buffers).map_err(|failed| failed.error).expect("RXTX_MAP");
    driver
}

/// The FF-A error a driver result carries.
pub fn ffa_error<T: std::fmt::Debug>(result: ffa_guest_driver::Result<T>) -> FfaError {
    result.expect_err("an FF-A error").ffa_error().expect("FFA_ERROR, not a driver-side error")
}

/// Raw registers of `call` at v1.2.
pub fn registers(call: Call) -> [u64; 18] {
    call.encode(Version::V1_2)
}

/// The error in raw answer registers, if they are FFA_ERROR.
pub fn error_in(answer: &[u64; 18]) -> Option<FfaError> {
    (answer[0] == 0x8400_0060).then(|| FfaError::from_register(answer[2])).flatten()
}
