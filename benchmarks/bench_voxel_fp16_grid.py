"""Accuracy cost of the float16 logit grid (``VoxelIGE.infer(grid_dtype=torch.float16)``).

The scaling benchmark (``bench_voxel_scaling.py``) measures the memory of an IGE model whose logit
grid is stored in float16 with a small working set; this script measures what that storage costs in
accuracy: the bundled IGE checkpoint (``src/energy3d/assets/voxel-ige-32``) on the whole objects_cc0
test split of its config (frustum targets, 32³), inferred once with the float32 grid and once with
the float16 grid (64 KiB chunks, 32 KiB tiles, as in the scaling benchmark). It reports the mean IoU
at 0.5 of both, the fraction of voxels whose occupancy at 0.5 differs, and the largest probability
difference.

Usage: python benchmarks/bench_voxel_fp16_grid.py [--checkpoint C] [--config configs/voxel/ige-mn-32.json]
       [--threads 2] [--out benchmarks/results/voxel_fp16_grid.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

import energy3d.tasks.voxel as V


def _predict(model, ds, idx, **kw):
    ious, cats, probs = [], [], []
    for s in range(0, len(idx), 16):
        b = V._collate([ds[i] for i in idx[s:s + 16]], "frustum")
        p = torch.sigmoid(model.infer(V._fit_images(b["image"], model.cfg.image_size), **kw).float())
        ious.append(V.voxel_iou(p, b["target"]))
        cats += b["category"]
        probs.append(p)
    return V.iou_by_category(torch.cat(ious), cats)["mean"], torch.cat(probs)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default="src/energy3d/assets/voxel-ige-32.json")
    ap.add_argument("--config", default="configs/voxel/ige-mn-32.json")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/results/voxel_fp16_grid.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    model, _ = V.load_voxel_model(args.checkpoint)
    exp = V.load_voxel_experiment(args.config)
    ds = V.open_shape_split(exp.data, "test")
    idx = V._item_indices(ds, 0)
    with torch.no_grad():
        m32, p32 = _predict(model, ds, idx)
        m16, p16 = _predict(model, ds, idx, grid_dtype=torch.float16, chunk_bytes=1 << 16, tile_bytes=1 << 15)
    doc = {"benchmark": "float16 vs float32 logit grid, IGE inference (VoxelIGE.infer)",
           "command": "python benchmarks/bench_voxel_fp16_grid.py", "checkpoint": args.checkpoint,
           "data": f"objects_cc0 test split, {len(idx)} images, frustum {model.cfg.resolution}³",
           "mean_iou@0.5_float32_grid": m32, "mean_iou@0.5_float16_grid": m16,
           "voxels_changed_at_0.5": ((p32 > 0.5) != (p16 > 0.5)).float().mean().item(),
           "max_probability_difference": (p32 - p16).abs().max().item()}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2))
    print(f"mean IoU@0.5: float32 grid {100 * m32:.3f} %, float16 grid {100 * m16:.3f} %; "
          f"voxels changed {doc['voxels_changed_at_0.5']:.2e}; max |Δp| {doc['max_probability_difference']:.4f}; "
          f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
