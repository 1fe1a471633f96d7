//! perf.json: what `qbranch perf` writes and `qbranch report` reads. The field names
//! and the measurement names are a contract (the report matches a run against its
//! baseline by name): change neither without changing the report.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerfReport {
    /// When the run started, RFC 3339 UTC.
    pub created: String,
    pub quick: bool,
    pub machine: Machine,
    pub measurements: Vec<Measurement>,
    pub skipped: Vec<Skipped>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub host: String,
    pub cpus: usize,
    pub kernel: String,
    /// /proc/loadavg's first field when the run started: the load of everything else.
    pub load_avg_1m: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// Stable: the baseline comparison matches on it.
    pub name: String,
    /// One of `UNITS`.
    pub unit: String,
    pub median: f64,
    pub p10: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
    pub samples: usize,
    pub lower_is_better: bool,
    /// What was measured, on what, in words.
    pub what: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    pub name: String,
    pub reason: String,
}

pub const UNITS: [&str; 6] = ["us", "ms", "ns", "MB", "lines/s", "MB/s"];

/// Fewest samples for a p10 and p90 that say more than the extremes do.
const MIN_FOR_DECILES: usize = 10;
/// Fewest samples for a p99 that is not simply the maximum.
const MIN_FOR_P99: usize = 100;

impl Measurement {
    /// The median and percentiles of `samples` (in `unit`); deciles and p99 are null
    /// when there are too few samples for them to mean anything. None without samples.
    pub fn from_samples(
        name: &str,
        unit: &str,
        samples: &[f64],
        lower_is_better: bool,
        what: String,
    ) -> Option<Measurement> {
        let mut sorted: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = tidy(quantile(&sorted, 0.5)?);
        let at = |q: f64, enough: bool| enough.then(|| quantile(&sorted, q).map(tidy)).flatten();
        Some(Measurement {
            name: name.to_string(),
            unit: unit.to_string(),
            median,
            p10: at(0.1, n >= MIN_FOR_DECILES),
            p90: at(0.9, n >= MIN_FOR_DECILES),
            p99: at(0.99, n >= MIN_FOR_P99),
            samples: n,
            lower_is_better,
            what,
        })
    }

    /// One derived value (a difference of medians, a peak): no spread to report.
    pub fn single(
        name: &str,
        unit: &str,
        value: f64,
        samples: usize,
        lower_is_better: bool,
        what: String,
    ) -> Measurement {
        Measurement {
            name: name.to_string(),
            unit: unit.to_string(),
            median: tidy(value),
            p10: None,
            p90: None,
            p99: None,
            samples,
            lower_is_better,
            what,
        }
    }
}

/// Three decimals: more than any of these measurements resolves, and short numbers in
/// the JSON.
fn tidy(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The `q` quantile of sorted values, interpolating between neighbours.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let pos = q.clamp(0.0, 1.0) * last as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    let frac = pos - lo as f64;
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> PerfReport {
        PerfReport {
            created: "2026-11-26T16:00:00Z".into(),
            quick: true,
            machine: Machine {
                host: "vm".into(),
                cpus: 2,
                kernel: "6.1.0".into(),
                load_avg_1m: 1.9,
            },
            measurements: vec![
                Measurement::from_samples(
                    "engine tick",
                    "us",
                    &(1..=200).map(f64::from).collect::<Vec<_>>(),
                    true,
                    "Oracle+Pathologist".into(),
                )
                .expect("samples"),
                Measurement::single("curator throughput", "lines/s", 123.0, 5, false, "x".into()),
            ],
            skipped: vec![Skipped {
                name: "eBPF syscall probe".into(),
                reason: "not root".into(),
            }],
        }
    }

    /// Equal, numbers to 1e-12 relative: serde_json's default float parser may land one
    /// ulp off the shortest decimal it printed.
    fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
        use serde_json::Value::{Array, Number, Object};
        match (a, b) {
            (Number(x), Number(y)) => match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) => (x - y).abs() <= 1e-12 * x.abs().max(y.abs()),
                _ => x == y,
            },
            (Array(x), Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y)),
            (Object(x), Object(y)) => {
                x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
            }
            _ => a == b,
        }
    }

    #[test]
    fn round_trips_through_json() {
        let report = example();
        let text = serde_json::to_string_pretty(&report).expect("serialise");
        let back: PerfReport = serde_json::from_str(&text).expect("parse");
        let (a, b) = (
            serde_json::to_value(&report).expect("value"),
            serde_json::to_value(&back).expect("value"),
        );
        assert!(same(&a, &b), "{a}\n{b}");
        assert_eq!(back.skipped, report.skipped);
        assert_eq!(back.measurements[1].p10, None);
    }

    #[test]
    fn statistics_keep_three_decimals() {
        let m = Measurement::from_samples("x", "us", &[1.23456789], true, String::new())
            .expect("a sample");
        assert_eq!(serde_json::to_string(&m.median).expect("json"), "1.235");
    }

    #[test]
    fn json_has_the_field_names_the_report_reads() {
        let value = serde_json::to_value(example()).expect("serialise");
        for key in ["created", "quick", "machine", "measurements", "skipped"] {
            assert!(value.get(key).is_some(), "missing {key}");
        }
        for key in ["host", "cpus", "kernel", "load_avg_1m"] {
            assert!(value["machine"].get(key).is_some(), "missing machine.{key}");
        }
        let m = &value["measurements"][1];
        for key in [
            "name",
            "unit",
            "median",
            "p10",
            "p90",
            "p99",
            "samples",
            "lower_is_better",
            "what",
        ] {
            assert!(m.get(key).is_some(), "missing measurements[].{key}");
        }
        assert!(m["p10"].is_null() && m["p99"].is_null());
        assert_eq!(value["skipped"][0]["reason"], "not root");
    }

    #[test]
    fn percentiles_need_enough_samples() {
        let few = Measurement::from_samples("x", "ms", &[3.0, 1.0, 2.0], true, String::new())
            .expect("samples");
        assert_eq!(few.median, 2.0);
        assert_eq!((few.p10, few.p90, few.p99), (None, None, None));

        let values: Vec<f64> = (0..=100).map(f64::from).collect();
        let many =
            Measurement::from_samples("x", "ms", &values, true, String::new()).expect("samples");
        assert_eq!(many.median, 50.0);
        assert_eq!(many.p10, Some(10.0));
        assert_eq!(many.p90, Some(90.0));
        assert_eq!(many.p99, Some(99.0));
        assert_eq!(many.samples, 101);
    }

    #[test]
    fn no_samples_no_measurement() {
        assert!(Measurement::from_samples("x", "ms", &[], true, String::new()).is_none());
        assert!(Measurement::from_samples("x", "ms", &[f64::NAN], true, String::new()).is_none());
    }

    #[test]
    fn quantile_interpolates() {
        assert_eq!(quantile(&[1.0, 2.0], 0.5), Some(1.5));
        assert_eq!(quantile(&[4.0], 0.9), Some(4.0));
    }
}
