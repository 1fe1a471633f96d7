//! Writing datasets: rolling zstd Parquet segments laid out hive-style,
//! `<table>/host=<h>/date=<YYYY-MM-DD>/<seq>.parquet`.
//!
//! A segment is written as `<seq>.parquet.partial` and renamed when closed, so readers
//! (ours, polars, DuckDB) never see a segment without its footer; after `kill -9` every
//! closed segment stays readable and only the open one is lost.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use crate::error::{Error, IoContext, Result};
use crate::frame::Frame;
use crate::manifest::{Manifest, Origin, State, TableEntry, TableStatus};
use crate::row::Row;
use crate::schema::{SCHEMA_VERSION, Table, schema_hash};
use crate::time::utc_date;

/// Key-value metadata keys written into every segment's footer.
pub mod meta {
    pub const SCHEMA_VERSION: &str = "qbranch.schema_version";
    pub const SCHEMA_HASH: &str = "qbranch.schema_hash";
    pub const TABLE: &str = "qbranch.table";
    pub const HOST: &str = "qbranch.host";
    pub const ORIGIN: &str = "qbranch.origin";
}

pub const DEFAULT_SEGMENT: Duration = Duration::from_secs(60);
pub(crate) const PARTIAL_SUFFIX: &str = ".partial";

#[derive(Debug, Clone)]
pub struct WriterOptions {
    pub host: String,
    pub origin: Origin,
    /// Tables to write, each with how its rows are produced (e.g. "procfs").
    pub tables: BTreeMap<Table, String>,
    /// Event-time span of one segment before it is closed and the next one opened.
    pub segment: Duration,
    /// Add to an existing recording of the same schema instead of refusing a non-empty dir.
    pub append: bool,
}

/// Writes frames (and labels) of one host into a dataset directory.
#[derive(Debug)]
pub struct DatasetWriter {
    root: PathBuf,
    manifest: Manifest,
    writers: BTreeMap<Table, SegmentWriter>,
}

