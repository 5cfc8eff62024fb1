//! The Linux guest's memory transactions as the hypervisor sees them pass: which shares
//! succeeded, which were reclaimed, which are still outstanding when the guest ends.
//!
//! It only watches calls and answers (FFA_MEM_SHARE/LEND and FFA_MEM_RECLAIM); the forwarder
//! keeps the real record. The closing line is what `cargo xtask linux` checks: every share
//! made was reclaimed. After the guest has ended, `ask_the_spmc` checks the SPMC's ledger
//! too: it asks the SPMC to reclaim each handle the guest ever had. The SPMC serves a
//! normal-world reclaim for the transaction's sender, so a handle still in its ledger would be
//! reclaimed now (and counted as left behind); a handle it no longer knows is refused.

const FFA_SUCCESS_32: u64 = 0x8400_0061;
const FFA_SUCCESS_64: u64 = 0xC400_0061;
const FFA_MEM_LEND: u64 = 0x8400_0072;
const FFA_MEM_SHARE: u64 = 0x8400_0073;
const FFA_MEM_RECLAIM: u64 = 0x8400_0077;
/// SMC64 bit of a function ID.
const SMC64: u64 = 1 << 30;
/// Outstanding handles remembered (more are counted but not remembered).
const TRACKED: usize = 64;

/// Counts of one guest run.
#[derive(Debug, Default)]
pub struct MemoryAccount {
    pub shared: u32,
    pub reclaimed: u32,
    pub refused: u32,
    outstanding: heapless::Vec<u64, TRACKED>,
    untracked: u32,
    /// Every handle a share returned (the first `TRACKED`).
    seen: heapless::Vec<u64, TRACKED>,
}

/// What the SPMC said about the guest's handles after the guest ended.
#[derive(Debug, Default, Clone, Copy)]
pub struct LedgerCheck {
    /// Handles the SPMC no longer knows (refused the reclaim).
    pub gone: u32,
    /// Handles the SPMC still held (and reclaimed when asked): left behind by the guest.
    pub left_behind: u32,
}

fn succeeded(reply: &[u64; 18]) -> bool {
    reply[0] == FFA_SUCCESS_32 || reply[0] == FFA_SUCCESS_64
}

impl MemoryAccount {
    /// Notes `call` and the `reply` the guest is about to get.
    pub fn observe(&mut self, call: &[u64; 18], reply: &[u64; 18]) {
        match call[0] & !SMC64 {
            FFA_MEM_SHARE | FFA_MEM_LEND if succeeded(reply) => {
                self.shared += 1;
                let handle = (reply[2] & 0xFFFF_FFFF) | (reply[3] << 32);
                if self.outstanding.push(handle).is_err() {
                    self.untracked += 1;
                }
                let _ = self.seen.push(handle);
            }
            FFA_MEM_SHARE | FFA_MEM_LEND => self.refused += 1,
            FFA_MEM_RECLAIM if succeeded(reply) => {
                self.reclaimed += 1;
                let handle = (call[1] & 0xFFFF_FFFF) | ((call[2] & 0xFFFF_FFFF) << 32);
                if let Some(index) = self.outstanding.iter().position(|known| *known == handle) {
                    self.outstanding.swap_remove(index);
                } else {
                    self.untracked = self.untracked.saturating_sub(1);
                }
            }
            _ => {}
        }
    }

    /// Shares not reclaimed yet.
    pub fn outstanding(&self) -> usize {
        self.outstanding.len() + self.untracked as usize
    }

    /// Asks the SPMC (SMC, bypassing the forwarder) to reclaim every handle the guest had.
    pub fn ask_the_spmc(&self) -> LedgerCheck {
        let mut check = LedgerCheck::default();
        for handle in &self.seen {
            let mut registers = [0u64; 18];
            registers[0] = FFA_MEM_RECLAIM;
            registers[1] = handle & 0xFFFF_FFFF;
            registers[2] = handle >> 32;
            if succeeded(&platform_common::smc::smc(registers)) {
                check.left_behind += 1;
            } else {
                check.gone += 1;
            }
        }
        check
    }
}
