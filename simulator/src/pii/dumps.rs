//! The debug dump of a whole user object (the Curator's example), leaking or, in a
//! twin, with its fields masked as a careful `toString` writes them.

use super::content::{Draw, Level, Msg, Record, Seg, Value};
use super::draw::between;
use super::entities::{Entity, Person};

/// A user object carrying `who`'s name and email, and `extra` (values already drawn
/// for the entity the record must carry).
pub(super) fn user_dump(d: &mut Draw, who: &Person, extra: Vec<(Entity, Seg)>) -> Record {
    let mut segs = vec![
        (Entity::PersonName, d.pii(Entity::PersonName, who)),
        (Entity::Email, d.pii(Entity::Email, who)),
    ];
    segs.extend(extra);
    dump_record(d, segs)
}

/// A debug dump carrying exactly `entities`, with the spellings fixed for the run.
pub(super) fn dump(d: &mut Draw, entities: &[Entity]) -> Record {
    let who = d.person();
    let segs = entities.iter().map(|&e| (e, d.pii(e, &who))).collect();
    dump_record(d, segs)
}

/// The field of a user object that holds `e`.
fn key(e: Entity) -> &'static str {
    match e {
        Entity::PersonName => "name",
        Entity::Email => "email",
        Entity::Ssn => "ssn",
        Entity::Phone => "phone",
        _ => "card",
    }
}

/// `User{id=8471, name='John Smith', ...}` in text formats, `user.*` fields otherwise.
fn dump_record(d: &mut Draw, segs: Vec<(Entity, Seg)>) -> Record {
    use Level::*;
    let id = between(d.rng, 1000, 99_999);
    if d.structured {
        let mut r = Record::new(
            Debug,
            "CheckoutService",
            Msg::text("Payment failed for user"),
        )
        .num("user.id", id);
        for (e, s) in segs {
            r.fields.push((user_key(e), Value::Str(Msg(vec![s]))));
        }
        return r;
    }
    let mut m = Msg::text(&format!("Payment failed for user: User{{id={id}"));
    for (e, s) in segs {
        let quoted = matches!(e, Entity::PersonName | Entity::Email);
        m = m
            .t(&format!(", {}={}", key(e), if quoted { "'" } else { "" }))
            .s(s);
        if quoted {
            m = m.t("'");
        }
    }
    Record::new(Debug, "CheckoutService", m.t("}"))
}

fn user_key(e: Entity) -> &'static str {
    match e {
        Entity::PersonName => "user.name",
        Entity::Email => "user.email",
        Entity::Ssn => "user.ssn",
        Entity::Phone => "user.phone",
        _ => "user.card",
    }
}
