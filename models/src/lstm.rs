//! The Oracle's sequence model: a one-layer LSTM over the last 30 Oracle vectors of a
//! cgroup, with two heads on the last hidden state: P(OOM within the horizon) and the
//! log of the seconds to the OOM.
//!
//! The trainer fits it with candle; the daemon must not link a training framework, so
//! inference is written out here (PyTorch's gate order i, f, g, o, as candle uses) and
//! reads the same safetensors the trainer writes. The trainer's tests check the two
//! forward passes agree.
//!
//! Tensors (f32): `input.mean`, `input.std` `[F]` (standardisation, applied here),
//! `lstm.weight_ih_l0 [4H, F]`, `lstm.weight_hh_l0 [4H, H]`, `lstm.bias_ih_l0 [4H]`,
//! `lstm.bias_hh_l0 [4H]`, `prob.weight [1, H]`, `prob.bias [1]`, `eta.weight [1, H]`,
//! `eta.bias [1]`. Metadata: `horizon_s`.

use std::collections::HashMap;

use safetensors::{Dtype, SafeTensors};

use crate::ModelError;

/// What the model says about one sequence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OomForecast {
    /// P(the OOM kill comes within the horizon).
    pub probability: f64,
    /// Estimated seconds to the OOM kill.
    pub eta_s: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Lstm {
    features: usize,
    hidden: usize,
    horizon_s: f64,
    mean: Vec<f32>,
    /// Reciprocal of the standard deviations.
    inv_std: Vec<f32>,
    /// Input and recurrent weights, row-major `[4H, F]` and `[4H, H]`.
    w_ih: Vec<f32>,
    w_hh: Vec<f32>,
    /// `bias_ih + bias_hh`: they only ever appear summed.
    bias: Vec<f32>,
    prob_w: Vec<f32>,
    prob_b: f32,
    eta_w: Vec<f32>,
    eta_b: f32,
}

pub const TENSORS: [&str; 10] = [
    "input.mean",
    "input.std",
    "lstm.weight_ih_l0",
    "lstm.weight_hh_l0",
    "lstm.bias_ih_l0",
    "lstm.bias_hh_l0",
    "prob.weight",
    "prob.bias",
    "eta.weight",
    "eta.bias",
];

fn corrupt(msg: impl std::fmt::Display) -> ModelError {
    ModelError::Corrupt(format!("LSTM: {msg}"))
}

impl Lstm {
    /// Reads and validates the safetensors payload: every tensor present, f32, of
    /// consistent shapes, finite; standard deviations positive.
    pub fn decode(bytes: &[u8]) -> Result<Self, ModelError> {
        let st = SafeTensors::deserialize(bytes).map_err(corrupt)?;
        let (_, meta) = SafeTensors::read_metadata(bytes).map_err(corrupt)?;
        let horizon_s: f64 = meta
            .metadata()
            .as_ref()
            .and_then(|m| m.get("horizon_s"))
            .and_then(|h| h.parse().ok())
            .filter(|h: &f64| h.is_finite() && *h > 0.0)
            .ok_or_else(|| corrupt("metadata horizon_s missing or invalid"))?;
        let mut t: HashMap<&str, (Vec<usize>, Vec<f32>)> = HashMap::new();
        for name in TENSORS {
            let view = st
                .tensor(name)
                .map_err(|e| corrupt(format!("{name}: {e}")))?;
            if view.dtype() != Dtype::F32 {
                return Err(corrupt(format!(
                    "{name} is {:?}, expected F32",
                    view.dtype()
                )));
            }
            let values: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            if let Some(i) = values.iter().position(|v| !v.is_finite()) {
                return Err(corrupt(format!("{name}[{i}] is {}", values[i])));
            }
            t.insert(name, (view.shape().to_vec(), values));
        }
        let take = |name: &str, shape: &[usize]| -> Result<Vec<f32>, ModelError> {
            let (s, v) = &t[name];
            if s != shape {
                return Err(corrupt(format!(
                    "{name} has shape {s:?}, expected {shape:?}"
                )));
            }
            Ok(v.clone())
        };
        let features = t["input.mean"].0.first().copied().unwrap_or(0);
        let hidden = t["lstm.weight_hh_l0"].0.get(1).copied().unwrap_or(0);
        if features == 0 || hidden == 0 {
            return Err(corrupt("empty input or hidden dimension"));
        }
        let std = take("input.std", &[features])?;
        if std.iter().any(|&s| s <= 0.0) {
            return Err(corrupt("input.std has a value <= 0"));
        }
        let bias_ih = take("lstm.bias_ih_l0", &[4 * hidden])?;
        let bias_hh = take("lstm.bias_hh_l0", &[4 * hidden])?;
        let scalar = |name: &str| take(name, &[1]).map(|v| v[0]);
        Ok(Lstm {
            features,
            hidden,
            horizon_s,
            mean: take("input.mean", &[features])?,
            inv_std: std.iter().map(|s| 1.0 / s).collect(),
            w_ih: take("lstm.weight_ih_l0", &[4 * hidden, features])?,
            w_hh: take("lstm.weight_hh_l0", &[4 * hidden, hidden])?,
            bias: bias_ih.iter().zip(&bias_hh).map(|(a, b)| a + b).collect(),
            prob_w: take("prob.weight", &[1, hidden])?,
            prob_b: scalar("prob.bias")?,
            eta_w: take("eta.weight", &[1, hidden])?,
            eta_b: scalar("eta.bias")?,
        })
    }

