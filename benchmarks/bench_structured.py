"""Benchmark (issue 3): structured inference on h36m17 part graphs -- speed and exactness.

Instances are model-like (:func:`energy3d.structured.realistic_instance`): one shared ``g^3`` voxel
volume (2 m cube) around a random h36m17 pose, candidates = voxel centres moved by a regressed
residual, unaries peaked at the true joint with noise (sometimes a left/right confusion peak and a
spurious peak), ``mu_ij`` = true displacement + noise, ``c`` from 5/5/8 cm tolerances. ``N = g^3``
candidates per joint for g in 10, 20, 30 (N = 1,000, 8,000, 27,000).

Sections:

* **star**: center-star graph (16 leaves on Spine). Branch-and-bound (:func:`solve_star`, time
  including the KD-tree build, which is also reported apart) against brute force on the same
  instances in the same run: dynamic programming over all candidate pairs (``numba``: compiled
  loop, one thread; ``torch``: vectorised float64, torch's threads, N <= 8,000 only). Optima are
  compared (score to 1e-9 relative, configuration).
* **admm**: each topology, both consensus modes (``marginal``: the default, AD3-style, certifies
  optimality; ``position``: the paper's 3D-position consensus). Time includes the KD-tree build.
  Gap = exact optimum - ADMM score, where the exact optimum comes from dynamic programming (trees)
  or from the marginal ADMM's certificate (loopy graphs, when certified).
* **kbest**: K = 20 best configurations / most violated (loss-augmented) configurations.
* **tiny_loopy**: ADMM vs exhaustive search on 100 random loopy graphs (3-5 parts, 2-6 candidates).

Times are medians over seeds x repeats after a warm-up (numba's first-call compile is excluded and
measured separately, cold, in a subprocess with an empty cache). The machine is shared: timings
may be inflated by other processes (the load average is recorded).

Usage: python benchmarks/bench_structured.py [--sizes 1000 8000 27000] [--seeds 5] [--repeats 3]
       [--brute-seeds 3] [--seed 0] [--out benchmarks/results/structured.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TOPOLOGIES = ("center_star", "stick_figure", "extended_stick_figure", "two_hop")
TREES = ("center_star", "stick_figure")


def _machine() -> dict:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import numba
    import torch

    return {"platform": platform.platform(), "cpu": cpu, "cpu_count": os.cpu_count(),
            "python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__,
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "load_average_start": os.getloadavg()}


_COLD = r"""
import json, time
T = time.perf_counter
t = T(); import energy3d.structured as st; imp = T() - t
out = {"import_s": imp}
t = T(); st.solve_star(st.realistic_problem("center_star", grid=3, seed=0)); out["bnb_s"] = T() - t
p = st.realistic_problem("two_hop", grid=3, seed=0)
t = T(); st.solve_admm(p); out["admm_marginal_s"] = T() - t
t = T(); st.solve_admm(p, consensus="position"); out["admm_position_s"] = T() - t
t = T(); st.solve_tree_dp(st.realistic_problem("stick_figure", grid=3, seed=0)); out["dp_numba_s"] = T() - t
print(json.dumps(out))
"""


def cold_compile() -> dict:
    """First-call cost (numba compile) of each solver, in a fresh process with an empty cache."""
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, NUMBA_CACHE_DIR=d)
        r = subprocess.run([sys.executable, "-c", _COLD], env=env, capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        return {"error": r.stderr[-2000:]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def _same(a: float, b: float) -> bool:
    return a == b or abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def _med(xs) -> float:
    return float(np.median(xs)) if len(xs) else float("nan")


def bench_star(N: int, seeds: list[int], repeats: int, brute_seeds: int, torch_max_n: int) -> dict:
    from energy3d.structured import realistic_problem, solve_star, solve_tree_dp

    g = round(N ** (1 / 3))
    total, build, search, nodes = [], [], [], []
    brute, brute_t, identical, same_cfg = [], [], [], []
    for k, seed in enumerate(seeds):
        prob = realistic_problem("center_star", grid=g, seed=seed)
        sol = None
        for _ in range(repeats):
            t = time.perf_counter()
            sol = solve_star(prob)
            total.append(time.perf_counter() - t)
            build.append(sol.info.build_time_s)
            search.append(sol.info.search_time_s)
        nodes.append(sol.info.nodes_expanded)
        if k < brute_seeds:
            t = time.perf_counter()
            dp = solve_tree_dp(prob, root=sol.info.root, backend="numba")
            brute.append(time.perf_counter() - t)
            identical.append(_same(dp.score, sol.score))
            same_cfg.append(bool(np.array_equal(dp.config, sol.config)))
            if k == 0 and N <= torch_max_n:
                t = time.perf_counter()
                dpt = solve_tree_dp(prob, root=sol.info.root, backend="torch")
                brute_t.append(time.perf_counter() - t)
                identical.append(_same(dpt.score, sol.score))
    row = {"N": N, "grid": g, "instances": len(seeds), "repeats": repeats,
           "bnb_ms": 1e3 * _med(total), "bnb_build_ms": 1e3 * _med(build), "bnb_search_ms": 1e3 * _med(search),
           "bnb_nodes_expanded_median": _med(nodes),
           "brute_numba_s": _med(brute), "brute_numba_instances": len(brute),
           "brute_torch_s": _med(brute_t) if brute_t else None,
           "ratio_numba": _med(brute) / _med(total) if brute else None,
           "ratio_torch": _med(brute_t) / _med(total) if brute_t else None,
           "identical_optima": bool(all(identical)), "identical_configs": bool(all(same_cfg))}
    return row


def bench_admm(N: int, seeds: list[int], repeats: int, exact_seeds: int) -> list[dict]:
    from energy3d.structured import realistic_problem, solve_admm, solve_tree_dp

    g = round(N ** (1 / 3))
    rows = []
    for topo in TOPOLOGIES:
        per_mode: dict[str, dict] = {m: {"t": [], "it": [], "agreed": [], "rate": [], "cert": [], "gap": [],
                                         "opt": [], "solves": [], "ref": []} for m in ("marginal", "position")}
        for k, seed in enumerate(seeds):
            prob = realistic_problem(topo, grid=g, seed=seed)
            sols = {}
            for mode in ("marginal", "position"):
                for _ in range(repeats):
                    t = time.perf_counter()
                    sols[mode] = solve_admm(prob, consensus=mode)
                    per_mode[mode]["t"].append(time.perf_counter() - t)
                info = sols[mode].info
                per_mode[mode]["it"].append(info.iterations)
                per_mode[mode]["agreed"].append(info.agreed)
                per_mode[mode]["rate"].append(info.agreement_rate)
                per_mode[mode]["cert"].append(info.decoded == "certified")
                per_mode[mode]["solves"].append(info.star_solves)
            opt, ref = None, None
            if topo in TREES and k < exact_seeds:
                opt, ref = solve_tree_dp(prob, backend="numba").score, "dp"
            elif sols["marginal"].info.decoded == "certified":
                opt, ref = sols["marginal"].score, "certificate"
            for mode in ("marginal", "position"):
                if opt is not None:
                    per_mode[mode]["gap"].append(opt - sols[mode].score)
                    per_mode[mode]["opt"].append(opt)
                    per_mode[mode]["ref"].append(ref)
        for mode, d in per_mode.items():
            gaps = np.asarray(d["gap"])
            tol = 1e-9 * np.maximum(1.0, np.abs(np.asarray(d["opt"])))
            rows.append({
                "topology": topo, "N": N, "mode": mode, "instances": len(seeds), "repeats": repeats,
                "ms_median": 1e3 * _med(d["t"]), "ms_mean": 1e3 * float(np.mean(d["t"])),
                "iterations_mean": float(np.mean(d["it"])), "iterations_max": int(np.max(d["it"])),
                "star_solves_mean": float(np.mean(d["solves"])),
                "agreed_fraction": float(np.mean(d["agreed"])), "agreement_rate_mean": float(np.mean(d["rate"])),
                "certified_fraction": float(np.mean(d["cert"])),
                "gap_instances": int(gaps.size), "gap_reference": sorted(set(d["ref"])),
                "exact_fraction": float(np.mean(gaps <= tol)) if gaps.size else None,
                "gap_mean": float(gaps.mean()) if gaps.size else None,
                "gap_max": float(gaps.max()) if gaps.size else None,
            })
    return rows


def bench_kbest(seed: int) -> list[dict]:
    from energy3d.structured import kbest, most_violated, realistic_instance

    rows = []
    for topo, grid in (("center_star", 20), ("stick_figure", 10), ("two_hop", 10)):
        inst = realistic_instance(topo, grid=grid, seed=seed)
        t = time.perf_counter()
        kb = kbest(inst.problem, k=20)
        t1 = time.perf_counter() - t
        t = time.perf_counter()
        mv = most_violated(inst.problem, inst.gt, k=20)
        t2 = time.perf_counter() - t
        rows.append({"topology": topo, "N": grid ** 3, "k": 20, "method": kb.info.method,
                     "kbest_s": t1, "kbest_solves": kb.info.solves, "kbest_exact": kb.info.exact,
                     "kbest_in_order": bool(np.all(np.diff(kb.scores) <= 1e-12)),
                     "most_violated_s": t2, "most_violated_exact": mv.info.exact,
                     "most_violated_loss_mean_m": float(mv.losses.mean())})
    return rows


def bench_tiny_loopy(n: int, seed: int) -> dict:
    from energy3d.structured import random_problem, solve_admm, solve_exhaustive
    from energy3d.structured.random import random_edges

    out = {}
    for mode in ("marginal", "position"):
        gaps, cert = [], 0
        for k in range(n):
            rng = np.random.default_rng(seed * 100003 + k)
            P = int(rng.integers(3, 6))
            prob = random_problem(random_edges(P, rng, "loopy"), rng.integers(2, 7, size=P), rng,
                                  c_scale=10 ** rng.uniform(-1, 1))
            opt = solve_exhaustive(prob).score
            sol = solve_admm(prob, consensus=mode)
            gaps.append((opt - sol.score) / max(1.0, abs(opt)))
            cert += sol.info.decoded == "certified"
        gaps = np.asarray(gaps)
        out[mode] = {"instances": n, "exact": int((gaps <= 1e-9).sum()), "certified": cert,
                     "relative_gap_mean": float(gaps.mean()), "relative_gap_max": float(gaps.max())}
    return out


def _print(res: dict) -> None:
    print("\nStar (center star, 17 parts): branch-and-bound vs brute force (dynamic programming)")
    print(f"{'N':>6} {'BnB ms':>8} {'build':>7} {'search':>7} {'DP numba s':>11} {'DP torch s':>11} "
          f"{'ratio':>8} {'identical':>9}")
    for r in res["star"]:
        bt = "-" if r["brute_torch_s"] is None else f"{r['brute_torch_s']:.2f}"
        print(f"{r['N']:>6} {r['bnb_ms']:>8.2f} {r['bnb_build_ms']:>7.2f} {r['bnb_search_ms']:>7.2f} "
              f"{r['brute_numba_s']:>11.2f} {bt:>11} {r['ratio_numba']:>7.0f}x {str(r['identical_optima']):>9}")
    print("\nADMM (time includes KD-tree build; gap = exact optimum - ADMM score)")
    print(f"{'topology':<22} {'N':>6} {'mode':<9} {'ms med':>8} {'iter':>6} {'max':>4} {'agree':>6} "
          f"{'cert':>5} {'exact':>6} {'gap max':>9}")
    for r in res["admm"]:
        ex = "-" if r["exact_fraction"] is None else f"{r['exact_fraction']:.2f}"
        gm = "-" if r["gap_max"] is None else f"{r['gap_max']:.2g}"
        print(f"{r['topology']:<22} {r['N']:>6} {r['mode']:<9} {r['ms_median']:>8.1f} {r['iterations_mean']:>6.1f} "
              f"{r['iterations_max']:>4} {r['agreement_rate_mean']:>6.2f} {r['certified_fraction']:>5.2f} "
              f"{ex:>6} {gm:>9}")
    print("\nK-best (K = 20) and loss-augmented inference")
    for r in res["kbest"]:
        print(f"  {r['topology']:<14} N={r['N']:<6} {r['method']:<5} kbest {r['kbest_s']:.2f} s "
              f"({r['kbest_solves']} solves, exact={r['kbest_exact']})  most violated {r['most_violated_s']:.2f} s")
    print("\nTiny loopy graphs vs exhaustive search")
    for m, r in res["tiny_loopy"].items():
        print(f"  {m:<9} exact {r['exact']}/{r['instances']}, certified {r['certified']}, "
              f"relative gap mean {r['relative_gap_mean']:.2e}, max {r['relative_gap_max']:.2e}")
    print(f"\nJIT compile (cold, first calls): {res['jit_compile_cold_s']}")
    print(f"Targets: {res['targets']}")


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 8000, 27000])
    ap.add_argument("--seeds", type=int, default=5, help="instances per size and topology")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per instance")
    ap.add_argument("--brute-seeds", type=int, default=3, help="instances also solved by brute force / DP")
    ap.add_argument("--torch-max-n", type=int, default=8000, help="largest N for the torch brute force")
    ap.add_argument("--tiny", type=int, default=100, help="tiny loopy instances vs exhaustive search")
    ap.add_argument("--seed", type=int, default=0, help="first instance seed")
    ap.add_argument("--no-cold", action="store_true", help="skip the cold-compile measurement")
    ap.add_argument("--out", default="benchmarks/results/structured.json")
    args = ap.parse_args(argv)

    t_start = time.time()
    cold = {} if args.no_cold else cold_compile()
    from energy3d.structured import realistic_problem, solve_admm, solve_star, solve_tree_dp

    # warm-up: compile (or load) every kernel outside the timed region
    solve_star(realistic_problem("center_star", grid=4, seed=0))
    for mode in ("marginal", "position"):
        solve_admm(realistic_problem("two_hop", grid=4, seed=0), consensus=mode)
    solve_tree_dp(realistic_problem("stick_figure", grid=3, seed=0), backend="numba")
    solve_tree_dp(realistic_problem("stick_figure", grid=3, seed=0), backend="torch")

    seeds = list(range(args.seed, args.seed + args.seeds))
    res: dict = {
        "command": ("python benchmarks/bench_structured.py "
                    + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))).rstrip(),
        "seed": args.seed, "seeds": seeds, "machine": _machine(), "jit_compile_cold_s": cold,
        "star": [], "admm": [],
    }
    for N in args.sizes:
        res["star"].append(bench_star(N, seeds, max(args.repeats, 5), args.brute_seeds, args.torch_max_n))
        print(f"star N={N} done ({time.time() - t_start:.0f} s)", flush=True)
    for N in args.sizes:
        res["admm"].extend(bench_admm(N, seeds, args.repeats, args.brute_seeds))
        print(f"admm N={N} done ({time.time() - t_start:.0f} s)", flush=True)
    res["kbest"] = bench_kbest(args.seed)
    res["tiny_loopy"] = bench_tiny_loopy(args.tiny, args.seed)
    star8k = next((r for r in res["star"] if r["N"] == 8000), None)
    hop8k = next((r for r in res["admm"] if r["N"] == 8000 and r["topology"] == "two_hop" and r["mode"] == "marginal"),
                 None)
    res["targets"] = {
        "identical_optima_all_sizes": all(r["identical_optima"] for r in res["star"]),
        "bnb_vs_brute_at_8000_ge_30x": None if star8k is None else star8k["ratio_numba"] >= 30,
        "star_solve_8000_under_20ms": None if star8k is None else star8k["bnb_ms"] < 20,
        "two_hop_admm_8000_under_100ms": None if hop8k is None else hop8k["ms_median"] < 100,
    }
    res["machine"]["load_average_end"] = os.getloadavg()
    res["wall_s"] = time.time() - t_start
    _print(res)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    print(f"\nwrote {out}")
    return res


if __name__ == "__main__":
    main()
