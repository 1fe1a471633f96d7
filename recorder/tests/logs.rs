//! The log tailer against real files in temp dirs: partial lines, globs, start
//! position, both rotation kinds under a concurrent writer, vanished and unreadable
//! files, over-long lines (with allocation measured), binary garbage, level and pid.
#![allow(clippy::unwrap_used)] // tests may unwrap (CONTRIBUTING.md)

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use qb_recorder::logs::{LogTailer, TailConfig, TailStats, detect_level, detect_pid};
use qb_signals::LogRow;

// Bytes allocated by the current thread, to show that an over-long line is not
// buffered. Per thread, so tests running in parallel do not disturb each other.
thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn track(delta: isize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

struct Counting;

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            track(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        unsafe { System.dealloc(p, layout) };
        track(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, layout, new_size) };
        if !q.is_null() {
            track(new_size as isize - layout.size() as isize);
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Most bytes held at once by this thread during `f`, above what it held before.
fn peak_during<R>(f: impl FnOnce() -> R) -> (isize, R) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let r = f();
    (PEAK.with(Cell::get) - base, r)
}

fn glob(dir: &Path, pattern: &str) -> String {
    dir.join(pattern).to_string_lossy().into_owned()
}

fn tailer(globs: &[String], from_start: bool) -> LogTailer {
    LogTailer::new(
        globs,
        TailConfig {
            from_start,
            ..TailConfig::default()
        },
    )
    .unwrap()
}

fn append(path: &Path, bytes: impl AsRef<[u8]>) {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
        .write_all(bytes.as_ref())
        .unwrap();
}

fn poll(t: &mut LogTailer, ts_ns: i64) -> (Vec<LogRow>, TailStats) {
    let mut rows = Vec::new();
    let stats = t.poll(ts_ns, &mut rows);
    assert_eq!(stats.lines, rows.len() as u64);
    (rows, stats)
}

fn lines(rows: &[LogRow]) -> Vec<&str> {
    rows.iter().map(|r| r.line.as_str()).collect()
}

fn offsets(rows: &[LogRow]) -> Vec<u64> {
    rows.iter().map(|r| r.offset).collect()
}

const S: i64 = 1_000_000_000;

#[test]
fn lines_across_polls_and_partial_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    append(&path, "one\ntw");
    let mut t = tailer(&[glob(dir.path(), "*.log")], true);

    let (rows, stats) = poll(&mut t, 7);
    assert_eq!(lines(&rows), ["one"]);
    assert_eq!(rows[0].ts_ns, 7);
    assert_eq!(rows[0].source, path.to_string_lossy());
    assert_eq!(rows[0].offset, 0);
    assert!(!rows[0].truncated);
    assert_eq!((stats.bytes, stats.files, stats.unreadable), (6, 1, 0));

    append(&path, "o\r\nthree");
    let (rows, _) = poll(&mut t, 8);
    assert_eq!(lines(&rows), ["two"]);
    assert_eq!((rows[0].offset, rows[0].ts_ns), (4, 8));

    assert!(poll(&mut t, 9).0.is_empty(), "a partial line is held");
    append(&path, "\n\n\r\nfour\r");
    let (rows, _) = poll(&mut t, 10);
    assert_eq!(lines(&rows), ["three", "", ""]);
    assert_eq!(offsets(&rows), [9, 15, 16]);
    append(&path, "\n");
    let (rows, _) = poll(&mut t, 11);
    assert_eq!(lines(&rows), ["four"]);
    assert_eq!(offsets(&rows), [18]);
}

#[test]
fn globs_pick_up_new_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    append(&d.join("a.log"), "old\n");
    append(&d.join("a.txt"), "not matched\n");
    let mut t = tailer(&[glob(d, "*.log"), glob(d, "svc-[0-9]/current")], false);
    assert!(
        poll(&mut t, 1).0.is_empty(),
        "existing files start at their end"
    );

    append(&d.join("b.log"), "b1\n");
    append(&d.join(".hidden.log"), "hidden\n");
    append(&d.join("b.log.1"), "rotated\n");
    fs::create_dir_all(d.join("svc-1")).unwrap();
    fs::create_dir_all(d.join("svc-x")).unwrap();
    append(&d.join("svc-1/current"), "s1\n");
    append(&d.join("svc-x/current"), "sx\n");
    append(&d.join("a.log"), "a2\n");
    let (rows, stats) = poll(&mut t, 2);
    let got: Vec<(String, u64, &str)> = rows
        .iter()
        .map(|r| (r.source.clone(), r.offset, r.line.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (glob(d, "a.log"), 4, "a2"),
            (glob(d, "b.log"), 0, "b1"),
            (glob(d, "svc-1/current"), 0, "s1"),
        ]
    );
    assert_eq!(stats.files, 3);
}

