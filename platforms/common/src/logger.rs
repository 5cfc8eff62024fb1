//! The defmt global logger: binary log frames to a dedicated PL011, decoded on the host by xtask.
//!
//! Secure-side images log here (QEMU's second serial port), so the plain-text console of the
//! normal world (first serial port) is never mixed with binary frames. Several images share the
//! stream, each with its own defmt string table, so every frame is preceded by one non-zero
//! byte naming the image (see `ImageId`); rzCOBS frames hold no zero byte but their final one,
//! which lets the host split the stream and pick the right table.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};

use crate::pl011::Pl011;

static UART_BASE: AtomicUsize = AtomicUsize::new(0);
/// The frame lock: this image's own, or one word of memory shared with the other images that
/// write to the same UART from other CPUs (see `init_shared`).
static LOCK_ADDRESS: AtomicUsize = AtomicUsize::new(0);
static LOCAL_LOCK: AtomicBool = AtomicBool::new(false);
static IMAGE_ID: AtomicU8 = AtomicU8::new(0);

/// The byte that tags this image's frames in the shared log stream; never zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ImageId {
    El3Monitor = 1,
    Spmc = 2,
    SecurePartition = 3,
    SecondSecurePartition = 4,
    /// The OP-TEE-ABI test partition (platforms/qemu-virt/optee-test-partition).
    OpteeTestPartition = 5,
}

struct EncoderCell(UnsafeCell<defmt::Encoder>);

// SAFETY: the encoder is only touched between `acquire` and `release`, and the frame lock (an atomic
// swap) lets exactly one context hold it at a time.
unsafe impl Sync for EncoderCell {}

static ENCODER: EncoderCell = EncoderCell(UnsafeCell::new(defmt::Encoder::new()));

/// Sends every later log frame to the PL011 at `base`, tagged as coming from `image`.
///
/// # Safety
/// `base` must be the address of a PL011 reserved for the log stream.
pub unsafe fn init(base: usize, image: ImageId) {
    IMAGE_ID.store(image as u8, Ordering::Relaxed);
    UART_BASE.store(base, Ordering::Release);
}

/// As [`init`], and takes the frame lock at `lock`, a word every image writing to this UART
/// shares, so frames from different images on different CPUs never interleave.
///
/// # Safety
/// As for [`init`]; and `lock` must be the address of a 4-byte-aligned word of memory that
/// stays mapped and is used for nothing else, the same address in every image that shares it.
pub unsafe fn init_shared(base: usize, image: ImageId, lock: usize) {
    LOCK_ADDRESS.store(lock, Ordering::Release);
    // SAFETY: forwarded from this function's contract.
    unsafe { init(base, image) };
}

fn frame_lock() -> &'static AtomicBool {
    let address = LOCK_ADDRESS.load(Ordering::Acquire);
    if address == 0 {
        return &LOCAL_LOCK;
    }
    // SAFETY: `init_shared`'s contract makes `address` an aligned word reserved for this lock,
    // valid for the whole run; AtomicBool has the size and alignment of a byte.
    unsafe { &*(address as *const AtomicBool) }
}

fn write_to_uart(bytes: &[u8]) {
    let base = UART_BASE.load(Ordering::Acquire);
    if base != 0 {
        // SAFETY: `init`'s contract makes `base` a PL011 reserved for logging.
        let uart = unsafe { Pl011::new(base) };
        uart.write_bytes(bytes);
    }
}

#[defmt::global_logger]
struct Logger;

// SAFETY: `acquire` takes the the frame lock flag before any encoder use and `release` clears it after;
// a nested `acquire` (a log from an exception while logging) spins instead of corrupting a frame.
unsafe impl defmt::Logger for Logger {
    fn acquire() {
        while frame_lock().swap(true, Ordering::Acquire) {
            core::hint::spin_loop();
        }
        // SAFETY: the frame lock is held, so this is the only reference to the encoder.
        let encoder = unsafe { &mut *ENCODER.0.get() };
        // defmt may emit a zero separator first; the tag goes after it, just before the frame.
        encoder.start_frame(write_to_uart);
        write_to_uart(&[IMAGE_ID.load(Ordering::Relaxed)]);
    }

    unsafe fn flush() {}

    unsafe fn release() {
        // SAFETY: the caller holds the logger (defmt's contract), so the frame lock is ours.
        let encoder = unsafe { &mut *ENCODER.0.get() };
        encoder.end_frame(write_to_uart);
        frame_lock().store(false, Ordering::Release);
    }

    unsafe fn write(bytes: &[u8]) {
        // SAFETY: the caller holds the logger (defmt's contract), so the frame lock is ours.
        let encoder = unsafe { &mut *ENCODER.0.get() };
        encoder.write(bytes, write_to_uart);
    }
}
