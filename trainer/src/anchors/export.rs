//! The training and held-out rows of each model, extracted from a standard set by the
//! trainer's own code, as the tables both sides of a comparison read.

use std::path::Path;

use qb_models::arima::Arima;
use qb_models::features::{EQUALIZER, ORACLE, ORACLE_LEN, PATHOLOGIST};

use super::table::Table;
use crate::datasets::{self, Split};
use crate::lstm::Example;
use crate::oracle::{self, ARIMA_WINDOW, SEQUENCE, Trajectory};
use crate::{TrainError, equalizer, pathologist};

/// How many rows each table keeps: all of them, or an even stride down to a cap.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Caps {
    pub equalizer_held_out: usize,
    pub pathologist_training: usize,
    pub pathologist_held_out: usize,
    pub arima_windows: usize,
    pub lstm_training: usize,
    pub lstm_held_out: usize,
}

impl Caps {
    pub fn new(quick: bool) -> Self {
        if quick {
            Caps {
                equalizer_held_out: 5_000,
                pathologist_training: 10_000,
                pathologist_held_out: 5_000,
                arima_windows: 40,
                lstm_training: 1_500,
                lstm_held_out: 1_000,
            }
        } else {
            // The LSTM's examples are 30 x 18 values each: the cap keeps its CSV near
            // 50 MB and PyTorch's and candle's fits within minutes.
            Caps {
                equalizer_held_out: usize::MAX,
                pathologist_training: usize::MAX,
                pathologist_held_out: usize::MAX,
                arima_windows: 400,
                lstm_training: 8_000,
                lstm_held_out: 4_000,
            }
        }
    }
}

/// Forecast horizon of the ARIMA comparison, in vectors (ticks) after the window.
pub const ARIMA_HORIZON: usize = 30;
/// Window ends this many vectors apart along a held-out trajectory.
const ARIMA_STRIDE: usize = 60;

/// Every exported table, and what the ARIMA side needs beside its windows.
#[derive(Debug)]
pub struct Exported {
    pub equalizer: Table,
    pub pathologist: Table,
    pub arima: Table,
    pub lstm: Table,
    /// The order the trainer chooses on the training leaks.
    pub arima_model: Arima,
    /// Rows before the caps: (training, held-out) per table.
    pub available: serde_json::Value,
}

/// Indices `0..n` thinned by an even stride to at most `cap`.
pub fn thin(n: usize, cap: usize) -> Vec<usize> {
    if n <= cap {
        return (0..n).collect();
    }
    (0..cap).map(|k| k * n / cap).collect()
}

fn names(prefix: &[&str], tail: &[&str]) -> Vec<String> {
    prefix.iter().chain(tail).map(|s| s.to_string()).collect()
}

fn equalizer_table(data: &Path, caps: &Caps) -> Result<(Table, [usize; 2]), TrainError> {
    let entries = datasets::find(data, "toxic")?;
    let (train, test) = equalizer::split_vectors(&entries)?;
    let d = EQUALIZER.len();
    let mut t = Table::new(names(EQUALIZER.names, &["label"]));
    let mut row = vec![0.0; d + 1];
    for (v, held_out, keep) in [
        (&train, false, thin(train.toxic.len(), usize::MAX)),
        (&test, true, thin(test.toxic.len(), caps.equalizer_held_out)),
    ] {
        for i in keep {
            row[..d].copy_from_slice(&v.x[i * d..(i + 1) * d]);
            row[d] = f64::from(u8::from(v.toxic[i]));
            t.push(&row, held_out)?;
        }
    }
    Ok((t, [train.toxic.len(), test.toxic.len()]))
}

fn pathologist_table(data: &Path, caps: &Caps) -> Result<(Table, [usize; 2]), TrainError> {
    let entries = datasets::find(data, "stuck")?;
    let (train, test) = pathologist::split_vectors(&entries)?;
    let d = PATHOLOGIST.len();
    let mut t = Table::new(names(PATHOLOGIST.names, &["label"]));
    let mut row = vec![0.0; d + 1];
    for (v, held_out, cap) in [
        (&train, false, caps.pathologist_training),
        (&test, true, caps.pathologist_held_out),
    ] {
        for i in thin(v.y.len(), cap) {
            row[..d].copy_from_slice(&v.x[i * d..(i + 1) * d]);
            row[d] = f64::from(v.y[i]);
            t.push(&row, held_out)?;
        }
    }
    Ok((t, [train.y.len(), test.y.len()]))
}

