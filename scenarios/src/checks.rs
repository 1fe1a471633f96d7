//! A trial's checks: one per gadget the case speaks about, in the order the case first
//! names them. A gadget with an `[[expect]]` is checked for firing, one with only
//! `[[quiet]]` for staying quiet; a Tuner case is one `tuner` check, firing when it
//! wants the tuner to act (`qb_tuner::cases::Expect::wants_action`).

use crate::format::{Case, Source, TUNER};
use crate::results::{Check, Polarity};

/// How each `[[expect]]` (in order: passed, and its lead) and each `[[quiet]]` (passed)
/// of `case` went. `None` when the trial failed before any could be checked (a missing
/// recording): every check then fails.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcomes {
    pub expects: Vec<(bool, Option<f64>)>,
    pub quiets: Vec<bool>,
}

/// The checks of a gadget case.
pub fn gadget_checks(case: &Case, outcomes: Option<&Outcomes>) -> Vec<Check> {
    let mut checks: Vec<Check> = Vec::new();
    let mut entry = |gadget: &str, polarity: Polarity| -> usize {
        match checks.iter().position(|c| c.gadget == gadget) {
            Some(i) => i,
            None => {
                checks.push(Check {
                    gadget: gadget.to_string(),
                    polarity,
                    ok: true,
                    lead_s: None,
                });
                checks.len() - 1
            }
        }
    };
    let mut expect_idx = Vec::new();
    for e in &case.expects {
        expect_idx.push(entry(&e.gadget, Polarity::Fires));
    }
    let mut quiet_idx = Vec::new();
    for q in &case.quiets {
        quiet_idx.push(entry(&q.gadget, Polarity::Quiet));
    }
    let Some(outcomes) = outcomes else {
        for c in &mut checks {
            c.ok = false;
        }
        return checks;
    };
    for ((i, e), (ok, lead_s)) in expect_idx.iter().zip(&case.expects).zip(&outcomes.expects) {
        let Some(c) = checks.get_mut(*i) else {
            continue;
        };
        c.ok &= *ok;
        // The gadget's lead: its earliest matching decision or action of all its lead
        // expectations, so the largest lead.
        if e.lead.is_some()
            && let Some(l) = lead_s
        {
            c.lead_s = Some(c.lead_s.map_or(*l, |m| m.max(*l)));
        }
    }
    for (i, ok) in quiet_idx.iter().zip(&outcomes.quiets) {
        if let Some(c) = checks.get_mut(*i) {
            c.ok &= *ok;
        }
    }
    checks
}

/// The one check of a Tuner case; `[]` for any other source.
pub fn tuner_check(case: &Case, ok: bool) -> Vec<Check> {
    let Source::Tuner(t) = &case.source else {
        return Vec::new();
    };
    vec![Check {
        gadget: TUNER.into(),
        polarity: if t.expect.wants_action() {
            Polarity::Fires
        } else {
            Polarity::Quiet
        },
        ok,
        lead_s: None,
    }]
}
