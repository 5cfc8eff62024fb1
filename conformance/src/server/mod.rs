//! The suite's server partitions: the portable logic a test partition runs so that the suite's
//! checks can make it retrieve, touch and relinquish memory, or send and read indirect
//! messages, on command ([`Command`], sent as DIRECT_REQ_64). The host model runs it in its
//! partitions; a test partition image links it and calls [`serve`] with its driver.

mod protocol;
mod serve;

pub use protocol::{word, Answer, Command, Status};
pub use serve::{serve, Server, ServerMemory};
