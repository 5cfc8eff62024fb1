//! The `memory-regions`, `device-regions` and `rx-tx-buffer` nodes of a partition manifest.

use super::error::{ManifestError, NodePath, Problem, ValueKind};
use super::node::{cells, Node};
use super::values::{RegionAttributes, TranslationGranule};

/// Memory regions one partition may describe.
pub const MAX_MEMORY_REGIONS: usize = 16;
/// Device regions one partition may describe.
pub const MAX_DEVICE_REGIONS: usize = 8;
/// Interrupts one device region may list.
pub const MAX_INTERRUPTS_PER_DEVICE: usize = 8;

/// Where a memory region lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegionAddress {
    /// `base-address`: at this address.
    Absolute(u64),
    /// `load-address-relative-offset`: at this offset from the partition's load address.
    RelativeToLoadAddress(u64),
    /// Neither: the partition manager chooses and tells the partition.
    ChosenByManager,
}

/// One child of `memory-regions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryRegion<'a> {
    /// The node name.
    pub name: &'a str,
    /// `description`, if given.
    pub description: Option<&'a str>,
    /// Where the region lives.
    pub address: RegionAddress,
    /// `pages-count`, in translation-granule pages (never zero).
    pub pages_count: u32,
    /// `attributes`: R, RW, RX or RWX, optionally non-secure.
    pub attributes: RegionAttributes,
    /// The node's `phandle`, if `rx-tx-buffer` or anything else refers to it.
    pub phandle: Option<u32>,
}

/// The trigger of a device interrupt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InterruptKind {
    /// Type 0b00: software-generated.
    Sgi,
    /// Type 0b01: private peripheral.
    Ppi,
    /// Type 0b10: shared peripheral.
    Spi,
}

/// One (id, attributes) pair of a device region's `interrupts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupt {
    /// The interrupt ID.
    pub id: u32,
    /// Attribute bits `[7:0]`.
    pub priority: u8,
    /// Attribute bit 8: secure (set) or non-secure.
    pub secure: bool,
    /// Attribute bit 9: level (set) or edge triggered.
    pub level_triggered: bool,
    /// Attribute bits `[11:10]`.
    pub kind: InterruptKind,
}

/// One child of `device-regions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRegion<'a> {
    /// The node name.
    pub name: &'a str,
    /// `description`, if given.
    pub description: Option<&'a str>,
    /// `base-address` (mandatory for devices).
    pub base_address: u64,
    /// `pages-count`, in translation-granule pages (never zero).
    pub pages_count: u32,
    /// `attributes`: R or RW, optionally non-secure.
    pub attributes: RegionAttributes,
    /// `interrupts`, in manifest order.
    pub interrupts: heapless::Vec<Interrupt, MAX_INTERRUPTS_PER_DEVICE>,
    /// `exclusive-access`.
    pub exclusive_access: bool,
}

/// The RX and TX buffers named by the `rx-tx-buffer` node, as indices into
/// [`PartitionManifest::memory_regions`](super::PartitionManifest::memory_regions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxTxBuffer {
    /// Index of the RX buffer's memory region.
    pub rx: usize,
    /// Index of the TX buffer's memory region.
    pub tx: usize,
}

/// Checks `pages-count` and that `base + pages * granule` neither wraps nor is misaligned.
fn pages_and_base(
    node: &Node<'_, '_, '_>,
    granule: TranslationGranule,
    base_property: &'static str,
    base: Option<u64>,
) -> Result<u32, ManifestError> {
    let pages_count = node.required_u32("pages-count")?;
    if pages_count == 0 {
        return Err(node.error("pages-count", Problem::Zero));
    }
    let size = u64::from(pages_count)
        .checked_mul(granule.bytes())
        .ok_or_else(|| node.error("pages-count", Problem::Overflow))?;
    if let Some(base) = base {
        if base % granule.bytes() != 0 {
            return Err(node.error(
                base_property,
                Problem::Misaligned { value: base, alignment: granule.bytes() },
            ));
        }
        // The last byte must be addressable: base + size - 1 must not wrap.
        base.checked_add(size - 1).ok_or_else(|| node.error(base_property, Problem::Overflow))?;
    }
    Ok(pages_count)
}

/// Reads `attributes`, rejecting undefined bits and the combinations `allowed` refuses.
fn attributes(
    node: &Node<'_, '_, '_>,
    allowed: fn(RegionAttributes) -> Result<(), &'static str>,
) -> Result<RegionAttributes, ManifestError> {
    let raw = node.required_u32("attributes")?;
    let attributes = RegionAttributes::from_bits(raw).ok_or_else(|| {
        node.error(
            "attributes",
            Problem::UnknownBits { bits: (raw & !RegionAttributes::all().bits()).into() },
        )
    })?;
    allowed(attributes).map_err(|reason| node.error("attributes", Problem::Invalid(reason)))?;
    Ok(attributes)
}

fn memory_permissions(attributes: RegionAttributes) -> Result<(), &'static str> {
    if attributes.contains(RegionAttributes::READ) {
        Ok(())
    } else {
        Err("memory must be readable (R, RW, RX or RWX)")
    }
}

