//! The scenario suite as classification: each trial says, per gadget, whether the gadget
//! had to act (`fires`) or stay quiet, and whether it did. A firing case that passes is
//! a true positive, one that fails a false negative; a quiet case that passes a true
//! negative, one that fails a false positive. Known failures count as the failures they
//! are; must-fail cases (proofs that the runner can fail) and skipped trials do not count.

use std::collections::BTreeMap;

use crate::doc::{Doc, Tone};
use crate::inputs::{Polarity, Scenarios};
use crate::svg::{self, Axis};
use crate::table::{f3, ratio};

/// The seven gadgets, in the order the report lists them.
pub const GADGETS: [&str; 7] = [
    "oracle",
    "pathologist",
    "curator",
    "equalizer",
    "archivist",
    "timekeeper",
    "tuner",
];

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Confusion {
    pub tp: u64,
    pub fp: u64,
    pub fn_: u64,
    pub tn: u64,
}

impl Confusion {
    pub fn precision(&self) -> Option<f64> {
        ratio(self.tp, self.tp + self.fp)
    }
    pub fn recall(&self) -> Option<f64> {
        ratio(self.tp, self.tp + self.fn_)
    }
    pub fn f1(&self) -> Option<f64> {
        ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_)
    }
    /// Quiet cases that stayed quiet.
    pub fn specificity(&self) -> Option<f64> {
        ratio(self.tn, self.tn + self.fp)
    }
    pub fn total(&self) -> u64 {
        self.tp + self.fp + self.fn_ + self.tn
    }
}

/// Per gadget, in `GADGETS` order first, then any other gadget named by a case.
pub fn confusion(s: &Scenarios) -> BTreeMap<String, Confusion> {
    let mut out: BTreeMap<String, Confusion> = BTreeMap::new();
    for t in s
        .trials
        .iter()
        .filter(|t| !t.must_fail && t.status != "skip")
    {
        for c in &t.checks {
            let m = out.entry(c.gadget.clone()).or_default();
            match (c.polarity, c.ok) {
                (Polarity::Fires, true) => m.tp += 1,
                (Polarity::Fires, false) => m.fn_ += 1,
                (Polarity::Quiet, true) => m.tn += 1,
                (Polarity::Quiet, false) => m.fp += 1,
            }
        }
    }
    out
}

/// Gadgets in report order.
pub fn ordered(m: &BTreeMap<String, Confusion>) -> Vec<(String, Confusion)> {
    let mut names: Vec<String> = GADGETS.iter().map(|g| g.to_string()).collect();
    names.extend(m.keys().filter(|k| !GADGETS.contains(&k.as_str())).cloned());
    names
        .into_iter()
        .map(|n| {
            let c = m.get(&n).copied().unwrap_or_default();
            (n, c)
        })
        .collect()
}

