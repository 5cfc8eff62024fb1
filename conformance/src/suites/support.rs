//! Helpers for checks that use the guest driver: skipping for what the setup lacks, commanding
//! the server partition, turning driver errors and server answers into outcomes.

use ffa_core::{EndpointId, FfaError, Version};
use ffa_guest_driver::{DriverError, ErrorKind};

use super::id::{FFA_ERROR, FFA_FEATURES, FFA_SUCCESS_32, FFA_SUCCESS_64};
use crate::check::{Expected, Got, Outcome};
use crate::context::{Context, DriverSetup, SuiteDriver};
use crate::server::{Answer, Command, Status};
use crate::SuiteMemory;

/// Registers that show an FF-A error (for failure messages).
pub(crate) fn error_registers(error: FfaError) -> [u64; 18] {
    let mut registers = [0; 18];
    registers[0] = FFA_ERROR;
    registers[2] = error.to_register();
    registers
}

/// Registers that show what a driver error carries.
fn driver_registers(error: DriverError) -> [u64; 18] {
    match error.kind {
        ErrorKind::Ffa(error) => error_registers(error),
        ErrorKind::UnexpectedResponse(w0) => {
            let mut registers = [0; 18];
            registers[0] = u64::from(w0);
            registers
        }
        _ => [0; 18],
    }
}

/// A failed step: what was expected, and the driver error that came instead.
pub(crate) fn driver_failed(step: &'static str, error: DriverError) -> Outcome {
    Outcome::Failed { expected: Expected::Text(step), got: Got(driver_registers(error)) }
}

/// A failed step: what was expected, and the server's answer.
pub(crate) fn answer_failed(step: &'static str, answer: Answer) -> Outcome {
    let registers = match answer.status {
        Status::Ffa(error) => error_registers(error),
        Status::Done => {
            let mut registers = [0; 18];
            registers[0] = FFA_SUCCESS_32;
            registers
        }
        other => {
            let mut registers = [0; 18];
            registers[0] = other.to_word();
            registers
        }
    };
    Outcome::Failed { expected: Expected::Text(step), got: Got(registers) }
}

/// A failed step with no registers to show.
pub(crate) fn step_failed(step: &'static str) -> Outcome {
    Outcome::Failed { expected: Expected::Text(step), got: Got([0; 18]) }
}

/// Whether FFA_FEATURES offers `function` (with `properties` in w2).
pub(crate) fn offered(context: &mut Context<'_>, function: u64, properties: u64) -> bool {
    let answer = context.call(&[FFA_FEATURES, function, properties]);
    matches!(answer[0], FFA_SUCCESS_32 | FFA_SUCCESS_64)
}

/// The reason to skip a check that needs every one of `functions` (`None` when all are
/// offered). FFA_MEM_RETRIEVE_REQ is asked with the NS-bit input set (D13).
pub(crate) fn missing(
    context: &mut Context<'_>,
    functions: &[(u64, &'static str)],
) -> Option<Outcome> {
    for (function, reason) in functions {
        let properties = if *function as u32 == 0x8400_0074 { 1 << 1 } else { 0 };
        if !offered(context, *function, properties) {
            return Some(Outcome::Skipped(reason));
        }
    }
    None
}

/// The reason to skip a check that needs a server partition, RX/TX buffers and (with
/// `pages`) that many pages of memory to share.
pub(crate) fn setup_lacks(context: &Context<'_>, pages: usize) -> Option<Outcome> {
    if context.partition.is_none() {
        return Some(Outcome::Skipped("the setup names no server partition"));
    }
    if context.buffers.is_none() {
        return Some(Outcome::Skipped("the runner lends no RX/TX buffers"));
    }
    if pages > 0 {
        match context.memory.as_deref() {
            None => return Some(Outcome::Skipped("the runner lends no memory to share")),
            Some(memory) if memory.page_count() < pages => {
                return Some(Outcome::Skipped("the runner lends too few pages"))
            }
            Some(_) => {}
        }
    }
    None
}

/// Runs `body` with a driver (buffers mapped) and the runner's memory; setup failures fail.
pub(crate) fn with_driver(
    context: &mut Context<'_>,
    body: impl FnOnce(&mut SuiteDriver<'_>, Option<&mut dyn SuiteMemory>) -> Outcome,
) -> Outcome {
    match context.with_driver(body) {
        Ok(outcome) => outcome,
        Err(DriverSetup::NoBuffers) => Outcome::Skipped("the runner lends no RX/TX buffers"),
        Err(DriverSetup::BringUp(error)) => driver_failed("the guest driver's bring-up", error),
        Err(DriverSetup::Map(error)) => {
            driver_failed("FFA_RXTX_MAP of the runner's buffers", error)
        }
    }
}

/// Why a command got no answer from a conformance server.
#[derive(Debug, Clone, Copy)]
pub(crate) enum CommandError {
    /// The direct request itself failed.
    Request(DriverError),
    /// The partition answered as the plain test service: it does not run the server.
    NotAServer,
}

impl CommandError {
    /// The outcome for a command that got no answer.
    pub(crate) fn outcome(self, step: &'static str) -> Outcome {
        match self {
            Self::Request(error) => driver_failed(step, error),
            Self::NotAServer => {
                Outcome::Skipped("the server partition does not run conformance::server")
            }
        }
    }
}

/// Sends `command` to `server` and decodes its answer.
pub(crate) fn command(
    driver: &mut SuiteDriver<'_>,
    server: EndpointId,
    command: Command,
) -> Result<Answer, CommandError> {
    let words = command.encode();
    let answer = driver.direct_request_64(server, words).map_err(CommandError::Request)?;
    if answer[0] == words[0].wrapping_add(1) {
        return Err(CommandError::NotAServer);
    }
    Ok(Answer::decode(answer))
}

/// The memory transaction descriptor layout of `version`.
pub(crate) fn layout_of(version: Version) -> ffa_core::memory::Layout {
    if version >= Version::V1_2 {
        ffa_core::memory::Layout::V1_2
    } else if version >= Version::V1_1 {
        ffa_core::memory::Layout::V1_1
    } else {
        ffa_core::memory::Layout::V1_0
    }
}
