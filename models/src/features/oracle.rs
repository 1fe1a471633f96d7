//! Oracle features: one vector per memory cgroup per tick, over the last 30 ticks of
//! its history. Everything is relative to the cgroup's effective limit (its own, or the
//! host's memory when it has none), so a 256 MiB container and a 64 GiB host look alike.
//! Rates are per minute of event time, so the interval does not matter.

use qb_signals::{CgroupRow, Frame};

use super::window::{Histories, slope_r2};
use super::{Extractor, FeatureSet};

pub const ORACLE: FeatureSet = FeatureSet {
    name: "oracle",
    names: &[
        "usage_frac",
        "working_set_frac",
        "anon_frac",
        "file_frac",
        "usage_velocity",
        "usage_acceleration",
        "working_set_velocity",
        "anon_velocity",
        "cache_eviction_velocity",
        "eta_inverse",
        "usage_linearity",
        "psi_some_avg10",
        "psi_momentum",
        "psi_full_avg10",
        "swap_frac",
        "swap_velocity",
        "failcnt_rate",
        "oom_history",
    ],
    window: 30,
};

pub const ORACLE_LEN: usize = 18;

// What the Oracle's models see and predict; the trainer and the gadget share these.
/// The LSTM predicts an OOM kill within this many seconds.
pub const HORIZON_S: f64 = 180.0;
/// Oracle vectors per LSTM sequence.
pub const SEQUENCE: usize = 30;
/// Working-set points each ARIMA refit sees.
pub const ARIMA_WINDOW: usize = 60;
/// The kernel kills once the working set leaves no room: usage is held just under the
/// limit by reclaim, the working set climbs to it. The ARIMA forecast aims here.
pub const OOM_LEVEL: f64 = 0.97;

/// One feature vector: the cgroup, the tick it describes, the values in [`ORACLE`] order.
#[derive(Debug, Clone, PartialEq)]
pub struct OracleVector {
    pub cgroup: String,
    pub ts_ns: i64,
    pub values: [f64; ORACLE_LEN],
}

/// What one tick of a cgroup contributes.
#[derive(Debug, Clone, Copy)]
struct Snapshot {
    ts_ns: i64,
    limit: f64,
    usage: f64,
    working_set: f64,
    anon: f64,
    file: f64,
    inactive_file: f64,
    swap: f64,
    psi10: f64,
    psi60: f64,
    full10: f64,
    failcnt: f64,
    oom_kills: f64,
}

/// Streams frames in, feature vectors out; the trainer (replaying Parquet) and the
/// daemon (live frames) run this same code.
#[derive(Debug, Clone)]
pub struct OracleExtractor {
    histories: Histories<String, Snapshot>,
}

impl Default for OracleExtractor {
    fn default() -> Self {
        Self::new()
    }
}

impl OracleExtractor {
    pub fn new() -> Self {
        OracleExtractor {
            histories: Histories::new(ORACLE.window, 10),
        }
    }
}

impl Extractor for OracleExtractor {
    type Vector = OracleVector;

    /// Adds one frame; pushes a vector for every cgroup with a full window.
    fn observe(&mut self, frame: &Frame, out: &mut Vec<OracleVector>) {
        let host_memory = frame.system.as_ref().map(|s| s.mem_total_bytes);
        for row in &frame.cgroups {
            let Some(snap) = snapshot(row, host_memory) else {
                continue;
            };
            if let Some(window) = self.histories.push(&row.path, snap) {
                out.push(OracleVector {
                    cgroup: row.path.clone(),
                    ts_ns: row.ts_ns,
                    values: features(window),
                });
            }
        }
        self.histories.end_tick();
    }
}

fn snapshot(row: &CgroupRow, host_memory: Option<u64>) -> Option<Snapshot> {
    // No limit of its own: the host's memory is what it can exhaust.
    let limit = row.memory_limit_bytes.or(host_memory).filter(|&l| l > 0)? as f64;
    Some(Snapshot {
        ts_ns: row.ts_ns,
        limit,
        usage: row.memory_usage_bytes as f64,
        working_set: row.working_set_bytes as f64,
        anon: row.anon_bytes as f64,
        file: row.file_bytes as f64,
        inactive_file: row.inactive_file_bytes as f64,
        swap: row.swap_bytes.unwrap_or(0) as f64,
        // v1 without a unified tree has no PSI: no pressure is the honest reading.
        psi10: row.psi_memory_some_avg10.unwrap_or(0.0),
        psi60: row.psi_memory_some_avg60.unwrap_or(0.0),
        full10: row.psi_memory_full_avg10.unwrap_or(0.0),
        failcnt: row.failcnt as f64,
        oom_kills: row.oom_kill_events as f64,
    })
}

