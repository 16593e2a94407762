"""Build the rendered pose-image splits of the default config; time, count and size; a contact sheet.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/build_pose_images.py [--max-train N]

Writes ``benchmarks/results/pose_images_build.json`` (per split: build seconds, count, bytes, ms per
image; from the cache's build record when the split was already built) and
``benchmarks/results/pose_images_samples.png`` (train crops with their 2D joints, test crops of several
actions, and heatmap-mode inputs).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from energy3d.data.pose_images import (PoseImageConfig, build_info, heatmap_sample, load_pose_image_split)

OUT = Path(__file__).resolve().parent / "results"


def draw_sheet(train, test, cfg, path: Path, rows: int = 6, cols: int = 8) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bones = [(j, p) for j, p in enumerate(train.layout.parents) if p is not None and p >= 0]
    fig, axes = plt.subplots(rows + 3, cols, figsize=(cols * 1.6, (rows + 3) * 1.6))
    rng = np.random.default_rng(0)
    tr = np.sort(rng.choice(len(train), rows * cols, replace=False))
    acts = sorted(set(test.action.tolist()))
    te = [int(np.nonzero(test.action == a)[0][len(np.nonzero(test.action == a)[0]) // 2]) for a in acts][:cols * 2]
    left = set(train.layout.left)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        r = k // cols
        if r < rows:
            ds, i, title = train, tr[k], train.action[tr[k]]
        elif r < rows + 2:
            j = k - rows * cols
            if j >= len(te):
                continue
            ds, i, title = test, te[j], "test: " + test.action[te[j]]
        else:
            j = k - (rows + 2) * cols
            x, vol, _, _ = heatmap_sample(test, [te[j % len(te)]], torch.Generator().manual_seed(j), cfg)
            ax.imshow(x[0].amax(0).numpy(), cmap="magma", vmin=0, vmax=1, extent=(0, cfg.crop, cfg.crop, 0))
            ax.scatter(vol[0, :, 0], vol[0, :, 1], s=3, c="c")
            ax.set_title("heatmaps", fontsize=6)
            continue
        ax.imshow(ds.images[i])
        u = ds.joints_vol[i]
        for j, p in bones:
            ax.plot([u[j, 0], u[p, 0]], [u[j, 1], u[p, 1]], lw=0.7, c="lime" if j in left else "orange")
        ax.set_xlim(0, cfg.crop)
        ax.set_ylim(cfg.crop, 0)
        ax.set_title(str(title)[:22], fontsize=6)
    fig.tight_layout(pad=0.2)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main() -> None:
    torch.set_num_threads(1)
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-train", type=int, default=0, help="cap the train split (0 = all, the default config)")
    args = ap.parse_args()
    cfg = PoseImageConfig()
    if args.max_train:
        cfg = replace(cfg, max_poses={**cfg.max_poses, "train": args.max_train})
    res = {"config": "PoseImageConfig() defaults" + (f", train capped {args.max_train}" if args.max_train else ""),
           "splits": {}}
    sets = {}
    for split in ("train", "val", "test"):
        t = time.perf_counter()
        sets[split] = load_pose_image_split(cfg, split)
        info = build_info(cfg, split) or {}
        res["splits"][split] = {k: info.get(k) for k in ("count", "seconds", "render_seconds", "ms_per_image", "bytes",
                                                         "object_plates", "objects_note")}
        res["splits"][split]["load_seconds_this_run"] = round(time.perf_counter() - t, 2)
        print(f"{split:5s} {info.get('count'):6d} images  built in {info.get('seconds')} s  "
              f"{info.get('ms_per_image')} ms/image  {info.get('bytes', 0) / 2**20:.0f} MiB")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "pose_images_build.json").write_text(json.dumps(res, indent=1))
    draw_sheet(sets["train"], sets["test"], cfg, OUT / "pose_images_samples.png")
    print("wrote", OUT / "pose_images_build.json", "and", OUT / "pose_images_samples.png")


if __name__ == "__main__":
    main()
