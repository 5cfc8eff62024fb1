//! Notification rows of the conformance matrix (N01-N08) against the core in both roles, with
//! the SRI/NPI requests the platform collects and "nothing changed" checks after each error.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

#[path = "core_harness.rs"]
mod harness;

use ffa_core::call::{MsgWaitFlags, Return};
use ffa_core::features::{FeatureId, FeaturesQuery};
use ffa_core::notification::{
    BindFlags, GetFlags, InfoList, NotificationBitmap, NotificationGetResult, NotificationInfo,
    SetFlags,
};
use ffa_core::{Call, EndpointId, FfaError, FunctionId, VcpuId, Version};
use harness::*;
use spmc::manifest::MessagingMethod;
use spmc::partition_manager::{
    Configuration, ContextId, Delivery, EndpointDescription, FeatureInterrupts, InterruptRequests,
    Role, Transfer,
};

const VM2: EndpointId = EndpointId(2);
const VM3: EndpointId = EndpointId(3);

fn create(vm: EndpointId, vcpu_count: u32) -> Call {
    Call::NotificationBitmapCreate { vm_id: vm, vcpu_count }
}

fn destroy(vm: EndpointId) -> Call {
    Call::NotificationBitmapDestroy { vm_id: vm }
}

fn bind(sender: EndpointId, receiver: EndpointId, bits: u64, per_vcpu: bool) -> Call {
    let flags = if per_vcpu { BindFlags::PER_VCPU } else { BindFlags::empty() };
    Call::NotificationBind { sender, receiver, flags, bitmap: NotificationBitmap(bits) }
}

fn unbind(sender: EndpointId, receiver: EndpointId, bits: u64) -> Call {
    Call::NotificationUnbind { sender, receiver, bitmap: NotificationBitmap(bits) }
}

fn set(sender: EndpointId, receiver: EndpointId, bits: u64) -> Call {
    let flags = SetFlags { per_vcpu: false, delay_schedule_receiver: false, vcpu: VcpuId(0) };
    Call::NotificationSet { sender, receiver, flags, bitmap: NotificationBitmap(bits) }
}

fn set_vcpu(sender: EndpointId, receiver: EndpointId, bits: u64, vcpu: u16) -> Call {
    let flags = SetFlags { per_vcpu: true, delay_schedule_receiver: false, vcpu: VcpuId(vcpu) };
    Call::NotificationSet { sender, receiver, flags, bitmap: NotificationBitmap(bits) }
}

fn set_delayed(sender: EndpointId, receiver: EndpointId, bits: u64) -> Call {
    let flags = SetFlags { per_vcpu: false, delay_schedule_receiver: true, vcpu: VcpuId(0) };
    Call::NotificationSet { sender, receiver, flags, bitmap: NotificationBitmap(bits) }
}

fn get_call(receiver: EndpointId, vcpu: u16, flags: GetFlags) -> Call {
    Call::NotificationGet { receiver, vcpu: VcpuId(vcpu), flags }
}

const ALL: GetFlags = GetFlags::all();

/// FFA_NOTIFICATION_GET from `from`; the bitmaps or the error.
fn get(
    manager: &Manager,
    from: ContextId,
    receiver: EndpointId,
    vcpu: u16,
    flags: GetFlags,
) -> Result<NotificationGetResult, FfaError> {
    let delivery = call(manager, from, get_call(receiver, vcpu, flags));
    assert_eq!(delivery.to, from);
    if let Some(error) = error_of(&delivery) {
        return Err(error);
    }
    assert_eq!(delivery.registers[0], FunctionId::Success32.to_register());
    let words: [u32; 6] = core::array::from_fn(|index| delivery.registers[2 + index] as u32);
    Ok(NotificationGetResult::from_words(words))
}

/// The bitmaps with only SP-sourced bits.
fn from_sp(bits: u64) -> NotificationGetResult {
    NotificationGetResult { from_sp: NotificationBitmap(bits), ..Default::default() }
}

fn from_vm(bits: u64) -> NotificationGetResult {
    NotificationGetResult { from_vm: NotificationBitmap(bits), ..Default::default() }
}

/// FFA_NOTIFICATION_INFO_GET from the normal world on CPU 0.
fn info(manager: &Manager, is_64: bool) -> Result<NotificationInfo, FfaError> {
    let delivery = call(manager, nwd(0), Call::NotificationInfoGet { is_64 });
    if let Some(error) = error_of(&delivery) {
        return Err(error);
    }
    let success = if is_64 { FunctionId::Success64 } else { FunctionId::Success32 };
    assert_eq!(delivery.registers[0], success.to_register());
    let registers: [u64; 6] = core::array::from_fn(|index| delivery.registers[2 + index]);
    if !is_64 {
        assert!(registers.iter().all(|value| value >> 32 == 0), "SMC32 results fit in 32 bits");
    }
    Ok(NotificationInfo::decode(registers, is_64).expect("well-formed lists"))
}

fn lists(info: &NotificationInfo) -> Vec<(EndpointId, Vec<u16>)> {
    info.lists()
        .map(|list: &InfoList| {
            (list.partition, list.vcpus().iter().map(|vcpu| vcpu.0).collect::<Vec<_>>())
        })
        .collect()
}

fn no_requests() -> InterruptRequests {
    InterruptRequests::default()
}

fn sri() -> InterruptRequests {
    InterruptRequests { schedule_receiver: true, notification_pending: None }
}

fn npi(context: ContextId) -> InterruptRequests {
    InterruptRequests { schedule_receiver: false, notification_pending: Some(context) }
}

/// A partition runs `body` (entered by FFA_RUN from the normal world on `cpu`) and waits
/// again; every request raised meanwhile is collected and returned.
fn as_partition(
    manager: &Manager,
    context: ContextId,
    cpu: u16,
    body: impl FnOnce(&Manager),
) -> InterruptRequests {
    run(manager, context, cpu);
    let entered = manager.take_interrupt_requests(cpu);
    body(manager);
    wait(manager, context);
    let left = manager.take_interrupt_requests(cpu);
    InterruptRequests {
        schedule_receiver: entered.schedule_receiver || left.schedule_receiver,
        notification_pending: entered.notification_pending.or(left.notification_pending),
    }
}

