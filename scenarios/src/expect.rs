//! Checking a run against a case's expectations: each `[[expect]]` must find a decision
//! or incident that matches in every respect (gadget, kind or action, target,
//! confidence, windows, lead); each `[[quiet]]` must find none. A failure says what was
//! wanted and the nearest thing that was seen.

use std::collections::BTreeMap;

use qb_gadgets::{Decision, Incident, Suppressed};

use crate::format::{Expect, Quiet, TargetSpec, Wanted, Window};
use crate::source::{Episodic, LabelTarget};

/// What a run produced that the checks read.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// The first and last frame's time.
    pub start_ns: i64,
    pub end_ns: i64,
    pub frames: u64,
    /// Only the decisions some expectation or quiet could match (memory stays bounded).
    pub decisions: Vec<Decision>,
    /// Decisions a recognised routine held back from the rules (kept as for `decisions`).
    pub suppressed: Vec<Suppressed>,
    pub incidents: Vec<Incident>,
    /// Every decision, summarised: (gadget, kind, subject) -> count, max confidence and
    /// its time, for the "what was seen instead" of a failure.
    pub seen: BTreeMap<(String, String, String), Seen>,
    pub label: Option<Episodic>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Seen {
    pub count: u64,
    pub max_confidence: f64,
    pub max_at_ns: i64,
}

/// A decision's subject for people: its cgroup and process, or its log stream.
pub fn subject(d: &Decision) -> String {
    match (d.cgroup.as_deref(), d.process.as_ref(), d.stream.as_deref()) {
        (Some(c), Some(p), _) => format!("{c} pid {}", p.pid),
        (Some(c), None, _) => c.to_string(),
        (None, Some(p), _) => format!("pid {} ({})", p.pid, p.comm),
        (None, None, Some(s)) => format!("log {s}"),
        (None, None, None) => "host".to_string(),
    }
}

/// A decision or an incident, as the checks see either.
#[derive(Debug, Clone, Copy)]
enum Item<'a> {
    Decision(&'a Decision),
    Suppressed(&'a Suppressed),
    Incident(&'a Incident),
}

impl Item<'_> {
    fn decision(&self) -> &Decision {
        match self {
            Item::Decision(d) => d,
            Item::Suppressed(s) => &s.decision,
            Item::Incident(i) => &i.decision,
        }
    }

    fn ts_ns(&self) -> i64 {
        match self {
            Item::Decision(d) => d.ts_ns,
            Item::Suppressed(s) => s.decision.ts_ns,
            Item::Incident(i) => i.ts_ns,
        }
    }

    fn describe(&self, obs: &Observed) -> String {
        let d = self.decision();
        let what = match self {
            Item::Decision(d) => format!("{} {}", d.gadget, d.kind),
            Item::Suppressed(s) => format!(
                "{} {} (suppressed as {}, similarity {:.3})",
                d.gadget, d.kind, s.tag, s.similarity
            ),
            Item::Incident(i) => format!(
                "{} {} -> {} ({})",
                d.gadget,
                d.kind,
                i.action,
                i.outcome.name()
            ),
        };
        format!(
            "{what} on {} at {} p={:.3}",
            subject(d),
            when(obs, self.ts_ns()),
            d.confidence
        )
    }
}

fn secs(ns: i64) -> f64 {
    ns as f64 / 1e9
}

/// `+328s` from the start, and `onset+38s` where there is a label.
pub fn when(obs: &Observed, ts_ns: i64) -> String {
    let mut text = format!("+{:.0}s", secs(ts_ns - obs.start_ns));
    if let Some(l) = &obs.label {
        text.push_str(&format!(" (onset{:+.0}s)", secs(ts_ns - l.start_ns)));
    }
    text
}

/// Whether a decision's subject is the target; an error when the target needs a label
/// the run does not have.
fn on_target(
    spec: &TargetSpec,
    label: Option<&Episodic>,
    d: &Decision,
) -> Result<bool, &'static str> {
    let cgroup = d
        .cgroup
        .as_deref()
        .or(d.process.as_ref().map(|p| p.cgroup.as_str()));
    // A log label's target is its file, which looks like a cgroup path; a toxic one's,
    // its connection.
    let labelled = |l: &Episodic| match &l.target {
        LabelTarget::Cgroup(c) | LabelTarget::Other(c) => {
            cgroup == Some(c.as_str())
                || d.stream.as_deref() == Some(c.as_str())
                || d.key().connection.as_deref() == Some(c.as_str())
        }
        LabelTarget::Pid(pid) => d.process.as_ref().is_some_and(|p| p.pid == *pid),
    };
    Ok(match spec {
        TargetSpec::Any => true,
        TargetSpec::Cgroup(c) => cgroup == Some(c.as_str()),
        TargetSpec::Pid(pid) => d.process.as_ref().is_some_and(|p| p.pid == *pid),
        TargetSpec::Label => labelled(label.ok_or("target = \"label\" but the run has no label")?),
        TargetSpec::Other => !labelled(label.ok_or("target = \"other\" but the run has no label")?),
    })
}

