//! The few conversions the crate needs (certificate dates in messages,
//! `Rate-Limit-Reset` headers), on `jiff`'s calendar.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jiff::Timestamp;

/// Seconds since the Unix epoch, negative before it.
pub(crate) fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

pub(crate) fn from_unix_seconds(secs: i64) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    }
}

/// `2030-01-31 12:00:00Z`, the form Entra uses in its own messages.
pub(crate) fn format_utc(t: SystemTime) -> String {
    // A SystemTime outside jiff's years -9999..=9999 cannot come from a
    // certificate that parsed; it shows as the epoch rather than panic.
    let at = Timestamp::try_from(t).unwrap_or(Timestamp::UNIX_EPOCH);
    at.strftime("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// Parses ISO 8601 as `Rate-Limit-Reset` carries it:
/// `2024-05-22T16:52:26.365Z` (fraction optional; `Z` or an offset, and
/// without one, UTC).
pub(crate) fn parse_iso8601_utc(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    let at = match s.parse::<Timestamp>() {
        Ok(at) => at,
        Err(_) => s
            .parse::<jiff::civil::DateTime>()
            .ok()?
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()?
            .timestamp(),
    };
    Some(SystemTime::from(at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_utc() {
        let t = from_unix_seconds(1_716_396_746);
        assert_eq!(format_utc(t), "2024-05-22 16:52:26Z");
        assert_eq!(
            parse_iso8601_utc("2024-05-22T16:52:26.365Z"),
            Some(t + Duration::from_millis(365))
        );
        assert_eq!(parse_iso8601_utc("2024-05-22T16:52:26+00:00"), Some(t));
        assert_eq!(parse_iso8601_utc("yesterday"), None);
        assert_eq!(parse_iso8601_utc("2024-13-22T16:52:26Z"), None);
    }

    #[test]
    fn formatted_times_before_and_after_the_epoch_read_back() {
        for secs in [-86_400_000, 0, 5_184_000, 946_684_799, 4_102_444_800] {
            let t = from_unix_seconds(secs);
            let shown = format_utc(t).replace(' ', "T");
            assert_eq!(parse_iso8601_utc(&shown), Some(t), "{shown}");
        }
    }
}
