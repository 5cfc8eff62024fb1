//! The server command protocol: every command and status survives encoding, and words that are
//! no command are left to the plain test service.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail by panicking")]

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
        Command::Bind { sender: EndpointId(0x8002), bitmap: 1 << 63 | 5, per_vcpu: true },
        Command::Bind { sender: EndpointId(1), bitmap: 1, per_vcpu: false },
        Command::Unbind { sender: EndpointId(2), bitmap: u64::MAX },
        Command::Set {
            receiver: EndpointId(1),
            bitmap: 1 << 40,
            vcpu: Some(3),
            delay_schedule_receiver: true,
        },
        Command::Set {
            receiver: EndpointId(0x8001),
            bitmap: 2,
            vcpu: None,
            delay_schedule_receiver: false,
        },
        Command::Get { vcpu: 2, flags: 0b1101 },
        Command::RetrieveWithAttributes {
            handle: 0x8000_0000_0000_0007,
            sender: EndpointId(1),
            operation: Some(MemoryOperation::Donate),
            permissions: not_executable,
            attributes: 0x6F,
            impdef: [u64::MAX, 1],
        },
        Command::RetrieveWithAttributes {
            handle: 1,
            sender: EndpointId(0x8001),
            operation: None,
            permissions: AccessPermissions::READ_WRITE,
            attributes: 0,
            impdef: [0, 0],
        },
        Command::ServicingRules { other: EndpointId(0x7FFE) },
        Command::RelinquishWithFlags { handle: 0x8000_0000_0000_0009, flags: u32::MAX },
        Command::RetrieveWithLengths {
            handle: 3,
            sender: EndpointId(1),
            operation: Some(MemoryOperation::Lend),
            permissions: not_executable,
            total_length: u32::MAX,
            fragment_length: 48,
        },
        Command::Yield,
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
    for first in [0, 41, word::RETRIEVE - 1, word::YIELD + 1, u64::MAX] {
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

/// A partition manager that answers the driver's bring-up, FFA_MEM_RECLAIM with SUCCESS and
/// anything else NOT_SUPPORTED, and records the function IDs it was called with.
#[derive(Debug, Default)]
struct Recorder {
    calls: Vec<u32>,
}

impl ffa_core::Conduit for Recorder {
    fn call(&mut self, registers: [u64; 18]) -> [u64; 18] {
        const FFA_ERROR: u64 = 0x8400_0060;
        const FFA_SUCCESS_32: u64 = 0x8400_0061;
        const NOT_SUPPORTED: u64 = 0xFFFF_FFFF;
        let function = registers[0] as u32;
        self.calls.push(function);
        let mut answer = [0u64; 18];
        match function {
            // FFA_VERSION: 1.2.
            0x8400_0063 => answer[0] = 0x1_0002,
            // FFA_ID_GET: 0x8001.
            0x8400_0069 => {
                answer[0] = FFA_SUCCESS_32;
                answer[2] = 0x8001;
            }
            // FFA_MEM_RECLAIM.
            0x8400_0077 => answer[0] = FFA_SUCCESS_32,
            _ => {
                answer[0] = FFA_ERROR;
                answer[2] = NOT_SUPPORTED;
            }
        }
        answer
    }
}

/// Memory a server must not touch in these tests.
struct Untouchable;

impl conformance::server::ServerMemory for Untouchable {
    fn read(&mut self, _: u64, _: &mut [u8]) -> Result<(), conformance::AccessFault> {
        panic!("the server read memory it never retrieved")
    }

    fn write(&mut self, _: u64, _: &[u8]) -> Result<(), conformance::AccessFault> {
        panic!("the server wrote memory it never retrieved")
    }

    fn survives_faults(&self) -> bool {
        false
    }
}

#[test]
fn a_service_loop_of_its_own_hands_commands_to_the_server_and_keeps_other_words() {
    use conformance::server::Server;
    use ffa_guest_driver::{Driver, SliceBuffers};

    let mut driver = Driver::<Recorder, SliceBuffers<'static>>::new(Recorder::default()).unwrap();
    let mut memory = Untouchable;
    let mut server = Server::new(&mut memory);
    let before = driver.conduit().calls.len();
    // Not a command: left to the caller's own handling, and no FF-A call made.
    assert_eq!(server.answer(&mut driver, [41, 1, 2, 3, 4]), None);
    assert_eq!(driver.conduit().calls.len(), before);
    // A command the server carries out with a call: FFA_MEM_RECLAIM, answered Done.
    let reclaim = server.answer(&mut driver, Command::Reclaim { handle: 12 }.encode()).unwrap();
    assert_eq!(Answer::decode(reclaim).status, Status::Done);
    assert_eq!(driver.conduit().calls.last(), Some(&0x8400_0077));
    // A command about memory it never retrieved: refused without touching memory or calling.
    let calls = driver.conduit().calls.len();
    let write = server.answer(&mut driver, Command::Write { handle: 12, value: 1 }.encode());
    assert_eq!(Answer::decode(write.unwrap()).status, Status::UnknownHandle);
    let probe = server.answer(&mut driver, Command::Probe { handle: 12 }.encode());
    assert_eq!(Answer::decode(probe.unwrap()).status, Status::CannotProbe);
    assert_eq!(driver.conduit().calls.len(), calls);
}
