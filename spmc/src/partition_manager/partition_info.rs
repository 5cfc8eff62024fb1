//! Partition discovery: the 8- and 24-byte partition information descriptors, the properties
//! word, FFA_PARTITION_INFO_GET into the caller's RX buffer and FFA_PARTITION_INFO_GET_REGS.

use ffa_core::call::Return;
use ffa_core::partition_info::PartitionInfoGetFlags;
use ffa_core::{FfaError, SuccessArgs, Uuid, Version};
use zerocopy::little_endian::{U16, U32};
use zerocopy::{Immutable, IntoBytes, KnownLayout, Unaligned};

use super::{Caller, EndpointDescription, EndpointMemory, MemoryPlatform, PartitionManager, Role};
use crate::manifest::{MessagingMethod, VmAvailabilityMessages};

/// FF-A v1.0 partition information descriptor (reference §4.3, 8 bytes).
#[derive(IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct PartitionInfoDescriptorV1_0 {
    partition_id: U16,
    execution_context_count: U16,
    properties: U32,
}
const _: () = assert!(size_of::<PartitionInfoDescriptorV1_0>() == 8);

/// FF-A v1.1/v1.2 partition information descriptor (reference §4.3, 24 bytes).
#[derive(IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct PartitionInfoDescriptorV1_1 {
    partition_id: U16,
    execution_context_count: U16,
    properties: U32,
    uuid: [u8; 16],
}
const _: () = assert!(size_of::<PartitionInfoDescriptorV1_1>() == 24);

/// Descriptors FFA_PARTITION_INFO_GET_REGS returns per call (3 registers each in x3-x17).
const DESCRIPTORS_PER_REGISTER_CALL: usize = 5;

/// The partition properties word (reference §4.3) as a caller of `version` may see it:
/// v1.0 bits [2:0]; v1.1 adds notifications (3) and AArch64 (8); v1.2 adds DIRECT_REQ2 (9, 10).
/// The ID type ([5:4]) is always 00, a PE endpoint.
pub(crate) fn properties(description: &EndpointDescription, version: Version) -> u32 {
    let base = MessagingMethod::RECEIVE_DIRECT_REQUEST
        | MessagingMethod::SEND_DIRECT_REQUEST
        | MessagingMethod::INDIRECT;
    let mut word = (description.messaging & base).bits();
    if version >= Version::V1_1 {
        word |= u32::from(description.notification_support) << 3;
        word |= u32::from(description.aarch64) << 8;
    }
    if version >= Version::V1_2 {
        let second =
            MessagingMethod::RECEIVE_DIRECT_REQUEST2 | MessagingMethod::SEND_DIRECT_REQUEST2;
        word |= (description.messaging & second).bits();
    }
    word
}

/// The UUID a descriptor reports: the endpoint's first, only for Nil queries (else MBZ).
fn reported_uuid(description: &EndpointDescription, query: &Uuid) -> Uuid {
    if query.is_nil() {
        description.uuids.first().copied().unwrap_or(Uuid::NIL)
    } else {
        Uuid::NIL
    }
}

/// The descriptor for a caller of `version`, as bytes, and its size; `extra` are property
/// bits this caller sees beyond [`properties`] (VM availability).
fn descriptor(
    description: &EndpointDescription,
    version: Version,
    query: &Uuid,
    extra: u32,
) -> ([u8; 24], usize) {
    let mut bytes = [0u8; 24];
    let properties = properties(description, version) | extra;
    if version < Version::V1_1 {
        let descriptor = PartitionInfoDescriptorV1_0 {
            partition_id: U16::new(description.id.0),
            execution_context_count: U16::new(description.execution_context_count),
            properties: U32::new(properties),
        };
        if let Some(prefix) = bytes.get_mut(..8) {
            prefix.copy_from_slice(descriptor.as_bytes());
        }
        (bytes, 8)
    } else {
        let descriptor = PartitionInfoDescriptorV1_1 {
            partition_id: U16::new(description.id.0),
            execution_context_count: U16::new(description.execution_context_count),
            properties: U32::new(properties),
            uuid: reported_uuid(description, query).0,
        };
        bytes.copy_from_slice(descriptor.as_bytes());
        (bytes, 24)
    }
}

/// Partition-properties bit 6: the partition wants VM-created messages.
const VM_CREATED_PROPERTY: u32 = 1 << 6;
/// Partition-properties bit 7: the partition wants VM-destroyed messages.
const VM_DESTROYED_PROPERTY: u32 = 1 << 7;

/// Subscriptions as read once per call (taken from the scheduler lock before `remote`).
type Subscriptions<const ENDPOINTS: usize> =
    heapless::Vec<(ffa_core::EndpointId, VmAvailabilityMessages), ENDPOINTS>;

