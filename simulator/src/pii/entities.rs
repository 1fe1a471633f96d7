//! PII values in their real-world spellings. `variant` picks the spelling (taken modulo
//! the number of spellings), so a debug dump can keep one spelling for a whole run.

use super::draw::{
    ALNUM, DIGITS, base64url, below, between, bytes, chars, digit_text, luhn_check_digit, pick,
};
use crate::kinds::kinds;
use crate::rng::Rng;

kinds! {
    /// Entity types of a `pii` span.
    Entity, family "pii entity" {
        /// Luhn-valid Visa, Mastercard (51-55, 2221-2720), Amex (4-6-5), Discover, JCB, Diners.
        CreditCard => "credit_card",
        /// US SSN: area 001-899 but 666, group 01-99, serial 0001-9999.
        Ssn => "ssn",
        /// US (NANP) and international numbers, or spelled out digit by digit.
        Phone => "phone",
        Email => "email",
        /// Stripe, GitHub, Slack and Google keys.
        ApiKey => "api_key",
        /// The opaque token after `Bearer ` (a JWT there is typed `jwt`).
        BearerToken => "bearer_token",
        /// Three base64url segments; the header decodes to {"alg":...}.
        Jwt => "jwt",
        AwsAccessKey => "aws_access_key",
        AwsSecretKey => "aws_secret_key",
        /// A public address: a person's, never a machine's inside the network.
        Ipv4 => "ipv4",
        /// A global unicast address, full or compressed.
        Ipv6 => "ipv6",
        PersonName => "person_name",
    }
}

/// A person: the display name, and ASCII spellings for addresses derived from it.
#[derive(Debug, Clone)]
pub(super) struct Person {
    pub name: String,
    pub first: &'static str,
    pub last: &'static str,
}

const FIRST: &[(&str, &str)] = &[
    ("John", "john"),
    ("Maria", "maria"),
    ("José", "jose"),
    ("Zoë", "zoe"),
    ("Aarav", "aarav"),
    ("Wei", "wei"),
    ("Fatima", "fatima"),
    ("Olga", "olga"),
    ("Kwame", "kwame"),
    ("Yuki", "yuki"),
    ("Siobhán", "siobhan"),
    ("Jean-Luc", "jeanluc"),
    ("Emily", "emily"),
    ("Mohammed", "mohammed"),
    ("Priya", "priya"),
    ("Lars", "lars"),
    ("Chloé", "chloe"),
    ("Dmitri", "dmitri"),
    ("Ana", "ana"),
    ("Tom", "tom"),
];

const LAST: &[(&str, &str)] = &[
    ("Smith", "smith"),
    ("Garcia", "garcia"),
    ("Müller", "mueller"),
    ("O'Brien", "obrien"),
    ("Patel", "patel"),
    ("Zhang", "zhang"),
    ("Al-Sayed", "alsayed"),
    ("Ivanova", "ivanova"),
    ("Mensah", "mensah"),
    ("Tanaka", "tanaka"),
    ("Dubois", "dubois"),
    ("Nguyen", "nguyen"),
    ("Johnson", "johnson"),
    ("Kowalski", "kowalski"),
    ("Rossi", "rossi"),
    ("Andersson", "andersson"),
    ("García Márquez", "garciamarquez"),
    ("Okafor", "okafor"),
    ("Silva", "silva"),
    ("Brown", "brown"),
];

pub(super) const MAIL_DOMAINS: &[&str] = &[
    "gmail.com",
    "yahoo.co.uk",
    "outlook.com",
    "proton.me",
    "web.de",
    "orange.fr",
    "fastmail.fm",
    "icloud.com",
    "acme-corp.com",
];

pub(super) fn person(rng: &mut Rng) -> Person {
    let (f, fa) = *pick(rng, FIRST);
    let (l, la) = *pick(rng, LAST);
    Person {
        name: format!("{f} {l}"),
        first: fa,
        last: la,
    }
}

