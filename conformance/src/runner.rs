//! Running a selection of checks in order and reporting each as it finishes.

use core::fmt::Write;

use crate::check::Check;
use crate::context::Context;
use crate::report::{self, Summary};

/// Which checks to run: every check whose suite and name contain the given texts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Selection<'a> {
    /// Only suites whose name contains this at the start of a word (empty: all): `memory`
    /// and `messaging` select what they say, and `direct_messaging` does not select
    /// `indirect_messaging`.
    pub suite: &'a str,
    /// Only checks whose name contains this (empty: all).
    pub name: &'a str,
}

impl Selection<'_> {
    /// Whether `check` is selected.
    pub fn includes(&self, check: &Check) -> bool {
        let suite = check
            .suite
            .match_indices(self.suite)
            .any(|(start, _)| start == 0 || check.suite.as_bytes().get(start - 1) == Some(&b'_'));
        suite && check.name.contains(self.name)
    }
}

/// Runs the selected checks in order, writing a text line for each to `text` and a JSON array
/// to `json` (if given); the closing count line is written to `text` last.
pub fn run(
    checks: &[Check],
    selection: Selection<'_>,
    context: &mut Context<'_>,
    text: &mut dyn Write,
    mut json: Option<&mut dyn Write>,
) -> Summary {
    let mut summary = Summary::default();
    if let Some(json) = json.as_deref_mut() {
        let _ = json.write_char('[');
    }
    let mut first = true;
    for check in checks.iter().filter(|check| selection.includes(check)) {
        let outcome = (check.run)(context);
        summary.count(&outcome);
        let _ = report::write_line(text, check, &outcome);
        if let Some(json) = json.as_deref_mut() {
            if !first {
                let _ = json.write_char(',');
            }
            let _ = report::write_json(json, check, &outcome);
        }
        first = false;
    }
    if let Some(json) = json {
        let _ = json.write_str("]\n");
    }
    let _ = writeln!(text, "{summary}");
    summary
}
