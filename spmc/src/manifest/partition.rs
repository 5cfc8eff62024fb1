//! The FF-A partition manifest (bindings 1.0 and 1.1) as a checked [`PartitionManifest`].

use ffa_core::EndpointId;

use super::blob;
use super::error::{ManifestError, NodePath, Problem, ValueKind};
use super::node::{cells, Node};
use super::regions::{self, DeviceRegion, MemoryRegion, RxTxBuffer};
use super::regions::{MAX_DEVICE_REGIONS, MAX_MEMORY_REGIONS};
use super::uuid::Uuid;
use super::values::{
    BindingVersion, ExceptionLevel, ExecutionState, FfaVersion, MessagingMethod,
    NsInterruptsAction, PowerManagementMessages, TranslationGranule, VmAvailabilityMessages,
};

/// Services (UUIDs) one partition may implement.
pub const MAX_SERVICES: usize = 4;

/// The alignment required of `load-address`: an FF-A page.
const LOAD_ADDRESS_ALIGNMENT: u64 = 0x1000;

/// One service a partition implements: a UUID and the messaging it accepts for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    /// The service UUID.
    pub uuid: Uuid,
    /// Messaging methods for this UUID (the partition-wide value under the 1.0 binding
    /// unless `messaging-method` lists one value per UUID).
    pub messaging_method: MessagingMethod,
}

/// A checked FF-A partition manifest. Borrowed strings point into the device tree blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionManifest<'a> {
    /// Which binding the root `compatible` names.
    pub binding: BindingVersion,
    /// `ffa-version`: the FF-A version the partition expects.
    pub ffa_version: FfaVersion,
    /// The services (UUIDs), at least one, no duplicates, none Nil.
    pub services: heapless::Vec<Service, MAX_SERVICES>,
    /// `id`, if pre-assigned.
    pub id: Option<EndpointId>,
    /// `auxiliary-id`, if given.
    pub auxiliary_id: Option<EndpointId>,
    /// `description`, if given.
    pub description: Option<&'a str>,
    /// `execution-ctx-count` (1..=0xFFFF).
    pub execution_context_count: u16,
    /// `exception-level`.
    pub exception_level: ExceptionLevel,
    /// `execution-state`.
    pub execution_state: ExecutionState,
    /// `load-address`; `None` means position independent.
    pub load_address: Option<u64>,
    /// `entrypoint-offset`; default 0.
    pub entrypoint_offset: u64,
    /// `xlat-granule`.
    pub translation_granule: TranslationGranule,
    /// `boot-order`; `None` means "after every partition that has one".
    pub boot_order: Option<u16>,
    /// Partition-wide messaging methods: the root `messaging-method`, or under the 1.1
    /// binding without one, the union of the services' methods.
    pub messaging_method: MessagingMethod,
    /// `ns-interrupts-action`, or `ManagedExit` for the deprecated `managed-exit` flag;
    /// default `Signaled`.
    pub ns_interrupts_action: NsInterruptsAction,
    /// `managed-exit-virq`: signal managed exit as a virtual IRQ.
    pub managed_exit_virq: bool,
    /// `notification-support`.
    pub notification_support: bool,
    /// `gp-register-num`: the register that receives the boot-information blob address.
    pub gp_register_num: Option<u8>,
    /// `power-management-messages`; default none.
    pub power_management_messages: PowerManagementMessages,
    /// `vm-availability-messages`; default none.
    pub vm_availability_messages: VmAvailabilityMessages,
    /// Children of `memory-regions`, in manifest order.
    pub memory_regions: heapless::Vec<MemoryRegion<'a>, MAX_MEMORY_REGIONS>,
    /// Children of `device-regions`, in manifest order.
    pub device_regions: heapless::Vec<DeviceRegion<'a>, MAX_DEVICE_REGIONS>,
    /// `rx-tx-buffer`, if given.
    pub rx_tx_buffer: Option<RxTxBuffer>,
}

const COMPATIBLE_1_0: &str = "arm,ffa-manifest-1.0";
const COMPATIBLE_1_1: &str = "arm,ffa-manifest-1.1";

