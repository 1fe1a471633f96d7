//! Dataset writer and reader: round trips, rolling segments, hive layout, and refusal
//! of everything that is not a dataset of this schema.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use qb_signals::*;

const T0: i64 = 1_795_651_170 * 1_000_000_000; // 2026-11-25T23:59:30Z
const SEC: i64 = 1_000_000_000;

fn options(tables: &[Table], segment_s: u64) -> WriterOptions {
    WriterOptions {
        host: "test-host".into(),
        origin: Origin::Simulated,
        tables: tables
            .iter()
            .map(|t| (*t, "test".to_string()))
            .collect::<BTreeMap<_, _>>(),
        segment: Duration::from_secs(segment_s),
        append: false,
    }
}

fn frame(i: i64) -> Frame {
    let ts = T0 + i * SEC;
    let mut f = Frame::new(ts, "test-host");
    f.system = Some(SystemRow {
        ts_ns: ts,
        cpu_user: 100 + i as u64,
        load1: 0.5,
        mem_total_bytes: 1 << 30,
        psi_memory_some_avg10: if i % 2 == 0 { Some(1.25) } else { None },
        ..SystemRow::default()
    });
    for pid in [1u32, 42] {
        f.processes.push(ProcessRow {
            ts_ns: ts,
            pid,
            comm: format!("proc-{pid}"),
            state: "S".into(),
            syscall: (pid == 42).then_some(202),
            wchan: None,
            rss_bytes: 4096 * i as u64,
            cgroup: "/a/b".into(),
            container_id: (pid == 42).then(|| "ab".repeat(32)),
            ..ProcessRow::default()
        });
    }
    f.cgroups.push(CgroupRow {
        ts_ns: ts,
        path: "/a".into(),
        version: 1,
        memory_usage_bytes: 1000 + i as u64,
        memory_limit_bytes: Some(4096),
        ..CgroupRow::default()
    });
    f.logs.push(LogRow {
        ts_ns: ts - SEC / 2,
        source: "/var/log/app.log".into(),
        offset: i as u64 * 10,
        pid: None,
        level: Some("info".into()),
        line: format!("line {i}"),
        truncated: i == 3,
    });
    f
}

fn write(dir: &Path, frames: impl IntoIterator<Item = Frame>, segment_s: u64) -> Manifest {
    let tables = [Table::System, Table::Process, Table::Cgroup, Table::Logs];
    let mut w = DatasetWriter::create(dir, options(&tables, segment_s)).unwrap();
    for f in frames {
        w.write_frame(&f).unwrap();
    }
    w.finish().unwrap()
}

fn replay_all(dir: &Path) -> Vec<Frame> {
    let mut source = Dataset::open(dir).unwrap().replay().unwrap();
    let mut frames = Vec::new();
    while let Some(f) = source.next_frame().unwrap() {
        frames.push(f);
    }
    frames
}

#[test]
fn frames_round_trip_through_parquet_and_replay() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("rec");
    let frames: Vec<Frame> = (0..5).map(frame).collect();
    let manifest = write(&dir, frames.clone(), 60);

    assert_eq!(manifest.state, State::Complete);
    assert_eq!(manifest.table(Table::Process).unwrap().rows, 10);
    assert_eq!(manifest.first_ts_ns, Some(T0));
    assert_eq!(replay_all(&dir), frames);
}

#[test]
fn segments_roll_by_event_time_and_date_in_hive_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("rec");
    // 23:59:35 to 00:00:14 in 10 s segments: midnight closes the third one early.
    write(&dir, (5..45).map(frame), 10);
    let ds = Dataset::open(&dir).unwrap();
    let segments = ds.segments(Table::System).unwrap();
    let rel: Vec<String> = segments
        .iter()
        .map(|p| p.strip_prefix(&dir).unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        rel,
        [
            "system/host=test-host/date=2026-11-25/000001.parquet",
            "system/host=test-host/date=2026-11-25/000002.parquet",
            "system/host=test-host/date=2026-11-25/000003.parquet",
            "system/host=test-host/date=2026-11-26/000004.parquet",
            "system/host=test-host/date=2026-11-26/000005.parquet",
        ]
    );
    assert_eq!(ds.read_table::<SystemRow>().unwrap().len(), 40);
    assert_eq!(ds.manifest().table(Table::System).unwrap().segments, 5);
    let third = read_segment::<SystemRow>(&segments[2]).unwrap();
    assert_eq!(third.len(), 5, "23:59:55 to 23:59:59");
}