#[test]
fn start_at_end_vs_from_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    append(&path, "a\nb\npart");
    let g = [glob(dir.path(), "app.log")];
    let mut at_end = tailer(&g, false);
    let mut from_start = tailer(&g, true);
    append(&path, "ial\nc\n");

    let (rows, _) = poll(&mut from_start, 1);
    assert_eq!(lines(&rows), ["a", "b", "partial", "c"]);
    assert_eq!(offsets(&rows), [0, 2, 4, 12]);
    // The line being written at startup is recorded whole, and only it.
    let (rows, _) = poll(&mut at_end, 1);
    assert_eq!(lines(&rows), ["partial", "c"]);
    assert_eq!(offsets(&rows), [4, 12]);

    // A file that is one unfinished line at startup is read from its start.
    let one = dir.path().join("one.log");
    append(&one, "unfinished");
    let mut t = tailer(&[glob(dir.path(), "one.log")], false);
    append(&one, " line\n");
    assert_eq!(lines(&poll(&mut t, 1).0), ["unfinished line"]);
}

#[derive(Clone, Copy, Debug)]
enum Rotation {
    RenameCreate,
    CopyTruncate,
}

const N: u64 = 20_000;
const EVERY: u64 = 3_000;
/// Lines the writer puts in a renamed file before it switches, as a program does until
/// it reopens its log.
const LATE: u64 = 3;

fn line_for(generation: u64, n: u64, offset: u64) -> String {
    format!(
        "g{generation:02} n{n:06} o{offset:08} {}",
        "x".repeat((n % 37) as usize)
    )
}

fn parse_line(line: &str) -> Option<(u64, u64, u64)> {
    let mut w = line.split(' ');
    let g = w.next()?.strip_prefix('g')?.parse().ok()?;
    let n = w.next()?.strip_prefix('n')?.parse().ok()?;
    let o = w.next()?.strip_prefix('o')?.parse().ok()?;
    Some((g, n, o))
}

/// Writes line `n` in two pieces, so that polls see partial lines.
fn write(f: &mut File, generation: u64, offset: &mut u64, n: u64) {
    let line = line_for(generation, n, *offset) + "\n";
    let cut = (n as usize * 7) % line.len();
    f.write_all(&line.as_bytes()[..cut]).unwrap();
    f.write_all(&line.as_bytes()[cut..]).unwrap();
    *offset += line.len() as u64;
}

/// Shifts app.log.K to app.log.K+1, as logrotate does before rotating.
fn shift(dir: &Path, rotations: u64) {
    for k in (1..=rotations).rev() {
        let from = dir.join(format!("app.log.{k}"));
        if from.exists() {
            fs::rename(&from, dir.join(format!("app.log.{}", k + 1))).unwrap();
        }
    }
}

