//! Indirect messaging: FFA_MSG_SEND2 copies a message from the sender's TX buffer into the
//! receiver's RX buffer, hands that buffer to the receiver and signals "RX buffer full"; the
//! forwarder passes messages for secure partitions on to the SPMC (matrix I01-I05).

use ffa_core::call::Return;
use ffa_core::indirect_message::{MessageHeader, MsgSend2Flags};
use ffa_core::{Call, EndpointId, FfaError, SuccessArgs, Version};

use super::notification_state::{SenderWorld, RX_BUFFER_FULL};
use super::notifications::Peer;
use super::state::Scheduler;
use super::{CallKinds, Caller, Delivery, EndpointMemory, PartitionManager, Role};
use crate::manifest::MessagingMethod;

/// The most an indirect message (header and payload) may take: one 4 KiB page (reference §9).
pub(crate) const MESSAGE_PAGE_SIZE: usize = 4096;

/// A page to copy a message through, so that the sender's TX buffer is read once and the
/// checked bytes are the ones delivered. Behind its own lock, taken only while the mailbox
/// lock is held.
pub(crate) struct MessagePage(pub(crate) [u8; MESSAGE_PAGE_SIZE]);

impl MessagePage {
    pub(crate) const fn new() -> Self {
        Self([0; MESSAGE_PAGE_SIZE])
    }
}

impl core::fmt::Debug for MessagePage {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter.write_str("MessagePage")
    }
}

/// What a checked FFA_MSG_SEND2 came to.
#[derive(Debug, Clone, Copy)]
enum Sent {
    /// Copied into the receiver's RX buffer here.
    Delivered,
    /// Forwarder: the receiver is a secure partition; the SPMC delivers (for this VM).
    Forward(EndpointId),
    /// Forwarder: the receiver's RX buffer is registered with the SPMC and must be taken
    /// from it first; the call runs again then.
    Acquire(EndpointId),
}

