//! The server command protocol: every command and status survives encoding, and words that are
//! no command are left to the plain test service.
#![allow(clippy::unwrap_used, reason = "tests fail by panicking")]

use conformance::server::{word, Answer, Command, Status};
use ffa_core::memory::{AccessPermissions, DataAccess, InstructionAccess};
use ffa_core::{EndpointId, FfaError};
use ffa_guest_driver::MemoryOperation;

fn commands() -> Vec<Command> {
    let not_executable = AccessPermissions {
        data: DataAccess::ReadOnly,
        instruction: InstructionAccess::NotExecutable,
    };
    vec![
        Command::Retrieve {
            handle: 0x8000_0000_0000_0042,
            sender: EndpointId(1),
            operation: Some(MemoryOperation::Lend),
            permissions: not_executable,
            tag: 0x1234_5678_9ABC,
            flags: 1 << 10,
        },
        Command::Retrieve {
            handle: 7,
            sender: EndpointId(0x8003),
            operation: None,
            permissions: AccessPermissions::READ_WRITE,
            tag: 0,
            flags: 0,
        },
        Command::Write { handle: 3, value: u64::MAX },
        Command::Read { handle: 3, page: 299 },
        Command::Relinquish { handle: 9 },
        Command::SendIndirect { destination: EndpointId(0x8002), value: 5 },
        Command::ReceiveIndirect,
        Command::SendMemory {
            handle: 4,
            receiver: EndpointId(2),
            operation: MemoryOperation::Donate,
        },
        Command::Probe { handle: 11 },
        Command::Reclaim { handle: 12 },
    ]
}

#[test]
fn every_command_survives_encoding() {
    for command in commands() {
        assert_eq!(Command::decode(command.encode()), Some(command), "{command:?}");
    }
}

#[test]
fn words_that_are_no_command_are_the_test_service() {
    for first in [0, 41, word::RETRIEVE - 1, word::RECLAIM + 1, u64::MAX] {
        assert_eq!(Command::decode([first, 1, 2, 3, 4]), None, "{first:#x}");
    }
}

#[test]
fn every_status_survives_encoding_and_differs_from_the_others() {
    let statuses = [
        Status::Done,
        Status::Ffa(FfaError::Denied),
        Status::Ffa(FfaError::InvalidParameters),
        Status::Ffa(FfaError::Busy),
        Status::AccessFault,
        Status::UnknownHandle,
        Status::DriverFailure,
        Status::CannotProbe,
    ];
    for status in statuses {
        let answer = Answer { status, values: [1, 2, 3, 4] };
        assert_eq!(Answer::decode(answer.encode()), answer);
    }
    let words: std::collections::BTreeSet<u64> =
        statuses.iter().map(|status| status.to_word()).collect();
    assert_eq!(words.len(), statuses.len());
    // A plain test-service answer to a command (x3 + 1) is no status the server sends.
    assert_eq!(Status::from_word(word::RETRIEVE + 1), Status::DriverFailure);
}
