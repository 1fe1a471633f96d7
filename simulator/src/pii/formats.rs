//! Records as log lines: JSON, logfmt, Java (Spring Boot with stack traces) and RFC 3164
//! syslog (access logs are in `access.rs`). Spans are recorded as bytes are written,
//! after escaping, so they point into the text exactly as a tailer reads it.

use super::content::{Level, Msg, Record, Seg, Value};
use super::draw::{MONTHS, below, between, civil, iso, pick};
use super::{PiiLine, PiiSpan};
use crate::kinds::kinds;
use crate::rng::Rng;

kinds! {
    /// Log formats the generator writes.
    LogFormat, family "pii log format" {
        /// nginx/Apache combined, plus the X-Forwarded-For header.
        Access => "access",
        /// One JSON object per line, with nested fields and escaped strings.
        Json => "json",
        /// Spring Boot text lines; an exception adds one line per stack frame.
        Java => "java",
        /// RFC 3164 with a priority: `<PRI>Mmm dd hh:mm:ss host app[pid]: msg`.
        Syslog => "syslog",
        /// key=value (logfmt), values quoted where they need it.
        Logfmt => "logfmt",
    }
}

/// How a segment's text is escaped where it lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Esc {
    Raw,
    /// Inside a JSON string.
    Json,
    /// Inside a double-quoted logfmt value.
    Quoted,
}

fn escape(out: &mut String, s: &str, esc: Esc) {
    for c in s.chars() {
        match (esc, c) {
            (Esc::Raw, c) => out.push(c),
            (_, '"') => out.push_str("\\\""),
            (_, '\\') => out.push_str("\\\\"),
            (_, '\n') => out.push_str("\\n"),
            (_, '\t') => out.push_str("\\t"),
            (_, '\r') => out.push_str("\\r"),
            (Esc::Json, c) if u32::from(c) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)))
            }
            (_, c) => out.push(c),
        }
    }
}

/// JSON string contents, escaped (for label attributes too).
pub(super) fn json_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape(&mut out, s, Esc::Json);
    out
}

/// A line being written, with the spans of what was written into it.
#[derive(Debug, Default)]
pub(super) struct LineBuf {
    text: String,
    spans: Vec<PiiSpan>,
    lookalikes: Vec<PiiSpan>,
}

impl LineBuf {
    pub fn raw(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }

    pub fn seg(&mut self, seg: &Seg, esc: Esc) -> &mut Self {
        let start = self.text.len();
        match seg {
            Seg::Text(t) => escape(&mut self.text, t, esc),
            Seg::Pii(e, t) => {
                escape(&mut self.text, t, esc);
                let end = self.text.len();
                self.spans.push(PiiSpan {
                    start,
                    end,
                    entity: e.name(),
                });
            }
            Seg::Look(k, t) => {
                escape(&mut self.text, t, esc);
                let end = self.text.len();
                self.lookalikes.push(PiiSpan {
                    start,
                    end,
                    entity: k.name(),
                });
            }
        }
        self
    }

    pub fn msg(&mut self, m: &Msg, esc: Esc) -> &mut Self {
        for s in &m.0 {
            self.seg(s, esc);
        }
        self
    }

    pub fn finish(self, format: LogFormat, level: Option<Level>, pid: Option<u32>) -> PiiLine {
        PiiLine {
            text: self.text,
            spans: self.spans,
            lookalikes: self.lookalikes,
            format,
            level: level.map(Level::name),
            pid,
        }
    }
}

/// Who writes the record, and when.
#[derive(Debug)]
pub(super) struct Ctx<'a> {
    pub service: &'a str,
    /// Java package of the service's classes (`com.example.payments`).
    pub package: &'a str,
    pub host: &'a str,
    pub pid: u32,
    pub thread: &'a str,
    pub ts_ns: i64,
    /// JSON style: `"severity":"WARNING"` instead of `"level":"warn"`.
    pub severity_key: bool,
    /// A trace id field (a lookalike) on structured lines.
    pub trace: Option<Seg>,
}

pub(super) fn render(format: LogFormat, ctx: &Ctx, rec: &Record, rng: &mut Rng) -> Vec<PiiLine> {
    match format {
        LogFormat::Json => vec![json(ctx, rec, rng)],
        LogFormat::Logfmt => vec![logfmt(ctx, rec)],
        LogFormat::Java => java(ctx, rec, rng),
        // Access records are built from requests (`access.rs`); syslog is the fallback.
        LogFormat::Syslog | LogFormat::Access => vec![syslog(ctx, rec)],
    }
}

