//! Small helpers shared by the subcommands' argument parsers.

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
