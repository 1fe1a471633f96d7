//! Schema v2 (traces, requests) round trips, and datasets written with schema v1 still
//! read, with the tables v1 lacks reported unavailable; unknown schemas stay refused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use qb_signals::*;

const T0: i64 = 1_795_651_170 * 1_000_000_000;
const SEC: i64 = 1_000_000_000;

fn options(tables: &[Table]) -> WriterOptions {
    WriterOptions {
        host: "h".into(),
        origin: Origin::Recorded,
        tables: tables
            .iter()
            .map(|t| (*t, "test".to_string()))
            .collect::<BTreeMap<_, _>>(),
        segment: Duration::from_secs(60),
        append: false,
    }
}

fn frame(i: i64) -> Frame {
    let ts = T0 + i * SEC;
    let mut f = Frame::new(ts, "h");
    f.system = Some(SystemRow {
        ts_ns: ts,
        cpu_user: i as u64,
        ..SystemRow::default()
    });
    if i % 2 == 0 {
        f.traces.push(TraceRow {
            ts_ns: ts,
            service: "api".into(),
            resource: "GET /api/users".into(),
            status: "ok".into(),
            bucket_ns: ts - 20 * SEC,
            hits: 10 + i as u64,
            errors: 0,
            duration_sum_ns: 1_000,
            p50_ns: 50,
            p90_ns: 90,
            p99_ns: 99,
            max_ns: 120,
        });
    }
    f.requests.push(RequestRow {
        ts_ns: ts,
        service: "api".into(),
        client_addr: "10.0.0.7".into(),
        client_port: 40_000 + i as u32,
        server_port: (i != 1).then_some(8080),
        method: Some("GET".into()),
        path: (i != 2).then(|| "/health".into()),
        duration_ns: 5_000,
        error: i == 3,
    });
    f
}

fn replay(dir: &Path) -> Vec<Frame> {
    let mut source = Dataset::open(dir).unwrap().replay().unwrap();
    let mut out = Vec::new();
    while let Some(f) = source.next_frame().unwrap() {
        out.push(f);
    }
    out
}

#[test]
fn traces_and_requests_round_trip_and_replay_into_frames() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("rec");
    let tables = [Table::System, Table::Traces, Table::Requests];
    let mut w = DatasetWriter::create(&dir, options(&tables)).unwrap();
    let frames: Vec<Frame> = (0..4).map(frame).collect();
    frames.iter().for_each(|f| w.write_frame(f).unwrap());
    let m = w.finish().unwrap();
    assert_eq!(
        (m.schema_version, m.schema_hash.as_str()),
        (2, schema_hash().as_str())
    );
    assert_eq!(m.table(Table::Traces).unwrap().rows, 2);
    assert_eq!(m.table(Table::Requests).unwrap().rows, 4);
    assert_eq!(replay(&dir), frames);
}

/// Rewrites a dataset written by this build as schema v1 wrote it: the same files without
/// the columns v2 added, with v1's version and hash in every footer and in the manifest.
fn downgrade_to_v1(dir: &Path) {
    let v1 = schema_hash_of(1);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.extension().is_none_or(|x| x != "parquet") {
                continue;
            }
            let b =
                ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&p).unwrap()).unwrap();
            let kv: Vec<KeyValue> = b
                .metadata()
                .file_metadata()
                .key_value_metadata()
                .unwrap()
                .iter()
                .map(|k| match k.key.as_str() {
                    meta::SCHEMA_HASH => KeyValue::new(k.key.clone(), v1.clone()),
                    meta::SCHEMA_VERSION => KeyValue::new(k.key.clone(), "1".to_string()),
                    _ => k.clone(),
                })
                .collect();
            let table: Table = kv
                .iter()
                .find(|k| k.key == meta::TABLE)
                .and_then(|k| k.value.as_deref())
                .unwrap()
                .parse()
                .unwrap();
            let v1_columns: Vec<usize> = b
                .schema()
                .fields()
                .iter()
                .enumerate()
                .filter(|(_, f)| {
                    table
                        .columns()
                        .iter()
                        .find(|c| c.name == f.name())
                        .is_none_or(|c| c.since == 1)
                })
                .map(|(i, _)| i)
                .collect();
            let schema = std::sync::Arc::new(b.schema().project(&v1_columns).unwrap());
            let batches: Vec<_> = b
                .build()
                .unwrap()
                .map(|r| r.unwrap().project(&v1_columns).unwrap())
                .collect();
            let props = WriterProperties::builder()
                .set_key_value_metadata(Some(kv))
                .build();
            let mut w =
                ArrowWriter::try_new(std::fs::File::create(&p).unwrap(), schema, Some(props))
                    .unwrap();
            batches.iter().for_each(|b| w.write(b).unwrap());
            w.close().unwrap();
        }
    }
    let path = dir.join(MANIFEST_FILE);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace(&schema_hash(), &v1)
            .replace("schema_version = 2", "schema_version = 1"),
    )
    .unwrap();
}

