#!/usr/bin/env bash
# GPU check of the --device plumbing, for a machine with a CUDA GPU (about 1-3 minutes; stops
# at 5). Runs the CUDA-only tests (lift, reconstruct and fit on the GPU against the CPU, a CUDA
# run's checkpoint loading on the CPU, resume on the GPU), then the command line on --device cuda:
# a one-epoch fit of configs/lift/tiny-ige2.json (Bandai data: ENERGY3D_DATA or ../shared/data),
# evaluate of that checkpoint, lift of the example keypoints and reconstruct of the example chair,
# each compared with the CPU where the result is a file. With two or more GPUs it also trains one
# epoch under torchrun with nccl (one rank per GPU).
#
# Usage: bash benchmarks/gpu_check.sh          (PYTHON=... to pick the interpreter; default python)
# Prints "gpu check: OK" at the end; any failure stops it with a non-zero status.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
OUT=$(mktemp -d "${TMPDIR:-/tmp}/energy3d-gpu-check.XXXXXX")
T="timeout 300"  # no step may hang the check
export NVIDIA_TF32_OVERRIDE=0  # full float32 products in cuBLAS / cuDNN, so GPU and CPU results compare tightly
trap 'echo "gpu check: outputs in $OUT" >&2' EXIT

echo "== CUDA"
$T "$PY" -c "
import sys, torch
if not torch.cuda.is_available():
    sys.exit(f'gpu check: no CUDA device (torch {torch.__version__}, built with CUDA {torch.version.cuda})')
print(f'torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.device_count()} GPU(s):',
      ', '.join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())))
"

echo "== CUDA tests (none may skip)"
$T "$PY" -m pytest tests/cli/test_cuda.py tests/train/test_device.py tests/cli/test_device.py -q -p no:cacheprovider -rs \
  | tee "$OUT/pytest.txt"
if grep -q "skipped" "$OUT/pytest.txt"; then echo "gpu check: CUDA tests were skipped" >&2; exit 1; fi

echo "== energy3d fit --device cuda (tiny-ige2, 1 epoch)"
$T "$PY" -m energy3d fit configs/lift/tiny-ige2.json --device cuda --set train.epochs=1 --out "$OUT/fit" --quiet

echo "== energy3d evaluate --device cuda vs cpu"
for dev in cpu cuda; do
  $T "$PY" -m energy3d evaluate "$OUT/fit/best.json" --motion bandai-val --fps 2 --device "$dev" --quiet \
    --json "$OUT/eval-$dev.json" > /dev/null
done

echo "== energy3d lift / reconstruct --device cuda vs cpu"
for dev in cpu cuda; do
  $T "$PY" -m energy3d lift examples/keypoints_coco.json --device "$dev" --out "$OUT/lift-$dev"
  $T "$PY" -m energy3d reconstruct examples/chair.png --device "$dev" --out "$OUT/chair-$dev"
done

$T "$PY" - "$OUT" <<'EOF'
import json, sys
from pathlib import Path
import numpy as np
out = Path(sys.argv[1])
ev = {d: json.loads((out / f"eval-{d}.json").read_text())["all"] for d in ("cpu", "cuda")}
for k in ("mpjpe_mm", "p1a_mm", "pa_mpjpe_mm"):
    assert abs(ev["cuda"][k] - ev["cpu"][k]) < 1e-3 * ev["cpu"][k], (k, ev)
a, b = (np.load(out / f"lift-{d}" / "poses.npz")["joints_3d"] for d in ("cpu", "cuda"))
rel = (np.abs(b - a).max(axis=(1, 2)) / np.abs(a).max(axis=(1, 2))).max()
assert rel < 1e-4, rel
p, q = (np.load(out / f"chair-{d}" / "occupancy.npz")["probability"] for d in ("cpu", "cuda"))
occ = ((p > 0.5) != (q > 0.5)).mean()
assert occ < 2e-3, occ
print(f"evaluate P1a cpu {ev['cpu']['p1a_mm']:.2f} mm, cuda {ev['cuda']['p1a_mm']:.2f} mm; "
      f"lift max rel. difference {rel:.1e}; reconstruct occupancy differs in {occ:.1e} of the voxels, "
      f"max probability difference {np.abs(p - q).max():.1e}")
EOF

NGPU=$("$PY" -c "import torch; print(torch.cuda.device_count())")
if [ "$NGPU" -ge 2 ]; then
  echo "== torchrun --nproc_per_node 2 energy3d fit --device cuda (nccl)"
  $T "$PY" -m torch.distributed.run --nproc_per_node 2 --master_port 29541 -m energy3d fit configs/lift/tiny-ige2.json \
    --device cuda --set train.epochs=1 --out "$OUT/ddp" --quiet > /dev/null
  test -f "$OUT/ddp/best.safetensors"
fi
echo "gpu check: OK"
