//! `qbranch replay`: runs scenario cases (qb-scenarios) and reports one line per trial,
//! a summary, and optionally JUnit XML and the results as JSON. Glue only.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use qb_scenarios::{Pattern, Results, Status, TrialResult, junit, load_all, run, trials};

/// Where the cases live, relative to the repository root.
pub const DEFAULT_CASES: &str = "scenarios/cases";

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  qbranch replay\n  qbranch replay scenarios/cases/oracle --run '_leak/seed-10001$'\n  \
                  qbranch replay scenarios/must-fail --junit replay.xml\n  qbranch replay --json results.json"
)]
pub struct ReplayArgs {
    /// Case files, or folders searched for *.toml [default: scenarios/cases]
    paths: Vec<PathBuf>,
    /// Only trials whose name (<area>/<name>/seed-<n>) matches: literals, . * + ? ^ $ \ and |
    #[arg(long, value_name = "REGEX")]
    run: Option<String>,
    /// Also write the results as JUnit XML
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Also write the results as JSON ({"trials": [...]}: case, source, seed, status,
    /// message, elapsed_ms and one check per gadget), for `qbranch report`
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

/// Whether every trial passed (known failures and skips included).
pub fn run_cases(args: ReplayArgs) -> anyhow::Result<bool> {
    let paths = if args.paths.is_empty() {
        let default = PathBuf::from(DEFAULT_CASES);
        if !default.is_dir() {
            bail!(
                "no case files named and no {DEFAULT_CASES} here: run from the repository root or name them"
            );
        }
        vec![default]
    } else {
        args.paths
    };
    let filter = args
        .run
        .as_deref()
        .map(Pattern::parse)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let cases = load_all(&paths)?;
    // Created before the run, so an unwritable path fails now, not after every trial.
    let json = args
        .json
        .as_deref()
        .map(|path| {
            File::create(path)
                .map(|file| (path, file))
                .with_context(|| format!("writing the results as JSON to {}", path.display()))
        })
        .transpose()?;
    let started = Instant::now();
    let mut results: Vec<TrialResult> = Vec::new();
    for case in &cases {
        for trial in trials(case) {
            if filter.as_ref().is_some_and(|f| !f.is_match(&trial.name())) {
                continue;
            }
            let result = run(&trial);
            print_line(&result);
            results.push(result);
        }
    }
    if results.is_empty() {
        bail!("no trial matches {:?}", args.run.unwrap_or_default());
    }
    let count = |s: Status| results.iter().filter(|r| r.status == s).count();
    println!(
        "\n{} trials in {:.1}s: {} passed, {} failed, {} skipped, {} known failures",
        results.len(),
        started.elapsed().as_secs_f64(),
        count(Status::Pass),
        count(Status::Fail),
        count(Status::Skip),
        count(Status::Known)
    );
    let passed = count(Status::Fail) == 0;
    if let Some(path) = &args.junit {
        write_junit(path, &results)?;
    }
    if let Some((path, file)) = json {
        write_json(path, file, results)?;
    }
    Ok(passed)
}

/// Every trial under `paths`, run without printing, as `--json` writes them: for
/// `qbranch report` when it is given no results file.
pub fn replay_quietly(paths: &[PathBuf]) -> anyhow::Result<serde_json::Value> {
    let cases = load_all(paths)?;
    let trials: Vec<TrialResult> = cases
        .iter()
        .flat_map(|case| trials(case).into_iter().map(|t| run(&t)))
        .collect();
    serde_json::to_value(Results { trials }).context("serialising the scenario results")
}

fn print_line(r: &TrialResult) {
    let mut lines = r.message.lines();
    println!(
        "{:<5} {} ({:.2}s) {}",
        r.status.word(),
        r.name,
        r.elapsed.as_secs_f64(),
        lines.next().unwrap_or_default()
    );
    for more in lines {
        println!("      {more}");
    }
}

fn write_junit(path: &Path, results: &[TrialResult]) -> anyhow::Result<()> {
    std::fs::write(path, junit::render(results))
        .with_context(|| format!("writing JUnit XML to {}", path.display()))
}

fn write_json(path: &Path, mut file: File, trials: Vec<TrialResult>) -> anyhow::Result<()> {
    let text = Results { trials }
        .to_json()
        .context("serialising the results as JSON")?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing the results as JSON to {}", path.display()))
}
