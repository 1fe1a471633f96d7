//! A tuned parameter: its bounds, its scale and how it maps to the unit interval the
//! Gaussian process works in. Sizes go on a log scale: doubling a buffer from 4 to 8 KiB
//! matters as much as from 1 to 2 MiB.

use serde::Deserialize;

use crate::TunerError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    #[default]
    Linear,
    Log,
}

/// One bounded parameter. The tuner never proposes a value outside `[min, max]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamSpec {
    pub name: String,
    pub min: f64,
    pub max: f64,
    #[serde(default)]
    pub scale: Scale,
    /// Proposals are rounded to whole numbers (sizes, counts).
    #[serde(default)]
    pub integer: bool,
    /// The value in force when tuning starts (the operator's configuration).
    pub initial: f64,
}

impl ParamSpec {
    pub fn new(name: &str, min: f64, max: f64, scale: Scale, initial: f64) -> Self {
        ParamSpec {
            name: name.to_string(),
            min,
            max,
            scale,
            integer: false,
            initial,
        }
    }

    pub fn integer(mut self) -> Self {
        self.integer = true;
        self
    }

    pub fn validate(&self) -> Result<(), TunerError> {
        let name = self.name.clone();
        if !self.min.is_finite() || !self.max.is_finite() || self.min >= self.max {
            return Err(TunerError::BadBounds {
                name,
                min: self.min,
                max: self.max,
            });
        }
        if self.scale == Scale::Log && self.min <= 0.0 {
            return Err(TunerError::LogScaleNotPositive {
                name,
                min: self.min,
            });
        }
        if self.integer && self.min.ceil() > self.max.floor() {
            return Err(TunerError::NoIntegerInBounds {
                name,
                min: self.min,
                max: self.max,
            });
        }
        if !(self.min..=self.max).contains(&self.initial) {
            return Err(TunerError::InitialOutOfBounds {
                name,
                initial: self.initial,
                min: self.min,
                max: self.max,
            });
        }
        Ok(())
    }

    /// The nearest allowed value: inside the bounds, whole if `integer`. NaN maps to
    /// `initial`, so even a broken caller cannot push a parameter out of bounds.
    pub fn clamp(&self, v: f64) -> f64 {
        if v.is_nan() {
            return self.initial;
        }
        if self.integer {
            v.round().clamp(self.min.ceil(), self.max.floor())
        } else {
            v.clamp(self.min, self.max)
        }
    }

    /// `[min, max]` to `[0, 1]`, on this parameter's scale.
    pub fn to_unit(&self, v: f64) -> f64 {
        let v = self.clamp(v);
        let u = match self.scale {
            Scale::Linear => (v - self.min) / (self.max - self.min),
            Scale::Log => (v.ln() - self.min.ln()) / (self.max.ln() - self.min.ln()),
        };
        u.clamp(0.0, 1.0)
    }

    /// `[0, 1]` back to an allowed value (clamped and rounded).
    pub fn from_unit(&self, u: f64) -> f64 {
        let u = if u.is_nan() { 0.5 } else { u.clamp(0.0, 1.0) };
        let v = match self.scale {
            Scale::Linear => self.min + u * (self.max - self.min),
            Scale::Log => (self.min.ln() + u * (self.max.ln() - self.min.ln())).exp(),
        };
        self.clamp(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_scale_round_trips_and_clamps() {
        let p = ParamSpec::new("buf", 4096.0, 4194304.0, Scale::Log, 65536.0).integer();
        p.validate().unwrap();
        assert_eq!(p.from_unit(0.0), 4096.0);
        assert_eq!(p.from_unit(1.0), 4194304.0);
        assert!((p.to_unit(131072.0) - 0.5).abs() < 1e-9);
        assert_eq!(p.from_unit(p.to_unit(131072.0)), 131072.0);
        assert_eq!(p.clamp(1e12), 4194304.0);
        assert_eq!(p.clamp(f64::NAN), 65536.0);
        assert_eq!(p.from_unit(f64::NAN), p.from_unit(0.5));
    }

    #[test]
    fn bad_specs_are_named() {
        let bad = [
            ParamSpec::new("a", 2.0, 1.0, Scale::Linear, 1.5),
            ParamSpec::new("a", 1.0, 1.0, Scale::Linear, 1.0),
            ParamSpec::new("a", f64::NAN, 1.0, Scale::Linear, 0.5),
            ParamSpec::new("a", 0.0, 1.0, Scale::Log, 0.5),
            ParamSpec::new("a", 0.2, 0.8, Scale::Linear, 0.5).integer(),
            ParamSpec::new("a", 0.0, 1.0, Scale::Linear, 2.0),
        ];
        for p in bad {
            let e = p.validate().unwrap_err().to_string();
            assert!(e.contains("\"a\""), "{e}");
        }
    }
}
