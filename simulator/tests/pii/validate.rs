//! Validators written independently of the generator: each entity's own rules (Luhn and
//! brand for cards, SSN area rules, base64url-decoded JWT headers, ...), a strict reader
//! of the label attributes, and a strict JSON checker for JSON log lines.

use std::net::{Ipv4Addr, Ipv6Addr};

pub fn luhn(digits: &str) -> bool {
    let ds: Vec<u32> = digits.chars().filter_map(|c| c.to_digit(10)).collect();
    let sum: u32 = ds
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| match (i % 2 == 1, d * 2) {
            (true, x) if x > 9 => x - 9,
            (true, x) => x,
            (false, _) => d,
        })
        .sum();
    !ds.is_empty() && sum.is_multiple_of(10)
}

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// Brand prefix and length of a card number (digits only).
pub fn card_brand(ds: &str) -> Option<&'static str> {
    let p = |n: usize| ds.get(..n).and_then(|x| x.parse::<u32>().ok()).unwrap_or(0);
    Some(match ds.len() {
        16 if ds.starts_with('4') => "visa",
        16 if (51..=55).contains(&p(2)) || (2221..=2720).contains(&p(4)) => "mastercard",
        15 if p(2) == 34 || p(2) == 37 => "amex",
        16 if p(4) == 6011 || (644..=649).contains(&p(3)) || p(2) == 65 => "discover",
        16 if (3528..=3589).contains(&p(4)) => "jcb",
        14 if p(2) == 36 || (300..=305).contains(&p(3)) => "diners",
        _ => return None,
    })
}

fn credit_card(s: &str) -> bool {
    let ds = digits(s);
    let seps: Vec<char> = s.chars().filter(|c| !c.is_ascii_digit()).collect();
    let groups: Vec<usize> = s.split([' ', '-']).map(str::len).collect();
    let grouping = match ds.len() {
        16 => vec![4, 4, 4, 4],
        15 => vec![4, 6, 5],
        _ => vec![4, 6, 4],
    };
    let spelled = seps.is_empty()
        || (seps.iter().all(|&c| c == seps[0])
            && matches!(seps[0], ' ' | '-')
            && groups == grouping);
    spelled && luhn(&ds) && card_brand(&ds).is_some()
}

fn ssn(s: &str) -> bool {
    let shaped = s.len() == 9 && s.bytes().all(|b| b.is_ascii_digit())
        || s.len() == 11
            && [3, 6]
                .iter()
                .all(|&i| matches!(s.as_bytes()[i], b'-' | b' '))
            && s.as_bytes()[3] == s.as_bytes()[6];
    let ds = digits(s);
    shaped
        && ds.len() == 9
        && !matches!(&ds[..3], "000" | "666")
        && !ds.starts_with('9')
        && &ds[3..5] != "00"
        && &ds[5..] != "0000"
}

const WORDS: [&str; 10] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
];

fn nanp(ds: &str) -> bool {
    ds.len() == 10 && ds.as_bytes()[0] >= b'2' && ds.as_bytes()[3] >= b'2'
}

fn phone(s: &str) -> bool {
    if s.starts_with(|c: char| c.is_ascii_lowercase()) {
        let ws: Vec<&str> = s.split(' ').collect();
        return ws.len() == 10 && ws.iter().all(|w| WORDS.contains(w));
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_digit() || " -.()+".contains(c))
    {
        return false;
    }
    let ds = digits(s);
    match () {
        _ if s.starts_with("+44") => ds.len() == 12,
        _ if s.starts_with("+49") => (9..=12).contains(&ds.len()),
        _ if s.starts_with("+33") => ds.len() == 11,
        _ if s.starts_with("+1") => ds.len() == 11 && nanp(&ds[1..]),
        _ => nanp(&ds),
    }
}

fn email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let labels: Vec<&str> = domain.split('.').collect();
    !local.is_empty()
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c))
        && labels.len() >= 2
        && labels
            .iter()
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        && labels
            .last()
            .is_some_and(|t| t.len() >= 2 && t.chars().all(|c| c.is_ascii_alphabetic()))
}

