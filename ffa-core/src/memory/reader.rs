//! Parsing whole descriptors and streaming fragmented ones (FFA_MEM_FRAG_TX / FRAG_RX).

use super::constituents::validate_constituents;
use super::wire::CONSTITUENT_SIZE;
use super::{Constituents, Layout, TransactionHeader};
use crate::FfaError;

/// Accepts a memory transaction descriptor fragment by fragment, never needing it in one buffer.
///
/// The first fragment must hold the whole header part (MTD, EMADs, composite header, as
/// reference §7.10 rule 5 requires); it and every later fragment may carry whole constituents
/// only. Each fragment's constituents are validated when it arrives (O(n) overall) and handed
/// back as a [`Constituents`] view borrowing that fragment. [`finish`](Self::finish) checks the
/// totals. Every rejection is INVALID_PARAMETERS.
#[derive(Debug, Clone)]
pub struct TransactionReader {
    total_length: u32,
    received: u32,
    total_page_count: u32,
    page_sum: u64,
}

impl TransactionReader {
    /// Starts with the first fragment, given the total length from `w1`. A header that implies
    /// a different length is INVALID_PARAMETERS (conformance MM08).
    pub fn start(
        first_fragment: &[u8],
        total_length: u32,
        layout: Layout,
    ) -> Result<(Self, TransactionHeader<'_>, Constituents<'_>), FfaError> {
        let header = TransactionHeader::parse(first_fragment, layout)?;
        if header.descriptor_length() != Some(total_length) {
            return Err(FfaError::InvalidParameters);
        }
        let received =
            u32::try_from(first_fragment.len()).map_err(|_| FfaError::InvalidParameters)?;
        if received > total_length {
            return Err(FfaError::InvalidParameters);
        }
        let rest = first_fragment
            .get(header.header_length() as usize..)
            .ok_or(FfaError::InvalidParameters)?;
        let (constituents, page_sum) = validate_constituents(rest)?;
        let reader = Self {
            total_length,
            received,
            total_page_count: header.composite.map_or(0, |composite| composite.total_page_count),
            page_sum,
        };
        Ok((reader, header, constituents))
    }

    /// Accepts the next fragment: non-empty, whole constituents, not past the total length.
    pub fn next_fragment<'f>(&mut self, fragment: &'f [u8]) -> Result<Constituents<'f>, FfaError> {
        let length = u32::try_from(fragment.len()).map_err(|_| FfaError::InvalidParameters)?;
        let received = self.received.checked_add(length).ok_or(FfaError::InvalidParameters)?;
        if length == 0 || received > self.total_length {
            return Err(FfaError::InvalidParameters);
        }
        let (constituents, page_sum) = validate_constituents(fragment)?;
        self.received = received;
        self.page_sum += page_sum;
        Ok(constituents)
    }

    /// Bytes received so far (the offset FFA_MEM_FRAG_RX reports in `w3`).
    pub fn received(&self) -> u32 {
        self.received
    }

    /// Whether every byte has arrived.
    pub fn is_complete(&self) -> bool {
        self.received == self.total_length
    }

    /// Checks the totals: every byte arrived and the constituents' page counts add up to the
    /// composite's total (reference §7.10 rule 7). INVALID_PARAMETERS otherwise.
    pub fn finish(self) -> Result<(), FfaError> {
        if !self.is_complete() || self.page_sum != u64::from(self.total_page_count) {
            return Err(FfaError::InvalidParameters);
        }
        Ok(())
    }
}

/// A whole, validated memory transaction descriptor in one buffer.
#[derive(Debug, Clone, Copy)]
pub struct TransactionDescriptor<'a> {
    /// The header part.
    pub header: TransactionHeader<'a>,
    /// Every address range (empty when there is no composite).
    pub constituents: Constituents<'a>,
}

impl<'a> TransactionDescriptor<'a> {
    /// Parses and validates a descriptor that is exactly `bytes` long (the caller slices the
    /// TX/RX buffer to `w1`).
    pub fn parse(bytes: &'a [u8], layout: Layout) -> Result<Self, FfaError> {
        let total_length = u32::try_from(bytes.len()).map_err(|_| FfaError::InvalidParameters)?;
        let (reader, header, constituents) = TransactionReader::start(bytes, total_length, layout)?;
        reader.finish()?;
        Ok(Self { header, constituents })
    }
}

/// Splits a whole descriptor into the pieces a sender would pass with FFA_MEM_FRAG_TX: the
/// first of at most `fragment_size` bytes ending on a constituent boundary, then chunks of
/// whole constituents. For tests and for relayers that forward a descriptor they hold whole.
pub fn fragment_boundaries(
    header_length: usize,
    total_length: usize,
    fragment_size: usize,
) -> Result<impl Iterator<Item = core::ops::Range<usize>>, FfaError> {
    let step = fragment_size - fragment_size % CONSTITUENT_SIZE;
    if step == 0 || header_length > fragment_size || header_length > total_length {
        return Err(FfaError::InvalidParameters);
    }
    let first_end = (header_length
        + (fragment_size - header_length) / CONSTITUENT_SIZE * CONSTITUENT_SIZE)
        .min(total_length);
    let mut start = 0;
    let mut end = first_end;
    Ok(core::iter::from_fn(move || {
        if start >= total_length {
            return None;
        }
        let range = start..end;
        start = end;
        end = end.saturating_add(step).min(total_length);
        Some(range)
    }))
}
