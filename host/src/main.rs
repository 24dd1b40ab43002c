//! The `glassbox` command: thin glue over the `glassbox` library.

use std::process::ExitCode;

mod cli;

fn main() -> ExitCode {
    match cli::run() {
        Ok(code) => code,
        Err(err) => {
            // `{:#}` prints the whole chain of causes on one line.
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