#[test]
fn n01_bitmap_create_is_for_the_normal_world_once_per_vm() {
    let manager = booted_notification_spmc();
    as_partition(&manager, ec(SP1, 0), 0, |manager| {
        let delivery = call(manager, ec(SP1, 0), create(VM1, 1));
        assert_error(&delivery, ec(SP1, 0), FfaError::NotSupported);
    });
    for (vm, count, error) in [
        (EndpointId(0xFFFF), 1, FfaError::InvalidParameters),
        (SP1, 1, FfaError::InvalidParameters),
        (VM1, 0, FfaError::InvalidParameters),
        (VM1, 5, FfaError::NoMemory),
    ] {
        assert_error(&call(&manager, nwd(0), create(vm, count)), nwd(0), error);
    }
    // None of those created a bitmap.
    assert_error(&call(&manager, nwd(0), destroy(VM1)), nwd(0), FfaError::Denied);
    assert_success(&call(&manager, nwd(0), create(VM1, 4)), nwd(0));
    assert_error(&call(&manager, nwd(0), create(VM1, 4)), nwd(0), FfaError::Denied);
    // Eight VM bitmaps fit the capacity; the ninth does not.
    for id in 2..9 {
        assert_success(&call(&manager, nwd(1), create(EndpointId(id), 1)), nwd(1));
    }
    assert_error(&call(&manager, nwd(1), create(EndpointId(9), 1)), nwd(1), FfaError::NoMemory);
    assert_eq!(manager.take_interrupt_requests(0), no_requests());
}

#[test]
fn n02_bitmap_destroy_needs_an_existing_quiet_bitmap() {
    let manager = booted_notification_spmc();
    as_partition(&manager, ec(SP1, 0), 0, |manager| {
        assert_error(&call(manager, ec(SP1, 0), destroy(VM1)), ec(SP1, 0), FfaError::NotSupported);
    });
    assert_error(
        &call(&manager, nwd(0), destroy(EndpointId(0xFFFF))),
        nwd(0),
        FfaError::InvalidParameters,
    );
    assert_error(&call(&manager, nwd(0), destroy(VM1)), nwd(0), FfaError::Denied);
    // A pending notification keeps the bitmap alive.
    assert_success(&call(&manager, nwd(0), create(VM1, 2)), nwd(0));
    assert_success(&call(&manager, nwd(0), bind(SP1, VM1, 1 << 7, false)), nwd(0));
    as_partition(&manager, ec(SP1, 0), 0, |manager| {
        assert_success(&call(manager, ec(SP1, 0), set(SP1, VM1, 1 << 7)), ec(SP1, 0));
    });
    assert_error(&call(&manager, nwd(0), destroy(VM1)), nwd(0), FfaError::Denied);
    assert_eq!(get(&manager, nwd(0), VM1, 0, GetFlags::SP), Ok(from_sp(1 << 7)));
    assert_success(&call(&manager, nwd(0), destroy(VM1)), nwd(0));
    assert_error(&call(&manager, nwd(0), destroy(VM1)), nwd(0), FfaError::Denied);
    // The bindings went with it.
    assert_error(
        &call(&manager, nwd(0), bind(SP1, VM1, 1, false)),
        nwd(0),
        FfaError::InvalidParameters,
    );
    assert_success(&call(&manager, nwd(0), create(VM1, 2)), nwd(0));
    as_partition(&manager, ec(SP1, 0), 0, |manager| {
        assert_error(
            &call(manager, ec(SP1, 0), set(SP1, VM1, 1 << 7)),
            ec(SP1, 0),
            FfaError::Denied,
        );
    });
}

#[test]
fn n03_bind_checks_ids_flags_bitmap_and_existing_bindings() {
    let manager = booted_notification_spmc();
    let me = ec(SP1, 0);
    as_partition(&manager, me, 0, |manager| {
        let invalid = FfaError::InvalidParameters;
        for (sender, receiver) in [
            (EndpointId(0xFFFF), SP1), // the SPMD as sender
            (SP2, EndpointId(0xFFFF)), // receiver other than the caller
            (SP2, SP3),                // receiver spoof
            (SP1, SP1),                // sender = receiver
            (EndpointId(0x8009), SP1), // no such partition
            (SPMC_ID, SP1),            // the SPMC is no sender
        ] {
            assert_error(&call(manager, me, bind(sender, receiver, 1, false)), me, invalid);
        }
        // Flags other than per-vCPU, and an empty bitmap.
        let mut registers = bind(SP2, SP1, 1, false).encode(Version::V1_2);
        registers[2] = 0x10;
        let delivery = manager.handle(me, &registers);
        assert_error(&delivery, me, invalid);
        assert_error(&call(manager, me, bind(SP2, SP1, 0, false)), me, invalid);
        // Bound to another sender (of the same world): DENIED, and nothing of the call sticks.
        assert_success(&call(manager, me, bind(SP2, SP1, 1 << 3, false)), me);
        assert_error(
            &call(manager, me, bind(SP5, SP1, 1 << 3 | 1 << 4, false)),
            me,
            FfaError::Denied,
        );
        assert_error(&call(manager, me, bind(SP2, SP1, 1 << 3, false)), me, FfaError::Denied);
        // The same bit from a VM is a separate notification.
        assert_success(&call(manager, me, bind(VM1, SP1, 1 << 3, false)), me);
    });
    // SP5 never got bit 4 (the refused call changed nothing).
    as_partition(&manager, ec(SP5, 0), 1, |manager| {
        assert_error(
            &call(manager, ec(SP5, 0), set(SP5, SP1, 1 << 4)),
            ec(SP5, 0),
            FfaError::Denied,
        );
    });
    // A partition without notification support cannot bind.
    as_partition(&manager, ec(SP3, 0), 0, |manager| {
        assert_error(
            &call(manager, ec(SP3, 0), bind(SP1, SP3, 1, false)),
            ec(SP3, 0),
            FfaError::NotSupported,
        );
    });
    // The normal world binds partitions as senders for VMs with a bitmap.
    assert_error(
        &call(&manager, nwd(0), bind(SP1, VM1, 1, false)),
        nwd(0),
        FfaError::InvalidParameters,
    );
    assert_success(&call(&manager, nwd(0), create(VM1, 1)), nwd(0));
    assert_error(
        &call(&manager, nwd(0), bind(VM2, VM1, 1, false)),
        nwd(0),
        FfaError::InvalidParameters,
    );
    assert_error(
        &call(&manager, nwd(0), bind(SP1, SP2, 1, false)),
        nwd(0),
        FfaError::InvalidParameters,
    );
    assert_success(&call(&manager, nwd(0), bind(SP1, VM1, 1, false)), nwd(0));
    assert_eq!(manager.take_interrupt_requests(0), no_requests());
}

