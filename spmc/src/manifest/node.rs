//! Typed, checked access to the properties of one device tree node, with errors naming it.

use fdt::node::FdtNode;

use super::error::{ManifestError, NodePath, Problem, ValueKind};

/// A node of a validated tree together with its path, for error messages.
#[derive(Clone, Copy)]
pub struct Node<'p, 'b, 'a> {
    inner: FdtNode<'b, 'a>,
    path: &'p NodePath,
}

impl core::fmt::Debug for Node<'_, '_, '_> {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter.debug_struct("Node").field("path", self.path).finish()
    }
}

/// Splits `bytes` into big-endian u32 cells (the caller has checked the length).
pub fn cells(bytes: &[u8]) -> impl Iterator<Item = u32> + '_ {
    bytes.chunks_exact(4).map(|chunk| {
        let mut array = [0u8; 4];
        array.copy_from_slice(chunk);
        u32::from_be_bytes(array)
    })
}

impl<'p, 'b, 'a> Node<'p, 'b, 'a> {
    /// Wraps `inner`, whose path is `path`.
    pub fn new(inner: FdtNode<'b, 'a>, path: &'p NodePath) -> Self {
        Self { inner, path }
    }

    /// The node's path.
    pub fn path(&self) -> &'p NodePath {
        self.path
    }

    /// The node's name as written in the blob (with any unit address).
    pub fn name(&self) -> &'a str {
        self.inner.name
    }

    /// An error about `property` of this node.
    pub fn error(&self, property: &'static str, problem: Problem) -> ManifestError {
        ManifestError::new(self.path, property, problem)
    }

    /// The raw value of `property`, if present.
    pub fn raw(&self, property: &str) -> Option<&'a [u8]> {
        self.inner.property(property).map(|found| found.value)
    }

    /// The direct children of this node.
    pub fn children(&self) -> impl Iterator<Item = FdtNode<'b, 'a>> {
        self.inner.children()
    }

    /// The child whose name, without unit address, is `name`.
    pub fn child(&self, name: &str) -> Option<FdtNode<'b, 'a>> {
        self.inner.children().find(|child| child.name.split('@').next() == Some(name))
    }

    fn wrong_type(
        &self,
        property: &'static str,
        expected: ValueKind,
        length: usize,
    ) -> ManifestError {
        self.error(property, Problem::WrongType { expected, length })
    }

    /// An optional u32 property.
    pub fn u32(&self, property: &'static str) -> Result<Option<u32>, ManifestError> {
        let Some(value) = self.raw(property) else { return Ok(None) };
        let array: [u8; 4] =
            value.try_into().map_err(|_| self.wrong_type(property, ValueKind::U32, value.len()))?;
        Ok(Some(u32::from_be_bytes(array)))
    }

    /// A mandatory u32 property.
    pub fn required_u32(&self, property: &'static str) -> Result<u32, ManifestError> {
        self.u32(property)?.ok_or_else(|| self.error(property, Problem::Missing))
    }

    /// An optional u32 property that must fit in `maximum`.
    pub fn u32_at_most(
        &self,
        property: &'static str,
        maximum: u32,
    ) -> Result<Option<u32>, ManifestError> {
        match self.u32(property)? {
            Some(value) if value > maximum => {
                Err(self.error(property, Problem::OutOfRange { value: value.into() }))
            }
            other => Ok(other),
        }
    }

    /// An optional u64 property written as one or two cells.
    pub fn u64(&self, property: &'static str) -> Result<Option<u64>, ManifestError> {
        let Some(value) = self.raw(property) else { return Ok(None) };
        if let Ok(array) = <[u8; 8]>::try_from(value) {
            return Ok(Some(u64::from_be_bytes(array)));
        }
        if let Ok(array) = <[u8; 4]>::try_from(value) {
            return Ok(Some(u32::from_be_bytes(array).into()));
        }
        Err(self.wrong_type(property, ValueKind::U64, value.len()))
    }

    /// A mandatory u64 property.
    pub fn required_u64(&self, property: &'static str) -> Result<u64, ManifestError> {
        self.u64(property)?.ok_or_else(|| self.error(property, Problem::Missing))
    }

    /// An optional single string property: NUL-terminated UTF-8 without inner NULs.
    pub fn string(&self, property: &'static str) -> Result<Option<&'a str>, ManifestError> {
        let Some(value) = self.raw(property) else { return Ok(None) };
        let wrong = || self.wrong_type(property, ValueKind::String, value.len());
        let (last, text) = value.split_last().ok_or_else(wrong)?;
        if *last != 0 || text.contains(&0) {
            return Err(wrong());
        }
        core::str::from_utf8(text).map(Some).map_err(|_| wrong())
    }

    /// A mandatory single string property.
    pub fn required_string(&self, property: &'static str) -> Result<&'a str, ManifestError> {
        self.string(property)?.ok_or_else(|| self.error(property, Problem::Missing))
    }

    /// An optional string-list property (each entry NUL-terminated UTF-8).
    pub fn string_list(
        &self,
        property: &'static str,
    ) -> Result<Option<impl Iterator<Item = &'a str>>, ManifestError> {
        let Some(value) = self.raw(property) else { return Ok(None) };
        let wrong = || self.wrong_type(property, ValueKind::StringList, value.len());
        let (last, text) = value.split_last().ok_or_else(wrong)?;
        if *last != 0 {
            return Err(wrong());
        }
        let text = core::str::from_utf8(text).map_err(|_| wrong())?;
        Ok(Some(text.split('\0')))
    }

    /// Whether an empty (flag) property is present.
    pub fn flag(&self, property: &'static str) -> Result<bool, ManifestError> {
        match self.raw(property) {
            None => Ok(false),
            Some([]) => Ok(true),
            Some(value) => Err(self.wrong_type(property, ValueKind::Empty, value.len())),
        }
    }

    /// An optional non-empty list of cells whose count is a multiple of `group`.
    pub fn cell_groups(
        &self,
        property: &'static str,
        group: usize,
        kind: ValueKind,
    ) -> Result<Option<&'a [u8]>, ManifestError> {
        let Some(value) = self.raw(property) else { return Ok(None) };
        let group_bytes = group.saturating_mul(4);
        if value.is_empty() || group_bytes == 0 || value.len() % group_bytes != 0 {
            return Err(self.wrong_type(property, kind, value.len()));
        }
        Ok(Some(value))
    }

    /// Checks that the node's `compatible`, when present, lists `expected`.
    pub fn check_optional_compatible(&self, expected: &'static str) -> Result<(), ManifestError> {
        let Some(mut list) = self.string_list("compatible")? else { return Ok(()) };
        if list.any(|entry| entry == expected) {
            Ok(())
        } else {
            Err(self.error("compatible", Problem::Invalid(expected_compatible(expected))))
        }
    }
}

/// The message for a node whose `compatible` does not list the string the binding names.
fn expected_compatible(expected: &'static str) -> &'static str {
    match expected {
        "arm,ffa-manifest-memory-regions" => "must list \"arm,ffa-manifest-memory-regions\"",
        "arm,ffa-manifest-device-regions" => "must list \"arm,ffa-manifest-device-regions\"",
        "arm,ffa-manifest-rx_tx-buffer" => "must list \"arm,ffa-manifest-rx_tx-buffer\"",
        "arm,ffa-manifest-services" => "must list \"arm,ffa-manifest-services\"",
        _ => "does not list the compatible string the binding requires",
    }
}
