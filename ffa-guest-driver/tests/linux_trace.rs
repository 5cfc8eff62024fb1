//! Bring-up, discovery, direct messages and a one-page share against a double that answers
//! exactly as the firmware in shared/vectors/linux-6.12-arm_ffa-probe.md did (v1.2, one
//! partition 0x8001 with the OP-TEE UUID, every optional feature refused). The MEM_SHARE
//! descriptor the driver writes must equal, byte for byte, the one Linux wrote.
#![allow(clippy::unwrap_used, reason = "test helpers: a failed expectation is a panic")]

mod common;

use common::{TestBuffers, OPTEE_UUID};
use ffa_core::{Conduit, EndpointId, FunctionId, Uuid, Version};
use ffa_guest_driver::tee::{Channel, Transport};
use ffa_guest_driver::{Driver, MemoryHandle, PageRange};

/// The 96-byte descriptor from the vector, as little-endian words.
const LINUX_SHARE_DESCRIPTOR: [u32; 24] = [
    0x002f0001, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000010, 0x00000001,
    0x00000030, 0x00000000, 0x00000000, 0x00000000, 0x00028001, 0x00000040, 0x00000000, 0x00000000,
    0x00000001, 0x00000001, 0x00000000, 0x00000000, 0x402db000, 0x00000000, 0x00000001, 0x00000000,
];

struct TraceFirmware {
    buffers: TestBuffers,
    requests: Vec<[u64; 18]>,
    share_descriptor: Vec<u8>,
}

fn registers(values: &[(usize, u64)]) -> [u64; 18] {
    let mut registers = [0u64; 18];
    for &(index, value) in values {
        registers[index] = value;
    }
    registers
}

impl Conduit for TraceFirmware {
    fn call(&mut self, input: [u64; 18]) -> [u64; 18] {
        self.requests.push(input);
        let not_supported = registers(&[(0, 0x8400_0060), (2, 0xffff_ffff)]);
        let success = registers(&[(0, 0x8400_0061)]);
        match input[0] {
            0x8400_0063 => registers(&[(0, 0x10002), (1, input[1])]),
            0x8400_0069 => registers(&[(0, 0x8400_0061), (2, 1)]),
            0x8400_0064 if input[1] == 0xc400_0066 => success,
            0x8400_0064 => not_supported,
            0xc400_0066 => success,
            0x8400_0068 => {
                if input[5] == 0 {
                    let mut rx = self.buffers.rx.borrow_mut();
                    rx[0..2].copy_from_slice(&0x8001u16.to_le_bytes());
                    rx[2..4].copy_from_slice(&1u16.to_le_bytes());
                    rx[4..8].copy_from_slice(&0x3u32.to_le_bytes());
                    rx[8..24].copy_from_slice(&Uuid::parse(OPTEE_UUID).unwrap().0);
                }
                registers(&[(0, 0x8400_0061), (2, 1), (3, 0x18)])
            }
            0x8400_0065 => success,
            0x8400_006f => match input[3] {
                0 => registers(&[(0, 0x8400_0070), (1, 0x8001_0001), (3, 1)]),
                1 => registers(&[(0, 0x8400_0070), (1, 0x8001_0001), (3, 4)]),
                _ => registers(&[(0, 0x8400_0070), (1, 0x8001_0001)]),
            },
            0x8400_0073 => {
                self.share_descriptor = self.buffers.tx.borrow()[..input[2] as usize].to_vec();
                registers(&[(0, 0x8400_0061), (2, 1)])
            }
            _ => not_supported,
        }
    }
}

#[test]
fn the_driver_works_against_the_linux_trace_firmware() {
    let buffers = TestBuffers::new(0x401a_2000, 0x401a_1000, 4096);
    let firmware =
        TraceFirmware { buffers: buffers.clone(), requests: vec![], share_descriptor: vec![] };
    // Linux 6.12 asked for v1.1 (the trace's FFA_VERSION x1 = 0x10001) and so used the v1.1
    // descriptor layout (16-byte EMADs); at v1.2 EMADs are 32 bytes.
    let mut driver =
        Driver::<TraceFirmware, TestBuffers>::with_highest_version(firmware, Version::V1_1)
            .unwrap();
    assert_eq!(driver.version(), Version::V1_1);
    assert_eq!(driver.id(), EndpointId(1));
    assert!(driver.features().rxtx_map_64);
    assert_eq!(driver.features().offers(FunctionId::MsgSendDirectReq2), Some(false));
    assert_eq!(driver.features().schedule_receiver_interrupt, None);
    driver.map_buffers(buffers).unwrap();
    let map = *driver.conduit().requests.last().unwrap();
    assert_eq!(map, registers(&[(0, 0xc400_0066), (1, 0x401a_2000), (2, 0x401a_1000), (3, 1)]));

    let channel = Channel::open(&mut driver, Uuid::parse(OPTEE_UUID).unwrap()).unwrap();
    assert_eq!(channel.partition().id, EndpointId(0x8001));
    assert_eq!(channel.transport(), Transport::Direct32);

    let partition = EndpointId(0x8001);
    driver.conduit().requests.clear();
    assert_eq!(driver.direct_request_32(partition, [0; 5]).unwrap(), [1, 0, 0, 0, 0]);
    assert_eq!(driver.direct_request_32(partition, [1, 0, 0, 0, 0]).unwrap(), [4, 0, 0, 0, 0]);
    assert_eq!(driver.direct_request_32(partition, [2, 0, 0, 0, 0]).unwrap(), [0; 5]);
    let handle = driver
        .memory_share(partition, &[PageRange { address: 0x402d_b000, page_count: 1 }])
        .unwrap();
    assert_eq!(handle, MemoryHandle(1));
    driver.direct_request_32(partition, [0x8000_0000, 1, 0, 0, 0]).unwrap();

    // Our requests are the trace's requests, register for register.
    let requests = driver.conduit().requests.clone();
    assert_eq!(
        requests,
        vec![
            registers(&[(0, 0x8400_006f), (1, 0x18001)]),
            registers(&[(0, 0x8400_006f), (1, 0x18001), (3, 1)]),
            registers(&[(0, 0x8400_006f), (1, 0x18001), (3, 2)]),
            registers(&[(0, 0x8400_0073), (1, 0x60), (2, 0x60)]),
            registers(&[(0, 0x8400_006f), (1, 0x18001), (3, 0x8000_0000), (4, 1)]),
        ]
    );
    let words: Vec<u32> = driver
        .conduit()
        .share_descriptor
        .chunks(4)
        .map(|word| u32::from_le_bytes(word.try_into().unwrap()))
        .collect();
    assert_eq!(words, LINUX_SHARE_DESCRIPTOR.to_vec());
}
