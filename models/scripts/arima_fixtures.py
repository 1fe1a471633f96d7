#!/usr/bin/env python3
"""Writes models/tests/fixtures/arima/*.json: small series fitted by statsmodels' ARIMA,
the reference that models/tests/arima.rs checks qb-models' ARIMA against.

Run from anywhere (needs numpy and statsmodels: python3 -m pip install statsmodels):

    python3 models/scripts/arima_fixtures.py

Every series comes from a fixed numpy seed, so a rerun with the same statsmodels and
numpy versions rewrites identical files. statsmodels is used as its users call it
(`ARIMA(y, order=, trend=).fit()`, exact likelihood by the Kalman filter, stationarity
and invertibility enforced), except that the optimizer may run to convergence (maxiter
raised from 50) so that the reference is the maximum, not where L-BFGS stopped.
"""

import json
import pathlib
import warnings

import numpy as np
import statsmodels
from statsmodels.tsa.arima.model import ARIMA

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "arima"
STEPS = 10
ALPHA = 0.05


def arma(rng, n, ar=(), ma=(), sd=1.0, burn=200):
    """ARMA(p, q) sample, zero mean: w_t = sum ar_i w_{t-i} + e_t + sum ma_j e_{t-j}."""
    e = rng.normal(0.0, sd, n + burn)
    w = np.zeros(n + burn)
    for t in range(n + burn):
        acc = e[t]
        for i, a in enumerate(ar, 1):
            if t - i >= 0:
                acc += a * w[t - i]
        for j, m in enumerate(ma, 1):
            if t - j >= 0:
                acc += m * e[t - j]
        w[t] = acc
    return w[burn:]


def series():
    """(name, description, y, order, trend)."""
    out = []

    rng = np.random.default_rng(101)
    out.append(("ar1", "AR(1), phi 0.7, mean 10", 10.0 + arma(rng, 120, ar=(0.7,)),
                (1, 0, 0), "c"))

    rng = np.random.default_rng(102)
    out.append(("ma1", "MA(1), theta 0.5, mean -3", -3.0 + arma(rng, 100, ma=(0.5,), sd=2.0),
                (0, 0, 1), "c"))

    rng = np.random.default_rng(103)
    out.append(("arma11", "ARMA(1,1), phi 0.6, theta -0.3, mean 50",
                50.0 + arma(rng, 200, ar=(0.6,), ma=(-0.3,), sd=1.5), (1, 0, 1), "c"))

    rng = np.random.default_rng(104)
    w = 0.5 + arma(rng, 149, ar=(0.4,), ma=(0.3,))
    out.append(("arima111_drift", "ARIMA(1,1,1) with drift 0.5",
                np.concatenate([[100.0], 100.0 + np.cumsum(w)]), (1, 1, 1), "t"))

    rng = np.random.default_rng(105)
    out.append(("random_walk", "random walk, no drift",
                np.cumsum(rng.normal(0.0, 1.0, 100)), (0, 1, 0), "n"))

    rng = np.random.default_rng(106)
    t = np.arange(180)
    out.append(("leak", "leak-like: 500 + 2 t + AR(1) noise (phi 0.5, sd 4)",
                500.0 + 2.0 * t + arma(rng, 180, ar=(0.5,), sd=4.0), (1, 1, 0), "t"))

    rng = np.random.default_rng(107)
    t = np.arange(200)
    saw = 300.0 + 4.0 * (t % 25) + rng.normal(0.0, 2.0, 200)
    out.append(("sawtooth", "GC sawtooth: period 25, rise 4 per tick, noise sd 2",
                saw, (2, 0, 1), "c"))

    rng = np.random.default_rng(108)
    out.append(("flat", "flat: 800 + white noise sd 0.5", 800.0 + rng.normal(0.0, 0.5, 60),
                (1, 0, 0), "c"))

    rng = np.random.default_rng(109)
    w = arma(rng, 78, ma=(-0.4,), sd=0.3)
    out.append(("arima021", "ARIMA(0,2,1), theta -0.4 (curving upward)",
                np.concatenate([[0.0, 0.0], np.cumsum(np.cumsum(w) + 1.0)]), (0, 2, 1), "n"))

    rng = np.random.default_rng(110)
    w = arma(rng, 299, ar=(0.5, -0.3), sd=1.0)
    out.append(("arima210_300", "ARIMA(2,1,0) on 300 points, phi 0.5, -0.3",
                np.concatenate([[20.0], 20.0 + np.cumsum(w)]), (2, 1, 0), "n"))

    return out


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for name, desc, y, order, trend in series():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = ARIMA(y, order=order, trend=trend).fit(method_kwargs={"maxiter": 1000})
        fc = res.get_forecast(STEPS)
        ci = fc.conf_int(alpha=ALPHA)
        doc = {
            "name": name,
            "description": desc,
            "statsmodels": statsmodels.__version__,
            "numpy": np.__version__,
            "order": list(order),
            "trend": trend,
            "series": [float(v) for v in y],
            "param_names": list(res.model.param_names),
            "params": [float(v) for v in res.params],
            "converged": bool(res.mle_retvals.get("converged", False)),
            "llf": float(res.llf),
            "aic": float(res.aic),
            "aicc": float(res.aicc),
            "bic": float(res.bic),
            "nobs_effective": int(res.nobs_effective),
            "forecast_steps": STEPS,
            "alpha": ALPHA,
            "forecast_mean": [float(v) for v in fc.predicted_mean],
            "forecast_lower": [float(v) for v in ci[:, 0]],
            "forecast_upper": [float(v) for v in ci[:, 1]],
        }
        path = OUT / f"{name}.json"
        path.write_text(json.dumps(doc, indent=1) + "\n")
        print(f"{name:16} order={order} trend={trend} llf={res.llf:.4f} "
              f"params={np.round(res.params, 4).tolist()} converged={doc['converged']}")


if __name__ == "__main__":
    main()
