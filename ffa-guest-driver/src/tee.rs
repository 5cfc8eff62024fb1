//! A TEE-agnostic layer: channels to a partition by UUID, opaque commands whose parameters
//! may reference shared memory, and shared-memory objects that become FF-A handles.
//!
//! ```
//! # use ffa_guest_driver::tee::ContiguousPool;
//! // A pool over 8 contiguous pages the kernel set aside at 0x8000_0000.
//! let mut pool = ContiguousPool::<1>::new(0x8000_0000, 8).unwrap();
//! let first = pool.allocate(3).unwrap();
//! assert_eq!(first.address, 0x8000_0000);
//! assert_eq!(pool.allocate(6), None); // only 5 pages left
//! assert_eq!(pool.allocate(5).unwrap().address, 0x8000_3000);
//! ```

use ffa_core::rxtx::PAGE_SIZE;
use ffa_core::{Conduit, EndpointId, FunctionId, Uuid, Version};

use crate::buffers::Buffers;
use crate::discovery::PartitionInfo;
use crate::error::{DriverError, ErrorKind, Result};
use crate::memory::{AccessPermissions, MemoryHandle, MemorySend, PageRange, Receiver};
use crate::Driver;

/// How a channel carries commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// DIRECT_REQ2 with the channel's UUID: 14 words each way.
    Request2,
    /// DIRECT_REQ_64: 5 words each way.
    Direct64,
    /// DIRECT_REQ_32: 2 words each way (each split into two 32-bit halves in w3-w6).
    Direct32,
}

impl Transport {
    /// How many 64-bit words a command (opcode included) or reply may have.
    pub const fn capacity(self) -> usize {
        match self {
            Self::Request2 => 14,
            Self::Direct64 => 5,
            Self::Direct32 => 2,
        }
    }
}

/// Where shared memory came from, which decides how it is released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// The client's own (possibly non-contiguous) pages.
    Registered,
    /// Pages of a [`ContiguousPool`] with this base address, from `first_page` on.
    Pool { base: u64, first_page: u32 },
}

/// Memory shared with a channel's partition, identified by its FF-A handle. Release it with
/// [`SharedMemory::release`] (registered memory) or [`ContiguousPool::release`] (pool memory);
/// while the partition still holds it, release fails with DENIED and hands the object back.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "shared memory stays lent to the partition until released"]
pub struct SharedMemory {
    handle: MemoryHandle,
    partition: EndpointId,
    page_count: u32,
    origin: Origin,
}

/// A failed release: the error (e.g. `Ffa(Denied)` while still borrowed) and the memory, still
/// shared, so it is not leaked.
#[derive(Debug, PartialEq, Eq)]
pub struct ReleaseError {
    /// Why the release failed.
    pub error: DriverError,
    /// The memory, still shared.
    pub memory: SharedMemory,
}

impl SharedMemory {
    /// The FF-A memory handle to pass to the partition.
    pub fn handle(&self) -> MemoryHandle {
        self.handle
    }

    /// The partition it is shared with.
    pub fn partition(&self) -> EndpointId {
        self.partition
    }

    /// Size in 4 KiB pages.
    pub fn page_count(&self) -> u32 {
        self.page_count
    }

    /// Reclaims registered memory (FFA_MEM_RECLAIM). Pool memory must go back through
    /// [`ContiguousPool::release`].
    pub fn release<C: Conduit, B: Buffers>(
        self,
        driver: &mut Driver<C, B>,
    ) -> core::result::Result<(), ReleaseError> {
        if self.origin != Origin::Registered {
            let error = DriverError::new(
                FunctionId::MemReclaim,
                ErrorKind::InvalidArgument("pool memory is released through its pool"),
            );
            return Err(ReleaseError { error, memory: self });
        }
        match driver.memory_reclaim(self.handle, false) {
            Ok(()) => Ok(()),
            Err(error) => Err(ReleaseError { error, memory: self }),
        }
    }
}

/// A command parameter.
#[derive(Debug, Clone, Copy)]
pub enum Parameter<'a> {
    /// A plain value (one word).
    Value(u64),
    /// A whole shared-memory object (one word: its handle).
    Memory(&'a SharedMemory),
    /// Part of a shared-memory object (three words: handle, offset, length).
    MemoryRegion {
        /// The object.
        memory: &'a SharedMemory,
        /// Byte offset into it.
        offset: u64,
        /// Length in bytes.
        length: u64,
    },
}

/// The words a partition answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    words: [u64; 14],
    count: usize,
}

impl Reply {
    /// The reply words (as many as the transport carries).
    pub fn words(&self) -> &[u64] {
        self.words.get(..self.count).unwrap_or(&[])
    }
}

