//! Fitting the Oracle's LSTM with candle: BPTT over the whole sequence, AdamW, a
//! numerically stable binary cross-entropy for P(OOM within the horizon) plus a masked
//! squared error on ln(seconds to the OOM). Candle's CPU RNG cannot be seeded, so the
//! initial weights and the batch order come from our seeded generator: the same data
//! and seed give the same model.
//!
//! The weights are written as the safetensors `qb_models::lstm::Lstm` reads; the daemon
//! never links candle.

use candle_core::{D, DType, Device, Tensor, Var};
use candle_nn::rnn::{LSTMConfig, RNN};
use candle_nn::{AdamW, Linear, Module, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use qb_signals::rng::Rng;

use crate::TrainError;

/// One training example: a sequence of feature rows (oldest first), whether the OOM
/// comes within the horizon, and ln(seconds to the OOM) when one follows.
#[derive(Debug, Clone)]
pub struct Example {
    pub sequence: Vec<f32>,
    pub positive: bool,
    pub log_eta: Option<f32>,
}

#[derive(Debug, Clone, Copy)]
pub struct LstmParams {
    pub hidden: usize,
    pub epochs: usize,
    pub batch: usize,
    pub learning_rate: f64,
    pub seed: u64,
}

impl Default for LstmParams {
    fn default() -> Self {
        LstmParams {
            hidden: 32,
            epochs: 12,
            batch: 64,
            learning_rate: 3e-3,
            seed: 1,
        }
    }
}

/// The candle network, named as PyTorch (and `qb_models::lstm`) name its tensors.
#[derive(Debug)]
pub struct Net {
    lstm: candle_nn::LSTM,
    prob: Linear,
    eta: Linear,
}

impl Net {
    pub fn new(features: usize, hidden: usize, vb: &VarBuilder) -> candle_core::Result<Self> {
        Ok(Net {
            lstm: candle_nn::lstm(features, hidden, LSTMConfig::default(), vb.pp("lstm"))?,
            prob: candle_nn::linear(hidden, 1, vb.pp("prob"))?,
            eta: candle_nn::linear(hidden, 1, vb.pp("eta"))?,
        })
    }

    /// `[B, T, F]` standardised input to (logit, ln eta), each `[B]`.
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        let states = self.lstm.seq(x)?;
        let last = states
            .last()
            .ok_or_else(|| candle_core::Error::Msg("empty sequence".into()))?;
        let h = last.h();
        Ok((
            self.prob.forward(h)?.squeeze(D::Minus1)?,
            self.eta.forward(h)?.squeeze(D::Minus1)?,
        ))
    }
}

fn candle(e: candle_core::Error) -> TrainError {
    TrainError::NoData(format!("LSTM training: {e}"))
}

/// Per-feature mean and standard deviation over every row of every example (a
/// constant feature gets 1, so it standardises to 0 instead of dividing by 0).
pub fn standardisation(examples: &[Example], features: usize) -> (Vec<f32>, Vec<f32>) {
    let mut sum = vec![0f64; features];
    let mut sq = vec![0f64; features];
    let mut n = 0f64;
    for e in examples {
        for row in e.sequence.chunks_exact(features) {
            for (i, v) in row.iter().enumerate() {
                sum[i] += f64::from(*v);
                sq[i] += f64::from(*v) * f64::from(*v);
            }
            n += 1.0;
        }
    }
    let n = n.max(1.0);
    let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
    let std = sq
        .iter()
        .zip(&mean)
        .map(|(s, m)| {
            let sd = (s / n - m * m).max(0.0).sqrt();
            if sd > 1e-6 { sd as f32 } else { 1.0 }
        })
        .collect();
    (mean.iter().map(|&m| m as f32).collect(), std)
}

/// Numerically stable mean of BCE(sigmoid(logit), y).
fn bce_with_logits(logit: &Tensor, y: &Tensor) -> candle_core::Result<Tensor> {
    let softplus = (logit.abs()?.neg()?.exp()? + 1.0)?.log()?;
    (logit.relu()? - (logit * y)?)?.add(&softplus)?.mean_all()
}

/// Overwrites candle's (unseeded) initial weights: uniform in ±1/sqrt(H) as PyTorch
/// does, and the forget gate's bias at 1 so gradients flow through early epochs.
fn seeded_init(varmap: &VarMap, hidden: usize, rng: &mut Rng) -> Result<(), TrainError> {
    let bound = 1.0 / (hidden as f64).sqrt();
    let vars = varmap
        .data()
        .lock()
        .map_err(|_| TrainError::NoData("LSTM: poisoned".into()))?;
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort();
    for name in names {
        let var: &Var = &vars[name];
        let n = var.elem_count();
        let values: Vec<f32> = (0..n)
            .map(|i| {
                if name == "lstm.bias_ih_l0" {
                    if (hidden..2 * hidden).contains(&i) {
                        1.0
                    } else {
                        0.0
                    }
                } else if name == "lstm.bias_hh_l0" {
                    0.0
                } else {
                    rng.range(-bound, bound) as f32
                }
            })
            .collect();
        let t = Tensor::from_vec(values, var.shape(), &Device::Cpu).map_err(candle)?;
        var.set(&t).map_err(candle)?;
    }
    Ok(())
}

