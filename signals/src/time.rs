//! Calendar dates for hive partitions, without a date-time dependency.

/// `YYYY-MM-DD` (UTC) of a nanosecond timestamp.
pub fn utc_date(ts_ns: i64) -> String {
    let days = ts_ns.div_euclid(86_400 * 1_000_000_000);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// (year, month 1-12, day) of a day count since 1970-01-01: Howard Hinnant's
/// days-to-civil algorithm (proleptic Gregorian calendar).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(-1), "1969-12-31");
        // 2024-02-29T23:59:59Z and one second later.
        assert_eq!(utc_date(1_709_251_199 * 1_000_000_000), "2024-02-29");
        assert_eq!(utc_date(1_709_251_200 * 1_000_000_000), "2024-03-01");
        assert_eq!(utc_date(1_795_651_200 * 1_000_000_000), "2026-11-26");
    }
}
