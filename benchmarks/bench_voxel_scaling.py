"""Benchmark 3 (scaling, IGE-Net §6.1): forward time and peak memory per image, IGE vs a 3D-deconv decoder.

For R in 32, 64, 128, 256 the script measures, for one 128 x 128 image (batch 1, inference, CPU):

* ``ige``: the IGE model of the paper's MobileNetV2 size (width 1.0, U-Net decoder with 128
  channels at 4², 3D-deconv initial estimate at 32³ with 64 channels, trilinear upsampling to R³,
  T = 4 inner steps done in place on the output grid in depth chunks (VoxelIGE.infer));
* ``ige_fp16``: the same IGE model with its logit grid stored in float16 and a 64 KiB / 32 KiB
  working set (``VoxelIGE.infer(grid_dtype=torch.float16, chunk_bytes=..., tile_bytes=...)``; all
  arithmetic in float32; its accuracy cost is measured by ``bench_voxel_fp16_grid.py``);
* ``deconv3d``: the baseline's 3D deconvolution decoder reaching R³ directly (Wu et al. style,
  128 channels at 4³, i.e. the IGE initialiser's features doubled as in §6.3, halving per layer
  down to 8), on the same MobileNetV2 encoder (with its 1280-channel head) -- the comparison the
  target refers to;
* ``deconv3d_wu``: the same with the 3D-GAN generator's widths (Wu et al. 2016: 512 channels at
  4³, halving per layer, here down to 16), for context: what a "typical" 3D decoder costs.

The IGE model's inference is :meth:`energy3d.models.voxel.VoxelIGE.infer` (in place on the output
grid, autograd only on the small pooled grids); training memory is not measured here.

**Peak memory** is measured in a fresh subprocess per configuration, after one warm-up forward
pass (which pays one-time costs: lazy library initialisation, kernel caches, thread pools): the
kernel's resident-set high-water mark is reset (``/proc/self/clear_refs``), one more forward pass
runs, and the peak is ``VmHWM`` after it minus ``VmRSS`` before it. The subprocess runs with
``MALLOC_MMAP_THRESHOLD_=65536`` so that freed buffers go back to the kernel instead of staying in
glibc's heap, where the second pass would reuse them unseen. The figure therefore counts everything
one forward pass touches: activations, the output grid, autograd buffers of the IGE steps and
convolution workspaces (e.g. the column buffers of CPU transposed 3D convolutions). Parameters are
excluded. ``first_pass_mib`` is the older, cruder figure (``ru_maxrss`` growth over the first pass,
one-time costs included), kept for comparison. **Time** is the median of the following
``--repeats`` forward passes in the same process.

Target (issue 4): at 128³ the IGE's peak memory is at most a quarter of the 3D-deconv decoder's.

Usage: python benchmarks/bench_voxel_scaling.py [--resolutions 32 64 128 256] [--threads 1] [--repeats 3]
Writes benchmarks/results/voxel_scaling.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

IMAGE = 128
STEPS = 4
KINDS = ("ige", "ige_fp16", "deconv3d", "deconv3d_wu")
LEAN_CHUNK, LEAN_TILE = 1 << 16, 1 << 15  # ige_fp16: the memory-lean working set of VoxelIGE.infer


def _config(kind: str, R: int):
    from energy3d.models.voxel import VoxelModelConfig

    if kind in ("ige", "ige_fp16"):
        return VoxelModelConfig(type="ige", image_size=IMAGE, resolution=R, width_mult=1.0, stem_stride=2,
                                decoder_channels=128, deconv_channels=64, init_resolution=32, steps=STEPS)
    if kind == "deconv3d_wu":
        return VoxelModelConfig(type="baseline", image_size=IMAGE, resolution=R, width_mult=1.0, stem_stride=2,
                                head_channels=1280, deconv_channels=512, deconv_min_channels=16)
    return VoxelModelConfig(type="baseline", image_size=IMAGE, resolution=R, width_mult=1.0, stem_stride=2,
                            head_channels=1280, deconv_channels=128)


def _proc_status_mib(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"{key} not in /proc/self/status")


def _steady_peak_mib(forward) -> float | None:
    """Peak resident-set growth of one ``forward()`` after the high-water mark is reset (Linux only)."""
    import torch

    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
    except OSError:
        return None
    before = _proc_status_mib("VmRSS")
    with torch.no_grad():
        y = forward()
    peak = _proc_status_mib("VmHWM")
    del y
    return round(peak - before, 1)


def worker(kind: str, R: int, threads: int, repeats: int) -> dict:
    import torch

    from energy3d.metrics import count_parameters
    from energy3d.models.voxel import build_voxel_model

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build_voxel_model(_config(kind, R)).eval()
    if kind == "ige_fp16":  # the same model, its logit grid stored in float16 (VoxelIGE.infer(grid_dtype=...))
        model.forward = lambda image: model.infer(image, grid_dtype=torch.float16, chunk_bytes=LEAN_CHUNK,
                                                  tile_bytes=LEAN_TILE)
    x = torch.rand(1, 3, IMAGE, IMAGE)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    t0 = time.perf_counter()
    with torch.no_grad():
        y = model(x)
    first = time.perf_counter() - t0
    first_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert tuple(y.shape) == (1, R, R, R)
    del y
    peak = _steady_peak_mib(lambda: model(x))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        with torch.no_grad():
            model(x)
        times.append(time.perf_counter() - t0)
    times.sort()
    return {"model": kind, "resolution": R, "parameters": count_parameters(model),
            "peak_mib": peak, "first_pass_mib": round((first_peak - before) / 1024, 1),
            "baseline_rss_mib": round(before / 1024, 1),
            "time_s": round(times[len(times) // 2] if times else first, 4), "first_time_s": round(first, 4),
            "repeats": repeats}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--resolutions", type=int, nargs="+", default=[32, 64, 128, 256])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default="benchmarks/results/voxel_scaling.json")
    ap.add_argument("--worker", nargs=2, metavar=("KIND", "R"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker[0], int(args.worker[1]), args.threads, args.repeats)))
        return 0
    load_before = os.getloadavg()
    rows = []
    for R in args.resolutions:
        for kind in KINDS:
            cmd = [sys.executable, __file__, "--worker", kind, str(R), "--threads", str(args.threads),
                   "--repeats", str(args.repeats)]
            env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
            p = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if p.returncode != 0:
                rows.append({"model": kind, "resolution": R, "error": p.stderr.strip().splitlines()[-1:]})
            else:
                rows.append(json.loads(p.stdout.strip().splitlines()[-1]))
            print(f"  {kind:9s} {R:4d}³ done", file=sys.stderr)
    import torch

    by = {(r["model"], r["resolution"]): r for r in rows}

    def peak_ratios(kind: str, other: str) -> dict:
        out = {}
        for R in args.resolutions:
            a, b = by.get((kind, R)), by.get((other, R))
            if a and b and "peak_mib" in a and "peak_mib" in b and b["peak_mib"] > 0:
                out[str(R)] = round(a["peak_mib"] / b["peak_mib"], 4)
        return out

    ratios, ratios_wu = peak_ratios("ige", "deconv3d"), peak_ratios("ige", "deconv3d_wu")
    ratios16, ratios16_wu = peak_ratios("ige_fp16", "deconv3d"), peak_ratios("ige_fp16", "deconv3d_wu")

    def met(r):
        return None if r is None else bool(r <= 0.25)

    doc = {
        "benchmark": "voxel scaling (IGE-Net §6.1): forward time and peak memory per 128 px image, batch 1, inference",
        "models": {"ige": f"MobileNetV2 x1.0 + U-Net (128 ch at 4²) + 3D-deconv init 32³ (64 ch) upsampled + T={STEPS} "
                          "in-place chunked steps (VoxelIGE.infer) on the 2D-conv frustum energy, float32 logit grid",
                   "ige_fp16": "the same model with its logit grid stored in float16 and a smaller working set "
                               "(VoxelIGE.infer(grid_dtype=torch.float16, chunk_bytes=64 KiB, tile_bytes=32 KiB); "
                               "arithmetic in float32 chunk by chunk)",
                   "deconv3d": "MobileNetV2 x1.0 (1280 head) + 3D deconvolution decoder to R³ (128 ch at 4³, halving, min 8)",
                   "deconv3d_wu": "as deconv3d with 3D-GAN widths (512 ch at 4³, halving, min 16)"},
        "memory_method": "fresh subprocess per configuration (MALLOC_MMAP_THRESHOLD_=65536); after a warm-up forward, "
                         "VmHWM is reset via /proc/self/clear_refs; peak_mib = VmHWM after one forward minus VmRSS "
                         "before it (MiB). first_pass_mib: ru_maxrss growth over the first forward, one-time "
                         "costs included",
        "time_method": f"median of {args.repeats} forward passes after the first, {args.threads} torch thread(s)",
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "torch": torch.__version__},
        "contention": {"note": "load average around the run: with load above the core count (e.g. training "
                               "beside it) times are slow and noisy; memory is unaffected",
                       "loadavg_before": [round(v, 2) for v in load_before],
                       "loadavg_after": [round(v, 2) for v in os.getloadavg()]},
        "rows": rows,
        "peak_ratio_ige_over_deconv3d": ratios,
        "peak_ratio_ige_over_deconv3d_wu": ratios_wu,
        "peak_ratio_ige_fp16_over_deconv3d": ratios16,
        "peak_ratio_ige_fp16_over_deconv3d_wu": ratios16_wu,
        "target": {"rule": "IGE peak memory at 128³ <= 0.25 x the 3D-deconv decoder's",
                   "ratio": ratios.get("128"), "met": met(ratios.get("128")),
                   "ratio_wu_widths": ratios_wu.get("128"), "met_wu_widths": met(ratios_wu.get("128")),
                   "ratio_fp16_grid": ratios16.get("128"), "met_fp16_grid": met(ratios16.get("128")),
                   "ratio_fp16_grid_wu_widths": ratios16_wu.get("128"),
                   "met_fp16_grid_wu_widths": met(ratios16_wu.get("128"))},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2))
    def f(r, k, scale=1.0):
        return f"{r[k] * scale:.0f}" if k in r else "err"

    print(f"{'R':>5} | {'IGE ms':>7} {'MiB':>6} | {'IGE-fp16 ms':>11} {'MiB':>6} | {'deconv ms':>9} {'MiB':>6} | "
          f"{'Wu-widths ms':>12} {'MiB':>6} | ratios vs deconv (fp32, fp16 grid)")
    for R in args.resolutions:
        a, h, b, w = (by.get((k, R), {}) for k in KINDS)
        print(f"{R:>4}³ | {f(a, 'time_s', 1000):>7} {f(a, 'peak_mib'):>6} | {f(h, 'time_s', 1000):>11} "
              f"{f(h, 'peak_mib'):>6} | {f(b, 'time_s', 1000):>9} {f(b, 'peak_mib'):>6} | "
              f"{f(w, 'time_s', 1000):>12} {f(w, 'peak_mib'):>6} | "
              f"{ratios.get(str(R), float('nan')):.2f}, {ratios16.get(str(R), float('nan')):.2f}")
    t = doc["target"]
    print(f"target at 128³ (ratio <= 0.25) vs the thin decoder: float32 grid {t['met']} ({t['ratio']}), "
          f"float16 grid {t['met_fp16_grid']} ({t['ratio_fp16_grid']}); vs 3D-GAN widths: {t['met_wu_widths']} "
          f"({t['ratio_wu_widths']}); wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
