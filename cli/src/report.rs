//! `qbranch report`: gathers a run's results (the trainer's metrics, the scenario suite,
//! `qbranch perf`, `qbranch anchors`), writes the report (qb-reports) into a run folder,
//! compares it against the committed baseline and renders it in headless Chromium.
//! Glue only.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use clap::Args;
use qb_reports::inputs::{Anchors, Perf, Scenarios, read_json, read_model_metrics};
use qb_reports::{Baseline, Results, Verdict, browser, compare};

/// The committed baseline run, relative to the repository root.
pub const BASELINE: &str = "notebooks-free-reports/baseline/results.json";
/// Where run folders go, relative to the repository root.
pub const RUNS: &str = "notebooks-free-reports/runs";

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  qbranch report\n  \
                  qbranch report --scenarios replay.json --perf perf.json --anchors anchors/anchors.json\n  \
                  qbranch report --baseline notebooks-free-reports/runs/2026-11-20-vm/results.json --fail-on-regression")]
pub struct ReportArgs {
    /// The trainer's metrics files
    #[arg(long, value_name = "DIR", default_value = "models/metrics")]
    pub metrics: PathBuf,
    /// Scenario results (`qbranch replay --json FILE`) [default: replay scenarios/cases here]
    #[arg(long, value_name = "FILE")]
    pub scenarios: Option<PathBuf>,
    /// Performance probes (`qbranch perf --out FILE`) [default: run the quick probes here]
    #[arg(long, value_name = "FILE")]
    pub perf: Option<PathBuf>,
    /// Leave the performance section out instead of measuring
    #[arg(long, conflicts_with = "perf")]
    pub no_perf: bool,
    /// The anchor comparison (`qbranch anchors --out DIR` writes DIR/anchors.json)
    #[arg(long, value_name = "FILE")]
    pub anchors: Option<PathBuf>,
    /// A run's results.json to compare against [default: the committed baseline]
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Compare against nothing
    #[arg(long, conflicts_with = "baseline")]
    pub no_baseline: bool,
    /// The run folder [default: notebooks-free-reports/runs/<date>-<host>]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Exit with status 3 when a quality metric regressed against the baseline
    #[arg(long)]
    pub fail_on_regression: bool,
    /// Do not render the page in headless Chromium (no screenshot)
    #[arg(long)]
    pub no_browser: bool,
    /// Recorded as the run's command (the demo sets it)
    #[arg(long, hide = true, default_value = "qbranch report")]
    pub command: String,
}

/// What the report came to, for the demo's summary.
#[derive(Debug)]
pub struct Outcome {
    /// The baseline compared against, if any.
    pub baseline: Option<String>,
    pub html: PathBuf,
    pub charts: usize,
    pub regressions: usize,
    pub slower: usize,
    pub browser: std::result::Result<browser::Rendered, String>,
    pub results: Results,
}

impl Outcome {
    /// One line on the baseline comparison.
    pub fn against_baseline(&self) -> String {
        match &self.baseline {
            Some(source) => format!(
                "against {source}: {} quality regressions, {} timings slower",
                self.regressions, self.slower
            ),
            None => "no baseline compared".into(),
        }
    }
}

pub fn run(args: ReportArgs) -> Result<bool> {
    let fail = args.fail_on_regression;
    let o = make(args)?;
    println!("report: {}", o.html.display());
    println!(
        "        {} charts; markdown twin and results.json beside it",
        o.charts
    );
    println!("        {}", o.against_baseline());
    match &o.browser {
        Ok(b) => println!(
            "        headless Chromium: {} of {} charts in the page, screenshot {}",
            b.charts_in_dom,
            o.charts,
            b.screenshot.display()
        ),
        Err(why) => println!("        browser check: {why}"),
    }
    Ok(!(fail && o.regressions > 0))
}

