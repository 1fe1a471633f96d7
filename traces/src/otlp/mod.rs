//! OTLP/HTTP trace export bodies (`ExportTraceServiceRequest`), JSON and protobuf, into
//! [`Span`]s. Only the fields the statistics use are kept; everything else is skipped,
//! and anything malformed is refused with what was wrong and where.

pub mod json;
pub mod proto;

use crate::error::Result;
use crate::span::Span;

/// The two encodings OTLP/HTTP defines, told apart by Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Json,
    Protobuf,
}

impl Encoding {
    /// `application/json` or `application/x-protobuf` (parameters ignored).
    pub fn from_content_type(value: &str) -> Option<Encoding> {
        let essence = value.split(';').next().unwrap_or_default().trim();
        if essence.eq_ignore_ascii_case("application/json") {
            Some(Encoding::Json)
        } else if essence.eq_ignore_ascii_case("application/x-protobuf") {
            Some(Encoding::Protobuf)
        } else {
            None
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Json => "application/json",
            Encoding::Protobuf => "application/x-protobuf",
        }
    }

    /// The body of a successful (empty) ExportTraceServiceResponse.
    pub fn empty_response(self) -> &'static [u8] {
        match self {
            Encoding::Json => b"{}",
            Encoding::Protobuf => b"",
        }
    }
}

/// Decodes a request body in `encoding`, appending its spans to `out`.
pub fn decode(encoding: Encoding, body: &[u8], out: &mut Vec<Span>) -> Result<()> {
    match encoding {
        Encoding::Json => json::decode(body, out),
        Encoding::Protobuf => proto::decode(body, out),
    }
}
