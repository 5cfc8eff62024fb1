//! What the test VMs ask the test partitions (direct-request commands in w3) and the memory
//! pattern both sides compute, defined once for both images.
//!
//! The pattern and checksum depend on an address's offset in its 16 MiB-aligned block, which is
//! the same for a VM's IPA and the physical address a partition sees (VM RAM is 16 MiB aligned
//! in both spaces), so a VM can check what a partition wrote and the other way round.

/// w3: make the partition write outside its memory (the SPMC aborts it).
pub const FAULT: u32 = 0xFA17;
/// w3: retrieve handle w4 (low) w5 (high) from sender w6, write `pattern(w7, address)` into
/// every word of every page, relinquish. Answer: w3 = 0 or the FF-A error code, w4 = pages.
pub const WRITE_PATTERN: u32 = 0x5EED_0001;
/// w3: retrieve handle w4/w5 from sender w6 (w7: `LENT` for a MEM_LEND, whose single borrower
/// must ask for instruction access, else a MEM_SHARE), sum `checksum_term` over every word,
/// relinquish. Answer: w3 = 0 or the FF-A error code, w4/w5 = checksum (low, high), w6 = pages.
pub const CHECKSUM: u32 = 0x5EED_0002;

/// w7 of `CHECKSUM`: the handle is a MEM_LEND.
pub const LENT: u32 = 2;

/// The pattern's word at `address` for `seed`.
pub fn pattern(seed: u64, address: u64) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (address & 0xFF_FFFF)
}

/// The checksum's term for `word` read at `address`; the checksum is the wrapping sum of the
/// terms, so the order in which ranges are read does not matter.
pub fn checksum_term(word: u64, address: u64) -> u64 {
    word.wrapping_mul((address & 0xFF_FFFF) | 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipa_and_physical_address_of_a_vm_page_give_the_same_words() {
        // VM 1's IPA 0x4000_3008 is physical 0x4100_3008; VM 2's is 0x4200_3008.
        for physical in [0x4100_3008, 0x4200_3008] {
            assert_eq!(pattern(7, 0x4000_3008), pattern(7, physical));
            assert_eq!(checksum_term(5, 0x4000_3008), checksum_term(5, physical));
        }
        assert_ne!(pattern(7, 0x4000_3008), pattern(7, 0x4000_3010));
        assert_ne!(pattern(7, 0x4000_3008), pattern(8, 0x4000_3008));
    }
}
