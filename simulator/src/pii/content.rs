//! What a log record says, independent of its format: a message made of plain text,
//! PII and lookalike segments, structured fields, and perhaps an exception. Formats
//! (`formats.rs`) escape and place the segments and record where they landed.

use super::draw::{below, between, pick};
use super::entities::{self as ent, Entity, Person};
use super::lookalikes::{self as look, Lookalike};
use super::masked;
use crate::rng::Rng;

/// A piece of a message. PII and lookalike values are kept apart so their byte spans
/// can be recorded after escaping.
#[derive(Debug, Clone)]
pub(super) enum Seg {
    Text(String),
    Pii(Entity, String),
    Look(Lookalike, String),
}

impl Seg {
    /// The text as written before any escaping.
    pub fn text(&self) -> &str {
        match self {
            Seg::Text(t) | Seg::Pii(_, t) | Seg::Look(_, t) => t,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub(super) struct Msg(pub Vec<Seg>);

impl Msg {
    pub fn text(s: &str) -> Self {
        Msg(vec![Seg::Text(s.into())])
    }
    pub fn t(mut self, s: &str) -> Self {
        self.0.push(Seg::Text(s.into()));
        self
    }
    pub fn s(mut self, seg: Seg) -> Self {
        self.0.push(seg);
        self
    }
    /// The text as written before any escaping.
    pub fn plain(&self) -> String {
        self.0.iter().map(Seg::text).collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    /// The recorder's normalised name.
    pub fn name(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

#[derive(Debug, Clone)]
pub(super) enum Value {
    Str(Msg),
    Num(String),
}

/// An exception: an application class (the format adds the package) and its message.
#[derive(Debug, Clone)]
pub(super) struct Failure {
    pub class: &'static str,
    pub msg: Msg,
    pub cause: Option<&'static str>,
}

#[derive(Debug, Clone)]
pub(super) struct Record {
    pub level: Level,
    /// Class (Java, JSON `logger`) that wrote it.
    pub logger: &'static str,
    /// A syslog program, facility and pid other than the service's (sshd, CRON, ...).
    pub program: Option<(&'static str, u32, u32)>,
    pub msg: Msg,
    /// Dotted keys nest one level in JSON (`user.email` -> {"user":{"email":..}}).
    pub fields: Vec<(&'static str, Value)>,
    pub failure: Option<Failure>,
}

impl Record {
    pub fn new(level: Level, logger: &'static str, msg: Msg) -> Self {
        Record {
            level,
            logger,
            program: None,
            msg,
            fields: Vec::new(),
            failure: None,
        }
    }
    pub fn field(mut self, key: &'static str, seg: Seg) -> Self {
        self.fields.push((key, Value::Str(Msg(vec![seg]))));
        self
    }
    pub fn field_msg(mut self, key: &'static str, msg: Msg) -> Self {
        self.fields.push((key, Value::Str(msg)));
        self
    }
    pub fn num(mut self, key: &'static str, n: u64) -> Self {
        self.fields.push((key, Value::Num(n.to_string())));
        self
    }
    pub fn fail(mut self, class: &'static str, msg: Msg, cause: Option<&'static str>) -> Self {
        self.failure = Some(Failure { class, msg, cause });
        self
    }
    pub fn program(mut self, tag: &'static str, facility: u32, pid: u32) -> Self {
        self.program = Some((tag, facility, pid));
        self
    }
}

/// Draws values for one record.
#[derive(Debug)]
pub(super) struct Draw<'a> {
    pub rng: &'a mut Rng,
    /// Time of the record, for JWT claims and epoch or timestamp lookalikes.
    pub ts_ns: i64,
    /// Spelling of every entity, fixed for a debug dump; drawn per value otherwise.
    pub fixed: Option<u64>,
    /// The format has fields of its own (JSON, logfmt).
    pub structured: bool,
    /// The negative twin of a PII record: every value asked of `pii` is a stand-in
    /// (masked, or a private address for an IP), labelled as a lookalike.
    pub twin: bool,
    /// Values land in a request line: stand-ins keep to URL-safe spellings.
    pub url_safe: bool,
}

impl<'a> Draw<'a> {
    pub fn new(rng: &'a mut Rng, ts_ns: i64, fixed: Option<u64>) -> Self {
        Draw {
            rng,
            ts_ns,
            fixed,
            structured: false,
            twin: false,
            url_safe: false,
        }
    }

    fn variant(&mut self) -> u64 {
        match self.fixed {
            Some(v) => v,
            None => self.rng.next_u64(),
        }
    }

    pub fn person(&mut self) -> Person {
        ent::person(self.rng)
    }

    /// A value of `e`; names and addresses belong to `who`. In a twin, a stand-in.
    pub fn pii(&mut self, e: Entity, who: &Person) -> Seg {
        let v = self.variant();
        // Spelled-out digits (variant 8) only where a person dictated them.
        let v = if e == Entity::Phone { v % 8 } else { v };
        self.pii_as(e, who, v)
    }

    /// A value of `e` in spelling `v` (see `entities.rs`). In a twin, a stand-in.
    pub fn pii_as(&mut self, e: Entity, who: &Person, v: u64) -> Seg {
        if self.twin {
            return self.stand_in(e);
        }
        let rng = &mut *self.rng;
        let s = match e {
            Entity::CreditCard => ent::credit_card(rng, v),
            Entity::Ssn => ent::ssn(rng, v),
            Entity::Phone => ent::phone(rng, v),
            Entity::Email => ent::email(rng, who, v),
            Entity::ApiKey => ent::api_key(rng, v),
            Entity::BearerToken => ent::bearer_token(rng, v),
            Entity::Jwt => {
                let mail = ent::email(rng, who, 0);
                ent::jwt(rng, &mail, self.ts_ns / 1_000_000_000)
            }
            Entity::AwsAccessKey => ent::aws_access_key(rng),
            Entity::AwsSecretKey => ent::aws_secret_key(rng),
            Entity::Ipv4 => ent::ipv4(rng),
            Entity::Ipv6 => ent::ipv6(rng, v),
            Entity::PersonName => who.name.clone(),
        };
        Seg::Pii(e, s)
    }

    /// What a careful service writes where a careless one leaks `e`: a machine's
    /// address inside the network where an IP would be, else a masked value.
    pub fn stand_in(&mut self, e: Entity) -> Seg {
        if matches!(e, Entity::Ipv4 | Entity::Ipv6) && below(self.rng, 10) < 7 {
            return self.look(Lookalike::PrivateIp);
        }
        Seg::Look(
            Lookalike::Masked,
            masked::masked(self.rng, e, self.url_safe),
        )
    }

    pub fn look(&mut self, k: Lookalike) -> Seg {
        Seg::Look(k, look::value(self.rng, k, self.ts_ns))
    }

    pub fn n(&mut self, lo: u64, hi: u64) -> String {
        between(self.rng, lo, hi).to_string()
    }
}

/// What a record carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Carry {
    Pii(Entity),
    /// The negative twin of a record carrying the entity: its context, stand-ins for
    /// its values.
    Twin(Entity),
    Look,
    Clean,
}

/// A pick from a non-empty slice of entities.
pub(super) fn entity_of(rng: &mut Rng, entities: &[Entity]) -> Entity {
    *pick(rng, entities)
}
