"""Benchmark 4 of the voxel issue: time of ``energy3d reconstruct`` for one image, by output resolution.

Runs the steps of :func:`energy3d.tasks.voxel.reconstruct` that depend on the resolution in
one process, with the bundled IGE model (``src/energy3d/assets/voxel-ige-32``, trained at 32³) on
``examples/chair.png``: the network and its inner steps (:func:`energy3d.tasks.voxel.predict_voxels`),
trilinear resizing of the probabilities to the output resolution, and marching cubes to a mesh. It
reports the median of ``--repeats`` runs after one warm-up each, per stage. Loading the model
(about 0.1 s), reading the image and writing the files (the PNG figure dominates: matplotlib) are
reported once, separately: they do not depend on the resolution. Python start-up and imports are not
counted (``energy3d reconstruct`` pays them once per call, about 2 s on this machine).

Usage: python benchmarks/bench_reconstruct.py [--threads 2] [--repeats 5]
Writes benchmarks/results/reconstruct_speed.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def _median_time(fn, repeats: int) -> tuple[float, object]:
    out = fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--image", default=str(REPO / "examples" / "chair.png"))
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "reconstruct_speed.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from energy3d.data.images import read_image
    from energy3d.geometry.voxel import occupancy_to_mesh
    from energy3d.tasks.voxel import BUNDLED_VOXEL_MODEL, load_voxel_model, predict_voxels
    from energy3d.viz.voxel import save_reconstruction_figure

    load_before = os.getloadavg()
    t0 = time.perf_counter()
    model, meta = load_voxel_model(BUNDLED_VOXEL_MODEL)
    image = read_image(args.image, int(model.cfg.image_size), [])
    t_load = time.perf_counter() - t0
    geo, S = meta["frustum"], int(model.cfg.image_size)

    rows = []
    for R in (32, 64, 128):
        t_net, prob = _median_time(lambda: predict_voxels(model, image[None], resolution=R)[0].numpy(), args.repeats)
        t_mesh, mesh = _median_time(lambda: occupancy_to_mesh(prob, geo["K"], S, geo["z_range"], 0.5), args.repeats)
        with tempfile.TemporaryDirectory() as d:
            t1 = time.perf_counter()
            save_reconstruction_figure(Path(d) / "r.png", image.numpy().transpose(1, 2, 0), prob, mesh, geo["K"], 0.5)
            t_fig = time.perf_counter() - t1
        rows.append({"resolution": R, "network_and_steps_s": round(t_net, 4), "marching_cubes_s": round(t_mesh, 4),
                     "reconstruct_s": round(t_net + t_mesh, 4), "figure_png_s": round(t_fig, 3),
                     "faces": int(mesh.num_faces)})
    doc = {
        "benchmark": "energy3d reconstruct, one 64 px image, bundled IGE model (trained at 32³), CPU",
        "method": f"median of {args.repeats} runs after a warm-up; {args.threads} torch thread(s); "
                  "reconstruct_s = network + inner steps + resize + marching cubes",
        "load_model_and_image_s": round(t_load, 3),
        "target": {"rule": "reconstruct at 64³ under 1 s (reported, not tested)",
                   "met": next(r["reconstruct_s"] for r in rows if r["resolution"] == 64) < 1.0},
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "torch": torch.__version__,
                    "loadavg_before": [round(v, 2) for v in load_before],
                    "loadavg_after": [round(v, 2) for v in os.getloadavg()]},
        "rows": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2))
    print(f"{'R':>5} | {'network+steps s':>15} {'marching cubes s':>16} {'reconstruct s':>13} | {'PNG s':>6}")
    for r in rows:
        print(f"{r['resolution']:>4}³ | {r['network_and_steps_s']:>15.3f} {r['marching_cubes_s']:>16.3f} "
              f"{r['reconstruct_s']:>13.3f} | {r['figure_png_s']:>6.2f}")
    print(f"load model + image {t_load:.2f} s; 64³ under 1 s: {doc['target']['met']}; "
          f"load average {doc['machine']['loadavg_before']}; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
