//! Hard negatives: values that pass a naive PII pattern or validator but are not
//! personal data. Only context tells them apart (see `datasets/pii.md`).

use super::draw::{
    ALNUM, DIGITS, HEX, MONTHS, below, between, chars, civil, digit_text, iso, luhn_check_digit,
    pick, weekday,
};
use super::entities::luhn_number;
use crate::kinds::kinds;
use crate::rng::Rng;

kinds! {
    /// Types of a `pii_lookalike` span.
    Lookalike, family "pii lookalike" {
        Uuid => "uuid",
        /// ORD-2026-0041872, or 16 digits that fail Luhn (a naive card regex matches).
        OrderNumber => "order_number",
        /// INV-004512, or NNN-NN-NNNN passing the SSN area rules.
        InvoiceNumber => "invoice_number",
        /// md5, sha1 (40 characters, as an AWS secret), sha256 in hex.
        Hash => "hash",
        /// Unix seconds (10 digits, as a bare phone number) or millis (13).
        Epoch => "epoch",
        /// ISO 8601, log4j, RFC 1123 and compact timestamps inside messages.
        Timestamp => "timestamp",
        /// 1.2.3, v2.14.0, or 10.2.3.4 with every part <= 255 (a valid IPv4 address).
        Version => "version",
        /// HDFS block ids; some carry a Luhn-valid 16-digit card-prefixed number.
        BlockId => "block_id",
        /// req_ + 24 alphanumerics (as an API key), 32 hex, or a ULID.
        RequestId => "request_id",
        Port => "port",
        /// Machine addresses inside the network (RFC 1918, loopback, ULA, link-local).
        PrivateIp => "private_ip",
        /// System accounts where a person's name would stand ("user deploy logged in").
        SystemAccount => "system_account",
        /// A value already masked or redacted (`************4242`, `***-**-6789`,
        /// `m***@gmail.com`, `[REDACTED]`) where a careless service would leak it.
        Masked => "masked",
    }
}

pub(super) fn uuid(rng: &mut Rng) -> String {
    let h = chars(rng, 32, HEX);
    let variant = *pick(rng, &['8', '9', 'a', 'b']);
    format!(
        "{}-{}-4{}-{variant}{}-{}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..]
    )
}

/// 16 digits with a card brand's first digit whose check digit is off by one.
fn non_luhn16(rng: &mut Rng) -> String {
    let mut ds: Vec<u8> = vec![*pick(rng, &[4u8, 5, 3, 6])];
    while ds.len() < 15 {
        ds.push(below(rng, 10) as u8);
    }
    ds.push((luhn_check_digit(&ds) + 1) % 10);
    digit_text(&ds)
}

pub(super) fn order_number(rng: &mut Rng) -> String {
    match below(rng, 3) {
        0 => format!("ORD-2026-{:07}", below(rng, 10_000_000)),
        1 => chars(rng, 1, b"123456789") + &chars(rng, 9, DIGITS),
        _ => non_luhn16(rng),
    }
}

pub(super) fn invoice_number(rng: &mut Rng) -> String {
    if below(rng, 2) == 0 {
        return format!("INV-{:06}", below(rng, 1_000_000));
    }
    let mut area = between(rng, 1, 899);
    while area == 666 {
        area = between(rng, 1, 899);
    }
    format!(
        "{area:03}-{:02}-{:04}",
        between(rng, 1, 99),
        between(rng, 1, 9999)
    )
}

pub(super) fn hash(rng: &mut Rng) -> String {
    let len = *pick(rng, &[32, 40, 64]);
    chars(rng, len, HEX)
}

/// Seconds or millis within a month of `ts_ns`.
pub(super) fn epoch(rng: &mut Rng, ts_ns: i64) -> String {
    let secs = ts_ns / 1_000_000_000 + between(rng, 0, 60 * 86_400) as i64 - 30 * 86_400;
    if below(rng, 2) == 0 {
        secs.to_string()
    } else {
        format!("{secs}{:03}", below(rng, 1000))
    }
}

pub(super) fn timestamp(rng: &mut Rng, ts_ns: i64) -> String {
    let t = ts_ns + between(rng, 0, 7 * 86_400_000) as i64 * 1_000_000;
    let (y, mo, d, h, mi, s, ms) = civil(t);
    match below(rng, 4) {
        0 => iso(t),
        1 => format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02},{ms:03}"),
        2 => format!(
            "{}, {d:02} {} {y:04} {h:02}:{mi:02}:{s:02} GMT",
            weekday(t),
            MONTHS[(mo - 1) as usize]
        ),
        _ => format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}"),
    }
}

