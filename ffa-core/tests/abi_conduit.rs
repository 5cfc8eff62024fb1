//! Callers are generic over `Conduit`; a fake conduit stands in for SMC/HVC on the host.
// Tests may unwrap: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use ffa_core::{Call, Conduit, EndpointId, FfaError, Return, SuccessArgs, Version};

/// A fake partition manager answering FFA_ID_GET with ID 1 and everything else NOT_SUPPORTED.
struct FakeManager {
    calls: usize,
}

impl Conduit for FakeManager {
    fn call(&mut self, registers: [u64; 18]) -> [u64; 18] {
        self.calls += 1;
        let answer = match Call::decode(&registers, Version::V1_2) {
            Ok(Call::IdGet) => Return::success(SuccessArgs::id(EndpointId(1))),
            Ok(_) => Return::error(FfaError::NotSupported),
            Err(error) => Return::error(error),
        };
        answer.encode(Version::V1_2)
    }
}

fn own_id<C: Conduit>(conduit: &mut C) -> Result<EndpointId, FfaError> {
    let registers = conduit.call(Call::IdGet.encode(Version::V1_2));
    match Return::decode(&registers, Version::V1_2)? {
        Return::Success { args, .. } => Ok(EndpointId(args.register(2) as u16)),
        Return::Error { error, .. } => Err(error),
        _ => Err(FfaError::InvalidParameters),
    }
}

#[test]
fn generic_callers_run_against_a_fake() {
    let mut fake = FakeManager { calls: 0 };
    assert_eq!(own_id(&mut fake), Ok(EndpointId(1)));
    let answer = fake.call(Call::SpmIdGet.encode(Version::V1_2));
    assert_eq!(Return::decode(&answer, Version::V1_2), Ok(Return::error(FfaError::NotSupported)));
    let unknown = fake.call([0x8400_00FF; 18]);
    assert_eq!(
        Return::decode(&unknown, Version::V1_2).unwrap(),
        Return::error(FfaError::NotSupported)
    );
    assert_eq!(fake.calls, 3);
}