/// A channel to one partition, found by UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Channel {
    partition: PartitionInfo,
    uuid: Uuid,
    transport: Transport,
}

impl Channel {
    /// Finds the partition offering `uuid` and picks the widest transport both sides
    /// support: DIRECT_REQ2 (v1.2, offered, partition receives it), else DIRECT_REQ_64 for an
    /// AArch64 partition, else DIRECT_REQ_32.
    pub fn open<C: Conduit, B: Buffers>(driver: &mut Driver<C, B>, uuid: Uuid) -> Result<Self> {
        let partition = driver.find_partition(uuid)?;
        let request2 = driver.version() >= Version::V1_2
            && driver.features().offers(FunctionId::MsgSendDirectReq2) == Some(true)
            && partition.accepts_direct_request2();
        let transport = if request2 {
            Transport::Request2
        } else if partition.is_aarch64(driver.version() >= Version::V1_1) {
            Transport::Direct64
        } else {
            Transport::Direct32
        };
        Ok(Self { partition, uuid, transport })
    }

    /// The partition.
    pub fn partition(&self) -> &PartitionInfo {
        &self.partition
    }

    /// The transport in use.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// Sends `command` with `parameters` (packed as words after the command word) and
    /// returns the reply words. Memory parameters must be shared with this channel's
    /// partition.
    pub fn invoke<C: Conduit, B: Buffers>(
        &self,
        driver: &mut Driver<C, B>,
        command: u64,
        parameters: &[Parameter<'_>],
    ) -> Result<Reply> {
        let function = match self.transport {
            Transport::Request2 => FunctionId::MsgSendDirectReq2,
            Transport::Direct64 => FunctionId::MsgSendDirectReq64,
            Transport::Direct32 => FunctionId::MsgSendDirectReq32,
        };
        let invalid = |reason| DriverError::new(function, ErrorKind::InvalidArgument(reason));
        let mut words = [0u64; 14];
        let mut count = 0usize;
        let mut push = |value: u64| -> Result<()> {
            let slot = words.get_mut(count).filter(|_| count < self.transport.capacity());
            *slot.ok_or(invalid("too many parameters for the transport"))? = value;
            count += 1;
            Ok(())
        };
        push(command)?;
        for parameter in parameters {
            match *parameter {
                Parameter::Value(value) => push(value)?,
                Parameter::Memory(memory) => {
                    self.check_memory(memory).map_err(invalid)?;
                    push(memory.handle.0)?;
                }
                Parameter::MemoryRegion { memory, offset, length } => {
                    self.check_memory(memory).map_err(invalid)?;
                    let size = u64::from(memory.page_count) * PAGE_SIZE;
                    if offset.checked_add(length).is_none_or(|end| end > size) {
                        return Err(invalid("region outside the shared memory"));
                    }
                    push(memory.handle.0)?;
                    push(offset)?;
                    push(length)?;
                }
            }
        }
        let destination = self.partition.id;
        let mut reply = Reply { words: [0; 14], count: self.transport.capacity() };
        match self.transport {
            Transport::Request2 => {
                reply.words = driver.direct_request2(destination, self.uuid, words)?;
            }
            Transport::Direct64 => {
                let mut payload = [0u64; 5];
                payload.iter_mut().zip(words).for_each(|(slot, word)| *slot = word);
                let answer = driver.direct_request_64(destination, payload)?;
                reply.words.iter_mut().zip(answer).for_each(|(slot, word)| *slot = word);
            }
            Transport::Direct32 => {
                let [first, second, ..] = words;
                let payload =
                    [first as u32, (first >> 32) as u32, second as u32, (second >> 32) as u32, 0];
                let [a, b, c, d, _] = driver.direct_request_32(destination, payload)?;
                reply.words[0] = u64::from(b) << 32 | u64::from(a);
                reply.words[1] = u64::from(d) << 32 | u64::from(c);
            }
        }
        Ok(reply)
    }

    fn check_memory(&self, memory: &SharedMemory) -> core::result::Result<(), &'static str> {
        if memory.partition != self.partition.id {
            return Err("memory is shared with another partition");
        }
        Ok(())
    }

    /// Registers existing client pages (non-contiguous, dynamic) with the partition:
    /// FFA_MEM_SHARE, fragmented as needed.
    pub fn register_memory<C: Conduit, B: Buffers>(
        &self,
        driver: &mut Driver<C, B>,
        ranges: &[PageRange],
        permissions: AccessPermissions,
    ) -> Result<SharedMemory> {
        let receivers = [Receiver { id: self.partition.id, permissions }];
        let handle = driver.memory_send(&MemorySend::share(&receivers, ranges))?;
        let page_count = ranges.iter().map(|range| range.page_count).sum();
        Ok(SharedMemory {
            handle,
            partition: self.partition.id,
            page_count,
            origin: Origin::Registered,
        })
    }