/// Whether `ts_ns` lies in every window; an error when one needs a label that is missing.
fn in_windows(windows: &[Window], obs: &Observed, ts_ns: i64) -> Result<bool, &'static str> {
    for w in windows {
        let (origin, from, to) = match w {
            Window::FromStart(a, b) => (obs.start_ns, a, b),
            Window::AfterOnset(a, b) => (
                obs.label
                    .as_ref()
                    .ok_or("after_onset but the run has no label")?
                    .start_ns,
                a,
                b,
            ),
        };
        let rel = ts_ns - origin;
        if rel < nanos(*from) || rel > nanos(*to) {
            return Ok(false);
        }
    }
    Ok(true)
}

fn nanos(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

fn window_text(windows: &[Window]) -> String {
    windows
        .iter()
        .map(|w| match w {
            Window::FromStart(a, b) => format!(
                "within [{}, {}] of the start",
                humantime::format_duration(*a),
                humantime::format_duration(*b)
            ),
            Window::AfterOnset(a, b) => format!(
                "[{}, {}] after the onset",
                humantime::format_duration(*a),
                humantime::format_duration(*b)
            ),
        })
        .collect::<Vec<_>>()
        .join(" and ")
}

fn target_text(spec: &TargetSpec, label: Option<&Episodic>) -> String {
    match (spec, label) {
        (TargetSpec::Any, _) => "any target".into(),
        (TargetSpec::Label, Some(l)) => format!("the label's {}", l.target),
        (TargetSpec::Other, Some(l)) => format!("anything but {}", l.target),
        (TargetSpec::Cgroup(c), _) => format!("cgroup {c}"),
        (TargetSpec::Pid(p), _) => format!("pid {p}"),
        (_, None) => "the label's target".into(),
    }
}

fn wanted_text(e: &Expect) -> String {
    match &e.wanted {
        Wanted::Decision(kind) if e.suppressed => {
            format!("a suppressed {} {kind} decision", e.gadget)
        }
        Wanted::Decision(kind) => format!("a {} {kind} decision", e.gadget),
        Wanted::Incident {
            actions,
            outcome,
            stacks,
        } => {
            let mut t = format!("a {} {} incident", e.gadget, actions.join(" or "));
            if let Some(o) = outcome {
                t.push_str(&format!(" ({o})"));
            }
            if *stacks == Some(true) {
                t.push_str(" with stacks");
            }
            t
        }
    }
}

/// Whether a decision (`suppressed`: one the filter held back) is one some check could
/// match: the runner keeps only these.
pub fn worth_keeping(d: &Decision, suppressed: bool, expects: &[Expect], quiets: &[Quiet]) -> bool {
    expects.iter().any(|e| {
        matches!(&e.wanted, Wanted::Decision(k) if *k == d.kind)
            && e.suppressed == suppressed
            && e.gadget == d.gadget
            && d.confidence >= e.min_confidence
    }) || quiets.iter().any(|q| {
        !q.actions_only
            && q.suppressed == suppressed
            && q.gadget == d.gadget
            && q.decision.as_deref().is_none_or(|k| k == d.kind)
            && d.confidence >= q.min_confidence
    })
}

/// `Ok(note)` with what matched, or `Err(why)` naming what was wanted and seen.
pub fn check_expect(e: &Expect, obs: &Observed) -> Result<String, String> {
    assess_expect(e, obs).result
}

/// An expectation's verdict, and its lead where it has one.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectOutcome {
    pub result: Result<String, String>,
    /// For an expectation with a `lead`: seconds from the first candidate inside its
    /// windows (whatever its lead) to the label's event; `None` when none came.
    pub lead_s: Option<f64>,
}