#[test]
fn non_empty_output_is_refused_unless_appending_the_same_host() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("rec");
    write(&dir, (0..3).map(frame), 60);

    let err = DatasetWriter::create(&dir, options(&[Table::System], 60)).unwrap_err();
    assert!(err.to_string().contains("not empty (use --append"), "{err}");

    let mut opts = options(&[Table::System], 60);
    opts.append = true;
    let mut w = DatasetWriter::create(&dir, opts.clone()).unwrap();
    w.write_frame(&frame(10)).unwrap();
    w.finish().unwrap();
    let ds = Dataset::open(&dir).unwrap();
    assert_eq!(
        ds.read_table::<SystemRow>().unwrap().len(),
        4,
        "appended, nothing overwritten"
    );
    assert!(
        ds.segments(Table::System)
            .unwrap()
            .last()
            .unwrap()
            .ends_with("000002.parquet")
    );

    opts.host = "other".into();
    let err = DatasetWriter::create(&dir, opts).unwrap_err();
    assert!(
        err.to_string().contains("of host 'test-host', not 'other'"),
        "{err}"
    );

    let file = tmp.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let err = DatasetWriter::create(&file, options(&[Table::System], 60)).unwrap_err();
    assert!(err.to_string().contains("not a directory"), "{err}");
}

#[test]
fn unwritable_output_is_an_error_naming_the_path() {
    let err = DatasetWriter::create(
        Path::new("/proc/qbranch-cannot-write-here"),
        options(&[Table::System], 60),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("/proc/qbranch-cannot-write-here"),
        "{err}"
    );
}

#[test]
fn directories_that_are_not_recordings_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let err = Dataset::open(tmp.path()).unwrap_err();
    assert!(matches!(err, Error::NotARecording { .. }), "{err}");
    assert!(err.to_string().contains("not a qbranch recording"));

    let err = Dataset::open(&tmp.path().join("missing")).unwrap_err();
    assert!(err.to_string().contains("no such directory"), "{err}");

    std::fs::write(tmp.path().join(MANIFEST_FILE), "schema_version = [").unwrap();
    let err = Dataset::open(tmp.path()).unwrap_err();
    assert!(
        err.to_string().contains("manifest.toml: invalid manifest"),
        "{err}"
    );
}

#[test]
fn another_schema_is_refused_naming_file_expected_and_found() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("rec");
    write(&dir, (0..2).map(frame), 60);
    let path = dir.join(MANIFEST_FILE);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace(&schema_hash(), "00000000deadbeef")
            .replace("schema_version = 2", "schema_version = 7"),
    )
    .unwrap();
    let err = Dataset::open(&dir).unwrap_err().to_string();
    assert!(err.contains("manifest.toml: schema mismatch"), "{err}");
    assert!(
        err.contains(&format!("expected schema v2 ({})", schema_hash())),
        "{err}"
    );
    assert!(err.contains("found schema v7 (00000000deadbeef)"), "{err}");
}

#[test]
fn segments_of_another_schema_or_table_are_refused() {
    use parquet::arrow::ArrowWriter;
    use parquet::file::metadata::KeyValue;
    use parquet::file::properties::WriterProperties;

    let tmp = tempfile::tempdir().unwrap();
    let rows = vec![SystemRow {
        ts_ns: T0,
        ..SystemRow::default()
    }];
    let batch = SystemRow::to_batch(&rows).unwrap();
    let write_with = |name: &str, kv: Vec<(&str, &str)>| {
        let path = tmp.path().join(name);
        let props = WriterProperties::builder()
            .set_key_value_metadata(Some(
                kv.into_iter()
                    .map(|(k, v)| KeyValue::new(k.into(), v.to_string()))
                    .collect(),
            ))
            .build();
        let mut w = ArrowWriter::try_new(
            std::fs::File::create(&path).unwrap(),
            batch.schema(),
            Some(props),
        )
        .unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        path
    };

    let foreign = write_with("foreign.parquet", vec![]);
    let err = read_segment::<SystemRow>(&foreign).unwrap_err().to_string();
    assert!(
        err.contains("foreign.parquet") && err.contains("not written by qbranch"),
        "{err}"
    );

    let old = write_with(
        "old.parquet",
        vec![
            (meta::SCHEMA_HASH, "1111222233334444"),
            (meta::SCHEMA_VERSION, "0"),
        ],
    );
    let err = read_segment::<SystemRow>(&old).unwrap_err().to_string();
    assert!(err.contains("old.parquet: schema mismatch"), "{err}");
    assert!(err.contains("found schema v0 (1111222233334444)"), "{err}");

    let hash = schema_hash();
    let good = write_with(
        "good.parquet",
        vec![(meta::SCHEMA_HASH, &hash), (meta::TABLE, "system")],
    );
    assert_eq!(read_segment::<SystemRow>(&good).unwrap(), rows);
    let err = read_segment::<ProcessRow>(&good).unwrap_err().to_string();
    assert!(
        err.contains("holds table 'system', expected 'process'"),
        "{err}"
    );
}

