#!/usr/bin/env bash
# The `make demo` chain (CPU, `fast` profile), ≤ 12 minutes on 2 cores. First the user's flow with the editor bundled
# in faceaug on a real public-domain face (skimage's astronaut, in colour): preprocess → expand every preset →
# report, no train step. Then the training chain on the synthetic example world: synth → preprocess → train →
# expand → train-au → report. Usage: examples/demo.sh FACEAUG_BIN OUT_DIR
set -euo pipefail
FACEAUG=${1:-faceaug}
OUT=${2:-demo-out}
TRAIN_MINUTES=${DEMO_TRAIN_MINUTES:-5}
HERE=$(cd "$(dirname "$0")" && pwd)
start=$(date +%s)
step() { echo; echo "== [$(( $(date +%s) - start )) s] $* =="; }

PYTHON=$(dirname "$FACEAUG")/python
[ -x "$PYTHON" ] || PYTHON=python3

step "0/6 the bundled editor on a real face: preprocess → expand (every preset, in colour, 128 px) → report"
"$PYTHON" "$HERE/astronaut.py" "$OUT/astronaut-data"
"$FACEAUG" preprocess "$OUT/astronaut-data" --out "$OUT/astronaut-work" --aus-from-labels --size 128 --seed 0 --overwrite
# every preset, shown whatever the judge reads (--min-target-probability 0); a dataset keeps the default gate
"$FACEAUG" expand "$OUT/astronaut-work" --au-preset all --per-class 1 --samples-per-edit 0 --min-target-probability 0 \
    --out "$OUT/astronaut-expanded" --seed 0 --overwrite
"$FACEAUG" report "$OUT/astronaut-expanded"

step "1/6 synth: a synthetic face world with known AUs (12 subjects x 8 expressions x 3)"
"$FACEAUG" synth "$OUT/data" --subjects 12 --per-class 3 --size 128 --seed 0 --overwrite

step "2/6 preprocess: parse the OpenFace CSVs, align the faces"
"$FACEAUG" preprocess "$OUT/data" --out "$OUT/work" --labels "$OUT/data/labels.csv" --seed 0 --overwrite

step "3/6 train: GANimation, fast profile + examples/demo.toml, at most ${TRAIN_MINUTES} minutes"
"$FACEAUG" train "$OUT/work" --config "$HERE/demo.toml" --max-minutes "$TRAIN_MINUTES" --seed 0

step "4/6 expand: 12 new happy and 12 new surprised faces, each a GANimation edit of a different training face (variants fill in past one edit per face)"
# --min-target-probability 0: the expression judge shipped with faceaug was trained on photographs (FER2013) and does
# not read the synthetic world's rendered faces (21% of real renders read right, chance 14%); on real faces keep
# the default gate
"$FACEAUG" expand "$OUT/work" --au-preset happy,surprise --per-class 12 --out "$OUT/expanded" --seed 0 --overwrite \
    --min-target-probability 0

step "5/6 train-au: the AU estimator the report judges edits with (a CNN on the real training faces)"
"$FACEAUG" train-au "$OUT/work" --seed 0

step "6/6 report: verdict, counts, contact sheets, achieved AUs, variety -> report.html"
"$FACEAUG" report "$OUT/expanded"

step "done"
echo "manifest: $OUT/expanded/manifest.parquet"
echo "images:   $OUT/expanded/images/"
echo "training samples (source | preset edits | attention): $OUT/work/models/samples/"
echo "report:   $OUT/expanded/report.html"
echo "the bundled editor on the astronaut, every preset: $OUT/astronaut-expanded/report.html"
