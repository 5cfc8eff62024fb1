//! Memory management: share/lend/donate a scatter-gather list with automatic fragmentation,
//! reclaim; and on the borrower side retrieve (with FRAG_RX) and relinquish.

use ffa_core::call::{MemoryTransaction, ReclaimFlags, Return};
use ffa_core::rxtx::PAGE_SIZE;
use ffa_core::{Call, Conduit, EndpointId, FunctionId};
use zerocopy::little_endian::{U16, U32, U64};

use crate::buffers::Buffers;
use crate::driver::response_function;
use crate::error::{DriverError, ErrorKind, Result};
use crate::transaction_descriptor::{
    self, ConstituentReader, EndpointMemoryAccessDescriptor, MemoryTransactionDescriptor,
    SendDescriptor, CONSTITUENT_SIZE,
};
use crate::Driver;

/// A memory transaction handle (reference §7.7); bit 63 set when a hypervisor allocated it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemoryHandle(pub u64);

/// A run of whole 4 KiB pages at a physical (or IPA) address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PageRange {
    /// Base address, 4 KiB aligned.
    pub address: u64,
    /// Number of 4 KiB pages, at least 1.
    pub page_count: u32,
}

/// Which send operation (also the retrieve "transaction type", MTD flags `[4:3]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemoryOperation {
    /// FFA_MEM_SHARE: the owner keeps access.
    Share,
    /// FFA_MEM_LEND: the owner loses access until reclaim.
    Lend,
    /// FFA_MEM_DONATE: ownership moves to the (single) receiver.
    Donate,
}

impl MemoryOperation {
    fn function(self) -> FunctionId {
        match self {
            Self::Share => FunctionId::MemShare32,
            Self::Lend => FunctionId::MemLend32,
            Self::Donate => FunctionId::MemDonate32,
        }
    }

    /// The transaction-type value of MTD flags `[4:3]`.
    const fn type_bits(self) -> u32 {
        match self {
            Self::Share => 1 << 3,
            Self::Lend => 2 << 3,
            Self::Donate => 3 << 3,
        }
    }
}

pub use ffa_core::memory::{AccessPermissions, DataAccess, InstructionAccess};

/// Memory region attributes (reference §7.5), the v1.1 16-bit field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MemoryAttributes(pub u16);

impl MemoryAttributes {
    /// Type not specified (LEND to one borrower, DONATE).
    pub const NOT_SPECIFIED: Self = Self(0);
    /// Normal memory, write-back, inner shareable (`0x2F`, what SHARE uses).
    pub const NORMAL_WRITE_BACK_INNER_SHAREABLE: Self = Self(0x2F);
    /// Device nGnRnE (`0x10`).
    pub const DEVICE_NGNRNE: Self = Self(0x10);
    /// Bit 6, the NS bit a relayer sets in retrieve responses.
    pub const NS_BIT: u16 = 1 << 6;
}

/// One borrower and what it may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Receiver {
    /// The borrower.
    pub id: EndpointId,
    /// Its permissions.
    pub permissions: AccessPermissions,
}

/// A memory send: the pages (non-contiguous is the normal case), who gets them, and how.
#[derive(Debug, Clone, Copy)]
pub struct MemorySend<'a> {
    /// SHARE, LEND or DONATE.
    pub operation: MemoryOperation,
    /// Borrowers (DONATE: exactly one).
    pub receivers: &'a [Receiver],
    /// The pages.
    pub ranges: &'a [PageRange],
    /// Memory attributes (SHARE must specify them; LEND to one borrower and DONATE must not).
    pub attributes: MemoryAttributes,
    /// Zero the memory before the borrower maps it (LEND and DONATE only).
    pub zero_memory: bool,
    /// Implementation-defined tag.
    pub tag: u64,
}

impl<'a> MemorySend<'a> {
    /// A SHARE of `ranges` as normal write-back memory.
    pub fn share(receivers: &'a [Receiver], ranges: &'a [PageRange]) -> Self {
        Self {
            operation: MemoryOperation::Share,
            receivers,
            ranges,
            attributes: MemoryAttributes::NORMAL_WRITE_BACK_INNER_SHAREABLE,
            zero_memory: false,
            tag: 0,
        }
    }