#[test]
fn a_v1_dataset_reads_with_the_new_tables_unavailable() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("v1");
    let mut w = DatasetWriter::create(&dir, options(&[Table::System, Table::Process])).unwrap();
    let frames: Vec<Frame> = (0..3)
        .map(|i| {
            let mut f = frame(i);
            f.traces.clear();
            f.requests.clear();
            f
        })
        .collect();
    frames.iter().for_each(|f| w.write_frame(f).unwrap());
    w.finish().unwrap();
    downgrade_to_v1(&dir);

    let ds = Dataset::open(&dir).unwrap();
    let m = ds.manifest();
    assert_eq!(
        (m.schema_version, m.schema_hash.clone()),
        (1, schema_hash_of(1))
    );
    for t in [Table::Traces, Table::Requests] {
        let e = m.table(t).unwrap();
        assert_eq!(e.status, TableStatus::Unavailable);
        assert!(
            e.reason
                .as_deref()
                .unwrap()
                .contains("written with schema v1"),
            "{e:?}"
        );
    }
    assert_eq!(ds.read_table::<SystemRow>().unwrap().len(), 3);
    assert_eq!(replay(&dir), frames);
    // Its segments read one by one too; a v1 footer on a table v1 did not have is a lie.
    let seg = &ds.segments(Table::System).unwrap()[0];
    assert_eq!(read_segment::<SystemRow>(seg).unwrap().len(), 3);
    // Appending v2 segments to it would mix schemas: refused, saying why.
    let mut opts = options(&[Table::System]);
    opts.append = true;
    let err = DatasetWriter::create(&dir, opts).unwrap_err().to_string();
    assert!(err.contains("written with schema v1"), "{err}");
}

#[test]
fn a_column_added_in_v2_reads_as_null_from_a_v1_dataset() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("v1");
    let mut w = DatasetWriter::create(&dir, options(&[Table::Connections])).unwrap();
    let conn = |i: i64| ConnectionRow {
        ts_ns: T0 + i * SEC,
        state: "ESTABLISHED".into(),
        last_data_recv_ms: Some(7),
        last_data_sent_ms: Some(3),
        ..ConnectionRow::default()
    };
    for i in 0..3 {
        let mut f = Frame::new(T0 + i * SEC, "h");
        f.connections.push(conn(i));
        w.write_frame(&f).unwrap();
    }
    w.finish().unwrap();
    downgrade_to_v1(&dir);
    let rows = Dataset::open(&dir)
        .unwrap()
        .read_table::<ConnectionRow>()
        .unwrap();
    assert_eq!(rows.len(), 3);
    assert!(
        rows.iter()
            .all(|r| r.last_data_sent_ms.is_none() && r.last_data_recv_ms == Some(7))
    );
}

#[test]
fn an_unknown_schema_is_still_refused_and_v1_hash_needs_v1_version() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("rec");
    let mut w = DatasetWriter::create(&dir, options(&[Table::System])).unwrap();
    w.write_frame(&frame(0)).unwrap();
    w.finish().unwrap();
    let path = dir.join(MANIFEST_FILE);
    let good = std::fs::read_to_string(&path).unwrap();

    std::fs::write(&path, good.replace(&schema_hash(), "00000000deadbeef")).unwrap();
    let err = Dataset::open(&dir).unwrap_err().to_string();
    assert!(err.contains("manifest.toml: schema mismatch"), "{err}");
    assert!(
        err.contains(&format!("expected schema v2 ({})", schema_hash()))
            && err.contains("found schema v2 (00000000deadbeef)"),
        "{err}"
    );
    // v1's hash claimed by a v2 manifest: inconsistent, refused.
    std::fs::write(&path, good.replace(&schema_hash(), &schema_hash_of(1))).unwrap();
    let err = Dataset::open(&dir).unwrap_err().to_string();
    assert!(err.contains("schema mismatch"), "{err}");
}

#[test]
fn a_v1_footer_on_a_traces_segment_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("t.parquet");
    let batch = TraceRow::to_batch(&frame(0).traces).unwrap();
    let v1 = schema_hash_of(1);
    let props = WriterProperties::builder()
        .set_key_value_metadata(Some(vec![
            KeyValue::new(meta::SCHEMA_HASH.into(), v1),
            KeyValue::new(meta::SCHEMA_VERSION.into(), "1".to_string()),
            KeyValue::new(meta::TABLE.into(), "traces".to_string()),
        ]))
        .build();
    let mut w = ArrowWriter::try_new(
        std::fs::File::create(&path).unwrap(),
        batch.schema(),
        Some(props),
    )
    .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let err = read_segment::<TraceRow>(&path).unwrap_err().to_string();
    assert!(
        err.contains("schema mismatch") && err.contains("found schema v1"),
        "{err}"
    );
}
