//! `cargo xtask`: installs the toolchain, builds the images, boots QEMU, and runs every check.
// A developer tool: printing a message and exiting is the right answer to a broken environment.
#![allow(clippy::expect_used, reason = "xtask reports environment failures and exits")]

mod bench;
mod breakdown;
mod conformance;
mod defmt_stream;
mod fuzz;
mod images;
mod linux;
mod progress;
mod qemu;
mod shell;
mod stack_bound;
mod syndrome;
mod tasks;
mod toolchain;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  setup        detect the aarch64 toolchain and QEMU; install what is missing (Debian, root)
  build        build every bare-metal image           [--platform qemu|fvp] [--debug]
  run          the main job: build, boot QEMU, show what the stack does    [--verbose]
  test         everything that tests the project: fmt, clippy, unit tests, images, QEMU boot,
               the conformance suite on QEMU, a fuzz smoke run
  conformance  the conformance suite in a test VM on QEMU, every check's line  [--suite S] [--name N]
  bench        benchmarks: instructions and time per case   [--qemu [--breakdown]]
  fuzz         bounded fuzzing runs                   [--seconds N]
  doc          API docs and the book (docs/)
  linux        build a Linux 6.12 guest (kernel, initramfs) and boot it on our stack; it must
               find FF-A, probe OP-TEE and pass its TEE test   [--build-only] [--verbose]
";

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = arguments.split_first() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    let result = match command.as_str() {
        "setup" => toolchain::setup().map(|_| ()),
        "build" => tasks::build(rest),
        "run" => tasks::run(rest),
        "test" => tasks::test(rest),
        "conformance" => tasks::conformance(rest),
        "bench" => tasks::bench(rest),
        "fuzz" => tasks::fuzz(rest),
        "doc" => tasks::doc(rest),
        "linux" => linux::command(rest),
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("\nxtask: error: {message}");
            ExitCode::FAILURE
        }
    }
}
