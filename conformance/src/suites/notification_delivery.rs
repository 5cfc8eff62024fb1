//! Notifications delivered end to end (matrix N08): the suite's endpoint and the server
//! partitions signal each other, global and per-vCPU notifications, and FFA_NOTIFICATION_GET
//! returns them once (it clears what it returns).
#![allow(
    clippy::result_large_err,
    reason = "a failed step is the check's Outcome (with the registers that came back), passed up once"
)]

use ffa_core::notification::{GetFlags, NotificationBitmap, SetFlags};
use ffa_core::{EndpointId, FfaError, VcpuId};
use ffa_guest_driver::{DriverError, ErrorKind};

use super::support::{
    answer_failed, command, driver_failed, missing, setup_lacks, step_failed, with_driver,
};
use crate::check::{Check, Outcome};
use crate::context::{Context, SuiteDriver};
use crate::server::{Answer, Command, Status};

const SUITE: &str = "notifications";
const FFA_NOTIFICATION_BIND: u64 = 0x8400_007F;
const FFA_NOTIFICATION_SET: u64 = 0x8400_0081;
const FFA_NOTIFICATION_GET: u64 = 0x8400_0082;
/// The vCPU both sides use: the suite's endpoint and UP server partitions run on vCPU 0.
const VCPU: u16 = 0;
/// The global and the per-vCPU notification each check signals (bits no other check binds).
const GLOBAL: u64 = 1 << 20;
const PER_VCPU: u64 = 1 << 21;
const BOTH: u64 = GLOBAL | PER_VCPU;
const SERVER_TAKES_NONE: &str = "the server partition takes no notifications";

/// The GET flag that selects notifications from `sender`.
fn from(sender: EndpointId) -> GetFlags {
    if sender.is_secure() {
        GetFlags::SP
    } else {
        GetFlags::VM
    }
}

/// The bits a server's Get answer reports from `sender`.
fn server_got(answer: &Answer, sender: EndpointId) -> u64 {
    let words = answer.values;
    if sender.is_secure() {
        words[0]
    } else {
        words[1]
    }
}

/// Checks that need notifications and a server skip without them.
fn lacks(context: &mut Context<'_>) -> Option<Outcome> {
    if let Some(skip) = setup_lacks(context, 0) {
        return Some(skip);
    }
    missing(
        context,
        &[
            (FFA_NOTIFICATION_BIND, "FFA_NOTIFICATION_BIND is not offered"),
            (FFA_NOTIFICATION_SET, "FFA_NOTIFICATION_SET is not offered"),
            (FFA_NOTIFICATION_GET, "FFA_NOTIFICATION_GET is not offered"),
        ],
    )
}

/// Commands `server` and expects the command done.
fn done(
    driver: &mut SuiteDriver<'_>,
    server: EndpointId,
    step: &'static str,
    order: Command,
) -> Result<Answer, Outcome> {
    match command(driver, server, order) {
        Ok(answer) if answer.status == Status::Done => Ok(answer),
        Ok(answer) => Err(answer_failed(step, answer)),
        Err(error) => Err(error.outcome(step)),
    }
}

/// Has `receiver` bind `BOTH` (the second bit per vCPU) to `sender`; a server that takes no
/// notifications makes the check skip.
fn server_binds(
    driver: &mut SuiteDriver<'_>,
    receiver: EndpointId,
    sender: EndpointId,
) -> Result<(), Outcome> {
    for (bitmap, per_vcpu) in [(GLOBAL, false), (PER_VCPU, true)] {
        match command(driver, receiver, Command::Bind { sender, bitmap, per_vcpu }) {
            Ok(answer) if answer.status == Status::Done => {}
            Ok(answer) if answer.status == Status::Ffa(FfaError::NotSupported) => {
                return Err(Outcome::Skipped(SERVER_TAKES_NONE))
            }
            Ok(answer) => return Err(answer_failed("the server binds the notifications", answer)),
            Err(error) => return Err(error.outcome("the server binds the notifications")),
        }
    }
    Ok(())
}

/// Has `server` signal `receiver` the global, then the per-vCPU notification.
fn server_sets(
    driver: &mut SuiteDriver<'_>,
    server: EndpointId,
    receiver: EndpointId,
) -> Result<(), Outcome> {
    for (bitmap, vcpu) in [(GLOBAL, None), (PER_VCPU, Some(VCPU))] {
        let order = Command::Set { receiver, bitmap, vcpu, delay_schedule_receiver: false };
        match command(driver, server, order) {
            Ok(answer) if answer.status == Status::Done => {}
            Ok(answer) if answer.status == Status::Ffa(FfaError::NotSupported) => {
                return Err(Outcome::Skipped(SERVER_TAKES_NONE))
            }
            Ok(answer) => {
                return Err(answer_failed("the server signals the notifications", answer))
            }
            Err(error) => return Err(error.outcome("the server signals the notifications")),
        }
    }
    Ok(())
}

/// Has `receiver` take its notifications from `sender` twice: the first GET must return both
/// bits, the second neither.
fn server_gets_once(
    driver: &mut SuiteDriver<'_>,
    receiver: EndpointId,
    sender: EndpointId,
) -> Result<(), Outcome> {
    let order = Command::Get { vcpu: VCPU, flags: from(sender).bits() };
    let first = done(driver, receiver, "the receiver's FFA_NOTIFICATION_GET", order)?;
    if server_got(&first, sender) & BOTH != BOTH {
        return Err(answer_failed("GET returns the global and the per-vCPU notification", first));
    }
    let second = done(driver, receiver, "the receiver's second FFA_NOTIFICATION_GET", order)?;
    if server_got(&second, sender) & BOTH != 0 {
        return Err(answer_failed("a second GET returns nothing: the first cleared", second));
    }
    Ok(())
}

