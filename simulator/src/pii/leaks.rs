//! Records that leak: each entity type in the contexts real services log it, at least
//! four per entity. Payment and identity data here; credentials and addresses in
//! `secrets.rs`; whole user objects in `dumps.rs`. In a twin (`Draw::twin`) the same
//! contexts carry stand-ins, so no context gives a label away.

use super::content::{Draw, Level, Msg, Record, Seg};
use super::draw::{DIGITS, below, between, chars};
use super::dumps;
use super::entities::{Entity, Person};
use super::lookalikes::Lookalike;
use super::secrets;

/// A record carrying `e` (and sometimes a second entity or a lookalike beside it).
pub(super) fn pii(d: &mut Draw, e: Entity) -> Record {
    let who = d.person();
    let v = d.pii(e, &who);
    match e {
        Entity::CreditCard => card(d, v),
        Entity::Ssn => ssn(d, &who, v),
        Entity::Phone => phone(d, &who, v),
        Entity::Email => email(d, v),
        Entity::PersonName => person_name(d, v),
        _ => secrets::pii(d, e, &who, v),
    }
}

/// The last four digits of a value (four fresh ones where it shows fewer).
fn last4(d: &mut Draw, v: &Seg) -> String {
    let ds: Vec<char> = v.text().chars().filter(char::is_ascii_digit).collect();
    if ds.len() < 4 {
        return chars(d.rng, 4, DIGITS);
    }
    ds[ds.len() - 4..].iter().collect()
}

fn card(d: &mut Draw, v: Seg) -> Record {
    use Level::*;
    let m = Msg::default();
    match below(d.rng, 6) {
        0 => Record::new(
            Warn,
            "CheckoutService",
            m.t("charge declined for card ")
                .s(v)
                .t(" (insufficient funds)"),
        ),
        1 => {
            let order = d.look(Lookalike::OrderNumber);
            Record::new(Info, "CheckoutService", m.t("payment authorized"))
                .field("payment.card_number", v)
                .field("payment.order_id", order)
        }
        2 => Record::new(Error, "CheckoutService", m.t("charge failed")).fail(
            "CardDeclinedException",
            Msg::text("Card ").s(v).t(" was declined by the issuer"),
            None,
        ),
        3 => {
            let (order, cents) = (d.look(Lookalike::OrderNumber), d.n(500, 99_999));
            Record::new(
                Info,
                "PaymentService",
                m.t("charged card ")
                    .s(v)
                    .t(" for order ")
                    .s(order)
                    .t(&format!(" amount={cents} currency=EUR")),
            )
        }
        4 => {
            let last4 = last4(d, &v);
            Record::new(
                Debug,
                "WalletService",
                m.t(&format!("stored payment method ending {last4} (pan="))
                    .s(v)
                    .t(")"),
            )
        }
        _ => {
            let cents = between(d.rng, 500, 20_000);
            Record::new(Info, "RefundService", m.t("refund issued"))
                .num("amount_cents", cents)
                .field("card_number", v)
        }
    }
}

fn ssn(d: &mut Draw, who: &Person, v: Seg) -> Record {
    use Level::*;
    let m = Msg::default();
    match below(d.rng, 5) {
        0 => Record::new(Info, "KycClient", m.t("KYC check passed for SSN ").s(v)),
        1 => dumps::user_dump(d, who, vec![(Entity::Ssn, v)]),
        2 => Record::new(Info, "TaxFormService", m.t("W-9 received")).field("customer.tin", v),
        3 => {
            let applicant = d.look(Lookalike::Uuid);
            Record::new(
                Warn,
                "KycClient",
                m.t("identity mismatch: SSN ")
                    .s(v)
                    .t(" does not match applicant ")
                    .s(applicant),
            )
        }
        _ => Record::new(Error, "TaxFormService", m.t("1099 export failed")).fail(
            "TinValidationException",
            Msg::text("TIN ")
                .s(v)
                .t(" rejected by the IRS TIN matching service"),
            None,
        ),
    }
}

fn phone(d: &mut Draw, who: &Person, v: Seg) -> Record {
    use Level::*;
    let m = Msg::default();
    match below(d.rng, 5) {
        0 => Record::new(
            Info,
            "NotificationSender",
            m.t("SMS verification code sent to ").s(v),
        ),
        1 => {
            Record::new(Info, "ProfileController", m.t("contact updated")).field("contact.phone", v)
        }
        2 => {
            let ticket = d.n(1000, 99_999);
            // Spelled out where the customer dictated it.
            let v = if below(d.rng, 2) == 0 {
                d.pii_as(Entity::Phone, who, 8)
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
        3 => Record::new(
            Warn,
            "SmsGateway",
            m.t("Twilio rejected message: invalid 'To' phone number ")
                .s(v)
                .t(" (code 21211)"),
        ),
        _ => {
            let at = d.look(Lookalike::Timestamp);
            Record::new(Info, "CallbackService", m.t("callback scheduled"))
                .field("callback.phone", v)
                .field("callback.at", at)
        }
    }
}

fn email(d: &mut Draw, v: Seg) -> Record {
    use Level::*;
    let m = Msg::default();
    match below(d.rng, 5) {
        0 => Record::new(Info, "NotificationSender", m.t("sending receipt to ").s(v)),
        1 => {
            Record::new(Info, "AuthFilter", m.t("password reset requested")).field("user.email", v)
        }
        2 => Record::new(Error, "ProfileController", m.t("profile lookup failed")).fail(
            "UserNotFoundException",
            Msg::text("No user with email \"").s(v).t("\""),
            None,
        ),
        3 => {
            let attempt = d.n(1, 5);
            Record::new(
                Warn,
                "AuthFilter",
                m.t("login failed for ")
                    .s(v)
                    .t(&format!(": bad credentials (attempt {attempt}/5)")),
            )
        }
        _ => Record::new(Info, "NewsletterService", m.t("subscription confirmed"))
            .field("subscriber.email", v)
            .field("subscriber.list", Seg::Text("weekly-deals".into())),
    }
}

fn person_name(d: &mut Draw, v: Seg) -> Record {
    use Level::*;
    let m = Msg::default();
    match below(d.rng, 6) {
        0 => Record::new(Info, "AuthFilter", m.t("user ").s(v).t(" logged in")),
        1 => Record::new(
            Warn,
            "ProfileController",
            m.t("user \"").s(v).t("\" not found"),
        ),
        2 => Record::new(Info, "TicketService", m.t("ticket assigned")).field("customer.name", v),
        3 => {
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
        4 => Record::new(
            Debug,
            "ProfileController",
            m.t("updating profile name='").s(v).t("'"),
        ),
        _ => {
            let order = d.look(Lookalike::OrderNumber);
            Record::new(Info, "ShippingService", m.t("label created"))
                .field("shipment.order", order)
                .field("shipment.recipient", v)
        }
    }
}