    /// A LEND of `ranges` (type left to the borrower).
    pub fn lend(receivers: &'a [Receiver], ranges: &'a [PageRange]) -> Self {
        Self {
            operation: MemoryOperation::Lend,
            attributes: MemoryAttributes::NOT_SPECIFIED,
            ..Self::share(receivers, ranges)
        }
    }

    /// A DONATE of `ranges` to one receiver.
    pub fn donate(receiver: &'a [Receiver], ranges: &'a [PageRange]) -> Self {
        Self {
            operation: MemoryOperation::Donate,
            attributes: MemoryAttributes::NOT_SPECIFIED,
            ..Self::share(receiver, ranges)
        }
    }
}

/// What a borrower asks for in FFA_MEM_RETRIEVE_REQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrieveRequest {
    /// The handle the owner sent us (e.g. in a direct message).
    pub handle: MemoryHandle,
    /// The owner.
    pub sender: EndpointId,
    /// The operation the owner used, if known (else the relayer reports it).
    pub operation: Option<MemoryOperation>,
    /// The tag the owner used.
    pub tag: u64,
    /// The permissions we want.
    pub permissions: AccessPermissions,
}

/// The memory a retrieve mapped for us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrievedMemory {
    /// The handle.
    pub handle: MemoryHandle,
    /// The owner.
    pub sender: EndpointId,
    /// Memory attributes as the relayer reports them (NS bit included).
    pub attributes: MemoryAttributes,
    /// The operation the owner used (from the response's flags).
    pub operation: Option<MemoryOperation>,
    /// Our permissions as granted.
    pub permissions: Option<AccessPermissions>,
    /// Total pages.
    pub total_pages: u32,
    /// Number of address ranges (the first ones were written to the caller's slice).
    pub range_count: usize,
}

fn check_ranges(ranges: &[PageRange]) -> core::result::Result<u32, &'static str> {
    if ranges.is_empty() {
        return Err("no pages to send");
    }
    let mut total: u32 = 0;
    for range in ranges {
        if range.address % PAGE_SIZE != 0 {
            return Err("page range not 4 KiB aligned");
        }
        if range.page_count == 0 {
            return Err("empty page range");
        }
        let length = u64::from(range.page_count) * PAGE_SIZE;
        range.address.checked_add(length).ok_or("page range wraps the address space")?;
        total = total.checked_add(range.page_count).ok_or("more than 2^32 pages")?;
    }
    Ok(total)
}