pub(super) fn email(rng: &mut Rng, p: &Person, variant: u64) -> String {
    let domain = pick(rng, MAIL_DOMAINS);
    let initial = &p.first[..1];
    let (f, l) = (p.first, p.last);
    match variant % 5 {
        0 => format!("{f}.{l}@{domain}"),
        1 => format!("{initial}{l}@{domain}"),
        2 => format!("{f}_{l}{}@{domain}", below(rng, 100)),
        3 => format!("{f}.{l}+orders@{domain}"),
        _ => format!("{f}{}@{domain}", between(rng, 1, 9999)),
    }
}

/// Card prefixes and lengths by brand.
pub(super) fn card_digits(rng: &mut Rng) -> Vec<u8> {
    let (prefix, len) = match below(rng, 6) {
        0 => (4, 16),
        1 if below(rng, 2) == 0 => (between(rng, 51, 55), 16),
        1 => (between(rng, 2221, 2720), 16),
        2 => (*pick(rng, &[34, 37]), 15),
        3 => {
            let range = between(rng, 644, 649);
            (*pick(rng, &[6011, range, 65]), 16)
        }
        4 => (between(rng, 3528, 3589), 16),
        _ => {
            let range = between(rng, 300, 305);
            (*pick(rng, &[36, range]), 14)
        }
    };
    luhn_number(rng, prefix, len)
}

/// A Luhn-valid number of `len` digits starting with `prefix`.
pub(super) fn luhn_number(rng: &mut Rng, prefix: u64, len: usize) -> Vec<u8> {
    let mut ds: Vec<u8> = prefix.to_string().bytes().map(|b| b - b'0').collect();
    while ds.len() < len - 1 {
        ds.push(below(rng, 10) as u8);
    }
    ds.push(luhn_check_digit(&ds));
    ds
}

/// Groups as printed on the card: 4-4-4-4, Amex 4-6-5, Diners 4-6-4.
fn grouped(ds: &str, sep: &str) -> String {
    let sizes: &[usize] = match ds.len() {
        16 => &[4, 4, 4, 4],
        15 => &[4, 6, 5],
        _ => &[4, 6, 4],
    };
    let mut out = Vec::new();
    let mut at = 0;
    for &n in sizes {
        out.push(&ds[at..at + n]);
        at += n;
    }
    out.join(sep)
}

/// Spaces, dashes, or none (compact spellings are the URL-safe ones: variants 0 and 1).
pub(super) fn credit_card(rng: &mut Rng, variant: u64) -> String {
    let ds = digit_text(&card_digits(rng));
    grouped(&ds, ["", "-", " "][(variant % 3) as usize])
}

/// Dashes, none, or spaces (the Curator's "123 45 6789").
pub(super) fn ssn(rng: &mut Rng, variant: u64) -> String {
    let mut area = between(rng, 1, 899);
    while area == 666 {
        area = between(rng, 1, 899);
    }
    let (group, serial) = (between(rng, 1, 99), between(rng, 1, 9999));
    match variant % 3 {
        0 => format!("{area:03}-{group:02}-{serial:04}"),
        1 => format!("{area:03}{group:02}{serial:04}"),
        _ => format!("{area:03} {group:02} {serial:04}"),
    }
}

/// NANP area code or exchange: 2-9 first, never N11.
fn nanp3(rng: &mut Rng) -> u64 {
    loop {
        let n = between(rng, 200, 999);
        if n % 100 != 11 {
            return n;
        }
    }
}

const DIGIT_WORDS: [&str; 10] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
];

/// US and international spellings; variants 0-2 contain no spaces (safe in a URL).
pub(super) fn phone(rng: &mut Rng, variant: u64) -> String {
    let (a, x, n) = (nanp3(rng), nanp3(rng), below(rng, 10_000));
    match variant % 9 {
        0 => format!("{a}-{x}-{n:04}"),
        1 => format!("{a}.{x}.{n:04}"),
        2 => format!("+1{a}{x}{n:04}"),
        3 => format!("({a}) {x}-{n:04}"),
        4 => format!("+1 {a} {x} {n:04}"),
        5 => format!(
            "+44 20 {}{} {:04}",
            pick(rng, &[3, 7, 8]),
            chars(rng, 3, DIGITS),
            below(rng, 10_000)
        ),
        6 => format!("+49 30 {}", between(rng, 100_000, 99_999_999)),
        7 => {
            let pairs: Vec<String> = (0..4).map(|_| format!("{:02}", below(rng, 100))).collect();
            format!("+33 {} {}", between(rng, 1, 9), pairs.join(" "))
        }
        _ => format!("{a}{x}{n:04}")
            .bytes()
            .map(|b| DIGIT_WORDS[usize::from(b - b'0')])
            .collect::<Vec<_>>()
            .join(" "),
    }
}

