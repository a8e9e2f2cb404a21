//! Wall-clock helpers and the handful of timestamp formats the wire uses.
//!
//! The formats are written by hand (a civil-date conversion is twenty lines)
//! rather than pulling a date crate into the simulator for four strings.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, with the fraction (assertions carry floats).
pub fn unix_now_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64()
}

/// Whole seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    unix_now_f64().floor() as i64
}

/// Splits Unix seconds into (year, month, day, hour, minute, second), UTC.
///
/// Howard Hinnant's `civil_from_days`; valid for every date a token can carry.
fn civil(unix: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        month,
        day,
        (secs / 3600) as u32,
        ((secs % 3600) / 60) as u32,
        (secs % 60) as u32,
    )
}

/// Entra's error timestamp: `2016-01-09 02:02:12Z`.
pub fn entra_timestamp(unix: i64) -> String {
    let (y, mo, d, h, mi, s) = civil(unix);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}Z")
}

/// .NET round-trip form with seven fractional digits, as in AADSTS700024:
/// `2023-08-01T11:08:01.5274809Z`.
pub fn dotnet_round_trip(unix: f64) -> String {
    let whole = unix.floor();
    let ticks = ((unix - whole) * 10_000_000.0).floor() as u64;
    let (y, mo, d, h, mi, s) = civil(whole as i64);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ticks:07}Z")
}

/// ISO 8601 UTC with milliseconds, as in `Rate-Limit-Reset`:
/// `2024-05-22T16:52:26.365Z`.
pub fn iso8601_millis(unix: f64) -> String {
    let whole = unix.floor();
    let millis = ((unix - whole) * 1000.0).floor() as u64;
    let (y, mo, d, h, mi, s) = civil(whole as i64);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{millis:03}Z")
}

/// The US-style date the AADSTS700027 "key used is expired" text shows:
/// `06/29/2021 21:13:15`.
pub fn us_date_time(unix: i64) -> String {
    let (y, mo, d, h, mi, s) = civil(unix);
    format!("{mo:02}/{d:02}/{y:04} {h:02}:{mi:02}:{s:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_match_the_wire_examples() {
        // 2016-01-09 02:02:12 UTC
        assert_eq!(entra_timestamp(1_452_304_932), "2016-01-09 02:02:12Z");
        assert_eq!(
            dotnet_round_trip(1_452_304_932.5),
            "2016-01-09T02:02:12.5000000Z"
        );
        assert_eq!(iso8601_millis(1_452_304_932.25), "2016-01-09T02:02:12.250Z");
        assert_eq!(us_date_time(1_625_001_195), "06/29/2021 21:13:15");
        assert_eq!(entra_timestamp(0), "1970-01-01 00:00:00Z");
        // A leap day.
        assert_eq!(entra_timestamp(1_709_164_800), "2024-02-29 00:00:00Z");
    }
}
