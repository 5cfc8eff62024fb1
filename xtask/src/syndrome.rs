//! Decoding exception syndromes (ESR_ELx values) found in log lines, for failure reports.

#[path = "../../platforms/common/src/exception_class.rs"]
mod exception_class;

pub use exception_class::exception_class_name as exception_class;

/// The fault status code of an instruction or data abort (`ISS[5:0]`).
fn fault_status(code: u64) -> String {
    let level = code & 0b11;
    match code & 0b11_1100 {
        0b00_0000 => format!("address size fault, level {level}"),
        0b00_0100 => format!("translation fault, level {level}"),
        0b00_1000 => format!("access flag fault, level {level}"),
        0b00_1100 => format!("permission fault, level {level}"),
        0b01_0000 if code == 0b01_0000 => "synchronous external abort".into(),
        0b10_0000 if code == 0b10_0001 => "alignment fault".into(),
        _ => format!("fault status {code:#04x}"),
    }
}

/// A one-line explanation of a syndrome value.
pub fn describe(syndrome: u64) -> String {
    let class = (syndrome >> 26) & 0x3F;
    let mut text = format!("EC {class:#04x}: {}", exception_class(class));
    if matches!(class, 0x20 | 0x21 | 0x24 | 0x25) {
        text.push_str(&format!(", {}", fault_status(syndrome & 0x3F)));
        if matches!(class, 0x24 | 0x25) && syndrome & (1 << 6) != 0 {
            text.push_str(", on a write");
        }
    }
    text
}

/// Finds `ESR_ELn=0x...` / `ESR_ELn 0x...` in a line and explains it.
pub fn explain_line(line: &str) -> Option<String> {
    let start = line.find("ESR_EL")?;
    let rest = line.get(start..)?;
    let hex = rest.find("0x")?;
    let digits: String = rest.get(hex + 2..)?.chars().take_while(char::is_ascii_hexdigit).collect();
    let value = u64::from_str_radix(&digits, 16).ok()?;
    Some(format!("{} = {value:#x}: {}", rest.get(..7).unwrap_or("ESR"), describe(value)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explains_a_stage2_write_fault_from_a_partition() {
        let line = "[secure-partition-manager] ERROR spmc: partition 0x8002 stopped with ESR_EL2 0x93df8046 at 0xe604154";
        assert_eq!(
            explain_line(line).as_deref(),
            Some("ESR_EL2 = 0x93df8046: EC 0x24: data abort from a lower EL, translation fault, level 2, on a write")
        );
    }

    #[test]
    fn explains_an_instruction_abort_and_ignores_lines_without_syndromes() {
        assert_eq!(
            describe(0x8200_0006),
            "EC 0x20: instruction abort from a lower EL, translation fault, level 2"
        );
        assert!(explain_line("hypervisor: running at NS-EL2").is_none());
    }
}