fn binding(root: &Node<'_, '_, '_>) -> Result<BindingVersion, ManifestError> {
    let list = root
        .string_list("compatible")?
        .ok_or_else(|| root.error("compatible", Problem::Missing))?;
    let mut found = None;
    for entry in list {
        match entry {
            COMPATIBLE_1_0 => found = found.or(Some(BindingVersion::V1_0)),
            COMPATIBLE_1_1 => found = Some(BindingVersion::V1_1),
            _ => {}
        }
    }
    found.ok_or_else(|| {
        root.error(
            "compatible",
            Problem::Invalid("not \"arm,ffa-manifest-1.0\" or \"arm,ffa-manifest-1.1\""),
        )
    })
}

fn messaging_method(node: &Node<'_, '_, '_>, raw: u32) -> Result<MessagingMethod, ManifestError> {
    MessagingMethod::from_bits(raw).ok_or_else(|| {
        node.error(
            "messaging-method",
            Problem::UnknownBits { bits: (raw & !MessagingMethod::all().bits()).into() },
        )
    })
}

fn push_service(
    node: &Node<'_, '_, '_>,
    property: &'static str,
    services: &mut heapless::Vec<Service, MAX_SERVICES>,
    service: Service,
) -> Result<(), ManifestError> {
    if service.uuid == Uuid::NIL {
        return Err(node.error(property, Problem::Invalid("the Nil UUID is reserved")));
    }
    if services.iter().any(|existing| existing.uuid == service.uuid) {
        return Err(node.error(property, Problem::Invalid("duplicate UUID")));
    }
    services
        .push(service)
        .map_err(|_| node.error(property, Problem::TooMany { capacity: MAX_SERVICES }))
}

/// Binding 1.0: `uuid` is a list of 4-cell tuples; `messaging-method` is one value for all
/// of them or one value per UUID.
fn services_1_0(
    root: &Node<'_, '_, '_>,
) -> Result<(heapless::Vec<Service, MAX_SERVICES>, MessagingMethod), ManifestError> {
    let uuids = root
        .cell_groups("uuid", 4, ValueKind::U32Quads)?
        .ok_or_else(|| root.error("uuid", Problem::Missing))?;
    let uuid_count = uuids.len() / 16;
    let methods = root
        .cell_groups("messaging-method", 1, ValueKind::U32List)?
        .ok_or_else(|| root.error("messaging-method", Problem::Missing))?;
    let method_count = methods.len() / 4;
    if method_count != 1 && method_count != uuid_count {
        return Err(root.error(
            "messaging-method",
            Problem::WrongType { expected: ValueKind::U32, length: methods.len() },
        ));
    }
    let mut all_methods = MessagingMethod::empty();
    let mut method_words = cells(methods);
    let mut current = MessagingMethod::empty();
    let mut services = heapless::Vec::new();
    for tuple in uuids.chunks_exact(16) {
        if let Some(raw) = method_words.next() {
            current = messaging_method(root, raw)?;
            all_methods |= current;
        }
        let mut words = [0u32; 4];
        for (word, value) in words.iter_mut().zip(cells(tuple)) {
            *word = value;
        }
        let service = Service { uuid: Uuid::from_register_words(words), messaging_method: current };
        push_service(root, "uuid", &mut services, service)?;
    }
    Ok((services, all_methods))
}

/// Binding 1.1: one child of the `services` node per UUID, each with a string `uuid` and a
/// `messaging-method`.
fn services_1_1(
    root: &Node<'_, '_, '_>,
) -> Result<(heapless::Vec<Service, MAX_SERVICES>, MessagingMethod), ManifestError> {
    if root.raw("uuid").is_some() {
        return Err(root.error("uuid", Problem::Conflicts { with: "services" }));
    }
    let container =
        root.child("services").ok_or_else(|| root.error("services", Problem::Missing))?;
    let container_path = root.path().child(container.name);
    let container = Node::new(container, &container_path);
    container.check_optional_compatible("arm,ffa-manifest-services")?;
    let mut services = heapless::Vec::new();
    let mut all_methods = MessagingMethod::empty();
    for child in container.children() {
        let path = container_path.child(child.name);
        let node = Node::new(child, &path);
        let text = node.required_string("uuid")?;
        let uuid = Uuid::parse_str(text)
            .ok_or_else(|| node.error("uuid", Problem::Invalid("not a UUID string")))?;
        let method = messaging_method(&node, node.required_u32("messaging-method")?)?;
        all_methods |= method;
        push_service(&node, "uuid", &mut services, Service { uuid, messaging_method: method })?;
    }
    if services.is_empty() {
        return Err(container.error("uuid", Problem::Missing));
    }
    Ok((services, all_methods))
}

