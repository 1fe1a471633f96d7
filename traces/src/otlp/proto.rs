//! OTLP protobuf, decoded by hand: a tiny wire-format reader for the handful of fields
//! we keep (no prost, no codegen). Unknown fields are skipped by wire type, as protobuf
//! requires; every length is checked against what remains, so no input can panic or
//! make us allocate more than the body.
//!
//! Field numbers (opentelemetry-proto v1):
//! ExportTraceServiceRequest { 1: repeated ResourceSpans }
//! ResourceSpans { 1: Resource, 2: repeated ScopeSpans }
//! Resource { 1: repeated KeyValue }        ScopeSpans { 2: repeated Span }
//! Span { 1: trace_id, 2: span_id, 5: name, 6: kind, 7: start fixed64, 8: end fixed64,
//!        9: repeated KeyValue, 15: Status }
//! Status { 3: code }   KeyValue { 1: key, 2: AnyValue }
//! AnyValue { 1: string, 2: bool, 3: int64, 4: double, 5: array, 6: kvlist, 7: bytes }

use crate::error::{Error, Result};
use crate::span::{AttrValue, Span, SpanKind, UNKNOWN_SERVICE};

/// A field's payload.
#[derive(Debug, Clone, Copy)]
enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32,
}

/// Reads the fields of one message; offsets are relative to the whole body so errors
/// point at the byte.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Offset of `buf[0]` in the body.
    base: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], base: usize) -> Self {
        Reader { buf, pos: 0, base }
    }

    fn err(&self, what: impl Into<String>) -> Error {
        Error::Proto {
            offset: self.base + self.pos,
            what: what.into(),
        }
    }

    fn varint(&mut self) -> Result<u64> {
        let mut v = 0u64;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(self.err("truncated varint"));
            };
            self.pos += 1;
            if i == 9 && b > 1 {
                return Err(self.err("varint longer than 64 bits"));
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.err("varint longer than 10 bytes"))
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| {
                self.err(format!(
                    "{what}: length {n} runs past the end ({} bytes left)",
                    self.buf.len() - self.pos
                ))
            })?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// The next field as (number, payload, body offset of the payload), or None at the end.
    fn next(&mut self) -> Result<Option<(u64, Value<'a>, usize)>> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = key >> 3;
        if field == 0 {
            return Err(self.err("field number 0"));
        }
        let at = self.base + self.pos;
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                let b = self.take(8, "fixed64")?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Value::Fixed64(u64::from_le_bytes(a))
            }
            2 => {
                let n = self.varint()?;
                let n = usize::try_from(n).map_err(|_| self.err("length does not fit"))?;
                let at = self.base + self.pos;
                return Ok(Some((field, Value::Bytes(self.take(n, "bytes")?), at)));
            }
            5 => {
                self.take(4, "fixed32")?;
                Value::Fixed32
            }
            w => return Err(self.err(format!("field {field}: unsupported wire type {w}"))),
        };
        Ok(Some((field, value, at)))
    }
}

fn expect_bytes<'a>(field: &str, value: Value<'a>, at: usize) -> Result<&'a [u8]> {
    match value {
        Value::Bytes(b) => Ok(b),
        other => Err(Error::Proto {
            offset: at,
            what: format!("{field}: expected a length-delimited field, found {other:?}"),
        }),
    }
}

fn utf8<'a>(field: &str, b: &'a [u8], at: usize) -> Result<&'a str> {
    std::str::from_utf8(b).map_err(|e| Error::Proto {
        offset: at + e.valid_up_to(),
        what: format!("{field}: invalid UTF-8"),
    })
}

/// Decodes a protobuf ExportTraceServiceRequest, appending its spans to `out`.
pub fn decode(body: &[u8], out: &mut Vec<Span>) -> Result<()> {
    let mut r = Reader::new(body, 0);
    while let Some((field, value, at)) = r.next()? {
        if field == 1 {
            resource_spans(expect_bytes("resource_spans", value, at)?, at, out)?;
        }
    }
    Ok(())
}

fn resource_spans(buf: &[u8], base: usize, out: &mut Vec<Span>) -> Result<()> {
    // The resource may follow the spans on the wire: find it first.
    let mut service = None;
    let mut r = Reader::new(buf, base);
    while let Some((field, value, at)) = r.next()? {
        if field == 1 {
            service = resource_service(expect_bytes("resource", value, at)?, at)?.or(service);
        }
    }
    let service = service.unwrap_or(UNKNOWN_SERVICE);
    let mut r = Reader::new(buf, base);
    while let Some((field, value, at)) = r.next()? {
        if field == 2 {
            let mut s = Reader::new(expect_bytes("scope_spans", value, at)?, at);
            while let Some((field, value, at)) = s.next()? {
                if field == 2 {
                    out.push(span(expect_bytes("span", value, at)?, at, service)?);
                }
            }
        }
    }
    Ok(())
}

