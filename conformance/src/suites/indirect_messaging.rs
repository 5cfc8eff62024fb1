//! Indirect messaging (matrix I01, I02, I04, I05): FFA_MSG_SEND2 to the server partition
//! through the guest driver, the server reading its RX buffer and sending back on command,
//! and malformed headers written by hand.
#![allow(
    clippy::result_large_err,
    reason = "a failed step is the check's Outcome (with the registers that came back), passed up once"
)]

use ffa_core::{Conduit, EndpointId, FfaError, Uuid, Version};
use ffa_guest_driver::Buffers;

use super::support::{
    answer_failed, command, driver_failed, missing, setup_lacks, step_failed, with_driver,
};
use crate::check::{Check, Outcome};
use crate::context::{Context, SuiteDriver};
use crate::server::{Answer, Command, Status};

const SUITE: &str = "indirect_messaging";
const FFA_MSG_SEND2: u64 = 0x8400_0086;
const MSG_SEND2: (u64, &str) = (FFA_MSG_SEND2, "FFA_MSG_SEND2 is not offered");
const NOTIFICATION_GET: (u64, &str) =
    (0x8400_0082, "FFA_NOTIFICATION_GET is not offered (no RX-full signal to look at)");
/// "RX buffer full": bit 0 of the SPM (partition sender) and hypervisor (VM sender) framework
/// notifications.
const RX_BUFFER_FULL: u64 = 1;

