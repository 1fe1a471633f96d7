//! Values already masked or redacted (`************4242`, `***-**-6789`,
//! `m***@gmail.com`, `[REDACTED]`): what a careful service writes where a careless one
//! leaks. They stand in for PII in the negative twin of every PII context, so the
//! context (logger, message, field name, request path) never gives a label away.

use super::draw::{ALNUM, DIGITS, base64url, below, between, chars, pick};
use super::entities::{self as ent, Entity};
use crate::rng::Rng;

/// A masked value of `e`'s kind. `url_safe` keeps to characters a request line
/// carries unescaped (no spaces, brackets or angle brackets).
pub(super) fn masked(rng: &mut Rng, e: Entity, url_safe: bool) -> String {
    let last4 = chars(rng, 4, DIGITS);
    let options: Vec<String> = match e {
        Entity::CreditCard => vec![
            format!("************{last4}"),
            format!(
                "{}******{last4}",
                pick(rng, &["411111", "545454", "601100", "371449"])
            ),
            format!("XXXXXXXXXXXX{last4}"),
            format!("**** **** **** {last4}"),
            "[CREDIT_CARD_REDACTED]".into(),
        ],
        Entity::Ssn => vec![
            format!("***-**-{last4}"),
            format!("XXX-XX-{last4}"),
            format!("*****{last4}"),
            format!("*** ** {last4}"),
            "[SSN_REDACTED]".into(),
        ],
        Entity::Phone => vec![
            format!("***-***-{last4}"),
            format!("+1******{last4}"),
            format!("+44*******{last4}"),
            format!("(***) ***-{last4}"),
            "[PHONE_REDACTED]".into(),
        ],
        Entity::Email => {
            let who = ent::person(rng);
            let domain = pick(rng, &["gmail.com", "outlook.com", "web.de", "proton.me"]);
            let last = who.last.chars().last().unwrap_or('x');
            vec![
                format!("{}***@{domain}", &who.first[..1]),
                format!("{}*****{last}@{domain}", &who.first[..1]),
                format!("***@{domain}"),
                format!("{}.***@***", &who.first[..1]),
                "[EMAIL_REDACTED]".into(),
            ]
        }
        Entity::ApiKey => {
            let tail = chars(rng, 4, ALNUM);
            vec![
                format!("sk_live_********************{tail}"),
                format!("ghp_********************************{tail}"),
                format!("AIza*******************************{tail}"),
                "********".into(),
                "[REDACTED]".into(),
            ]
        }
        Entity::BearerToken | Entity::AwsSecretKey => vec![
            "***".into(),
            "REDACTED".into(),
            "*".repeat(if e == Entity::AwsSecretKey { 40 } else { 32 }),
            "<redacted>".into(),
            "[REDACTED]".into(),
        ],
        Entity::Jwt => {
            let header = base64url(br#"{"alg":"RS256","typ":"JWT"}"#);
            vec![
                format!("{header}.REDACTED"),
                format!("{header}.***.***"),
                "eyJ***".into(),
                "<redacted>".into(),
                "[JWT_REDACTED]".into(),
            ]
        }
        Entity::AwsAccessKey => {
            let tail = chars(rng, 4, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567");
            let prefix = pick(rng, &["AKIA", "ASIA"]);
            vec![
                format!("{prefix}************{tail}"),
                format!("{prefix}****************"),
                format!("****************{tail}"),
                "********".into(),
                "[REDACTED]".into(),
            ]
        }
        // Truncated as analytics tools anonymise them: a network, not a person.
        Entity::Ipv4 => {
            let (a, b, c) = (between(rng, 20, 220), below(rng, 256), below(rng, 256));
            vec![
                format!("{a}.{b}.{c}.0"),
                format!("{a}.{b}.x.x"),
                format!("{a}.{b}.***.***"),
                "***.***.***.***".into(),
                "[IP_REDACTED]".into(),
            ]
        }
        Entity::Ipv6 => {
            let (a, b) = (between(rng, 0x2001, 0x2a0f), below(rng, 0x10000));
            vec![
                format!("{a:x}:{b:x}::"),
                format!("{a:x}:****:****::"),
                format!("{a:x}:{b:x}:x:x:x:x:x:x"),
                "*:*:*:*:*:*:*:*".into(),
                "[IP_REDACTED]".into(),
            ]
        }
        Entity::PersonName => {
            let who = ent::person(rng);
            vec![
                format!("{}***", &who.first[..1].to_ascii_uppercase()),
                format!("{}. {}.", initial(&who.name, 0), initial(&who.name, 1)),
                format!("{}*** {}****", initial(&who.name, 0), initial(&who.name, 1)),
                "***".into(),
                "[NAME_REDACTED]".into(),
            ]
        }
    };
    // The first three spellings of every kind are URL-safe.
    let n = if url_safe { 3 } else { options.len() as u64 };
    options[below(rng, n) as usize].clone()
}

/// The first character of the `n`th word of a name.
fn initial(name: &str, n: usize) -> char {
    name.split(' ')
        .nth(n)
        .and_then(|w| w.chars().next())
        .unwrap_or('X')
}

/// A masked value of any kind.
pub(super) fn any(rng: &mut Rng) -> String {
    let e = *pick(rng, &Entity::ALL);
    masked(rng, e, false)
}