/// A writer thread writes N numbered lines (each in two writes, so polls see partial
/// lines) and rotates every EVERY lines, while this thread polls. Each line states its
/// generation, number and offset; every one must be recorded once, at that offset, in
/// order within its generation.
fn rotate_under_writer(rotation: Rotation) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let path = d.join("app.log");
    File::create(&path).unwrap();
    let mut t = tailer(&[glob(&d, "*.log")], true);
    // Highest line number recorded + 1: the writer rotates only once the tailer has
    // seen the current generation (a tailer cannot follow a file it never saw).
    let seen = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));

    let writer = {
        let (seen, done, path) = (seen.clone(), done.clone(), path.clone());
        thread::spawn(move || {
            let open = || OpenOptions::new().append(true).open(&path).unwrap();
            let mut f = open();
            let (mut generation, mut offset, mut gen_start, mut rotations) = (0, 0, 0, 0);
            let mut n = 0;
            while n < N {
                if n > 0 && n % EVERY == 0 {
                    let wait_from = Instant::now();
                    // Guards against a hang if the tailer is broken; the asserts then fail.
                    while seen.load(Ordering::Acquire) <= gen_start
                        && wait_from.elapsed() < Duration::from_secs(60)
                    {
                        thread::sleep(Duration::from_micros(200));
                    }
                    shift(&d, rotations);
                    rotations += 1;
                    match rotation {
                        Rotation::RenameCreate => {
                            fs::rename(&path, d.join("app.log.1")).unwrap();
                            for _ in 0..LATE {
                                write(&mut f, generation, &mut offset, n);
                                n += 1;
                            }
                            File::create(&path).unwrap();
                            f = open();
                        }
                        Rotation::CopyTruncate => {
                            fs::copy(&path, d.join("app.log.1")).unwrap();
                            f.set_len(0).unwrap();
                        }
                    }
                    generation += 1;
                    offset = 0;
                    gen_start = n;
                }
                write(&mut f, generation, &mut offset, n);
                n += 1;
            }
            done.store(true, Ordering::Release);
        })
    };

    let mut rows = Vec::new();
    let mut lost = 0;
    let mut record = |t: &mut LogTailer, ts: i64, rows: &mut Vec<LogRow>| {
        let before = rows.len();
        lost += t.poll(ts, rows).truncations_without_copy;
        for r in &rows[before..] {
            if let Some((_, n, _)) = parse_line(&r.line) {
                seen.fetch_max(n + 1, Ordering::Release);
            }
        }
    };
    // Poll time stands still while the writer runs, so rotated files are never given
    // up; afterwards it moves past the rotate wait so that they are closed.
    while !done.load(Ordering::Acquire) {
        record(&mut t, 0, &mut rows);
        thread::yield_now();
    }
    for ts in [0, 10 * S, 20 * S] {
        record(&mut t, ts, &mut rows);
    }
    writer.join().unwrap();

    let source = path.to_string_lossy();
    let mut count = vec![0u32; N as usize];
    let mut last_in_gen: BTreeMap<u64, u64> = BTreeMap::new();
    for r in &rows {
        let (g, n, o) = parse_line(&r.line).unwrap_or_else(|| panic!("bad line {:?}", r.line));
        assert_eq!(r.line, line_for(g, n, o), "line content");
        assert_eq!(r.offset, o, "offset of line {n}");
        assert_eq!(r.source, source);
        assert!(!r.truncated && r.level.is_none() && r.pid.is_none());
        if let Some(prev) = last_in_gen.insert(g, n) {
            assert!(n > prev, "line {n} after {prev} in generation {g}");
        }
        count[n as usize] += 1;
    }
    let missing: Vec<usize> = (0..count.len()).filter(|&n| count[n] == 0).collect();
    let doubled: Vec<usize> = (0..count.len()).filter(|&n| count[n] > 1).collect();
    assert!(
        missing.is_empty() && doubled.is_empty(),
        "{rotation:?}: missing {} lines (first {:?}), duplicated {} (first {:?})",
        missing.len(),
        missing.first(),
        doubled.len(),
        doubled.first()
    );
    assert_eq!(rows.len() as u64, N);
    assert_eq!(last_in_gen.len() as u64, N.div_ceil(EVERY));
    assert_eq!(lost, 0);
}

#[test]
fn rename_and_create_rotation_under_a_writer() {
    rotate_under_writer(Rotation::RenameCreate);
}

#[test]
fn copytruncate_rotation_under_a_writer() {
    rotate_under_writer(Rotation::CopyTruncate);
}

