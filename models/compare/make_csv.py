#!/usr/bin/env python3
"""CSV files for iforest_vs_sklearn.py besides the Equalizer's vectors.

    make_csv.py synthetic --out FILE [--seed 0]
        A classic 2-D check: 2,000 points from a standard normal plus 100 uniform
        outliers in [-6, 6]^2 for training, an independent draw of the same size for
        held-out (uniform points that land inside the Gaussian count as outliers all
        the same, so no detector reaches 1.0).

    make_csv.py odds --npz FILE.npz --out FILE
        One ODDS benchmark (arrays X and y, as in shared/data/odds): every row as
        training, no held-out rows, so both sides fit and score on the same data, as
        the isolation forest paper does.

Needs numpy.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

try:
    import numpy as np
except ImportError as e:  # pragma: no cover
    sys.exit(f"make_csv.py: needs numpy ({e}); see iforest_vs_sklearn.py's setup")


def write(path: Path, names, parts):
    """parts: (x, y, split) triples."""
    with open(path, "w") as f:
        f.write(",".join(names) + ",label,split\n")
        for x, y, split in parts:
            for row, label in zip(x, y):
                # repr() is the shortest text that parses back to the same float.
                f.write(",".join(repr(float(v)) for v in row) + f",{int(label)},{split}\n")


def synthetic(out: Path, seed: int):
    rng = np.random.default_rng(seed)

    def draw():
        normal = rng.standard_normal((2000, 2))
        outliers = rng.uniform(-6.0, 6.0, (100, 2))
        x = np.vstack([normal, outliers])
        y = np.r_[np.zeros(len(normal)), np.ones(len(outliers))]
        order = rng.permutation(len(x))
        return x[order], y[order]

    tr, ho = draw(), draw()
    write(out, ["x0", "x1"], [(tr[0], tr[1], "training"), (ho[0], ho[1], "held-out")])


def odds(npz: Path, out: Path):
    d = np.load(npz, allow_pickle=False)
    x, y = d["X"].astype(np.float64), d["y"].astype(int)
    write(out, [f"x{i}" for i in range(x.shape[1])], [(x, y, "training")])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("synthetic")
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--seed", type=int, default=0)
    o = sub.add_parser("odds")
    o.add_argument("--npz", type=Path, required=True)
    o.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    if a.cmd == "synthetic":
        synthetic(a.out, a.seed)
    else:
        odds(a.npz, a.out)


if __name__ == "__main__":
    main()