/// A trained network with the standardisation it expects.
pub struct Fitted {
    pub varmap: VarMap,
    pub net: Net,
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    pub features: usize,
    pub steps: usize,
    /// Mean training loss of each epoch.
    pub losses: Vec<f64>,
}

/// Fits on `examples` (sequences of `steps` rows of `features`). `progress` is called
/// after each epoch with (epoch, mean loss).
pub fn fit(
    examples: &[Example],
    features: usize,
    steps: usize,
    params: LstmParams,
    mut progress: impl FnMut(usize, f64),
) -> Result<Fitted, TrainError> {
    if examples.is_empty() {
        return Err(TrainError::NoData("LSTM: no training examples".into()));
    }
    if let Some(e) = examples
        .iter()
        .find(|e| e.sequence.len() != features * steps)
    {
        return Err(TrainError::NoData(format!(
            "LSTM: a sequence of {} values, expected {steps} x {features}",
            e.sequence.len()
        )));
    }
    let dev = Device::Cpu;
    let (mean, std) = standardisation(examples, features);
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
    let net = Net::new(features, params.hidden, &vb).map_err(candle)?;
    let mut rng = Rng::new(params.seed);
    seeded_init(&varmap, params.hidden, &mut rng)?;
    let mut opt = AdamW::new(
        varmap.all_vars(),
        ParamsAdamW {
            lr: params.learning_rate,
            weight_decay: 1e-4,
            ..Default::default()
        },
    )
    .map_err(candle)?;

    let mut order: Vec<usize> = (0..examples.len()).collect();
    let mut losses = Vec::with_capacity(params.epochs);
    for epoch in 0..params.epochs {
        rng.shuffle(&mut order);
        let (mut total, mut batches) = (0.0, 0usize);
        for chunk in order.chunks(params.batch) {
            let (x, y, eta, mask) = batch(examples, chunk, &mean, &std, features, steps)?;
            let (logit, log_eta) = net.forward(&x).map_err(candle)?;
            let bce = bce_with_logits(&logit, &y).map_err(candle)?;
            let err = ((log_eta - eta).map_err(candle)?.sqr().map_err(candle)? * &mask)
                .map_err(candle)?
                .sum_all()
                .map_err(candle)?;
            let masked = mask
                .sum_all()
                .map_err(candle)?
                .to_scalar::<f32>()
                .map_err(candle)?;
            let loss = (bce + (err / f64::from(masked.max(1.0))).map_err(candle)? * 0.1)
                .map_err(candle)?;
            opt.backward_step(&loss).map_err(candle)?;
            total += f64::from(loss.to_scalar::<f32>().map_err(candle)?);
            batches += 1;
        }
        let mean_loss = total / batches.max(1) as f64;
        if !mean_loss.is_finite() {
            return Err(TrainError::NoData(format!(
                "LSTM: the loss diverged in epoch {epoch} ({mean_loss})"
            )));
        }
        losses.push(mean_loss);
        progress(epoch + 1, mean_loss);
    }
    Ok(Fitted {
        varmap,
        net,
        mean,
        std,
        features,
        steps,
        losses,
    })
}

impl std::fmt::Debug for Fitted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fitted")
            .field("features", &self.features)
            .field("steps", &self.steps)
            .field("losses", &self.losses)
            .finish_non_exhaustive()
    }
}

type Batch = (Tensor, Tensor, Tensor, Tensor);

fn batch(
    examples: &[Example],
    idx: &[usize],
    mean: &[f32],
    std: &[f32],
    features: usize,
    steps: usize,
) -> Result<Batch, TrainError> {
    let mut x = Vec::with_capacity(idx.len() * steps * features);
    let (mut y, mut eta, mut mask) = (Vec::new(), Vec::new(), Vec::new());
    for &i in idx {
        let e = &examples[i];
        for row in e.sequence.chunks_exact(features) {
            x.extend(row.iter().enumerate().map(|(j, v)| (v - mean[j]) / std[j]));
        }
        y.push(f32::from(u8::from(e.positive)));
        eta.push(e.log_eta.unwrap_or(0.0));
        mask.push(f32::from(u8::from(e.log_eta.is_some())));
    }
    let dev = Device::Cpu;
    let b = idx.len();
    Ok((
        Tensor::from_vec(x, (b, steps, features), &dev).map_err(candle)?,
        Tensor::from_vec(y, b, &dev).map_err(candle)?,
        Tensor::from_vec(eta, b, &dev).map_err(candle)?,
        Tensor::from_vec(mask, b, &dev).map_err(candle)?,
    ))
}

