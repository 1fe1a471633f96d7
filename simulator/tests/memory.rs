//! Memory generators: byte-stable for a seed, labels that match the data exactly,
//! negatives that never OOM, and clear errors for bad parameters.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use qb_signals::{CgroupRow, Dataset, LabelRow};
use qb_simulator::{MemoryKind, write_memory};

const MINUTES_10: Duration = Duration::from_secs(10 * 60);
const SECOND: Duration = Duration::from_secs(1);

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((
                    p.strip_prefix(dir).unwrap().display().to_string(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn the_same_seed_gives_byte_identical_datasets() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("c"),
    );
    write_memory(&a, MemoryKind::GcSawtoothLeak, 11, MINUTES_10, SECOND).unwrap();
    write_memory(&b, MemoryKind::GcSawtoothLeak, 11, MINUTES_10, SECOND).unwrap();
    write_memory(&c, MemoryKind::GcSawtoothLeak, 12, MINUTES_10, SECOND).unwrap();
    let fa = files(&a);
    assert!(
        fa.len() >= 5,
        "manifest plus segments: {:?}",
        fa.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    assert_eq!(fa, files(&b));
    assert_ne!(fa, files(&c), "another seed, another dataset");
}

fn target_rows(ds: &Dataset, target: &str) -> Vec<CgroupRow> {
    ds.read_table::<CgroupRow>()
        .unwrap()
        .into_iter()
        .filter(|r| r.path == target)
        .collect()
}

#[test]
fn leak_labels_end_exactly_at_the_tick_usage_reaches_the_limit() {
    let tmp = tempfile::tempdir().unwrap();
    for kind in MemoryKind::ALL.into_iter().filter(|k| k.is_leak()) {
        for seed in 1..=3 {
            let dir = tmp.path().join(format!("{kind}-{seed}"));
            let manifest = write_memory(&dir, kind, seed, MINUTES_10, SECOND).unwrap();
            assert_eq!(manifest.generator.as_ref().unwrap().seed, seed);
            let ds = Dataset::open(&dir).unwrap();
            let labels = ds.read_table::<LabelRow>().unwrap();
            assert_eq!(labels.len(), 1, "{kind} seed {seed}: {labels:?}");
            let label = &labels[0];
            assert_eq!(label.kind, "memory_leak");
            assert!(
                label
                    .attributes
                    .contains(&format!("\"flavour\":\"{kind}\""))
            );

            let rows = target_rows(&ds, &label.target);
            let limit = rows[0].memory_limit_bytes.unwrap();
            let first_full = rows
                .iter()
                .find(|r| r.memory_usage_bytes >= limit)
                .expect("usage reaches the limit");
            assert_eq!(label.end_ns, Some(first_full.ts_ns), "{kind} seed {seed}");
            assert!(label.start_ns < first_full.ts_ns);
            assert_eq!(
                first_full.oom_kill_events, 1,
                "the OOM kill is counted at that tick"
            );
            let before = rows.iter().filter(|r| r.ts_ns < first_full.ts_ns);
            assert!(
                before
                    .clone()
                    .all(|r| r.oom_kill_events == 0 && r.memory_usage_bytes < limit)
            );
            // Usage grows over the episode: the last minute before the kill is well above the start.
            let start = rows.iter().find(|r| r.ts_ns >= label.start_ns).unwrap();
            assert!(
                first_full.anon_bytes > start.anon_bytes + limit / 4,
                "{kind} seed {seed}"
            );
        }
    }
}

#[test]
fn the_cache_eviction_leak_shrinks_the_cache_and_raises_pressure_first() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("evict");
    write_memory(&dir, MemoryKind::CacheEvictionLeak, 5, MINUTES_10, SECOND).unwrap();
    let ds = Dataset::open(&dir).unwrap();
    let label = ds.read_table::<LabelRow>().unwrap().remove(0);
    let rows = target_rows(&ds, &label.target);
    let oom = rows
        .iter()
        .position(|r| Some(r.ts_ns) == label.end_ns)
        .unwrap();
    let early = &rows[oom / 4];
    let late = &rows[oom - 3];
    assert!(
        late.file_bytes < early.file_bytes / 2,
        "cache evicted: {} -> {}",
        early.file_bytes,
        late.file_bytes
    );
    assert!(late.psi_memory_some_avg10.unwrap() > early.psi_memory_some_avg10.unwrap() + 5.0);
    assert!(late.pgmajfault > early.pgmajfault);
}

#[test]
fn the_swap_leak_fills_swap_with_rising_pressure_before_the_kill() {
    use qb_signals::SystemRow;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("swap");
    write_memory(&dir, MemoryKind::SwapLeak, 8, MINUTES_10, SECOND).unwrap();
    let ds = Dataset::open(&dir).unwrap();
    let label = ds.read_table::<LabelRow>().unwrap().remove(0);
    let rows = target_rows(&ds, &label.target);
    let oom = rows
        .iter()
        .position(|r| Some(r.ts_ns) == label.end_ns)
        .unwrap();
    let swapping = rows
        .iter()
        .position(|r| r.swap_bytes.unwrap() > 0)
        .expect("pages go to swap");
    assert!(
        swapping + 10 < oom,
        "swap buys time before the kill: {swapping} vs {oom}"
    );
    assert!(rows[oom - 1].swap_bytes > rows[swapping].swap_bytes);
    assert!(
        rows[oom - 1].psi_memory_some_avg10.unwrap() > 20.0,
        "swap-in stalls show in PSI"
    );
    assert!(
        rows[..oom]
            .iter()
            .all(|r| r.memory_usage_bytes < r.memory_limit_bytes.unwrap())
    );
    let system = ds.read_table::<SystemRow>().unwrap();
    assert!(system.last().unwrap().pswpout > 0 && system[0].swap_total_bytes > 0);
}

#[test]
fn negatives_never_reach_the_limit_and_are_labelled_as_negatives() {
    let tmp = tempfile::tempdir().unwrap();
    for kind in MemoryKind::ALL.into_iter().filter(|k| !k.is_leak()) {
        for seed in 1..=3 {
            let dir = tmp.path().join(format!("{kind}-{seed}"));
            write_memory(&dir, kind, seed, MINUTES_10, SECOND).unwrap();
            let ds = Dataset::open(&dir).unwrap();
            let labels = ds.read_table::<LabelRow>().unwrap();
            assert_eq!(labels.len(), 1);
            assert_eq!(labels[0].kind, "memory_negative");
            let rows = target_rows(&ds, &labels[0].target);
            let limit = rows[0].memory_limit_bytes.unwrap();
            assert!(
                rows.iter()
                    .all(|r| r.memory_usage_bytes < limit && r.oom_kill_events == 0),
                "{kind} {seed}"
            );
            let peak = rows.iter().map(|r| r.memory_usage_bytes).max().unwrap();
            assert!(
                peak > limit / 4,
                "{kind} {seed}: a negative still uses real memory"
            );
        }
    }
}

#[test]
fn bad_parameters_are_refused_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let err = "slow_leak".parse::<MemoryKind>().unwrap_err().to_string();
    assert!(
        err.contains("unknown memory kind 'slow_leak'") && err.contains("linear_leak"),
        "{err}"
    );
    let dir = tmp.path().join("short");
    let err = write_memory(
        &dir,
        MemoryKind::LinearLeak,
        1,
        Duration::from_secs(30),
        SECOND,
    )
    .unwrap_err();
    assert!(err.to_string().contains("at least 60 ticks"), "{err}");
    assert!(!dir.exists());
    let err =
        write_memory(&dir, MemoryKind::LinearLeak, 1, MINUTES_10, Duration::ZERO).unwrap_err();
    assert!(
        err.to_string().contains("interval must be positive"),
        "{err}"
    );
}