    /// Allocates `page_count` contiguous pages from `pool` and shares them with the
    /// partition; the pages go back to the pool if sharing fails.
    pub fn allocate_memory<C: Conduit, B: Buffers, const WORDS: usize>(
        &self,
        driver: &mut Driver<C, B>,
        pool: &mut ContiguousPool<WORDS>,
        page_count: u32,
        permissions: AccessPermissions,
    ) -> Result<SharedMemory> {
        let range = pool.allocate(page_count).ok_or(DriverError::new(
            FunctionId::MemShare32,
            ErrorKind::InvalidArgument("pool has no run of free pages that long"),
        ))?;
        let first_page = ((range.address - pool.base) / PAGE_SIZE) as u32;
        let receivers = [Receiver { id: self.partition.id, permissions }];
        match driver.memory_send(&MemorySend::share(&receivers, &[range])) {
            Ok(handle) => Ok(SharedMemory {
                handle,
                partition: self.partition.id,
                page_count,
                origin: Origin::Pool { base: pool.base, first_page },
            }),
            Err(error) => {
                pool.free(first_page, page_count);
                Err(error)
            }
        }
    }
}

/// A contiguous, physically addressed region the caller provides, handed out in page runs
/// (first fit). Holds up to `64 * WORDS` pages.
#[derive(Debug, Clone)]
pub struct ContiguousPool<const WORDS: usize = 16> {
    base: u64,
    page_count: u32,
    used: [u64; WORDS],
}

impl<const WORDS: usize> ContiguousPool<WORDS> {
    /// A pool of `page_count` pages at `base` (4 KiB aligned); `None` if misaligned, empty,
    /// wrapping, or larger than `64 * WORDS` pages.
    pub fn new(base: u64, page_count: u32) -> Option<Self> {
        let fits = (page_count as usize) <= WORDS * 64;
        let end = base.checked_add(u64::from(page_count) * PAGE_SIZE);
        (base % PAGE_SIZE == 0 && page_count > 0 && fits && end.is_some()).then_some(Self {
            base,
            page_count,
            used: [0; WORDS],
        })
    }

    fn is_used(&self, page: u32) -> bool {
        let page = page as usize;
        self.used.get(page / 64).is_some_and(|word| word >> (page % 64) & 1 != 0)
    }

    fn mark(&mut self, first: u32, count: u32, used: bool) {
        for page in first..first.saturating_add(count) {
            let page = page as usize;
            if let Some(word) = self.used.get_mut(page / 64) {
                if used {
                    *word |= 1 << (page % 64);
                } else {
                    *word &= !(1 << (page % 64));
                }
            }
        }
    }

    /// Pages not handed out.
    pub fn free_pages(&self) -> u32 {
        (0..self.page_count).filter(|&page| !self.is_used(page)).count() as u32
    }

    /// Takes the first run of `page_count` free pages.
    pub fn allocate(&mut self, page_count: u32) -> Option<PageRange> {
        if page_count == 0 || page_count > self.page_count {
            return None;
        }
        let mut first = 0u32;
        while first + page_count <= self.page_count {
            match (first..first + page_count).find(|&page| self.is_used(page)) {
                Some(used) => first = used + 1,
                None => {
                    self.mark(first, page_count, true);
                    let address = self.base + u64::from(first) * PAGE_SIZE;
                    return Some(PageRange { address, page_count });
                }
            }
        }
        None
    }

    fn free(&mut self, first: u32, page_count: u32) {
        self.mark(first, page_count, false);
    }

    /// Reclaims pool memory and returns its pages to the pool. DENIED while the partition
    /// still holds it; the memory is handed back in the error.
    pub fn release<C: Conduit, B: Buffers>(
        &mut self,
        driver: &mut Driver<C, B>,
        memory: SharedMemory,
    ) -> core::result::Result<(), ReleaseError> {
        let Origin::Pool { base, first_page } = memory.origin else {
            let error = DriverError::new(
                FunctionId::MemReclaim,
                ErrorKind::InvalidArgument("memory is not from a pool"),
            );
            return Err(ReleaseError { error, memory });
        };
        if base != self.base {
            let error = DriverError::new(
                FunctionId::MemReclaim,
                ErrorKind::InvalidArgument("memory is from another pool"),
            );
            return Err(ReleaseError { error, memory });
        }
        match driver.memory_reclaim(memory.handle, false) {
            Ok(()) => {
                self.free(first_page, memory.page_count);
                Ok(())
            }
            Err(error) => Err(ReleaseError { error, memory }),
        }
    }
}
