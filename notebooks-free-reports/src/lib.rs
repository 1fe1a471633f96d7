//! qb-reports: the benchmark report without notebooks. `Results` (the trainer's metrics,
//! the scenario suite's trials, `qbranch perf`, `qbranch anchors`) becomes one document,
//! written as a self-contained HTML page with inline SVG charts (no JavaScript) and its
//! Markdown twin, compared against a baseline run: quality by value, timings as warnings.

pub mod anchors;
pub mod browser;
pub mod classifiers;
pub mod compare;
pub mod doc;
mod error;
pub mod inputs;
pub mod logs;
pub mod oracle;
pub mod perf;
pub mod suite;
pub mod svg;
pub mod table;

use std::path::{Path, PathBuf};

pub use compare::{Finding, Metric, Verdict};
pub use doc::Doc;
pub use error::{ReportError, Result};
pub use inputs::Results;

use doc::Tone;

/// The suite's per-gadget F1 and kept-quiet rate. Replays are deterministic, so any
/// drop is a regression.
pub fn suite_metrics(r: &Results, out: &mut Vec<Metric>) {
    let Some(s) = r.scenarios.as_ref() else {
        return;
    };
    for (g, c) in suite::confusion(s) {
        if let Some(f1) = c.f1() {
            out.push(Metric::quality(&format!("suite/{g}/f1"), f1, true, 0.0));
        }
        if let Some(q) = c.specificity() {
            out.push(Metric::quality(
                &format!("suite/{g}/quiet_kept"),
                q,
                true,
                0.0,
            ));
        }
    }
}

/// A baseline to compare against, and where it came from (for the report's words).
#[derive(Debug, Clone, Copy)]
pub struct Baseline<'a> {
    pub results: &'a Results,
    pub source: &'a str,
}

/// The whole report as one document.
pub fn build(r: &Results, baseline: Option<Baseline>) -> (Doc, Option<Vec<Finding>>) {
    let mut d = Doc {
        title: format!("qbranch run {} on {}", r.meta.created, r.meta.host),
        ..Doc::default()
    };
    let findings =
        baseline.map(|b| compare::compare(&compare::metrics(r), &compare::metrics(b.results)));
    summary(&mut d, r);
    compare::section(
        &mut d,
        findings.as_deref(),
        baseline.map_or("none given", |b| b.source),
    );
    suite::section(&mut d, r.scenarios.as_ref(), r.missing.get("scenarios"));
    oracle::section(&mut d, r);
    classifiers::pathologist(&mut d, r);
    classifiers::equalizer(&mut d, r);
    logs::curator(&mut d, r);
    logs::archivist(&mut d, r);
    anchors::section(&mut d, r);
    perf::section(&mut d, r, baseline.map(|b| b.results));
    provenance(&mut d, r);
    (d, findings)
}

fn summary(d: &mut Doc, r: &Results) {
    d.heading(2, "Summary");
    d.para(format!(
        "Made by `{}` on {} ({} CPUs, kernel {}){}.",
        if r.meta.command.is_empty() {
            "qbranch report"
        } else {
            &r.meta.command
        },
        r.meta.host,
        r.meta.cpus,
        r.meta.kernel,
        r.meta
            .git_rev
            .as_deref()
            .map_or(String::new(), |g| format!(", source {g}"))
    ));
    for (part, why) in &r.missing {
        d.callout(Tone::Warning, format!("{part} missing: {why}"));
    }
    let mut rows = vec![
        ["model", "measure", "model", "rule baseline", "rule"]
            .map(String::from)
            .to_vec(),
    ];
    rows.extend(oracle::against_rules(r));
    rows.extend(classifiers::against_rules(r));
    d.heading(3, "Each model next to its rule baseline");
    d.table(rows);
}

fn provenance(d: &mut Doc, r: &Results) {
    d.heading(2, "Where the numbers come from");
    let mut rows = vec![vec!["input".to_string(), "source".into()]];
    rows.extend(
        r.meta
            .sources
            .iter()
            .map(|(k, v)| vec![k.clone(), v.clone()]),
    );
    d.table(rows);
    d.para(
        "Every number above is read from the files named here; `results.json` beside this page holds them all, \
         so a later run can be compared against this one (`qbranch report --baseline`).",
    );
}

/// `<root>/<YYYY-MM-DD>-<host>`, from the run's own time (RFC 3339) and host.
pub fn run_dir(root: &Path, meta: &inputs::Meta) -> PathBuf {
    let date: String = meta.created.chars().take(10).collect();
    let host: String = meta
        .host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    root.join(format!("{date}-{host}"))
}

/// What `write_run` wrote.
#[derive(Debug, Clone)]
pub struct Written {
    pub dir: PathBuf,
    pub html: PathBuf,
    pub markdown: PathBuf,
    pub charts: usize,
    pub findings: Option<Vec<Finding>>,
}

/// Writes `index.html`, `report.md`, `charts/*.svg` and `results.json` into `dir`.
pub fn write_run(dir: &Path, r: &Results, baseline: Option<Baseline>) -> Result<Written> {
    let (d, findings) = build(r, baseline);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ReportError::Io { path, source }
    };
    let charts_dir = dir.join("charts");
    std::fs::create_dir_all(&charts_dir).map_err(io(&charts_dir))?;
    let mut charts = 0;
    for (name, svg) in d.charts() {
        let path = charts_dir.join(format!("{name}.svg"));
        std::fs::write(&path, svg).map_err(io(&path))?;
        charts += 1;
    }
    let html = dir.join("index.html");
    std::fs::write(&html, doc::html(&d)).map_err(io(&html))?;
    let markdown = dir.join("report.md");
    std::fs::write(&markdown, doc::markdown(&d)).map_err(io(&markdown))?;
    let json = dir.join("results.json");
    let text = serde_json::to_string_pretty(r).map_err(|e| ReportError::Json {
        path: json.clone(),
        message: e.to_string(),
    })?;
    std::fs::write(&json, text + "\n").map_err(io(&json))?;
    Ok(Written {
        dir: dir.to_path_buf(),
        html,
        markdown,
        charts,
        findings,
    })
}
