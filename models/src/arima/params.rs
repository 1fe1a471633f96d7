//! The unconstrained parameter vector the optimizer moves in, and the transforms that
//! keep every point of it stationary and invertible (Jones 1980, Monahan 1984): each
//! unconstrained value becomes a partial autocorrelation in (-1, 1), and the
//! Durbin-Levinson recursion turns those into polynomial coefficients, as statsmodels'
//! `constrain_stationary_univariate` does. The one difference is the map to (-1, 1):
//! tanh (Jones' map, up to a factor 2 in u) where statsmodels has u / sqrt(1 + u^2). Both cover the same open set,
//! so the maximum is the same; but an overdifferenced trend puts the MA root on the
//! unit circle, and there tanh lets the optimizer arrive in tens of iterations where
//! the algebraic map needed hundreds.

/// Largest p or q: the state has max(p, q + 1) <= 6 elements, kept on the stack.
pub const MAX_ORDER: usize = 5;

/// Where each parameter sits in the optimizer's vector: [mean?, ar.., ma..].
#[derive(Debug, Clone, Copy)]
pub(super) struct Layout {
    pub constant: bool,
    pub p: usize,
    pub q: usize,
}

/// Parameters in model space, on the stack (p, q <= MAX_ORDER).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Params {
    pub mean: f64,
    pub ar: [f64; MAX_ORDER],
    pub ma: [f64; MAX_ORDER],
}

impl Layout {
    pub fn len(&self) -> usize {
        usize::from(self.constant) + self.p + self.q
    }

    /// `mean` is added to the first element of `x` when the model has a constant, so
    /// the optimizer works on a centred, scaled series.
    pub fn constrain(&self, x: &[f64], mean0: f64, scale: f64) -> Params {
        let mut out = Params::default();
        let mut at = 0;
        if self.constant {
            out.mean = mean0 + scale * x[0];
            at = 1;
        }
        constrain_stationary(&x[at..at + self.p], &mut out.ar);
        at += self.p;
        constrain_stationary(&x[at..at + self.q], &mut out.ma);
        // statsmodels: ma = -constrain(u), since the MA polynomial has the other sign.
        for m in &mut out.ma[..self.q] {
            *m = -*m;
        }
        out
    }
}

/// Largest |partial autocorrelation| a fit produces.
const R_MAX: f64 = 1.0 - 1e-8;

/// Maps any real vector to the coefficients of a stationary AR polynomial through the
/// partial autocorrelations r = tanh(u) (Durbin-Levinson).
fn constrain_stationary(u: &[f64], out: &mut [f64; MAX_ORDER]) {
    let n = u.len();
    let mut prev = [0.0; MAX_ORDER];
    let mut cur = [0.0; MAX_ORDER];
    for k in 0..n {
        // tanh rounds to exactly 1 beyond |u| ~ 19: stay strictly inside.
        let r = u[k].tanh().clamp(-R_MAX, R_MAX);
        for i in 0..k {
            cur[i] = prev[i] + r * prev[k - i - 1];
        }
        cur[k] = r;
        prev = cur;
    }
    for i in 0..n {
        out[i] = -prev[i];
    }
}

/// Whether `ar` (phi_1..phi_p of 1 - phi_1 B - ...) is stationary: the inverse of
/// the transform must find every partial autocorrelation inside (-1, 1).
pub fn is_stationary(ar: &[f64]) -> bool {
    max_partial(ar).is_some_and(|m| m < 1.0)
}

/// The largest |partial autocorrelation| of an AR polynomial (Durbin-Levinson run
/// backwards); None for non-finite coefficients or more than MAX_ORDER of them.
pub(super) fn max_partial(ar: &[f64]) -> Option<f64> {
    let n = ar.len();
    if n > MAX_ORDER || ar.iter().any(|a| !a.is_finite()) {
        return None;
    }
    let mut y = [0.0; MAX_ORDER];
    for (yi, a) in y.iter_mut().zip(ar) {
        *yi = -a;
    }
    let mut worst = 0.0f64;
    for k in (0..n).rev() {
        let r = y[k];
        worst = worst.max(r.abs());
        if k == 0 || r.abs() >= 1.0 {
            break;
        }
        let mut next = [0.0; MAX_ORDER];
        for i in 0..k {
            next[i] = (y[i] - r * y[k - i - 1]) / (1.0 - r * r);
        }
        y = next;
    }
    Some(worst)
}

/// Whether the MA polynomial 1 + theta_1 B + ... is invertible.
pub fn is_invertible(ma: &[f64]) -> bool {
    let neg: Vec<f64> = ma.iter().map(|m| -m).collect();
    is_stationary(&neg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constrained_coefficients_are_stationary() {
        let mut out = [0.0; MAX_ORDER];
        constrain_stationary(&[0.5, -1.2, 2.0], &mut out);
        let r: Vec<f64> = [0.5f64, -1.2, 2.0].iter().map(|u| u.tanh()).collect();
        // Durbin-Levinson by hand for order 3.
        let y10 = r[1] * r[0] + r[0];
        let y11 = r[1];
        let y20 = y10 + r[2] * y11;
        let y21 = y11 + r[2] * y10;
        let want = [-y20, -y21, -r[2]];
        for i in 0..3 {
            assert!((out[i] - want[i]).abs() < 1e-15, "{i}: {out:?}");
        }
        assert!(is_stationary(&out[..3]));
        for u in [-5.0, -3.0, -0.2, 0.0, 0.7, 2.0, 4.0] {
            constrain_stationary(&[u, -u / 2.0], &mut out);
            assert!(is_stationary(&out[..2]), "{u}");
        }
        assert!(!is_stationary(&[1.0]));
        assert!(!is_stationary(&[0.5, 0.6]));
        assert!(is_stationary(&[1.2, -0.5]));
        assert!(is_invertible(&[-0.9]));
        assert!(!is_invertible(&[-1.1]));
    }
}
