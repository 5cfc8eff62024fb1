//! Structural validation of a flattened device tree before the `fdt` crate reads it.
//!
//! The `fdt` crate (0.1.5) indexes and unwraps freely: it trusts the header offsets, the token
//! stream, the property lengths and the string offsets. A manifest is input, so [`open`] first
//! walks the whole blob once and proves every invariant that crate relies on; only then does it
//! build an [`fdt::Fdt`]. Anything unusual is rejected rather than guessed at.

use super::error::{ManifestError, NodePath, Problem};

/// The `magic` word of a flattened device tree header.
const FDT_MAGIC: u32 = 0xD00D_FEED;
/// Size of the version-17 header (ten big-endian u32 words).
const HEADER_SIZE: usize = 40;
/// The oldest header version that carries `size_dt_struct`.
const MINIMUM_VERSION: u32 = 17;
/// Deepest node nesting accepted (the root is depth 1); the `fdt` crate's limit is 63.
pub const MAXIMUM_DEPTH: usize = 16;

const TOKEN_BEGIN_NODE: u32 = 1;
const TOKEN_END_NODE: u32 = 2;
const TOKEN_PROPERTY: u32 = 3;
const TOKEN_NOP: u32 = 4;
const TOKEN_END: u32 = 9;

fn malformed(property: &'static str, reason: &'static str) -> ManifestError {
    ManifestError::new(&NodePath::blob(), property, Problem::Malformed(reason))
}

/// Reads the big-endian u32 at `offset`, if it lies within `bytes`.
fn read_u32(bytes: &[u8], offset: usize) -> Option<u32> {
    let end = offset.checked_add(4)?;
    let word = bytes.get(offset..end)?;
    let array: [u8; 4] = word.try_into().ok()?;
    Some(u32::from_be_bytes(array))
}

/// Rounds `value` up to a multiple of 4.
fn align4(value: usize) -> Option<usize> {
    value.checked_add(3).map(|sum| sum & !3)
}

/// Returns the NUL-terminated UTF-8 string starting at `offset` and the offset after its NUL.
fn c_string(bytes: &[u8], offset: usize) -> Option<(&str, usize)> {
    let tail = bytes.get(offset..)?;
    let length = tail.iter().position(|&byte| byte == 0)?;
    let text = core::str::from_utf8(tail.get(..length)?).ok()?;
    Some((text, offset.checked_add(length)?.checked_add(1)?))
}

/// The header fields this module uses, already range-checked against the blob.
struct Blocks<'a> {
    structure: &'a [u8],
    strings: &'a [u8],
}

fn header_blocks(data: &[u8]) -> Result<Blocks<'_>, ManifestError> {
    let word = |index: usize, name: &'static str| {
        read_u32(data, index * 4).ok_or_else(|| malformed(name, "blob shorter than its header"))
    };
    if word(0, "magic")? != FDT_MAGIC {
        return Err(malformed("magic", "not a flattened device tree (bad magic)"));
    }
    let total_size = word(1, "totalsize")? as usize;
    if total_size > data.len() {
        return Err(malformed("totalsize", "larger than the buffer"));
    }
    if total_size < HEADER_SIZE {
        return Err(malformed("totalsize", "smaller than the header"));
    }
    let blob = data.get(..total_size).ok_or_else(|| malformed("totalsize", "out of bounds"))?;
    if word(5, "version")? < MINIMUM_VERSION {
        return Err(malformed("version", "header version older than 17"));
    }
    let structure_offset = word(2, "off_dt_struct")? as usize;
    let strings_offset = word(3, "off_dt_strings")? as usize;
    let strings_size = word(8, "size_dt_strings")? as usize;
    let structure_size = word(9, "size_dt_struct")? as usize;
    if structure_offset % 4 != 0 || structure_size % 4 != 0 {
        return Err(malformed("off_dt_struct", "structure block not 4-byte aligned"));
    }
    let structure = structure_offset
        .checked_add(structure_size)
        .and_then(|end| blob.get(structure_offset..end))
        .ok_or_else(|| malformed("off_dt_struct", "structure block outside the blob"))?;
    let strings = strings_offset
        .checked_add(strings_size)
        .and_then(|end| blob.get(strings_offset..end))
        .ok_or_else(|| malformed("off_dt_strings", "strings block outside the blob"))?;
    Ok(Blocks { structure, strings })
}