pub fn assess_expect(e: &Expect, obs: &Observed) -> ExpectOutcome {
    let mut lead_s = None;
    let result = check_expect_noting_lead(e, obs, &mut lead_s);
    ExpectOutcome { result, lead_s }
}

fn check_expect_noting_lead(
    e: &Expect,
    obs: &Observed,
    lead_s: &mut Option<f64>,
) -> Result<String, String> {
    let head = format!("expect[{}]", e.index);
    let label = obs.label.as_ref();
    let items: Vec<Item> = match &e.wanted {
        Wanted::Decision(kind) if e.suppressed => obs
            .suppressed
            .iter()
            .filter(|s| s.decision.gadget == e.gadget && s.decision.kind == kind)
            .map(Item::Suppressed)
            .collect(),
        Wanted::Decision(kind) => obs
            .decisions
            .iter()
            .filter(|d| d.gadget == e.gadget && d.kind == kind)
            .map(Item::Decision)
            .collect(),
        Wanted::Incident {
            actions,
            outcome,
            stacks,
        } => obs
            .incidents
            .iter()
            .filter(|i| {
                i.decision.gadget == e.gadget
                    && actions.contains(&i.action)
                    && outcome.as_deref().is_none_or(|o| o == i.outcome.name())
                    && stacks.is_none_or(|s| s == i.stacks.is_some())
            })
            .map(Item::Incident)
            .collect(),
    };
    let mut candidates = Vec::new();
    for item in items {
        let d = item.decision();
        if d.confidence >= e.min_confidence
            && on_target(&e.target, label, d).map_err(|m| format!("{head}: {m}"))?
        {
            candidates.push(item);
        }
    }
    let event = match e.lead {
        Some(_) => Some(
            label
                .and_then(|l| l.event_ns)
                .ok_or_else(|| format!("{head}: a lead needs a label with an event time (attributes.oom_ns), and the run has none"))?,
        ),
        None => None,
    };
    if let Some(ev) = event {
        // The earliest candidate in its windows: the one that passes, when one does.
        for item in &candidates {
            if in_windows(&e.windows, obs, item.ts_ns()).map_err(|m| format!("{head}: {m}"))? {
                *lead_s = Some(secs(ev - item.ts_ns()));
                break;
            }
        }
    }
    let lead_ok = |ts: i64| match (e.lead, event) {
        (Some(lead), Some(ev)) => ev - ts >= nanos(lead),
        _ => true,
    };
    let wanted = format!(
        "{} on {}{}",
        wanted_text(e),
        target_text(&e.target, label),
        if e.min_confidence > 0.0 {
            format!(" with p >= {}", e.min_confidence)
        } else {
            String::new()
        }
    );
    let mut satisfied = None;
    for item in &candidates {
        let ts = item.ts_ns();
        if in_windows(&e.windows, obs, ts).map_err(|m| format!("{head}: {m}"))? && lead_ok(ts) {
            satisfied = Some(*item);
            break;
        }
    }
    let lead_text = |ts: i64| {
        event
            .map(|ev| format!(", lead {:.0}s", secs(ev - ts)))
            .unwrap_or_default()
    };
    if let Some(item) = satisfied {
        return Ok(format!(
            "{head} {}{}",
            item.describe(obs),
            lead_text(item.ts_ns())
        ));
    }
    let Some(first) = candidates.first() else {
        return Err(format!(
            "{head}: wanted {wanted}; saw none ({})",
            seen_instead(e, obs)
        ));
    };
    let mut needs = Vec::new();
    if let (Some(lead), Some(ev)) = (e.lead, event) {
        needs.push(format!(
            "at least {} before the label's event at {}",
            humantime::format_duration(lead),
            when(obs, ev)
        ));
    }
    if !e.windows.is_empty() {
        needs.push(window_text(&e.windows));
    }
    let last = candidates.last().unwrap_or(first);
    Err(format!(
        "{head}: wanted {wanted} {}; {} matched otherwise, none in time: the first {}{}, the last at {}{}",
        needs.join(" and "),
        candidates.len(),
        first.describe(obs),
        lead_text(first.ts_ns()),
        when(obs, last.ts_ns()),
        lead_text(last.ts_ns()),
    ))
}