impl<
        M: EndpointMemory,
        const ENDPOINTS: usize,
        const VCPUS: usize,
        const CPUS: usize,
        S: super::MemoryPlatform,
    > PartitionManager<M, ENDPOINTS, VCPUS, CPUS, S>
{
    /// FFA_MSG_SEND2 from `caller`; `sender_vm` is the VM a hypervisor sends for (else 0).
    pub(super) fn msg_send2(
        &self,
        scheduler: &mut Scheduler<ENDPOINTS, VCPUS>,
        caller: &Caller,
        sender_vm: EndpointId,
        flags: MsgSend2Flags,
    ) -> Delivery {
        match self.send2(scheduler, caller, sender_vm, flags) {
            Ok(Sent::Delivered) => Self::reply(caller, Return::success(SuccessArgs::EMPTY)),
            Ok(Sent::Forward(sender)) => {
                let call = Call::MsgSend2 { sender_vm: sender, flags };
                self.forward(scheduler, caller, self.settings.spm_id, call)
            }
            Ok(Sent::Acquire(receiver)) => {
                let call = Call::MsgSend2 { sender_vm, flags };
                self.acquire_first(scheduler, caller, receiver, &call)
            }
            Err(error) => Self::reply(caller, Return::error(error)),
        }
    }

    /// The endpoint a message is sent from: a partition (or VM) sends as itself, and must be
    /// able to send indirect messages (DENIED); the normal world names the VM it sends for
    /// in `sender_vm`, or sends as itself with 0.
    fn indirect_sender(
        &self,
        caller: &Caller,
        sender_vm: EndpointId,
    ) -> Result<EndpointId, FfaError> {
        let own = caller.context.endpoint;
        if caller.local {
            if sender_vm.0 != 0 && sender_vm != own {
                return Err(FfaError::InvalidParameters);
            }
            let description = self.description(own).ok_or(FfaError::InvalidParameters)?;
            if !description.messaging.contains(MessagingMethod::INDIRECT) {
                return Err(FfaError::Denied);
            }
            return Ok(own);
        }
        if self.effective_role() != Role::Spmc {
            return Err(FfaError::NotSupported);
        }
        let sender = if sender_vm.0 == 0 { own } else { sender_vm };
        if sender.is_secure() {
            return Err(FfaError::InvalidParameters);
        }
        Ok(sender)
    }

    /// The checks and the copy. Lock order: remote endpoints, mailboxes, message page,
    /// notifications (the scheduler lock is held by the caller throughout).
    fn send2(
        &self,
        scheduler: &Scheduler<ENDPOINTS, VCPUS>,
        caller: &Caller,
        sender_vm: EndpointId,
        flags: MsgSend2Flags,
    ) -> Result<Sent, FfaError> {
        let sender = self.indirect_sender(caller, sender_vm)?;
        // Only partitions may delay the SRI, as for FFA_NOTIFICATION_SET (matrix N05).
        if !sender.is_secure() && !flags.is_empty() {
            return Err(FfaError::InvalidParameters);
        }
        let remote = self.remote.lock();
        let mut mailboxes = self.mailboxes.lock();
        let transmit =
            mailboxes.find(sender).map(|mailbox| mailbox.transmit).ok_or(FfaError::Denied)?;
        let mut page = self.message_page.lock();
        mailboxes.memory.read(transmit, 0, &mut page.0)?;
        // Matrix I01, I02: the header is checked in the sender's version's layout.
        let (header, payload) = MessageHeader::parse(&page.0, caller.version)?;
        if header.sender != sender {
            return Err(FfaError::InvalidParameters);
        }
        let length = usize::try_from(header.payload_offset)
            .ok()
            .and_then(|offset| offset.checked_add(payload.len()))
            .ok_or(FfaError::InvalidParameters)?;
        let receiver = header.receiver;
        match self.peer(receiver)? {
            Peer::Local => {
                let description = self.description(receiver).ok_or(FfaError::InvalidParameters)?;
                let version = scheduler.version_of(receiver).unwrap_or(description.version);
                // Matrix I03: the receiver must take indirect messages (and know FF-A v1.1).
                if !description.messaging.contains(MessagingMethod::INDIRECT)
                    || version < Version::V1_1
                {
                    return Err(FfaError::Denied);
                }
            }
            Peer::Remote => match self.effective_role() {
                Role::Forwarder => {
                    if !self.policy.allows(sender, receiver, CallKinds::INDIRECT_MESSAGES) {
                        return Err(FfaError::Denied);
                    }
                    return Ok(Sent::Forward(sender));
                }
                // A partition's message to a known normal-world endpoint; the normal world's
                // own messages to itself are not the SPMC's business.
                Role::Spmc => {
                    let known = remote.iter().any(|known| known.id == receiver)
                        && !self.is_remote_destroyed(receiver);
                    if !caller.local || !known {
                        return Err(FfaError::InvalidParameters);
                    }
                }
            },
        }
        drop(remote);
        // Matrix I04: the receiver's RX buffer must be mapped and free (and, in the
        // forwarder, taken from the SPMC if it is registered there).
        let receive = match mailboxes.find(receiver) {
            Some(mailbox) if !mailbox.receive_held => {
                let registered_elsewhere =
                    self.is_forwarder() && mailbox.registered && !mailbox.acquired;
                if registered_elsewhere {
                    return Ok(Sent::Acquire(receiver));
                }
                mailbox.receive
            }
            _ => return Err(FfaError::Busy),
        };
        let message = page.0.get(..length).ok_or(FfaError::InvalidParameters)?;
        mailboxes.memory.write(receive, 0, message)?;
        if let Some(mailbox) = mailboxes.find_mut(receiver) {
            mailbox.receive_held = true;
        }
        drop(page);
        self.signal_rx_full(receiver, sender, caller.cpu, flags);
        Ok(Sent::Delivered)
    }

    /// Sets "RX buffer full" for `receiver` (in the SPM framework bitmap for a partition's
    /// message, the hypervisor framework bitmap for a VM's), owes it an NPI and raises the
    /// SRI; a receiver without a notification bitmap gets the message without a signal.
    fn signal_rx_full(
        &self,
        receiver: EndpointId,
        sender: EndpointId,
        cpu: u16,
        flags: MsgSend2Flags,
    ) {
        let signal = self.is_local(receiver) && self.receives_notification_pending(receiver);
        let mut notifications = self.notifications.lock();
        let Some(record) = notifications.receiver_mut(receiver) else { return };
        match SenderWorld::of(sender) {
            SenderWorld::Secure => record.global.spm_framework |= RX_BUFFER_FULL,
            SenderWorld::NonSecure => record.global.hypervisor_framework |= RX_BUFFER_FULL,
        }
        if signal {
            record.signal_global = true;
        }
        let delayed = flags.contains(MsgSend2Flags::DELAY_SCHEDULE_RECEIVER);
        notifications.request_schedule(cpu, delayed);
    }
}