fn device_permissions(attributes: RegionAttributes) -> Result<(), &'static str> {
    if !attributes.contains(RegionAttributes::READ) {
        Err("device memory must be readable (R or RW)")
    } else if attributes.contains(RegionAttributes::EXECUTE) {
        Err("device memory must not be executable")
    } else {
        Ok(())
    }
}

/// Parses one child of `memory-regions`.
pub fn memory_region<'a>(
    node: &Node<'_, '_, 'a>,
    granule: TranslationGranule,
) -> Result<MemoryRegion<'a>, ManifestError> {
    let base = node.u64("base-address")?;
    let relative = node.u64("load-address-relative-offset")?;
    let (address, base_property, aligned_value) = match (base, relative) {
        (Some(_), Some(_)) => {
            return Err(node.error(
                "load-address-relative-offset",
                Problem::Conflicts { with: "base-address" },
            ))
        }
        (Some(base), None) => (RegionAddress::Absolute(base), "base-address", Some(base)),
        (None, Some(offset)) => (
            RegionAddress::RelativeToLoadAddress(offset),
            "load-address-relative-offset",
            Some(offset),
        ),
        (None, None) => (RegionAddress::ChosenByManager, "base-address", None),
    };
    let pages_count = pages_and_base(node, granule, base_property, aligned_value)?;
    Ok(MemoryRegion {
        name: node.name(),
        description: node.string("description")?,
        address,
        pages_count,
        attributes: attributes(node, memory_permissions)?,
        phandle: node.u32("phandle")?,
    })
}

/// Interrupt attribute bits the binding defines: priority, security, trigger, type.
const INTERRUPT_ATTRIBUTE_BITS: u32 = 0xFFF;

fn interrupt(
    node: &Node<'_, '_, '_>,
    id: u32,
    attributes: u32,
) -> Result<Interrupt, ManifestError> {
    let unknown = attributes & !INTERRUPT_ATTRIBUTE_BITS;
    if unknown != 0 {
        return Err(node.error("interrupts", Problem::UnknownBits { bits: unknown.into() }));
    }
    let kind = match (attributes >> 10) & 0b11 {
        0b00 => InterruptKind::Sgi,
        0b01 => InterruptKind::Ppi,
        0b10 => InterruptKind::Spi,
        _ => {
            return Err(
                node.error("interrupts", Problem::Invalid("interrupt type 0b11 is reserved"))
            )
        }
    };
    Ok(Interrupt {
        id,
        priority: (attributes & 0xFF) as u8,
        secure: attributes & (1 << 8) != 0,
        level_triggered: attributes & (1 << 9) != 0,
        kind,
    })
}

/// Parses one child of `device-regions`.
pub fn device_region<'a>(
    node: &Node<'_, '_, 'a>,
    granule: TranslationGranule,
) -> Result<DeviceRegion<'a>, ManifestError> {
    let base_address = node.required_u64("base-address")?;
    let pages_count = pages_and_base(node, granule, "base-address", Some(base_address))?;
    let mut interrupts = heapless::Vec::new();
    if let Some(value) = node.cell_groups("interrupts", 2, ValueKind::U32Pairs)? {
        let mut words = cells(value);
        while let (Some(id), Some(attributes)) = (words.next(), words.next()) {
            interrupts.push(interrupt(node, id, attributes)?).map_err(|_| {
                node.error("interrupts", Problem::TooMany { capacity: MAX_INTERRUPTS_PER_DEVICE })
            })?;
        }
    }
    Ok(DeviceRegion {
        name: node.name(),
        description: node.string("description")?,
        base_address,
        pages_count,
        attributes: attributes(node, device_permissions)?,
        interrupts,
        exclusive_access: node.flag("exclusive-access")?,
    })
}

/// Parses the `rx-tx-buffer` node against the already parsed memory regions.
pub fn rx_tx_buffer(
    node: &Node<'_, '_, '_>,
    regions: &[MemoryRegion<'_>],
) -> Result<RxTxBuffer, ManifestError> {
    node.check_optional_compatible("arm,ffa-manifest-rx_tx-buffer")?;
    let resolve = |property: &'static str| -> Result<usize, ManifestError> {
        let phandle = node.required_u32(property)?;
        regions
            .iter()
            .position(|region| region.phandle == Some(phandle))
            .ok_or_else(|| node.error(property, Problem::DanglingReference { phandle }))
    };
    let rx = resolve("rx-buffer")?;
    let tx = resolve("tx-buffer")?;
    if rx == tx {
        return Err(node.error("tx-buffer", Problem::Conflicts { with: "rx-buffer" }));
    }
    Ok(RxTxBuffer { rx, tx })
}

/// Parses every child of a region container node with `parse`, into `out`.
pub fn children<'a, T, const N: usize>(
    container: &Node<'_, '_, 'a>,
    granule: TranslationGranule,
    parse: fn(&Node<'_, '_, 'a>, TranslationGranule) -> Result<T, ManifestError>,
    out: &mut heapless::Vec<T, N>,
) -> Result<(), ManifestError> {
    for child in container.children() {
        let path: NodePath = container.path().child(child.name);
        let region = parse(&Node::new(child, &path), granule)?;
        out.push(region).map_err(|_| {
            ManifestError::new(container.path(), "child nodes", Problem::TooMany { capacity: N })
        })?;
    }
    Ok(())
}
