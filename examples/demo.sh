#!/usr/bin/env bash
# The `make demo` chain on the synthetic example world (CPU, `fast` profile), ≤ 10 minutes on 2 cores:
# synth → preprocess → train → expand. Usage: examples/demo.sh FACEAUG_BIN OUT_DIR
set -euo pipefail
FACEAUG=${1:-faceaug}
OUT=${2:-demo-out}
TRAIN_MINUTES=${DEMO_TRAIN_MINUTES:-5}
HERE=$(cd "$(dirname "$0")" && pwd)
start=$(date +%s)
step() { echo; echo "== [$(( $(date +%s) - start )) s] $* =="; }

step "1/4 synth: a synthetic face world with known AUs (12 subjects x 8 expressions x 3)"
"$FACEAUG" synth "$OUT/data" --subjects 12 --per-class 3 --size 128 --seed 0 --overwrite

step "2/4 preprocess: parse the OpenFace CSVs, align the faces"
"$FACEAUG" preprocess "$OUT/data" --out "$OUT/work" --labels "$OUT/data/labels.csv" --seed 0 --overwrite

step "3/4 train: GANimation, fast profile + examples/demo.toml, at most ${TRAIN_MINUTES} minutes"
"$FACEAUG" train "$OUT/work" --config "$HERE/demo.toml" --max-minutes "$TRAIN_MINUTES" --seed 0

step "4/4 expand: 12 new happy and 12 new surprised faces (GANimation edit + SinGAN samples from scale N-2)"
"$FACEAUG" expand "$OUT/work" --au-preset happy,surprise --per-class 12 --out "$OUT/expanded" --seed 0 --overwrite

step "done"
echo "manifest: $OUT/expanded/manifest.parquet"
echo "images:   $OUT/expanded/images/"
echo "training samples (source | preset edits | attention): $OUT/work/models/samples/"
echo "(faceaug report, the HTML report, is not built yet: it comes with its own issue.)"
