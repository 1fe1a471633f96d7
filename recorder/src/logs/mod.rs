//! The `logs` table: tails files matched by globs into [`LogRow`]s.
//!
//! Each poll re-expands the globs (new files are picked up) and reads every file from
//! where the last poll stopped up to the size it had when the poll looked at it, so a
//! fast writer cannot keep a poll busy. Files are followed by (dev, inode):
//!
//! - rename-and-create: when a path names another inode, the old handle is drained, then
//!   kept open and drained on later polls until it has been idle for `rotate_wait`
//!   (the program writes to it until it reopens its log); its pending partial line is
//!   emitted when it is closed. A rotated file renamed to a name the globs also match
//!   continues where it was, without duplicates.
//! - copytruncate: a file that shrank, or whose first bytes changed, was truncated. The
//!   lines after our last read are in the copy: the sibling `<name>.<suffix>` that starts
//!   with the bytes we saw first (up to 256) and holds at least our offset. Without one,
//!   the possible loss is counted. Lines written between logrotate's copy and its
//!   truncate are lost by copytruncate itself.
//!
//! Globs: `*`, `?` and `[...]` (`[!...]` or `[^...]` negate, `a-z` ranges) match within
//! one path component, in any component; `*` and `?` do not match a leading '.'.
//! `**`, braces and escapes are not supported. A glob that also matches rotated copies
//! (`app.log*`) reads copytruncate copies again, as new files.

mod detect;
mod file;
mod glob;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use qb_signals::LogRow;

use crate::fsread::vanished;
pub use detect::{detect_level, detect_pid};
use file::{Sink, Tail};
use glob::Glob;

/// Bytes per read; one buffer shared by all files.
const CHUNK: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("log glob '{pattern}': {reason}")]
    BadGlob {
        pattern: String,
        reason: &'static str,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailConfig {
    /// Longer lines are cut here (on a char boundary) and flagged `truncated`.
    pub max_line_bytes: usize,
    /// Read files that exist at startup from their beginning instead of their current
    /// end. Files that appear later are always read from their beginning.
    pub from_start: bool,
    /// How long, in poll time (`ts_ns`), a rotated-away or deleted file stays open once
    /// it stopped growing. Zero closes it at the first poll that finds nothing new.
    pub rotate_wait: Duration,
    /// Bytes read from one file (one generation) in one poll at most. The rest waits
    /// for the next poll, on disk: a writer faster than the reader makes the tailer
    /// lag (see `TailStats::backlog_bytes`), never grows a poll's rows without bound.
    pub max_bytes_per_poll: u64,
}

impl Default for TailConfig {
    fn default() -> Self {
        TailConfig {
            max_line_bytes: 16 * 1024,
            from_start: false,
            rotate_wait: Duration::from_secs(5),
            max_bytes_per_poll: 64 << 20,
        }
    }
}

/// What one poll did. `files` and `unreadable` describe the state at this poll; the
/// other fields count this poll's work.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TailStats {
    pub lines: u64,
    pub bytes: u64,
    pub truncated_lines: u64,
    /// Files followed (current generations; rotated ones still draining not included).
    pub files: u64,
    /// Matched paths that could not be read; see [`LogTailer::problems`].
    pub unreadable: u64,
    /// Truncations without a rotated copy: lines written after our last read and
    /// before the truncation may be lost.
    pub truncations_without_copy: u64,
    /// Bytes left unread at the end of this poll because of `max_bytes_per_poll`.
    pub backlog_bytes: u64,
}

#[derive(Debug)]
pub struct LogTailer {
    globs: Vec<Glob>,
    max_line_bytes: usize,
    rotate_wait_ns: i64,
    max_bytes_per_poll: u64,
    /// Current generation of each matched path.
    files: BTreeMap<PathBuf, Tail>,
    /// Rotated-away or deleted generations, drained until idle.
    retired: Vec<Tail>,
    /// Unreadable paths and why, as of the last poll.
    problems: BTreeMap<PathBuf, String>,
    chunk: Vec<u8>,
}

impl LogTailer {
    /// Fails only on an invalid glob. Unless `from_start`, files matched now are
    /// followed from their current end.
    pub fn new(globs: &[String], config: TailConfig) -> Result<Self, LogError> {
        let globs = globs
            .iter()
            .map(|g| Glob::parse(g))
            .collect::<Result<Vec<_>, _>>()?;
        let mut tailer = LogTailer {
            globs,
            max_line_bytes: config.max_line_bytes,
            rotate_wait_ns: i64::try_from(config.rotate_wait.as_nanos()).unwrap_or(i64::MAX),
            max_bytes_per_poll: config.max_bytes_per_poll.max(1),
            files: BTreeMap::new(),
            retired: Vec::new(),
            problems: BTreeMap::new(),
            chunk: vec![0; CHUNK],
        };
        if !config.from_start {
            // Unreadable ones are reported by the first poll.
            for path in tailer.expand(&mut BTreeMap::new()) {
                if let Ok(tail) = Tail::open(&path, Some(tailer.chunk.as_mut_slice())) {
                    tailer.files.insert(path, tail);
                }
            }
        }
        Ok(tailer)
    }

