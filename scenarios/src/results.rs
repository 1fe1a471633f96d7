//! What a trial reports, for people (`message`), CI (JUnit) and the quality report
//! (`qbranch replay --json`): its case, source and seed, its status, and one check per
//! gadget the case speaks about, with the polarity the report scores it by.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What a trial reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Skip,
    /// A listed known failure that still fails (so the suite stays green, and notices
    /// when it is fixed: then it reports `Fail`).
    Known,
}

impl Status {
    pub fn word(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
            Status::Known => "KNOWN",
        }
    }
}

/// Where a case's trials come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Simulate,
    Replay,
    Live,
    Tuner,
}

/// Whether a case wants a gadget to act or to stay quiet: a firing check that passed
/// is a true positive, a quiet one that failed a false positive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Polarity {
    /// At least one `[[expect]]` for the gadget (for the Tuner: the case wants it to
    /// converge, roll back or retune).
    Fires,
    /// Only `[[quiet]]` for it (for the Tuner: only bounds on its activity).
    Quiet,
}

/// One gadget's part of a trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub gadget: String,
    pub polarity: Polarity,
    /// Every expectation and quiet of this gadget passed.
    pub ok: bool,
    /// Seconds from the first matching decision or action to the label's event (the
    /// OOM kill), where the gadget has a `lead` expectation and something matched.
    pub lead_s: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialResult {
    /// `<area>/<name>/<suffix>`
    pub name: String,
    /// `<area>/<name>`
    pub case: String,
    pub source: SourceKind,
    pub seed: Option<u64>,
    /// A must-fail case: its checks are reported, but they prove the runner, not a
    /// gadget (the report leaves them out).
    pub must_fail: bool,
    pub status: Status,
    pub message: String,
    #[serde(rename = "elapsed_ms", with = "millis")]
    pub elapsed: Duration,
    /// Empty for a skipped trial.
    pub checks: Vec<Check>,
}

/// `qbranch replay --json`'s file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    pub trials: Vec<TrialResult>,
}

impl Results {
    pub fn to_json(&self) -> serde_json::Result<String> {
        serde_json::to_string_pretty(self)
    }
}

/// A duration as fractional milliseconds.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64() * 1000.0)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let ms = f64::deserialize(d)?;
        Duration::try_from_secs_f64(ms / 1000.0)
            .map_err(|e| D::Error::custom(format!("elapsed_ms {ms}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_serialises_with_the_fields_the_report_reads_and_back() {
        let results = Results {
            trials: vec![TrialResult {
                name: "oracle/linear_leak/seed-10001".into(),
                case: "oracle/linear_leak".into(),
                source: SourceKind::Simulate,
                seed: Some(10001),
                must_fail: false,
                status: Status::Known,
                message: "m".into(),
                elapsed: Duration::from_micros(1500),
                checks: vec![Check {
                    gadget: "oracle".into(),
                    polarity: Polarity::Fires,
                    ok: true,
                    lead_s: Some(61.5),
                }],
            }],
        };
        let json = results.to_json().unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let t = &v["trials"][0];
        assert_eq!(t["case"], "oracle/linear_leak");
        assert_eq!(t["source"], "simulate");
        assert_eq!(t["seed"], 10001);
        assert_eq!(t["status"], "known");
        assert_eq!(t["elapsed_ms"], 1.5);
        assert_eq!(t["must_fail"], false);
        assert_eq!(
            t["checks"][0],
            serde_json::json!({"gadget": "oracle", "polarity": "fires", "ok": true, "lead_s": 61.5})
        );
        assert_eq!(serde_json::from_str::<Results>(&json).unwrap(), results);
        let bad = json.replace("1.5", "-1.5");
        assert!(serde_json::from_str::<Results>(&bad).is_err());
    }
}
