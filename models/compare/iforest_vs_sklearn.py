#!/usr/bin/env python3
"""Our isolation forest (qb_models::iforest) next to scikit-learn's on the same CSV.

The CSV has a header; its last two columns are the label (1 anomalous, 0 normal) and the
split (`training` or `held-out`); every other column is a feature. `qb-trainer`'s
`equalizer_vectors` example writes the Equalizer's vectors in this format, `make_csv.py`
a synthetic set and ODDS benchmarks.

Both forests: 100 trees, subsample 256, fitted on every training row (labels unused),
scored on the held-out rows (on the training rows when the file has no held-out rows:
fit and score on the same data, as in the paper). Ours runs as the release binary of
`models/examples/iforest_time.rs` (one `score` call per row); scikit-learn's as
`IsolationForest(n_estimators=100, max_samples=256, random_state=SEED, n_jobs=1)`,
scored with `-score_samples` (higher is more anomalous) in one batch call, and again
one row per call for `--single-rows` rows. Times are medians over `--repeats`
(single-row: the median over its calls), both as the thread's CPU time (what a shared
machine's other load disturbs least) and as wall-clock time; AUC with `--seed`, and
mean/min/max over seeds 0..`--auc-seeds`. Everything runs on one thread.

Needs numpy and scikit-learn (a venv: `python3 -m venv /work/venv-sklearn &&
/work/venv-sklearn/bin/pip install scikit-learn numpy`) and the built example:
`cargo build --release -p qb-models --example iforest_time`.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

# One thread everywhere: ours is single-threaded and the comparison is per core.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

try:
    import numpy as np
    import sklearn
    from sklearn.ensemble import IsolationForest
    from sklearn.metrics import roc_auc_score
except ImportError as e:  # pragma: no cover - the message is the point
    sys.exit(
        f"iforest_vs_sklearn.py: needs numpy and scikit-learn ({e}).\n"
        "  python3 -m venv /work/venv-sklearn\n"
        "  /work/venv-sklearn/bin/pip install scikit-learn numpy\n"
        "and run this script with /work/venv-sklearn/bin/python."
    )

REPO = Path(__file__).resolve().parents[2]


def default_bin() -> Path:
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "release" / "examples" / "iforest_time"


def load(path: Path):
    with open(path, newline="") as f:
        r = csv.reader(f)
        header = next(r)
        dims = len(header) - 2
        if dims < 1:
            sys.exit(f"{path}: header {header} has no feature columns")
        rows = {"training": ([], []), "held-out": ([], [])}
        for i, rec in enumerate(r, start=2):
            if len(rec) != len(header):
                sys.exit(f"{path}: line {i}: {len(rec)} columns, header has {len(header)}")
            x, y = rows[rec[-1]]
            x.append([float(v) for v in rec[:dims]])
            y.append(rec[-2] == "1")
    out = {k: (np.array(x, dtype=np.float64).reshape(-1, dims), np.array(y, dtype=bool))
           for k, (x, y) in rows.items()}
    return header[:dims], out


def auc_or_none(y, scores):
    return float(roc_auc_score(y, scores)) if 0 < y.sum() < len(y) else None


def sklearn_run(xtr, xev, yev, seed, repeats, auc_seeds, single_rows):
    def model(s):
        return IsolationForest(n_estimators=100, max_samples=256, random_state=s, n_jobs=1)

    # Warm-up, as the Rust side does.
    clf = model(seed).fit(xtr)
    auc = auc_or_none(yev, -clf.score_samples(xev))
    fit_ms, batch_us, fit_cpu_ms, batch_cpu_us = [], [], [], []
    for _ in range(repeats):
        c, t = time.thread_time(), time.perf_counter()
        clf = model(seed).fit(xtr)
        fit_ms.append((time.perf_counter() - t) * 1e3)
        fit_cpu_ms.append((time.thread_time() - c) * 1e3)
        c, t = time.thread_time(), time.perf_counter()
        clf.score_samples(xev)
        batch_us.append((time.perf_counter() - t) * 1e6 / len(xev))
        batch_cpu_us.append((time.thread_time() - c) * 1e6 / len(xev))
    single, single_cpu = [], []
    for i in range(min(single_rows, len(xev))):
        row = xev[i:i + 1]
        c, t = time.thread_time(), time.perf_counter()
        clf.score_samples(row)
        single.append((time.perf_counter() - t) * 1e6)
        single_cpu.append((time.thread_time() - c) * 1e6)
    aucs = [auc_or_none(yev, -model(s).fit(xtr).score_samples(xev)) for s in range(auc_seeds)]
    aucs = [a for a in aucs if a is not None]
    return {
        "implementation": f"scikit-learn {sklearn.__version__} (numpy {np.__version__})",
        "fit_ms": statistics.median(fit_ms),
        "fit_ms_all": fit_ms,
        "score_us_per_row": statistics.median(batch_us),
        "score_us_per_row_all": batch_us,
        "fit_cpu_ms": statistics.median(fit_cpu_ms),
        "fit_cpu_ms_all": fit_cpu_ms,
        "score_cpu_us_per_row": statistics.median(batch_cpu_us),
        "score_cpu_us_per_row_all": batch_cpu_us,
        "score_single_row_us": statistics.median(single) if single else None,
        "score_single_row_cpu_us": statistics.median(single_cpu) if single else None,
        "single_rows": len(single),
        "auc": auc,
        "auc_seeds": {
            "n": len(aucs),
            "mean": statistics.fmean(aucs) if aucs else None,
            "min": min(aucs) if aucs else None,
            "max": max(aucs) if aucs else None,
        },
    }


def ours_run(binary: Path, csv_path: Path, seed, repeats, auc_seeds):
    if not binary.is_file():
        sys.exit(
            f"iforest_vs_sklearn.py: no {binary}; build it with\n"
            "  cargo build --release -p qb-models --example iforest_time\n"
            "(or pass --bin)"
        )
    cmd = [str(binary), "--csv", str(csv_path), "--seed", str(seed),
           "--repeats", str(repeats), "--auc-seeds", str(auc_seeds)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"iforest_vs_sklearn.py: {' '.join(cmd)} failed:\n{p.stderr}")
    return json.loads(p.stdout)


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def table(name, ours, sk, args):
    def ratio(a, b):
        return "-" if not a or not b else f"{b / a:.1f}x"

    oa, sa = ours["auc_seeds"], sk["auc_seeds"]
    lines = [
        f"### {name}",
        "",
        f"{ours['training_rows']} training rows, {ours['eval_rows']} scored "
        f"({ours['eval_split']}, {ours['eval_anomalies']} anomalous), {ours['dims']} features; "
        f"100 trees, subsample 256; {ours['nodes']} nodes in our forest; times: median of "
        f"{args.repeats}, CPU time of the thread and wall clock.",
        "",
        "| | ours (Rust) | scikit-learn | scikit-learn / ours |",
        "| --- | --- | --- | --- |",
        f"| fit, ms, CPU time: median | {ours['fit_cpu_ms']:.2f} | {sk['fit_cpu_ms']:.2f} "
        f"| {ratio(ours['fit_cpu_ms'], sk['fit_cpu_ms'])} |",
        f"| fit, ms, wall clock: median (min) | {ours['fit_ms']:.2f} ({min(ours['fit_ms_all']):.2f}) "
        f"| {sk['fit_ms']:.2f} ({min(sk['fit_ms_all']):.2f}) | {ratio(ours['fit_ms'], sk['fit_ms'])} |",
        f"| score all rows, µs/row, CPU time: median | {ours['score_cpu_us_per_row']:.3f} "
        f"| {sk['score_cpu_us_per_row']:.3f} "
        f"| {ratio(ours['score_cpu_us_per_row'], sk['score_cpu_us_per_row'])} |",
        f"| score all rows, µs/row, wall clock: median (min) "
        f"| {ours['score_us_per_row']:.3f} ({min(ours['score_us_per_row_all']):.3f}) "
        f"| {sk['score_us_per_row']:.3f} ({min(sk['score_us_per_row_all']):.3f}) "
        f"| {ratio(ours['score_us_per_row'], sk['score_us_per_row'])} |",
        f"| score one row alone, µs, CPU (wall) | {ours['score_cpu_us_per_row']:.3f} (the same call) "
        f"| {fmt(sk['score_single_row_cpu_us'], '.0f')} ({fmt(sk['score_single_row_us'], '.0f')}; "
        f"median of {sk['single_rows']} calls) "
        f"| {ratio(ours['score_cpu_us_per_row'], sk['score_single_row_cpu_us'])} |",
        f"| ROC AUC, seed {args.seed} | {fmt(ours['auc'], '.4f')} | {fmt(sk['auc'], '.4f')} "
        f"| {'-' if ours['auc'] is None or sk['auc'] is None else format(sk['auc'] - ours['auc'], '+.4f')} |",
        f"| ROC AUC, mean of seeds 0..{args.auc_seeds - 1} (min / max) "
        f"| {fmt(oa['mean'], '.4f')} ({fmt(oa['min'], '.4f')} / {fmt(oa['max'], '.4f')}) "
        f"| {fmt(sa['mean'], '.4f')} ({fmt(sa['min'], '.4f')} / {fmt(sa['max'], '.4f')}) "
        f"| {'-' if oa['mean'] is None or sa['mean'] is None else format(sa['mean'] - oa['mean'], '+.4f')} |",
        "",
    ]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("csv", nargs="+", type=Path, help="CSV files (features..., label, split)")
    ap.add_argument("--bin", type=Path, default=default_bin(),
                    help="the iforest_time example binary (default: %(default)s)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--seed", type=int, default=1,
                    help="the seed timed and reported (1: the shipped Equalizer model's)")
    ap.add_argument("--auc-seeds", type=int, default=10)
    ap.add_argument("--single-rows", type=int, default=200,
                    help="held-out rows scored one per scikit-learn call")
    ap.add_argument("--json-out", type=Path, help="also write every number here")
    args = ap.parse_args()
    if args.repeats < 1 or args.auc_seeds < 1:
        sys.exit("--repeats and --auc-seeds must be at least 1")

    results = {}
    for path in args.csv:
        _, data = load(path)
        xtr, _ = data["training"]
        xev, yev = data["held-out"] if len(data["held-out"][1]) else data["training"]
        if len(xtr) == 0:
            sys.exit(f"{path}: no training rows")
        ours = ours_run(args.bin, path, args.seed, args.repeats, args.auc_seeds)
        if ours["eval_rows"] != len(xev) or ours["training_rows"] != len(xtr):
            sys.exit(f"{path}: the two sides read different rows ({ours} vs {len(xtr)}/{len(xev)})")
        sk = sklearn_run(xtr, xev, yev, args.seed, args.repeats, args.auc_seeds, args.single_rows)
        results[path.name] = {"ours": ours, "sklearn": sk}
        print(table(path.name, ours, sk, args), flush=True)
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