fn endpoint_id(
    root: &Node<'_, '_, '_>,
    property: &'static str,
) -> Result<Option<EndpointId>, ManifestError> {
    Ok(root.u32_at_most(property, 0xFFFF)?.map(|value| EndpointId(value as u16)))
}

fn ns_interrupts(
    root: &Node<'_, '_, '_>,
    level: ExceptionLevel,
) -> Result<(NsInterruptsAction, bool), ManifestError> {
    let managed_exit = root.flag("managed-exit")?;
    let managed_exit_virq = root.flag("managed-exit-virq")?;
    let action = match root.u32("ns-interrupts-action")? {
        Some(raw) => {
            let action = NsInterruptsAction::from_value(raw).ok_or_else(|| {
                root.error("ns-interrupts-action", Problem::OutOfRange { value: raw.into() })
            })?;
            if managed_exit && action != NsInterruptsAction::ManagedExit {
                return Err(
                    root.error("ns-interrupts-action", Problem::Conflicts { with: "managed-exit" })
                );
            }
            action
        }
        None if managed_exit => NsInterruptsAction::ManagedExit,
        None => NsInterruptsAction::Signaled,
    };
    if action == NsInterruptsAction::ManagedExit && !level.is_el1_class() {
        let property = if managed_exit { "managed-exit" } else { "ns-interrupts-action" };
        return Err(root.error(property, Problem::Invalid("managed exit needs an EL1 partition")));
    }
    if managed_exit_virq && action != NsInterruptsAction::ManagedExit {
        return Err(
            root.error("managed-exit-virq", Problem::Conflicts { with: "ns-interrupts-action" })
        );
    }
    Ok((action, managed_exit_virq))
}

/// Reads a u32 property that names an enumerated value.
fn enumerated<T>(
    root: &Node<'_, '_, '_>,
    property: &'static str,
    decode: fn(u32) -> Option<T>,
) -> Result<T, ManifestError> {
    let raw = root.required_u32(property)?;
    decode(raw).ok_or_else(|| root.error(property, Problem::OutOfRange { value: raw.into() }))
}

fn bits<T>(
    root: &Node<'_, '_, '_>,
    property: &'static str,
    defined: u32,
    decode: fn(u32) -> Option<T>,
    default: T,
) -> Result<T, ManifestError> {
    let Some(raw) = root.u32(property)? else { return Ok(default) };
    decode(raw)
        .ok_or_else(|| root.error(property, Problem::UnknownBits { bits: (raw & !defined).into() }))
}

