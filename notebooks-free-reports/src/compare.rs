//! Against a baseline run: quality metrics are compared by value (a drop beyond the
//! metric's tolerance is a regression), timings only warn (machines are noisy: a timing
//! more than `TIMING_SLACK` worse than the baseline's is worth a look, not a failure).

use std::collections::BTreeMap;

use crate::doc::{Doc, Tone};
use crate::inputs::Results;
use crate::table::num;

/// How much slower a timing may be before it is flagged: 1.5 = 50 % worse.
pub const TIMING_SLACK: f64 = 1.5;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// Compared by value; `tolerance` is the absolute change that is noise.
    Quality { tolerance: f64 },
    /// Compared by ratio, as a warning only.
    Timing,
}

/// One comparable number of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// Stable across runs: `suite/oracle/f1`, `perf/engine tick`, ...
    pub key: String,
    pub value: f64,
    pub higher_is_better: bool,
    pub kind: Kind,
}

impl Metric {
    pub fn quality(key: &str, value: f64, higher_is_better: bool, tolerance: f64) -> Metric {
        Metric {
            key: key.into(),
            value,
            higher_is_better,
            kind: Kind::Quality { tolerance },
        }
    }
    pub fn timing(key: &str, value: f64, higher_is_better: bool) -> Metric {
        Metric {
            key: key.into(),
            value,
            higher_is_better,
            kind: Kind::Timing,
        }
    }
}

/// Every comparable number of a run.
pub fn metrics(r: &Results) -> Vec<Metric> {
    let mut out = Vec::new();
    crate::suite_metrics(r, &mut out);
    crate::oracle::metrics_of(r, &mut out);
    crate::classifiers::metrics_of(r, &mut out);
    crate::logs::metrics_of(r, &mut out);
    crate::anchors::metrics_of(r, &mut out);
    crate::perf::metrics_of(r, &mut out);
    out.retain(|m| m.value.is_finite());
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    Regression,
    Slower,
    Missing,
    Improved,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub key: String,
    pub baseline: f64,
    pub now: Option<f64>,
    pub verdict: Verdict,
}

/// What changed beyond noise, regressions first. Unchanged metrics are not listed.
pub fn compare(now: &[Metric], baseline: &[Metric]) -> Vec<Finding> {
    let current: BTreeMap<&str, &Metric> = now.iter().map(|m| (m.key.as_str(), m)).collect();
    let mut out = Vec::new();
    for b in baseline {
        let Some(n) = current.get(b.key.as_str()) else {
            out.push(Finding {
                key: b.key.clone(),
                baseline: b.value,
                now: None,
                verdict: Verdict::Missing,
            });
            continue;
        };
        // Positive when the run got better.
        let gain = if b.higher_is_better {
            n.value - b.value
        } else {
            b.value - n.value
        };
        let verdict = match b.kind {
            Kind::Quality { tolerance } if gain < -tolerance - 1e-12 => Some(Verdict::Regression),
            Kind::Quality { tolerance } if gain > tolerance + 1e-12 => Some(Verdict::Improved),
            Kind::Quality { .. } => None,
            Kind::Timing => {
                let (worse, better) = if b.higher_is_better {
                    (b.value, n.value)
                } else {
                    (n.value, b.value)
                };
                (better > 0.0 && worse / better > TIMING_SLACK).then_some(Verdict::Slower)
            }
        };
        if let Some(verdict) = verdict {
            out.push(Finding {
                key: b.key.clone(),
                baseline: b.value,
                now: Some(n.value),
                verdict,
            });
        }
    }
    out.sort_by(|a, b| a.verdict.cmp(&b.verdict).then(a.key.cmp(&b.key)));
    out
}

pub fn regressions(findings: &[Finding]) -> usize {
    findings
        .iter()
        .filter(|f| f.verdict == Verdict::Regression)
        .count()
}

pub fn section(doc: &mut Doc, findings: Option<&[Finding]>, baseline: &str) {
    doc.heading(2, "Against the baseline");
    let Some(findings) = findings else {
        doc.callout(Tone::Note, format!("no baseline compared ({baseline})"));
        return;
    };
    let bad = regressions(findings);
    let slower = findings
        .iter()
        .filter(|f| f.verdict == Verdict::Slower)
        .count();
    let tone = if bad > 0 {
        Tone::Bad
    } else if slower > 0 {
        Tone::Warning
    } else {
        Tone::Good
    };
    doc.callout(
        tone,
        format!(
            "{bad} quality regressions, {slower} timings more than {:.0} % slower than the baseline ({baseline})",
            (TIMING_SLACK - 1.0) * 100.0
        ),
    );
    let mut rows = vec![
        ["metric", "baseline", "this run", "verdict"]
            .map(String::from)
            .to_vec(),
    ];
    for f in findings {
        rows.push(vec![
            f.key.clone(),
            num(Some(f.baseline)),
            num(f.now),
            match f.verdict {
                Verdict::Regression => "REGRESSION",
                Verdict::Slower => "slower (warning)",
                Verdict::Missing => "not measured in this run",
                Verdict::Improved => "improved",
            }
            .into(),
        ]);
    }
    doc.table(rows);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quality_by_value_timing_as_warning() {
        let base = vec![
            Metric::quality("f1", 0.90, true, 0.02),
            Metric::quality("fa", 0.05, false, 0.02),
            Metric::quality("auc", 0.90, true, 0.02),
            Metric::timing("tick", 100.0, false),
            Metric::timing("lines/s", 1000.0, true),
            Metric::quality("gone", 1.0, true, 0.0),
        ];
        let now = vec![
            Metric::quality("f1", 0.85, true, 0.02), // worse by 0.05: regression
            Metric::quality("fa", 0.06, false, 0.02), // worse by 0.01: noise
            Metric::quality("auc", 0.95, true, 0.02), // better
            Metric::timing("tick", 200.0, false),    // 2x slower: warning
            Metric::timing("lines/s", 900.0, true),  // 10 % slower: noise
        ];
        let f = compare(&now, &base);
        let got: Vec<(&str, Verdict)> = f.iter().map(|f| (f.key.as_str(), f.verdict)).collect();
        assert_eq!(
            got,
            vec![
                ("f1", Verdict::Regression),
                ("tick", Verdict::Slower),
                ("gone", Verdict::Missing),
                ("auc", Verdict::Improved)
            ]
        );
        assert_eq!(regressions(&f), 1);
    }

    #[test]
    fn a_run_against_itself_has_no_findings() {
        let m = vec![
            Metric::quality("a", 0.5, true, 0.0),
            Metric::timing("t", 3.0, false),
        ];
        assert!(compare(&m, &m).is_empty());
    }
}