fn resource_service(buf: &[u8], base: usize) -> Result<Option<&str>> {
    let mut service = None;
    let mut r = Reader::new(buf, base);
    while let Some((field, value, at)) = r.next()? {
        if field == 1 {
            let (key, value) = key_value(expect_bytes("attribute", value, at)?, at)?;
            if key == "service.name"
                && let AttrValue::Str(s) = value
            {
                service = Some(s);
            }
        }
    }
    Ok(service)
}

fn key_value(buf: &[u8], base: usize) -> Result<(&str, AttrValue<'_>)> {
    let mut key = "";
    let mut val = AttrValue::Other;
    let mut r = Reader::new(buf, base);
    while let Some((field, value, at)) = r.next()? {
        match field {
            1 => key = utf8("KeyValue.key", expect_bytes("KeyValue.key", value, at)?, at)?,
            2 => val = any_value(expect_bytes("KeyValue.value", value, at)?, at)?,
            _ => {}
        }
    }
    Ok((key, val))
}

fn any_value(buf: &[u8], base: usize) -> Result<AttrValue<'_>> {
    let mut val = AttrValue::Other;
    let mut r = Reader::new(buf, base);
    while let Some((field, value, at)) = r.next()? {
        match (field, value) {
            (1, Value::Bytes(b)) => val = AttrValue::Str(utf8("AnyValue.string_value", b, at)?),
            (3, Value::Varint(v)) => val = AttrValue::Int(v as i64),
            (1 | 3, other) => {
                return Err(Error::Proto {
                    offset: at,
                    what: format!("AnyValue field {field}: wrong wire type ({other:?})"),
                });
            }
            _ => {}
        }
    }
    Ok(val)
}

fn span(buf: &[u8], base: usize, service: &str) -> Result<Span> {
    let mut span = Span {
        service: service.to_string(),
        ..Span::default()
    };
    let mut r = Reader::new(buf, base);
    let wrong = |f: &str, at: usize, v: Value<'_>| Error::Proto {
        offset: at,
        what: format!("Span.{f}: wrong wire type ({v:?})"),
    };
    while let Some((field, value, at)) = r.next()? {
        match (field, value) {
            (1, Value::Bytes(b)) if b.len() != 16 && !b.is_empty() => {
                return Err(Error::Proto {
                    offset: at,
                    what: format!("Span.trace_id: {} bytes, expected 16", b.len()),
                });
            }
            (2, Value::Bytes(b)) if b.len() != 8 && !b.is_empty() => {
                return Err(Error::Proto {
                    offset: at,
                    what: format!("Span.span_id: {} bytes, expected 8", b.len()),
                });
            }
            (5, Value::Bytes(b)) => span.name = utf8("Span.name", b, at)?.to_string(),
            (6, Value::Varint(v)) => span.kind = SpanKind::from_code(v as i64),
            (7, Value::Fixed64(v)) => span.start_ns = v,
            (8, Value::Fixed64(v)) => span.end_ns = v,
            (9, Value::Bytes(b)) => {
                let (key, value) = key_value(b, at)?;
                span.set_attr(key, value);
            }
            (15, Value::Bytes(b)) => {
                let mut s = Reader::new(b, at);
                while let Some((field, value, at)) = s.next()? {
                    match (field, value) {
                        (3, Value::Varint(code)) => span.status_error = code == 2,
                        (3, v) => return Err(wrong("status.code", at, v)),
                        _ => {}
                    }
                }
            }
            (1 | 2 | 5 | 9 | 15, v @ (Value::Varint(_) | Value::Fixed64(_) | Value::Fixed32)) => {
                return Err(wrong(&format!("field {field}"), at, v));
            }
            (6, v) => return Err(wrong("kind", at, v)),
            (7 | 8, v) => return Err(wrong("time (fixed64)", at, v)),
            _ => {}
        }
    }
    Ok(span)
}

/// A minimal protobuf writer, for tests, benches and the intake measurement: enough to
/// build ExportTraceServiceRequests without a codegen dependency.
pub mod encode {
    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    pub fn bytes_field(out: &mut Vec<u8>, field: u64, b: &[u8]) {
        varint(out, field << 3 | 2);
        varint(out, b.len() as u64);
        out.extend_from_slice(b);
    }

    pub fn varint_field(out: &mut Vec<u8>, field: u64, v: u64) {
        varint(out, field << 3);
        varint(out, v);
    }

    pub fn fixed64_field(out: &mut Vec<u8>, field: u64, v: u64) {
        varint(out, field << 3 | 1);
        out.extend_from_slice(&v.to_le_bytes());
    }

    /// A KeyValue with a string value.
    pub fn attr_str(key: &str, value: &str) -> Vec<u8> {
        let mut any = Vec::new();
        bytes_field(&mut any, 1, value.as_bytes());
        let mut kv = Vec::new();
        bytes_field(&mut kv, 1, key.as_bytes());
        bytes_field(&mut kv, 2, &any);
        kv
    }

    /// A KeyValue with an int64 value.
    pub fn attr_int(key: &str, value: i64) -> Vec<u8> {
        let mut any = Vec::new();
        varint_field(&mut any, 3, value as u64);
        let mut kv = Vec::new();
        bytes_field(&mut kv, 1, key.as_bytes());
        bytes_field(&mut kv, 2, &any);
        kv
    }