#[test]
fn renamed_file_is_drained_and_its_partial_line_emitted() {
    let dir = tempfile::tempdir().unwrap();
    let (path, old) = (dir.path().join("app.log"), dir.path().join("app.log.1"));
    append(&path, "a\npart");
    let mut t = tailer(&[glob(dir.path(), "app.log")], true);
    assert_eq!(lines(&poll(&mut t, 0).0), ["a"]);

    fs::rename(&path, &old).unwrap();
    append(&path, "new\n");
    assert_eq!(lines(&poll(&mut t, S).0), ["new"]);
    // The program still writes to its old file: the line is completed there.
    append(&old, "ial\nlate\nlast");
    let (rows, _) = poll(&mut t, 2 * S);
    assert_eq!(lines(&rows), ["partial", "late"]);
    assert_eq!(offsets(&rows), [2, 10]);
    assert!(rows.iter().all(|r| r.source == path.to_string_lossy()));
    // Idle for the rotate wait (5 s of poll time): closed, its partial line emitted.
    assert!(poll(&mut t, 3 * S).0.is_empty());
    let (rows, _) = poll(&mut t, 8 * S);
    assert_eq!(lines(&rows), ["last"]);
    assert_eq!(offsets(&rows), [15]);
    append(&old, "\n");
    assert!(poll(&mut t, 9 * S).0.is_empty(), "closed: nothing twice");

    // With no rotate wait, the partial line comes out at the rotation itself.
    let mut t = LogTailer::new(
        &[glob(dir.path(), "app.log")],
        TailConfig {
            from_start: true,
            rotate_wait: Duration::ZERO,
            ..TailConfig::default()
        },
    )
    .unwrap();
    append(&path, "pend");
    assert_eq!(lines(&poll(&mut t, 0).0), ["new"]);
    fs::rename(&path, &old).unwrap();
    append(&path, "next\n");
    assert_eq!(lines(&poll(&mut t, 0).0), ["pend", "next"]);
}

#[test]
fn rotated_file_renamed_to_a_matched_name_is_not_read_twice() {
    let dir = tempfile::tempdir().unwrap();
    let (path, old) = (dir.path().join("app.log"), dir.path().join("app.log.1"));
    append(&path, "a\nb\n");
    let mut t = tailer(&[glob(dir.path(), "app.log*")], true);
    assert_eq!(lines(&poll(&mut t, 0).0), ["a", "b"]);
    append(&path, "c\n");
    fs::rename(&path, &old).unwrap();
    append(&path, "d\n");
    let (rows, stats) = poll(&mut t, 0);
    assert_eq!(lines(&rows), ["c", "d"]);
    assert_eq!(stats.files, 2);
    append(&old, "e\n");
    let (rows, _) = poll(&mut t, 0);
    assert_eq!(lines(&rows), ["e"]);
    assert_eq!(rows[0].source, old.to_string_lossy());
    assert_eq!(rows[0].offset, 6);
}

#[test]
fn copytruncate_reads_the_rest_from_the_matching_copy() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let path = d.join("app.log");
    append(&path, "first 1\nfirst 2\n");
    let mut t = tailer(&[glob(d, "app.log")], true);
    assert_eq!(poll(&mut t, 0).0.len(), 2);

    // Unread when rotated: "first 3" and the partial "first 4".
    append(&path, "first 3\nfirst 4");
    append(
        &d.join("app.log.2"),
        "older generation, long enough to hold our offset\n",
    );
    // Same first bytes, but not named like a rotated copy of app.log.
    append(
        &d.join("app.logs"),
        "first 1\nfirst 2\nfirst 3\nfirst 4 in a non-sibling\n",
    );
    fs::copy(&path, d.join("app.log.1")).unwrap();
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&path, "second 1\n");
    let (rows, stats) = poll(&mut t, 0);
    assert_eq!(lines(&rows), ["first 3", "first 4", "second 1"]);
    assert_eq!(offsets(&rows), [16, 24, 0]);
    assert_eq!(stats.truncations_without_copy, 0);

    // Truncated and rewritten past our offset before the next poll: the changed first
    // bytes give it away, and no fragment of the new text is read as old.
    append(&path, "second 2\n");
    fs::copy(&path, d.join("app.log.1")).unwrap();
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&path, "third 1 is longer than everything before it\n");
    let (rows, stats) = poll(&mut t, 0);
    assert_eq!(
        lines(&rows),
        ["second 2", "third 1 is longer than everything before it"]
    );
    assert_eq!(offsets(&rows), [9, 0]);
    assert_eq!(stats.truncations_without_copy, 0);

    // Truncated with no copy: the possible loss is counted, reading goes on from 0.
    append(&path, "third 2\n");
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&path, "fourth\n");
    let (rows, stats) = poll(&mut t, 0);
    assert_eq!(lines(&rows), ["fourth"]);
    assert_eq!(stats.truncations_without_copy, 1);
}