/// Has `receiver` unbind what it bound (a failure fails the check: state must not leak).
fn server_unbinds(
    driver: &mut SuiteDriver<'_>,
    receiver: EndpointId,
    sender: EndpointId,
) -> Result<(), Outcome> {
    done(driver, receiver, "the receiver unbinds", Command::Unbind { sender, bitmap: BOTH })
        .map(drop)
}

fn outcome(result: Result<(), Outcome>) -> Outcome {
    result.err().unwrap_or(Outcome::Passed)
}

/// N08: the suite's endpoint signals the server partition, which gets both notifications
/// once.
pub const N08_TO_SERVER: Check = Check {
    suite: SUITE,
    name: "n08_notifications_to_the_server_arrive_and_get_clears_them",
    source: "N08",
    run: n08_to_server,
};
fn n08_to_server(context: &mut Context<'_>) -> Outcome {
    if let Some(skip) = lacks(context) {
        return skip;
    }
    let Some(server) = context.partition else { return step_failed("a server partition") };
    with_driver(context, |driver, _| {
        let own = driver.id();
        let run = |driver: &mut SuiteDriver<'_>| -> Result<(), Outcome> {
            server_binds(driver, server, own)?;
            for (bitmap, per_vcpu) in [(GLOBAL, false), (PER_VCPU, true)] {
                let flags =
                    SetFlags { per_vcpu, delay_schedule_receiver: false, vcpu: VcpuId(VCPU) };
                driver
                    .notification_set(server, NotificationBitmap(bitmap), flags)
                    .map_err(|error| driver_failed("FFA_NOTIFICATION_SET to the server", error))?;
            }
            server_gets_once(driver, server, own)
        };
        let result = run(driver);
        let cleanup = if matches!(result, Err(Outcome::Skipped(_))) {
            Ok(())
        } else {
            server_unbinds(driver, server, own)
        };
        outcome(result.and(cleanup))
    })
}

/// N08: the server partition signals the suite's endpoint, which gets both notifications
/// once.
pub const N08_FROM_SERVER: Check = Check {
    suite: SUITE,
    name: "n08_notifications_from_the_server_arrive_and_get_clears_them",
    source: "N08",
    run: n08_from_server,
};
fn n08_from_server(context: &mut Context<'_>) -> Outcome {
    if let Some(skip) = lacks(context) {
        return skip;
    }
    let Some(server) = context.partition else { return step_failed("a server partition") };
    with_driver(context, |driver, _| {
        let run = |driver: &mut SuiteDriver<'_>| -> Result<(), Outcome> {
            for (bitmap, per_vcpu) in [(GLOBAL, false), (PER_VCPU, true)] {
                match driver.notification_bind(server, NotificationBitmap(bitmap), per_vcpu) {
                    Ok(()) => {}
                    Err(DriverError { kind: ErrorKind::Ffa(FfaError::NotSupported), .. }) => {
                        return Err(Outcome::Skipped("the suite's endpoint takes no notifications"))
                    }
                    Err(error) => return Err(driver_failed("FFA_NOTIFICATION_BIND", error)),
                }
            }
            let own = driver.id();
            server_sets(driver, server, own)?;
            let flags = from(server);
            let taken = |driver: &mut SuiteDriver<'_>, step| {
                let got = driver
                    .notification_get(VcpuId(VCPU), flags)
                    .map_err(|error| driver_failed(step, error))?;
                Ok::<u64, Outcome>(if server.is_secure() { got.from_sp.0 } else { got.from_vm.0 })
            };
            if taken(driver, "FFA_NOTIFICATION_GET")? & BOTH != BOTH {
                return Err(step_failed("GET returns the global and the per-vCPU notification"));
            }
            if taken(driver, "a second FFA_NOTIFICATION_GET")? & BOTH != 0 {
                return Err(step_failed("a second GET returns nothing: the first cleared"));
            }
            Ok(())
        };
        let result = run(driver);
        // What was bound is unbound again; after a skip (the server signals nothing) the
        // bindings may or may not exist, so the unbind's answer does not count then.
        let mut unbound = Ok(());
        for bit in [GLOBAL, PER_VCPU] {
            if let Err(error) = driver.notification_unbind(server, NotificationBitmap(bit)) {
                unbound = Err(driver_failed("FFA_NOTIFICATION_UNBIND", error));
            }
        }
        let cleanup = if matches!(result, Err(Outcome::Skipped(_))) { Ok(()) } else { unbound };
        outcome(result.and(cleanup))
    })
}

/// N08: one server partition signals the other (partition to partition), which gets both
/// notifications once.
pub const N08_BETWEEN_SERVERS: Check = Check {
    suite: SUITE,
    name: "n08_notifications_between_partitions_arrive_and_get_clears_them",
    source: "N08",
    run: n08_between_servers,
};
fn n08_between_servers(context: &mut Context<'_>) -> Outcome {
    if let Some(skip) = lacks(context) {
        return skip;
    }
    let (Some(sender), Some(receiver)) = (context.partition, context.second_partition) else {
        return Outcome::Skipped("the setup names no second server partition");
    };
    with_driver(context, |driver, _| {
        let run = |driver: &mut SuiteDriver<'_>| -> Result<(), Outcome> {
            server_binds(driver, receiver, sender)?;
            server_sets(driver, sender, receiver)?;
            server_gets_once(driver, receiver, sender)
        };
        let result = run(driver);
        let cleanup = if matches!(result, Err(Outcome::Skipped(_))) {
            Ok(())
        } else {
            server_unbinds(driver, receiver, sender)
        };
        outcome(result.and(cleanup))
    })
}
