//! The OP-TEE FF-A ABI as Linux's OP-TEE driver (drivers/tee/optee, 6.12) uses it: the numbers
//! and register meanings, and the answers this test partition gives to its blocking calls.
//!
//! Every exchange is a 32-bit direct request: w3 names the service, w4-w7 carry arguments; the
//! direct response carries results in w3-w7 (the `[u32; 5]` payloads below are w3..w7).
//! Services with bit 31 set are "yielding calls" that carry an OP-TEE message in shared memory.

/// OP-TEE's FF-A ABI version this partition implements (Linux wants major 1, minor >= 0).
pub const API_VERSION: (u32, u32) = (1, 0);
/// What GET_OS_VERSION reports: not OP-TEE's own revision numbers, this test partition's.
pub const OS_REVISION: (u32, u32) = (0, 1);

/// Blocking services (w3).
pub const GET_API_VERSION: u32 = 0;
pub const GET_OS_VERSION: u32 = 1;
pub const EXCHANGE_CAPABILITIES: u32 = 2;
pub const UNREGISTER_SHM: u32 = 3;
/// Yielding services: bit 31 set.
pub const YIELDING: u32 = 1 << 31;
/// A yielding call whose message is in shared memory: w4/w5 handle (low/high), w6 offset.
pub const YIELDING_CALL_WITH_ARGUMENT: u32 = YIELDING;
/// w4 of a finished yielding call.
pub const YIELDING_CALL_DONE: u32 = 0;

/// FF-A status codes as the ABI returns them in w3 (two's complement).
pub const FFA_NOT_SUPPORTED: u32 = -1i32 as u32;
pub const FFA_INVALID_PARAMETERS: u32 = -2i32 as u32;

/// Answers a blocking call, or `None` for a yielding one (it needs shared memory).
pub fn blocking_call(payload: [u32; 5]) -> Option<[u32; 5]> {
    let [service, first, ..] = payload;
    if service & YIELDING != 0 {
        return None;
    }
    Some(match service {
        GET_API_VERSION => [API_VERSION.0, API_VERSION.1, 0, 0, 0],
        GET_OS_VERSION => [OS_REVISION.0, OS_REVISION.1, 0, 0, 0],
        // Status 0; no RPC parameters, no optional capabilities (so no argument offsets and
        // no asynchronous notifications); the notification limit is left to Linux's default.
        EXCHANGE_CAPABILITIES => [0, 0, 0, 0, 0],
        // The handle (w4, w5) was never retrieved here unless a message used it, and every
        // message's memory is relinquished when the message is answered: nothing to forget.
        UNREGISTER_SHM => {
            let _ = first;
            [0, 0, 0, 0, 0]
        }
        _ => [FFA_NOT_SUPPORTED, 0, 0, 0, 0],
    })
}
