#!/usr/bin/env bash
# The `make demo` chain on the synthetic example world (CPU, `fast` profile), ≤ 10 minutes on 2 cores:
# synth → preprocess → train → expand → train-au → report. Usage: examples/demo.sh FACEAUG_BIN OUT_DIR
set -euo pipefail
FACEAUG=${1:-faceaug}
OUT=${2:-demo-out}
TRAIN_MINUTES=${DEMO_TRAIN_MINUTES:-5}
HERE=$(cd "$(dirname "$0")" && pwd)
start=$(date +%s)
step() { echo; echo "== [$(( $(date +%s) - start )) s] $* =="; }

step "1/6 synth: a synthetic face world with known AUs (12 subjects x 8 expressions x 3)"
"$FACEAUG" synth "$OUT/data" --subjects 12 --per-class 3 --size 128 --seed 0 --overwrite

step "2/6 preprocess: parse the OpenFace CSVs, align the faces"
"$FACEAUG" preprocess "$OUT/data" --out "$OUT/work" --labels "$OUT/data/labels.csv" --seed 0 --overwrite

step "3/6 train: GANimation, fast profile + examples/demo.toml, at most ${TRAIN_MINUTES} minutes"
"$FACEAUG" train "$OUT/work" --config "$HERE/demo.toml" --max-minutes "$TRAIN_MINUTES" --seed 0

step "4/6 expand: 12 new happy and 12 new surprised faces, each a GANimation edit of a different training face (variants fill in past one edit per face)"
"$FACEAUG" expand "$OUT/work" --au-preset happy,surprise --per-class 12 --out "$OUT/expanded" --seed 0 --overwrite

step "5/6 train-au: the AU estimator the report judges edits with (a CNN on the real training faces)"
"$FACEAUG" train-au "$OUT/work" --seed 0

step "6/6 report: verdict, counts, contact sheets, achieved AUs, variety -> report.html"
"$FACEAUG" report "$OUT/expanded"

step "done"
echo "manifest: $OUT/expanded/manifest.parquet"
echo "images:   $OUT/expanded/images/"
echo "training samples (source | preset edits | attention): $OUT/work/models/samples/"
echo "report:   $OUT/expanded/report.html"