    pub fn features(&self) -> usize {
        self.features
    }

    pub fn hidden(&self) -> usize {
        self.hidden
    }

    /// The horizon the probability refers to, in seconds.
    pub fn horizon_s(&self) -> f64 {
        self.horizon_s
    }

    /// Runs the sequence (oldest first) through the network. Rows must have
    /// [`Self::features`] finite values; an empty sequence is refused.
    pub fn forecast<R: AsRef<[f64]>>(&self, sequence: &[R]) -> Result<OomForecast, ModelError> {
        if sequence.is_empty() {
            return Err(ModelError::Input("LSTM: empty sequence".into()));
        }
        let (f, h) = (self.features, self.hidden);
        let mut state_h = vec![0f32; h];
        let mut state_c = vec![0f32; h];
        let mut gates = vec![0f32; 4 * h];
        let mut x = vec![0f32; f];
        for row in sequence {
            let row = row.as_ref();
            if row.len() != f {
                return Err(ModelError::Input(format!(
                    "LSTM: a row of {} values, the model takes {f}",
                    row.len()
                )));
            }
            for (i, v) in row.iter().enumerate() {
                if !v.is_finite() {
                    return Err(ModelError::Input(format!("LSTM: feature {i} is {v}")));
                }
                x[i] = (*v as f32 - self.mean[i]) * self.inv_std[i];
            }
            for (g, gate) in gates.iter_mut().enumerate() {
                *gate = self.bias[g]
                    + dot(&self.w_ih[g * f..(g + 1) * f], &x)
                    + dot(&self.w_hh[g * h..(g + 1) * h], &state_h);
            }
            for j in 0..h {
                let i = sigmoid(gates[j]);
                let fg = sigmoid(gates[h + j]);
                let g = tanh(gates[2 * h + j]);
                let o = sigmoid(gates[3 * h + j]);
                state_c[j] = fg * state_c[j] + i * g;
                state_h[j] = o * tanh(state_c[j]);
            }
        }
        let logit = self.prob_b + dot(&self.prob_w, &state_h);
        let log_eta = self.eta_b + dot(&self.eta_w, &state_h);
        Ok(OomForecast {
            probability: f64::from(sigmoid(logit)),
            // ln(seconds), clamped to a second .. a day.
            eta_s: f64::from(log_eta).clamp(0.0, 86_400f64.ln()).exp(),
        })
    }
}

