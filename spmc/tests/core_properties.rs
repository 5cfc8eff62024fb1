//! Property tests: arbitrary registers from arbitrary contexts, mixed with platform events
//! (boot, abort, preempt), never panic and always leave the scheduling invariants intact.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

#[path = "core_harness.rs"]
mod harness;

use ffa_core::{Call, EndpointId, FunctionId, Version};
use harness::*;
use proptest::prelude::*;
use spmc::partition_manager::{ContextId, Delivery, Transfer};

/// One step the platform may take.
#[derive(Debug, Clone)]
enum Step {
    /// Registers from a context (index into the candidate list).
    Registers(usize, [u64; 18]),
    /// A well-formed call from a context: more likely to reach deep states than noise.
    Call(usize, u8, u16, u16),
    /// The platform reports a fault of a context.
    Abort(usize),
    /// The platform preempts a context.
    Preempt(usize, u32),
    /// Boot a CPU.
    Boot(u16),
}

fn candidates() -> Vec<ContextId> {
    let mut contexts = Vec::new();
    for sp in ALL_SPS {
        for vcpu in 0..4 {
            contexts.push(ec(sp, vcpu));
        }
    }
    for cpu in 0..5 {
        contexts.push(nwd(cpu));
    }
    contexts.push(ec(EndpointId::SPMD, 0));
    contexts
}

/// Plausible function IDs, so that noise in other registers gets past the function decode.
const FUNCTIONS: [FunctionId; 14] = [
    FunctionId::MsgSendDirectReq32,
    FunctionId::MsgSendDirectReq64,
    FunctionId::MsgSendDirectResp32,
    FunctionId::MsgSendDirectReq2,
    FunctionId::MsgSendDirectResp2,
    FunctionId::MsgWait32,
    FunctionId::Yield32,
    FunctionId::Run32,
    FunctionId::Error32,
    FunctionId::Version,
    FunctionId::Features,
    FunctionId::RxtxMap64,
    FunctionId::PartitionInfoGet,
    FunctionId::RxRelease,
];

fn registers() -> impl Strategy<Value = [u64; 18]> {
    (prop::array::uniform18(any::<u64>()), 0..FUNCTIONS.len() + 1, any::<bool>()).prop_map(
        |(mut registers, function, small)| {
            if let Some(function) = FUNCTIONS.get(function) {
                registers[0] = function.to_register();
            }
            if small {
                // Small values hit real endpoint IDs, vCPUs and flags.
                for register in registers.iter_mut().skip(1) {
                    *register &= 0x8007_0003;
                }
            }
            registers
        },
    )
}

fn step() -> impl Strategy<Value = Step> {
    let count = candidates().len();
    prop_oneof![
        3 => (0..count, registers()).prop_map(|(index, registers)| Step::Registers(index, registers)),
        6 => (0..count, 0u8..8, 0u16..8, 0u16..8).prop_map(|(index, kind, a, b)| Step::Call(index, kind, a, b)),
        1 => (0..count).prop_map(Step::Abort),
        1 => (0..count, any::<u32>()).prop_map(|(index, id)| Step::Preempt(index, id)),
        1 => (0u16..5).prop_map(Step::Boot),
    ]
}

fn endpoint(index: u16) -> EndpointId {
    match index {
        0 => NWD,
        1 => VM1,
        other => ALL_SPS[usize::from(other - 2) % ALL_SPS.len()],
    }
}

/// A well-formed call from `from` built from small numbers.
fn structured(from: ContextId, kind: u8, a: u16, b: u16) -> Call {
    let source = if from.endpoint.is_secure() { from.endpoint } else { endpoint(a % 2) };
    let destination = endpoint(b);
    match kind {
        0 => request32(source, destination, [a.into(); 5]),
        1 => response32(source, destination, [b.into(); 5]),
        2 => request2(source, destination, uuid((b % 7) as u8)),
        3 => response2(source, destination),
        4 => Call::MsgWait { flags: ffa_core::call::MsgWaitFlags::empty(), is_64: false },
        5 => Call::Yield { target: ffa_core::call::NO_TARGET, timeout: 0, is_64: false },
        6 => Call::Run { target: ec(destination, a % 5).target_info(), is_64: false },
        _ => Call::Version { requested: 0x0001_0000 | u32::from(a % 4) },
    }
}

fn check_delivery(manager: &Manager, from: Option<ContextId>, delivery: &Delivery) {
    // A local delivery names a real context (or refuses a context that does not exist with
    // an error back to it); every other transfer names a CPU that exists.
    match delivery.transfer {
        Transfer::Start | Transfer::Enter | Transfer::Restore => {
            let refused = Some(delivery.to) == from && error_of(delivery).is_some();
            assert!(refused || manager.context_state(delivery.to).is_some(), "{delivery:?}");
        }
        Transfer::OtherWorld | Transfer::Scheduler => {
            assert!(delivery.to.vcpu.0 < 5, "{delivery:?}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_input_never_panics_and_keeps_invariants(
        booted in any::<bool>(),
        steps in prop::collection::vec(step(), 1..60),
    ) {
        let manager = if booted { booted_spmc() } else { new_spmc() };
        let contexts = candidates();
        for step in steps {
            match step {
                Step::Registers(index, registers) => {
                    let delivery = manager.handle(contexts[index], &registers);
                    check_delivery(&manager, Some(contexts[index]), &delivery);
                }
                Step::Call(index, kind, a, b) => {
                    let from = contexts[index];
                    let delivery = manager.handle(from, &structured(from, kind, a, b).encode(Version::V1_2));
                    check_delivery(&manager, Some(from), &delivery);
                }
                Step::Abort(index) => {
                    if let Ok(delivery) = manager.abort(contexts[index]) {
                        check_delivery(&manager, None, &delivery);
                    }
                }
                Step::Preempt(index, id) => {
                    if let Ok(delivery) = manager.preempt(contexts[index], id) {
                        check_delivery(&manager, None, &delivery);
                    }
                }
                Step::Boot(cpu) => {
                    if let Ok(delivery) = manager.boot(cpu) {
                        check_delivery(&manager, None, &delivery);
                    }
                }
            }
            prop_assert_eq!(manager.check_invariants(), Ok(()));
        }
    }
}
