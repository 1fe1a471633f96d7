//! Cell formatting shared by the sections: fixed precision, so a report is byte-stable,
//! and "n/a" where a value is undefined (never a misleading 0).

/// `num / den`, undefined when `den` is 0.
pub fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

/// Three decimals, or n/a.
pub fn f3(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.3}"),
        _ => "n/a".into(),
    }
}

/// A number with as many decimals as its size deserves, or n/a.
pub fn num(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => {
            let a = v.abs();
            if a >= 100.0 {
                format!("{v:.0}")
            } else if a >= 10.0 {
                format!("{v:.1}")
            } else if a >= 0.1 {
                format!("{v:.2}")
            } else {
                format!("{v:.4}")
            }
        }
        _ => "n/a".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undefined_is_not_zero() {
        assert_eq!(ratio(0, 0), None);
        assert_eq!(f3(None), "n/a");
        assert_eq!(f3(Some(f64::NAN)), "n/a");
        assert_eq!(f3(Some(0.5)), "0.500");
        assert_eq!(num(Some(1234.5)), "1234");
        assert_eq!(num(Some(12.34)), "12.3");
        assert_eq!(num(Some(0.0123)), "0.0123");
    }
}