fn charset(s: &str, extra: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
}

fn api_key(s: &str) -> bool {
    let tail = |p: &str, n: usize, extra: &str| {
        s.strip_prefix(p)
            .is_some_and(|t| t.len() == n && charset(t, extra))
    };
    let slack = s.strip_prefix("xoxb-").is_some_and(|t| {
        let parts: Vec<&str> = t.split('-').collect();
        parts.len() == 3
            && parts[..2]
                .iter()
                .all(|p| p.bytes().all(|b| b.is_ascii_digit()))
    });
    tail("sk_live_", 24, "") || tail("ghp_", 36, "") || tail("AIza", 35, "-_") || slack
}

/// Base64url without padding.
pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let vals: Option<Vec<u32>> = s
        .bytes()
        .map(|b| A.iter().position(|&a| a == b).map(|p| p as u32))
        .collect();
    let mut out = Vec::new();
    for chunk in vals?.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0, |n, (i, v)| n | v << (18 - 6 * i));
        out.extend(n.to_be_bytes()[1..chunk.len()].iter());
    }
    Some(out)
}

fn jwt(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    let header = parts
        .first()
        .and_then(|h| b64url_decode(h))
        .map(String::from_utf8);
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && b64url_decode(p).is_some())
        && header.is_some_and(|h| h.is_ok_and(|h| h.contains("\"alg\":") && json(&h).is_ok()))
}

pub fn public_v4(s: &str) -> bool {
    s.parse::<Ipv4Addr>().is_ok_and(|a| {
        let o = a.octets();
        !(a.is_private()
            || a.is_loopback()
            || a.is_link_local()
            || a.is_unspecified()
            || a.is_multicast()
            || o[0] == 0
            || o[0] >= 240
            || (o[0] == 100 && (64..128).contains(&o[1])))
    })
}

pub fn private_ip(s: &str) -> bool {
    match (s.parse::<Ipv4Addr>(), s.parse::<Ipv6Addr>()) {
        (Ok(a), _) => a.is_private() || a.is_loopback(),
        (_, Ok(a)) => (a.segments()[0] & 0xfe00) == 0xfc00 || (a.segments()[0] & 0xffc0) == 0xfe80,
        _ => false,
    }
}

fn person_name(s: &str) -> bool {
    let words: Vec<&str> = s.split(' ').collect();
    words.len() >= 2
        && words.iter().all(|w| {
            w.chars().next().is_some_and(char::is_uppercase)
                && w.chars()
                    .all(|c| c.is_alphabetic() || c == '\'' || c == '-')
        })
}

/// Whether `value` (a span of `line` starting at `start`) is a valid `entity`.
pub fn entity(entity: &str, value: &str, line: &str, start: usize) -> bool {
    match entity {
        "credit_card" => credit_card(value),
        "ssn" => ssn(value),
        "phone" => phone(value),
        "email" => email(value),
        "api_key" => api_key(value),
        "bearer_token" => {
            let before = &line[..start];
            (before.ends_with("Bearer ") || before.ends_with("access_token="))
                && value.len() >= 20
                && charset(value, "-_.")
        }
        "jwt" => jwt(value),
        "aws_access_key" => {
            value.len() == 20
                && (value.starts_with("AKIA") || value.starts_with("ASIA"))
                && value[4..]
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
        }
        "aws_secret_key" => value.len() == 40 && charset(value, "/+"),
        "ipv4" => public_v4(value),
        "ipv6" => value
            .parse::<Ipv6Addr>()
            .is_ok_and(|a| (0x2000..=0x3fff).contains(&a.segments()[0])),
        "person_name" => person_name(value),
        _ => false,
    }
}

/// A span as the label attributes state it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    pub entity: String,
}

