//! The `glassbox` command: thin glue over the `glassbox` library.

use std::process::ExitCode;

mod cli;

fn main() -> ExitCode {
    match cli::run() {
        Ok(code) => code,
        Err(err) => {
            // A reader that stopped early (`glassbox score … | head`) is not
            // an error worth reporting.
            let broken_pipe = err.chain().any(|cause| {
                cause
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            });
            if broken_pipe {
                return ExitCode::SUCCESS;
            }
            // `{:#}` prints the whole chain of causes on one line.
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