impl<'a> PartitionManifest<'a> {
    /// Parses and checks a partition manifest device tree blob.
    pub fn parse(dtb: &'a [u8]) -> Result<Self, ManifestError> {
        let tree = blob::open(dtb)?;
        let root_path = NodePath::root();
        let root = Node::new(blob::root(&tree)?, &root_path);

        let binding = binding(&root)?;
        let version_word = root.required_u32("ffa-version")?;
        let ffa_version =
            FfaVersion::from_word(version_word).filter(|version| version.major >= 1).ok_or_else(
                || root.error("ffa-version", Problem::OutOfRange { value: version_word.into() }),
            )?;
        let (services, union_of_methods) = match binding {
            BindingVersion::V1_0 => services_1_0(&root)?,
            BindingVersion::V1_1 => services_1_1(&root)?,
        };
        let messaging_method = match binding {
            BindingVersion::V1_0 => union_of_methods,
            BindingVersion::V1_1 => match root.u32("messaging-method")? {
                Some(raw) => messaging_method(&root, raw)?,
                None => union_of_methods,
            },
        };

        let execution_state = enumerated(&root, "execution-state", ExecutionState::from_value)?;
        let exception_level = enumerated(&root, "exception-level", ExceptionLevel::from_value)?;
        if exception_level.is_aarch32_mode() && execution_state != ExecutionState::AArch32 {
            return Err(
                root.error("exception-level", Problem::Conflicts { with: "execution-state" })
            );
        }

        let id = endpoint_id(&root, "id")?;

        let execution_context_count = root.required_u32("execution-ctx-count")?;
        if execution_context_count == 0 {
            return Err(root.error("execution-ctx-count", Problem::Zero));
        }
        let execution_context_count = u16::try_from(execution_context_count).map_err(|_| {
            root.error(
                "execution-ctx-count",
                Problem::OutOfRange { value: execution_context_count.into() },
            )
        })?;

        let load_address = root.u64("load-address")?;
        if let Some(address) = load_address {
            if address % LOAD_ADDRESS_ALIGNMENT != 0 {
                return Err(root.error(
                    "load-address",
                    Problem::Misaligned { value: address, alignment: LOAD_ADDRESS_ALIGNMENT },
                ));
            }
        }
        let entrypoint_offset = root.u64("entrypoint-offset")?.unwrap_or(0);
        if let Some(address) = load_address {
            address
                .checked_add(entrypoint_offset)
                .ok_or_else(|| root.error("entrypoint-offset", Problem::Overflow))?;
        }

        let translation_granule =
            enumerated(&root, "xlat-granule", TranslationGranule::from_value)?;
        let boot_order = root.u32_at_most("boot-order", 0xFFFF)?.map(|value| value as u16);
        let (ns_interrupts_action, managed_exit_virq) = ns_interrupts(&root, exception_level)?;
        let gp_register_num = match root.u32("gp-register-num")? {
            None => None,
            Some(raw) => {
                let highest = match execution_state {
                    ExecutionState::AArch64 => 30,
                    ExecutionState::AArch32 => 14,
                };
                if raw > highest {
                    return Err(
                        root.error("gp-register-num", Problem::OutOfRange { value: raw.into() })
                    );
                }
                Some(raw as u8)
            }
        };

        let mut manifest = Self {
            binding,
            ffa_version,
            services,
            id,
            auxiliary_id: endpoint_id(&root, "auxiliary-id")?,
            description: root.string("description")?,
            execution_context_count,
            exception_level,
            execution_state,
            load_address,
            entrypoint_offset,
            translation_granule,
            boot_order,
            messaging_method,
            ns_interrupts_action,
            managed_exit_virq,
            notification_support: root.flag("notification-support")?,
            gp_register_num,
            power_management_messages: bits(
                &root,
                "power-management-messages",
                PowerManagementMessages::all().bits(),
                PowerManagementMessages::from_bits,
                PowerManagementMessages::empty(),
            )?,
            vm_availability_messages: bits(
                &root,
                "vm-availability-messages",
                VmAvailabilityMessages::all().bits(),
                VmAvailabilityMessages::from_bits,
                VmAvailabilityMessages::empty(),
            )?,
            memory_regions: heapless::Vec::new(),
            device_regions: heapless::Vec::new(),
            rx_tx_buffer: None,
        };

        if let Some(container) = root.child("memory-regions") {
            let path = root_path.child(container.name);
            let container = Node::new(container, &path);
            container.check_optional_compatible("arm,ffa-manifest-memory-regions")?;
            regions::children(
                &container,
                translation_granule,
                regions::memory_region,
                &mut manifest.memory_regions,
            )?;
        }
        if let Some(container) = root.child("device-regions") {
            let path = root_path.child(container.name);
            let container = Node::new(container, &path);
            container.check_optional_compatible("arm,ffa-manifest-device-regions")?;
            regions::children(
                &container,
                translation_granule,
                regions::device_region,
                &mut manifest.device_regions,
            )?;
        }
        if let Some(buffers) = root.child("rx-tx-buffer") {
            let path = root_path.child(buffers.name);
            manifest.rx_tx_buffer =
                Some(regions::rx_tx_buffer(&Node::new(buffers, &path), &manifest.memory_regions)?);
        }
        Ok(manifest)
    }
}
