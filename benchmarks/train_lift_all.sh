#!/usr/bin/env bash
# Train every lifting model of the benchmarks (Fig. 4 and Table 1 analogues) with fixed seeds.
# Each run resumes if interrupted; finished runs are skipped. CPU, 2 threads.
# Usage: bash benchmarks/train_lift_all.sh [config names...]
set -euo pipefail
cd "$(dirname "$0")/.."
ENERGY3D=${ENERGY3D:-energy3d}
order=(b128-1-gt ige8-gt ige4-gt b128-1-noisy ige8-noisy b1024-2-gt ige4-noisy ige1-gt ige2-gt b1024-2-noisy ige16-gt
       b128-2-gt b256-1-gt b256-2-gt b512-1-gt b512-2-gt b1024-1-gt)
[ $# -gt 0 ] && order=("$@")
for name in "${order[@]}"; do
  if [ -f "runs/$name/history.json" ]; then echo "== $name: done"; continue; fi
  echo "== $name: training"
  $ENERGY3D fit "configs/lift/$name.json" --quiet --set train.threads=2
done
