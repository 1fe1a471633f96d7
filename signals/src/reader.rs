//! Reading datasets: validated segments, whole tables, and `ReplaySource`.

use std::collections::VecDeque;
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::datatypes::SchemaRef;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::{Error, IoContext, Result};
use crate::frame::{Frame, SignalSource};
use crate::manifest::Manifest;
use crate::row::Row;
use crate::schema::{Table, readable_version};
use crate::tables::*;
use crate::writer::{PARTIAL_SUFFIX, meta};

pub(crate) fn schema_for(table: Table) -> SchemaRef {
    match table {
        Table::System => SystemRow::arrow_schema(),
        Table::Process => ProcessRow::arrow_schema(),
        Table::Cgroup => CgroupRow::arrow_schema(),
        Table::Syscalls => SyscallRow::arrow_schema(),
        Table::Connections => ConnectionRow::arrow_schema(),
        Table::Logs => LogRow::arrow_schema(),
        Table::Traces => TraceRow::arrow_schema(),
        Table::Requests => RequestRow::arrow_schema(),
        Table::Labels => LabelRow::arrow_schema(),
    }
}

/// Segment files below `dir` (any depth), sorted by sequence number then path.
/// Partial segments (never closed) are included only when asked for.
pub(crate) fn walk_segments(dir: &Path, include_partial: bool) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::Io { path: d, source: e }),
        };
        for entry in entries {
            let path = entry.at(&d)?.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if path.is_dir() {
                stack.push(path);
            } else if name.ends_with(".parquet")
                || (include_partial && name.ends_with(&format!(".parquet{PARTIAL_SUFFIX}")))
            {
                out.push(path);
            }
        }
    }
    out.sort_by_key(|p| (sequence_of(p), p.clone()));
    Ok(out)
}

/// The `<seq>` of `<seq>.parquet[.partial]`.
pub(crate) fn sequence_of(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    name.split('.').next()?.parse().ok()
}

/// Reads one segment, refusing it unless its footer names this table and this schema or
/// a compatible ancestor (whose tables are unchanged, so the columns read the same).
pub fn read_segment<R: Row>(path: &Path) -> Result<Vec<R>> {
    let bad = |message: String| Error::BadSegment {
        path: path.into(),
        message,
    };
    let file = File::open(path).at(path)?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| bad(e.to_string()))?;
    let kv = builder.metadata().file_metadata().key_value_metadata();
    let get = |key: &str| {
        kv.and_then(|kv| kv.iter().find(|k| k.key == key))
            .and_then(|k| k.value.clone())
    };
    let Some(hash) = get(meta::SCHEMA_HASH) else {
        return Err(bad(format!(
            "not written by qbranch (no {} metadata)",
            meta::SCHEMA_HASH
        )));
    };
    if readable_version(&hash).is_none_or(|v| v < R::TABLE.since_version()) {
        let version = get(meta::SCHEMA_VERSION).unwrap_or_else(|| "?".into());
        return Err(Error::SchemaMismatch {
            path: path.into(),
            found: format!("schema v{version} ({hash})"),
        });
    }
    match get(meta::TABLE) {
        Some(t) if t == R::TABLE.name() => {}
        other => {
            return Err(bad(format!(
                "holds table '{}', expected '{}'",
                other.unwrap_or_default(),
                R::TABLE
            )));
        }
    }
    let reader = builder.build().map_err(|e| bad(e.to_string()))?;
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| bad(e.to_string()))?;
        rows.extend(R::from_batch(&batch).map_err(bad)?);
    }
    Ok(rows)
}

/// A recorded (or simulated) dataset directory, validated against this build's schema.
#[derive(Debug, Clone)]
pub struct Dataset {
    root: PathBuf,
    manifest: Manifest,
}

