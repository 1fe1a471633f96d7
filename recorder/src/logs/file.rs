//! One generation (inode) of a tailed file: reads, line assembly, copytruncate recovery.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use qb_signals::LogRow;

use super::{TailStats, detect_level, detect_pid, kind};

/// A file's first bytes, kept to recognise its copy after copytruncate.
const HEAD: usize = 256;

/// Where rows of one poll go.
pub(super) struct Sink<'a> {
    pub(super) ts_ns: i64,
    pub(super) max: usize,
    pub(super) wait_ns: i64,
    /// `max_bytes_per_poll`, and what is left of it for the generation being read.
    pub(super) per_file: u64,
    pub(super) budget: u64,
    pub(super) out: &'a mut Vec<LogRow>,
    pub(super) stats: &'a mut TailStats,
}

impl Sink<'_> {
    /// `over`: bytes after `raw` were dropped because the line was too long.
    fn emit(&mut self, source: &str, offset: u64, mut raw: &[u8], over: bool) {
        if !over && let [rest @ .., b'\r'] = raw {
            raw = rest;
        }
        let mut truncated = over || raw.len() > self.max;
        if raw.len() > self.max {
            raw = whole_chars(&raw[..self.max]);
        }
        let mut line = String::from_utf8_lossy(raw).into_owned();
        // A replacement character (3 bytes) can be longer than the bytes it replaces.
        if line.len() > self.max {
            line.truncate(line.floor_char_boundary(self.max));
            truncated = true;
        }
        self.stats.lines += 1;
        self.stats.truncated_lines += u64::from(truncated);
        self.out.push(LogRow {
            ts_ns: self.ts_ns,
            source: source.to_owned(),
            offset,
            pid: detect_pid(&line),
            level: detect_level(&line).map(str::to_owned),
            line,
            truncated,
        });
    }
}

/// Drops a UTF-8 sequence cut short at the end of `b`.
fn whole_chars(b: &[u8]) -> &[u8] {
    for back in 1..=b.len().min(4) {
        let i = b.len() - back;
        if b[i] & 0xC0 != 0x80 {
            let width = match b[i] {
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                0xF0..=0xF7 => 4,
                _ => 1,
            };
            return if width > back { &b[..i] } else { b };
        }
    }
    b
}

/// The line being assembled across reads. At most `max + 1` bytes are kept (one more
/// than the limit, so a final '\r' is not mistaken for an over-long line); the rest of
/// an over-long line is skipped, so memory stays bounded whatever the line length.
#[derive(Debug, Default)]
struct LineBuf {
    buf: Vec<u8>,
    /// Offset of the line's first byte.
    start: u64,
    over: bool,
    /// Drop everything up to the next '\n' (a line whose start we did not see).
    skip: bool,
}

impl LineBuf {
    /// `data` was read at offset `at`.
    fn feed(&mut self, mut data: &[u8], mut at: u64, source: &str, sink: &mut Sink) {
        if self.skip {
            let Some(i) = data.iter().position(|&b| b == b'\n') else {
                return;
            };
            at += i as u64 + 1;
            self.start = at;
            data = &data[i + 1..];
            self.skip = false;
        }
        while let Some(i) = data.iter().position(|&b| b == b'\n') {
            if self.buf.is_empty() && !self.over {
                // The common case: the whole line is in this chunk, no copy.
                sink.emit(source, self.start, &data[..i], false);
            } else {
                self.push(&data[..i], sink.max);
                sink.emit(source, self.start, &self.buf, self.over);
                self.buf.clear();
                self.over = false;
            }
            at += i as u64 + 1;
            self.start = at;
            data = &data[i + 1..];
        }
        self.push(data, sink.max);
    }

    fn push(&mut self, data: &[u8], max: usize) {
        let room = max.saturating_add(1).saturating_sub(self.buf.len());
        if data.len() > room {
            self.buf.extend_from_slice(&data[..room]);
            self.over = true;
        } else {
            self.buf.extend_from_slice(data);
        }
    }

    /// Emits a pending partial line: its file generation has ended.
    fn flush(&mut self, source: &str, sink: &mut Sink) {
        self.skip = false;
        if !self.buf.is_empty() || self.over {
            sink.emit(source, self.start, &self.buf, self.over);
            self.buf.clear();
            self.over = false;
        }
    }
}

enum Outcome {
    Bytes(u64),
    Truncated,
}