    /// A Span message.
    pub fn span(
        name: &str,
        kind: u64,
        start: u64,
        end: u64,
        attrs: &[Vec<u8>],
        error: bool,
    ) -> Vec<u8> {
        let mut s = Vec::new();
        bytes_field(&mut s, 1, &[7u8; 16]);
        bytes_field(&mut s, 2, &[9u8; 8]);
        bytes_field(&mut s, 5, name.as_bytes());
        varint_field(&mut s, 6, kind);
        fixed64_field(&mut s, 7, start);
        fixed64_field(&mut s, 8, end);
        for a in attrs {
            bytes_field(&mut s, 9, a);
        }
        let mut status = Vec::new();
        varint_field(&mut status, 3, if error { 2 } else { 1 });
        bytes_field(&mut s, 15, &status);
        s
    }

    /// An ExportTraceServiceRequest with one resource (service) and one scope of spans.
    pub fn request(service: &str, spans: &[Vec<u8>]) -> Vec<u8> {
        let mut resource = Vec::new();
        bytes_field(&mut resource, 1, &attr_str("service.name", service));
        let mut scope = Vec::new();
        for s in spans {
            bytes_field(&mut scope, 2, s);
        }
        let mut rs = Vec::new();
        bytes_field(&mut rs, 2, &scope);
        bytes_field(&mut rs, 1, &resource);
        let mut req = Vec::new();
        bytes_field(&mut req, 1, &rs);
        req
    }
}

#[cfg(test)]
mod tests {
    use super::encode::{attr_int, attr_str, bytes_field, request, span};
    use super::{SpanKind, decode};
    use proptest::prelude::*;

    fn sample() -> Vec<u8> {
        let attrs = [
            attr_str("http.method", "POST"),
            attr_str("http.route", "/orders"),
            attr_int("http.status_code", 201),
            attr_str("net.peer.ip", "192.168.1.9"),
            attr_int("net.peer.port", 40_001),
            attr_int("net.host.port", 443),
        ];
        request(
            "shop",
            &[
                span("POST /orders", 2, 1_000, 251_000, &attrs, false),
                span("SELECT orders", 3, 2_000, 52_000, &[], true),
            ],
        )
    }

    #[test]
    fn decodes_what_the_encoder_wrote_resource_after_spans() {
        let mut out = Vec::new();
        decode(&sample(), &mut out).unwrap();
        assert_eq!(out.len(), 2);
        let s = &out[0];
        assert_eq!((s.service.as_str(), s.kind), ("shop", SpanKind::Server));
        assert_eq!(s.resource(), "POST /orders");
        assert_eq!(
            (s.duration_ns(), s.http_status, s.is_error()),
            (250_000, Some(201), false)
        );
        assert_eq!(
            (s.client_addr.as_deref(), s.client_port, s.server_port),
            (Some("192.168.1.9"), Some(40_001), Some(443))
        );
        assert!(out[1].is_error());
        assert_eq!(out[1].resource(), "SELECT orders");
    }

    #[test]
    fn truncation_and_bad_wire_types_name_the_byte() {
        let body = sample();
        let mut out = Vec::new();
        let e = decode(&body[..body.len() - 3], &mut out)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("OTLP protobuf: at byte") && e.contains("runs past the end"),
            "{e}"
        );
        let e = decode(&[0x0b], &mut out).unwrap_err().to_string();
        assert_eq!(
            e,
            "OTLP protobuf: at byte 1: field 1: unsupported wire type 3"
        );
        let e = decode(&[0x08, 0x01], &mut out).unwrap_err().to_string();
        assert!(
            e.contains("resource_spans: expected a length-delimited field"),
            "{e}"
        );
        let e = decode(&[0xff; 11], &mut out).unwrap_err().to_string();
        assert!(e.contains("varint"), "{e}");
        let e = decode(&[0x00], &mut out).unwrap_err().to_string();
        assert!(e.contains("field number 0"), "{e}");
        let bad_name = request(
            "s",
            &[{
                let mut s = Vec::new();
                bytes_field(&mut s, 5, &[0xc3, 0x28]);
                s
            }],
        );
        let e = decode(&bad_name, &mut out).unwrap_err().to_string();
        assert!(e.contains("Span.name: invalid UTF-8"), "{e}");
        let bad_id = request(
            "s",
            &[{
                let mut s = Vec::new();
                bytes_field(&mut s, 1, &[1, 2, 3]);
                s
            }],
        );
        let e = decode(&bad_id, &mut out).unwrap_err().to_string();
        assert!(e.contains("Span.trace_id: 3 bytes, expected 16"), "{e}");
        assert!(decode(&[], &mut out).is_ok());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn random_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
            let mut out = Vec::new();
            let _ = decode(&body, &mut out);
            let _ = crate::otlp::json::decode(&body, &mut out);
        }

        #[test]
        fn mutated_requests_never_panic(flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
            let mut body = sample();
            for (i, b) in flips {
                let n = body.len();
                body[i % n] = b;
            }
            let mut out = Vec::new();
            let _ = decode(&body, &mut out);
        }
    }
}
