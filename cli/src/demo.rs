//! `qbranch demo`: the whole loop on this machine, end to end: simulate the standard
//! sets, train every model, replay the scenario suite through the gadgets, measure,
//! run the anchor comparison, write the report and print a one-screen summary. Each
//! step is this same binary run as a child (its output goes to the run's `logs/`, its
//! latest line to the progress line), so the demo is glue over the commands a user can
//! run one by one.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use qb_reports::suite;

use crate::report::{self, ReportArgs};

/// Labelled live recordings, relative to the repository root.
const LIVE_FIXTURES: &str = "scenarios/fixtures/live";

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  qbranch demo\n  qbranch demo --reuse-data --no-anchors")]
pub struct DemoArgs {
    /// Where the standard sets are simulated (git-ignored; about 400 MB)
    #[arg(long, value_name = "DIR", default_value = "datasets/standard")]
    data: PathBuf,
    /// Keep a complete standard set already at --data instead of simulating it again
    /// (same seeds, same bytes)
    #[arg(long)]
    reuse_data: bool,
    /// The run folder [default: notebooks-free-reports/runs/<date>-<host>]
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Python for the anchor comparison [default: the venv scripts/setup makes]
    #[arg(long, value_name = "PATH")]
    python: Option<PathBuf>,
    /// Leave the anchor comparison out
    #[arg(long)]
    no_anchors: bool,
    /// Do not render the report in headless Chromium
    #[arg(long)]
    no_browser: bool,
}

/// One child step: its words, its arguments, its log.
struct Step<'a> {
    n: usize,
    of: usize,
    what: &'a str,
    log: PathBuf,
}

fn elapsed(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// Runs this binary with `args`, its output to the step's log and its latest line to
/// the progress line. Fails with the log's tail.
fn child(step: &Step, args: &[String]) -> Result<Duration> {
    let started = Instant::now();
    let exe = std::env::current_exe().context("cannot find the qbranch executable")?;
    let mut log = std::fs::File::create(&step.log)
        .with_context(|| format!("cannot write {}", step.log.display()))?;
    writeln!(log, "$ qbranch {}", args.join(" "))?;
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{prefix}] {wide_msg} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_prefix(format!("{}/{} {}", step.n, step.of, step.what));
    bar.enable_steady_tick(Duration::from_millis(200));
    if bar.is_hidden() {
        eprintln!("[{}/{}] {}...", step.n, step.of, step.what);
    }
    let mut proc = Command::new(&exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {}", exe.display()))?;
    let (tx, rx) = mpsc::channel::<String>();
    let readers: Vec<_> = [
        proc.stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        proc.stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|stream| {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(|l| l.ok()) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        })
    })
    .collect();
    drop(tx);
    let mut tail: VecDeque<String> = VecDeque::new();
    for line in rx {
        writeln!(log, "{line}")?;
        bar.set_message(line.chars().take(100).collect::<String>());
        if tail.len() == 15 {
            tail.pop_front();
        }
        tail.push_back(line);
    }
    for r in readers {
        let _ = r.join();
    }
    let status = proc.wait()?;
    let took = started.elapsed();
    bar.finish_and_clear();
    if !status.success() {
        bail!(
            "step {}/{} ({}) failed ({status}) after {}; the end of its log ({}):\n{}",
            step.n,
            step.of,
            step.what,
            elapsed(took),
            step.log.display(),
            Vec::from(tail).join("\n")
        );
    }
    println!("[{}/{}] {} ({})", step.n, step.of, step.what, elapsed(took));
    Ok(took)
}

