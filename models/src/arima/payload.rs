//! The artifact payload of a fitted [`Arima`]: the parameters and the state it
//! forecasts from, validated on decode so a model read from disk is one a fit could
//! have produced.

use super::{Arima, MAX_D, check_order, params};
use crate::ModelError;
use crate::codec::{Decoder, Encoder};
use params::MAX_ORDER;

/// Payload version of [`Arima::encode`].
const PAYLOAD_VERSION: u32 = 1;

impl Arima {
    /// The payload of an `Arima` artifact.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.u32(PAYLOAD_VERSION)
            .u32(self.p as u32)
            .u32(self.d as u32)
            .u32(self.q as u32)
            .u32(u32::from(self.constant.is_some()))
            .f64(self.constant.unwrap_or(0.0))
            .f64s(&self.ar)
            .f64s(&self.ma)
            .f64(self.sigma2)
            .f64s(&self.tail)
            .f64s(&self.state)
            .f64s(&self.state_cov);
        e.finish()
    }

    /// Reads [`Arima::encode`]'s payload and refuses anything a fit could not have
    /// produced (wrong lengths, non-finite values, a non-stationary AR part).
    pub fn decode(bytes: &[u8]) -> Result<Arima, ModelError> {
        let bad = |why: String| ModelError::Corrupt(format!("arima payload: {why}"));
        let mut dec = Decoder::new(bytes);
        let version = dec.u32("version")?;
        if version != PAYLOAD_VERSION {
            return Err(bad(format!(
                "version {version}, this build reads {PAYLOAD_VERSION}"
            )));
        }
        let p = dec.u32("p")? as usize;
        let d = dec.u32("d")? as usize;
        let q = dec.u32("q")? as usize;
        let has_constant = dec.u32("has_constant")?;
        let constant = dec.f64("constant")?;
        let ar = dec.f64s("ar")?;
        let ma = dec.f64s("ma")?;
        let sigma2 = dec.f64("sigma2")?;
        let tail = dec.f64s("tail")?;
        let state = dec.f64s("state")?;
        let state_cov = dec.f64s("state_cov")?;
        dec.finish()?;
        if p > MAX_ORDER || q > MAX_ORDER || d > MAX_D || has_constant > 1 {
            return Err(bad(format!(
                "order ({p},{d},{q}) or constant flag {has_constant} out of range"
            )));
        }
        let r = p.max(q + 1);
        for (field, len, want) in [
            ("ar", ar.len(), p),
            ("ma", ma.len(), q),
            ("tail", tail.len(), d),
            ("state", state.len(), r),
            ("state_cov", state_cov.len(), r * r),
        ] {
            if len != want {
                return Err(bad(format!("'{field}' has {len} values, expected {want}")));
            }
        }
        let all = [constant, sigma2]
            .into_iter()
            .chain(ar.iter().copied())
            .chain(ma.iter().copied())
            .chain(tail.iter().copied())
            .chain(state.iter().copied())
            .chain(state_cov.iter().copied());
        if let Some(v) = all.into_iter().find(|v| !v.is_finite()) {
            return Err(bad(format!("non-finite value {v}")));
        }
        if sigma2 < 0.0 || (0..r).any(|i| state_cov[i * r + i] < 0.0) {
            return Err(bad("negative variance".into()));
        }
        // Fits stay within 1e-8 of the unit circle; rounding in the round trip from
        // coefficients back to partial autocorrelations may reach it.
        let neg_ma: Vec<f64> = ma.iter().map(|m| -m).collect();
        let inside = |c: &[f64]| params::max_partial(c).is_some_and(|m| m <= 1.0 + 1e-6);
        if !inside(&ar) || !inside(&neg_ma) {
            return Err(bad(format!(
                "ar {ar:?} not stationary or ma {ma:?} not invertible"
            )));
        }
        let model = Arima {
            p,
            d,
            q,
            constant: (has_constant == 1).then_some(constant),
            ar,
            ma,
            sigma2,
            tail,
            state,
            state_cov,
        };
        check_order("arima payload", p, d, q, model.constant.is_some())
            .map_err(|e| bad(e.to_string()))?;
        Ok(model)
    }
}
