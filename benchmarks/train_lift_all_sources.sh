#!/usr/bin/env bash
# Train the lifting models of the generalisation issue on every motion source (configs/lift/all/:
# Bandai + HDM05 x4 + CMU x3 cameras per pose, detector-style 2D keypoints, per-sample body
# proportions, cameras at -15..20 degrees elevation), seed 0. Each run resumes if interrupted;
# finished runs are skipped. Usage: bash benchmarks/train_lift_all_sources.sh [names...]
# (names: b128-1-noisy ige8-noisy b128-1-gt ige8-gt b1024-2-gt b1024-2-noisy ige4-gt ige4-noisy, then the
# rest of Fig. 4 on GT 2D: b256-1-gt b512-1-gt b1024-1-gt b128-2-gt b256-2-gt b512-2-gt ige1-gt ige2-gt ige16-gt).
# The data follow energy3d.data.augment.MarkerConfig's defaults (the nose 4-20 cm above the skull base
# since the photo-tilt work; the first all-sources runs had 1-5 cm).
set -euo pipefail
cd "$(dirname "$0")/.."
ENERGY3D=${ENERGY3D:-energy3d}
order=(b128-1-noisy ige8-noisy b128-1-gt ige8-gt b1024-2-gt b1024-2-noisy ige4-gt ige4-noisy
       b256-1-gt b512-1-gt b1024-1-gt b128-2-gt b256-2-gt b512-2-gt ige1-gt ige2-gt ige16-gt)
[ $# -gt 0 ] && order=("$@")
for name in "${order[@]}"; do
  run="runs/$name-all"
  if [ -f "$run/history.json" ]; then echo "== $name-all: done"; continue; fi
  init=$(python -c "import json; print(json.load(open('configs/lift/all/$name.json')).get('init_from', ''))")
  while [ -n "$init" ] && [ ! -f "$init.json" ]; do echo "== $name-all: waiting for $init"; sleep 30; done
  echo "== $name-all: training"
  $ENERGY3D fit "configs/lift/all/$name.json" --quiet --set train.threads=${THREADS:-2}
done