impl Dataset {
    pub fn open(root: &Path) -> Result<Self> {
        let manifest = Manifest::load(root)?;
        Ok(Dataset {
            root: root.into(),
            manifest,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Closed segments of a table, in write order.
    pub fn segments(&self, table: Table) -> Result<Vec<PathBuf>> {
        walk_segments(&self.root.join(table.name()), false)
    }

    /// Segments that were never closed (the writer was killed); their rows are lost.
    pub fn partial_segments(&self, table: Table) -> Result<Vec<PathBuf>> {
        Ok(walk_segments(&self.root.join(table.name()), true)?
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "partial"))
            .collect())
    }

    /// Every row of a table, in write order.
    pub fn read_table<R: Row>(&self) -> Result<Vec<R>> {
        let mut rows = Vec::new();
        for path in self.segments(R::TABLE)? {
            rows.extend(read_segment::<R>(&path)?);
        }
        Ok(rows)
    }

    pub fn replay(&self) -> Result<ReplaySource> {
        ReplaySource::new(self)
    }
}

/// Streams one table segment by segment, in time order.
#[derive(Debug)]
struct Cursor<R> {
    segments: VecDeque<PathBuf>,
    buffered: VecDeque<R>,
}

impl<R: Row> Cursor<R> {
    fn new(dataset: &Dataset) -> Result<Self> {
        let segments = if dataset.manifest.is_recorded(R::TABLE) {
            dataset.segments(R::TABLE)?.into()
        } else {
            VecDeque::new()
        };
        Ok(Cursor {
            segments,
            buffered: VecDeque::new(),
        })
    }

    fn peek_ts(&mut self) -> Result<Option<i64>> {
        while self.buffered.is_empty() {
            let Some(path) = self.segments.pop_front() else {
                return Ok(None);
            };
            self.buffered = read_segment::<R>(&path)?.into();
        }
        Ok(self.buffered.front().map(Row::ts_ns))
    }

    /// Takes the leading rows with `ts_ns <= until`.
    fn take_until(&mut self, until: i64, out: &mut Vec<R>) -> Result<()> {
        while self.peek_ts()?.is_some_and(|ts| ts <= until) {
            out.extend(self.buffered.pop_front());
        }
        Ok(())
    }
}

/// Replays a dataset as frames: one per distinct timestamp of the sampled tables,
/// carrying the log lines, trace statistics and requests written up to that instant.
/// Labels are not replayed.
#[derive(Debug)]
pub struct ReplaySource {
    host: String,
    system: Cursor<SystemRow>,
    process: Cursor<ProcessRow>,
    cgroup: Cursor<CgroupRow>,
    syscalls: Cursor<SyscallRow>,
    connections: Cursor<ConnectionRow>,
    logs: Cursor<LogRow>,
    traces: Cursor<TraceRow>,
    requests: Cursor<RequestRow>,
}

impl ReplaySource {
    pub fn new(dataset: &Dataset) -> Result<Self> {
        Ok(ReplaySource {
            host: dataset.manifest.host.clone(),
            system: Cursor::new(dataset)?,
            process: Cursor::new(dataset)?,
            cgroup: Cursor::new(dataset)?,
            syscalls: Cursor::new(dataset)?,
            connections: Cursor::new(dataset)?,
            logs: Cursor::new(dataset)?,
            traces: Cursor::new(dataset)?,
            requests: Cursor::new(dataset)?,
        })
    }
}

impl SignalSource for ReplaySource {
    fn next_frame(&mut self) -> Result<Option<Frame>> {
        let sampled = [
            self.system.peek_ts()?,
            self.process.peek_ts()?,
            self.cgroup.peek_ts()?,
            self.syscalls.peek_ts()?,
            self.connections.peek_ts()?,
        ];
        let events = [
            self.logs.peek_ts()?,
            self.traces.peek_ts()?,
            self.requests.peek_ts()?,
        ];
        let Some(ts) = sampled
            .into_iter()
            .flatten()
            .min()
            .or(events.into_iter().flatten().min())
        else {
            return Ok(None);
        };
        let mut frame = Frame::new(ts, self.host.clone());
        let mut system = Vec::new();
        self.system.take_until(ts, &mut system)?;
        frame.system = system.pop();
        self.process.take_until(ts, &mut frame.processes)?;
        self.cgroup.take_until(ts, &mut frame.cgroups)?;
        self.syscalls.take_until(ts, &mut frame.syscalls)?;
        self.connections.take_until(ts, &mut frame.connections)?;
        self.logs.take_until(ts, &mut frame.logs)?;
        self.traces.take_until(ts, &mut frame.traces)?;
        self.requests.take_until(ts, &mut frame.requests)?;
        Ok(Some(frame))
    }
}