pub(super) fn api_key(rng: &mut Rng, variant: u64) -> String {
    match variant % 4 {
        0 => format!("sk_live_{}", chars(rng, 24, ALNUM)),
        1 => format!("ghp_{}", chars(rng, 36, ALNUM)),
        2 => format!(
            "xoxb-{}-{}-{}",
            chars(rng, 11, DIGITS),
            chars(rng, 13, DIGITS),
            chars(rng, 24, ALNUM)
        ),
        _ => format!(
            "AIza{}",
            chars(
                rng,
                35,
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
            )
        ),
    }
}

/// Opaque OAuth access tokens.
pub(super) fn bearer_token(rng: &mut Rng, variant: u64) -> String {
    match variant % 2 {
        0 => {
            let n = between(rng, 24, 48) as usize;
            base64url(&bytes(rng, n))
        }
        _ => format!("ya29.a0{}", base64url(&bytes(rng, 60))),
    }
}

/// HS256, RS256 or ES256, with a payload naming the user and its signature length.
pub(super) fn jwt(rng: &mut Rng, subject: &str, iat: i64) -> String {
    let (alg, sig) = *pick(rng, &[("HS256", 32), ("RS256", 256), ("ES256", 64)]);
    let header = format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#);
    let payload = format!(
        r#"{{"sub":"usr_{}","email":"{subject}","iat":{iat},"exp":{}}}"#,
        below(rng, 1_000_000),
        iat + 3600
    );
    format!(
        "{}.{}.{}",
        base64url(header.as_bytes()),
        base64url(payload.as_bytes()),
        base64url(&bytes(rng, sig))
    )
}

pub(super) fn aws_access_key(rng: &mut Rng) -> String {
    let prefix = pick(rng, &["AKIA", "AKIA", "ASIA"]);
    format!(
        "{prefix}{}",
        chars(rng, 16, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    )
}

pub(super) fn aws_secret_key(rng: &mut Rng) -> String {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+";
    chars(rng, 40, alphabet)
}

/// A public unicast address: none of loopback, RFC 1918, CGNAT, link-local, multicast.
pub(super) fn ipv4(rng: &mut Rng) -> String {
    loop {
        let o: Vec<u64> = (0..4).map(|_| below(rng, 256)).collect();
        let private = matches!(
            (o[0], o[1]),
            (0 | 10 | 127, _) | (172, 16..=31) | (192, 168)
        ) || matches!((o[0], o[1]), (100, 64..=127) | (169, 254))
            || o[0] >= 224;
        if !private && o[3] != 0 {
            return format!("{}.{}.{}.{}", o[0], o[1], o[2], o[3]);
        }
    }
}

/// A global unicast address (2000::/3); compressed spellings have a run of zeros.
pub(super) fn ipv6(rng: &mut Rng, variant: u64) -> String {
    let mut seg: Vec<u16> = (0..8).map(|_| below(rng, 0x1_0000) as u16).collect();
    seg[0] = between(rng, 0x2000, 0x3fff) as u16;
    if variant.is_multiple_of(2) {
        return seg
            .iter()
            .map(|s| format!("{s:04x}"))
            .collect::<Vec<_>>()
            .join(":");
    }
    let zeros = between(rng, 2, 4) as usize;
    for s in &mut seg[3..3 + zeros] {
        *s = 0;
    }
    let a: [u16; 8] = [
        seg[0], seg[1], seg[2], seg[3], seg[4], seg[5], seg[6], seg[7],
    ];
    std::net::Ipv6Addr::from(a).to_string()
}
