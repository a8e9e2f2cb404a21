//! Wall-clock helpers and the handful of timestamp formats the wire uses,
//! on `jiff`'s calendar.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jiff::Timestamp;

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

/// A Unix second as a UTC timestamp. Seconds outside jiff's years
/// -9999..=9999 cannot come from a token that parsed; they show as the
/// epoch rather than panic.
fn utc(unix: i64) -> Timestamp {
    Timestamp::from_second(unix).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Entra's error timestamp: `2016-01-09 02:02:12Z`.
pub fn entra_timestamp(unix: i64) -> String {
    utc(unix).strftime("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// ISO 8601 to the second, `2026-12-02T17:00:00Z`: Graph's dates.
pub fn iso8601(unix: i64) -> String {
    utc(unix).strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// .NET round-trip form with seven fractional digits, as in AADSTS700024:
/// `2023-08-01T11:08:01.5274809Z`.
pub fn dotnet_round_trip(unix: f64) -> String {
    let whole = unix.floor();
    let ticks = ((unix - whole) * 10_000_000.0).floor() as u64;
    let at = utc(whole as i64).strftime("%Y-%m-%dT%H:%M:%S");
    format!("{at}.{ticks:07}Z")
}

/// ISO 8601 UTC with milliseconds, as in `Rate-Limit-Reset`:
/// `2024-05-22T16:52:26.365Z`.
pub fn iso8601_millis(unix: f64) -> String {
    let whole = unix.floor();
    let millis = ((unix - whole) * 1000.0).floor() as u64;
    let at = utc(whole as i64).strftime("%Y-%m-%dT%H:%M:%S");
    format!("{at}.{millis:03}Z")
}

/// The US-style date the AADSTS700027 "key used is expired" text shows:
/// `06/29/2021 21:13:15`.
pub fn us_date_time(unix: i64) -> String {
    utc(unix).strftime("%m/%d/%Y %H:%M:%S").to_string()
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
