//! Level and pid of a log line, including a minimal JSON object scanner.

/// Level words count only near the start of a line, where loggers put them.
const LEVEL_SCAN: usize = 80;
/// A syslog header (`<PRI>timestamp host tag[pid]:`) fits in this.
const TAG_SCAN: usize = 160;

/// Names a level may appear under in text, and their normalised level.
const LEVEL_WORDS: &[(&str, &str)] = &[
    ("trace", "trace"),
    ("debug", "debug"),
    ("info", "info"),
    ("notice", "info"),
    ("warn", "warn"),
    ("warning", "warn"),
    ("error", "error"),
    ("err", "error"),
    ("severe", "error"),
    ("fatal", "fatal"),
    ("critical", "fatal"),
    ("crit", "fatal"),
    ("panic", "fatal"),
];

/// Further names accepted as a level field's value (.NET, Serilog, syslog).
const LEVEL_VALUES: &[(&str, &str)] = &[
    ("information", "info"),
    ("informational", "info"),
    ("verbose", "trace"),
    ("alert", "fatal"),
    ("emerg", "fatal"),
    ("emergency", "fatal"),
    ("trc", "trace"),
    ("vrb", "trace"),
    ("dbg", "debug"),
    ("inf", "info"),
    ("wrn", "warn"),
    ("eror", "error"),
    ("ftl", "fatal"),
];

fn lookup(table: &[(&str, &'static str)], word: &str) -> Option<&'static str> {
    table
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(word))
        .map(|&(_, v)| v)
}

fn level_value(v: &str) -> Option<&'static str> {
    lookup(LEVEL_WORDS, v).or_else(|| lookup(LEVEL_VALUES, v))
}

/// Normalised level (trace, debug, info, warn, error, fatal) of a log line: from a
/// syslog `<PRI>` prefix, a JSON object's "level", "severity" or "lvl" field (names,
/// or bunyan/pino numbers for "level"), a logfmt `level=`, or else the first level
/// word (TRACE, DEBUG, INFO, NOTICE, WARN[ING], ERR[OR], FATAL, CRIT[ICAL], PANIC,
/// SEVERE; any case) among the first 80 bytes.
pub fn detect_level(line: &str) -> Option<&'static str> {
    let s = line.trim_start();
    if let Some((pri, _)) = syslog_pri(s) {
        return Some(match pri % 8 {
            0..=2 => "fatal",
            3 => "error",
            4 => "warn",
            5 | 6 => "info",
            _ => "debug",
        });
    }
    if s.starts_with('{') {
        let mut level = None;
        json_members(s, |key, value| {
            if ["level", "severity", "lvl"]
                .iter()
                .any(|k| key.eq_ignore_ascii_case(k))
            {
                level = match value {
                    Json::Str(v) => level_value(v),
                    Json::Num(n) if key == "level" => bunyan_level(n),
                    _ => None,
                };
            }
            level.is_some()
        });
        if level.is_some() {
            return level;
        }
    }
    let head = &s[..s.floor_char_boundary(LEVEL_SCAN)];
    if let Some(v) = logfmt_level(head) {
        return Some(v);
    }
    head.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .find_map(|w| lookup(LEVEL_WORDS, w))
}

/// bunyan and pino: 10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal.
fn bunyan_level(n: &str) -> Option<&'static str> {
    Some(match n.parse::<u32>().ok()? {
        10 => "trace",
        20 => "debug",
        30 => "info",
        40 => "warn",
        50 => "error",
        60 => "fatal",
        _ => return None,
    })
}

fn logfmt_level(head: &str) -> Option<&'static str> {
    head.split_ascii_whitespace().find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        if k == "level" || k == "lvl" {
            level_value(v.trim_matches('"'))
        } else {
            None
        }
    })
}

/// `<PRI>` at the start of a line (0..=191), and the rest of the line.
fn syslog_pri(s: &str) -> Option<(u32, &str)> {
    let rest = s.strip_prefix('<')?;
    let end = rest.find('>')?;
    let digits = &rest[..end];
    if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let pri: u32 = digits.parse().ok()?;
    (pri <= 191).then_some((pri, &rest[end + 1..]))
}