fn features(w: &[Snapshot]) -> [f64; ORACLE_LEN] {
    let last = w[w.len() - 1];
    let l = last.limit;
    let t0 = w[0].ts_ns;
    let minutes: Vec<f64> = w.iter().map(|s| (s.ts_ns - t0) as f64 / 60e9).collect();
    let series = |f: fn(&Snapshot) -> f64| -> Vec<f64> { w.iter().map(|s| f(s) / l).collect() };
    let usage = series(|s| s.usage);
    let (usage_velocity, usage_r2) = slope_r2(&minutes, &usage);
    let velocity = |f: fn(&Snapshot) -> f64| slope_r2(&minutes, &series(f)).0;
    // Acceleration: how much the slope of the second half exceeds the first's, per
    // minute of the half-window.
    let half = w.len() / 2;
    let (early, _) = slope_r2(&minutes[..half], &usage[..half]);
    let (late, _) = slope_r2(&minutes[half..], &usage[half..]);
    let half_minutes = (minutes[w.len() - 1] - minutes[half]).max(1e-9);
    let usage_frac = last.usage / l;
    let span_s = (minutes[w.len() - 1] * 60.0).max(1e-9);
    [
        usage_frac,
        last.working_set / l,
        last.anon / l,
        last.file / l,
        usage_velocity,
        (late - early) / half_minutes,
        velocity(|s| s.working_set),
        velocity(|s| s.anon),
        -velocity(|s| s.inactive_file),
        // 1 / (minutes to the limit at the current slope), 0 when not growing.
        (usage_velocity.max(0.0) / (1.0 - usage_frac).max(1e-3)).min(100.0),
        usage_r2,
        last.psi10 / 100.0,
        (last.psi10 - last.psi60) / 100.0,
        last.full10 / 100.0,
        last.swap / l,
        velocity(|s| s.swap),
        ((last.failcnt - w[0].failcnt).max(0.0) / span_s).ln_1p(),
        last.oom_kills.ln_1p(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(t: i64, usage: u64, limit: Option<u64>) -> Frame {
        let mut f = Frame::new(t * 1_000_000_000, String::from("h"));
        f.cgroups.push(CgroupRow {
            ts_ns: t * 1_000_000_000,
            path: "/a".into(),
            memory_usage_bytes: usage,
            memory_limit_bytes: limit,
            anon_bytes: usage,
            working_set_bytes: usage,
            ..CgroupRow::default()
        });
        f
    }

    #[test]
    fn a_linear_leak_has_a_steady_velocity_and_an_eta() {
        let mut x = OracleExtractor::new();
        let mut out = Vec::new();
        // 1 MiB/s into a 1 GiB limit from 512 MiB.
        for t in 0..40 {
            x.observe(&frame(t, (512 + t as u64) << 20, Some(1 << 30)), &mut out);
        }
        assert_eq!(out.len(), 40 - 29, "a vector once the window is full");
        let v = &out.last().unwrap().values;
        let per_min = 60.0 / 1024.0;
        assert!((v[4] - per_min).abs() < 1e-9, "velocity {}", v[4]);
        assert!(v[5].abs() < 1e-9, "no acceleration");
        assert!((v[10] - 1.0).abs() < 1e-9, "linear");
        let minutes_left = (1024.0 - 551.0) / 60.0;
        assert!(
            (1.0 / v[9] - minutes_left).abs() < 1e-6,
            "eta {}",
            1.0 / v[9]
        );
        assert_eq!(ORACLE.len(), ORACLE_LEN);
        assert!(v.iter().all(|x| x.is_finite()));
    }

    #[test]
    fn without_a_limit_the_host_memory_is_the_limit_and_without_either_no_vector() {
        let mut x = OracleExtractor::new();
        let mut out = Vec::new();
        for t in 0..30 {
            let mut f = frame(t, 1 << 30, None);
            f.system = Some(qb_signals::SystemRow {
                mem_total_bytes: 4 << 30,
                ..Default::default()
            });
            x.observe(&f, &mut out);
        }
        assert_eq!(out.len(), 1);
        assert!((out[0].values[0] - 0.25).abs() < 1e-12);
        let mut x = OracleExtractor::new();
        out.clear();
        for t in 0..30 {
            x.observe(&frame(t, 1 << 30, None), &mut out);
        }
        assert!(out.is_empty());
    }
}