#[test]
fn n04_unbind_checks_ids_mbz_bitmap_and_ownership() {
    let manager = booted_notification_spmc();
    let me = ec(SP1, 0);
    as_partition(&manager, me, 0, |manager| {
        let invalid = FfaError::InvalidParameters;
        assert_error(&call(manager, me, unbind(EndpointId(0xFFFF), SP1, 1)), me, invalid);
        assert_error(&call(manager, me, unbind(SP2, EndpointId(0xFFFF), 1)), me, invalid);
        let mut registers = unbind(SP2, SP1, 1).encode(Version::V1_2);
        registers[2] = 0x10;
        assert_error(&manager.handle(me, &registers), me, invalid);
        assert_error(&call(manager, me, unbind(SP2, SP1, 0)), me, invalid);
        // Unbinding what is not bound to this sender is INVALID_PARAMETERS (matrix N04: ACS
        // notification_unbind_client.c:71), whether unbound or bound to another sender.
        assert_error(&call(manager, me, unbind(SP2, SP1, 0b01)), me, invalid);
        assert_success(&call(manager, me, bind(SP2, SP1, 0b11, false)), me);
        assert_error(&call(manager, me, unbind(SP5, SP1, 0b01)), me, invalid);
        assert_error(&call(manager, me, unbind(SP2, SP1, 0b111)), me, invalid);
    });
    // A pending notification cannot be unbound.
    as_partition(&manager, ec(SP2, 0), 1, |manager| {
        assert_success(&call(manager, ec(SP2, 0), set(SP2, SP1, 0b01)), ec(SP2, 0));
    });
    as_partition(&manager, me, 0, |manager| {
        assert_error(&call(manager, me, unbind(SP2, SP1, 0b01)), me, FfaError::Denied);
        assert_eq!(get(manager, me, SP1, 0, GetFlags::SP), Ok(from_sp(0b01)));
        assert_success(&call(manager, me, unbind(SP2, SP1, 0b11)), me);
    });
    // Unbound now: SET is DENIED.
    as_partition(&manager, ec(SP2, 0), 1, |manager| {
        assert_error(&call(manager, ec(SP2, 0), set(SP2, SP1, 0b10)), ec(SP2, 0), FfaError::Denied);
    });
}

/// SP1 binds SP2 for bit 12 (global) and bit 13 (per vCPU); SP7 binds SP2 for bit 40 per vCPU
/// and VM1 for bit 2.
fn with_bindings() -> Manager {
    let manager = booted_notification_spmc();
    as_partition(&manager, ec(SP1, 0), 0, |manager| {
        assert_success(&call(manager, ec(SP1, 0), bind(SP2, SP1, 1 << 12, false)), ec(SP1, 0));
        assert_success(&call(manager, ec(SP1, 0), bind(SP2, SP1, 1 << 13, true)), ec(SP1, 0));
    });
    as_partition(&manager, ec(SP7, 0), 0, |manager| {
        assert_success(&call(manager, ec(SP7, 0), bind(SP2, SP7, 1 << 40, true)), ec(SP7, 0));
        assert_success(&call(manager, ec(SP7, 0), bind(VM1, SP7, 1 << 2, false)), ec(SP7, 0));
    });
    assert_eq!(manager.take_interrupt_requests(0), no_requests());
    manager
}

#[test]
fn n05_set_checks_ids_flags_and_bindings_and_changes_nothing_on_error() {
    let manager = with_bindings();
    let sender = ec(SP2, 0);
    let requests = as_partition(&manager, sender, 1, |manager| {
        let invalid = FfaError::InvalidParameters;
        let refused = [
            (set(SP2, EndpointId(0xFFFF), 1 << 12), invalid), // receiver
            (set(SP3, SP1, 1 << 12), invalid),                // sender other than the caller
            (set(SP2, SP2, 1 << 12), invalid),                // to itself
            (set(SP2, SP1, 0), invalid),                      // no notifications
            (set(SP2, SP1, 1 << 13), invalid),                // per-vCPU bit set globally
            (set_vcpu(SP2, SP1, 1 << 12, 0), invalid),        // global bit set per vCPU
            (set_vcpu(SP2, SP1, 1 << 13, 1), invalid),        // SP1 has one vCPU
            (set_vcpu(SP2, SP7, 1 << 40, 4), invalid),        // SP7 has four
            (set(SP2, SP1, 1 << 16), FfaError::Denied),       // not bound
            (set(SP2, SP1, 1 << 12 | 1 << 16), FfaError::Denied),
            (set(SP2, SP7, 1 << 2), FfaError::Denied), // bound to VM1, not SP2
            (set(SP2, SP3, 1), FfaError::Denied),      // SP3 has no notifications
        ];
        for (refused, error) in refused {
            assert_error(&call(manager, sender, refused), sender, error);
        }
        // w2 with a vCPU but no per-vCPU flag (decoded as invalid).
        let mut registers = set(SP2, SP1, 1 << 12).encode(Version::V1_2);
        registers[2] = 2 << 16;
        assert_error(&manager.handle(sender, &registers), sender, invalid);
    });
    assert_eq!(requests, no_requests(), "a refused SET raises nothing");
    // Nothing became pending.
    assert_eq!(info(&manager, true), Err(FfaError::NoData));
    // A partition without notification support cannot set (matrix D11).
    as_partition(&manager, ec(SP3, 0), 1, |manager| {
        assert_error(
            &call(manager, ec(SP3, 0), set(SP3, SP1, 1)),
            ec(SP3, 0),
            FfaError::NotSupported,
        );
    });
    // VM -> SP: only partitions may delay the SRI; the normal world names a VM sender and a
    // partition receiver.
    let invalid = FfaError::InvalidParameters;
    assert_error(&call(&manager, nwd(0), set_delayed(VM1, SP7, 1 << 2)), nwd(0), invalid);
    assert_error(&call(&manager, nwd(0), set(SP2, SP7, 1 << 2)), nwd(0), invalid);
    assert_error(&call(&manager, nwd(0), set(VM1, VM2, 1 << 2)), nwd(0), invalid);
    assert_eq!(manager.take_interrupt_requests(0), no_requests());
    assert_eq!(info(&manager, false), Err(FfaError::NoData));
    assert_success(&call(&manager, nwd(0), set(VM1, SP7, 1 << 2)), nwd(0));
    assert_eq!(manager.take_interrupt_requests(0), sri());
}

