//! The hypervisor's own boot: it negotiates its FF-A version with the SPMC (the SPMD carries the
//! FFA_VERSION as a framework message) and discovers the secure partitions with
//! FFA_PARTITION_INFO_GET_REGS, telling the forwarder about each.

use ffa_core::direct_message::{DirectBody, DirectMessage};
use ffa_core::framework_message::FrameworkMessage;
use ffa_core::rxtx::RxtxMapArgs;
use ffa_core::version::VersionResponse;
use ffa_core::{Call, EndpointId, FfaError, Return, SuccessArgs, Uuid, VcpuId};
use spmc::manifest::{
    ExceptionLevel, MessagingMethod, PowerManagementMessages, VmAvailabilityMessages,
};
use spmc::partition_manager::{ContextId, EndpointDescription, Role, Transfer};

use crate::builder::HYPERVISOR_BUFFERS;
use crate::dispatcher::Dispatcher;
use crate::endpoints::SPMC_ID;
use crate::report::{ModelError, TraceEvent};

/// The CPU the hypervisor boots on.
const BOOT_CPU: usize = 0;

/// Partition properties bit 3: receives notifications.
const NOTIFICATION_SUPPORT: u64 = 1 << 3;
/// Partition properties bit 6: wants VM_CREATED messages.
const VM_CREATED: u64 = 1 << 6;
/// Partition properties bit 7: wants VM_DESTROYED messages.
const VM_DESTROYED: u64 = 1 << 7;
/// Partition properties bit 8: AArch64.
const AARCH64: u64 = 1 << 8;

impl Dispatcher {
    /// A normal-world call from `from` that the SPMC answers at once (no partition runs).
    fn secure_world_call(&mut self, from: ContextId, call: Call) -> Result<Return, ModelError> {
        let registers = call.encode(self.version);
        self.trace.push(crate::report::TraceEntry {
            step: 0,
            cpu: BOOT_CPU as u16,
            event: TraceEvent::SecureWorldCall { from, registers },
        });
        let delivery = self.spmc.handle(from, &registers);
        self.check(Role::Spmc)?;
        self.trace.push(crate::report::TraceEntry {
            step: 0,
            cpu: BOOT_CPU as u16,
            event: TraceEvent::Delivery { manager: Role::Spmc, delivery },
        });
        if delivery.transfer != Transfer::OtherWorld || delivery.to != from {
            return Err(ModelError::Platform(format!(
                "the SPMC did not answer the hypervisor's {:?} at once: {delivery:?}",
                call.function_id()
            )));
        }
        Return::decode(&delivery.registers, self.version).map_err(|error| {
            ModelError::Platform(format!("the SPMC's answer does not decode: {error:?}"))
        })
    }

    /// The hypervisor's boot: version negotiation through the SPMD, then discovery.
    pub(crate) fn boot_hypervisor(&mut self) -> Result<(), ModelError> {
        let spmd = ContextId { endpoint: EndpointId::SPMD, vcpu: VcpuId(BOOT_CPU as u16) };
        let request = Call::MsgSendDirectReq(DirectMessage {
            source: EndpointId::SPMD,
            destination: SPMC_ID,
            body: DirectBody::Framework32(FrameworkMessage::VersionRequest {
                requested: self.version.to_word(),
            }),
        });
        match self.secure_world_call(spmd, request)? {
            Return::DirectResponse(DirectMessage {
                body:
                    DirectBody::Framework32(FrameworkMessage::VersionResponse(
                        VersionResponse::Supported(_),
                    )),
                ..
            }) => {}
            other => {
                return Err(ModelError::Platform(format!(
                    "the SPMC answered the SPMD's version request with {other:?}"
                )))
            }
        }
        self.map_hypervisor_buffers()?;
        for (description, messages) in self.discover_partitions()? {
            let id = description.id;
            self.forwarder.add_remote(description).map_err(|error| {
                ModelError::Platform(format!("forwarder refused a partition: {error:?}"))
            })?;
            if !messages.is_empty() {
                self.forwarder.set_vm_availability(id, messages).map_err(|error| {
                    ModelError::Platform(format!(
                        "forwarder refused {:#06x}'s VM availability messages: {error:?}",
                        id.0
                    ))
                })?;
            }
        }
        Ok(())
    }

