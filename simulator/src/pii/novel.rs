//! The `novel_formats` kind: PII in spellings and contexts the Curator's fast path does
//! not know (SSNs as `123.45.6789`, cards with dots, local phone numbers after "call me
//! at", obfuscated emails, names after "patient:", keys after unusual keywords), with
//! exact spans like every other kind. The slow path has to find these and learn rules.
//!
//! Each writer keeps one spelling per entity for its life (`Draw::fixed`, as a buggy
//! logger would), contexts are drawn per record. Twins carry stand-ins in the same
//! contexts, so a context alone never gives a label away.

use super::content::{Draw, Level, Msg, Record, Seg};
use super::draw::{ALNUM, below, between, chars, digit_text, pick};
use super::entities::{self as ent, Entity};

/// Entities the novel kind leaks.
pub(super) const NOVEL: [Entity; 6] = [
    Entity::Ssn,
    Entity::CreditCard,
    Entity::Phone,
    Entity::Email,
    Entity::PersonName,
    Entity::ApiKey,
];

/// A record carrying `e` in a novel spelling and context (a stand-in in a twin);
/// entities the kind does not leak fall back to the ordinary leaks.
pub(super) fn record(d: &mut Draw, e: Entity) -> Record {
    if !NOVEL.contains(&e) {
        return super::leaks::pii(d, e);
    }
    let v = value(d, e);
    let (level, logger, before, after) = context(d, e);
    Record::new(level, logger, Msg::text(before).s(v).t(after))
}

/// The value of `e` in this writer's novel spelling, or a stand-in in a twin.
fn value(d: &mut Draw, e: Entity) -> Seg {
    if d.twin {
        return d.stand_in(e);
    }
    let variant = match d.fixed {
        Some(v) => v,
        None => d.rng.next_u64(),
    };
    // Spread one writer's variant over the entities (each picks its own spelling).
    let v = variant.rotate_left(8 * NOVEL.iter().position(|x| *x == e).unwrap_or(0) as u32);
    let rng = &mut *d.rng;
    let s = match e {
        Entity::Ssn => {
            let mut area = between(rng, 1, 899);
            while area == 666 {
                area = between(rng, 1, 899);
            }
            let (group, serial) = (between(rng, 1, 99), between(rng, 1, 9999));
            match v % 3 {
                0 => format!("{area:03}.{group:02}.{serial:04}"),
                1 => format!("{area:03}/{group:02}/{serial:04}"),
                _ => format!("{area:03}{group:02}{serial:04}")
                    .chars()
                    .map(String::from)
                    .collect::<Vec<_>>()
                    .join("-"),
            }
        }
        Entity::CreditCard => {
            let ds = digit_text(&ent::card_digits(rng));
            let sizes: &[usize] = match ds.len() {
                16 => &[4, 4, 4, 4],
                15 => &[4, 6, 5],
                _ => &[4, 6, 4],
            };
            let mut groups = Vec::new();
            let mut at = 0;
            for &n in sizes {
                groups.push(&ds[at..(at + n).min(ds.len())]);
                at += n;
            }
            groups.join([".", "/", "_"][(v % 3) as usize])
        }
        Entity::Phone => {
            let (a, x, n) = (nanp3(rng), nanp3(rng), below(rng, 10_000));
            match v % 3 {
                0 => format!("{x} {n:04}"),
                1 => format!("{a} {x} {n:04}"),
                _ => format!("{a}/{x}/{n:04}"),
            }
        }
        Entity::Email => {
            let who = ent::person(rng);
            let domain = *pick(rng, ent::MAIL_DOMAINS);
            let local = format!("{}.{}", who.first, who.last);
            match v % 3 {
                0 => format!(
                    "{} at {}",
                    local.replace('.', " dot "),
                    domain.replace('.', " dot ")
                ),
                1 => format!("{local} [at] {}", domain.replace('.', " [dot] ")),
                _ => format!("{local}(at){domain}"),
            }
        }
        Entity::PersonName => ent::person(rng).name,
        _ => chars(rng, 32, ALNUM),
    };
    Seg::Pii(e, s)
}

/// NANP area code or exchange: 2-9 first, never N11.
fn nanp3(rng: &mut crate::rng::Rng) -> u64 {
    loop {
        let n = between(rng, 200, 999);
        if n % 100 != 11 {
            return n;
        }
    }
}

type Context = (Level, &'static str, &'static str, &'static str);

/// Where a service writes `e`: level, logger, text before and after the value.
fn context(d: &mut Draw, e: Entity) -> Context {
    use Level::*;
    let options: &[Context] = match e {
        Entity::Ssn => &[
            (Info, "KycService", "tax id ", " verified against registry"),
            (Debug, "KycService", "applicant national id: ", ""),
            (
                Warn,
                "OnboardingService",
                "W-9 on file, taxpayer ",
                " needs review",
            ),
            (
                Info,
                "OnboardingService",
                "identity document no ",
                " accepted",
            ),
        ],
        Entity::CreditCard => &[
            (Info, "RefundService", "refund to cc ", " issued"),
            (Debug, "WalletService", "instrument on file: ", ""),
            (
                Warn,
                "BillingService",
                "payment instrument ",
                " expires this month",
            ),
            (
                Info,
                "RefundService",
                "chargeback opened on pan ",
                " by issuer",
            ),
        ],
        Entity::Phone => &[
            (
                Info,
                "SupportService",
                "customer says call me at ",
                " after 5pm",
            ),
            (Info, "SupportService", "ticket note: reach me on ", ""),
            (
                Debug,
                "NotifyService",
                "sms queued for mobile ",
                " (retry 0)",
            ),
            (
                Info,
                "CallbackService",
                "callback requested, dial ",
                " asap",
            ),
        ],
        Entity::Email => &[
            (
                Info,
                "SupportService",
                "ticket note: contact ",
                " for details",
            ),
            (Debug, "MailService", "reply-to set to ", ""),
            (Info, "AccountService", "forwarding address ", " confirmed"),
            (
                Warn,
                "MailService",
                "bounce reported for mailbox ",
                " (soft)",
            ),
        ],
        Entity::PersonName => &[
            (Info, "ClinicService", "patient: ", " admitted to ward 4"),
            (Info, "FrontDesk", "guest ", " checked in, room 212"),
            (Debug, "ContractService", "agreement signed by ", ""),
            (Info, "EventService", "attendee=", " badge printed"),
        ],
        _ => &[
            (Debug, "LicenseService", "license key ", " activated"),
            (Debug, "CryptoService", "passphrase: ", ""),
            (Info, "SigningService", "signing key=", " loaded"),
            (Debug, "PartnerClient", "x-auth-code: ", " sent upstream"),
        ],
    };
    *pick(d.rng, options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn values_have_their_novel_spellings() {
        let mut rng = Rng::new(7);
        for v in 0..3u64 {
            let mut d = Draw::new(&mut rng, 0, Some(v));
            let Seg::Pii(_, ssn) = value(&mut d, Entity::Ssn) else {
                panic!("a value")
            };
            let digits = ssn.chars().filter(char::is_ascii_digit).count();
            assert_eq!(digits, 9, "{ssn}");
            assert!(ssn.contains(['.', '/', '-']), "{ssn}");
        }
        let mut d = Draw::new(&mut rng, 0, None);
        d.twin = true;
        assert!(matches!(value(&mut d, Entity::Ssn), Seg::Look(..)));
    }
}