/// One generation (inode) of a tailed file.
#[derive(Debug)]
pub(super) struct Tail {
    path: PathBuf,
    source: String,
    file: File,
    pub(super) id: (u64, u64),
    /// Next byte to read.
    pos: u64,
    /// The file's first min(pos, 256) bytes, as we read them.
    head: Vec<u8>,
    line: LineBuf,
    /// Poll time since which a retired generation has not grown.
    idle_since: Option<i64>,
}

impl Tail {
    /// From the start, or with `at_end` (a scratch buffer) from the start of the
    /// file's last, unfinished line: a line being written at startup is recorded whole.
    pub(super) fn open(path: &Path, at_end: Option<&mut [u8]>) -> io::Result<Tail> {
        let file = open_nonblocking(path)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(io::Error::other(format!(
                "not a regular file ({})",
                kind(&meta)
            )));
        }
        let mut pos = 0;
        let mut line = LineBuf::default();
        if let Some(buf) = at_end {
            pos = meta.len();
            let w = buf.len().min(usize::try_from(pos).unwrap_or(usize::MAX));
            let from = pos - w as u64;
            let n = read_full_at(&file, &mut buf[..w], from)?;
            match buf[..n].iter().rposition(|&b| b == b'\n') {
                Some(i) => pos = from + i as u64 + 1,
                None if from == 0 => pos = 0,
                // The line started more than a buffer back: skip to the next one.
                None => line.skip = true,
            }
            line.start = pos;
        }
        let mut head = Vec::with_capacity(HEAD);
        head.resize(usize::try_from(pos).map_or(HEAD, |p| p.min(HEAD)), 0);
        let n = read_full_at(&file, &mut head, 0)?;
        head.truncate(n);
        Ok(Tail {
            path: path.to_path_buf(),
            source: path.to_string_lossy().into_owned(),
            file,
            id: (meta.dev(), meta.ino()),
            pos,
            head,
            line,
            idle_since: None,
        })
    }

    pub(super) fn renamed(mut self, path: &Path) -> Tail {
        self.path = path.to_path_buf();
        self.source = path.to_string_lossy().into_owned();
        self.idle_since = None;
        self
    }

    /// Reads the current generation up to `size`, recovering from a truncation.
    pub(super) fn update(
        &mut self,
        size: u64,
        chunk: &mut [u8],
        sink: &mut Sink,
    ) -> io::Result<()> {
        sink.budget = sink.per_file;
        if size >= self.pos && matches!(self.read_to(size, chunk, sink)?, Outcome::Bytes(_)) {
            sink.stats.backlog_bytes += size.saturating_sub(self.pos);
            return Ok(());
        }
        self.recover_copy(chunk, sink);
        let size = self.file.metadata()?.len();
        self.read_to(size, chunk, sink)?;
        sink.stats.backlog_bytes += size.saturating_sub(self.pos);
        Ok(())
    }

    /// Reads a retired generation; false once it has been idle for the rotate wait,
    /// after emitting its pending partial line.
    pub(super) fn drain(&mut self, chunk: &mut [u8], sink: &mut Sink) -> bool {
        sink.budget = sink.per_file;
        let read = self.file.metadata().and_then(|m| {
            let size = m.len();
            self.read_to(size, chunk, sink).map(|o| (o, size))
        });
        match read {
            Ok((Outcome::Bytes(n), size)) if n > 0 => {
                self.idle_since = None;
                sink.stats.backlog_bytes += size.saturating_sub(self.pos);
                return true;
            }
            Ok((Outcome::Bytes(_), _)) => {
                let since = *self.idle_since.get_or_insert(sink.ts_ns);
                if sink.ts_ns.saturating_sub(since) < sink.wait_ns {
                    return true;
                }
            }
            // Unreadable or truncated: nothing more will come from this handle.
            _ => {}
        }
        self.line.flush(&self.source, sink);
        false
    }

    fn read_to(&mut self, end: u64, chunk: &mut [u8], sink: &mut Sink) -> io::Result<Outcome> {
        let start = self.pos;
        // The rest stays on disk for the next poll (a partial line stays in `line`).
        let end = end.min(self.pos.saturating_add(sink.budget));
        while self.pos < end {
            let want = chunk
                .len()
                .min(usize::try_from(end - self.pos).unwrap_or(usize::MAX));
            let n = match self.file.read_at(&mut chunk[..want], self.pos) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            // Checked after the read: had the file been truncated and rewritten past our
            // offset before it, these bytes belong to the new generation. Discarding
            // them is safe either way, as the copy holds the old bytes.
            if !self.head_intact()? {
                return Ok(Outcome::Truncated);
            }
            let data = &chunk[..n];
            if self.head.len() < HEAD && self.head.len() as u64 == self.pos {
                let k = (HEAD - self.head.len()).min(n);
                self.head.extend_from_slice(&data[..k]);
            }
            self.line.feed(data, self.pos, &self.source, sink);
            self.pos += n as u64;
            sink.stats.bytes += n as u64;
            sink.budget = sink.budget.saturating_sub(n as u64);
        }
        Ok(Outcome::Bytes(self.pos - start))
    }

    fn head_intact(&self) -> io::Result<bool> {
        if self.head.is_empty() {
            return Ok(true);
        }
        let mut buf = [0u8; HEAD];
        let n = read_full_at(&self.file, &mut buf[..self.head.len()], 0)?;
        Ok(buf[..n] == self.head[..])
    }

    /// The file was truncated in place: reads the rest of this generation from its
    /// copy, then starts over at offset 0.
    fn recover_copy(&mut self, chunk: &mut [u8], sink: &mut Sink) {
        match find_copy(&self.path, &self.head, self.pos) {
            Some(copy) => {
                let end = copy.metadata().map_or(0, |m| m.len());
                let truncated = std::mem::replace(&mut self.file, copy);
                // The copy no longer changes; a read error only loses its tail. It is
                // read whole: after it, this handle starts over on the new generation.
                let budget = std::mem::replace(&mut sink.budget, u64::MAX);
                let _ = self.read_to(end, chunk, sink);
                sink.budget = budget;
                self.file = truncated;
            }
            None => {
                sink.stats.truncations_without_copy += 1;
                tracing::debug!("{}: truncated, no rotated copy found", self.source);
            }
        }
        self.line.flush(&self.source, sink);
        self.pos = 0;
        self.line.start = 0;
        self.head.clear();
    }
}