fn json(ctx: &Ctx, rec: &Record, rng: &mut Rng) -> PiiLine {
    let mut b = LineBuf::default();
    b.raw(&format!(r#"{{"ts":"{}","#, iso(ctx.ts_ns)));
    if ctx.severity_key {
        let sev = match rec.level {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARNING",
            Level::Error => "ERROR",
        };
        b.raw(&format!(r#""severity":"{sev}","#));
    } else {
        b.raw(&format!(r#""level":"{}","#, rec.level.name()));
    }
    b.raw(&format!(
        r#""service":"{}","pid":{},"host":"{}","logger":"{}.{}","msg":""#,
        ctx.service, ctx.pid, ctx.host, ctx.package, rec.logger
    ));
    b.msg(&rec.msg, Esc::Json).raw("\"");
    if let Some(t) = &ctx.trace {
        b.raw(r#","trace_id":""#).seg(t, Esc::Json).raw("\"");
    }
    json_fields(&mut b, &rec.fields);
    if let Some(f) = &rec.failure {
        let class = format!("{}.{}", ctx.package, f.class);
        b.raw(&format!(r#","error":{{"type":"{class}","message":""#));
        b.msg(&f.msg, Esc::Json).raw(r#"","stack":""#);
        b.seg(&Seg::Text(format!("{class}: ")), Esc::Json)
            .msg(&f.msg, Esc::Json);
        for frame in frames(ctx, rec, rng) {
            b.seg(&Seg::Text(format!("\n\tat {frame}")), Esc::Json);
        }
        b.raw("\"}");
    }
    b.raw("}");
    b.finish(LogFormat::Json, Some(rec.level), Some(ctx.pid))
}

/// Fields as members; consecutive `prefix.key` fields share one nested object.
fn json_fields(b: &mut LineBuf, fields: &[(&str, Value)]) {
    let mut open: Option<&str> = None;
    for (key, value) in fields {
        let (prefix, name) = key
            .split_once('.')
            .map_or((None, *key), |(p, n)| (Some(p), n));
        if open.is_some() && open != prefix {
            b.raw("}");
            open = None;
        }
        match (open, prefix) {
            (None, Some(p)) => {
                b.raw(&format!(r#","{p}":{{"{name}":"#));
                open = Some(p);
            }
            (Some(_), _) => {
                b.raw(&format!(r#","{name}":"#));
            }
            (None, None) => {
                b.raw(&format!(r#","{name}":"#));
            }
        }
        match value {
            Value::Num(n) => b.raw(n),
            Value::Str(m) => b.raw("\"").msg(m, Esc::Json).raw("\""),
        };
    }
    if open.is_some() {
        b.raw("}");
    }
}

fn logfmt_value(b: &mut LineBuf, m: &Msg) {
    let plain = m.plain();
    if plain.is_empty() || plain.contains([' ', '"', '=', '\\']) {
        b.raw("\"").msg(m, Esc::Quoted).raw("\"");
    } else {
        b.msg(m, Esc::Raw);
    }
}

fn logfmt(ctx: &Ctx, rec: &Record) -> PiiLine {
    let mut b = LineBuf::default();
    b.raw(&format!(
        "ts={} level={} service={} pid={} logger={} msg=",
        iso(ctx.ts_ns),
        rec.level.name(),
        ctx.service,
        ctx.pid,
        rec.logger
    ));
    logfmt_value(&mut b, &rec.msg);
    for (key, value) in &rec.fields {
        b.raw(&format!(" {key}="));
        match value {
            Value::Num(n) => b.raw(n),
            Value::Str(m) => {
                logfmt_value(&mut b, m);
                &mut b
            }
        };
    }
    if let Some(t) = &ctx.trace {
        b.raw(" trace_id=").seg(t, Esc::Raw);
    }
    if let Some(f) = &rec.failure {
        b.raw(&format!(" err=\"{}: ", f.class))
            .msg(&f.msg, Esc::Quoted)
            .raw("\"");
    }
    // The recorder reads no pid from logfmt, so neither do the rows.
    b.finish(LogFormat::Logfmt, Some(rec.level), None)
}

/// Fields appended to a text message as ` key=value`.
fn text_fields(b: &mut LineBuf, fields: &[(&str, Value)]) {
    for (key, value) in fields {
        b.raw(&format!(" {key}="));
        match value {
            Value::Num(n) => b.raw(n),
            Value::Str(m) => b.msg(m, Esc::Raw),
        };
    }
}

/// `c.e.payments` for `com.example.payments`, as Spring abbreviates logger names.
fn abbreviate(package: &str) -> String {
    let parts: Vec<&str> = package.split('.').collect();
    let (last, init) = parts.split_last().map_or(("", &[][..]), |(l, i)| (*l, i));
    init.iter()
        .map(|p| &p[..1.min(p.len())])
        .chain([last])
        .collect::<Vec<_>>()
        .join(".")
}

fn java(ctx: &Ctx, rec: &Record, rng: &mut Rng) -> Vec<PiiLine> {
    let level = match rec.level {
        Level::Debug => "DEBUG",
        Level::Info => " INFO",
        Level::Warn => " WARN",
        Level::Error => "ERROR",
    };
    let mut b = LineBuf::default();
    b.raw(&format!(
        "{} {level} {} --- [{}] [{:>15}] {}.{} : ",
        iso(ctx.ts_ns),
        ctx.pid,
        ctx.service,
        ctx.thread,
        abbreviate(ctx.package),
        rec.logger
    ));
    b.msg(&rec.msg, Esc::Raw);
    text_fields(&mut b, &rec.fields);
    // Spring's pid is not where the recorder looks for one.
    let mut lines = vec![b.finish(LogFormat::Java, Some(rec.level), None)];
    let Some(f) = &rec.failure else {
        return lines;
    };
    let mut head = LineBuf::default();
    head.raw(&format!("{}.{}: ", ctx.package, f.class))
        .msg(&f.msg, Esc::Raw);
    lines.push(head.finish(LogFormat::Java, None, None));
    for frame in frames(ctx, rec, rng) {
        let mut l = LineBuf::default();
        l.raw(&format!("\tat {frame}"));
        lines.push(l.finish(LogFormat::Java, None, None));
    }
    if let Some(cause) = f.cause {
        let mut l = LineBuf::default();
        l.raw(&format!("Caused by: {cause}"));
        lines.push(l.finish(LogFormat::Java, None, None));
        let mut l = LineBuf::default();
        l.raw(&format!(
            "\t... {} common frames omitted",
            between(rng, 8, 90)
        ));
        lines.push(l.finish(LogFormat::Java, None, None));
    }
    lines
}

const FRAMEWORK_FRAMES: &[&str] = &[
    "org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:885)",
    "org.springframework.web.servlet.DispatcherServlet.doDispatch(DispatcherServlet.java:1089)",
    "jakarta.servlet.http.HttpServlet.service(HttpServlet.java:658)",
    "org.apache.catalina.core.ApplicationFilterChain.doFilter(ApplicationFilterChain.java:206)",
    "org.apache.tomcat.util.threads.ThreadPoolExecutor$Worker.run(ThreadPoolExecutor.java:659)",
    concat!(
        "org.springframework.kafka.listener.KafkaMessageListenerContainer$ListenerConsumer",
        ".run(KafkaMessageListenerContainer.java:1331)"
    ),
];

/// A few application frames, then framework frames, ending in Thread.run.
fn frames(ctx: &Ctx, rec: &Record, rng: &mut Rng) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..between(rng, 1, 3) {
        let method = pick(
            rng,
            &["handle", "process", "apply", "lookup", "charge", "invoke"],
        );
        let line = between(rng, 40, 400);
        out.push(format!(
            "{}.{}.{method}({}.java:{line})",
            ctx.package, rec.logger, rec.logger
        ));
    }
    let skip = below(rng, 3) as usize;
    out.extend(
        FRAMEWORK_FRAMES
            .iter()
            .skip(skip)
            .take(3)
            .map(|s| s.to_string()),
    );
    out.push("java.base/java.lang.Thread.run(Thread.java:1583)".into());
    out
}

/// Syslog severity of a level; info alternates notice (5) and informational (6).
fn severity(level: Level, ts_ns: i64) -> u32 {
    match level {
        Level::Debug => 7,
        Level::Info => 5 + (ts_ns / 1_000_000 % 2) as u32,
        Level::Warn => 4,
        Level::Error => 3,
    }
}

fn syslog(ctx: &Ctx, rec: &Record) -> PiiLine {
    // Applications log to local0 under their own name; daemons carry their own.
    let (tag, facility, pid) = rec.program.unwrap_or((ctx.service, 16, ctx.pid));
    let (_, mo, d, h, mi, s, _) = civil(ctx.ts_ns);
    let pri = facility * 8 + severity(rec.level, ctx.ts_ns);
    let mut b = LineBuf::default();
    b.raw(&format!(
        "<{pri}>{} {d:>2} {h:02}:{mi:02}:{s:02} {} {tag}[{pid}]: ",
        MONTHS[(mo - 1) as usize],
        ctx.host,
    ));
    b.msg(&rec.msg, Esc::Raw);
    text_fields(&mut b, &rec.fields);
    if let Some(f) = &rec.failure {
        b.raw(&format!(": {}.{}: ", ctx.package, f.class))
            .msg(&f.msg, Esc::Raw);
    }
    b.finish(LogFormat::Syslog, Some(rec.level), Some(pid))
}