pub fn section(doc: &mut Doc, s: Option<&Scenarios>, missing: Option<&String>) {
    doc.heading(2, "Scenario suite");
    let Some(s) = s else {
        doc.callout(
            Tone::Warning,
            format!(
                "not run: {}",
                missing.map_or("no scenario results given", String::as_str)
            ),
        );
        return;
    };
    let counted: Vec<_> = s.trials.iter().filter(|t| !t.must_fail).collect();
    let cases: std::collections::BTreeSet<&str> = counted.iter().map(|t| t.case.as_str()).collect();
    let by_status = |w: &str| counted.iter().filter(|t| t.status == w).count();
    doc.para(format!(
        "{} cases, {} trials: {} pass, {} known failures, {} fail, {} skipped (live sources run in the live tests). \
         Each trial is scored per gadget: a case that expects the gadget to act is a positive, one that only \
         requires it to stay quiet a negative; it counts as detected when the gadget's checks pass. \
         Must-fail cases ({}) prove the runner can fail and are not counted.",
        cases.len(),
        counted.len(),
        by_status("pass"),
        by_status("known"),
        by_status("fail"),
        by_status("skip"),
        s.trials.len() - counted.len()
    ));
    let m = confusion(s);
    let rows = ordered(&m);
    let mut table = vec![
        [
            "gadget",
            "cases",
            "trials",
            "TP",
            "FN",
            "TN",
            "FP",
            "precision",
            "recall",
            "F1",
            "quiet kept",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for (g, c) in &rows {
        let n_cases = counted
            .iter()
            .filter(|t| t.checks.iter().any(|k| &k.gadget == g))
            .map(|t| t.case.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        table.push(vec![
            g.clone(),
            n_cases.to_string(),
            c.total().to_string(),
            c.tp.to_string(),
            c.fn_.to_string(),
            c.tn.to_string(),
            c.fp.to_string(),
            f3(c.precision()),
            f3(c.recall()),
            f3(c.f1()),
            f3(c.specificity()),
        ]);
    }
    doc.table(table);
    let names: Vec<String> = rows.iter().map(|(g, _)| g.clone()).collect();
    doc.chart(
        "suite-f1",
        svg::bars(
            "Scenario suite: precision, recall and F1 per gadget",
            &Axis::linear("score", 0.0, 1.0),
            &names,
            &[
                (
                    "precision".into(),
                    rows.iter().map(|(_, c)| c.precision()).collect(),
                ),
                (
                    "recall".into(),
                    rows.iter().map(|(_, c)| c.recall()).collect(),
                ),
                ("F1".into(), rows.iter().map(|(_, c)| c.f1()).collect()),
            ],
        ),
        "n/a: no positive (or no predicted positive) trials for that gadget.",
    );
    doc.heading(3, "Confusion matrices");
    for (g, c) in rows.iter().filter(|(_, c)| c.total() > 0) {
        let labels = vec!["acts".to_string(), "quiet".to_string()];
        doc.chart(
            &format!("suite-confusion-{g}"),
            svg::heatmap(
                &format!("{g}: trials by expected and observed behaviour"),
                &labels,
                &[vec![c.tp, c.fn_], vec![c.fp, c.tn]],
            ),
            format!("{g}: rows are what the case requires, columns what the gadget did."),
        );
    }
    let leads: Vec<f64> = counted
        .iter()
        .flat_map(|t| t.checks.iter())
        .filter(|c| c.gadget == "oracle" && c.ok)
        .filter_map(|c| c.lead_s)
        .collect();
    if !leads.is_empty() {
        doc.chart(
            "suite-oracle-leads",
            svg::strips(
                "Oracle: lead before the OOM kill in the suite's leak trials",
                &Axis::linear("seconds before the kill", 0.0, leads.iter().fold(60.0, |a: f64, b| a.max(*b)) * 1.05),
                &[svg::Strip {
                    name: "first action or decision".into(),
                    values: leads,
                }],
            ),
            "Each dot is one trial with a lead expectation; the bar is the median, the box the 10th to 90th percentile.",
        );
    }
    let bad: Vec<_> = counted
        .iter()
        .filter(|t| t.status == "fail" || t.status == "known")
        .collect();
    if !bad.is_empty() {
        doc.heading(3, "Failing trials");
        let mut t = vec![vec!["trial".to_string(), "status".into(), "why".into()]];
        for trial in bad {
            let why: String = trial.message.chars().take(300).collect();
            t.push(vec![trial.name.clone(), trial.status.clone(), why]);
        }
        doc.table(t);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::inputs::{Check, Trial};

    fn trial(
        case: &str,
        status: &str,
        must_fail: bool,
        checks: &[(&str, Polarity, bool)],
    ) -> Trial {
        Trial {
            name: format!("{case}/seed-1"),
            case: case.into(),
            source: "simulate".into(),
            seed: Some(1),
            status: status.into(),
            message: String::new(),
            elapsed_ms: 1.0,
            checks: checks
                .iter()
                .map(|(g, p, ok)| Check {
                    gadget: g.to_string(),
                    polarity: *p,
                    ok: *ok,
                    lead_s: None,
                })
                .collect(),
            must_fail,
        }
    }

    #[test]
    fn trials_score_as_a_confusion_matrix() {
        let s = Scenarios {
            trials: vec![
                trial(
                    "oracle/leak",
                    "pass",
                    false,
                    &[("oracle", Polarity::Fires, true)],
                ),
                trial(
                    "oracle/leak2",
                    "known",
                    false,
                    &[("oracle", Polarity::Fires, false)],
                ),
                trial(
                    "oracle/flat",
                    "fail",
                    false,
                    &[
                        ("oracle", Polarity::Quiet, false),
                        ("pathologist", Polarity::Quiet, true),
                    ],
                ),
                trial(
                    "oracle/flat2",
                    "pass",
                    false,
                    &[("oracle", Polarity::Quiet, true)],
                ),
                trial(
                    "must/fail",
                    "pass",
                    true,
                    &[("oracle", Polarity::Fires, false)],
                ),
                trial(
                    "live/x",
                    "skip",
                    false,
                    &[("oracle", Polarity::Fires, false)],
                ),
            ],
        };
        let m = confusion(&s);
        let o = m["oracle"];
        assert_eq!((o.tp, o.fn_, o.fp, o.tn), (1, 1, 1, 1));
        assert_eq!(o.precision(), Some(0.5));
        assert_eq!(o.f1(), Some(0.5));
        let p = m["pathologist"];
        assert_eq!((p.tn, p.total()), (1, 1));
        assert_eq!(p.recall(), None, "no positives: recall is undefined, not 0");
        let names: Vec<String> = ordered(&m).into_iter().map(|(g, _)| g).collect();
        assert_eq!(names.len(), 7, "every gadget listed, even without trials");
    }
}