/// The replayed live recordings of the suite, `scenarios/fixtures/live/*`, sorted.
fn live_fixtures() -> Result<Vec<PathBuf>> {
    let root = Path::new(LIVE_FIXTURES);
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .with_context(|| format!("cannot list {}", root.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("manifest.toml").is_file())
        .collect();
    dirs.sort();
    Ok(dirs)
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

pub fn run(args: DemoArgs) -> Result<()> {
    if !Path::new(crate::replay::DEFAULT_CASES).is_dir() {
        bail!(
            "run the demo from the repository root (no {} here)",
            crate::replay::DEFAULT_CASES
        );
    }
    let started = Instant::now();
    let dir = match &args.out {
        Some(d) => d.clone(),
        None => qb_reports::run_dir(Path::new(report::RUNS), &report::meta("qbranch demo")),
    };
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
    println!(
        "qbranch demo: the whole loop on this machine; run folder {}",
        dir.display()
    );
    let of = 6;
    let step = |n: usize, what: &'static str, log: &str| Step {
        n,
        of,
        what,
        log: logs.join(log),
    };

    let complete = args.reuse_data
        && qb_simulator::standard_plan(&args.data)
            .iter()
            .all(|i| i.dir.join("manifest.toml").is_file());
    if complete {
        println!(
            "[1/{of}] standard sets: kept the complete set at {}",
            args.data.display()
        );
    } else {
        child(
            &step(1, "simulate the standard sets", "simulate.log"),
            &[
                "simulate".into(),
                "standard".into(),
                "--out".into(),
                s(&args.data),
            ],
        )?;
    }
    let models = dir.join("models");
    let mut train = vec![
        "train".into(),
        "all".into(),
        "--data".into(),
        s(&args.data),
        "--models".into(),
        s(&models),
    ];
    // The committed live recordings: each model is also scored on the real runs of its
    // family (the trainer picks them by their labels).
    for fixture in live_fixtures()? {
        train.extend(["--live".into(), s(&fixture)]);
    }
    child(&step(2, "train every model", "train.log"), &train)?;
    let scenarios = dir.join("scenarios.json");
    child(
        &step(3, "replay the scenario suite", "replay.log"),
        &[
            "replay".into(),
            "--json".into(),
            s(&scenarios),
            crate::replay::DEFAULT_CASES.into(),
        ],
    )
    .or_else(|e| {
        // A failing trial is a finding the report shows, not the end of the demo.
        let written = std::fs::metadata(&scenarios).is_ok_and(|m| m.len() > 0);
        if written { Ok(Duration::ZERO) } else { Err(e) }
    })?;
    let perf = dir.join("perf.json");
    child(
        &step(4, "measure (quick probes)", "perf.log"),
        &["perf".into(), "--quick".into(), "--out".into(), s(&perf)],
    )?;
    let anchors = dir.join("anchors");
    let anchors_json = if args.no_anchors {
        println!("[5/{of}] anchor comparison: left out (--no-anchors)");
        None
    } else {
        let mut a = vec![
            "anchors".into(),
            "--quick".into(),
            "--data".into(),
            s(&args.data),
            "--out".into(),
            s(&anchors),
        ];
        if let Some(py) = &args.python {
            a.extend(["--python".into(), s(py)]);
        }
        child(&step(5, "anchor comparison (quick)", "anchors.log"), &a)?;
        Some(anchors.join("anchors.json"))
    };
    println!("[6/{of}] write the report");
    let outcome = report::make(ReportArgs {
        metrics: models.join("metrics"),
        scenarios: Some(scenarios),
        perf: Some(perf),
        no_perf: false,
        anchors: anchors_json,
        baseline: None,
        no_baseline: false,
        out: Some(dir.clone()),
        fail_on_regression: false,
        no_browser: args.no_browser,
        command: "qbranch demo".into(),
    })?;
    summary(&outcome, &models, started.elapsed());
    Ok(())
}

fn summary(o: &report::Outcome, models: &Path, took: Duration) {
    let r = &o.results;
    println!();
    println!("qbranch demo: done in {}", elapsed(took));
    let trained = std::fs::read_dir(models.join("artifacts")).map_or(0, |d| d.count());
    println!(
        "  models      {trained} trained into {} (the replays run the models compiled in)",
        models.display()
    );
    if let Some(s) = &r.scenarios {
        let count = |w: &str| {
            s.trials
                .iter()
                .filter(|t| !t.must_fail && t.status == w)
                .count()
        };
        println!(
            "  suite       {} trials: {} pass, {} known failures, {} fail, {} skipped",
            s.trials.iter().filter(|t| !t.must_fail).count(),
            count("pass"),
            count("known"),
            count("fail"),
            count("skip")
        );
        let f1: Vec<String> = suite::ordered(&suite::confusion(s))
            .into_iter()
            .filter(|(_, c)| c.total() > 0)
            .map(|(g, c)| format!("{g} {}", qb_reports::table::f3(c.f1())))
            .collect();
        println!("  F1          {}", f1.join(", "));
    }
    for row in qb_reports::oracle::against_rules(r).into_iter().take(1) {
        let detector = row[0].trim_start_matches("Oracle (").trim_end_matches(')');
        println!("  Oracle      {detector}, {}: {}", row[1], row[2]);
        println!("              rules: {}", row[4]);
    }
    for row in qb_reports::classifiers::against_rules(r)
        .into_iter()
        .filter(|r| r[1].contains("held-out"))
    {
        let gadget = row[0].split(' ').next().unwrap_or("");
        println!("  {gadget:<11} {}: {} (rule {})", row[1], row[2], row[4]);
    }
    if let Some(p) = &r.perf {
        let wanted = [
            "engine tick",
            "recorder tick cpu",
            "eBPF syscall probe",
            "gadgetd RSS",
            "curator throughput",
        ];
        let m: Vec<String> = p
            .measurements
            .iter()
            .filter(|m| wanted.contains(&m.name.as_str()))
            .map(|m| {
                format!(
                    "{} {} {}",
                    m.name,
                    qb_reports::table::num(Some(m.median)),
                    m.unit
                )
            })
            .collect();
        println!("  perf        {}", m.join("; "));
    }
    if let Some(a) = &r.anchors {
        println!(
            "  anchors     {} comparisons, {} skipped",
            a.comparisons.len(),
            a.skipped.len()
        );
    }
    println!("  baseline    {}", o.against_baseline());
    match &o.browser {
        Ok(b) => println!(
            "  browser     {} of {} charts rendered; screenshot {}",
            b.charts_in_dom,
            o.charts,
            b.screenshot.display()
        ),
        Err(why) => println!("  browser     {why}"),
    }
    println!("  report      {}", o.html.display());
}
