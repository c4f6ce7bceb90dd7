//! Wall-clock time for display: Unix seconds as the wire's `ts`, and UTC
//! renderings for transcripts.
//!
//! Deadlines and TTLs never come from here; they use `Instant`. This module
//! exists so the crate needs no date library: the civil-date arithmetic is
//! Howard Hinnant's days-from-civil algorithm, run backwards.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, with sub-second precision.
pub fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Broken-down UTC time of a Unix timestamp.
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    micros: u32,
}

fn civil(ts: f64) -> Civil {
    let ts = if ts.is_finite() { ts.max(0.0) } else { 0.0 };
    let whole = ts.floor() as i64;
    let micros = ((ts - ts.floor()) * 1_000_000.0).round().min(999_999.0) as u32;
    let days = whole.div_euclid(86_400);
    let secs = whole.rem_euclid(86_400) as u32;
    // Shift the epoch to 0000-03-01 so leap days fall at the end of a year.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month,
        day,
        hour: secs / 3600,
        minute: secs / 60 % 60,
        second: secs % 60,
        micros,
    }
}

/// `2026-11-25T15:38:38.123456+00:00`: the transcript's timestamp. Every value
/// has the same width, so two of them compare correctly as strings.
pub fn iso8601(ts: f64) -> String {
    let c = civil(ts);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}+00:00",
        c.year, c.month, c.day, c.hour, c.minute, c.second, c.micros
    )
}

/// `2026-11-25 15:38:38 UTC`: a timestamp for people reading an export.
pub fn display(ts: f64) -> String {
    let c = civil(ts);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_known_instants() {
        assert_eq!(iso8601(0.0), "1970-01-01T00:00:00.000000+00:00");
        // 2000-02-29 is a leap day in a century year divisible by 400.
        assert_eq!(iso8601(951_782_400.25), "2000-02-29T00:00:00.250000+00:00");
        assert_eq!(display(1_764_032_000.0), "2025-11-25 00:53:20 UTC");
        assert_eq!(display(4_102_444_799.0), "2099-12-31 23:59:59 UTC");
    }

    #[test]
    fn garbage_times_clamp_to_the_epoch() {
        assert_eq!(display(f64::NAN), "1970-01-01 00:00:00 UTC");
        assert_eq!(display(-5.0), "1970-01-01 00:00:00 UTC");
    }
}
