//! A buffered line's byte encoding inside a ring block. Own and flat (no serde) because
//! it runs for every line at 100k lines/s; decoding validates every length, so a corrupt
//! block ends the read with `None` instead of a panic.

use qb_signals::LogRow;

/// A line as the ring holds it: the row plus its ingestion sequence number, which is
/// the original order across flushes.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub seq: u64,
    pub row: LogRow,
}

/// Appends one line to `out`.
pub fn encode(seq: u64, row: &LogRow, out: &mut Vec<u8>) {
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&row.ts_ns.to_le_bytes());
    out.extend_from_slice(&row.offset.to_le_bytes());
    match row.pid {
        Some(pid) => {
            out.push(1);
            out.extend_from_slice(&pid.to_le_bytes());
        }
        None => out.push(0),
    }
    out.push(u8::from(row.truncated));
    put_str(out, row.level.as_deref().map(|l| &l[..l.len().min(255)]));
    put_str(out, Some(&row.source));
    put_str(out, Some(&row.line));
}

/// Bytes `encode` writes for a row, for accounting without encoding.
pub fn encoded_len(row: &LogRow) -> usize {
    8 + 8
        + 8
        + 1
        + 4
        + 1
        + 5
        + row.level.as_deref().map_or(0, str::len)
        + 5
        + row.source.len()
        + 5
        + row.line.len()
}

/// A u8 presence-or-length tag then a u32 length, so `None` and `Some("")` differ.
fn put_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => out.push(0),
        Some(s) => {
            out.push(1);
            let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&s.as_bytes()[..len as usize]);
        }
    }
}

/// Reads lines back one by one.
#[derive(Debug)]
pub struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Decoder { buf, pos: 0 }
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4)?.try_into().ok().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Option<u64> {
        self.take(8)?.try_into().ok().map(u64::from_le_bytes)
    }

    fn str(&mut self) -> Option<Option<String>> {
        match self.u8()? {
            0 => Some(None),
            1 => {
                let len = self.u32()? as usize;
                let bytes = self.take(len)?;
                Some(Some(String::from_utf8_lossy(bytes).into_owned()))
            }
            _ => None,
        }
    }

    fn line(&mut self) -> Option<Stored> {
        let seq = self.u64()?;
        let ts_ns = self.u64()? as i64;
        let offset = self.u64()?;
        let pid = match self.u8()? {
            0 => None,
            1 => Some(self.u32()?),
            _ => return None,
        };
        let truncated = self.u8()? != 0;
        let level = self.str()?;
        let source = self.str()??;
        let line = self.str()??;
        Some(Stored {
            seq,
            row: LogRow {
                ts_ns,
                source,
                offset,
                pid,
                level,
                line,
                truncated,
            },
        })
    }
}

impl Iterator for Decoder<'_> {
    type Item = Result<Stored, usize>;

    /// `Err(position)` once, where the bytes stop making sense; then the end.
    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let at = self.pos;
        match self.line() {
            Some(s) => Some(Ok(s)),
            None => {
                self.pos = self.buf.len();
                Some(Err(at))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(line: &str, level: Option<&str>, pid: Option<u32>) -> LogRow {
        LogRow {
            ts_ns: -5,
            source: "/var/log/a.log".into(),
            offset: 77,
            pid,
            level: level.map(Into::into),
            line: line.into(),
            truncated: true,
        }
    }

    #[test]
    fn round_trip_and_length() {
        let rows = [
            row("hello", Some("error"), Some(9)),
            row("", None, None),
            row("ünïcödé", Some(""), None),
        ];
        let mut buf = Vec::new();
        for (i, r) in rows.iter().enumerate() {
            let before = buf.len();
            encode(i as u64, r, &mut buf);
            assert!(buf.len() - before <= encoded_len(r));
        }
        let back: Vec<Stored> = Decoder::new(&buf).map(|r| r.unwrap()).collect();
        assert_eq!(back.len(), 3);
        for (i, (s, r)) in back.iter().zip(&rows).enumerate() {
            assert_eq!((s.seq, &s.row), (i as u64, r));
        }
    }

    #[test]
    fn truncated_or_garbage_bytes_stop_with_an_error() {
        let mut buf = Vec::new();
        encode(1, &row("x", None, None), &mut buf);
        encode(2, &row("y", None, None), &mut buf);
        let cut = &buf[..buf.len() - 1];
        let items: Vec<_> = Decoder::new(cut).collect();
        assert!(items[0].is_ok());
        assert!(items[1].is_err());
        assert_eq!(items.len(), 2);
        let garbage = [0xffu8; 40];
        assert!(Decoder::new(&garbage).all(|r| r.is_err()));
    }
}
