//! Calls an implementation may leave out: FFA_CONSOLE_LOG's character count (matrix D27) and
//! v1.0's FFA_MSG_SEND (I06). Offered, they must follow their rules; not offered, the call
//! itself must answer NOT_SUPPORTED, as FFA_FEATURES does, and the check skips saying so.

use ffa_core::{FfaError, Version};

use super::id::*;
use crate::check::{Check, Expected, Outcome};
use crate::context::Context;

const FFA_CONSOLE_LOG_32: u64 = 0x8400_008A;
const FFA_CONSOLE_LOG_64: u64 = 0xC400_008A;
const FFA_MSG_SEND: u64 = 0x8400_006E;
/// The most characters FFA_CONSOLE_LOG_32 carries (w2-w7, four each).
const MOST_CHARACTERS_32: u64 = 24;
/// The most characters FFA_CONSOLE_LOG_64 carries from v1.2 (x2-x17, eight each).
const MOST_CHARACTERS_64: u64 = 128;
/// The most characters FFA_CONSOLE_LOG_64 carries before v1.2 (x2-x7).
const MOST_CHARACTERS_64_BEFORE_V1_2: u64 = 48;

/// D27: FFA_CONSOLE_LOG with a character count of 0, or more than its registers carry, is
/// INVALID_PARAMETERS, and one character is then logged (FFA_SUCCESS). Not offered, both forms
/// answer NOT_SUPPORTED and the check skips.
pub const D27: Check = Check {
    suite: "setup_discovery",
    name: "d27_console_log_with_a_bad_character_count_is_invalid",
    source: "D27",
    run: d27,
};
fn d27(context: &mut Context<'_>) -> Outcome {
    let most_64 = if context.version >= Version::V1_2 {
        MOST_CHARACTERS_64
    } else {
        MOST_CHARACTERS_64_BEFORE_V1_2
    };
    let forms = [(FFA_CONSOLE_LOG_32, MOST_CHARACTERS_32), (FFA_CONSOLE_LOG_64, most_64)];
    let offered = forms.map(|(function, _)| context.offers(function));
    let characters = u64::from_le_bytes(*b"D27\n\0\0\0\0");
    let mut outcomes = [Outcome::Passed; 6];
    for ((slots, (function, most)), offered) in outcomes.chunks_mut(3).zip(forms).zip(offered) {
        if !offered {
            if let Some(slot) = slots.first_mut() {
                let answer = context.call(&[function, 1, characters]);
                *slot = Outcome::expect_error(answer, FfaError::NotSupported);
            }
            continue;
        }
        for (slot, count) in slots.iter_mut().zip([0, most + 1]) {
            *slot = Outcome::expect_error(
                context.call(&[function, count, characters]),
                FfaError::InvalidParameters,
            );
        }
        if let Some(last) = slots.last_mut() {
            *last = Outcome::expect_success(context.call(&[function, 1, characters]));
        }
    }
    match Outcome::all(&outcomes) {
        Outcome::Passed if !offered.contains(&true) => {
            Outcome::Skipped("FFA_CONSOLE_LOG is not offered (the call answers NOT_SUPPORTED)")
        }
        other => other,
    }
}

/// I06: v1.0's FFA_MSG_SEND. Offered, a message to itself is an error (its size, full-buffer
/// and direct-only rules need a v1.0 mailbox the suite does not set up); not offered (it is
/// gone from v1.1), the call answers NOT_SUPPORTED, as FFA_FEATURES does, and the check skips.
pub const I06: Check = Check {
    suite: "indirect_messaging",
    name: "i06_v1_0_msg_send_is_refused_or_not_supported",
    source: "I06",
    run: i06,
};
fn i06(context: &mut Context<'_>) -> Outcome {
    let own = context.own_id().map_or(0, |id| u64::from(id.0));
    let offered = context.offers(FFA_MSG_SEND);
    let answer = context.call(&[FFA_MSG_SEND, own << 16 | own, 0, 8, 0]);
    if offered {
        return Outcome::expect(
            answer[0] == FFA_ERROR,
            Expected::Text("FFA_ERROR for a v1.0 message to itself"),
            answer,
        );
    }
    match Outcome::expect_error(answer, FfaError::NotSupported) {
        Outcome::Passed => {
            Outcome::Skipped("FFA_MSG_SEND is not offered (the call answers NOT_SUPPORTED)")
        }
        failed => failed,
    }
}
