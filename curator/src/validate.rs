//! Validators: what a candidate must pass besides its shape. Each one is there because a
//! real log value (block id, epoch, version, hash, UUID) has the same shape.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Luhn checksum over ASCII digits.
pub fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d - b'0');
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

/// Issuer ranges and lengths: Visa, Mastercard (51-55, 2221-2720), Amex, Discover, JCB,
/// Diners.
pub fn card_brand_ok(digits: &[u8]) -> bool {
    let prefix = |n: usize| -> u32 {
        digits
            .iter()
            .take(n)
            .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'))
    };
    let len = digits.len();
    let (p1, p2, p3, p4) = (prefix(1), prefix(2), prefix(3), prefix(4));
    match len {
        13 | 16 | 19 if p1 == 4 => true,
        16 if (51..=55).contains(&p2) || (2221..=2720).contains(&p4) => true,
        15 if p2 == 34 || p2 == 37 => true,
        16 | 19 if p4 == 6011 || (644..=649).contains(&p3) || p2 == 65 => true,
        16..=19 if (3528..=3589).contains(&p4) => true,
        14 if p2 == 36 || (300..=305).contains(&p3) || p2 == 38 => true,
        _ => false,
    }
}

/// US SSN rules: area 001-899 except 666, group 01-99, serial 0001-9999.
pub fn ssn_ok(digits: &[u8]) -> bool {
    if digits.len() != 9 {
        return false;
    }
    let num = |r: std::ops::Range<usize>| {
        digits[r]
            .iter()
            .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'))
    };
    let (area, group, serial) = (num(0..3), num(3..5), num(5..9));
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

/// NANP: area code and exchange start 2-9 and are never N11.
pub fn nanp_ok(digits: &[u8]) -> bool {
    let d = match digits.len() {
        10 => digits,
        11 if digits[0] == b'1' => &digits[1..],
        _ => return false,
    };
    let part_ok = |p: &[u8]| p[0] >= b'2' && !(p[1] == b'1' && p[2] == b'1');
    part_ok(&d[0..3]) && part_ok(&d[3..6])
}

/// A public IPv4 address: not private, loopback, CGNAT, link-local, multicast, 0/8,
/// reserved or broadcast, and not a network address (`81.2.69.0` is an anonymised one).
pub fn ipv4_public(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    let cgnat = o[0] == 100 && (64..128).contains(&o[1]);
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || cgnat
        || o[0] == 0
        || o[0] >= 240
        || o[3] == 0)
}

/// Global unicast (2000::/3): not ULA, link-local, loopback or documentation.
pub fn ipv6_global(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    (first & 0xe000) == 0x2000 && first != 0x2001 || (first == 0x2001 && ip.segments()[1] != 0xdb8)
}

/// Does `value` look like a random secret rather than a word, hash or id? Length-aware:
/// a random string over an alphabet of ~62 symbols is expected to show
/// `62 * (1 - (1 - 1/62)^n)` distinct symbols; demand most of that, a mix of character
/// classes, and reject hex-only values (hashes, UUIDs, trace ids), which are not keys.
pub fn looks_random(value: &[u8]) -> bool {
    let n = value.len();
    if n < 16 {
        return false;
    }
    if value.iter().all(|b| b.is_ascii_hexdigit() || *b == b'-') {
        return false;
    }
    let lower = value.iter().any(u8::is_ascii_lowercase);
    let upper = value.iter().any(u8::is_ascii_uppercase);
    let digit = value.iter().any(u8::is_ascii_digit);
    if u8::from(lower) + u8::from(upper) + u8::from(digit) < 2 {
        return false;
    }
    let mut seen = [false; 256];
    let mut distinct = 0usize;
    for &b in value {
        if !seen[usize::from(b)] {
            seen[usize::from(b)] = true;
            distinct += 1;
        }
    }
    let expected = 62.0 * (1.0 - (1.0f64 - 1.0 / 62.0).powi(n as i32));
    distinct as f64 >= 0.6 * expected
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_and_brands() {
        assert!(luhn(b"4532015112830366") && card_brand_ok(b"4532015112830366"));
        assert!(card_brand_ok(b"2221000000000009") && luhn(b"2221000000000009"));
        assert!(!card_brand_ok(b"1768054973123"));
        assert!(!luhn(b"4532015112830367"));
    }

    #[test]
    fn ssn_rules() {
        assert!(ssn_ok(b"289586539"));
        for bad in [
            &b"000586539"[..],
            b"666586539",
            b"900586539",
            b"289006539",
            b"289580000",
        ] {
            assert!(!ssn_ok(bad));
        }
    }

    #[test]
    fn randomness_is_length_aware() {
        assert!(looks_random(b"IqxVkHsGGuBq8IIWuR2y9B1V"));
        assert!(!looks_random(b"550e8400-e29b-41d4-a716-446655440000"));
        assert!(!looks_random(b"e811878ee3408d45654eb6f662f40e86"));
        assert!(!looks_random(b"passwordpassword"));
    }

    #[test]
    fn ip_scopes() {
        assert!(ipv4_public(Ipv4Addr::new(81, 2, 69, 160)));
        assert!(!ipv4_public(Ipv4Addr::new(81, 2, 69, 0)));
        assert!(!ipv4_public(Ipv4Addr::new(10, 1, 2, 3)));
        assert!(ipv6_global(
            "2dc1:9cba::e83".parse().unwrap_or(Ipv6Addr::LOCALHOST)
        ));
        assert!(!ipv6_global(
            "fd21:389d:106::7b85".parse().unwrap_or(Ipv6Addr::LOCALHOST)
        ));
    }
}