#[test]
fn a_file_that_disappears_is_drained_then_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    append(&a, "a1\n");
    append(&b, "b1\n");
    let mut t = tailer(&[glob(dir.path(), "*.log")], true);
    assert_eq!(lines(&poll(&mut t, 0).0), ["a1", "b1"]);

    append(&a, "a2\na3");
    fs::remove_file(&a).unwrap();
    append(&b, "b2\n");
    let (rows, stats) = poll(&mut t, S);
    assert_eq!(lines(&rows), ["a2", "b2"]);
    assert_eq!((stats.files, stats.unreadable), (1, 0));
    assert!(t.problems().is_empty());
    assert!(poll(&mut t, 2 * S).0.is_empty());
    let (rows, _) = poll(&mut t, 7 * S);
    assert_eq!(lines(&rows), ["a3"]);
    assert_eq!(rows[0].offset, 6);
    assert!(poll(&mut t, 20 * S).0.is_empty());
}

#[test]
fn unreadable_paths_are_counted_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    append(&d.join("ok.log"), "fine\n");
    fs::create_dir(d.join("dir.log")).unwrap();
    let fifo = d.join("pipe.log");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let mut t = tailer(&[glob(d, "*.log")], true);

    // Polling must not block on the FIFO, and must go on with the readable file.
    for ts in [0, 1] {
        let (rows, stats) = poll(&mut t, ts);
        assert_eq!(lines(&rows), if ts == 0 { vec!["fine"] } else { vec![] });
        assert_eq!((stats.files, stats.unreadable), (1, 2));
        assert_eq!(
            t.problems(),
            [
                format!("{}: not a regular file (directory)", glob(d, "dir.log")),
                format!("{}: not a regular file (fifo)", glob(d, "pipe.log")),
            ]
        );
    }
    fs::remove_dir(d.join("dir.log")).unwrap();
    assert_eq!(poll(&mut t, 2).1.unreadable, 1);

    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        println!("skipped: permission denial (running as root, chmod 000 does not deny reads)");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let secret = d.join("secret.log");
    append(&secret, "hidden\n");
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o000)).unwrap();
    let (rows, stats) = poll(&mut t, 3);
    assert!(rows.is_empty());
    assert_eq!(stats.unreadable, 2);
    assert!(
        t.problems()
            .iter()
            .any(|p| p.contains("secret.log") && p.contains("denied"))
    );
}

#[test]
fn invalid_globs_are_errors_naming_them() {
    for bad in ["/var/log/[app.log", "/var/**/app.log", ""] {
        let e = LogTailer::new(
            &["/var/log/*.log".into(), bad.into()],
            TailConfig::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains(&format!("'{bad}'")), "{e}");
    }
}

#[test]
fn an_overlong_line_is_cut_and_not_buffered() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.log");
    let mut t = tailer(&[glob(dir.path(), "*.log")], true);
    let block = vec![b'x'; 64 * 1024];
    let half = 64 * block.len();
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(b"ERROR ").unwrap();
    for _ in 0..64 {
        f.write_all(&block).unwrap();
    }

    let mut out = Vec::with_capacity(8);
    let (peak, stats) = peak_during(|| t.poll(1, &mut out));
    assert!(out.is_empty());
    assert_eq!(stats.bytes as usize, half + 6);
    assert!(
        peak < 256 * 1024,
        "{peak} bytes held for a 4 MiB partial line"
    );

    for _ in 0..64 {
        f.write_all(&block).unwrap();
    }
    f.write_all("é\nnext\n".as_bytes()).unwrap();
    let (peak, stats) = peak_during(|| t.poll(2, &mut out));
    assert!(peak < 256 * 1024, "{peak} bytes held for an 8 MiB line");
    assert_eq!(lines(&out).len(), 2);
    let long = &out[0];
    assert!(long.truncated);
    assert_eq!(long.line.len(), 16 * 1024);
    assert!(long.line.starts_with("ERROR xxx"));
    assert_eq!((long.offset, long.level.as_deref()), (0, Some("error")));
    assert_eq!((out[1].line.as_str(), out[1].truncated), ("next", false));
    assert_eq!(out[1].offset as usize, 2 * half + 6 + 3);
    assert_eq!(stats.truncated_lines, 1);
}

