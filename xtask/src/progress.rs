//! Progress lines for long steps: what is being done, and how long it took.

use std::time::Instant;

/// One named step; prints `==> what` when it starts and `    done in N.Ns` when it ends.
#[derive(Debug)]
pub struct Step {
    started: Instant,
}

impl Step {
    pub fn start(what: &str) -> Self {
        println!("==> {what}");
        Self { started: Instant::now() }
    }

    pub fn done(self) {
        println!("    done in {:.1}s", self.started.elapsed().as_secs_f64());
    }
}
