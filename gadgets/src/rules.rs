//! Rules: which decisions lead to which actions, configured in TOML, not code.
//!
//! A rule matches a decision by gadget, kind, minimum confidence and an ETA window. It
//! fires once the match has held without a break for its hold-down, measured in frame
//! time. The defaults are the spec's tables: the Oracle's graduated response (faster
//! sampling above 180 s, relief at 120-180 s, a graceful restart at 60-120 s, a kill
//! below 60 s) and the Pathologist's "stuck for 60 s at confidence above 0.9: stacks,
//! SIGTERM, 10 s, SIGKILL".

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::decision::Decision;
use crate::policy::duration;

/// What a rule does when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleAction {
    /// Nothing but an incident record.
    Report,
    /// Ask the recorder for a shorter interval (harmless: no guard).
    SampleFaster,
    DropCaches,
    /// The runtime's own relief signal (a GC trigger), from `runtime_hooks` by comm;
    /// the rule does not fire for a process without a hook.
    RuntimeHook,
    /// SIGTERM, then SIGKILL after `grace` if it is still there.
    Restart,
    Kill,
    /// End the decision's connection (socket destroyed, or its backend terminated).
    EndConnection,
}

impl RuleAction {
    pub fn name(self) -> &'static str {
        match self {
            RuleAction::Report => "report",
            RuleAction::SampleFaster => "sample_faster",
            RuleAction::DropCaches => "drop_caches",
            RuleAction::RuntimeHook => "runtime_hook",
            RuleAction::Restart => "restart",
            RuleAction::Kill => "kill",
            RuleAction::EndConnection => "end_connection",
        }
    }

    /// Whether it passes the safety guard (it touches the host).
    pub fn is_guarded(self) -> bool {
        !matches!(self, RuleAction::Report | RuleAction::SampleFaster)
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub name: String,
    pub gadget: String,
    pub decision: String,
    #[serde(default)]
    pub min_confidence: f64,
    /// The decision's ETA must be at least this (inclusive)...
    #[serde(default, deserialize_with = "optional_duration")]
    pub eta_min: Option<Duration>,
    /// ... and below this. A rule with either bound never matches a decision without ETA.
    #[serde(default, deserialize_with = "optional_duration")]
    pub eta_max: Option<Duration>,
    #[serde(default, deserialize_with = "duration")]
    pub hold_down: Duration,
    pub action: RuleAction,
    /// Restart only: SIGTERM to SIGKILL.
    #[serde(default = "default_grace", deserialize_with = "duration")]
    pub grace: Duration,
    /// Save the target's kernel and user stacks with the incident before acting.
    #[serde(default)]
    pub snapshot_stacks: bool,
}

fn default_grace() -> Duration {
    Duration::from_secs(10)
}

fn optional_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}

impl Rule {
    pub fn matches(&self, d: &Decision) -> bool {
        if self.gadget != d.gadget || self.decision != d.kind || d.confidence < self.min_confidence
        {
            return false;
        }
        if self.eta_min.is_none() && self.eta_max.is_none() {
            return true;
        }
        let Some(eta) = d.eta_s.filter(|e| e.is_finite()) else {
            return false;
        };
        self.eta_min.is_none_or(|m| eta >= m.as_secs_f64())
            && self.eta_max.is_none_or(|m| eta < m.as_secs_f64())
    }

    pub fn hold_down_ns(&self) -> i64 {
        i64::try_from(self.hold_down.as_nanos()).unwrap_or(i64::MAX)
    }
}

/// The rule set and the runtime hooks the `runtime_hook` action uses.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    #[serde(default = "default_rules")]
    pub rules: Vec<Rule>,
    /// comm -> signal name (`SIGUSR1`, `USR2`, or a number).
    #[serde(default)]
    pub runtime_hooks: BTreeMap<String, String>,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            rules: default_rules(),
            runtime_hooks: BTreeMap::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("rules: {0}")]
pub struct RulesError(pub String);