#[test]
fn n06_get_checks_the_receiver_and_vcpu() {
    let manager = with_bindings();
    let me = ec(SP1, 0);
    as_partition(&manager, me, 0, |manager| {
        let invalid = Err(FfaError::InvalidParameters);
        assert_eq!(get(manager, me, EndpointId(0xFFFF), 0, ALL), invalid);
        assert_eq!(get(manager, me, SP2, 0, ALL), invalid);
        assert_eq!(get(manager, me, SP1, 1, ALL), invalid, "not the caller's vCPU");
        // Undefined flag bits are refused by the decoder.
        let mut registers = get_call(SP1, 0, ALL).encode(Version::V1_2);
        registers[2] = 0x10;
        assert_error(&manager.handle(me, &registers), me, FfaError::InvalidParameters);
        assert_eq!(get(manager, me, SP1, 0, ALL), Ok(NotificationGetResult::default()));
    });
    as_partition(&manager, ec(SP3, 0), 0, |manager| {
        assert_eq!(get(manager, ec(SP3, 0), SP3, 0, ALL), Err(FfaError::NotSupported));
    });
    // The normal world reads VMs' SP and SPM bitmaps only.
    let invalid = Err(FfaError::InvalidParameters);
    assert_eq!(get(&manager, nwd(0), EndpointId(0xFFFF), 0, GetFlags::VM), invalid);
    assert_eq!(get(&manager, nwd(0), SP1, 0, GetFlags::SP), invalid);
    assert_eq!(get(&manager, nwd(0), VM1, 0, GetFlags::SP), invalid, "no bitmap yet");
    assert_success(&call(&manager, nwd(0), create(VM1, 2)), nwd(0));
    assert_eq!(get(&manager, nwd(0), VM1, 0, GetFlags::VM), invalid);
    assert_eq!(get(&manager, nwd(0), VM1, 0, GetFlags::HYPERVISOR_FRAMEWORK), invalid);
    assert_eq!(get(&manager, nwd(0), VM1, 2, GetFlags::SP), invalid, "VM1 has two vCPUs");
    let both = GetFlags::SP | GetFlags::SPM_FRAMEWORK;
    assert_eq!(get(&manager, nwd(0), VM1, 1, both), Ok(NotificationGetResult::default()));
}

#[test]
fn n07_info_get_is_the_normal_worlds_and_says_no_data_when_quiet() {
    let manager = booted_notification_spmc();
    as_partition(&manager, ec(SP1, 0), 0, |manager| {
        for is_64 in [false, true] {
            let delivery = call(manager, ec(SP1, 0), Call::NotificationInfoGet { is_64 });
            assert_error(&delivery, ec(SP1, 0), FfaError::NotSupported);
        }
    });
    assert_eq!(info(&manager, false), Err(FfaError::NoData));
    assert_eq!(info(&manager, true), Err(FfaError::NoData));
}

#[test]
fn n08_vm_to_sp_global_notification_raises_sri_then_npi_and_get_clears() {
    let manager = with_bindings();
    assert_success(&call(&manager, nwd(2), set(VM1, SP7, 1 << 2)), nwd(2));
    assert_eq!(manager.take_interrupt_requests(2), sri());
    assert_eq!(manager.take_interrupt_requests(2), no_requests(), "each request once");
    assert_eq!(manager.take_interrupt_requests(0), no_requests(), "only the caller's CPU");
    // The scheduler learns SP7 has global notifications, once.
    let first = info(&manager, true).unwrap();
    assert!(!first.more_pending);
    assert_eq!(lists(&first), vec![(SP7, vec![])]);
    assert_eq!(info(&manager, true), Err(FfaError::NoData));
    // Running any of SP7's contexts delivers the NPI, to the first one only.
    run(&manager, ec(SP7, 1), 1);
    assert_eq!(manager.take_interrupt_requests(1), npi(ec(SP7, 1)));
    assert_eq!(manager.take_interrupt_requests(1), no_requests());
    let result = get(&manager, ec(SP7, 1), SP7, 1, ALL).unwrap();
    assert_eq!(result, from_vm(1 << 2));
    assert_eq!(get(&manager, ec(SP7, 1), SP7, 1, ALL), Ok(NotificationGetResult::default()));
    wait(&manager, ec(SP7, 1));
    run(&manager, ec(SP7, 0), 0);
    assert_eq!(manager.take_interrupt_requests(0), no_requests(), "signalled already");
    wait(&manager, ec(SP7, 0));
    assert_eq!(info(&manager, true), Err(FfaError::NoData));
}