/// Held-out windows of the working set (as ARIMA sees it) and the value
/// [`ARIMA_HORIZON`] vectors after each window's end.
fn arima_table(held_out: &[Trajectory], caps: &Caps) -> Result<(Table, usize), TrainError> {
    let mut windows = Vec::new();
    for (ti, t) in held_out.iter().enumerate() {
        let mut end = ARIMA_WINDOW - 1;
        while end + ARIMA_HORIZON < t.x.len() {
            windows.push((ti, end));
            end += ARIMA_STRIDE;
        }
    }
    let cols: Vec<String> = (0..ARIMA_WINDOW)
        .map(|i| format!("y{i}"))
        .chain(["truth".to_string()])
        .collect();
    let mut table = Table::new(cols);
    for k in thin(windows.len(), caps.arima_windows) {
        let (ti, end) = windows[k];
        let t = &held_out[ti];
        let mut row = oracle::working_set(t, end);
        row.push(oracle::working_set(t, end + ARIMA_HORIZON)[ARIMA_WINDOW - 1]);
        table.push(&row, true)?;
    }
    Ok((table, windows.len()))
}

fn lstm_examples(ts: &[Trajectory]) -> Vec<Example> {
    let mut out = Vec::new();
    for t in ts {
        oracle::examples(t, &mut out);
    }
    out
}

/// Sequences (30 x 18 values, oldest row first), ln(seconds to the OOM) when one
/// follows within 30 minutes (empty otherwise), and the label.
fn lstm_table(train: &[Example], test: &[Example], caps: &Caps) -> Result<Table, TrainError> {
    let mut cols = Vec::with_capacity(SEQUENCE * ORACLE_LEN + 2);
    for step in 0..SEQUENCE {
        for name in ORACLE.names {
            cols.push(format!("t{step}_{name}"));
        }
    }
    cols.extend(["log_eta".to_string(), "label".to_string()]);
    let mut t = Table::new(cols);
    for (examples, held_out, cap) in [
        (train, false, caps.lstm_training),
        (test, true, caps.lstm_held_out),
    ] {
        for i in thin(examples.len(), cap) {
            let e = &examples[i];
            let mut row: Vec<f64> = e.sequence.iter().map(|&v| f64::from(v)).collect();
            row.push(e.log_eta.map_or(f64::NAN, f64::from));
            row.push(f64::from(u8::from(e.positive)));
            t.push(&row, held_out)?;
        }
    }
    Ok(t)
}

/// Extracts every table from the standard set at `data`.
pub fn export(
    data: &Path,
    caps: &Caps,
    progress: &mut dyn FnMut(String),
) -> Result<Exported, TrainError> {
    progress("equalizer vectors".into());
    let (equalizer, eq_n) = equalizer_table(data, caps)?;
    progress("pathologist vectors".into());
    let (pathologist, pa_n) = pathologist_table(data, caps)?;
    progress("oracle trajectories".into());
    let (mut train, mut held) = (Vec::new(), Vec::new());
    for e in datasets::find(data, "memory")? {
        let ts = oracle::trajectories(&e)?;
        match e.split {
            Split::Training => train.extend(ts),
            Split::HeldOut => held.extend(ts),
        }
    }
    progress("choosing the ARIMA order".into());
    let (arima_model, _) = oracle::choose_arima(&train)?;
    let (arima, windows) = arima_table(&held, caps)?;
    let (lstm_train, lstm_test) = (lstm_examples(&train), lstm_examples(&held));
    let lstm = lstm_table(&lstm_train, &lstm_test, caps)?;
    Ok(Exported {
        available: serde_json::json!({
            "equalizer": eq_n,
            "pathologist": pa_n,
            "arima_windows": windows,
            "lstm": [lstm_train.len(), lstm_test.len()],
        }),
        equalizer,
        pathologist,
        arima,
        lstm,
        arima_model,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinning_keeps_an_even_stride_within_the_cap() {
        assert_eq!(thin(3, 10), vec![0, 1, 2]);
        assert_eq!(thin(10, 4), vec![0, 2, 5, 7]);
        assert!(thin(0, 4).is_empty());
    }
}
