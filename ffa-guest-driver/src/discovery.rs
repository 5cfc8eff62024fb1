//! Partition discovery: PARTITION_INFO_GET (count, descriptors, RX_RELEASE), GET_REGS, lookup.

use ffa_core::partition_info::PartitionInfoGetFlags;
use ffa_core::{Call, Conduit, EndpointId, FfaError, FunctionId, Uuid, Version};

use crate::buffers::Buffers;
use crate::error::{DriverError, ErrorKind, Result};
use crate::partition_info_descriptor;
use crate::Driver;

bitflags::bitflags! {
    /// The partition properties word (reference §4.3). Unknown bits are kept.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct PartitionProperties: u32 {
        /// Bit 0: receives direct requests.
        const DIRECT_REQUEST_RECEIVE = 1 << 0;
        /// Bit 1: sends direct requests.
        const DIRECT_REQUEST_SEND = 1 << 1;
        /// Bit 2: sends and receives indirect messages.
        const INDIRECT_MESSAGES = 1 << 2;
        /// Bit 3: receives notifications (v1.1).
        const NOTIFICATIONS = 1 << 3;
        /// Bit 6: wants VM-created messages (v1.1).
        const VM_CREATED_MESSAGES = 1 << 6;
        /// Bit 7: wants VM-destroyed messages (v1.1).
        const VM_DESTROYED_MESSAGES = 1 << 7;
        /// Bit 8: AArch64 (v1.1; clear means AArch32 only, so no SMC64 or REQ2).
        const AARCH64 = 1 << 8;
        /// Bit 9: receives DIRECT_REQ2 (v1.2).
        const DIRECT_REQUEST2_RECEIVE = 1 << 9;
        /// Bit 10: sends DIRECT_REQ2 (v1.2).
        const DIRECT_REQUEST2_SEND = 1 << 10;
        const _ = !0;
    }
}

/// One partition as discovery reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PartitionInfo {
    /// Its endpoint ID.
    pub id: EndpointId,
    /// Execution-context count (or the proxy endpoint ID for a dependent peripheral).
    pub execution_contexts: u16,
    /// Properties.
    pub properties: PartitionProperties,
    /// UUID (the queried one when the callee leaves the field zero; Nil at v1.0).
    pub uuid: Uuid,
    /// Image UUID (48-byte descriptors only).
    pub image_uuid: Option<Uuid>,
    /// The partition's FF-A version (48-byte descriptors only).
    pub partition_version: Option<Version>,
}

impl PartitionInfo {
    /// A placeholder (ID 0, nothing set) for output arrays.
    pub const EMPTY: Self = Self {
        id: EndpointId(0),
        execution_contexts: 0,
        properties: PartitionProperties::empty(),
        uuid: Uuid::NIL,
        image_uuid: None,
        partition_version: None,
    };

    /// Whether DIRECT_REQ2 may be used with it (AArch64 and bit 9).
    pub fn accepts_direct_request2(&self) -> bool {
        self.properties
            .contains(PartitionProperties::AARCH64 | PartitionProperties::DIRECT_REQUEST2_RECEIVE)
    }

    /// Whether SMC64 direct requests may be used with it. v1.0 descriptors have no AArch64
    /// bit; a partition reported that way is assumed to be 64-bit.
    pub fn is_aarch64(&self, descriptor_has_bit: bool) -> bool {
        !descriptor_has_bit || self.properties.contains(PartitionProperties::AARCH64)
    }

    fn with_queried_uuid(mut self, queried: Uuid) -> Self {
        if self.uuid.is_nil() {
            self.uuid = queried;
        }
        self
    }
}