impl DatasetWriter {
    /// Creates the directory and an in-progress manifest. Refuses a non-empty directory
    /// unless `append` is set and it holds a recording of this schema and host.
    pub fn create(root: &Path, opts: WriterOptions) -> Result<Self> {
        let mut manifest = prepare_dir(root, &opts)?;
        manifest.state = State::InProgress;
        let host_dir = format!("host={}", partition_value(&opts.host));
        let mut writers = BTreeMap::new();
        for (&table, method) in &opts.tables {
            let entry = manifest
                .tables
                .entry(table.name().into())
                .or_insert(TableEntry {
                    status: TableStatus::Recorded,
                    method: None,
                    reason: None,
                    rows: 0,
                    bytes: 0,
                    segments: 0,
                });
            entry.status = TableStatus::Recorded;
            entry.method = Some(method.clone());
            let dir = root.join(table.name()).join(&host_dir);
            let next_seq = next_sequence(&root.join(table.name()))?;
            writers.insert(table, SegmentWriter::new(table, dir, next_seq, &opts));
        }
        manifest.store(root)?;
        Ok(DatasetWriter {
            root: root.into(),
            manifest,
            writers,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Records in the manifest that `table` was not written, and why.
    pub fn mark_unavailable(&mut self, table: Table, reason: impl Into<String>) -> Result<()> {
        self.writers.remove(&table);
        self.manifest.tables.insert(
            table.name().into(),
            TableEntry {
                status: TableStatus::Unavailable,
                method: None,
                reason: Some(reason.into()),
                rows: 0,
                bytes: 0,
                segments: 0,
            },
        );
        self.manifest.store(&self.root)
    }

    /// Notes a degradation (e.g. "PSI unavailable") without dropping the table.
    pub fn note(&mut self, table: Table, reason: impl Into<String>) -> Result<()> {
        if let Some(entry) = self.manifest.tables.get_mut(table.name()) {
            entry.reason = Some(reason.into());
        }
        self.manifest.store(&self.root)
    }

    pub fn set_interval(&mut self, interval: Duration) {
        self.manifest.interval_ms = Some(interval.as_millis() as u64);
    }

    pub fn set_generator(&mut self, name: impl Into<String>, seed: u64) {
        self.manifest.generator = Some(crate::manifest::Generator {
            name: name.into(),
            seed,
        });
    }

    /// Writes every table of the frame that this writer records.
    pub fn write_frame(&mut self, frame: &Frame) -> Result<()> {
        self.write_rows(frame.system.as_slice())?;
        self.write_rows(&frame.processes)?;
        self.write_rows(&frame.cgroups)?;
        self.write_rows(&frame.syscalls)?;
        self.write_rows(&frame.connections)?;
        self.write_rows(&frame.logs)?;
        self.write_rows(&frame.traces)?;
        self.write_rows(&frame.requests)?;
        let first = self.manifest.first_ts_ns.get_or_insert(frame.ts_ns);
        *first = (*first).min(frame.ts_ns);
        self.manifest.last_ts_ns = Some(
            self.manifest
                .last_ts_ns
                .unwrap_or(frame.ts_ns)
                .max(frame.ts_ns),
        );
        Ok(())
    }

    /// Writes rows of one table (labels come this way). Rows of tables not recorded are ignored.
    pub fn write_rows<R: Row>(&mut self, rows: &[R]) -> Result<()> {
        let Some(w) = self.writers.get_mut(&R::TABLE) else {
            return Ok(());
        };
        let Some(first) = rows.first() else {
            return Ok(());
        };
        let batch = R::to_batch(rows).map_err(|e| Error::BadSegment {
            path: w.dir.clone(),
            message: format!("building {} batch: {e}", R::TABLE),
        })?;
        if w.write(first.ts_ns(), &batch)? {
            self.sync_manifest()?;
        }
        Ok(())
    }

    fn sync_manifest(&mut self) -> Result<()> {
        for (table, w) in &self.writers {
            if let Some(entry) = self.manifest.tables.get_mut(table.name()) {
                entry.rows = w.rows;
                entry.bytes = w.bytes;
                entry.segments = w.segments;
            }
        }
        self.manifest.store(&self.root)
    }

    /// Closes every open segment and marks the manifest complete.
    pub fn finish(mut self) -> Result<Manifest> {
        for w in self.writers.values_mut() {
            w.close()?;
        }
        self.manifest.state = State::Complete;
        self.sync_manifest()?;
        Ok(self.manifest)
    }
}

fn prepare_dir(root: &Path, opts: &WriterOptions) -> Result<Manifest> {
    let refuse = |reason: String| Error::OutputDir {
        path: root.into(),
        reason,
    };
    if root.exists() {
        if !root.is_dir() {
            return Err(refuse("exists and is not a directory".into()));
        }
        let non_empty = std::fs::read_dir(root).at(root)?.next().is_some();
        if non_empty {
            if !opts.append {
                return Err(refuse(
                    "directory is not empty (use --append to add to a recording)".into(),
                ));
            }
            let existing = Manifest::load(root)?;
            if existing.schema_version != SCHEMA_VERSION {
                return Err(refuse(format!(
                    "recording was written with schema v{}; appending needs v{SCHEMA_VERSION} \
                     (record into a new directory)",
                    existing.schema_version
                )));
            }
            if existing.host != opts.host {
                return Err(refuse(format!(
                    "recording is of host '{}', not '{}'",
                    existing.host, opts.host
                )));
            }
            return Ok(existing);
        }
    } else {
        std::fs::create_dir_all(root).at(root)?;
    }
    // Prove we can write before any frame is collected.
    Manifest::new(opts.origin, &opts.host).store(root)?;
    Ok(Manifest::new(opts.origin, &opts.host))
}

/// Hive partition values must not contain path separators or '='.
fn partition_value(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// One past the highest segment number already present under `table_dir`, so an
/// appended recording never overwrites a segment.
fn next_sequence(table_dir: &Path) -> Result<u64> {
    let mut next = 1;
    for path in crate::reader::walk_segments(table_dir, true)? {
        if let Some(seq) = crate::reader::sequence_of(&path) {
            next = next.max(seq + 1);
        }
    }
    Ok(next)
}

#[derive(Debug)]
struct SegmentWriter {
    table: Table,
    dir: PathBuf,
    next_seq: u64,
    segment_ns: i64,
    props: WriterProperties,
    open: Option<OpenSegment>,
    /// Rows of closed segments; the open one's count when it closes.
    rows: u64,
    bytes: u64,
    segments: u64,
}

#[derive(Debug)]
struct OpenSegment {
    writer: ArrowWriter<File>,
    partial: PathBuf,
    path: PathBuf,
    started_ns: i64,
    date: String,
    rows: u64,
}

impl SegmentWriter {
    fn new(table: Table, dir: PathBuf, next_seq: u64, opts: &WriterOptions) -> Self {
        let kv = [
            (meta::SCHEMA_VERSION, SCHEMA_VERSION.to_string()),
            (meta::SCHEMA_HASH, schema_hash()),
            (meta::TABLE, table.name().to_string()),
            (meta::HOST, opts.host.clone()),
            (meta::ORIGIN, format!("{:?}", opts.origin).to_lowercase()),
        ];
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_key_value_metadata(Some(
                kv.into_iter()
                    .map(|(k, v)| KeyValue::new(k.to_string(), v))
                    .collect(),
            ))
            .build();
        SegmentWriter {
            table,
            dir,
            next_seq,
            segment_ns: i64::try_from(opts.segment.as_nanos())
                .unwrap_or(i64::MAX)
                .max(1),
            props,
            open: None,
            rows: 0,
            bytes: 0,
            segments: 0,
        }
    }

    /// Writes a batch; returns true when a segment was closed on the way.
    fn write(&mut self, ts_ns: i64, batch: &RecordBatch) -> Result<bool> {
        let date = utc_date(ts_ns);
        let roll = self
            .open
            .as_ref()
            .is_some_and(|s| ts_ns - s.started_ns >= self.segment_ns || s.date != date);
        if roll {
            self.close()?;
        }
        if self.open.is_none() {
            self.open = Some(self.start(ts_ns, date)?);
        }
        let Some(seg) = self.open.as_mut() else {
            return Ok(roll);
        };
        seg.writer.write(batch).map_err(|e| Error::BadSegment {
            path: seg.partial.clone(),
            message: e.to_string(),
        })?;
        seg.rows += batch.num_rows() as u64;
        Ok(roll)
    }

    fn start(&mut self, ts_ns: i64, date: String) -> Result<OpenSegment> {
        let dir = self.dir.join(format!("date={date}"));
        std::fs::create_dir_all(&dir).at(&dir)?;
        let path = dir.join(format!("{:06}.parquet", self.next_seq));
        let partial = dir.join(format!("{:06}.parquet{PARTIAL_SUFFIX}", self.next_seq));
        self.next_seq += 1;
        let file = File::create(&partial).at(&partial)?;
        let writer = ArrowWriter::try_new(
            file,
            crate::reader::schema_for(self.table),
            Some(self.props.clone()),
        )
        .map_err(|e| Error::BadSegment {
            path: partial.clone(),
            message: e.to_string(),
        })?;
        Ok(OpenSegment {
            writer,
            partial,
            path,
            started_ns: ts_ns,
            date,
            rows: 0,
        })
    }

    /// Writes the footer, fsyncs and renames the open segment into place.
    fn close(&mut self) -> Result<()> {
        let Some(mut seg) = self.open.take() else {
            return Ok(());
        };
        seg.writer.finish().map_err(|e| Error::BadSegment {
            path: seg.partial.clone(),
            message: e.to_string(),
        })?;
        seg.writer.inner().sync_all().at(&seg.partial)?;
        std::fs::rename(&seg.partial, &seg.path).at(&seg.path)?;
        self.bytes += std::fs::metadata(&seg.path).at(&seg.path)?.len();
        self.rows += seg.rows;
        self.segments += 1;
        Ok(())
    }
}

impl Drop for SegmentWriter {
    /// A writer dropped without `finish` (an error path) still closes its segment,
    /// so rows already written are not lost.
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            tracing::warn!("could not close a {} segment: {e}", self.table);
        }
    }
}