/// Writing process of a log line: a syslog tag `name[1234]:`, the PROCID of an
/// RFC 5424 header, or a JSON object's "pid" field.
pub fn detect_pid(line: &str) -> Option<u32> {
    let s = line.trim_start();
    if s.starts_with('{') {
        let mut pid = None;
        json_members(s, |key, value| {
            if key.eq_ignore_ascii_case("pid") {
                pid = match value {
                    Json::Str(v) | Json::Num(v) => v.parse().ok(),
                    Json::Other => None,
                };
                return true;
            }
            false
        });
        return pid;
    }
    // RFC 5424: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID ...
    if let Some((_, rest)) = syslog_pri(s)
        && let Some(header) = rest.strip_prefix("1 ")
        && let Some(pid) = header.split_ascii_whitespace().nth(3)
    {
        return pid.parse().ok();
    }
    let head = &s[..s.floor_char_boundary(TAG_SCAN)];
    head.match_indices('[').find_map(|(i, _)| {
        let before = head[..i].chars().next_back()?;
        if before.is_whitespace() {
            return None;
        }
        let (digits, after) = head[i + 1..].split_once(']')?;
        if !after.starts_with(':') || digits.is_empty() || digits.len() > 10 {
            return None;
        }
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    })
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Json<'a> {
    /// Raw text between the quotes (escapes left as they are).
    Str(&'a str),
    /// Raw text of a number, `true`, `false` or `null`.
    Num(&'a str),
    /// An object or an array.
    Other,
}

/// Calls `f(key, value)` for each top-level member of a JSON object until it returns
/// true or the text stops being JSON. Keys and strings are raw: level names and "pid"
/// need no unescaping.
fn json_members<'a>(s: &'a str, mut f: impl FnMut(&'a str, Json<'a>) -> bool) {
    let b = s.as_bytes();
    let skip_ws = |mut i: usize| {
        while b.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        i
    };
    let mut i = 1; // after '{'
    loop {
        i = skip_ws(i);
        if b.get(i) != Some(&b'"') {
            return;
        }
        let Some(key_end) = string_end(b, i) else {
            return;
        };
        let key = &s[i + 1..key_end];
        i = skip_ws(key_end + 1);
        if b.get(i) != Some(&b':') {
            return;
        }
        i = skip_ws(i + 1);
        let (value, next) = match b.get(i) {
            Some(b'"') => match string_end(b, i) {
                Some(e) => (Json::Str(&s[i + 1..e]), e + 1),
                None => return,
            },
            Some(b'{' | b'[') => match nested_end(b, i) {
                Some(e) => (Json::Other, e),
                None => return,
            },
            Some(_) => {
                let len = b[i..]
                    .iter()
                    .position(|&c| matches!(c, b',' | b'}' | b']') || c.is_ascii_whitespace())
                    .unwrap_or(b.len() - i);
                (Json::Num(&s[i..i + len]), i + len)
            }
            None => return,
        };
        if f(key, value) {
            return;
        }
        i = skip_ws(next);
        if b.get(i) != Some(&b',') {
            return;
        }
        i += 1;
    }
}

/// Index of the quote closing the string that opens at `b[i]`.
fn string_end(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            b'"' => return Some(j),
            _ => j += 1,
        }
    }
    None
}

/// Index just after the object or array that opens at `b[i]`.
fn nested_end(b: &[u8], i: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut j = i;
    while j < b.len() {
        match b[j] {
            b'"' => j = string_end(b, j)?,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(j + 1);
                }
            }
            _ => {}
        }
        j += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_scanner() {
        let mut seen = Vec::new();
        json_members(
            r#"{"a": {"level": "x", "b": [1, "]"]}, "s":"q\"uo", "n": -12.5e3,"t":true}"#,
            |k, v| {
                seen.push((k, v));
                false
            },
        );
        assert_eq!(
            seen,
            [
                ("a", Json::Other),
                ("s", Json::Str(r#"q\"uo"#)),
                ("n", Json::Num("-12.5e3")),
                ("t", Json::Num("true")),
            ]
        );
        // Malformed input stops the scan without panicking.
        for s in [
            "{",
            "{\"",
            "{\"a\"",
            "{\"a\":",
            "{\"a\":\"",
            "{\"a\":{",
            "{\"a\" 1}",
        ] {
            json_members(s, |_, _| false);
        }
    }
}