const MALFORMED: fn(&'static str) -> DriverError =
    |reason| DriverError::new(FunctionId::PartitionInfoGet, ErrorKind::MalformedResponse(reason));

impl<C: Conduit, B: Buffers> Driver<C, B> {
    /// How many partitions match `uuid` (Nil: all), with the count-only flag (v1.1+). At v1.0
    /// there is no such flag: the descriptors are fetched and the RX buffer released.
    pub fn partition_count(&mut self, uuid: Uuid) -> Result<u32> {
        if self.version() < Version::V1_1 {
            return self.partition_info(uuid, &mut []).map(|count| count as u32);
        }
        let flags = PartitionInfoGetFlags::COUNT_ONLY;
        let args = self.link.call_success(Call::PartitionInfoGet { uuid, flags })?;
        Ok(args.register(2) as u32)
    }

    /// FFA_PARTITION_INFO_GET: the count first (count-only flag), then the descriptors into the
    /// RX buffer, copied into `out`, then FFA_RX_RELEASE. Returns how many partitions match;
    /// `out` receives the first `out.len()` of them. Any descriptor size the callee reports is
    /// read (8, 24, 48 or larger).
    pub fn partition_info(&mut self, uuid: Uuid, out: &mut [PartitionInfo]) -> Result<usize> {
        let call = FunctionId::PartitionInfoGet;
        self.mapped(call)?;
        if self.version() >= Version::V1_1 && self.partition_count(uuid)? == 0 {
            return Ok(0);
        }
        let flags = PartitionInfoGetFlags::empty();
        let args = self.link.call_success(Call::PartitionInfoGet { uuid, flags })?;
        let count = args.register(2) as usize;
        let size = match (args.register(3) as usize, self.version()) {
            (0, Version::V1_0) => 8,
            (size, _) => size,
        };
        let parsed = self.mapped(call)?.with_rx(|rx| read_descriptors(rx, count, size, uuid, out));
        let released = self.release_rx();
        let count = parsed?;
        released?;
        Ok(count)
    }

    /// FFA_PARTITION_INFO_GET_REGS (v1.2, when FFA_FEATURES offers it): the descriptors come
    /// in registers, five per call, so no RX buffer is needed.
    pub fn partition_info_regs(&mut self, uuid: Uuid, out: &mut [PartitionInfo]) -> Result<usize> {
        let call = FunctionId::PartitionInfoGetRegs;
        if self.version() < Version::V1_2 {
            return Err(DriverError::new(call, ErrorKind::NotOffered));
        }
        self.require(call)?;
        let malformed = |reason| DriverError::new(call, ErrorKind::MalformedResponse(reason));
        let (mut start_index, mut tag) = (0u16, 0u16);
        loop {
            let args =
                self.link.call_success(Call::PartitionInfoGetRegs { uuid, start_index, tag })?;
            let summary = args.register(2);
            let last = summary as u16;
            let current = (summary >> 16) as u16;
            tag = (summary >> 32) as u16;
            if current < start_index || current > last || current - start_index >= 5 {
                return Err(malformed("GET_REGS indices out of range"));
            }
            for (slot, index) in (start_index..=current).enumerate() {
                let first = 3 + 3 * slot;
                let word = args.register(first);
                let info = PartitionInfo {
                    id: EndpointId(word as u16),
                    execution_contexts: (word >> 16) as u16,
                    properties: PartitionProperties::from_bits_retain((word >> 32) as u32),
                    uuid: Uuid::from_register_pair(
                        args.register(first + 1),
                        args.register(first + 2),
                    ),
                    image_uuid: None,
                    partition_version: None,
                }
                .with_queried_uuid(uuid);
                if let Some(slot) = out.get_mut(usize::from(index)) {
                    *slot = info;
                }
            }
            if current == last {
                return Ok(usize::from(last) + 1);
            }
            start_index = current + 1;
        }
    }

    /// Finds the partition with `uuid`, through GET_REGS when offered, else through
    /// PARTITION_INFO_GET. An unknown UUID (INVALID_PARAMETERS, or no match) is
    /// [`ErrorKind::PartitionNotFound`].
    pub fn find_partition(&mut self, uuid: Uuid) -> Result<PartitionInfo> {
        let mut found = [PartitionInfo::EMPTY];
        let use_registers = self.version() >= Version::V1_2
            && self.features().offers(FunctionId::PartitionInfoGetRegs) == Some(true);
        let result = if use_registers {
            self.partition_info_regs(uuid, &mut found)
        } else {
            self.partition_info(uuid, &mut found)
        };
        match result {
            Ok(0) => {
                Err(DriverError::new(FunctionId::PartitionInfoGet, ErrorKind::PartitionNotFound))
            }
            Ok(_) => Ok(found[0]),
            Err(error) if error.is(FfaError::InvalidParameters) => {
                Err(DriverError::new(error.call, ErrorKind::PartitionNotFound))
            }
            Err(error) => Err(error),
        }
    }
}

fn read_descriptors(
    rx: &[u8],
    count: usize,
    size: usize,
    queried: Uuid,
    out: &mut [PartitionInfo],
) -> Result<usize> {
    if size < 8 {
        return Err(MALFORMED("descriptor size below 8 bytes"));
    }
    let total = count.checked_mul(size).ok_or(MALFORMED("descriptor count overflows"))?;
    if total > rx.len() {
        return Err(MALFORMED("descriptors do not fit the RX buffer"));
    }
    for (index, slot) in out.iter_mut().take(count).enumerate() {
        let start = index * size;
        let bytes = rx.get(start..start + size).ok_or(MALFORMED("descriptor outside RX"))?;
        let parsed =
            partition_info_descriptor::parse(bytes).ok_or(MALFORMED("short descriptor"))?;
        *slot = PartitionInfo {
            id: EndpointId(parsed.base.partition_id.get()),
            execution_contexts: parsed.base.execution_context_count.get(),
            properties: PartitionProperties::from_bits_retain(parsed.base.properties.get()),
            uuid: parsed.uuid.map(Uuid).unwrap_or(Uuid::NIL),
            image_uuid: parsed.image_uuid.map(Uuid),
            partition_version: parsed.version.and_then(|word| Version::from_word(word).ok()),
        }
        .with_queried_uuid(queried);
    }
    Ok(count)
}
