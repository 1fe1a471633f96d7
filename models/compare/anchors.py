#!/usr/bin/env python3
"""The anchors' side of `qbranch anchors` (issue 9): scikit-learn, statsmodels and
PyTorch on the CSVs `qbranch anchors` exported, with the hyperparameters it wrote.

    anchors.py run --dir DIR

reads DIR/params.json and DIR/{equalizer,pathologist,arima,lstm}.csv (features...,
targets..., split) and writes, for each anchor, its predictions for the held-out rows
(DIR/pred/<key>.txt, one number per line) and its times (the thread's CPU time,
`time.thread_time`, and the wall clock) into DIR/python.json. `qbranch` scores both
sides' predictions with the same code. An anchor whose library is missing, or that
fails, is reported as skipped with the reason: this script never fails for that.

- equalizer: `sklearn.ensemble.IsolationForest(n_estimators, max_samples, random_state,
  n_jobs=1)` fitted on every training row, scoring `-score_samples` in one call.
- pathologist: `sklearn.ensemble.RandomForestClassifier` with our forest's trees, depth,
  min split, features per split and bootstrap sample size.
- arima: `statsmodels.tsa.arima.model.ARIMA` with the trainer's order and trend
  ("c" for d = 0, "t" for d = 1, as ours), fitted per window, forecast `horizon` ahead.
- lstm: a `torch.nn.LSTM` with the same shape, initialisation, loss (BCE on P(OOM) plus
  0.1 x the masked squared error of ln ETA), AdamW, batch size, epochs and standardisation
  as `qb_trainer::lstm`; predicting the held-out sequences in one batch.
- odds: the paper's ODDS sets turned into CSV (make_csv.py's format) for both sides,
  and scikit-learn's IsolationForest fitted and scored on every row.

Everything runs on one thread (OMP/MKL/OpenBLAS threads = 1, torch.set_num_threads(1)).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import importlib
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
            "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(var, "1")

HERE = Path(__file__).resolve().parent


def have(module: str) -> bool:
    try:
        importlib.import_module(module)
        return True
    except Exception:  # a broken install counts as missing
        return False


def version(dist: str):
    try:
        from importlib.metadata import version as v
        return v(dist)
    except Exception:
        return None


def software():
    out = {"python": platform.python_version()}
    for dist in ("numpy", "scikit-learn", "statsmodels", "torch"):
        out[dist] = version(dist)
    return out


def load(path: Path):
    """(names, values [rows x cols] float64 with NaN for empty cells, held_out bool)."""
    import numpy as np
    if have("pandas"):
        import pandas as pd
        df = pd.read_csv(path)
        held = (df.pop("split") == "held-out").to_numpy()
        return list(df.columns), df.to_numpy(dtype=np.float64), held
    with open(path, newline="") as f:
        r = csv.reader(f)
        names = next(r)[:-1]
        rows, held = [], []
        for rec in r:
            rows.append([float(v) if v else float("nan") for v in rec[:-1]])
            held.append(rec[-1] == "held-out")
    return names, np.array(rows, dtype=np.float64).reshape(-1, len(names)), np.array(held)


class Clock:
    """Thread CPU time and wall clock of a block."""

    def __enter__(self):
        self.c, self.w = time.thread_time(), time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.cpu = time.thread_time() - self.c
        self.wall = time.perf_counter() - self.w


def save(dirpath: Path, key: str, values) -> str:
    import numpy as np
    rel = f"pred/{key}.txt"
    (dirpath / "pred").mkdir(exist_ok=True)
    np.savetxt(dirpath / rel, np.asarray(values, dtype=np.float64), fmt="%.17g")
    return rel


def result(impl, fit, predict, dirpath, key, pred, failures=0):
    return {
        "impl": impl,
        "fit_s": fit.cpu, "fit_wall_s": fit.wall,
        "predict_s": predict.cpu, "predict_wall_s": predict.wall,
        "rows": len(pred), "predictions": save(dirpath, key, pred), "failures": failures,
    }


def split(dirpath: Path, params, key: str, features: int):
    names, v, held = load(dirpath / params["files"][key])
    return names, v[~held], v[held], features


def equalizer(dirpath, params):
    from sklearn.ensemble import IsolationForest
    p = params["iforest"]
    _, tr, te, d = split(dirpath, params, "equalizer", p["features"])
    model = IsolationForest(n_estimators=p["trees"], max_samples=p["subsample"],
                            random_state=params["seed"], n_jobs=1)
    with Clock() as fit:
        model.fit(tr[:, :d])
    with Clock() as pr:
        pred = -model.score_samples(te[:, :d])
    return result("sklearn.ensemble.IsolationForest", fit, pr, dirpath, "equalizer", pred)


def pathologist(dirpath, params):
    from sklearn.ensemble import RandomForestClassifier
    p = params["forest"]
    names, tr, te, d = split(dirpath, params, "pathologist", p["features"])
    y = names.index("label")
    n = len(tr)
    model = RandomForestClassifier(
        n_estimators=p["trees"], max_depth=p["max_depth"], min_samples_split=p["min_split"],
        max_features=p["features_per_split"] or "sqrt", bootstrap=True,
        max_samples=p["sample_size"] if 0 < p["sample_size"] < n else None,
        random_state=params["seed"], n_jobs=1)
    with Clock() as fit:
        model.fit(tr[:, :d], tr[:, y].astype(int))
    with Clock() as pr:
        pred = model.predict(te[:, :d])
    return result("sklearn.ensemble.RandomForestClassifier", fit, pr, dirpath, "pathologist", pred)


def arima(dirpath, params):
    from statsmodels.tsa.arima.model import ARIMA
    p = params["arima"]
    order, w, h = tuple(p["order"]), p["window"], p["horizon"]
    trend = ("c" if order[1] == 0 else "t") if p["constant"] else "n"
    _, _, te, _ = split(dirpath, params, "arima", w)
    fit, pr = Clock(), Clock()
    fit.cpu = fit.wall = pr.cpu = pr.wall = 0.0
    pred, failures = [], 0
    for row in te:
        series = row[:w]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with Clock() as f:
                    res = ARIMA(series, order=order, trend=trend).fit()
                fit.cpu += f.cpu
                fit.wall += f.wall
                with Clock() as c:
                    value = float(res.forecast(h)[-1])
                pr.cpu += c.cpu
                pr.wall += c.wall
        except Exception:
            value, failures = float(series[-1]), failures + 1
        pred.append(value)
    return result("statsmodels.tsa.arima.model.ARIMA", fit, pr, dirpath, "arima", pred, failures)


def lstm(dirpath, params):
    import numpy as np
    import torch
    torch.set_num_threads(1)
    p = params["lstm"]
    steps, feats, hidden = p["sequence"], p["features"], p["hidden"]
    names, tr, te, _ = split(dirpath, params, "lstm", steps * feats)
    eta_col, label_col = names.index("log_eta"), names.index("label")
    torch.manual_seed(params["seed"])
    gen = torch.Generator().manual_seed(params["seed"])

    def seqs(v):
        return v[:, :steps * feats].reshape(-1, steps, feats).astype(np.float32)

    xtr, xte = seqs(tr), seqs(te)
    rows = xtr.reshape(-1, feats).astype(np.float64)
    mean, std = rows.mean(axis=0), rows.std(axis=0)
    std[std <= 1e-6] = 1.0
    mean, std = torch.tensor(mean, dtype=torch.float32), torch.tensor(std, dtype=torch.float32)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(feats, hidden, batch_first=True)
            self.prob = torch.nn.Linear(hidden, 1)
            self.eta = torch.nn.Linear(hidden, 1)
            bound = 1.0 / hidden ** 0.5
            with torch.no_grad():
                for name, prm in self.named_parameters():
                    if name == "lstm.bias_ih_l0":
                        prm.zero_()
                        prm[hidden:2 * hidden] = 1.0
                    elif name == "lstm.bias_hh_l0":
                        prm.zero_()
                    else:
                        prm.uniform_(-bound, bound, generator=gen)

        def forward(self, x):
            out, _ = self.lstm((x - mean) / std)
            h = out[:, -1, :]
            return self.prob(h).squeeze(-1), self.eta(h).squeeze(-1)

    net = Net()
    opt = torch.optim.AdamW(net.parameters(), lr=p["learning_rate"], weight_decay=p["weight_decay"])
    x = torch.tensor(xtr)
    y = torch.tensor(tr[:, label_col], dtype=torch.float32)
    eta_raw = tr[:, eta_col]
    mask = torch.tensor(~np.isnan(eta_raw), dtype=torch.float32)
    eta = torch.tensor(np.nan_to_num(eta_raw, nan=0.0), dtype=torch.float32)
    bce = torch.nn.BCEWithLogitsLoss()
    with Clock() as fit:
        for _ in range(p["epochs"]):
            order = torch.randperm(len(x), generator=gen)
            for i in range(0, len(x), p["batch"]):
                idx = order[i:i + p["batch"]]
                logit, log_eta = net(x[idx])
                m = mask[idx]
                err = (((log_eta - eta[idx]) ** 2) * m).sum() / m.sum().clamp(min=1.0)
                loss = bce(logit, y[idx]) + p["eta_weight"] * err
                opt.zero_grad()
                loss.backward()
                opt.step()
    with Clock() as pr, torch.no_grad():
        logit, _ = net(torch.tensor(xte))
        pred = torch.sigmoid(logit).numpy()
    return result(f"torch.nn.LSTM (torch {torch.__version__})", fit, pr, dirpath, "lstm", pred)


def odds(dirpath, params):
    spec = params["odds"]
    src = Path(spec["dir"])
    if not have("numpy"):
        return {"status": "skipped", "reason": f"numpy is not installed in {sys.executable}", "sets": []}
    if not src.is_dir():
        return {"status": "skipped", "reason": f"no ODDS data at {src}", "sets": []}
    import numpy as np
    sys.path.insert(0, str(HERE))
    from make_csv import write  # the format the older comparison scripts read too
    sk = have("sklearn")
    out = dirpath / "odds"
    out.mkdir(exist_ok=True)
    sets = []
    for s in spec["sets"]:
        npz = src / s["file"]
        if not npz.is_file():
            continue
        d = np.load(npz, allow_pickle=False)
        x, y = d["X"].astype(np.float64), d["y"].astype(int)
        # make_csv's label column is `label`; the split column is the same.
        csv_rel = f"odds/{s['dataset']}.csv"
        write(dirpath / csv_rel, [f"x{i}" for i in range(x.shape[1])], [(x, y, "training")])
        entry = {"dataset": s["dataset"], "csv": csv_rel, "rows": len(x), "dims": x.shape[1],
                 "sklearn": None, "sklearn_skipped": None}
        if sk:
            from sklearn.ensemble import IsolationForest
            p = params["iforest"]
            model = IsolationForest(n_estimators=p["trees"], max_samples=p["subsample"],
                                    random_state=params["seed"], n_jobs=1)
            with Clock() as fit:
                model.fit(x)
            with Clock() as pr:
                pred = -model.score_samples(x)
            entry["sklearn"] = {"fit_s": fit.cpu, "fit_wall_s": fit.wall, "predict_s": pr.cpu,
                                "predictions": save(dirpath, f"odds_{s['dataset']}", pred)}
        else:
            entry["sklearn_skipped"] = f"scikit-learn is not installed in {sys.executable}"
        sets.append(entry)
    if not sets:
        return {"status": "skipped", "reason": f"none of the sets is in {src}", "sets": []}
    return {"status": "measured", "reason": None, "sets": sets}


ANCHORS = [
    # key, model, anchor, the function, the modules it needs
    ("equalizer", "isolation forest", "scikit-learn", equalizer, ["numpy", "sklearn"]),
    ("pathologist", "random forest", "scikit-learn", pathologist, ["numpy", "sklearn"]),
    ("arima", "ARIMA", "statsmodels", arima, ["numpy", "statsmodels"]),
    ("lstm", "LSTM", "PyTorch", lstm, ["numpy", "torch"]),
]


def run(dirpath: Path, only=None):
    params = json.loads((dirpath / "params.json").read_text())
    report = {"software": software(), "anchors": {}, "skipped": []}
    for key, model, anchor, fn, needs in ANCHORS:
        if only and key not in only:
            continue
        missing = [m for m in needs if not have(m)]
        if missing:
            names = ", ".join("scikit-learn" if m == "sklearn" else m for m in missing)
            reason = f"{names} {'is' if len(missing) == 1 else 'are'} not installed in {sys.executable}"
        else:
            print(f"anchors.py: {model} ({anchor})", file=sys.stderr, flush=True)
            try:
                report["anchors"][key] = fn(dirpath, params)
                continue
            except Exception as e:  # recorded, never fatal
                reason = f"{anchor} failed: {type(e).__name__}: {e}"
        report["skipped"].append({"key": key, "model": model, "anchor": anchor, "reason": reason})
    try:
        report["odds"] = odds(dirpath, params)
    except Exception as e:
        report["odds"] = {"status": "skipped", "reason": f"{type(e).__name__}: {e}", "sets": []}
    (dirpath / "python.json").write_text(json.dumps(report, indent=2) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="every anchor on the CSVs in DIR")
    r.add_argument("--dir", type=Path, required=True)
    r.add_argument("--only", nargs="*", help="these anchors only (equalizer pathologist arima lstm)")
    a = ap.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        run(a.dir, a.only)


if __name__ == "__main__":
    main()
