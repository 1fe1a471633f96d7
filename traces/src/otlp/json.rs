//! OTLP/JSON: the protobuf mapping with lowerCamelCase names, hex trace and span ids,
//! and 64-bit integers (nanosecond times, intValue) usually as strings.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use crate::error::{Error, Result};
use crate::span::{AttrValue, Span, SpanKind, UNKNOWN_SERVICE};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Request<'a> {
    #[serde(default, borrow)]
    resource_spans: Vec<ResourceSpans<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResourceSpans<'a> {
    #[serde(default, borrow)]
    resource: Option<Resource<'a>>,
    #[serde(default, borrow)]
    scope_spans: Vec<ScopeSpans<'a>>,
}

#[derive(Deserialize)]
struct Resource<'a> {
    #[serde(default, borrow)]
    attributes: Vec<KeyValue<'a>>,
}

#[derive(Deserialize)]
struct ScopeSpans<'a> {
    #[serde(default, borrow)]
    spans: Vec<JsonSpan<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonSpan<'a> {
    #[serde(default, borrow)]
    trace_id: Cow<'a, str>,
    #[serde(default, borrow)]
    span_id: Cow<'a, str>,
    #[serde(default, borrow)]
    name: Cow<'a, str>,
    #[serde(default)]
    kind: Code,
    #[serde(default)]
    start_time_unix_nano: Nanos,
    #[serde(default)]
    end_time_unix_nano: Nanos,
    #[serde(default, borrow)]
    attributes: Vec<KeyValue<'a>>,
    #[serde(default)]
    status: Option<Status>,
}

#[derive(Deserialize)]
struct Status {
    #[serde(default)]
    code: Code,
}

#[derive(Deserialize)]
struct KeyValue<'a> {
    #[serde(borrow)]
    key: Cow<'a, str>,
    #[serde(default, borrow)]
    value: Option<AnyValue<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AnyValue<'a> {
    #[serde(default, borrow)]
    string_value: Option<Cow<'a, str>>,
    #[serde(default)]
    int_value: Option<Int>,
}

impl AnyValue<'_> {
    fn attr(&self) -> AttrValue<'_> {
        match (&self.string_value, &self.int_value) {
            (Some(s), _) => AttrValue::Str(s),
            (None, Some(Int(i))) => AttrValue::Int(*i),
            _ => AttrValue::Other,
        }
    }
}

