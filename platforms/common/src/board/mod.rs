//! The board the images are built for: device addresses, memory layout, power control.
//!
//! QEMU virt is the default; FVP Base RevC is chosen with `--cfg ffa_board_fvp` (which
//! `cargo xtask build --platform fvp` passes). Everything board-specific that the images use
//! lives here, so the images themselves are the same code on both boards.

#[cfg(ffa_board_fvp)]
mod fvp_base;
#[cfg(not(ffa_board_fvp))]
mod qemu_virt;

#[cfg(ffa_board_fvp)]
pub use fvp_base::*;
#[cfg(not(ffa_board_fvp))]
pub use qemu_virt::*;

/// Where one guest VM's RAM is (physical), and its FF-A endpoint ID.
#[derive(Debug, Clone, Copy)]
pub struct GuestPlacement {
    pub ram: u64,
    pub id: u64,
}
