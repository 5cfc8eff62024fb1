//! Physical and intermediate physical addresses as distinct types, and the 4 KiB page.

use core::fmt;

/// The FF-A (and stage-2) page size the model uses.
pub const PAGE_SIZE: u64 = ffa_core::rxtx::PAGE_SIZE;

/// An address in the simulated physical memory (what the partition managers map).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PhysicalAddress(pub u64);

/// An address in one endpoint's own address space (its IPA), translated by its stage 2.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IntermediateAddress(pub u64);

macro_rules! address_methods {
    ($name:ident, $prefix:literal) => {
        impl $name {
            /// The page this address is in (address / 4 KiB).
            pub const fn page_number(self) -> u64 {
                self.0 / PAGE_SIZE
            }

            /// The offset inside its page.
            pub const fn page_offset(self) -> u64 {
                self.0 % PAGE_SIZE
            }

            /// Whether the address starts a page.
            pub const fn is_page_aligned(self) -> bool {
                self.page_offset() == 0
            }

            /// The address of page `page_number`.
            pub const fn of_page(page_number: u64) -> Option<Self> {
                match page_number.checked_mul(PAGE_SIZE) {
                    Some(address) => Some(Self(address)),
                    None => None,
                }
            }

            /// The address `bytes` further on, `None` on overflow.
            pub const fn checked_add(self, bytes: u64) -> Option<Self> {
                match self.0.checked_add(bytes) {
                    Some(address) => Some(Self(address)),
                    None => None,
                }
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(formatter, concat!($prefix, "{:#x}"), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self, formatter)
            }
        }
    };
}

address_methods!(PhysicalAddress, "PA ");
address_methods!(IntermediateAddress, "IPA ");

/// The bytes of `page_count` pages, `None` on overflow.
pub const fn pages_to_bytes(page_count: u64) -> Option<u64> {
    page_count.checked_mul(PAGE_SIZE)
}