#[test]
fn a_writer_faster_than_the_budget_makes_the_tailer_lag_not_grow() {
    let dir = tempfile::tempdir().unwrap();
    let (path, old) = (dir.path().join("app.log"), dir.path().join("app.log.1"));
    let text: String = (0..1000).map(|i| format!("line {i:04}\n")).collect();
    append(&path, &text); // 10,000 bytes
    let mut t = LogTailer::new(
        &[glob(dir.path(), "app.log")],
        TailConfig {
            from_start: true,
            max_bytes_per_poll: 3000,
            ..TailConfig::default()
        },
    )
    .unwrap();
    let mut seen = Vec::new();
    let (rows, stats) = poll(&mut t, 0);
    assert_eq!((stats.bytes, stats.backlog_bytes), (3000, 7000));
    assert_eq!(rows.len(), 300);
    seen.extend(rows);
    // Rotated with 7,000 bytes unread, plus a partial line the program completes later:
    // the old generation keeps draining at the budget, nothing lost or read twice.
    fs::rename(&path, &old).unwrap();
    append(&old, "tail");
    append(&path, "fresh\n");
    for i in 1..10 {
        let (rows, stats) = poll(&mut t, i * S);
        assert!(stats.bytes <= 2 * 3000, "{} bytes in one poll", stats.bytes);
        seen.extend(rows);
    }
    append(&old, "\n");
    for i in 10..20 {
        seen.extend(poll(&mut t, i * S).0);
    }
    let got = lines(&seen);
    let mut want: Vec<String> = (0..1000).map(|i| format!("line {i:04}")).collect();
    want.push("tail".into());
    let old_lines: Vec<&str> = got.iter().copied().filter(|l| *l != "fresh").collect();
    assert_eq!(old_lines, want);
    assert_eq!(got.iter().filter(|l| **l == "fresh").count(), 1);
}

#[test]
fn lines_are_cut_on_char_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.log");
    append(
        &path,
        "ééé\nabcde\r\nabcdef\r\n€€\n\u{1F600}\u{1F600}\n\u{1F600}\n",
    );
    append(&path, b"ab\xff\xff\n");
    let mut t = LogTailer::new(
        &[glob(dir.path(), "a.log")],
        TailConfig {
            max_line_bytes: 5,
            from_start: true,
            ..TailConfig::default()
        },
    )
    .unwrap();
    let (rows, stats) = poll(&mut t, 0);
    let got: Vec<(&str, bool)> = rows
        .iter()
        .map(|r| (r.line.as_str(), r.truncated))
        .collect();
    assert_eq!(
        got,
        [
            ("éé", true),
            ("abcde", false),
            ("abcde", true),
            ("€", true),
            ("\u{1F600}", true),
            ("\u{1F600}", false),
            ("ab\u{FFFD}", true),
        ]
    );
    assert_eq!(stats.truncated_lines, 5);
}

#[test]
fn binary_garbage_never_panics() {
    // A fixed pseudo-random stream with NULs, invalid UTF-8, stray '\r' and multi-byte
    // characters, written in uneven pieces so that reads cut sequences apart.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut data = Vec::new();
    while data.len() < 300_000 {
        match next() % 10 {
            0 => data.push(b'\n'),
            1 => data.extend_from_slice("é€😀".as_bytes()),
            2 => data.extend_from_slice(b"\0\r\xff\xc3"),
            _ => data.push(next() as u8),
        }
    }
    data.extend_from_slice(b"\n\0\0\0\n\xff\xfe\nok\xe2\x82\xacok\r\n");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bin.log");
    File::create(&path).unwrap();
    let max = 100;
    let mut t = LogTailer::new(
        &[glob(dir.path(), "bin.log")],
        TailConfig {
            max_line_bytes: max,
            from_start: true,
            ..TailConfig::default()
        },
    )
    .unwrap();
    let mut rows = Vec::new();
    let mut rest = &data[..];
    while !rest.is_empty() {
        let n = (next() % 5000) as usize;
        let (piece, tail) = rest.split_at(n.min(rest.len()));
        append(&path, piece);
        t.poll(0, &mut rows);
        rest = tail;
    }

    let mut expected = Vec::new();
    let mut offset = 0;
    for seg in data.split(|&b| b == b'\n') {
        expected.push((offset as u64, seg));
        offset += seg.len() + 1;
    }
    expected.pop(); // after the final '\n'
    assert_eq!(rows.len(), expected.len());
    for (row, (offset, seg)) in rows.iter().zip(&expected) {
        assert_eq!(row.offset, *offset);
        assert!(row.line.len() <= max);
        let seg = seg.strip_suffix(b"\r").unwrap_or(seg);
        let full = String::from_utf8_lossy(seg);
        if row.truncated {
            assert!(seg.len() > max || full.len() > max);
        } else {
            assert_eq!(row.line, full);
        }
    }
    let n = rows.len();
    assert_eq!(
        lines(&rows[n - 3..]),
        ["\0\0\0", "\u{FFFD}\u{FFFD}", "ok€ok"]
    );
}

