//! Records that leak: each entity type in the contexts real services log it, and the
//! debug dump of a whole user object (the Curator's example).

use super::content::{Draw, Level, Msg, Record, Seg, Value};
use super::draw::{below, between};
use super::entities::{self as ent, Entity, Person};
use super::lookalikes::Lookalike;

/// A record carrying `e` (and sometimes a second entity or a lookalike beside it).
pub(super) fn pii(d: &mut Draw, e: Entity) -> Record {
    use Level::*;
    let who = d.person();
    let v = d.pii(e, &who);
    let m = Msg::default();
    match (e, below(d.rng, 3)) {
        (Entity::CreditCard, 0) => Record::new(
            Warn,
            "CheckoutService",
            m.t("charge declined for card ")
                .s(v)
                .t(" (insufficient funds)"),
        ),
        (Entity::CreditCard, 1) => {
            let order = d.look(Lookalike::OrderNumber);
            Record::new(Info, "CheckoutService", m.t("payment authorized"))
                .field("payment.card_number", v)
                .field("payment.order_id", order)
        }
        (Entity::CreditCard, _) => Record::new(Error, "CheckoutService", m.t("charge failed"))
            .fail(
                "CardDeclinedException",
                Msg::text("Card ").s(v).t(" was declined by the issuer"),
                None,
            ),
        (Entity::Ssn, 0) => Record::new(Info, "KycClient", m.t("KYC check passed for SSN ").s(v)),
        (Entity::Ssn, 1) => user_dump(d, &who, vec![v]),
        (Entity::Ssn, _) => {
            Record::new(Info, "TaxFormService", m.t("W-9 received")).field("customer.tin", v)
        }
        (Entity::Phone, 0) => Record::new(
            Info,
            "NotificationSender",
            m.t("SMS verification code sent to ").s(v),
        ),
        (Entity::Phone, 1) => {
            Record::new(Info, "ProfileController", m.t("contact updated")).field("contact.phone", v)
        }
        (Entity::Phone, _) => {
            let ticket = d.n(1000, 99_999);
            let v = if below(d.rng, 2) == 0 {
                Seg::Pii(e, ent::phone(d.rng, 8))
            } else {
                v
            };
            Record::new(
                Info,
                "TicketService",
                m.t(&format!(
                    "ticket #{ticket} note: customer says \"call me at "
                ))
                .s(v)
                .t("\""),
            )
        }
        (Entity::Email, 0) => {
            Record::new(Info, "NotificationSender", m.t("sending receipt to ").s(v))
        }
        (Entity::Email, 1) => {
            Record::new(Info, "AuthFilter", m.t("password reset requested")).field("user.email", v)
        }
        (Entity::Email, _) => Record::new(Error, "ProfileController", m.t("profile lookup failed"))
            .fail(
                "UserNotFoundException",
                Msg::text("No user with email \"").s(v).t("\""),
                None,
            ),
        (Entity::ApiKey, 0) => Record::new(
            Debug,
            "PaymentClient",
            m.t("calling provider with key ").s(v),
        ),
        (Entity::ApiKey, _) => {
            Record::new(Debug, "ConfigLoader", m.t("config loaded")).field("config.api_key", v)
        }
        (Entity::BearerToken | Entity::Jwt, 0) => Record::new(
            Debug,
            "HttpClient",
            m.t("outgoing request headers: Authorization: Bearer ").s(v),
        ),
        (Entity::BearerToken, _) => Record::new(
            Warn,
            "AuthFilter",
            m.t("rejected Authorization: Bearer ")
                .s(v)
                .t(" (token expired)"),
        ),
        (Entity::Jwt, _) => Record::new(Debug, "SessionStore", m.t("session cookie set"))
            .field("session.id_token", v),
        (Entity::AwsAccessKey, 0) => Record::new(
            Debug,
            "S3Uploader",
            m.t("S3 client configured with access key ").s(v),
        ),
        (Entity::AwsAccessKey, _) => Record::new(
            Debug,
            "ConfigLoader",
            m.t("env AWS_ACCESS_KEY_ID=")
                .s(v)
                .t(" AWS_REGION=eu-west-1"),
        ),
        (Entity::AwsSecretKey, 0) => {
            let id = d.pii(Entity::AwsAccessKey, &who);
            Record::new(
                Debug,
                "ConfigLoader",
                m.t("env AWS_ACCESS_KEY_ID=")
                    .s(id)
                    .t(" AWS_SECRET_ACCESS_KEY=")
                    .s(v),
            )
        }
        (Entity::AwsSecretKey, _) => Record::new(
            Debug,
            "S3Uploader",
            m.t("signing request with secret key ").s(v),
        ),
        (Entity::Ipv4 | Entity::Ipv6, 0) => {
            let mail = d.pii(Entity::Email, &who);
            Record::new(
                Info,
                "AuthFilter",
                m.t("login from ").s(v).t(" for ").s(mail),
            )
        }
        (Entity::Ipv4 | Entity::Ipv6, 1) => Record::new(
            Warn,
            "RateLimiter",
            m.t("rate limit exceeded for client ").s(v),
        ),
        (Entity::Ipv4 | Entity::Ipv6, _) => {
            Record::new(Info, "AuthFilter", m.t("session started")).field("client.ip", v)
        }
        (Entity::PersonName, 0) => person_name(d, v),
        (Entity::PersonName, 1) => {
            let order = d.look(Lookalike::OrderNumber);
            Record::new(
                Info,
                "NotificationSender",
                m.t("rendered email: Dear ")
                    .s(v)
                    .t(", your order ")
                    .s(order)
                    .t(" has shipped"),
            )
        }
        (Entity::PersonName, _) => Record::new(
            Debug,
            "ProfileController",
            m.t("updating profile name='").s(v).t("'"),
        ),
    }
}

