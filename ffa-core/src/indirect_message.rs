//! FFA_MSG_SEND2: its flags and the partition message header in the TX/RX buffer (reference §9).

bitflags::bitflags! {
    /// FFA_MSG_SEND2 `w2`; every bit but bit 1 is MBZ.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct MsgSend2Flags: u32 {
        /// Raise the schedule receiver interrupt only when returning to the normal world.
        const DELAY_SCHEDULE_RECEIVER = 1 << 1;
    }
}