/// Where the walker is inside the current node.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Properties may still follow.
    Properties,
    /// A child node has been seen: only more children or the node's end may follow.
    Children,
}

/// Walks the structure block and checks: one root node with an empty name, properties before
/// children in every node, names and property names that are NUL-terminated UTF-8 within their
/// blocks, property values within the structure block, nesting no deeper than
/// [`MAXIMUM_DEPTH`], balanced begin/end tokens, and a final `FDT_END`. `FDT_NOP` is refused:
/// dtc never writes it and the `fdt` crate does not skip it everywhere.
fn check_structure(blocks: &Blocks<'_>) -> Result<(), ManifestError> {
    let structure = blocks.structure;
    let mut phases: [Phase; MAXIMUM_DEPTH] = [Phase::Properties; MAXIMUM_DEPTH];
    let mut depth = 0usize;
    let mut offset = 0usize;
    let mut root_done = false;
    loop {
        let token = read_u32(structure, offset)
            .ok_or_else(|| malformed("size_dt_struct", "structure block ends without FDT_END"))?;
        offset = offset.checked_add(4).ok_or_else(|| malformed("size_dt_struct", "overflow"))?;
        match token {
            TOKEN_BEGIN_NODE => {
                if root_done {
                    return Err(malformed("structure", "a second root node"));
                }
                let (name, after_name) = c_string(structure, offset)
                    .ok_or_else(|| malformed("structure", "node name not NUL-terminated UTF-8"))?;
                if depth == 0 && !name.is_empty() {
                    return Err(malformed("structure", "root node has a name"));
                }
                if depth > 0 && name.is_empty() {
                    return Err(malformed("structure", "child node without a name"));
                }
                if let Some(phase) = depth.checked_sub(1).and_then(|parent| phases.get_mut(parent))
                {
                    *phase = Phase::Children;
                }
                let phase = phases
                    .get_mut(depth)
                    .ok_or_else(|| malformed("structure", "nodes nested too deeply"))?;
                *phase = Phase::Properties;
                depth += 1;
                offset =
                    align4(after_name).ok_or_else(|| malformed("structure", "name overflow"))?;
            }
            TOKEN_END_NODE => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| malformed("structure", "FDT_END_NODE outside any node"))?;
                if depth == 0 {
                    root_done = true;
                }
            }
            TOKEN_PROPERTY => {
                let current = depth
                    .checked_sub(1)
                    .and_then(|index| phases.get(index))
                    .ok_or_else(|| malformed("structure", "property outside any node"))?;
                if *current != Phase::Properties {
                    return Err(malformed("structure", "property after a child node"));
                }
                let length = read_u32(structure, offset)
                    .ok_or_else(|| malformed("structure", "truncated property header"))?
                    as usize;
                let name_offset = read_u32(structure, offset.saturating_add(4))
                    .ok_or_else(|| malformed("structure", "truncated property header"))?
                    as usize;
                c_string(blocks.strings, name_offset).ok_or_else(|| {
                    malformed("structure", "property name not NUL-terminated UTF-8 in strings")
                })?;
                let value_start = offset.saturating_add(8);
                let value_end = value_start
                    .checked_add(length)
                    .filter(|end| *end <= structure.len())
                    .ok_or_else(|| malformed("structure", "property value beyond the block"))?;
                offset = align4(value_end)
                    .ok_or_else(|| malformed("structure", "property value overflow"))?;
            }
            TOKEN_END => {
                if !root_done || depth != 0 {
                    return Err(malformed("structure", "FDT_END inside a node"));
                }
                return Ok(());
            }
            TOKEN_NOP => return Err(malformed("structure", "FDT_NOP tokens are not supported")),
            _ => return Err(malformed("structure", "unknown structure token")),
        }
    }
}

/// Validates `data` as a flattened device tree and opens it with the `fdt` crate.
pub fn open(data: &[u8]) -> Result<fdt::Fdt<'_>, ManifestError> {
    let blocks = header_blocks(data)?;
    check_structure(&blocks)?;
    fdt::Fdt::new(data).map_err(|_| malformed("magic", "rejected by the device tree reader"))
}

/// The root node of a validated tree.
pub fn root<'b, 'a>(tree: &'b fdt::Fdt<'a>) -> Result<fdt::node::FdtNode<'b, 'a>, ManifestError> {
    tree.all_nodes().next().ok_or_else(|| malformed("structure", "no root node"))
}
