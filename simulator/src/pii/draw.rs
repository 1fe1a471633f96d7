//! Small drawing helpers over the crate's `Rng`, and the text encodings the entities
//! need (base64url, Luhn, civil time), written out so the crate needs no dependency.

use crate::rng::Rng;

pub(super) const DIGITS: &[u8] = b"0123456789";
pub(super) const HEX: &[u8] = b"0123456789abcdef";
pub(super) const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Uniform in 0..n (n > 0).
pub(super) fn below(rng: &mut Rng, n: u64) -> u64 {
    rng.next_u64() % n.max(1)
}

/// Uniform in lo..=hi.
pub(super) fn between(rng: &mut Rng, lo: u64, hi: u64) -> u64 {
    lo + below(rng, hi - lo + 1)
}

pub(super) fn chance(rng: &mut Rng, p: f64) -> bool {
    rng.unit() < p
}

/// One element of a non-empty slice.
pub(super) fn pick<'a, T>(rng: &mut Rng, xs: &'a [T]) -> &'a T {
    &xs[below(rng, xs.len() as u64) as usize]
}

/// `n` characters drawn from `alphabet`.
pub(super) fn chars(rng: &mut Rng, n: usize, alphabet: &[u8]) -> String {
    (0..n).map(|_| char::from(*pick(rng, alphabet))).collect()
}

pub(super) fn bytes(rng: &mut Rng, n: usize) -> Vec<u8> {
    (0..n).map(|_| rng.next_u64() as u8).collect()
}

/// Base64url without padding (RFC 4648 section 5), as JWTs use.
pub(super) fn base64url(data: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(char::from(A[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

/// The digit that makes `payload` followed by it pass the Luhn check.
pub(super) fn luhn_check_digit(payload: &[u8]) -> u8 {
    // Doubling starts at the payload's last digit: it sits left of the check digit.
    let sum: u32 = payload
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            match (i % 2 == 0, d * 2) {
                (true, x) if x > 9 => x - 9,
                (true, x) => x,
                (false, _) => d,
            }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

/// Digits (0..=9 values) as text.
pub(super) fn digit_text(ds: &[u8]) -> String {
    ds.iter().map(|&d| char::from(b'0' + d)).collect()
}

/// UTC civil time of a timestamp: (year, month 1-12, day, hour, minute, second, ms).
pub(super) fn civil(ts_ns: i64) -> (i64, u32, u32, u32, u32, u32, u32) {
    let ms_total = ts_ns.div_euclid(1_000_000);
    let secs = ms_total.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400) as u32;
    let (year, month, day) = qb_signals::civil_from_days(days);
    let ms = ms_total.rem_euclid(1000) as u32;
    (year, month, day, sod / 3600, sod / 60 % 60, sod % 60, ms)
}

pub(super) const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Three-letter weekday of a timestamp.
pub(super) fn weekday(ts_ns: i64) -> &'static str {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    DAYS[ts_ns.div_euclid(86_400_000_000_000).rem_euclid(7) as usize]
}

/// `2026-01-01T00:00:01.123Z`
pub(super) fn iso(ts_ns: i64) -> String {
    let (y, mo, d, h, mi, s, ms) = civil(ts_ns);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        assert_eq!(base64url(br#"{"alg":"HS256"}"#), "eyJhbGciOiJIUzI1NiJ9");
        assert_eq!(base64url(b"ab"), "YWI");
        // 4111 1111 1111 1111 is the classic Luhn-valid test number.
        assert_eq!(
            luhn_check_digit(&[4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]),
            1
        );
        assert_eq!(luhn_check_digit(&[7, 9, 9, 2, 7, 3, 9, 8, 7, 1]), 3);
        let start = crate::START_NS;
        assert_eq!(iso(start + 1_123_000_000), "2026-01-01T00:00:01.123Z");
        assert_eq!(weekday(start), "Thu");
        assert_eq!(civil(951_782_400 * 1_000_000_000).1, 2); // 2000-02-29
        assert_eq!(civil(951_782_400 * 1_000_000_000).2, 29);
    }
}
