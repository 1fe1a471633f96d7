//! qb-traces: spans in, trace statistics out.
//!
//! Spans arrive as OTLP/HTTP (`POST /v1/traces`, JSON or protobuf) on a loopback
//! [`intake`]; [`otlp`] decodes them into [`Span`]s with only the facts we keep; the
//! [`Concentrator`] aggregates them into 10 s buckets per (service, resource, status)
//! with [`DDSketch`] percentiles and flushes closed buckets as `TraceRow`s, plus the
//! latest request per client endpoint as `RequestRow`s. Time comes from the spans and
//! from the caller's `now` (frame time), never from a clock, so replays are exact.

mod aggregate;
mod ddsketch;
mod error;
mod feed;
pub mod intake;
pub mod otlp;
mod span;

pub use aggregate::{Concentrator, ConcentratorConfig, ConcentratorStats};
pub use ddsketch::DDSketch;
pub use error::{Error, Result};
pub use feed::TraceFeed;
pub use intake::{Intake, IntakeConfig, IntakeStats};
pub use span::{Span, SpanKind};
