//! The part of an OTLP span that the statistics need; decoders fill it from either format.

/// OTLP `Span.SpanKind`; only `Server` matters (it is a request served here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SpanKind {
    #[default]
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl SpanKind {
    pub fn from_code(code: i64) -> SpanKind {
        match code {
            1 => SpanKind::Internal,
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            5 => SpanKind::Consumer,
            _ => SpanKind::Unspecified,
        }
    }
}

/// One decoded span: identity, timing, outcome and the HTTP and network facts we use.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Span {
    /// Resource attribute `service.name` (`unknown_service` when absent, as the SDKs do).
    pub service: String,
    pub name: String,
    pub kind: SpanKind,
    pub start_ns: u64,
    pub end_ns: u64,
    /// Span status code ERROR (2).
    pub status_error: bool,
    pub http_method: Option<String>,
    pub http_route: Option<String>,
    /// `url.path`, or `http.target` without its query.
    pub http_path: Option<String>,
    pub http_status: Option<i64>,
    pub client_addr: Option<String>,
    pub client_port: Option<u32>,
    pub server_port: Option<u32>,
}

pub(crate) const UNKNOWN_SERVICE: &str = "unknown_service";

/// An attribute value as far as we need it: strings and integers (OTLP JSON sends
/// int64 as strings, and some SDKs send ports as strings).
#[derive(Debug, Clone, Copy)]
pub(crate) enum AttrValue<'a> {
    Str(&'a str),
    Int(i64),
    Other,
}

impl AttrValue<'_> {
    fn string(self) -> Option<String> {
        match self {
            AttrValue::Str(s) => Some(s.to_string()),
            AttrValue::Int(i) => Some(i.to_string()),
            AttrValue::Other => None,
        }
    }

    fn int(self) -> Option<i64> {
        match self {
            AttrValue::Int(i) => Some(i),
            AttrValue::Str(s) => s.trim().parse().ok(),
            AttrValue::Other => None,
        }
    }

    fn port(self) -> Option<u32> {
        self.int()
            .and_then(|p| u32::try_from(p).ok())
            .filter(|&p| p <= 65_535)
    }
}

impl Span {
    /// Takes one span attribute. Newer semantic-convention names win over older ones
    /// whatever their order in the span: the older ones only fill a gap.
    pub(crate) fn set_attr(&mut self, key: &str, value: AttrValue<'_>) {
        fn prefer<T>(slot: &mut Option<T>, v: Option<T>, newest: bool) {
            if v.is_some() && (newest || slot.is_none()) {
                *slot = v;
            }
        }
        match key {
            "http.request.method" => prefer(&mut self.http_method, value.string(), true),
            "http.method" => prefer(&mut self.http_method, value.string(), false),
            "http.route" => prefer(&mut self.http_route, value.string(), true),
            "url.path" => prefer(&mut self.http_path, value.string(), true),
            "http.target" => prefer(
                &mut self.http_path,
                value
                    .string()
                    .map(|t| t.split('?').next().unwrap_or_default().to_string()),
                false,
            ),
            "http.response.status_code" => prefer(&mut self.http_status, value.int(), true),
            "http.status_code" => prefer(&mut self.http_status, value.int(), false),
            "client.address" => prefer(&mut self.client_addr, value.string(), true),
            "network.peer.address" | "net.sock.peer.addr" | "net.peer.ip" => {
                prefer(&mut self.client_addr, value.string(), false)
            }
            "client.port" => prefer(&mut self.client_port, value.port(), true),
            "network.peer.port" | "net.sock.peer.port" | "net.peer.port" => {
                prefer(&mut self.client_port, value.port(), false)
            }
            "server.port" => prefer(&mut self.server_port, value.port(), true),
            "net.host.port" => prefer(&mut self.server_port, value.port(), false),
            _ => {}
        }
    }

    pub fn duration_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.start_ns)
    }

    /// An error: status ERROR, or a 5xx response (a 4xx is the client's fault).
    pub fn is_error(&self) -> bool {
        self.status_error || self.http_status.is_some_and(|s| s >= 500)
    }

    /// `METHOD route` for HTTP spans with a route, else the span name: a route keeps
    /// the key count bounded where a raw path (with ids in it) would not.
    pub fn resource(&self) -> String {
        match (&self.http_method, &self.http_route) {
            (Some(m), Some(r)) => format!("{m} {r}"),
            _ => self.name.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_attribute_names_win_in_any_order() {
        let mut s = Span::default();
        s.set_attr("http.method", AttrValue::Str("POST"));
        s.set_attr("http.request.method", AttrValue::Str("GET"));
        s.set_attr("http.method", AttrValue::Str("PUT"));
        assert_eq!(s.http_method.as_deref(), Some("GET"));
        s.set_attr("net.peer.port", AttrValue::Str("5432"));
        assert_eq!(s.client_port, Some(5432));
        s.set_attr("client.port", AttrValue::Int(40_000));
        assert_eq!(s.client_port, Some(40_000));
        s.set_attr("server.port", AttrValue::Int(70_000));
        assert_eq!(s.server_port, None, "not a port");
        s.set_attr("http.target", AttrValue::Str("/a/b?token=x"));
        assert_eq!(s.http_path.as_deref(), Some("/a/b"));
    }

    #[test]
    fn errors_and_resources() {
        let mut s = Span {
            name: "SELECT users".into(),
            ..Span::default()
        };
        assert_eq!(s.resource(), "SELECT users");
        assert!(!s.is_error());
        s.http_status = Some(404);
        assert!(!s.is_error());
        s.http_status = Some(503);
        assert!(s.is_error());
        s.http_method = Some("GET".into());
        s.http_route = Some("/api/users/{id}".into());
        assert_eq!(s.resource(), "GET /api/users/{id}");
    }
}