/// What the gadget did decide or do, for a failure that saw no candidate at all.
fn seen_instead(e: &Expect, obs: &Observed) -> String {
    match &e.wanted {
        Wanted::Decision(kind) => {
            let kind = &seen_kind(kind, e.suppressed);
            let seen: Vec<String> = obs
                .seen
                .iter()
                .filter(|((g, k, _), _)| *g == e.gadget && k == kind)
                .map(|((_, _, s), seen)| {
                    format!(
                        "{s}: {} decisions, max p={:.3} at {}",
                        seen.count,
                        seen.max_confidence,
                        when(obs, seen.max_at_ns)
                    )
                })
                .collect();
            if seen.is_empty() {
                format!("no {} {kind} decision at all", e.gadget)
            } else {
                seen.join("; ")
            }
        }
        Wanted::Incident { .. } => {
            let seen: Vec<String> = obs
                .incidents
                .iter()
                .filter(|i| i.decision.gadget == e.gadget)
                .take(5)
                .map(|i| Item::Incident(i).describe(obs))
                .collect();
            if seen.is_empty() {
                format!("no {} incident at all", e.gadget)
            } else {
                format!("its incidents: {}", seen.join("; "))
            }
        }
    }
}

/// The kind as `Observed::seen` keys it: a suppressed decision's with ` (suppressed)`.
pub fn seen_kind(kind: &str, suppressed: bool) -> String {
    if suppressed {
        format!("{kind} (suppressed)")
    } else {
        kind.to_string()
    }
}

/// `Ok(note)` when the gadget stayed quiet, or `Err(the first offender and a count)`.
pub fn check_quiet(q: &Quiet, obs: &Observed) -> Result<String, String> {
    let head = format!("quiet[{}]", q.index);
    let label = obs.label.as_ref();
    let items: Vec<Item> = if q.actions_only {
        obs.incidents
            .iter()
            .filter(|i| i.decision.gadget == q.gadget)
            .map(Item::Incident)
            .collect()
    } else if q.suppressed {
        obs.suppressed
            .iter()
            .filter(|s| s.decision.gadget == q.gadget)
            .map(Item::Suppressed)
            .collect()
    } else {
        obs.decisions
            .iter()
            .filter(|d| d.gadget == q.gadget)
            .map(Item::Decision)
            .collect()
    };
    let mut offenders = Vec::new();
    for item in items {
        let d = item.decision();
        if q.decision.as_deref().is_none_or(|k| k == d.kind)
            && d.confidence >= q.min_confidence
            && on_target(&q.target, label, d).map_err(|m| format!("{head}: {m}"))?
            && in_windows(&q.windows, obs, item.ts_ns()).map_err(|m| format!("{head}: {m}"))?
        {
            offenders.push(item);
        }
    }
    let mut what = if q.actions_only {
        "no incident".to_string()
    } else if q.suppressed {
        format!(
            "no suppressed {} decision",
            q.decision.as_deref().unwrap_or("kind of")
        )
    } else {
        format!("no {} decision", q.decision.as_deref().unwrap_or("kind of"))
    };
    if q.min_confidence > 0.0 {
        what.push_str(&format!(" with p >= {}", q.min_confidence));
    }
    if q.target != TargetSpec::Any {
        what.push_str(&format!(" on {}", target_text(&q.target, label)));
    }
    if !q.windows.is_empty() {
        what.push_str(&format!(" {}", window_text(&q.windows)));
    }
    match offenders.first() {
        None => Ok(format!("{head} {} quiet", q.gadget)),
        Some(first) => Err(format!(
            "{head}: the {} must stay quiet ({what}), but {} matched, the first: {}",
            q.gadget,
            offenders.len(),
            first.describe(obs)
        )),
    }
}
