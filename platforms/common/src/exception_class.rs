//! The architecture's names for exception classes (ESR_ELx.EC), for fault reports.
//!
//! Plain Rust with no dependencies: the images use it through `platform_common`, and the host
//! xtask includes this same file to decode syndromes found in logs.

/// The name of exception class `class` (ESR_ELx bits 31:26).
pub fn exception_class_name(class: u64) -> &'static str {
    match class {
        0x00 => "unknown reason",
        0x01 => "WFI/WFE trapped",
        0x07 => "SIMD/FP access trapped",
        0x0E => "illegal execution state",
        0x15 => "SVC from AArch64",
        0x16 => "HVC from AArch64",
        0x17 => "SMC from AArch64",
        0x18 => "system register access trapped",
        0x19 => "SVE access trapped",
        0x20 => "instruction abort from a lower EL",
        0x21 => "instruction abort at the same EL",
        0x22 => "PC alignment fault",
        0x24 => "data abort from a lower EL",
        0x25 => "data abort at the same EL",
        0x26 => "SP alignment fault",
        0x2F => "SError",
        0x3C => "BRK instruction",
        _ => "another class",
    }
}
