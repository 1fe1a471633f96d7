//! Streaming redaction over bytes: every byte read is scanned before it is written.
//! Invalid UTF-8 is replaced (U+FFFD) before scanning, lines longer than
//! `MAX_LINE_BYTES` are scanned in chunks cut at a delimiter, a last line without a
//! newline is handled like any other.

use std::borrow::Cow;
use std::io::{self, BufRead, Write};

use crate::alert::Alert;
use crate::redact::Redactor;

/// Longest piece of a line scanned at once.
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// How far back from the cap a chunk looks for a delimiter to cut at.
const CUT_WINDOW: usize = 4096;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    pub lines: u64,
    pub changed_lines: u64,
    pub findings: u64,
    /// Lines that were longer than `MAX_LINE_BYTES` (scanned in chunks).
    pub chunked_lines: u64,
    pub invalid_utf8_lines: u64,
}

/// Redacts `reader` into `writer`, line by line, calling `on_alert` per finding.
pub fn redact_stream<R: BufRead, W: Write>(
    redactor: &Redactor,
    mut reader: R,
    mut writer: W,
    source: &str,
    mut on_alert: impl FnMut(Alert),
) -> io::Result<StreamStats> {
    redact_stream_capped(
        redactor,
        &mut reader,
        &mut writer,
        source,
        &mut on_alert,
        MAX_LINE_BYTES,
    )
}

pub(crate) fn redact_stream_capped<R: BufRead, W: Write>(
    redactor: &Redactor,
    reader: &mut R,
    writer: &mut W,
    source: &str,
    on_alert: &mut impl FnMut(Alert),
    cap: usize,
) -> io::Result<StreamStats> {
    let mut stats = StreamStats::default();
    let mut scratch = redactor.scratch();
    let mut buf: Vec<u8> = Vec::new();
    let mut line_no = 1u64;
    let mut offset_in_line = 0usize;
    let mut line_changed = false;
    let mut line_invalid = false;
    loop {
        let want = cap.saturating_sub(buf.len()).max(1) as u64;
        let n = io::Read::take(&mut *reader, want).read_until(b'\n', &mut buf)?;
        if buf.is_empty() {
            break;
        }
        let complete = buf.last() == Some(&b'\n');
        let (end, keep_from) = if complete {
            (buf.len() - 1, buf.len())
        } else if n > 0 && buf.len() >= cap {
            let cut = cut_point(&buf);
            (cut, cut)
        } else {
            (buf.len(), buf.len())
        };
        let segment = &buf[..end];
        let text = String::from_utf8_lossy(segment);
        line_invalid |= matches!(text, Cow::Owned(_));
        let redacted = redactor.redact(&text, &mut scratch);
        for f in redacted.findings {
            on_alert(Alert::new(f, source, line_no, offset_in_line));
        }
        stats.findings += redacted.findings.len() as u64;
        line_changed |= matches!(redacted.text, Cow::Owned(_));
        writer.write_all(redacted.text.as_bytes())?;
        let line_done = complete || end == buf.len();
        if line_done {
            if complete {
                writer.write_all(b"\n")?;
            }
            stats.lines += 1;
            stats.changed_lines += u64::from(line_changed);
            stats.invalid_utf8_lines += u64::from(line_invalid);
            if offset_in_line > 0 {
                stats.chunked_lines += 1;
            }
            line_no += 1;
            offset_in_line = 0;
            line_changed = false;
            line_invalid = false;
        } else {
            offset_in_line += end;
        }
        buf.drain(..keep_from);
    }
    writer.flush()?;
    Ok(stats)
}

/// Where to end a chunk of an over-long line: after the last structural delimiter near
/// the cap (values rarely contain one), else after a space, else at a char boundary.
fn cut_point(buf: &[u8]) -> usize {
    let window_start = buf.len().saturating_sub(CUT_WINDOW);
    let window = &buf[window_start..];
    let after = |pred: fn(u8) -> bool| {
        window
            .iter()
            .rposition(|b| pred(*b))
            .map(|i| window_start + i + 1)
    };
    after(|b| matches!(b, b',' | b';' | b'\t' | b'{' | b'}' | b'<' | b'>' | 0))
        .or_else(|| after(|b| b == b' '))
        .unwrap_or_else(|| {
            // Back up to the start of a UTF-8 sequence.
            let mut cut = buf.len();
            while cut > window_start && (buf[cut - 1] & 0b1100_0000) == 0b1000_0000 {
                cut -= 1;
            }
            if cut > window_start && buf[cut - 1] >= 0xC0 {
                cut -= 1;
            }
            if cut == 0 { buf.len() } else { cut }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::RedactConfig;

    fn run(input: &[u8], cap: usize) -> (Vec<u8>, Vec<Alert>, StreamStats) {
        let Ok(r) = Redactor::new(RedactConfig::default()) else {
            panic!("builds")
        };
        let mut out = Vec::new();
        let mut alerts = Vec::new();
        let mut reader = input;
        let stats = match redact_stream_capped(
            &r,
            &mut reader,
            &mut out,
            "t.log",
            &mut |a| alerts.push(a),
            cap,
        ) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        (out, alerts, stats)
    }

    #[test]
    fn lines_numbers_and_partial_last_line() {
        let (out, alerts, stats) = run(b"ok\nssn 289-58-6539\nmail a.b@web.de", MAX_LINE_BYTES);
        assert_eq!(out, b"ok\nssn [SSN_REDACTED]\nmail [EMAIL_REDACTED]@web.de");
        assert_eq!(alerts.iter().map(|a| a.line).collect::<Vec<_>>(), [2, 3]);
        assert_eq!(stats.lines, 3);
        assert!(!alerts[0].to_json().contains("6539"));
    }

    #[test]
    fn invalid_utf8_and_nul_are_scanned() {
        let (out, _, stats) = run(
            b"\xff\xfe card 4532015112830366\0 end\n\0\0\n",
            MAX_LINE_BYTES,
        );
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.contains("[CREDIT_CARD_REDACTED]") && !text.contains("4532015112830366"),
            "{text}"
        );
        assert_eq!(stats.invalid_utf8_lines, 1);
    }

    #[test]
    fn long_lines_are_scanned_in_chunks() {
        let mut line = Vec::new();
        for _ in 0..200 {
            line.extend_from_slice(b"x=1, card=4532015112830366, ip=\"81.2.69.160\"; ");
        }
        line.push(b'\n');
        let (out, alerts, stats) = run(&line, 1000);
        let text = String::from_utf8_lossy(&out);
        assert!(!text.contains("4532015112830366") && !text.contains("81.2.69.160"));
        assert_eq!(alerts.len(), 400);
        assert_eq!((stats.lines, stats.chunked_lines), (1, 1));
        assert_eq!(out.iter().filter(|b| **b == b'\n').count(), 1);
    }
}