#[test]
fn a_column_of_the_wrong_type_is_named() {
    use arrow::array::{ArrayRef, Float64Array};
    use arrow::datatypes::{Field, Schema};
    use arrow::record_batch::RecordBatch;

    let rows = vec![SyscallRow {
        ts_ns: T0,
        pid: 7,
        syscall_nr: 39,
        count: 3,
    }];
    let good = SyscallRow::to_batch(&rows).unwrap();
    let mut fields: Vec<Field> = good
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    let mut columns: Vec<ArrayRef> = good.columns().to_vec();
    let i = good.schema().index_of("count").unwrap();
    fields[i] = Field::new("count", arrow::datatypes::DataType::Float64, false);
    columns[i] = Arc::new(Float64Array::from(vec![3.0]));
    let bad = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
    let err = SyscallRow::from_batch(&bad).unwrap_err();
    assert_eq!(err, "column 'count': expected u64, found Float64");

    let missing = good.project(&[0, 1, 2]).unwrap();
    assert_eq!(
        SyscallRow::from_batch(&missing).unwrap_err(),
        "missing column 'count'"
    );
}

#[test]
fn corrupt_and_truncated_segments_give_errors_not_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("rec");
    write(&dir, (0..3).map(frame), 60);
    let ds = Dataset::open(&dir).unwrap();
    let seg = ds.segments(Table::Process).unwrap().remove(0);
    let bytes = std::fs::read(&seg).unwrap();

    std::fs::write(&seg, &bytes[..bytes.len() / 2]).unwrap();
    let err = ds.read_table::<ProcessRow>().unwrap_err().to_string();
    assert!(err.contains("000001.parquet: unreadable segment"), "{err}");

    std::fs::write(&seg, b"PAR1 this is not parquet at all PAR1").unwrap();
    let err = ds.read_table::<ProcessRow>().unwrap_err().to_string();
    assert!(err.contains("000001.parquet: unreadable segment"), "{err}");

    let mut source = ds.replay().unwrap();
    assert!(
        source.next_frame().is_err(),
        "replay surfaces the corrupt segment"
    );
}

#[test]
fn a_killed_writer_leaves_closed_segments_readable() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("rec");
    let mut w = DatasetWriter::create(&dir, options(&[Table::System], 5)).unwrap();
    for i in 0..12 {
        w.write_frame(&frame(i)).unwrap();
    }
    // Simulate kill -9: no finish, no destructor.
    std::mem::forget(w);

    let ds = Dataset::open(&dir).unwrap();
    assert_eq!(ds.manifest().state, State::InProgress);
    assert_eq!(ds.segments(Table::System).unwrap().len(), 2);
    assert_eq!(ds.partial_segments(Table::System).unwrap().len(), 1);
    assert_eq!(
        ds.read_table::<SystemRow>().unwrap().len(),
        10,
        "two closed 5 s segments"
    );
    assert_eq!(
        ds.manifest().table(Table::System).unwrap().rows,
        10,
        "manifest synced at each close"
    );
}

#[test]
fn unavailable_tables_are_recorded_with_their_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("rec");
    let mut w = DatasetWriter::create(&dir, options(&[Table::System, Table::Cgroup], 60)).unwrap();
    w.mark_unavailable(Table::Cgroup, "no memory cgroup hierarchy")
        .unwrap();
    w.write_frame(&frame(0)).unwrap();
    w.finish().unwrap();
    let m = Dataset::open(&dir).unwrap().manifest().clone();
    let entry = m.table(Table::Cgroup).unwrap();
    assert_eq!(entry.status, TableStatus::Unavailable);
    assert_eq!(entry.reason.as_deref(), Some("no memory cgroup hierarchy"));
    assert!(!dir.join("cgroup").exists());
    assert!(m.is_recorded(Table::System));
}