#[test]
fn n08_sp_to_sp_per_vcpu_notification_with_delayed_sri() {
    let manager = with_bindings();
    let sender = ec(SP2, 0);
    run(&manager, sender, 3);
    let flags = SetFlags { per_vcpu: true, delay_schedule_receiver: true, vcpu: VcpuId(2) };
    let signal = Call::NotificationSet {
        sender: SP2,
        receiver: SP7,
        flags,
        bitmap: NotificationBitmap(1 << 40),
    };
    assert_success(&call(&manager, sender, signal), sender);
    assert_eq!(manager.take_interrupt_requests(3), no_requests(), "delayed while SP2 runs");
    wait(&manager, sender);
    assert_eq!(manager.take_interrupt_requests(3), sri(), "raised on the way back");
    assert_eq!(manager.take_interrupt_requests(3), no_requests());
    let reported = info(&manager, false).unwrap();
    assert_eq!(lists(&reported), vec![(SP7, vec![2])]);
    // vCPU 0 of SP7 runs: no NPI, and its GET does not see vCPU 2's notification.
    run(&manager, ec(SP7, 0), 0);
    assert_eq!(manager.take_interrupt_requests(0), no_requests());
    assert_eq!(get(&manager, ec(SP7, 0), SP7, 0, ALL), Ok(NotificationGetResult::default()));
    wait(&manager, ec(SP7, 0));
    run(&manager, ec(SP7, 2), 2);
    assert_eq!(manager.take_interrupt_requests(2), npi(ec(SP7, 2)));
    assert_eq!(
        get(&manager, ec(SP7, 2), SP7, 2, GetFlags::VM),
        Ok(NotificationGetResult::default())
    );
    assert_eq!(get(&manager, ec(SP7, 2), SP7, 2, GetFlags::SP), Ok(from_sp(1 << 40)));
    assert_eq!(
        get(&manager, ec(SP7, 2), SP7, 2, GetFlags::SP),
        Ok(NotificationGetResult::default())
    );
    wait(&manager, ec(SP7, 2));
    assert_eq!(info(&manager, false), Err(FfaError::NoData));
}

#[test]
fn n08_sp_to_vm_notification_reaches_the_vm_bitmap() {
    let manager = booted_notification_spmc();
    assert_success(&call(&manager, nwd(0), create(VM1, 4)), nwd(0));
    assert_success(&call(&manager, nwd(0), bind(SP1, VM1, 1 << 7, false)), nwd(0));
    assert_success(&call(&manager, nwd(0), bind(SP1, VM1, 1 << 8, true)), nwd(0));
    let requests = as_partition(&manager, ec(SP1, 0), 1, |manager| {
        assert_success(&call(manager, ec(SP1, 0), set(SP1, VM1, 1 << 7)), ec(SP1, 0));
        assert_success(&call(manager, ec(SP1, 0), set_vcpu(SP1, VM1, 1 << 8, 3)), ec(SP1, 0));
    });
    assert_eq!(requests, sri(), "no NPI for a VM: the normal world learns through the SRI");
    let reported = info(&manager, true).unwrap();
    assert_eq!(lists(&reported), vec![(VM1, vec![3])], "global and vCPU 3 in one list");
    assert_eq!(get(&manager, nwd(1), VM1, 1, GetFlags::SP), Ok(from_sp(1 << 7)));
    assert_eq!(get(&manager, nwd(1), VM1, 3, GetFlags::SP), Ok(from_sp(1 << 8)));
    assert_eq!(info(&manager, true), Err(FfaError::NoData));
}

#[test]
fn n08_s_el0_receiver_gets_no_npi_and_no_npi_without_an_interrupt_id() {
    let manager = booted_notification_spmc();
    as_partition(&manager, ec(SP4, 1), 1, |manager| {
        assert_success(&call(manager, ec(SP4, 1), bind(SP1, SP4, 1, true)), ec(SP4, 1));
    });
    as_partition(&manager, ec(SP1, 0), 0, |manager| {
        assert_success(&call(manager, ec(SP1, 0), set_vcpu(SP1, SP4, 1, 1)), ec(SP1, 0));
    });
    run(&manager, ec(SP4, 1), 1);
    assert_eq!(manager.take_interrupt_requests(1), no_requests(), "S-EL0: no NPI");
    assert_eq!(get(&manager, ec(SP4, 1), SP4, 1, GetFlags::SP), Ok(from_sp(1)));
    wait(&manager, ec(SP4, 1));

    // The same S-EL1 delivery without an NPI interrupt ID configured.
    let local = notification_partitions();
    let remote = normal_world();
    let mut configuration = spmc_configuration(&local, &remote);
    configuration.interrupts.notification_pending = None;
    let manager = Manager::new(&configuration, FakeMemory::default()).unwrap();
    for cpu in 0..4 {
        boot_cpu(&manager, cpu, |_| msg_wait());
    }
    as_partition(&manager, ec(SP1, 0), 0, |manager| {
        assert_success(&call(manager, ec(SP1, 0), bind(SP2, SP1, 1, false)), ec(SP1, 0));
    });
    as_partition(&manager, ec(SP2, 0), 0, |manager| {
        assert_success(&call(manager, ec(SP2, 0), set(SP2, SP1, 1)), ec(SP2, 0));
    });
    run(&manager, ec(SP1, 0), 0);
    assert_eq!(manager.take_interrupt_requests(0), no_requests());
    let npi_query = FeaturesQuery::Feature(FeatureId::NotificationPendingInterrupt);
    let delivery = call(&manager, ec(SP1, 0), Call::Features(npi_query));
    assert_error(&delivery, ec(SP1, 0), FfaError::NotSupported);
}

