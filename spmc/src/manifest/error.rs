//! Manifest errors that name the node and property at fault, for a boot log.

use core::fmt;

/// Longest node path an error keeps; longer paths are cut (the error stays readable).
pub const NODE_PATH_CAPACITY: usize = 64;

/// A node's path below the root, such as `memory-regions/rx`; the root itself is `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePath(heapless::String<NODE_PATH_CAPACITY>);

impl NodePath {
    /// The root node, `/`.
    pub fn root() -> Self {
        let mut path = heapless::String::new();
        // One character always fits.
        let _ = path.push('/');
        Self(path)
    }

    /// A pseudo-node naming the blob itself (its header and structure block).
    pub fn blob() -> Self {
        let mut path = NodePath(heapless::String::new());
        path.push_truncated("<dtb>");
        path
    }

    /// The path of the child `name` of this node.
    pub fn child(&self, name: &str) -> Self {
        let mut path =
            if self.is_root() { NodePath(heapless::String::new()) } else { self.clone() };
        if !path.0.is_empty() {
            path.push_truncated("/");
        }
        path.push_truncated(name);
        path
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    fn is_root(&self) -> bool {
        self.0.as_str() == "/"
    }

    /// Appends as much of `text` as fits, character by character.
    fn push_truncated(&mut self, text: &str) {
        for character in text.chars() {
            if self.0.push(character).is_err() {
                return;
            }
        }
    }
}

impl fmt::Display for NodePath {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl PartialEq<&str> for NodePath {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<str> for NodePath {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

/// The encoding a property was expected to have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// One big-endian 32-bit cell.
    U32,
    /// One or two cells (a 64-bit value may be written as a single cell).
    U64,
    /// One NUL-terminated UTF-8 string.
    String,
    /// A list of NUL-terminated UTF-8 strings.
    StringList,
    /// No value at all (a flag).
    Empty,
    /// A non-empty list of 32-bit cells.
    U32List,
    /// A non-empty list of (u32, u32) pairs.
    U32Pairs,
    /// A non-empty list of 4-cell tuples.
    U32Quads,
}

impl ValueKind {
    fn describe(self) -> &'static str {
        match self {
            Self::U32 => "a u32 (4 bytes)",
            Self::U64 => "a u64 (4 or 8 bytes)",
            Self::String => "one NUL-terminated UTF-8 string",
            Self::StringList => "NUL-terminated UTF-8 strings",
            Self::Empty => "no value",
            Self::U32List => "a list of u32 cells",
            Self::U32Pairs => "a list of (u32, u32) pairs",
            Self::U32Quads => "a list of 4-cell tuples",
        }
    }
}

/// What is wrong with a property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// A mandatory property or node is absent.
    Missing,
    /// The value has the wrong length or encoding.
    WrongType {
        /// The encoding the binding prescribes.
        expected: ValueKind,
        /// The value's length in bytes.
        length: usize,
    },
    /// The value is outside the range the binding allows.
    OutOfRange {
        /// The value found.
        value: u64,
    },
    /// The value must not be zero.
    Zero,
    /// An address or offset is not aligned as required.
    Misaligned {
        /// The value found.
        value: u64,
        /// The required alignment in bytes.
        alignment: u64,
    },
    /// Bits the binding does not define are set.
    UnknownBits {
        /// The undefined bits that are set.
        bits: u64,
    },
    /// More entries than this build of the partition manager has room for.
    TooMany {
        /// The number of entries that fit.
        capacity: usize,
    },
    /// The property contradicts another one (named).
    Conflicts {
        /// The other property or node.
        with: &'static str,
    },
    /// A phandle does not name a node where the binding requires one.
    DanglingReference {
        /// The phandle value.
        phandle: u32,
    },
    /// An address range wraps around the end of the address space.
    Overflow,
    /// The value is well formed but not acceptable, for the reason given.
    Invalid(&'static str),
    /// The device tree blob itself is malformed, for the reason given.
    Malformed(&'static str),
}

impl fmt::Display for Problem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Missing => formatter.write_str("missing"),
            Self::WrongType { expected, length } => {
                formatter.write_str("expected ")?;
                formatter.write_str(expected.describe())?;
                write!(formatter, ", found {length} bytes")
            }
            Self::OutOfRange { value } => write!(formatter, "value {value:#x} out of range"),
            Self::Zero => formatter.write_str("must not be zero"),
            Self::Misaligned { value, alignment } => {
                write!(formatter, "{value:#x} is not aligned to {alignment:#x}")
            }
            Self::UnknownBits { bits } => write!(formatter, "undefined bits {bits:#x} set"),
            Self::TooMany { capacity } => write!(formatter, "more than {capacity} entries"),
            Self::Conflicts { with } => {
                formatter.write_str("conflicts with ")?;
                formatter.write_str(with)
            }
            Self::DanglingReference { phandle } => {
                write!(formatter, "phandle {phandle:#x} does not name an allowed node")
            }
            Self::Overflow => formatter.write_str("address range overflows"),
            Self::Invalid(reason) => formatter.write_str(reason),
            Self::Malformed(reason) => {
                formatter.write_str("malformed device tree: ")?;
                formatter.write_str(reason)
            }
        }
    }
}

/// A rejected manifest: which node, which property, and what is wrong.
///
/// Displays as `node: property: problem`, e.g. `memory-regions/rx: pages-count: missing`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    /// The node's path below the root (`/` for the root, `<dtb>` for the blob itself).
    pub node: NodePath,
    /// The property (or child node) at fault.
    pub property: &'static str,
    /// What is wrong with it.
    pub problem: Problem,
}

impl ManifestError {
    /// An error about `property` of `node`.
    pub fn new(node: &NodePath, property: &'static str, problem: Problem) -> Self {
        Self { node: node.clone(), property, problem }
    }
}

impl fmt::Display for ManifestError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Plain writes rather than `{}` for the strings: no padding code in firmware images.
        formatter.write_str(self.node.as_str())?;
        formatter.write_str(": ")?;
        formatter.write_str(self.property)?;
        formatter.write_str(": ")?;
        fmt::Display::fmt(&self.problem, formatter)
    }
}

impl core::error::Error for ManifestError {}
