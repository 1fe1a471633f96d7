//! Our models fitted and evaluated on exactly the rows of the exported tables (read
//! back from the CSVs the Python side reads), one thread, every step timed.

use qb_models::arima::Arima;
use qb_models::features::pathologist::{CLASSES, STUCK};
use qb_models::features::{EQUALIZER, ORACLE_LEN, PATHOLOGIST};
use qb_models::forest::RandomForest;
use qb_models::iforest::{IForestParams, IsolationForest};
use qb_models::lstm::Lstm;

use super::table::Table;
use super::timing::{Spent, timed};
use crate::TrainError;
use crate::lstm::{Example, LstmParams};
use crate::oracle::{ARIMA_WINDOW, HORIZON_S, SEQUENCE};

/// One side's run: what it predicted for each held-out row, and how long it took.
#[derive(Debug, Clone, Default)]
pub struct Run {
    pub predictions: Vec<f64>,
    pub truth: Vec<f64>,
    pub fit: Spent,
    pub predict: Spent,
    /// Rows where the model failed and a fallback prediction stands in.
    pub failures: usize,
}

fn per_row(s: &Spent, rows: usize) -> Spent {
    let n = rows.max(1) as f64;
    Spent {
        cpu_s: s.cpu_s / n,
        wall_s: s.wall_s / n,
    }
}

impl Run {
    /// Prediction time per row, seconds.
    pub fn predict_per_row(&self) -> Spent {
        per_row(&self.predict, self.predictions.len())
    }
}

pub fn iforest(t: &Table, params: IForestParams) -> Result<Run, TrainError> {
    let d = EQUALIZER.len();
    let (xtr, _) = t.split(false, d, "label")?;
    let (xte, truth) = t.split(true, d, "label")?;
    fit_and_score(&xtr, &xte, truth, d, params)
}

/// Fits a forest on `fit_rows` and scores `score_rows` one `score` call per row, as
/// the Equalizer does.
fn fit_and_score(
    fit_rows: &[f64],
    score_rows: &[f64],
    truth: Vec<f64>,
    d: usize,
    params: IForestParams,
) -> Result<Run, TrainError> {
    let (forest, fit) = timed(|| IsolationForest::fit(fit_rows, d, params));
    let forest = forest?;
    let (predictions, predict) = timed(|| {
        score_rows
            .chunks_exact(d)
            .map(|r| forest.score(r))
            .collect()
    });
    Ok(Run {
        predictions,
        truth,
        fit,
        predict,
        failures: 0,
    })
}

pub fn random_forest(
    t: &Table,
    params: qb_models::forest::ForestParams,
) -> Result<Run, TrainError> {
    let d = PATHOLOGIST.len();
    let (xtr, ytr) = t.split(false, d, "label")?;
    let (xte, truth) = t.split(true, d, "label")?;
    let ytr: Vec<u32> = ytr.iter().map(|&y| y as u32).collect();
    let (forest, fit) = timed(|| RandomForest::fit(&xtr, d, &ytr, CLASSES.len(), params));
    let forest = forest?;
    let (predictions, predict) = timed(|| {
        xte.chunks_exact(d)
            .map(|r| f64::from(forest.predict(r)))
            .collect()
    });
    Ok(Run {
        predictions,
        truth,
        fit,
        predict,
        failures: 0,
    })
}

/// The class whose precision and recall the Pathologist's comparison reports.
pub const POSITIVE_CLASS: usize = STUCK as usize;

/// Refits `model`'s order on each window (as the Oracle follows a cgroup) and
/// forecasts `horizon` steps; a window whose fit fails is forecast flat (its last
/// value) and counted.
pub fn arima(t: &Table, model: &Arima, horizon: usize) -> Result<Run, TrainError> {
    let (x, truth) = t.split(true, ARIMA_WINDOW, "truth")?;
    let mut run = Run {
        truth,
        ..Run::default()
    };
    for w in x.chunks_exact(ARIMA_WINDOW) {
        let (fitted, fit) = timed(|| model.refit(w));
        run.fit.cpu_s += fit.cpu_s;
        run.fit.wall_s += fit.wall_s;
        let (forecast, predict) = timed(|| {
            fitted
                .as_ref()
                .ok()
                .and_then(|m| m.forecast(horizon, 0.95).ok())
                .and_then(|f| f.last().map(|f| f.mean))
        });
        run.predict.cpu_s += predict.cpu_s;
        run.predict.wall_s += predict.wall_s;
        let last = w[ARIMA_WINDOW - 1];
        run.failures += usize::from(forecast.is_none());
        run.predictions.push(forecast.unwrap_or(last));
    }
    Ok(run)
}

fn examples(t: &Table, held_out: bool) -> Result<Vec<Example>, TrainError> {
    let width = SEQUENCE * ORACLE_LEN;
    let eta = t.column_index("log_eta")?;
    let label = t.column_index("label")?;
    Ok((0..t.len())
        .filter(|&i| t.held_out[i] == held_out)
        .map(|i| {
            let row = t.row(i);
            Example {
                sequence: row[..width].iter().map(|&v| v as f32).collect(),
                positive: row[label] > 0.5,
                log_eta: (!row[eta].is_nan()).then_some(row[eta] as f32),
            }
        })
        .collect())
}

/// Fits with candle as the trainer does, then predicts each held-out sequence with
/// `qb_models::lstm` (the daemon's inference), one sequence per call.
pub fn lstm(t: &Table, params: LstmParams) -> Result<Run, TrainError> {
    let (train, test) = (examples(t, false)?, examples(t, true)?);
    let (fitted, fit) = timed(|| crate::lstm::fit(&train, ORACLE_LEN, SEQUENCE, params, |_, _| {}));
    let model = Lstm::decode(&fitted?.encode(HORIZON_S)?)?;
    let rows: Vec<Vec<Vec<f64>>> = test
        .iter()
        .map(|e| {
            e.sequence
                .chunks_exact(ORACLE_LEN)
                .map(|r| r.iter().map(|&v| f64::from(v)).collect())
                .collect()
        })
        .collect();
    let (out, predict) = timed(|| {
        rows.iter()
            .map(|r| model.forecast(r).map(|f| f.probability))
            .collect::<Result<Vec<f64>, _>>()
    });
    Ok(Run {
        predictions: out?,
        truth: test
            .iter()
            .map(|e| f64::from(u8::from(e.positive)))
            .collect(),
        fit,
        predict,
        failures: 0,
    })
}

/// Our isolation forest on one ODDS table: fitted and scored on every row, as the
/// paper does.
pub fn odds(t: &Table, params: IForestParams) -> Result<Run, TrainError> {
    let d = t.width() - 1;
    let mut t = t.clone();
    t.held_out.iter_mut().for_each(|h| *h = false);
    let (x, truth) = t.split(false, d, "label")?;
    fit_and_score(&x, &x, truth, d, params)
}
