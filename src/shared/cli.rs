//! What the commands share on the command line: reading flag values, and
//! saying what went wrong with the exit code it calls for.

use std::process::ExitCode;

/// The exit code of a command that could not do its work.
pub const EXIT_FAILED: u8 = 1;
/// The exit code of a command given arguments it cannot take.
pub const EXIT_USAGE: u8 = 2;

/// Bad arguments: `COMMAND: what` on stderr, exit 2.
pub fn usage(command: &str, e: impl std::fmt::Display) -> ExitCode {
    eprintln!("{command}: {e}");
    ExitCode::from(EXIT_USAGE)
}

/// The work failed: `COMMAND: what` on stderr, exit 1.
pub fn fail(command: &str, e: impl std::fmt::Display) -> ExitCode {
    eprintln!("{command}: {e}");
    ExitCode::from(EXIT_FAILED)
}

/// The value of a flag as UTF-8 text.
pub fn text(value: Result<std::ffi::OsString, lexopt::Error>) -> Result<String, String> {
    value
        .map_err(|e| e.to_string())?
        .into_string()
        .map_err(|_| "arguments must be UTF-8".to_string())
}

/// A flag's value as a number of seconds in `min..1e9`.
pub fn seconds(value: &str, flag: &str, min_exclusive: bool) -> Result<f64, String> {
    match value.trim().parse::<f64>() {
        Ok(s) if (0.0..1e9).contains(&s) && !(min_exclusive && s == 0.0) => Ok(s),
        _ => Err(format!(
            "{flag}: {value:?} is not a valid number of seconds"
        )),
    }
}