#[test]
fn n08_info_get_packs_lists_and_reports_the_rest_when_full() {
    let manager = booted_notification_spmc();
    // SP4 and SP7 (4 vCPUs each) bind SP1 per vCPU; SP2 and SP5 bind it globally.
    for (receiver, per_vcpu) in [(SP4, true), (SP7, true), (SP2, false), (SP5, false)] {
        as_partition(&manager, ec(receiver, 0), 0, |manager| {
            let delivery = call(manager, ec(receiver, 0), bind(SP1, receiver, 1, per_vcpu));
            assert_success(&delivery, ec(receiver, 0));
        });
    }
    as_partition(&manager, ec(SP1, 0), 0, |manager| {
        for receiver in [SP4, SP7] {
            for vcpu in 0..4 {
                let delivery = call(manager, ec(SP1, 0), set_vcpu(SP1, receiver, 1, vcpu));
                assert_success(&delivery, ec(SP1, 0));
            }
        }
        for receiver in [SP2, SP5] {
            assert_success(&call(manager, ec(SP1, 0), set(SP1, receiver, 1)), ec(SP1, 0));
        }
    });
    // 14 IDs: SP2; SP4 0 1 2; SP4 3; SP5; SP7 0 1 2; SP7 3. SMC32 holds 10.
    let first = info(&manager, false).unwrap();
    assert!(first.more_pending);
    assert_eq!(
        lists(&first),
        vec![(SP2, vec![]), (SP4, vec![0, 1, 2]), (SP4, vec![3]), (SP5, vec![])]
    );
    let second = info(&manager, false).unwrap();
    assert!(!second.more_pending);
    assert_eq!(lists(&second), vec![(SP7, vec![0, 1, 2]), (SP7, vec![3])]);
    assert_eq!(info(&manager, false), Err(FfaError::NoData));
    // Setting a notification that is pending and reported already reports nothing new.
    as_partition(&manager, ec(SP1, 0), 0, |manager| {
        assert_success(&call(manager, ec(SP1, 0), set_vcpu(SP1, SP7, 1, 3)), ec(SP1, 0));
    });
    assert_eq!(info(&manager, true), Err(FfaError::NoData));
    // Once retrieved and set again, it is reported again.
    run(&manager, ec(SP7, 3), 3);
    assert_eq!(manager.take_interrupt_requests(3), npi(ec(SP7, 3)));
    assert_eq!(get(&manager, ec(SP7, 3), SP7, 3, GetFlags::SP), Ok(from_sp(1)));
    wait(&manager, ec(SP7, 3));
    as_partition(&manager, ec(SP1, 0), 0, |manager| {
        assert_success(&call(manager, ec(SP1, 0), set_vcpu(SP1, SP7, 1, 3)), ec(SP1, 0));
    });
    let again = info(&manager, true).unwrap();
    assert!(!again.more_pending);
    assert_eq!(lists(&again), vec![(SP7, vec![3])]);
}

/// A forwarder with VM1 (2 vCPUs) and VM2 (1 vCPU), which receive notifications and indirect
/// messages, and VM3, which does neither; the secure partitions are remote.
fn forwarder() -> Manager {
    let messaging = MessagingMethod::SEND_DIRECT_REQUEST
        | MessagingMethod::RECEIVE_DIRECT_REQUEST
        | MessagingMethod::INDIRECT;
    let mut vm1 = EndpointDescription::virtual_machine(VM1, 2, Version::V1_2, messaging);
    vm1.notification_support = true;
    let mut vm2 = EndpointDescription::virtual_machine(VM2, 1, Version::V1_2, messaging);
    vm2.notification_support = true;
    let vm3 = EndpointDescription::virtual_machine(
        VM3,
        1,
        Version::V1_2,
        MessagingMethod::SEND_DIRECT_REQUEST,
    );
    let local = vec![vm1, vm2, vm3];
    let remote = secure_partitions();
    let configuration = Configuration {
        role: Role::Forwarder,
        own_id: EndpointId(0),
        spm_id: SPMC_ID,
        version: Version::V1_2,
        local: &local,
        remote: &remote,
        interrupts: FeatureInterrupts {
            notification_pending: Some(NPI),
            schedule_receiver: Some(SRI),
            managed_exit: None,
        },
        maximum_mailbox_pages: 0,
    };
    Manager::new(&configuration, FakeMemory::default()).unwrap()
}

fn features(manager: &Manager, from: ContextId, query: FeaturesQuery) -> Result<u32, FfaError> {
    let delivery = call(manager, from, Call::Features(query));
    match error_of(&delivery) {
        Some(error) => Err(error),
        None => Ok(delivery.registers[2] as u32),
    }
}

fn function(function: FunctionId) -> FeaturesQuery {
    FeaturesQuery::Function { function, properties: 0 }
}

/// The SPMC's answer to a call the forwarder passed on.
fn answer(manager: &Manager, forwarded: &Delivery, registers: [u64; 18]) -> Delivery {
    assert_eq!(forwarded.transfer, Transfer::OtherWorld, "{forwarded:?}");
    let delivery = manager.handle(forwarded.to, &registers);
    manager.check_invariants().unwrap();
    delivery
}

fn success_words(words: [u32; 6]) -> [u64; 18] {
    let mut registers = [0u64; 18];
    registers[0] = FunctionId::Success32.to_register();
    for (index, word) in words.into_iter().enumerate() {
        registers[2 + index] = word.into();
    }
    registers
}