fn person_name(d: &mut Draw, v: Seg) -> Record {
    use Level::*;
    let m = Msg::default();
    match below(d.rng, 3) {
        0 => Record::new(Info, "AuthFilter", m.t("user ").s(v).t(" logged in")),
        1 => Record::new(
            Warn,
            "ProfileController",
            m.t("user \"").s(v).t("\" not found"),
        ),
        _ => Record::new(Info, "TicketService", m.t("ticket assigned")).field("customer.name", v),
    }
}

/// The Curator's example: a debug line serialising a whole user object. `extra` are
/// values already drawn for the entity the record must carry.
fn user_dump(d: &mut Draw, who: &Person, extra: Vec<Seg>) -> Record {
    let mut segs = vec![
        ("name", Seg::Pii(Entity::PersonName, who.name.clone())),
        ("email", d.pii(Entity::Email, who)),
    ];
    segs.extend(extra.into_iter().map(|s| (seg_key(&s), s)));
    dump_record(d, segs)
}

/// A debug dump carrying exactly `entities`, with the spellings fixed for the run.
pub(super) fn dump(d: &mut Draw, entities: &[Entity]) -> Record {
    let who = d.person();
    let segs = entities
        .iter()
        .map(|&e| {
            let s = d.pii(e, &who);
            (seg_key(&s), s)
        })
        .collect();
    dump_record(d, segs)
}

fn seg_key(s: &Seg) -> &'static str {
    match s {
        Seg::Pii(Entity::PersonName, _) => "name",
        Seg::Pii(Entity::Email, _) => "email",
        Seg::Pii(Entity::Ssn, _) => "ssn",
        Seg::Pii(Entity::Phone, _) => "phone",
        Seg::Pii(Entity::CreditCard, _) => "card",
        _ => "value",
    }
}

/// `User{id=8471, name='John Smith', ...}` in text formats, `user.*` fields otherwise.
fn dump_record(d: &mut Draw, segs: Vec<(&'static str, Seg)>) -> Record {
    use Level::*;
    let id = between(d.rng, 1000, 99_999);
    if d.structured {
        let mut r = Record::new(
            Debug,
            "CheckoutService",
            Msg::text("Payment failed for user"),
        )
        .num("user.id", id);
        for (key, s) in segs {
            r.fields.push((user_key(key), Value::Str(Msg(vec![s]))));
        }
        return r;
    }
    let mut m = Msg::text(&format!("Payment failed for user: User{{id={id}"));
    for (key, s) in segs {
        let quoted = matches!(key, "name" | "email");
        m = m
            .t(&format!(", {key}={}", if quoted { "'" } else { "" }))
            .s(s);
        if quoted {
            m = m.t("'");
        }
    }
    Record::new(Debug, "CheckoutService", m.t("}"))
}

fn user_key(key: &str) -> &'static str {
    match key {
        "name" => "user.name",
        "email" => "user.email",
        "ssn" => "user.ssn",
        "phone" => "user.phone",
        _ => "user.card",
    }
}
