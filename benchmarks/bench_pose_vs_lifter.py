"""Structured pose (Kinauer et al.) next to the bundled IGE lifter, on the same rendered test images.

Rows (PA-MPJPE per action, mm, rendered Bandai test split, evenly spaced images):

* ``structured rgb``: the RGB network + structured inference (``--topology``, default two_hop);
* ``structured heatmaps``: the heatmap network on detector-style 2D (markers + noise + confidences,
  :func:`energy3d.data.pose_images.detector_style_2d`, a fixed seed) + structured inference;
* ``IGE lifter on the RGB network's 2D``: the bundled IGE-8 lifter fed with the RGB network's own 2D
  heatmap maxima (soft-argmax of its 2D head, crop pixels mapped back to the image);
* ``IGE lifter on detector-style 2D``: the bundled lifter fed with exactly the 2D the heatmap network saw.

The lifter needs the camera intrinsics (it works in normalised camera coordinates); the structured
model needs only the crop. Writes ``benchmarks/results/pose_vs_lifter.json``.

Usage: python benchmarks/bench_pose_vs_lifter.py [--limit 500] [--rgb CKPT] [--heatmaps CKPT]

The defaults are the bundled checkpoints (``src/energy3d/assets/pose-*.json``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from energy3d.config import from_dict
from energy3d.data.lifting import to_normalized
from energy3d.data.pose_images import detector_style_2d, load_pose_image_split
from energy3d.metrics import pa_mpjpe, summarize
from energy3d.skeleton import get_layout
from energy3d.structured.learning import infer, soft_argmax_weights
from energy3d.tasks.lift import BUNDLED_LIFTER, lift_keypoints, load_lifter
from energy3d.tasks.structured import PoseExperiment, load_pose_model, model_inputs, network_outputs

REPO = Path(__file__).resolve().parents[1]


def per_action(pred, gt, actions) -> dict:
    err = pa_mpjpe(torch.as_tensor(pred, dtype=torch.float64), torch.as_tensor(gt, dtype=torch.float64)).numpy() * 1000
    s = summarize({"pa": err}, actions)
    return {"average_of_actions": s["average"]["pa"], "all": s["all"]["pa"],
            "per_action": {a: v["pa"] for a, v in s["per_group"].items()}}


def network_2d(outs, box, crop: int) -> np.ndarray:
    """Soft-argmax of the 2D head, crop pixels -> image pixels ``(B, J, 2)``."""
    w = soft_argmax_weights(outs.heat2d)  # (B, J, H*W)
    B, J, H, W = outs.heat2d.shape
    cell = crop / W
    ys, xs = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    u = (w * ((xs.reshape(-1) + 0.5) * cell)).sum(-1)
    v = (w * ((ys.reshape(-1) + 0.5) * cell)).sum(-1)
    p = torch.stack([u, v], -1).numpy()
    b = np.asarray(box, dtype=np.float64)
    return p * (b[:, None, 2:3] / crop) + b[:, None, :2]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=500)
    ap.add_argument("--rgb", default="src/energy3d/assets/pose-rgb.json")
    ap.add_argument("--heatmaps", default="src/energy3d/assets/pose-heatmaps.json")
    ap.add_argument("--topology", default="two_hop")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "pose_vs_lifter.json"))
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    lifter, _ = load_lifter(BUNDLED_LIFTER)
    layout = get_layout("h36m17")
    rows = {}
    gt = actions = None
    for mode, ckpt in (("rgb", args.rgb), ("heatmaps", args.heatmaps)):
        if not Path(ckpt).is_file():
            print(f"skipping {mode}: {ckpt} not found", file=sys.stderr)
            continue
        model, meta = load_pose_model(ckpt)
        exp = from_dict(PoseExperiment, meta["config"])
        ds = load_pose_image_split(exp.data, "test", images=mode == "rgb")
        idx = np.linspace(0, len(ds) - 1, min(args.limit, len(ds))).round().astype(np.int64)
        gt, actions = ds.joints_cam[idx], np.asarray(ds.action)[idx]
        K = torch.as_tensor(ds.K[idx])
        seed = exp.data.seed + 99991 + 3
        x, _ = model_inputs(ds, idx, exp.data, mode, torch.Generator().manual_seed(seed))
        outs = network_outputs(model, x)
        res = infer(outs, model, args.topology, exp.structured.candidates)
        rows[f"structured {mode} ({exp.structured.stage}, {args.topology})"] = per_action(res.poses, gt, actions)
        if mode == "rgb":
            p2 = network_2d(outs, ds.box[idx], exp.model.crop)
            name = "IGE lifter on the RGB network's 2D (soft-argmax of its 2D head)"
        else:
            p, _ = detector_style_2d(ds, idx, torch.Generator().manual_seed(seed), exp.data)
            p2 = p.numpy()
            name = "IGE lifter on the same detector-style 2D"
        lifted = lift_keypoints(lifter, to_normalized(torch.as_tensor(p2, dtype=torch.float32), K), layout).numpy()
        rows[name] = per_action(lifted, gt, actions)
    doc = {"command": "python benchmarks/bench_pose_vs_lifter.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "images": int(len(gt)) if gt is not None else 0, "lifter": str(BUNDLED_LIFTER.name), "rows": rows,
           "wall_s": time.perf_counter() - t0}
    Path(args.out).write_text(json.dumps(doc, indent=1))
    for k, v in rows.items():
        print(f"{v['average_of_actions']:7.1f} mm  {k}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