#[test]
fn forwarder_holds_vm_to_vm_notifications_and_signals_the_running_receiver() {
    let manager = forwarder();
    manager.start(ec(VM1, 0), 0).unwrap();
    manager.start(ec(VM2, 0), 1).unwrap();
    let vm1 = ec(VM1, 0);
    assert_success(&call(&manager, vm1, bind(VM2, VM1, 1 << 1, false)), vm1);
    // A VM creates no bitmaps and asks for no notification information; the hypervisor's own
    // ID is no sender.
    assert_error(&call(&manager, vm1, create(VM1, 1)), vm1, FfaError::NotSupported);
    assert_error(
        &call(&manager, vm1, Call::NotificationInfoGet { is_64: true }),
        vm1,
        FfaError::NotSupported,
    );
    assert_error(
        &call(&manager, vm1, bind(EndpointId(0), VM1, 1, false)),
        vm1,
        FfaError::InvalidParameters,
    );
    assert_error(
        &call(&manager, vm1, bind(EndpointId(9), VM1, 1, false)),
        vm1,
        FfaError::InvalidParameters,
    );
    assert_eq!(manager.notification_info(true), None);

    let vm2 = ec(VM2, 0);
    assert_error(
        &call(&manager, vm2, set_delayed(VM2, VM1, 1 << 1)),
        vm2,
        FfaError::InvalidParameters,
    );
    assert_eq!(manager.take_interrupt_requests(1), no_requests());
    assert_success(&call(&manager, vm2, set(VM2, VM1, 1 << 1)), vm2);
    assert_eq!(manager.take_interrupt_requests(1), sri(), "the scheduler is asked to run VM1");
    assert_eq!(manager.take_interrupt_requests(0), npi(vm1), "VM1 runs on CPU 0");
    let reported = manager.notification_info(false).unwrap();
    assert_eq!(lists(&reported), vec![(VM1, vec![])]);
    assert_eq!(manager.notification_info(false), None);
    let both = GetFlags::VM | GetFlags::HYPERVISOR_FRAMEWORK;
    assert_eq!(get(&manager, vm1, VM1, 0, both), Ok(from_vm(1 << 1)));
    assert_eq!(get(&manager, vm1, VM1, 0, both), Ok(NotificationGetResult::default()));
    // VM3 has no notifications.
    manager.start(ec(VM3, 0), 2).unwrap();
    assert_error(
        &call(&manager, ec(VM3, 0), bind(VM1, VM3, 1, false)),
        ec(VM3, 0),
        FfaError::NotSupported,
    );
    assert_error(&call(&manager, vm2, set(VM2, VM3, 1)), vm2, FfaError::Denied);
}

#[test]
fn forwarder_passes_secure_parts_to_the_spmc_and_merges_get() {
    let manager = forwarder();
    manager.start(ec(VM1, 1), 0).unwrap();
    manager.start(ec(VM2, 0), 1).unwrap();
    let vm1 = ec(VM1, 1);
    let vm2 = ec(VM2, 0);
    // The SPMC holds a VM's bindings of partitions: before the first BIND of a partition
    // sender passes on, the forwarder has the SPMC create the VM's bitmap (both vCPUs). A
    // refusal is the VM's answer and nothing is recorded; the next BIND asks again.
    assert!(!manager.vm_bitmap_at_spmc(VM1));
    let create = Call::NotificationBitmapCreate { vm_id: VM1, vcpu_count: 2 };
    let first = call(&manager, vm1, bind(SP1, VM1, 1 << 4, true));
    assert_eq!((first.to, first.registers), (ec(SPMC_ID, 0), create.encode(Version::V1_2)));
    let refused = answer(&manager, &first, Return::error(FfaError::NoMemory).encode(Version::V1_2));
    assert_error(&refused, vm1, FfaError::NoMemory);
    assert!(!manager.vm_bitmap_at_spmc(VM1));
    let again = call(&manager, vm1, bind(SP1, VM1, 1 << 4, true));
    assert_eq!(again.registers, create.encode(Version::V1_2));
    let bound = answer(&manager, &again, success_words([0; 6]));
    assert_eq!(bound.registers, bind(SP1, VM1, 1 << 4, true).encode(Version::V1_2));
    assert_success(&answer(&manager, &bound, success_words([0; 6])), vm1);
    assert!(manager.vm_bitmap_at_spmc(VM1));
    let unbound = call(&manager, vm1, unbind(SP1, VM1, 1 << 4));
    assert_success(&answer(&manager, &unbound, success_words([0; 6])), vm1);
    // From then on BIND of a partition sender and SET to a partition go to the SPMC as they
    // are.
    for forwarded_call in [bind(SP1, VM1, 1 << 4, true), unbind(SP1, VM1, 1 << 4)] {
        let forwarded = call(&manager, vm1, forwarded_call);
        assert_eq!(forwarded.to, ec(SPMC_ID, 0));
        assert_eq!(forwarded.registers, forwarded_call.encode(Version::V1_2));
        let back = answer(&manager, &forwarded, success_words([0; 6]));
        assert_success(&back, vm1);
    }
    let forwarded = call(&manager, vm2, set(VM2, SP1, 1));
    assert_eq!((forwarded.to, forwarded.transfer), (ec(SPMC_ID, 1), Transfer::OtherWorld));
    assert_error(
        &answer(&manager, &forwarded, Return::error(FfaError::Denied).encode(Version::V1_2)),
        vm2,
        FfaError::Denied,
    );
    assert_eq!(manager.take_interrupt_requests(1), no_requests(), "the SPMC raises its own SRI");

    // GET: the SP and SPM bitmaps come from the SPMC, the VM bitmap from here.
    assert_success(&call(&manager, vm1, bind(VM2, VM1, 1 << 9, true)), vm1);
    assert_success(&call(&manager, vm2, set_vcpu(VM2, VM1, 1 << 9, 1)), vm2);
    let flags = GetFlags::SP | GetFlags::VM | GetFlags::SPM_FRAMEWORK;
    let forwarded = call(&manager, vm1, get_call(VM1, 1, flags));
    assert_eq!(
        forwarded.registers,
        get_call(VM1, 1, GetFlags::SP | GetFlags::SPM_FRAMEWORK).encode(Version::V1_2)
    );
    // A failed answer leaves this side's bitmap alone.
    let failed = answer(
        &manager,
        &forwarded,
        Return::error(FfaError::InvalidParameters).encode(Version::V1_2),
    );
    assert_error(&failed, vm1, FfaError::InvalidParameters);
    let forwarded = call(&manager, vm1, get_call(VM1, 1, flags));
    let merged = answer(&manager, &forwarded, success_words([0x10, 0x20, 0, 0, 1, 0]));
    assert_eq!(merged.to, vm1);
    let words: [u32; 6] = core::array::from_fn(|index| merged.registers[2 + index] as u32);
    assert_eq!(
        NotificationGetResult::from_words(words),
        NotificationGetResult {
            from_sp: NotificationBitmap(0x20_0000_0010),
            from_vm: NotificationBitmap(1 << 9),
            spm_framework: 1,
            hypervisor_framework: 0,
        }
    );
    assert_eq!(get(&manager, vm1, VM1, 1, GetFlags::VM), Ok(NotificationGetResult::default()));
    // Feature answers in the forwarder.
    let npi_query = FeaturesQuery::Feature(FeatureId::NotificationPendingInterrupt);
    let sri_query = FeaturesQuery::Feature(FeatureId::ScheduleReceiverInterrupt);
    assert_eq!(features(&manager, vm1, npi_query), Ok(NPI));
    assert_eq!(features(&manager, vm1, sri_query), Err(FfaError::NotSupported));
    for (id, expected) in [
        (FunctionId::NotificationBind, true),
        (FunctionId::NotificationGet, true),
        (FunctionId::MsgSend2, true),
        (FunctionId::NotificationBitmapCreate, false),
        (FunctionId::NotificationInfoGet64, false),
    ] {
        assert_eq!(features(&manager, vm1, function(id)).is_ok(), expected, "{id}");
    }
}