pub(super) fn version(rng: &mut Rng) -> String {
    match below(rng, 4) {
        0 => format!("{}.{}.{}", below(rng, 20), below(rng, 40), below(rng, 30)),
        1 => format!("v{}.{}.{}", below(rng, 5), below(rng, 30), below(rng, 10)),
        2 => format!(
            "{}.{}.{}-rc{}",
            below(rng, 10),
            below(rng, 30),
            below(rng, 10),
            between(rng, 1, 4)
        ),
        _ => format!(
            "{}.{}.{}.{}",
            between(rng, 1, 30),
            below(rng, 20),
            below(rng, 256),
            below(rng, 256)
        ),
    }
}

/// HDFS block ids: `blk_-<i64>`, `blk_<id>_<genstamp>`, or a card-like Luhn-valid id.
pub(super) fn block_id(rng: &mut Rng) -> String {
    match below(rng, 3) {
        0 => format!(
            "blk_-{}",
            between(rng, 1_000_000_000_000_000_000, i64::MAX as u64)
        ),
        1 => format!(
            "blk_{}_{}",
            between(rng, 1_073_741_825, 1_073_999_999),
            between(rng, 1001, 99_999)
        ),
        _ => {
            let prefix = *pick(rng, &[4u64, 51, 52, 53, 54, 55]);
            format!("blk_{}", digit_text(&luhn_number(rng, prefix, 16)))
        }
    }
}

pub(super) fn request_id(rng: &mut Rng) -> String {
    match below(rng, 3) {
        0 => format!("req_{}", chars(rng, 24, ALNUM)),
        1 => chars(rng, 32, HEX),
        _ => chars(rng, 1, b"01") + &chars(rng, 25, b"0123456789ABCDEFGHJKMNPQRSTVWXYZ"),
    }
}

pub(super) fn port(rng: &mut Rng) -> String {
    if below(rng, 2) == 0 {
        pick(rng, &[5432u64, 6379, 8080, 8443, 9092, 27017, 3306]).to_string()
    } else {
        between(rng, 1024, 65535).to_string()
    }
}

pub(super) fn private_ip(rng: &mut Rng) -> String {
    match below(rng, 6) {
        0 | 1 => format!(
            "10.{}.{}.{}",
            below(rng, 256),
            below(rng, 256),
            between(rng, 1, 254)
        ),
        2 => format!(
            "172.{}.{}.{}",
            between(rng, 16, 31),
            below(rng, 256),
            between(rng, 1, 254)
        ),
        3 => format!("192.168.{}.{}", below(rng, 256), between(rng, 1, 254)),
        4 => format!(
            "fd{:02x}:{:x}:{:x}::{:x}",
            below(rng, 256),
            below(rng, 0x10000),
            below(rng, 0x10000),
            between(rng, 1, 0xffff)
        ),
        _ => format!(
            "fe80::{:x}:{:x}ff:fe{:02x}:{:x}",
            below(rng, 0x10000),
            below(rng, 256),
            below(rng, 256),
            between(rng, 1, 0xffff)
        ),
    }
}

pub(super) fn system_account(rng: &mut Rng) -> String {
    pick(
        rng,
        &[
            "root",
            "deploy",
            "ubuntu",
            "ec2-user",
            "jenkins",
            "svc-backup",
            "postgres",
            "www-data",
            "ansible",
        ],
    )
    .to_string()
}

/// A value of `kind`, drawn fresh.
pub(super) fn value(rng: &mut Rng, kind: Lookalike, ts_ns: i64) -> String {
    match kind {
        Lookalike::Uuid => uuid(rng),
        Lookalike::OrderNumber => order_number(rng),
        Lookalike::InvoiceNumber => invoice_number(rng),
        Lookalike::Hash => hash(rng),
        Lookalike::Epoch => epoch(rng, ts_ns),
        Lookalike::Timestamp => timestamp(rng, ts_ns),
        Lookalike::Version => version(rng),
        Lookalike::BlockId => block_id(rng),
        Lookalike::RequestId => request_id(rng),
        Lookalike::Port => port(rng),
        Lookalike::PrivateIp => private_ip(rng),
        Lookalike::SystemAccount => system_account(rng),
        Lookalike::Masked => super::masked::any(rng),
    }
}