impl Rules {
    /// Checks what serde cannot: unique names, sane bounds, known signals.
    pub fn validate(&self) -> Result<(), RulesError> {
        let mut names = std::collections::BTreeSet::new();
        for r in &self.rules {
            let err = |why: String| Err(RulesError(format!("rule {:?}: {why}", r.name)));
            if !names.insert(&r.name) {
                return err("defined twice".into());
            }
            if !(0.0..=1.0).contains(&r.min_confidence) {
                return err(format!(
                    "min_confidence {} is outside [0, 1]",
                    r.min_confidence
                ));
            }
            if let (Some(lo), Some(hi)) = (r.eta_min, r.eta_max)
                && lo >= hi
            {
                return err(format!("eta_min {lo:?} is not below eta_max {hi:?}"));
            }
            if !crate::GADGETS.contains(&r.gadget.as_str()) {
                return err(format!(
                    "unknown gadget {:?} (gadgets: {})",
                    r.gadget,
                    crate::GADGETS.join(", ")
                ));
            }
        }
        for (comm, signal) in &self.runtime_hooks {
            parse_signal(signal).map_err(|e| RulesError(format!("runtime_hooks.{comm}: {e}")))?;
        }
        Ok(())
    }

    /// The hook signal for a process name, if one is configured.
    pub fn hook_for(&self, comm: &str) -> Option<i32> {
        self.runtime_hooks
            .get(comm)
            .and_then(|s| parse_signal(s).ok())
    }
}

/// `SIGUSR1`, `USR1` or `10`; only signals a runtime can sensibly handle.
pub fn parse_signal(text: &str) -> Result<i32, String> {
    let name = text.trim().trim_start_matches("SIG");
    let signal = match name {
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        "HUP" => libc::SIGHUP,
        "QUIT" => libc::SIGQUIT,
        "URG" => libc::SIGURG,
        "WINCH" => libc::SIGWINCH,
        n => match n.parse::<i32>() {
            Ok(n) if (libc::SIGRTMIN()..=libc::SIGRTMAX()).contains(&n) => n,
            _ => {
                return Err(format!(
                    "{text:?} is not a hook signal (USR1, USR2, HUP, QUIT, URG, WINCH or a real-time number)"
                ));
            }
        },
    };
    Ok(signal)
}

fn rule(
    name: &str,
    gadget: &str,
    decision: &str,
    min_confidence: f64,
    eta: (Option<u64>, Option<u64>),
    hold_down_s: u64,
    action: RuleAction,
) -> Rule {
    Rule {
        name: name.to_string(),
        gadget: gadget.to_string(),
        decision: decision.to_string(),
        min_confidence,
        eta_min: eta.0.map(Duration::from_secs),
        eta_max: eta.1.map(Duration::from_secs),
        hold_down: Duration::from_secs(hold_down_s),
        action,
        grace: default_grace(),
        snapshot_stacks: false,
    }
}