/// An int64 as a JSON number or a decimal string.
struct Int(i64);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Int;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an int64 as a number or a decimal string")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Int, E> {
                Ok(Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Int, E> {
                i64::try_from(v)
                    .map(Int)
                    .map_err(|_| E::custom(format!("int64 out of range: {v}")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Int, E> {
                v.parse()
                    .map(Int)
                    .map_err(|_| E::custom(format!("not an int64: {v:?}")))
            }
        }
        d.deserialize_any(V)
    }
}

/// Nanoseconds since the epoch as a JSON number or a decimal string (fixed64).
#[derive(Default)]
struct Nanos(u64);

impl<'de> Deserialize<'de> for Nanos {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Nanos;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("nanoseconds as a non-negative number or decimal string")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Nanos, E> {
                Ok(Nanos(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Nanos, E> {
                u64::try_from(v)
                    .map(Nanos)
                    .map_err(|_| E::custom(format!("negative nanoseconds: {v}")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Nanos, E> {
                v.parse()
                    .map(Nanos)
                    .map_err(|_| E::custom(format!("not a nanosecond count: {v:?}")))
            }
        }
        d.deserialize_any(V)
    }
}

/// An enum (span kind, status code) as its number or its proto name.
#[derive(Default)]
struct Code(i64);

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Code;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an enum number or name")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Code, E> {
                Ok(Code(i64::try_from(v).unwrap_or(-1)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Code, E> {
                Ok(Code(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Code, E> {
                let code = match v {
                    "SPAN_KIND_INTERNAL" | "STATUS_CODE_OK" => 1,
                    "SPAN_KIND_SERVER" | "STATUS_CODE_ERROR" => 2,
                    "SPAN_KIND_CLIENT" => 3,
                    "SPAN_KIND_PRODUCER" => 4,
                    "SPAN_KIND_CONSUMER" => 5,
                    _ => 0,
                };
                Ok(Code(code))
            }
        }
        d.deserialize_any(V)
    }
}

/// A trace or span id: empty, or exactly `len` hex digits.
fn check_id(id: &str, len: usize) -> Result<(), String> {
    if id.is_empty() || (id.len() == len && id.bytes().all(|b| b.is_ascii_hexdigit())) {
        Ok(())
    } else {
        Err(format!("expected {len} hex digits, found {id:?}"))
    }
}

/// Decodes an OTLP/JSON ExportTraceServiceRequest, appending its spans to `out`.
pub fn decode(body: &[u8], out: &mut Vec<Span>) -> Result<()> {
    let req: Request = serde_json::from_slice(body).map_err(|e| Error::Json(e.to_string()))?;
    for (r, rs) in req.resource_spans.iter().enumerate() {
        let mut service = None;
        for kv in rs.resource.iter().flat_map(|r| &r.attributes) {
            if kv.key == "service.name"
                && let Some(AttrValue::Str(s)) = kv.value.as_ref().map(AnyValue::attr)
            {
                service = Some(s.to_string());
            }
        }
        let service = service.unwrap_or_else(|| UNKNOWN_SERVICE.to_string());
        for (s, ss) in rs.scope_spans.iter().enumerate() {
            for (i, js) in ss.spans.iter().enumerate() {
                let at = |field: &str, e: String| {
                    Error::Json(format!(
                        "resourceSpans[{r}].scopeSpans[{s}].spans[{i}].{field}: {e}"
                    ))
                };
                check_id(&js.trace_id, 32).map_err(|e| at("traceId", e))?;
                check_id(&js.span_id, 16).map_err(|e| at("spanId", e))?;
                let mut span = Span {
                    service: service.clone(),
                    name: js.name.to_string(),
                    kind: SpanKind::from_code(js.kind.0),
                    start_ns: js.start_time_unix_nano.0,
                    end_ns: js.end_time_unix_nano.0,
                    status_error: js.status.as_ref().is_some_and(|s| s.code.0 == 2),
                    ..Span::default()
                };
                for kv in &js.attributes {
                    if let Some(v) = &kv.value {
                        span.set_attr(&kv.key, v.attr());
                    }
                }
                out.push(span);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const SAMPLE: &str = r#"{"resourceSpans":[{
        "resource":{"attributes":[{"key":"service.name","value":{"stringValue":"api"}}]},
        "scopeSpans":[{"scope":{"name":"x"},"spans":[{
            "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
            "name":"GET /users/{id}","kind":2,
            "startTimeUnixNano":"1544712660000000000","endTimeUnixNano":"1544712661000000000",
            "attributes":[
              {"key":"http.request.method","value":{"stringValue":"GET"}},
              {"key":"http.route","value":{"stringValue":"/users/{id}"}},
              {"key":"url.path","value":{"stringValue":"/users/42"}},
              {"key":"http.response.status_code","value":{"intValue":"503"}},
              {"key":"client.address","value":{"stringValue":"10.0.0.7"}},
              {"key":"client.port","value":{"intValue":"51234"}},
              {"key":"server.port","value":{"intValue":8080}},
              {"key":"tags","value":{"arrayValue":{"values":[{"stringValue":"a"}]}}}
            ],
            "status":{"code":2,"message":"boom"}
        }]}]}]}"#;

    #[test]
    fn decodes_the_fields_we_keep() {
        let mut out = Vec::new();
        decode(SAMPLE.as_bytes(), &mut out).unwrap();
        assert_eq!(out.len(), 1);
        let s = &out[0];
        assert_eq!(s.service, "api");
        assert_eq!(s.kind, SpanKind::Server);
        assert_eq!(s.duration_ns(), 1_000_000_000);
        assert!(s.status_error);
        assert_eq!(s.http_status, Some(503));
        assert_eq!(s.resource(), "GET /users/{id}");
        assert_eq!(s.http_path.as_deref(), Some("/users/42"));
        assert_eq!(
            (s.client_addr.as_deref(), s.client_port, s.server_port),
            (Some("10.0.0.7"), Some(51234), Some(8080))
        );
    }

    #[test]
    fn missing_service_and_numeric_times_and_named_enums() {
        let body = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"q",
            "kind":"SPAN_KIND_SERVER","startTimeUnixNano":5,"endTimeUnixNano":9,
            "status":{"code":"STATUS_CODE_ERROR"}}]}]}]}"#;
        let mut out = Vec::new();
        decode(body.as_bytes(), &mut out).unwrap();
        assert_eq!(out[0].service, "unknown_service");
        assert_eq!(out[0].kind, SpanKind::Server);
        assert_eq!(out[0].duration_ns(), 4);
        assert!(out[0].status_error);
        decode(b"{}", &mut out).unwrap();
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn malformed_bodies_say_what_and_where() {
        let err = |body: &str| {
            let mut out = Vec::new();
            decode(body.as_bytes(), &mut out).unwrap_err().to_string()
        };
        let e = err("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":\"xyz\"}]}]}]}");
        assert!(
            e.contains("resourceSpans[0].scopeSpans[0].spans[0].traceId")
                && e.contains("32 hex digits"),
            "{e}"
        );
        let e =
            err(r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"soon"}]}]}]}"#);
        assert!(
            e.contains("not a nanosecond count") && e.contains("column"),
            "{e}"
        );
        let e = err(r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"endTimeUnixNano":-1}]}]}]}"#);
        assert!(e.contains("negative nanoseconds"), "{e}");
        let e = err("{\"resourceSpans\":");
        assert!(e.starts_with("OTLP JSON: EOF"), "{e}");
        let e = err("[1,2]");
        assert!(e.contains("invalid type"), "{e}");
    }
}