impl<C: Conduit, B: Buffers> Driver<C, B> {
    /// Sends memory with FFA_MEM_SHARE/LEND/DONATE. The descriptor is written into the TX
    /// buffer in as many fragments as it needs (FFA_MEM_FRAG_RX / FFA_MEM_FRAG_TX), each
    /// holding whole constituents. Returns the handle.
    pub fn memory_send(&mut self, send: &MemorySend<'_>) -> Result<MemoryHandle> {
        let function = send.operation.function();
        let invalid = |reason| DriverError::new(function, ErrorKind::InvalidArgument(reason));
        let total_pages = check_ranges(send.ranges).map_err(invalid)?;
        if send.receivers.is_empty() {
            return Err(invalid("no receivers"));
        }
        if send.operation == MemoryOperation::Donate && send.receivers.len() != 1 {
            return Err(invalid("DONATE takes exactly one receiver"));
        }
        if send.zero_memory && send.operation == MemoryOperation::Share {
            return Err(invalid("SHARE cannot zero memory"));
        }
        let own_id = self.id();
        if send.receivers.iter().any(|receiver| receiver.id == own_id) {
            return Err(invalid("receiver is the sender"));
        }
        let descriptor = SendDescriptor {
            header: MemoryTransactionDescriptor {
                sender: U16::new(own_id.0),
                attributes: U16::new(send.attributes.0),
                flags: U32::new(u32::from(send.zero_memory)),
                handle: U64::ZERO,
                tag: U64::new(send.tag),
                ..Default::default()
            },
            receivers: send.receivers,
            ranges: send.ranges,
            total_pages,
            access_descriptor_size: transaction_descriptor::access_descriptor_size(self.version()),
        };
        let total_length = descriptor
            .total_length()
            .and_then(|length| u32::try_from(length).ok())
            .ok_or(invalid("descriptor longer than 4 GiB"))?;
        let buffers = self.mapped(function)?;
        if buffers.size() < descriptor.fixed_length() + CONSTITUENT_SIZE {
            return Err(invalid("too many receivers for the TX buffer"));
        }
        let (length, mut next) = buffers
            .with_tx(|tx| descriptor.write_fragment(0, tx))
            .ok_or(invalid("TX buffer too small"))?;
        let mut sent = length as u32;
        let transaction = MemoryTransaction { total_length, fragment_length: sent, buffer: None };
        let call = match send.operation {
            MemoryOperation::Share => Call::MemShare { transaction, is_64: false },
            MemoryOperation::Lend => Call::MemLend { transaction, is_64: false },
            MemoryOperation::Donate => Call::MemDonate { transaction, is_64: false },
        };
        let mut response = self.link.call(call)?;
        let mut current = function;
        loop {
            let malformed =
                |reason| DriverError::new(current, ErrorKind::MalformedResponse(reason));
            match response {
                Return::Success { args, .. } if sent == total_length => {
                    return Ok(MemoryHandle(args.to_handle()));
                }
                Return::Success { .. } => {
                    return Err(malformed("success before the last fragment"))
                }
                Return::MemFragRx { handle, offset, .. } => {
                    if offset != sent || sent == total_length {
                        return Err(malformed("FRAG_RX offset is not what was sent"));
                    }
                    let buffers = self.mapped(FunctionId::MemFragTx)?;
                    let (length, written) = buffers
                        .with_tx(|tx| descriptor.write_fragment(next, tx))
                        .ok_or(DriverError::new(
                            FunctionId::MemFragTx,
                            ErrorKind::InvalidArgument("TX buffer"),
                        ))?;
                    next += written;
                    sent += length as u32;
                    current = FunctionId::MemFragTx;
                    let fragment = Call::MemFragTx {
                        handle,
                        fragment_length: length as u32,
                        endpoint: EndpointId(0),
                    };
                    response = self.link.call(fragment)?;
                }
                other => {
                    return Err(DriverError::new(
                        current,
                        ErrorKind::UnexpectedResponse(response_function(&other)),
                    ))
                }
            }
        }
    }

    /// Shares `ranges` read-write with one partition (the common case).
    pub fn memory_share(
        &mut self,
        receiver: EndpointId,
        ranges: &[PageRange],
    ) -> Result<MemoryHandle> {
        let receivers = [Receiver { id: receiver, permissions: AccessPermissions::READ_WRITE }];
        self.memory_send(&MemorySend::share(&receivers, ranges))
    }

    /// FFA_MEM_RECLAIM: takes the memory back. DENIED (as [`ErrorKind::Ffa`]) while a borrower
    /// still holds it.
    pub fn memory_reclaim(&mut self, handle: MemoryHandle, zero_memory: bool) -> Result<()> {
        let flags = if zero_memory { ReclaimFlags::ZERO_MEMORY } else { ReclaimFlags::empty() };
        self.link.call_success(Call::MemReclaim { handle: handle.0, flags }).map(drop)
    }