/// Gathers, writes and checks one report.
pub fn make(args: ReportArgs) -> Result<Outcome> {
    let mut r = Results {
        meta: meta(&args.command),
        models: read_model_metrics(&args.metrics)?,
        ..Results::default()
    };
    if r.models.is_empty() {
        r.missing.insert(
            "models".into(),
            format!(
                "no metrics files in {} (`qbranch train all --models DIR`)",
                args.metrics.display()
            ),
        );
    }
    r.meta
        .sources
        .insert("models".into(), args.metrics.display().to_string());
    gather_scenarios(&mut r, args.scenarios.as_deref())?;
    gather_perf(&mut r, args.perf.as_deref(), args.no_perf)?;
    match &args.anchors {
        Some(path) => {
            r.anchors = Some(read_json::<Anchors>(path)?);
            r.meta
                .sources
                .insert("anchors".into(), path.display().to_string());
        }
        None => {
            r.missing.insert(
                "anchors".into(),
                "not given (`qbranch anchors --out DIR`, then `--anchors DIR/anchors.json`)".into(),
            );
        }
    }
    let baseline_path = match (&args.baseline, args.no_baseline) {
        (_, true) => None,
        (Some(p), _) => Some(p.clone()),
        (None, false) => Some(PathBuf::from(BASELINE)).filter(|p| p.is_file()),
    };
    let baseline = baseline_path
        .as_ref()
        .map(|p| read_json::<Results>(p).map(|b| (b, p.display().to_string())))
        .transpose()?;
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| qb_reports::run_dir(Path::new(RUNS), &r.meta));
    let written = qb_reports::write_run(
        &dir,
        &r,
        baseline
            .as_ref()
            .map(|(results, source)| Baseline { results, source }),
    )?;
    let findings = written.findings.unwrap_or_default();
    let browser = if args.no_browser {
        Err("skipped (--no-browser)".to_string())
    } else {
        match browser::find_chromium() {
            Some(bin) => browser::render(&bin, &written.html, &dir.join("screenshot.png"))
                .and_then(|b| {
                    if b.charts_in_dom == written.charts {
                        Ok(b)
                    } else {
                        Err(format!(
                            "the page has {} charts but Chromium's DOM only {}",
                            written.charts, b.charts_in_dom
                        ))
                    }
                }),
            None => Err("skipped: no chromium on PATH (scripts/setup installs it)".into()),
        }
    };
    Ok(Outcome {
        baseline: baseline.map(|(_, source)| source),
        html: written.html,
        charts: written.charts,
        regressions: compare::regressions(&findings),
        slower: findings
            .iter()
            .filter(|f| f.verdict == Verdict::Slower)
            .count(),
        browser,
        results: r,
    })
}

fn gather_scenarios(r: &mut Results, path: Option<&Path>) -> Result<()> {
    let s: Scenarios = match path {
        Some(p) => {
            r.meta
                .sources
                .insert("scenarios".into(), p.display().to_string());
            read_json(p)?
        }
        None => {
            let cases = PathBuf::from(crate::replay::DEFAULT_CASES);
            if !cases.is_dir() {
                r.missing.insert(
                    "scenarios".into(),
                    format!("no {} here and no --scenarios file", cases.display()),
                );
                return Ok(());
            }
            eprintln!(
                "report: replaying the scenario suite ({})...",
                cases.display()
            );
            r.meta.sources.insert(
                "scenarios".into(),
                format!("{} (replayed for this report)", cases.display()),
            );
            let trials = crate::replay::replay_quietly(&[cases])?;
            serde_json::from_value(trials)
                .context("the scenario results do not read as the report's")?
        }
    };
    r.scenarios = Some(s);
    Ok(())
}

fn gather_perf(r: &mut Results, path: Option<&Path>, skip: bool) -> Result<()> {
    if skip {
        r.missing
            .insert("perf".into(), "left out (--no-perf)".into());
        return Ok(());
    }
    let p: Perf = match path {
        Some(p) => {
            r.meta
                .sources
                .insert("perf".into(), p.display().to_string());
            read_json(p)?
        }
        None => {
            eprintln!("report: measuring (qbranch perf --quick)...");
            r.meta.sources.insert(
                "perf".into(),
                "qbranch perf --quick (measured for this report)".into(),
            );
            let v = serde_json::to_value(crate::perf::measure(true, None))?;
            serde_json::from_value(v).context("the perf results do not read as the report's")?
        }
    };
    r.perf = Some(p);
    Ok(())
}

/// The run's time, host, machine and source revision.
pub fn meta(command: &str) -> qb_reports::inputs::Meta {
    let machine = crate::perf::machine();
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let git_rev = git(&["rev-parse", "--short", "HEAD"]).map(|rev| {
        let dirty =
            git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
        if dirty {
            format!("{rev} (with uncommitted changes)")
        } else {
            rev
        }
    });
    qb_reports::inputs::Meta {
        created: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        host: machine.host,
        cpus: machine.cpus,
        kernel: machine.kernel,
        git_rev,
        command: command.into(),
        sources: Default::default(),
    }
}