/// Eight partial sums, so the compiler can keep them in one vector register (a plain
/// iterator sum must add in order and stays scalar).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for ((s, x), y) in acc.iter_mut().zip(x).zip(y) {
            *s += x * y;
        }
    }
    acc.iter().sum::<f32>() + tail
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// tanh through one `exp`: libm's `tanhf` (via `expm1f`) was a third of a forecast.
/// Absolute error about 1e-7, far inside the 1e-5 agreement with candle the tests hold.
fn tanh(x: f32) -> f32 {
    2.0 * sigmoid(2.0 * x) - 1.0
}

/// Serialises tensors (name, shape, values) and the horizon as a payload
/// [`Lstm::decode`] reads: how the trainer writes, and how tests build models.
pub fn encode(
    tensors: &[(&str, Vec<usize>, Vec<f32>)],
    horizon_s: f64,
) -> Result<Vec<u8>, ModelError> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(n, s, v)| {
            let data = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            (n.to_string(), s.clone(), data)
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(n, s, d)| {
            safetensors::tensor::TensorView::new(Dtype::F32, s.clone(), d)
                .map(|v| (n.clone(), v))
                .map_err(|e| ModelError::Input(format!("LSTM tensor {n}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let meta = HashMap::from([("horizon_s".to_string(), horizon_s.to_string())]);
    safetensors::serialize(views, Some(meta)).map_err(|e| ModelError::Input(format!("LSTM: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny model whose output can be worked out by hand: F = 1, H = 1.
    fn tiny(w_ih: f32, horizon: f64) -> Vec<u8> {
        let v = |x: &[f32]| x.to_vec();
        encode(
            &[
                ("input.mean", vec![1], v(&[1.0])),
                ("input.std", vec![1], v(&[2.0])),
                ("lstm.weight_ih_l0", vec![4, 1], v(&[w_ih, 0.0, 1.0, 0.0])),
                ("lstm.weight_hh_l0", vec![4, 1], v(&[0.0; 4])),
                ("lstm.bias_ih_l0", vec![4], v(&[0.0, 0.0, 0.0, 100.0])),
                ("lstm.bias_hh_l0", vec![4], v(&[0.0; 4])),
                ("prob.weight", vec![1, 1], v(&[1.0])),
                ("prob.bias", vec![1], v(&[0.0])),
                ("eta.weight", vec![1, 1], v(&[0.0])),
                ("eta.bias", vec![1], v(&[60f32.ln()])),
            ],
            horizon,
        )
        .unwrap()
    }

    #[test]
    fn one_step_by_hand() {
        let m = Lstm::decode(&tiny(0.0, 180.0)).unwrap();
        assert_eq!((m.features(), m.hidden(), m.horizon_s()), (1, 1, 180.0));
        // x = (3 - 1) / 2 = 1; i = f = sigmoid(0) = 0.5, g = tanh(1), o = sigmoid(100) = 1.
        // c = 0.5 * tanh(1), h = tanh(c).
        let h = (0.5f64 * 1f64.tanh()).tanh();
        let out = m.forecast(&[[3.0]]).unwrap();
        assert!((out.probability - 1.0 / (1.0 + (-h).exp())).abs() < 1e-6);
        assert!((out.eta_s - 60.0).abs() < 1e-3);
    }

    #[test]
    fn bad_inputs_and_payloads_are_refused() {
        let m = Lstm::decode(&tiny(0.0, 180.0)).unwrap();
        assert!(m.forecast::<[f64; 1]>(&[]).is_err());
        assert!(
            m.forecast(&[[f64::NAN]])
                .unwrap_err()
                .to_string()
                .contains("NaN")
        );
        assert!(m.forecast(&[[1.0, 2.0]]).is_err());
        assert!(Lstm::decode(&tiny(f32::INFINITY, 180.0)).is_err());
        assert!(Lstm::decode(&tiny(0.0, -1.0)).is_err());
        assert!(Lstm::decode(b"not safetensors").is_err());
        let bytes = tiny(0.0, 180.0);
        for cut in [0, 8, bytes.len() / 2, bytes.len() - 1] {
            assert!(Lstm::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        // Every single-byte corruption is either refused or still a valid model.
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x5a;
            if let Ok(m) = Lstm::decode(&b) {
                assert!(m.forecast(&[[1.0]]).is_ok());
            }
        }
    }
}