/// The spec's decision tables. Every Oracle stage needs P >= 0.85 held for 5 s (a few
/// ticks: one noisy reading never acts); the Pathologist's 60 s hold-down is its
/// "stuck for more than 60 s". The Equalizer's decisions already require harm (see
/// `qb_gadgets::equalizer`); at the forest's operating point (0.6; a stall's confidence
/// is at least 0.75 by construction), 10 s more of the same decision ends it. The
/// Timekeeper's metric spike is an alert (a report) once it has stood 5 minutes, which a
/// routine recognised in time suppresses.
pub fn default_rules() -> Vec<Rule> {
    use RuleAction::*;
    let oracle = |name, eta, action| rule(name, "oracle", "oom_forecast", 0.85, eta, 5, action);
    let mut stuck = rule(
        "pathologist-restart",
        "pathologist",
        "stuck",
        0.9,
        (None, None),
        60,
        Restart,
    );
    stuck.snapshot_stacks = true;
    vec![
        oracle("oracle-sample-faster", (Some(180), None), SampleFaster),
        oracle("oracle-runtime-hook", (Some(120), Some(180)), RuntimeHook),
        oracle("oracle-drop-caches", (Some(120), Some(180)), DropCaches),
        oracle("oracle-restart", (Some(60), Some(120)), Restart),
        oracle("oracle-kill", (None, Some(60)), Kill),
        stuck,
        rule(
            "equalizer-end-connection",
            "equalizer",
            "toxic_connection",
            0.6,
            (None, None),
            10,
            EndConnection,
        ),
        rule(
            "timekeeper-alert",
            "timekeeper",
            "metric_spike",
            0.0,
            (None, None),
            300,
            Report,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forecast(confidence: f64, eta_s: Option<f64>) -> Decision {
        let mut d = Decision::new("oracle", "oom_forecast", 0);
        d.confidence = confidence;
        d.eta_s = eta_s;
        d
    }

    #[test]
    fn the_oracle_table_is_graduated_and_disjoint() {
        let rules = default_rules();
        let fired = |eta: f64| -> Vec<&str> {
            rules
                .iter()
                .filter(|r| r.matches(&forecast(0.9, Some(eta))))
                .map(|r| r.name.as_str())
                .collect()
        };
        assert_eq!(fired(300.0), ["oracle-sample-faster"]);
        assert_eq!(fired(180.0), ["oracle-sample-faster"]);
        assert_eq!(fired(150.0), ["oracle-runtime-hook", "oracle-drop-caches"]);
        assert_eq!(fired(90.0), ["oracle-restart"]);
        assert_eq!(fired(60.0), ["oracle-restart"]);
        assert_eq!(fired(59.9), ["oracle-kill"]);
        assert_eq!(fired(0.0), ["oracle-kill"]);
    }

    #[test]
    fn confidence_and_missing_eta_gate_the_rules() {
        let rules = default_rules();
        assert!(!rules.iter().any(|r| r.matches(&forecast(0.84, Some(30.0)))));
        assert!(!rules.iter().any(|r| r.matches(&forecast(0.99, None))));
        assert!(
            !rules
                .iter()
                .any(|r| r.matches(&forecast(0.99, Some(f64::NAN))))
        );
        let mut stuck = Decision::new("pathologist", "stuck", 0);
        stuck.confidence = 0.95;
        assert_eq!(
            rules.iter().filter(|r| r.matches(&stuck)).count(),
            1,
            "the Pathologist's rule needs no ETA"
        );
    }

    #[test]
    fn toml_rules_replace_the_defaults_and_are_checked() {
        let rules: Rules = toml::from_str(
            r#"
            [[rules]]
            name = "kill-late"
            gadget = "oracle"
            decision = "oom_forecast"
            min_confidence = 0.95
            eta_max = "30s"
            action = "kill"
            [runtime_hooks]
            java = "SIGUSR1"
            "#,
        )
        .unwrap();
        rules.validate().unwrap();
        assert_eq!(rules.rules.len(), 1);
        assert_eq!(rules.rules[0].hold_down, Duration::ZERO);
        assert_eq!(rules.hook_for("java"), Some(libc::SIGUSR1));
        assert_eq!(rules.hook_for("python3"), None);

        let bad = [
            (
                "[[rules]]\nname='a'\ngadget='oracle'\ndecision='x'\naction='explode'",
                "explode",
            ),
            (
                "[[rules]]\nname='a'\ngadget='oracel'\ndecision='x'\naction='kill'",
                "oracel",
            ),
            (
                "[[rules]]\nname='a'\ngadget='oracle'\ndecision='x'\naction='kill'\nmin_confidence=2.0",
                "min_confidence",
            ),
            (
                "[[rules]]\nname='a'\ngadget='oracle'\ndecision='x'\naction='kill'\neta_min='2m'\neta_max='1m'",
                "eta_min",
            ),
            (
                "[[rules]]\nname='a'\ngadget='oracle'\ndecision='x'\naction='kill'\nhold='1s'",
                "hold",
            ),
            ("[runtime_hooks]\njava='SIGKILL'", "SIGKILL"),
        ];
        for (text, needle) in bad {
            let e = toml::from_str::<Rules>(text)
                .map_err(|e| e.to_string())
                .and_then(|r| r.validate().map_err(|e| e.to_string()))
                .unwrap_err();
            assert!(e.contains(needle), "{needle}: {e}");
        }
        let twice = "[[rules]]\nname='a'\ngadget='oracle'\ndecision='x'\naction='kill'\n".repeat(2);
        let e = toml::from_str::<Rules>(&twice)
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("twice"), "{e}");
    }
}
