//! Exchange's `ByteQuantifiedSize` display form, e.g. `"99 GB (106,300,440,576 bytes)"`.
//!
//! Report scripts regex-parse these strings (`\(([\d,]+) bytes\)`), so the
//! format must match the service character for character.

const UNITS: [(&str, u64); 5] = [
    ("TB", 1 << 40),
    ("GB", 1 << 30),
    ("MB", 1 << 20),
    ("KB", 1 << 10),
    ("B", 1),
];

/// Formats a byte count the way Exchange prints quotas and mailbox sizes.
///
/// The unit is the largest one the value reaches; the quantity keeps at most
/// three decimals, truncated rather than rounded so that a value just under a
/// unit boundary never prints as the next unit (`1023.999 KB`, not `1024 KB`).
pub fn format_bytes(bytes: u64) -> String {
    let (unit, scale) = UNITS
        .iter()
        .copied()
        .find(|(_, scale)| bytes >= *scale)
        .unwrap_or(("B", 1));
    let whole = bytes / scale;
    let thousandths = ((u128::from(bytes % scale) * 1000) / u128::from(scale)) as u64;
    let quantity = if thousandths == 0 {
        whole.to_string()
    } else {
        let fraction = format!("{thousandths:03}");
        format!("{whole}.{}", fraction.trim_end_matches('0'))
    };
    format!("{quantity} {unit} ({} bytes)", group_thousands(bytes))
}

/// `106300440576` → `106,300,440,576`, the en-US grouping Exchange uses.
pub fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_gigabytes_print_without_decimals() {
        assert_eq!(
            format_bytes(106_300_440_576),
            "99 GB (106,300,440,576 bytes)"
        );
    }

    #[test]
    fn whole_megabytes_print_without_decimals() {
        assert_eq!(format_bytes(36_700_160), "35 MB (36,700,160 bytes)");
    }

    #[test]
    fn fractions_keep_three_decimals() {
        assert_eq!(
            format_bytes(1_325_000_000),
            "1.234 GB (1,325,000,000 bytes)"
        );
    }

    #[test]
    fn trailing_zeros_of_the_fraction_are_dropped() {
        assert_eq!(format_bytes(1_610_612_736), "1.5 GB (1,610,612,736 bytes)");
    }

    #[test]
    fn just_below_a_unit_truncates_instead_of_rounding_up() {
        assert_eq!(format_bytes(1_048_575), "1023.999 KB (1,048,575 bytes)");
    }

    #[test]
    fn small_and_zero_sizes_use_bytes() {
        assert_eq!(format_bytes(0), "0 B (0 bytes)");
        assert_eq!(format_bytes(512), "512 B (512 bytes)");
    }

    #[test]
    fn thousands_grouping() {
        assert_eq!(group_thousands(1), "1");
        assert_eq!(group_thousands(1_000), "1,000");
        assert_eq!(group_thousands(999_999), "999,999");
    }
}