    /// FFA_RXTX_MAP of the hypervisor's own buffers at the SPMC: its TX buffer is where the
    /// forwarder writes the descriptors of memory transactions it forwards.
    fn map_hypervisor_buffers(&mut self) -> Result<(), ModelError> {
        let hypervisor = ContextId { endpoint: EndpointId::HYPERVISOR, vcpu: VcpuId(0) };
        let page_count = crate::dispatcher::HYPERVISOR_BUFFER_PAGES;
        let tx_address = HYPERVISOR_BUFFERS.0;
        let rx_address = tx_address + u64::from(page_count) * crate::address::PAGE_SIZE;
        let call = Call::RxtxMap {
            buffers: RxtxMapArgs::Buffers { tx_address, rx_address, page_count },
            is_64: true,
        };
        match self.secure_world_call(hypervisor, call)? {
            Return::Success { .. } => Ok(()),
            other => Err(ModelError::Platform(format!(
                "the SPMC refused the hypervisor's RX/TX buffers: {other:?}"
            ))),
        }
    }

    /// FFA_PARTITION_INFO_GET_REGS from the hypervisor until every partition is listed.
    /// Each with the VM availability messages it subscribed to (partition properties bits 6
    /// and 7).
    fn discover_partitions(
        &mut self,
    ) -> Result<Vec<(EndpointDescription, VmAvailabilityMessages)>, ModelError> {
        let hypervisor = ContextId { endpoint: EndpointId::HYPERVISOR, vcpu: VcpuId(0) };
        let mut found = Vec::new();
        let mut start_index = 0u16;
        loop {
            let call = Call::PartitionInfoGetRegs { uuid: Uuid::NIL, start_index, tag: 0 };
            let values = match self.secure_world_call(hypervisor, call)? {
                Return::Success { args: SuccessArgs::Args64(values), .. } => values,
                // No partitions at all.
                Return::Error { error: FfaError::InvalidParameters, .. } if start_index == 0 => {
                    return Ok(found)
                }
                other => {
                    return Err(ModelError::Platform(format!(
                        "PARTITION_INFO_GET_REGS answered {other:?}"
                    )))
                }
            };
            let summary = values[0];
            let last = (summary & 0xFFFF) as u16;
            let current = ((summary >> 16) & 0xFFFF) as u16;
            for slot in 0..usize::from(current.saturating_sub(start_index)) + 1 {
                let [first, low, high] = [1, 2, 3]
                    .map(|offset| values.get(slot * 3 + offset).copied().unwrap_or_default());
                let properties = first >> 32;
                let mut messages = VmAvailabilityMessages::empty();
                if properties & VM_CREATED != 0 {
                    messages |= VmAvailabilityMessages::VM_CREATED;
                }
                if properties & VM_DESTROYED != 0 {
                    messages |= VmAvailabilityMessages::VM_DESTROYED;
                }
                found.push((self.describe(first, Uuid::from_register_pair(low, high)), messages));
            }
            if current >= last {
                return Ok(found);
            }
            start_index = current + 1;
        }
    }

    /// An endpoint description from a PARTITION_INFO_GET_REGS descriptor. The register form
    /// carries one UUID and no version or exception level: the forwarder needs neither.
    fn describe(&self, first: u64, uuid: Uuid) -> EndpointDescription {
        let properties = first >> 32;
        let mut uuids = heapless::Vec::new();
        if !uuid.is_nil() {
            let _ = uuids.push(uuid);
        }
        EndpointDescription {
            id: EndpointId(first as u16),
            uuids,
            execution_context_count: (first >> 16) as u16,
            messaging: MessagingMethod::from_bits_truncate(properties as u32),
            version: self.version,
            exception_level: ExceptionLevel::SecureEl1,
            aarch64: properties & AARCH64 != 0,
            notification_support: properties & NOTIFICATION_SUPPORT != 0,
            power_management: PowerManagementMessages::empty(),
        }
    }
}