fn prepare(
    context: &mut Context<'_>,
    calls: &[(u64, &'static str)],
) -> Result<EndpointId, Outcome> {
    if let Some(skip) = setup_lacks(context, 0) {
        return Err(skip);
    }
    if let Some(skip) = missing(context, calls) {
        return Err(skip);
    }
    context
        .message_peer
        .or(context.partition)
        .ok_or(Outcome::Skipped("the setup names no server partition"))
}

/// Writes a partition message header (and 8 payload bytes) from `sender` to `receiver` into
/// TX by hand and calls FFA_MSG_SEND2.
fn raw_send(driver: &mut SuiteDriver<'_>, sender: EndpointId, receiver: EndpointId) -> [u64; 18] {
    let wide = driver.version() >= Version::V1_2;
    let header_size: u32 = if wide { 40 } else { 20 };
    let Some(buffers) = driver.buffers_mut() else { return [0; 18] };
    buffers.with_tx(|tx| {
        let mut header = [0u8; 48];
        header[8..12].copy_from_slice(&header_size.to_le_bytes());
        let endpoints = u32::from(sender.0) << 16 | u32::from(receiver.0);
        header[12..16].copy_from_slice(&endpoints.to_le_bytes());
        header[16..20].copy_from_slice(&8u32.to_le_bytes());
        let length = header_size as usize + 8;
        if let (Some(target), Some(source)) = (tx.get_mut(..length), header.get(..length)) {
            target.copy_from_slice(source);
        }
    });
    let mut registers = [0u64; 18];
    registers[0] = FFA_MSG_SEND2;
    driver.conduit().call(registers)
}

/// I01: FFA_MSG_SEND2 whose receiver is the sender is INVALID_PARAMETERS.
pub const I01: Check = Check {
    suite: SUITE,
    name: "i01_indirect_message_to_itself_is_invalid",
    source: "I01",
    run: to_itself,
};
fn to_itself(context: &mut Context<'_>) -> Outcome {
    if let Err(skip) = prepare(context, &[MSG_SEND2]) {
        return skip;
    }
    with_driver(context, |driver, _| {
        let own = driver.id();
        Outcome::expect_error(raw_send(driver, own, own), FfaError::InvalidParameters)
    })
}

/// I02: FFA_MSG_SEND2 to receiver 0xFFFF is INVALID_PARAMETERS.
pub const I02: Check = Check {
    suite: SUITE,
    name: "i02_indirect_message_to_ffff_is_invalid",
    source: "I02",
    run: to_nobody,
};
fn to_nobody(context: &mut Context<'_>) -> Outcome {
    if let Err(skip) = prepare(context, &[MSG_SEND2]) {
        return skip;
    }
    with_driver(context, |driver, _| {
        let own = driver.id();
        Outcome::expect_error(
            raw_send(driver, own, EndpointId(0xFFFF)),
            FfaError::InvalidParameters,
        )
    })
}

/// Has the server read the message in its RX buffer; expects it from `sender` with `value`.
fn server_reads(
    driver: &mut SuiteDriver<'_>,
    server: EndpointId,
    sender: EndpointId,
    value: u64,
) -> Result<(), Outcome> {
    match command(driver, server, Command::ReceiveIndirect) {
        Ok(Answer { status: Status::Done, values: [from, length, payload, _] }) => {
            if from == u64::from(sender.0) && length == 8 && payload == value {
                Ok(())
            } else {
                Err(step_failed("the server's RX buffer holds our message: sender, size, payload"))
            }
        }
        Ok(answer) => Err(answer_failed("the server reads the message", answer)),
        Err(error) => Err(error.outcome("the server reads the message")),
    }
}

/// I05: a message sent with FFA_MSG_SEND2 arrives in the server's RX buffer intact.
pub const I05_DELIVERY: Check = Check {
    suite: SUITE,
    name: "i05_indirect_message_reaches_the_receivers_rx_buffer",
    source: "I05",
    run: delivery,
};
fn delivery(context: &mut Context<'_>) -> Outcome {
    let server = match prepare(context, &[MSG_SEND2]) {
        Ok(server) => server,
        Err(skip) => return skip,
    };
    with_driver(context, |driver, _| {
        let value = 0x1D1E_C7ED_0000_0001u64;
        if let Err(error) = driver.send_indirect(server, Uuid::NIL, &value.to_le_bytes()) {
            return driver_failed("FFA_MSG_SEND2 succeeds", error);
        }
        let own = driver.id();
        server_reads(driver, server, own, value).err().unwrap_or(Outcome::Passed)
    })
}

/// I04: a second message while the receiver's RX buffer is still full is BUSY; once the
/// receiver has read (and released) it, sending works again.
pub const I04: Check = Check {
    suite: SUITE,
    name: "i04_indirect_message_to_a_full_rx_buffer_is_busy",
    source: "I04",
    run: busy,
};
fn busy(context: &mut Context<'_>) -> Outcome {
    let server = match prepare(context, &[MSG_SEND2]) {
        Ok(server) => server,
        Err(skip) => return skip,
    };
    with_driver(context, |driver, _| {
        let own = driver.id();
        let first = 0xB5B5_0001u64;
        if let Err(error) = driver.send_indirect(server, Uuid::NIL, &first.to_le_bytes()) {
            return driver_failed("the first FFA_MSG_SEND2 succeeds", error);
        }
        let second = driver.send_indirect(server, Uuid::NIL, &2u64.to_le_bytes());
        let outcome = match second {
            Err(error) if error.is(FfaError::Busy) => Outcome::Passed,
            Err(error) => driver_failed("FFA_ERROR(BUSY) while the receiver's RX is full", error),
            Ok(()) => step_failed("FFA_ERROR(BUSY) while the receiver's RX is full, not success"),
        };
        // The first message is still the one there; reading it frees the buffer.
        if let Err(failed) = server_reads(driver, server, own, first) {
            return failed;
        }
        if outcome != Outcome::Passed {
            return outcome;
        }
        match driver.send_indirect(server, Uuid::NIL, &3u64.to_le_bytes()) {
            Ok(()) => server_reads(driver, server, own, 3).err().unwrap_or(Outcome::Passed),
            Err(error) => driver_failed("FFA_MSG_SEND2 succeeds once RX was released", error),
        }
    })
}

/// Has the server send `value` to us and reads it from our RX buffer.
fn message_back(
    driver: &mut SuiteDriver<'_>,
    server: EndpointId,
    value: u64,
) -> Result<(), Outcome> {
    let own = driver.id();
    match command(driver, server, Command::SendIndirect { destination: own, value }) {
        Ok(Answer { status: Status::Done, .. }) => {}
        Ok(answer) => {
            return Err(answer_failed("the server's FFA_MSG_SEND2 to us succeeds", answer))
        }
        Err(error) => return Err(error.outcome("the server's FFA_MSG_SEND2")),
    }
    let mut payload = [0u8; 8];
    let message = driver
        .receive_indirect(&mut payload)
        .map_err(|error| driver_failed("our RX buffer holds the server's message", error))?;
    if message.sender != server
        || message.receiver != own
        || message.length != 8
        || u64::from_le_bytes(payload) != value
    {
        return Err(step_failed(
            "the server's message arrives intact: sender, receiver, size, payload",
        ));
    }
    Ok(())
}

/// I05: the server sends a message back on command; it arrives in our RX buffer intact.
pub const I05_REPLY: Check = Check {
    suite: SUITE,
    name: "i05_indirect_message_from_the_server_arrives",
    source: "I05",
    run: reply,
};
fn reply(context: &mut Context<'_>) -> Outcome {
    let server = match prepare(context, &[MSG_SEND2]) {
        Ok(server) => server,
        Err(skip) => return skip,
    };
    with_driver(context, |driver, _| {
        message_back(driver, server, 0x5E4D_BAC0).err().unwrap_or(Outcome::Passed)
    })
}

/// I05: the server's message sets "RX buffer full" in our framework notifications
/// (FFA_NOTIFICATION_GET with the SPM framework flag for a partition's message, the hypervisor
/// framework flag for a VM's), and getting clears it.
pub const I05_SIGNAL: Check =
    Check { suite: SUITE, name: "i05_rx_buffer_full_is_signalled", source: "I05", run: signal };
fn signal(context: &mut Context<'_>) -> Outcome {
    let server = match prepare(context, &[MSG_SEND2, NOTIFICATION_GET]) {
        Ok(server) => server,
        Err(skip) => return skip,
    };
    with_driver(context, |driver, _| {
        let own = driver.id();
        match command(driver, server, Command::SendIndirect { destination: own, value: 0x516 }) {
            Ok(Answer { status: Status::Done, .. }) => {}
            Ok(answer) => {
                return answer_failed("the server's FFA_MSG_SEND2 to us succeeds", answer)
            }
            Err(error) => return error.outcome("the server's FFA_MSG_SEND2"),
        }
        // FFA_NOTIFICATION_GET: w1 receiver (and vCPU 0), w2 flags. A partition's message sets
        // the bit in the SPM framework bitmap (flag bit 2, answered in w6), a VM's in the
        // hypervisor framework bitmap (flag bit 3, answered in w7).
        let (flag, register) = if server.0 & 0x8000 != 0 { (1 << 2, 6) } else { (1 << 3, 7) };
        let get = |driver: &mut SuiteDriver<'_>| {
            let mut registers = [0u64; 18];
            registers[0] = NOTIFICATION_GET.0;
            registers[1] = u64::from(own.0);
            registers[2] = flag;
            driver.conduit().call(registers)
        };
        let first = get(driver);
        let pending = first.get(register).is_some_and(|bits| bits & RX_BUFFER_FULL != 0);
        let again = get(driver);
        let cleared = again.get(register).is_some_and(|bits| bits & RX_BUFFER_FULL == 0);
        let mut payload = [0u8; 8];
        let read = driver.receive_indirect(&mut payload);
        if !matches!(first[0], 0x8400_0061 | 0xC400_0061) {
            return Outcome::expect_success(first);
        }
        if !pending {
            return step_failed("RX buffer full in the framework notifications");
        }
        if !cleared {
            return step_failed("FFA_NOTIFICATION_GET clears RX buffer full");
        }
        match read {
            Ok(_) => Outcome::Passed,
            Err(error) => driver_failed("our RX buffer holds the server's message", error),
        }
    })
}
