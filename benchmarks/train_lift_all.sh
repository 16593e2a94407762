#!/usr/bin/env bash
# Train every lifting model of the benchmarks (Fig. 4 and Table 1 analogues) with fixed seeds.
# Each run resumes if interrupted; finished runs are skipped. CPU, 2 threads.
# Usage: bash benchmarks/train_lift_all.sh [config names...]
set -euo pipefail
cd "$(dirname "$0")/.."
ENERGY3D=${ENERGY3D:-energy3d}
order=(b128-1-gt ige8-gt b1024-2-gt b128-1-noisy ige4-gt ige8-noisy b1024-2-noisy ige4-noisy ige1-gt ige2-gt
       b128-2-gt b256-1-gt b256-2-gt b512-1-gt b512-2-gt b1024-1-gt ige16-gt)
[ $# -gt 0 ] && order=("$@")
for name in "${order[@]}"; do
  if [ -f "runs/$name/history.json" ]; then echo "== $name: done"; continue; fi
  init=$(python -c "import json,sys; print(json.load(open('configs/lift/$name.json')).get('init_from', ''))")
  while [ -n "$init" ] && [ ! -f "$init.json" ]; do echo "== $name: waiting for $init"; sleep 30; done
  echo "== $name: training"
  $ENERGY3D fit "configs/lift/$name.json" --quiet --set train.threads=${THREADS:-2}
done