    /// The per-file budget of the next polls (at least 1 byte).
    pub fn set_max_bytes_per_poll(&mut self, bytes: u64) {
        self.max_bytes_per_poll = bytes.max(1);
    }

    /// Unreadable matched paths as of the last poll, as `path: reason`. Each is also
    /// logged once (with `tracing`) when it first becomes unreadable.
    pub fn problems(&self) -> Vec<String> {
        self.problems
            .iter()
            .map(|(p, why)| format!("{}: {why}", p.display()))
            .collect()
    }

    /// Appends one row per new complete line to `out`. Never fails: what cannot be
    /// read is counted and listed by [`LogTailer::problems`].
    pub fn poll(&mut self, ts_ns: i64, out: &mut Vec<LogRow>) -> TailStats {
        let mut stats = TailStats::default();
        let mut problems = BTreeMap::new();
        let found: Vec<(PathBuf, io::Result<Metadata>)> = self
            .expand(&mut problems)
            .into_iter()
            .map(|p| {
                let m = fs::metadata(&p);
                (p, m)
            })
            .collect();
        let mut sink = Sink {
            ts_ns,
            max: self.max_line_bytes,
            wait_ns: self.rotate_wait_ns,
            per_file: self.max_bytes_per_poll,
            budget: 0,
            out,
            stats: &mut stats,
        };
        let chunk = &mut self.chunk;

        // Old generations first: their lines were written before the current ones.
        self.retired.retain_mut(|t| t.drain(chunk, &mut sink));
        // A path that is gone or names another inode was rotated or deleted: drain its
        // old handle before reading any successor.
        let moved: Vec<PathBuf> = self
            .files
            .iter()
            .filter(|(p, t)| !same_file(&found, p, t.id))
            .map(|(p, _)| p.clone())
            .collect();
        for path in moved {
            if let Some(mut t) = self.files.remove(&path)
                && t.drain(chunk, &mut sink)
            {
                self.retired.push(t);
            }
        }

        for (path, meta) in found {
            let meta = match meta {
                Ok(m) if m.is_file() => m,
                Ok(m) => {
                    problems.insert(path, format!("not a regular file ({})", kind(&m)));
                    continue;
                }
                Err(e) if vanished(&e) => continue,
                Err(e) => {
                    problems.insert(path, e.to_string());
                    continue;
                }
            };
            if !self.files.contains_key(&path) {
                let id = (meta.dev(), meta.ino());
                let tail = match self.retired.iter().position(|t| t.id == id) {
                    Some(i) => Ok(self.retired.remove(i).renamed(&path)),
                    None => Tail::open(&path, None),
                };
                match tail {
                    Ok(t) => {
                        self.files.insert(path.clone(), t);
                    }
                    Err(e) => {
                        problems.insert(path, e.to_string());
                        continue;
                    }
                }
            }
            if let Some(t) = self.files.get_mut(&path)
                && let Err(e) = t.update(meta.len(), chunk, &mut sink)
            {
                problems.insert(path, format!("read failed: {e}"));
            }
        }

        for (path, why) in &problems {
            if self.problems.get(path) != Some(why) {
                tracing::warn!("log {}: {why}", path.display());
            }
        }
        stats.unreadable = problems.len() as u64;
        stats.files = self.files.len() as u64;
        self.problems = problems;
        stats
    }

    fn expand(&self, problems: &mut BTreeMap<PathBuf, String>) -> BTreeSet<PathBuf> {
        let mut paths = BTreeSet::new();
        for glob in &self.globs {
            glob.expand(&mut paths, problems);
        }
        paths
    }
}

/// The path still names the regular file with this (dev, inode).
fn same_file(found: &[(PathBuf, io::Result<Metadata>)], path: &Path, id: (u64, u64)) -> bool {
    found
        .binary_search_by(|(p, _)| p.as_path().cmp(path))
        .ok()
        .and_then(|i| found[i].1.as_ref().ok())
        .is_some_and(|m| m.is_file() && (m.dev(), m.ino()) == id)
}

fn kind(m: &Metadata) -> &'static str {
    let t = m.file_type();
    if t.is_dir() {
        "directory"
    } else if t.is_fifo() {
        "fifo"
    } else if t.is_socket() {
        "socket"
    } else {
        "device or other"
    }
}