    /// FFA_MEM_RETRIEVE_REQ (borrower side): maps the memory behind `request.handle` and
    /// reads the full descriptor, fetching further fragments with FFA_MEM_FRAG_RX and
    /// releasing the RX buffer after each. The ranges go to `ranges` (the first
    /// `ranges.len()` of them; `range_count` says how many there are).
    pub fn memory_retrieve(
        &mut self,
        request: &RetrieveRequest,
        ranges: &mut [PageRange],
    ) -> Result<RetrievedMemory> {
        let function = FunctionId::MemRetrieveReq32;
        let own_id = self.id();
        let header = MemoryTransactionDescriptor {
            sender: U16::new(request.sender.0),
            flags: U32::new(request.operation.map_or(0, MemoryOperation::type_bits)),
            handle: U64::new(request.handle.0),
            tag: U64::new(request.tag),
            ..Default::default()
        };
        let access = EndpointMemoryAccessDescriptor {
            receiver: U16::new(own_id.0),
            permissions: request.permissions.to_byte(),
            ..Default::default()
        };
        let access_size = transaction_descriptor::access_descriptor_size(self.version());
        let length = self
            .mapped(function)?
            .with_tx(|tx| {
                transaction_descriptor::write_retrieve_request(header, access, access_size, tx)
            })
            .ok_or(DriverError::new(function, ErrorKind::InvalidArgument("TX buffer too small")))?;
        let transaction = MemoryTransaction {
            total_length: length as u32,
            fragment_length: length as u32,
            buffer: None,
        };
        let response = self.link.call(Call::MemRetrieveReq { transaction, is_64: false })?;
        let Return::MemRetrieveResp { total_length, fragment_length } = response else {
            return Err(DriverError::new(
                function,
                ErrorKind::UnexpectedResponse(response_function(&response)),
            ));
        };
        let malformed = |call, reason| DriverError::new(call, ErrorKind::MalformedResponse(reason));
        let first = self.mapped(function)?.with_rx(|rx| {
            let fragment = rx.get(..fragment_length as usize).ok_or("fragment longer than RX")?;
            let parsed = transaction_descriptor::parse_retrieved_header(fragment, own_id.0)?;
            let mut reader =
                ConstituentReader::new(parsed.constituents_offset, parsed.range_count as usize);
            reader.feed(fragment, ranges)?;
            Ok((parsed, reader))
        });
        let released = self.release_rx();
        let (parsed, mut reader) = first.map_err(|reason| malformed(function, reason))?;
        released?;
        let handle = parsed.header.handle.get();
        let mut received = fragment_length;
        while received < total_length {
            let call = Call::MemFragRx { handle, offset: received, endpoint: EndpointId(0) };
            let response = self.link.call(call)?;
            let Return::MemFragTx { handle: answered, fragment_length, .. } = response else {
                return Err(DriverError::new(
                    FunctionId::MemFragRx,
                    ErrorKind::UnexpectedResponse(response_function(&response)),
                ));
            };
            if answered != handle
                || fragment_length == 0
                || fragment_length > total_length - received
            {
                return Err(malformed(FunctionId::MemFragRx, "FRAG_TX handle or length"));
            }
            let fed = self.mapped(FunctionId::MemFragRx)?.with_rx(|rx| {
                let fragment =
                    rx.get(..fragment_length as usize).ok_or("fragment longer than RX")?;
                reader.feed(fragment, ranges)
            });
            let released = self.release_rx();
            fed.map_err(|reason| malformed(FunctionId::MemFragRx, reason))?;
            released?;
            received += fragment_length;
        }
        let range_count =
            reader.finish(parsed.total_pages).map_err(|reason| malformed(function, reason))?;
        let flags = parsed.header.flags.get();
        Ok(RetrievedMemory {
            handle: MemoryHandle(handle),
            sender: EndpointId(parsed.header.sender.get()),
            attributes: MemoryAttributes(parsed.header.attributes.get()),
            operation: match (flags >> 3) & 3 {
                1 => Some(MemoryOperation::Share),
                2 => Some(MemoryOperation::Lend),
                3 => Some(MemoryOperation::Donate),
                _ => None,
            },
            permissions: AccessPermissions::try_from(parsed.permissions).ok(),
            total_pages: parsed.total_pages,
            range_count,
        })
    }

    /// FFA_MEM_RELINQUISH (borrower side): gives the memory back to its owner.
    pub fn memory_relinquish(&mut self, handle: MemoryHandle) -> Result<()> {
        let function = FunctionId::MemRelinquish;
        let own_id = self.id();
        self.mapped(function)?
            .with_tx(|tx| transaction_descriptor::write_relinquish(handle.0, own_id.0, tx))
            .ok_or(DriverError::new(function, ErrorKind::InvalidArgument("TX buffer too small")))?;
        self.link.call_success(Call::MemRelinquish).map(drop)
    }
}