/// Reads `{"offset":N,"spans":[{"start":s,"end":e,"entity":"x"},...]}` strictly.
pub fn attributes(s: &str) -> Result<(u64, Vec<Span>), String> {
    let err = || format!("bad attributes: {s}");
    let rest = s.strip_prefix(r#"{"offset":"#).ok_or_else(err)?;
    let (offset, rest) = rest.split_once(r#","spans":["#).ok_or_else(err)?;
    let body = rest.strip_suffix("]}").ok_or_else(err)?;
    let mut spans = Vec::new();
    for item in body.split("},{") {
        let item = item.trim_start_matches('{').trim_end_matches('}');
        let f: Vec<&str> = item.split(',').collect();
        let [start, end, entity] = f[..] else {
            return Err(err());
        };
        let num = |kv: &str, k: &str| kv.strip_prefix(k).and_then(|v| v.parse().ok());
        spans.push(Span {
            start: num(start, r#""start":"#).ok_or_else(err)?,
            end: num(end, r#""end":"#).ok_or_else(err)?,
            entity: entity
                .strip_prefix(r#""entity":""#)
                .and_then(|e| e.strip_suffix('"'))
                .ok_or_else(err)?
                .to_string(),
        });
    }
    Ok((offset.parse().map_err(|_| err())?, spans))
}

/// Strict JSON (RFC 8259) syntax check of a whole text.
pub fn json(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    let mut i = 0;
    value(b, &mut i)?;
    ws(b, &mut i);
    if i == b.len() {
        Ok(())
    } else {
        Err(format!("trailing text at {i}"))
    }
}

fn ws(b: &[u8], i: &mut usize) {
    while b.get(*i).is_some_and(|c| b" \t\r\n".contains(c)) {
        *i += 1;
    }
}

fn value(b: &[u8], i: &mut usize) -> Result<(), String> {
    ws(b, i);
    match b.get(*i) {
        Some(b'{') => seq(b, i, b'}', |b, i| {
            string(b, i)?;
            ws(b, i);
            if b.get(*i) != Some(&b':') {
                return Err(format!("expected ':' at {i}"));
            }
            *i += 1;
            value(b, i)
        }),
        Some(b'[') => seq(b, i, b']', value),
        Some(b'"') => string(b, i),
        Some(_) => {
            let start = *i;
            while b
                .get(*i)
                .is_some_and(|c| c.is_ascii_alphanumeric() || b"+-.".contains(c))
            {
                *i += 1;
            }
            let tok = std::str::from_utf8(&b[start..*i]).map_err(|e| e.to_string())?;
            let ok = matches!(tok, "true" | "false" | "null") || tok.parse::<f64>().is_ok();
            if ok {
                Ok(())
            } else {
                Err(format!("bad token '{tok}' at {start}"))
            }
        }
        None => Err("unexpected end".into()),
    }
}

fn seq(
    b: &[u8],
    i: &mut usize,
    close: u8,
    mut item: impl FnMut(&[u8], &mut usize) -> Result<(), String>,
) -> Result<(), String> {
    *i += 1;
    ws(b, i);
    if b.get(*i) == Some(&close) {
        *i += 1;
        return Ok(());
    }
    loop {
        ws(b, i);
        item(b, i)?;
        ws(b, i);
        match b.get(*i) {
            Some(b',') => *i += 1,
            Some(&c) if c == close => {
                *i += 1;
                return Ok(());
            }
            _ => return Err(format!("expected ',' or close at {i}")),
        }
    }
}

fn string(b: &[u8], i: &mut usize) -> Result<(), String> {
    if b.get(*i) != Some(&b'"') {
        return Err(format!("expected a string at {i}"));
    }
    *i += 1;
    loop {
        match b.get(*i) {
            Some(b'"') => {
                *i += 1;
                return Ok(());
            }
            Some(b'\\') => match b.get(*i + 1) {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => *i += 2,
                Some(b'u')
                    if b.get(*i + 2..*i + 6)
                        .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) =>
                {
                    *i += 6
                }
                _ => return Err(format!("bad escape at {i}")),
            },
            Some(&c) if c < 0x20 => return Err(format!("raw control byte at {i}")),
            Some(_) => *i += 1,
            None => return Err("unterminated string".into()),
        }
    }
}