#[test]
fn levels() {
    for (line, want) in [
        // syslog priority: severity = PRI % 8
        ("<0>kernel panic", Some("fatal")),
        ("<1>x", Some("fatal")),
        ("<2>x", Some("fatal")),
        ("<3>x", Some("error")),
        ("<4>x", Some("warn")),
        ("<5>x", Some("info")),
        ("<6>x", Some("info")),
        ("<7>x", Some("debug")),
        ("<11>x", Some("error")),
        ("<191>x", Some("debug")),
        (
            "<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed",
            Some("fatal"),
        ),
        (
            "<165>1 2003-10-11T22:14:15.003Z host app 8710 ID47 - debug",
            Some("info"),
        ),
        ("<192>error", Some("error")),
        ("<x>", None),
        // JSON fields
        (r#"{"level":"ERROR","msg":"x"}"#, Some("error")),
        (r#"{"msg":"x", "severity": "warning"}"#, Some("warn")),
        (r#"{"lvl":"Information"}"#, Some("info")),
        (r#"{"level":"crit"}"#, Some("fatal")),
        (r#"{"level":"err"}"#, Some("error")),
        (r#"{"Level":"Debug"}"#, Some("debug")),
        (r#"{"severity":"NOTICE"}"#, Some("info")),
        (r#"{"level":"trace"}"#, Some("trace")),
        (r#"{"level":"emerg"}"#, Some("fatal")),
        (r#"{"level":30,"msg":"pino"}"#, Some("info")),
        (r#"{"level":50}"#, Some("error")),
        (
            r#"{"ctx":{"level":"debug"},"msg":"a \"level\": \"info\"","level":"warn"}"#,
            Some("warn"),
        ),
        (r#"{"msg":"nothing here"}"#, None),
        // logfmt
        ("ts=2024-01-01 level=warn msg=x", Some("warn")),
        (r#"time=1 lvl="error" msg="info""#, Some("error")),
        // words
        ("2024-01-01T00:00:00Z ERROR db: timeout", Some("error")),
        ("[WARN] disk almost full", Some("warn")),
        ("WARNING: low memory", Some("warn")),
        ("Jan 1 host app: notice: started", Some("info")),
        ("E ERR x", Some("error")),
        ("FATAL could not start", Some("fatal")),
        ("CRITICAL: disk", Some("fatal")),
        ("crit: x", Some("fatal")),
        ("panic: runtime error: index out of range", Some("fatal")),
        ("SEVERE: x", Some("error")),
        ("12:00 Trace enter", Some("trace")),
        ("12:00 debug: x", Some("debug")),
        ("12:00 Info x", Some("info")),
        ("errors happened", None),
        ("information only", None),
        ("debug_mode=1 ok", None),
        ("no level here", None),
        ("", None),
    ] {
        assert_eq!(detect_level(line), want, "{line:?}");
    }
    let far = format!("{} ERROR", "x".repeat(90));
    assert_eq!(detect_level(&far), None, "only the start of a line counts");
    assert_eq!(detect_level("\u{e9}".repeat(50).as_str()), None);
}

#[test]
fn pids() {
    for (line, want) in [
        (
            "Jan  2 03:04:05 host sshd[1234]: Accepted publickey",
            Some(1234),
        ),
        (
            "<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed",
            Some(123),
        ),
        ("systemd[1]: Started x", Some(1)),
        (
            "<165>1 2003-10-11T22:14:15.003Z host evntslog 8710 ID47 - msg",
            Some(8710),
        ),
        (
            "<165>1 2003-10-11T22:14:15.003Z host evntslog - ID47 - msg",
            None,
        ),
        (r#"{"pid": 4321, "msg": "x"}"#, Some(4321)),
        (r#"{"msg":"x","pid":"77"}"#, Some(77)),
        (r#"{"msg":"sshd[12]: x"}"#, None),
        ("kernel: [12345.678] usb 1-1: new device", None),
        ("array [5]: x", None),
        ("foo[99999999999]: x", None),
        ("foo[12] x", None),
        ("no pid", None),
    ] {
        assert_eq!(detect_pid(line), want, "{line:?}");
    }
}
