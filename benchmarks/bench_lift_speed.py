"""Batched CPU inference throughput of the lifting models, measured side by side in one process.

Models: the baselines b1024-2 and b128-1 (Martinez et al.), IGE-4 and IGE-8 (b128-1 initialiser +
T steps of fused graph-free descent, :meth:`energy3d.energies.pose.PoseEnergy.descend`), and two
reference rows for IGE-4: the torch closed-form gradient driving :class:`UnrolledGD`
(``ige4-torch-cf``) and the naive loop that differentiates the energy with autograd at every step
(``ige4-autograd``).

Weights are random (Kaiming/Glorot as built; outputs centred 4.5 m in front of the camera, energy
feature statistics set from the initial estimates) unless ``--checkpoints`` names a runs folder,
from which ``RUNS/<name>-gt/best.json`` is loaded where present. Speed does not depend on the
weights' values. The 2D input is a fixed random batch of normalised camera coordinates.

Each repeat times one call per model on the same batch, the models interleaved (in a rotated
order each repeat); the table gives the median, and the median of the per-repeat ratios
("paired"). The four models of the table are timed first; the two IGE-4 reference rows follow in
a second phase beside b1024-2 (the autograd row's large temporary graph would otherwise disturb
the allocator and caches for the model timed after it). Numba's first call (JIT compile, or loading the
on-disk cache) happens in the warm-up, outside the timed region, and is reported; ``--cold-jit``
also measures a compile from an empty cache in a subprocess.

Throughput is poses per second; MACs are dense-layer multiply-adds per pose (IGE: initialiser,
observed-observed block and T closed-form gradient steps).

On a machine busy with other work, wall-clock times of multi-threaded runs swing widely (torch's
OpenMP threads spin-wait and get descheduled); ``--threads 1 --clock cpu`` then still gives
meaningful ratios, since every model's work is then measured as this process's CPU time.

Usage: python benchmarks/bench_lift_speed.py [--threads 2] [--batch 4096] [--repeats 25] [--reference-repeats 7]
       [--checkpoints [runs]] [--cold-jit] [--clock wall|cpu] [--note TEXT]
       [--out benchmarks/results/lift_speed.json]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from energy3d.tasks.lift import load_lifter
from energy3d.metrics import count_parameters
from energy3d.models.lifter import IGELifter, LifterConfig, build_lifter

MODELS = {"b1024-2": LifterConfig(type="baseline", width=1024, blocks=2),
          "b128-1": LifterConfig(type="baseline", width=128, blocks=1),
          # random energies with a larger output scale than training's 1e-3 so that the iterates move
          # (speed does not depend on it; the fused-vs-torch check below then means something)
          "ige4": LifterConfig(type="ige", width=128, blocks=1, steps=4, energy_init_scale=0.3),
          "ige8": LifterConfig(type="ige", width=128, blocks=1, steps=8, energy_init_scale=0.3)}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def random_model(name: str, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = build_lifter(MODELS[name])
    base = model.init if isinstance(model, IGELifter) else model
    J = base.num_out
    out_mean = torch.zeros(J, 3)
    out_mean[:, 2] = 4.5  # a person ~4.5 m in front of the camera
    base.set_normalization(torch.zeros(2 * base.num_in), torch.full((2 * base.num_in,), 0.1),
                           out_mean.reshape(-1), torch.full((3 * J,), 0.2))
    return model.eval()


def build_models(args, x: torch.Tensor) -> dict:
    models = {}
    for i, name in enumerate(MODELS):
        path = Path(args.checkpoints) / f"{name}-gt" / "best.json" if args.checkpoints else None
        if path is not None and path.is_file():
            model, _ = load_lifter(path)
            models[name] = (model.eval(), str(path))
        else:
            if path is not None:
                print(f"note: {path} not found, {name} uses random weights", file=sys.stderr)
            model = random_model(name, seed=i)
            if isinstance(model, IGELifter):
                with torch.no_grad():
                    model.energy.set_feature_stats(model.init(x[:1024]), x[:1024])
            models[name] = (model, "random")
    return models


def ige_reference(model: IGELifter, kind: str):
    """IGE iterates through UnrolledGD (on u = y / step_unit, as the model does) with the torch
    closed-form gradient or with autograd at every step."""
    E, s = model.energy, model.step_unit

    def run(x):
        with torch.no_grad():
            u0 = model.init(x) / s
            if kind == "torch-cf":
                consts = E.prepare(x)
                info = model.optimizer(u0, lambda u: E(u * s, x), grad_fn=lambda u: E.grad(u * s, consts) * s,
                                       mode="none")
            else:
                info = model.optimizer(u0, lambda u: E(u * s, x), mode="none")
            return info.iterates[-1] * s
    return run


def cold_jit_seconds() -> float:
    """Seconds to compile the fused kernels (float32) from an empty numba cache, in a subprocess."""
    code = ("import time, torch; torch.set_num_threads(1)\n"
            "from energy3d.energies.pose import PoseEnergy\n"
            "E = PoseEnergy(17, 17, hips=(4, 1)); y = torch.randn(8, 17, 3); y[..., 2] += 4\n"
            "t = time.perf_counter(); E.descend(y, torch.randn(8, 17, 2) * 0.1, 1, 1.0, 1.0, 0.1)\n"
            "print(time.perf_counter() - t)\n")
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, NUMBA_CACHE_DIR=d)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2, help="torch (and numba) threads")
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--repeats", type=int, default=25)
    ap.add_argument("--reference-repeats", type=int, default=7,
                    help="repeats of the second phase (the ige4 reference rows beside b1024-2)")
    ap.add_argument("--checkpoints", nargs="?", const="runs", default=None,
                    help="runs folder with <name>-gt/best.json checkpoints (default folder: runs)")
    ap.add_argument("--no-reference", action="store_true", help="skip the ige4 torch closed-form and autograd rows")
    ap.add_argument("--cold-jit", action="store_true", help="also time a numba compile from an empty cache")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="wall: elapsed time (the throughput); cpu: this process's CPU time, a development aid "
                         "for --threads 1 on a busy machine (it ignores time spent waiting for a core)")
    ap.add_argument("--note", default="", help="free text stored with the results (e.g. machine load)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="benchmarks/results/lift_speed.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    x = torch.randn(args.batch, 17, 2) * 0.1
    models = build_models(args, x)

    runs = {name: (lambda m: (lambda xx: m(xx)))(m) for name, (m, _) in models.items()}
    if not args.no_reference:
        runs["ige4-torch-cf"] = ige_reference(models["ige4"][0], "torch-cf")
        runs["ige4-autograd"] = ige_reference(models["ige4"][0], "autograd")

    # warm-up (the first fused call compiles the numba kernels or loads them from the disk cache)
    first_call = {}
    with torch.no_grad():
        for name, fn in runs.items():
            t = time.perf_counter()
            fn(x)
            first_call[name] = time.perf_counter() - t
            fn(x)
        diff = move = None
        if not args.no_reference:
            fused = models["ige4"][0].iterate(x).iterates
            diff = (fused[-1] - runs["ige4-torch-cf"](x)).abs().max().item()
            move = (fused[-1] - fused[0]).abs().max().item()

    clock = time.perf_counter if args.clock == "wall" else time.process_time
    times = {name: [] for name in runs}
    # phase 1: the four models of the table, interleaved; phase 2: the reference rows (their
    # large temporary allocations, the autograd graph above all, would otherwise disturb the
    # allocator and caches for whichever model runs next), interleaved with b1024-2 again
    phases = [list(models), [n for n in runs if n not in models] + ["b1024-2"]]
    load0 = os.getloadavg()
    with torch.no_grad():
        for phase, names in enumerate(phases):
            if len(names) < 2:
                continue
            for r in range(args.repeats if phase == 0 else args.reference_repeats):
                order = names[r % len(names):] + names[:r % len(names)]
                for name in order:
                    t = clock()
                    runs[name](x)
                    times[name].append(clock() - t)
    load1 = os.getloadavg()

    base_times = times["b1024-2"][:args.repeats]
    base = statistics.median(base_times)
    rows = []
    for name in runs:
        model = models[name.split("-")[0] if name.startswith("ige4-") else name][0]
        mine = times[name][:args.repeats] if name == "b1024-2" else times[name]  # b1024-2: its phase-1 row
        med = statistics.median(mine)
        # ratio of each repeat's two timings (same conditions), then the median over repeats
        ref = base_times if name in models else times["b1024-2"][args.repeats:]
        paired = statistics.median(b / t for b, t in zip(ref, times[name]))
        rows.append({"model": name, "parameters": count_parameters(model), "macs_per_pose": model.macs(),
                     "median_s": med, "times_s": [round(t, 5) for t in mine],
                     "poses_per_s": args.batch / med, "ratio_vs_b1024_2": base / med,
                     "paired_ratio_median": paired, "phase": 1 if name in models else 2,
                     "weights": models.get(name, models["ige4"])[1]})

    print(f"batch {args.batch}, {args.threads} threads, median of {args.repeats} {args.clock}-clock timings "
          f"(load avg {load0[0]:.2f} -> {load1[0]:.2f})")
    print(f"{'model':15s} {'params':>10s} {'MACs/pose':>11s} {'poses/s':>10s} {'vs b1024-2':>10s} {'paired':>7s}")
    for row in rows:
        print(f"{row['model']:15s} {row['parameters']:10,d} {row['macs_per_pose']:11,d} "
              f"{row['poses_per_s']:10,.0f} {row['ratio_vs_b1024_2']:9.2f}x {row['paired_ratio_median']:6.2f}x")
    jit = {"first_call_s": {k: round(v, 3) for k, v in first_call.items() if k.startswith("ige")}}
    if args.cold_jit:
        jit["cold_compile_s"] = round(cold_jit_seconds(), 2)
    print("numba first call (compile or cache load):",
          ", ".join(f"{k} {v:.2f}s" for k, v in jit["first_call_s"].items() if k in ("ige4", "ige8")),
          f"; cold compile {jit['cold_compile_s']:.1f}s" if "cold_compile_s" in jit else "")

    import numba
    doc = {
        "benchmark": "batched CPU inference throughput of lifting models (poses/s)",
        "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "threads": args.threads, "batch": args.batch, "repeats": args.repeats,
        "reference_repeats": args.reference_repeats, "statistic": "median",
        "phases": "1: b1024-2, b128-1, ige4, ige8 interleaved (rotated order each repeat); 2: the ige4 "
                  "reference rows interleaved with b1024-2 again; paired_ratio_median = median over "
                  "repeats of (b1024-2 time / model time) within the same phase",
        "clock": args.clock,
        "torch": torch.__version__, "numba": numba.__version__,
        "python": platform.python_version(), "cpu": cpu_model(), "cpu_count": os.cpu_count(),
        "load_average_before_after": [round(load0[0], 2), round(load1[0], 2)], "note": args.note,
        "input": "random normalised 2D joints (h36m17 layout), N(0, 0.1^2)",
        "jit": jit, "ige4_fused_vs_torch_closed_form_max_abs_diff_m": diff, "ige4_max_abs_move_m": move,
        "results": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
