//! `live pii`: a real process floods a real log file with generated lines (clean
//! traffic, then from the onset PII in many formats, and lookalikes throughout); the
//! recorder tails the file into the `logs` table. The writer reports each line's spans
//! (byte offset in the file, entity types) on stdout, and they become labels joined to
//! the recorded rows by offset, exactly as in the synthetic family.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use qb_recorder::now_ns;
use qb_signals::{Frame, LabelRow, Table};
use qb_simulator::PiiKind;
use qb_simulator::pii::{PiiLineGenerator, PiiMix, label_attributes};
use qb_simulator::rng::Rng;

use crate::cgroup::ScratchCgroup;
use crate::scratch::ScratchDir;
use crate::spawn::{Worker, worker_command};
use crate::{LiveError, LiveOptions, Plan, Step, Workload, after};

/// Most lines a second the writer is asked for (the recorder's tailer keeps up far
/// beyond, but a flood should not turn into a disk benchmark).
const MAX_RATE: u64 = 100_000;

#[derive(Debug, Clone)]
pub struct PiiOptions {
    /// Log lines per second.
    pub rate: u64,
    pub seed: u64,
}

#[derive(Debug)]
pub struct Flood {
    onset: Duration,
    /// The flood file, inside `dir`.
    file: PathBuf,
    // Drop order: the writer's cgroup (and the writer), then its directory.
    cgroup: ScratchCgroup,
    writer: Worker,
    _dir: ScratchDir,
    started_ns: Option<i64>,
    onset_ns: Option<i64>,
    /// Recorded rows of the flood file: offset -> ts_ns.
    rows: BTreeMap<u64, i64>,
    /// What the writer said each line holds: offset -> (label kind, attributes).
    spans: BTreeMap<u64, Vec<(String, String)>>,
}

impl Flood {
    pub fn start(opts: &PiiOptions, live: &LiveOptions) -> Result<Self, LiveError> {
        if opts.rate == 0 || opts.rate > MAX_RATE {
            return Err(LiveError::Usage(format!(
                "--rate must be 1 to {MAX_RATE} lines per second"
            )));
        }
        let dir = ScratchDir::create("pii")?;
        let file = dir.path().join("checkout.log");
        let cgroup = ScratchCgroup::create(&live.cgroup_root, "pii")?;
        let cmd = worker_command(&[
            "pii".into(),
            format!("seed={}", opts.seed),
            format!("rate={}", opts.rate),
            format!("file={}", file.display()),
        ])?;
        let mut writer = Worker::spawn("log writer", cmd, &[&cgroup])?;
        writer.expect("ready", Duration::from_secs(10))?;
        Ok(Flood {
            onset: live.onset(),
            file,
            cgroup,
            writer,
            _dir: dir,
            started_ns: None,
            onset_ns: None,
            rows: BTreeMap::new(),
            spans: BTreeMap::new(),
        })
    }

    /// Takes in what the writer reported so far: `span OFFSET KIND ATTRIBUTES`.
    fn drain_reports(&mut self) {
        for line in self.writer.drain() {
            let mut f = line.splitn(4, ' ');
            if let (Some("span"), Some(off), Some(kind), Some(attrs)) =
                (f.next(), f.next(), f.next(), f.next())
                && let Ok(off) = off.parse()
            {
                self.spans
                    .entry(off)
                    .or_default()
                    .push((kind.to_string(), attrs.to_string()));
            }
        }
    }
}

impl Workload for Flood {
    fn plan(&self) -> Plan {
        Plan {
            tables: vec![Table::System, Table::Process, Table::Logs],
            log_globs: vec![self.file.display().to_string()],
        }
    }