impl Fitted {
    /// The safetensors payload of `qb_models::lstm::Lstm`.
    pub fn encode(&self, horizon_s: f64) -> Result<Vec<u8>, TrainError> {
        let vars = self
            .varmap
            .data()
            .lock()
            .map_err(|_| TrainError::NoData("LSTM: poisoned".into()))?;
        let mut tensors = vec![
            ("input.mean", vec![self.features], self.mean.clone()),
            ("input.std", vec![self.features], self.std.clone()),
        ];
        for name in &qb_models::lstm::TENSORS[2..] {
            let var = vars
                .get(*name)
                .ok_or_else(|| TrainError::NoData(format!("LSTM: no tensor {name}")))?;
            let values = var
                .flatten_all()
                .and_then(|t| t.to_vec1::<f32>())
                .map_err(candle)?;
            tensors.push((name, var.dims().to_vec(), values));
        }
        Ok(qb_models::lstm::encode(&tensors, horizon_s)?)
    }

    /// Candle's own forward pass on raw (unstandardised) sequences: P and ETA seconds.
    /// The tests hold qb-models' inference to it.
    pub fn predict(&self, sequences: &[Vec<f32>]) -> Result<Vec<(f64, f64)>, TrainError> {
        let examples: Vec<Example> = sequences
            .iter()
            .map(|s| Example {
                sequence: s.clone(),
                positive: false,
                log_eta: None,
            })
            .collect();
        let idx: Vec<usize> = (0..examples.len()).collect();
        let (x, ..) = batch(
            &examples,
            &idx,
            &self.mean,
            &self.std,
            self.features,
            self.steps,
        )?;
        let (logit, log_eta) = self.net.forward(&x).map_err(candle)?;
        let logit = logit.to_vec1::<f32>().map_err(candle)?;
        let log_eta = log_eta.to_vec1::<f32>().map_err(candle)?;
        Ok(logit
            .iter()
            .zip(&log_eta)
            .map(|(l, e)| {
                (
                    1.0 / (1.0 + (-f64::from(*l)).exp()),
                    f64::from(*e).clamp(0.0, 86_400f64.ln()).exp(),
                )
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy(n: usize, rng: &mut Rng) -> Vec<Example> {
        // Positive when the first feature trends upwards over the sequence.
        (0..n)
            .map(|i| {
                let up = i % 2 == 0;
                let sequence = (0..6 * 3)
                    .map(|k| {
                        let (t, f) = (k / 3, k % 3);
                        let trend = if f == 0 && up { t as f64 * 0.5 } else { 0.0 };
                        (trend + rng.range(-0.2, 0.2)) as f32
                    })
                    .collect();
                Example {
                    sequence,
                    positive: up,
                    log_eta: up.then_some(4.0),
                }
            })
            .collect()
    }

    #[test]
    fn learns_a_trend_and_qb_models_runs_the_same_network() {
        let mut rng = Rng::new(3);
        let examples = toy(256, &mut rng);
        let params = LstmParams {
            hidden: 8,
            epochs: 15,
            batch: 32,
            ..LstmParams::default()
        };
        let fitted = fit(&examples, 3, 6, params, |_, _| {}).unwrap();
        assert!(
            fitted.losses.last() < fitted.losses.first(),
            "{:?}",
            fitted.losses
        );
        let bytes = fitted.encode(180.0).unwrap();
        let ours = qb_models::lstm::Lstm::decode(&bytes).unwrap();
        let test = toy(20, &mut rng);
        let seqs: Vec<Vec<f32>> = test.iter().map(|e| e.sequence.clone()).collect();
        let theirs = fitted.predict(&seqs).unwrap();
        let mut correct = 0;
        for (e, (p, eta)) in test.iter().zip(&theirs) {
            let rows: Vec<Vec<f64>> = e
                .sequence
                .chunks(3)
                .map(|r| r.iter().map(|&v| f64::from(v)).collect())
                .collect();
            let out = ours.forecast(&rows).unwrap();
            assert!(
                (out.probability - p).abs() < 1e-5,
                "{} vs {p}",
                out.probability
            );
            assert!(
                (out.eta_s - eta).abs() / eta < 1e-4,
                "{} vs {eta}",
                out.eta_s
            );
            correct += usize::from((out.probability >= 0.5) == e.positive);
        }
        assert!(correct >= 18, "{correct}/20 right on an easy task");
    }

    #[test]
    fn the_same_seed_gives_the_same_weights() {
        let examples = toy(64, &mut Rng::new(1));
        let params = LstmParams {
            hidden: 4,
            epochs: 2,
            ..LstmParams::default()
        };
        let a = fit(&examples, 3, 6, params, |_, _| {})
            .unwrap()
            .encode(1.0)
            .unwrap();
        let b = fit(&examples, 3, 6, params, |_, _| {})
            .unwrap()
            .encode(1.0)
            .unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn bad_training_input_is_refused() {
        let p = LstmParams::default();
        assert!(fit(&[], 3, 6, p, |_, _| {}).is_err());
        let short = Example {
            sequence: vec![0.0; 5],
            positive: true,
            log_eta: None,
        };
        let e = fit(&[short], 3, 6, p, |_, _| {}).unwrap_err().to_string();
        assert!(e.contains("expected 6 x 3"), "{e}");
    }
}
