#!/usr/bin/env bash
# Every comparison in RESULTS.md, from the repository root:
#
#   models/compare/run_all.sh OUT [DATASETS]
#
# DATASETS: a standard set (default datasets/standard). Builds the two examples
# (release), writes the Equalizer's vectors, a synthetic set and ODDS CSVs into OUT,
# and runs iforest_vs_sklearn.py on each (tables on stdout and OUT/*.md, every number
# in OUT/*.json). PYTHON (default /work/venv-sklearn/bin/python) must have numpy and
# scikit-learn; ODDS (default ../shared/data/odds) is skipped when absent; REPEATS,
# AUC_SEEDS and ODDS_SETS override the defaults below.
set -euo pipefail

out=${1:?usage: models/compare/run_all.sh OUT [DATASETS]}
data=${2:-datasets/standard}
py=${PYTHON:-/work/venv-sklearn/bin/python}
odds=${ODDS:-../shared/data/odds}
repeats=${REPEATS:-7}
auc_seeds=${AUC_SEEDS:-10}
odds_sets=${ODDS_SETS:-"4_breastw 29_Pima 18_Ionosphere 30_satellite 2_annthyroid 23_mammography 32_shuttle 34_smtp 10_cover 16_http"}
target=${CARGO_TARGET_DIR:-target}
here=models/compare

"$py" -c 'import numpy, sklearn' 2>/dev/null || {
    echo "run_all.sh: $py has no numpy/scikit-learn; see $here/README.md" >&2
    exit 2
}
mkdir -p "$out"
cargo build --release -p qb-models --example iforest_time
cargo build --release -p qb-trainer --example equalizer_vectors

"$target/release/examples/equalizer_vectors" --data "$data" --out "$out/equalizer.csv"
"$py" "$here/make_csv.py" synthetic --out "$out/synthetic.csv"
compare() {
    local name=$1
    shift
    "$py" "$here/iforest_vs_sklearn.py" "$@" --bin "$target/release/examples/iforest_time" \
        --repeats "$repeats" --auc-seeds "$auc_seeds" --json-out "$out/$name.json" |
        tee "$out/$name.md"
}
compare equalizer "$out/equalizer.csv"
compare synthetic "$out/synthetic.csv"

if [ -d "$odds" ]; then
    csvs=()
    for s in $odds_sets; do
        "$py" "$here/make_csv.py" odds --npz "$odds/$s.npz" --out "$out/odds-$s.csv"
        csvs+=("$out/odds-$s.csv")
    done
    compare odds "${csvs[@]}"
else
    echo "run_all.sh: no ODDS data at $odds; skipped" >&2
fi