    fn tick(&mut self, frame: &Frame) -> Result<Step, LiveError> {
        self.started_ns.get_or_insert(frame.ts_ns);
        let source = self.file.display().to_string();
        for row in frame.logs.iter().filter(|r| r.source == source) {
            self.rows.insert(row.offset, row.ts_ns);
        }
        if self.onset_ns.is_none() && after(self.started_ns, frame.ts_ns) >= self.onset {
            self.writer.send("leak")?;
            self.writer.expect("leaking", Duration::from_secs(10))?;
            self.onset_ns = Some(now_ns());
        }
        self.writer.ensure_alive()?;
        self.drain_reports();
        Ok(Step::Continue)
    }

    fn labels(&self, _end_ns: i64) -> Vec<LabelRow> {
        let source = self.file.display().to_string();
        let mut labels = Vec::new();
        // Only lines the recorder saw are labelled, at the time it saw them.
        for (offset, ts) in &self.rows {
            for (kind, attrs) in self.spans.get(offset).into_iter().flatten() {
                labels.push(LabelRow {
                    ts_ns: *ts,
                    kind: kind.clone(),
                    target: source.clone(),
                    start_ns: *ts,
                    end_ns: Some(*ts),
                    attributes: attrs.clone(),
                });
            }
        }
        labels
    }

    fn summary(&self) -> Vec<String> {
        let pii = self
            .rows
            .keys()
            .filter(|o| {
                self.spans
                    .get(o)
                    .is_some_and(|s| s.iter().any(|(k, _)| k == "pii"))
            })
            .count();
        vec![format!(
            "{} lines recorded from {} (writer in {}), {pii} carrying PII{}",
            self.rows.len(),
            self.file.display(),
            self.cgroup.path(),
            if self.onset_ns.is_none() {
                " (the run ended before the onset)"
            } else {
                ""
            }
        )]
    }
}

/// Worker body: writes `rate` lines a second to `file`, clean until told `leak` on
/// stdin, and reports each line's spans on stdout.
pub fn writer(seed: u64, rate: u64, file: &str) -> Result<(), LiveError> {
    let mut rng = Rng::new(seed);
    let leak_mix = PiiMix::for_kind(PiiKind::PiiFlood, "checkout", &[], &mut rng);
    let pii_rate = leak_mix.pii_rate;
    let mut lines = PiiLineGenerator::new(seed, leak_mix);
    lines.set_pii_rate(0.0);
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .map_err(|e| LiveError::io(file, e))?;
    let leaking = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&leaking);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            match line.as_deref().map(str::trim) {
                Ok("leak") => flag.store(true, Ordering::Relaxed),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        // The parent is gone: so is the point of writing.
        std::process::exit(0);
    });
    let stdout = std::io::stdout();
    writeln!(stdout.lock(), "ready").map_err(|e| LiveError::io("stdout", e))?;
    const STEPS: u64 = 10;
    let mut offset = 0u64;
    let mut told = false;
    let mut next = Instant::now();
    let mut carry = 0u64;
    loop {
        if !told && leaking.load(Ordering::Relaxed) {
            lines.set_pii_rate(pii_rate);
            writeln!(stdout.lock(), "leaking").map_err(|e| LiveError::io("stdout", e))?;
            told = true;
        }
        // Spread `rate` over the steps without losing the remainder.
        carry += rate;
        let n = carry / STEPS;
        carry %= STEPS;
        let mut buf = String::new();
        let mut report = String::new();
        for _ in 0..n {
            let line = lines.next_line(now_ns());
            for (kind, spans) in [("pii", &line.spans), ("pii_lookalike", &line.lookalikes)] {
                if !spans.is_empty() {
                    let attrs = label_attributes(offset, spans);
                    report.push_str(&format!("span {offset} {kind} {attrs}\n"));
                }
            }
            offset += line.text.len() as u64 + 1;
            buf.push_str(&line.text);
            buf.push('\n');
        }
        // The line reaches the file before its report: a label never precedes its line.
        out.write_all(buf.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| LiveError::io(file, e))?;
        let mut o = stdout.lock();
        o.write_all(report.as_bytes())
            .and_then(|()| o.flush())
            .map_err(|e| LiveError::io("stdout", e))?;
        next += Duration::from_secs(1) / STEPS as u32;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
}