#[test]
fn features_report_notifications_per_caller() {
    let manager = booted_notification_spmc();
    for id in [
        FunctionId::NotificationBitmapCreate,
        FunctionId::NotificationBitmapDestroy,
        FunctionId::NotificationBind,
        FunctionId::NotificationUnbind,
        FunctionId::NotificationSet,
        FunctionId::NotificationGet,
        FunctionId::NotificationInfoGet32,
        FunctionId::NotificationInfoGet64,
        FunctionId::MsgSend2,
    ] {
        assert_eq!(features(&manager, nwd(0), function(id)), Ok(0), "{id}");
    }
    // The hypervisor may take a VM's RX buffer (FFA_RX_ACQUIRE, SPMC role only).
    assert_eq!(features(&manager, nwd(0), function(FunctionId::RxAcquire)), Ok(0));
    // Matrix D11: SET (and its siblings) iff the partition supports notifications.
    for (partition, notifications, indirect) in
        [(SP1, true, true), (SP3, false, false), (SP5, true, true)]
    {
        as_partition(&manager, ec(partition, 0), 0, |manager| {
            let from = ec(partition, 0);
            for id in [
                FunctionId::NotificationSet,
                FunctionId::NotificationBind,
                FunctionId::NotificationGet,
            ] {
                assert_eq!(features(manager, from, function(id)).is_ok(), notifications, "{id}");
            }
            assert_eq!(features(manager, from, function(FunctionId::MsgSend2)).is_ok(), indirect);
            for id in [FunctionId::NotificationBitmapCreate, FunctionId::NotificationInfoGet64] {
                assert_eq!(features(manager, from, function(id)), Err(FfaError::NotSupported));
            }
        });
    }
}

#[test]
fn teardown_takes_a_vms_pending_bits_at_the_spmc_then_destroys_its_bitmap_there() {
    let manager = forwarder();
    manager.start(ec(VM1, 0), 0).unwrap();
    let vm1 = ec(VM1, 0);
    // VM 1's first BIND of a partition creates its bitmap at the SPMC.
    let created = call(&manager, vm1, bind(SP1, VM1, 1, false));
    let bound = answer(&manager, &created, success_words([0; 6]));
    assert_success(&answer(&manager, &bound, success_words([0; 6])), vm1);
    assert!(manager.vm_bitmap_at_spmc(VM1));
    // VM 1 waits, so the platform may destroy it.
    let waited = call(&manager, vm1, Call::MsgWait { flags: MsgWaitFlags::empty(), is_64: false });
    assert_eq!(waited.transfer, Transfer::Scheduler);
    let spm_bitmaps = GetFlags::SP | GetFlags::SPM_FRAMEWORK;
    let expected_steps = [
        get_call(VM1, 0, spm_bitmaps),
        get_call(VM1, 1, spm_bitmaps),
        Call::NotificationBitmapDestroy { vm_id: VM1 },
    ];
    // First pass: the SPMC refuses the destroy (BUSY): RETRY, and the report says so.
    let mut step = manager.destroy_vm(VM1, 2).unwrap();
    for (index, expected) in expected_steps.iter().enumerate() {
        assert_eq!((step.to, step.transfer), (ec(SPMC_ID, 2), Transfer::OtherWorld));
        assert_eq!(step.registers, expected.encode(Version::V1_2), "step {index}");
        let reply = if index == 2 {
            Return::error(FfaError::Busy).encode(Version::V1_2)
        } else {
            success_words([0; 6])
        };
        step = answer(&manager, &step, reply);
    }
    assert_eq!(step.transfer, Transfer::Scheduler);
    assert_eq!(error_of(&step), Some(FfaError::Retry));
    assert!(manager.vm_lifecycle_report(VM1).unwrap().bitmap_at_spmc);
    assert!(manager.vm_bitmap_at_spmc(VM1));
    assert_eq!(manager.vm_created(VM1, 2), Err(FfaError::Denied), "teardown not finished");
    // Second pass: the same steps, and the destroy succeeds.
    let mut step = manager.destroy_vm(VM1, 2).unwrap();
    for expected in &expected_steps {
        assert_eq!(step.registers, expected.encode(Version::V1_2));
        step = answer(&manager, &step, success_words([0; 6]));
    }
    assert_eq!(step.transfer, Transfer::Scheduler);
    assert_eq!(step.registers[0], FunctionId::Success32.to_register());
    let report = manager.vm_lifecycle_report(VM1).unwrap();
    assert!(report.is_complete() && !report.bitmap_at_spmc, "{report:?}");
    assert!(!manager.vm_bitmap_at_spmc(VM1));
}
