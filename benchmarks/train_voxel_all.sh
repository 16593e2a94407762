#!/usr/bin/env bash
# Train every voxel model of the Table 3 / Table 4 analogues (IGE-Net §6.5) with fixed seeds.
# Each run resumes if interrupted; finished runs are skipped. CPU, $THREADS threads (default 2; two
# streams of THREADS=1 in parallel train as fast in total). The shape datasets
# (64 px / 32³, and 64 px / 64³ for ige-mn-64) are built on first use into ~/.cache/energy3d/shapes.
# Usage: bash benchmarks/train_voxel_all.sh [config names...]
# Then:  python benchmarks/bench_voxel_accuracy.py
set -euo pipefail
cd "$(dirname "$0")/.."
ENERGY3D=${ENERGY3D:-energy3d}
THREADS=${THREADS:-2}
order=(ige-mn-32 base-frustum-32 base-world-32 ige-mn-32-ce ige-mn-32-a07 ige-mn-32-g2 ige-mn-64 ige-mn-64-ce ige-mn-64-a07 ige-mn-64-g2)
[ $# -gt 0 ] && order=("$@")
for name in "${order[@]}"; do
  if [ -f "runs/$name/history.json" ]; then echo "== $name: done"; continue; fi
  echo "== $name: training"
  $ENERGY3D fit "configs/voxel/$name.json" --quiet --set train.threads=$THREADS
done
