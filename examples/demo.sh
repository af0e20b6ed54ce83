#!/usr/bin/env bash
# The `make demo` chain on the synthetic example world (CPU, `fast` profile).
# Usage: examples/demo.sh FACEAUG_BIN OUT_DIR
set -euo pipefail
FACEAUG=${1:-faceaug}
OUT=${2:-demo-out}
start=$(date +%s)
echo "== faceaug demo into $OUT =="
"$FACEAUG" synth "$OUT/data" --subjects 12 --per-class 3 --size 128 --seed 0
"$FACEAUG" preprocess "$OUT/data" --out "$OUT/work" --seed 0
echo "== done in $(( $(date +%s) - start )) s =="
