//! A small quasi-Newton minimiser: BFGS on the inverse Hessian, central-difference
//! gradients and a backtracking (Armijo) line search. The ARIMA objectives have at
//! most 11 parameters and cost microseconds, so simplicity beats cleverness here.
//! A non-finite objective value counts as "worse than anything": the line search
//! backs off from it.

#[derive(Debug, Clone)]
pub(super) struct Minimum {
    pub x: Vec<f64>,
    pub f: f64,
    pub iterations: usize,
    /// The gradient fell under the tolerance (or the function stopped moving).
    pub converged: bool,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Settings {
    pub max_iter: usize,
    /// Stop when every gradient component is below this.
    pub gtol: f64,
    /// Or when two steps in a row lower f by less than this, relative to max(|f|, 1).
    pub ftol: f64,
}

fn gradient(f: &mut impl FnMut(&[f64]) -> f64, x: &[f64], fx: f64, g: &mut [f64]) {
    let mut xs = x.to_vec();
    for i in 0..x.len() {
        let h = 1e-5 * x[i].abs().max(1.0);
        xs[i] = x[i] + h;
        let up = f(&xs);
        xs[i] = x[i] - h;
        let down = f(&xs);
        xs[i] = x[i];
        g[i] = match (up.is_finite(), down.is_finite()) {
            (true, true) => (up - down) / (2.0 * h),
            (true, false) => (up - fx) / h,
            (false, true) => (fx - down) / h,
            (false, false) => 0.0,
        };
    }
}

pub(super) fn minimize(
    mut f: impl FnMut(&[f64]) -> f64,
    x0: &[f64],
    settings: Settings,
) -> Minimum {
    let n = x0.len();
    let mut x = x0.to_vec();
    let mut fx = f(&x);
    if n == 0 || !fx.is_finite() {
        return Minimum {
            x,
            f: fx,
            iterations: 0,
            converged: n == 0,
        };
    }
    let identity = |h: &mut Vec<f64>| {
        h.iter_mut().for_each(|v| *v = 0.0);
        for i in 0..n {
            h[i * n + i] = 1.0;
        }
    };
    let mut h = vec![0.0; n * n];
    identity(&mut h);
    let mut g = vec![0.0; n];
    gradient(&mut f, &x, fx, &mut g);
    let mut stalls = 0;
    for it in 0..settings.max_iter {
        if g.iter().all(|v| v.abs() < settings.gtol) {
            return Minimum {
                x,
                f: fx,
                iterations: it,
                converged: true,
            };
        }
        let mut dir: Vec<f64> = (0..n)
            .map(|i| -(0..n).map(|j| h[i * n + j] * g[j]).sum::<f64>())
            .collect();
        let mut slope: f64 = dir.iter().zip(&g).map(|(d, g)| d * g).sum();
        if slope >= 0.0 {
            // Not a descent direction: the curvature estimate went bad, start over.
            identity(&mut h);
            dir = g.iter().map(|v| -v).collect();
            slope = -g.iter().map(|v| v * v).sum::<f64>();
        }
        // A first step of at most 1 in any coordinate keeps the search inside the
        // region where the transforms are well conditioned.
        let longest = dir.iter().fold(0.0f64, |m, d| m.max(d.abs()));
        let mut step = if longest > 1.0 { 1.0 / longest } else { 1.0 };
        let mut accepted = None;
        for _ in 0..40 {
            let trial: Vec<f64> = x.iter().zip(&dir).map(|(x, d)| x + step * d).collect();
            let ft = f(&trial);
            if ft.is_finite() && ft <= fx + 1e-4 * step * slope {
                accepted = Some((trial, ft));
                break;
            }
            step *= 0.5;
        }
        let Some((xn, fnew)) = accepted else {
            // No decrease along the best direction we have: a minimum to the
            // precision of the numeric gradient.
            return Minimum {
                x,
                f: fx,
                iterations: it,
                converged: true,
            };
        };
        let mut gn = vec![0.0; n];
        gradient(&mut f, &xn, fnew, &mut gn);
        let s: Vec<f64> = xn.iter().zip(&x).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = gn.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy: f64 = s.iter().zip(&y).map(|(a, b)| a * b).sum();
        if sy > 1e-12 {
            // H <- (I - rho s y') H (I - rho y s') + rho s s'
            let rho = 1.0 / sy;
            let hy: Vec<f64> = (0..n)
                .map(|i| (0..n).map(|j| h[i * n + j] * y[j]).sum())
                .collect();
            let yhy: f64 = y.iter().zip(&hy).map(|(a, b)| a * b).sum();
            for i in 0..n {
                for j in 0..n {
                    h[i * n + j] += -rho * (hy[i] * s[j] + s[i] * hy[j])
                        + (rho * rho * yhy + rho) * s[i] * s[j];
                }
            }
        }
        // As L-BFGS-B's factr (statsmodels' optimizer): stop when f stops moving. Near
        // a boundary (an MA unit root, typical of a differenced trend) the gradient
        // in the transformed space vanishes only slowly; the likelihood is flat there.
        let tiny = (fx - fnew).abs() <= settings.ftol * fx.abs().max(fnew.abs()).max(1.0);
        stalls = if tiny { stalls + 1 } else { 0 };
        x = xn;
        fx = fnew;
        g = gn;
        if stalls >= 2 {
            return Minimum {
                x,
                f: fx,
                iterations: it + 1,
                converged: true,
            };
        }
    }
    Minimum {
        x,
        f: fx,
        iterations: settings.max_iter,
        converged: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_rosenbrock_minimum() {
        let rosen = |x: &[f64]| (1.0 - x[0]).powi(2) + 100.0 * (x[1] - x[0] * x[0]).powi(2);
        let m = minimize(
            rosen,
            &[-1.2, 1.0],
            Settings {
                max_iter: 500,
                gtol: 1e-8,
                ftol: 1e-15,
            },
        );
        assert!(m.converged, "{m:?}");
        assert!(
            (m.x[0] - 1.0).abs() < 1e-4 && (m.x[1] - 1.0).abs() < 1e-4,
            "{m:?}"
        );
    }

    #[test]
    fn backs_off_from_non_finite_values() {
        let f = |x: &[f64]| {
            if x[0] > 2.0 {
                f64::NAN
            } else {
                (x[0] - 1.5).powi(2)
            }
        };
        let m = minimize(
            f,
            &[0.0],
            Settings {
                max_iter: 100,
                gtol: 1e-9,
                ftol: 1e-15,
            },
        );
        assert!((m.x[0] - 1.5).abs() < 1e-6, "{m:?}");
    }
}
