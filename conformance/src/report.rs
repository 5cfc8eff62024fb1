//! The suite's output: one text line per check, a closing count, and a JSON result file.

use core::fmt::{self, Write};

use crate::check::{Check, Outcome};

/// Counts of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl Summary {
    /// Adds one outcome.
    pub fn count(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Passed => self.passed += 1,
            Outcome::Failed { .. } => self.failed += 1,
            Outcome::Skipped(_) => self.skipped += 1,
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

/// Writes the text line for one check.
pub fn write_line(out: &mut dyn Write, check: &Check, outcome: &Outcome) -> fmt::Result {
    write!(out, "Suite={} : Test={} : Result=", check.suite, check.name)?;
    match outcome {
        Outcome::Passed => writeln!(out, "Passed"),
        Outcome::Failed { expected, got } => {
            writeln!(out, "Failed (expected {expected}, got {got})")
        }
        Outcome::Skipped(reason) => writeln!(out, "Skipped ({reason})"),
    }
}

fn json_string(out: &mut dyn Write, text: &dyn fmt::Display) -> fmt::Result {
    struct Escaper<'a>(&'a mut dyn Write);
    impl Write for Escaper<'_> {
        fn write_str(&mut self, text: &str) -> fmt::Result {
            for character in text.chars() {
                match character {
                    '"' => self.0.write_str("\\\"")?,
                    '\\' => self.0.write_str("\\\\")?,
                    character if (character as u32) < 0x20 => {
                        write!(self.0, "\\u{:04x}", character as u32)?
                    }
                    character => self.0.write_char(character)?,
                }
            }
            Ok(())
        }
    }
    out.write_char('"')?;
    write!(Escaper(out), "{text}")?;
    out.write_char('"')
}

/// Writes one check's result as a JSON object (no trailing comma).
pub fn write_json(out: &mut dyn Write, check: &Check, outcome: &Outcome) -> fmt::Result {
    out.write_str("{\"suite\":")?;
    json_string(out, &check.suite)?;
    out.write_str(",\"test\":")?;
    json_string(out, &check.name)?;
    out.write_str(",\"source\":")?;
    json_string(out, &check.source)?;
    match outcome {
        Outcome::Passed => out.write_str(",\"result\":\"passed\"}"),
        Outcome::Failed { expected, got } => {
            out.write_str(",\"result\":\"failed\",\"expected\":")?;
            json_string(out, expected)?;
            out.write_str(",\"got\":")?;
            json_string(out, got)?;
            out.write_char('}')
        }
        Outcome::Skipped(reason) => {
            out.write_str(",\"result\":\"skipped\",\"reason\":")?;
            json_string(out, reason)?;
            out.write_char('}')
        }
    }
}