/// The newest sibling `<name>.<suffix>` that starts with `head` and holds at least
/// `pos` bytes: the copy copytruncate made of this generation.
fn find_copy(path: &Path, head: &[u8], pos: u64) -> Option<File> {
    if head.is_empty() {
        return None;
    }
    let name = path.file_name()?.as_bytes();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut best: Option<(SystemTime, File)> = None;
    let mut buf = [0u8; HEAD];
    for entry in fs::read_dir(dir).ok()?.flatten() {
        let sibling = entry.file_name();
        let is_sibling = sibling
            .as_bytes()
            .strip_prefix(name)
            .and_then(|rest| rest.strip_prefix(b"."))
            .is_some_and(|suffix| !suffix.is_empty());
        if !is_sibling {
            continue;
        }
        let Ok(file) = open_nonblocking(&entry.path()) else {
            continue;
        };
        let Ok(meta) = file.metadata() else { continue };
        let prefix = &mut buf[..head.len()];
        if !meta.is_file()
            || meta.len() < pos
            || read_full_at(&file, prefix, 0).ok() != Some(head.len())
            || prefix != head
        {
            continue;
        }
        let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        if best.as_ref().is_none_or(|(t, _)| mtime > *t) {
            best = Some((mtime, file));
        }
    }
    best.map(|(_, f)| f)
}

/// O_NONBLOCK: a FIFO put in a file's place between stat and open must not block.
fn open_nonblocking(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

/// Reads at `off` until `buf` is full or end of file; returns the bytes read.
fn read_full_at(file: &File, buf: &mut [u8], mut off: u64) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], off) {
            Ok(0) => break,
            Ok(k) => {
                n += k;
                off += k as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_utf8_sequences_are_dropped() {
        assert_eq!(whole_chars("aé".as_bytes()), "aé".as_bytes());
        assert_eq!(whole_chars(&"aé".as_bytes()[..2]), b"a");
        assert_eq!(whole_chars(&"a😀".as_bytes()[..4]), b"a");
        assert_eq!(whole_chars("a😀".as_bytes()), "a😀".as_bytes());
        assert_eq!(whole_chars(b"\xff\xff"), b"\xff\xff");
        assert_eq!(whole_chars(b""), b"");
    }
}