impl<
        M: EndpointMemory,
        const ENDPOINTS: usize,
        const VCPUS: usize,
        const CPUS: usize,
        S: MemoryPlatform,
    > PartitionManager<M, ENDPOINTS, VCPUS, CPUS, S>
{
    /// The endpoints listed for `uuid` (Nil: all), in order: the SPMC lists its partitions;
    /// the forwarder lists its VMs (not destroyed ones) and then the secure partitions it
    /// knows (`remote`, read under the remote-endpoints lock).
    fn listed<'a>(
        &'a self,
        remote: &'a [EndpointDescription],
        uuid: &'a Uuid,
    ) -> impl Iterator<Item = &'a EndpointDescription> + 'a {
        let remote = if self.is_forwarder() { remote } else { &[] };
        self.local
            .iter()
            .filter(|description| !self.is_destroyed(description.id))
            .chain(remote.iter())
            .filter(move |description| uuid.is_nil() || description.has_uuid(uuid))
    }

    /// The subscriptions, when this caller is to see partition-properties bits 6 and 7: the
    /// SPMC's normal world (the NS physical instance) at v1.1 or later.
    fn visible_subscriptions(&self, caller: &Caller) -> Subscriptions<ENDPOINTS> {
        if self.effective_role() != Role::Spmc || caller.local || caller.version < Version::V1_1 {
            return heapless::Vec::new();
        }
        self.scheduler.lock().lifecycle.subscriptions.clone()
    }

    /// Bits 6 and 7 for `description` (only with bit 0, receiving direct requests, set).
    fn availability_bits(
        subscriptions: &Subscriptions<ENDPOINTS>,
        description: &EndpointDescription,
    ) -> u32 {
        if !description.messaging.contains(MessagingMethod::RECEIVE_DIRECT_REQUEST) {
            return 0;
        }
        let messages = subscriptions
            .iter()
            .find(|(id, _)| *id == description.id)
            .map_or(VmAvailabilityMessages::empty(), |(_, messages)| *messages);
        let mut bits = 0;
        if messages.contains(VmAvailabilityMessages::VM_CREATED) {
            bits |= VM_CREATED_PROPERTY;
        }
        if messages.contains(VmAvailabilityMessages::VM_DESTROYED) {
            bits |= VM_DESTROYED_PROPERTY;
        }
        bits
    }

    /// FFA_PARTITION_INFO_GET (matrix D23, D24). Lock order: scheduler (subscriptions, read
    /// and released), remote endpoints, then mailboxes.
    pub(super) fn partition_info_get(
        &self,
        caller: &Caller,
        uuid: Uuid,
        flags: PartitionInfoGetFlags,
    ) -> Return {
        let subscriptions = self.visible_subscriptions(caller);
        let remote = self.remote.lock();
        let count = self.listed(&remote, &uuid).count();
        let Ok(count_word) = u32::try_from(count) else {
            return Return::error(FfaError::NoMemory);
        };
        if count == 0 {
            return Return::error(FfaError::InvalidParameters);
        }
        if flags.contains(PartitionInfoGetFlags::COUNT_ONLY) {
            return Return::success(SuccessArgs::partition_count(count_word, 0));
        }
        let size: usize = if caller.version < Version::V1_1 { 8 } else { 24 };
        let owner = caller.context.endpoint;
        let mut mailboxes = self.mailboxes.lock();
        // Matrix D23: an RX buffer the caller still owns (or none at all) is BUSY.
        let (receive, page_count) = match mailboxes.find(owner) {
            Some(mailbox) if !mailbox.receive_held => (mailbox.receive, mailbox.page_count),
            _ => return Return::error(FfaError::Busy),
        };
        let capacity = u64::from(page_count).saturating_mul(ffa_core::rxtx::PAGE_SIZE);
        if (count as u64).saturating_mul(size as u64) > capacity {
            return Return::error(FfaError::NoMemory);
        }
        for (index, description) in self.listed(&remote, &uuid).enumerate() {
            let extra = Self::availability_bits(&subscriptions, description);
            let (bytes, length) = descriptor(description, caller.version, &uuid, extra);
            let Some(slice) = bytes.get(..length) else {
                return Return::error(FfaError::InvalidParameters);
            };
            if let Err(error) = mailboxes.memory.write(receive, index * length, slice) {
                return Return::error(error);
            }
        }
        if let Some(mailbox) = mailboxes.find_mut(owner) {
            mailbox.receive_held = true;
        }
        let reported_size = if caller.version < Version::V1_1 { 0 } else { size as u32 };
        Return::success(SuccessArgs::partition_count(count_word, reported_size))
    }

    /// FFA_PARTITION_INFO_GET_REGS (matrix D25): up to five descriptors in x3-x17 per call.
    pub(super) fn partition_info_get_regs(
        &self,
        caller: &Caller,
        uuid: Uuid,
        start_index: u16,
        tag: u16,
    ) -> Return {
        // This core never hands out a UUID information tag.
        if tag != 0 {
            return Return::error(FfaError::InvalidParameters);
        }
        let subscriptions = self.visible_subscriptions(caller);
        let remote = self.remote.lock();
        let count = self.listed(&remote, &uuid).count();
        let start = usize::from(start_index);
        let Some(last) = count.checked_sub(1) else {
            return Return::error(FfaError::InvalidParameters);
        };
        if start > last || last > usize::from(u16::MAX) {
            return Return::error(FfaError::InvalidParameters);
        }
        let current = core::cmp::min(last, start + DESCRIPTORS_PER_REGISTER_CALL - 1);
        // values[0] is x2; each descriptor takes three registers from x3.
        let mut values = [0u64; 16];
        let chosen = self.listed(&remote, &uuid).enumerate().skip(start).take(current + 1 - start);
        for (index, description) in chosen {
            let slot = (index - start) * 3 + 1;
            let first = u64::from(description.id.0)
                | u64::from(description.execution_context_count) << 16
                | u64::from(
                    properties(description, caller.version)
                        | Self::availability_bits(&subscriptions, description),
                ) << 32;
            let [low, high] = reported_uuid(description, &uuid).to_register_pair();
            for (offset, value) in [first, low, high].into_iter().enumerate() {
                if let Some(register) = values.get_mut(slot + offset) {
                    *register = value;
                }
            }
        }
        if let Some(summary) = values.first_mut() {
            *summary = last as u64 | (current as u64) << 16 | 24u64 << 48;
        }
        Return::success(SuccessArgs::Args64(values))
    }
}
