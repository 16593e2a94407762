"""Fig. 4 and Table 1 analogues of IGE-Net (§5.3) on the Bandai test split.

Evaluates the checkpoints trained by ``benchmarks/train_lift_all.sh`` (``runs/NAME/best.json``) on
the test split (clips of styles elderly, masculine, giant, tired; 10 fps; one random virtual
camera per pose, seed 0) with exact ("gt") and detector-noise ("noisy") 2D inputs, and writes

* ``benchmarks/results/lift_fig4.json`` + ``lift_fig4.png``: PA-MPJPE against multiply-adds for
  baselines of width {128,256,512,1024} x blocks {1,2} and IGE with T in {0,1,2,4,8,16} (GT 2D),
  and the trained IGE-8 stopped after t = 0..8 of its inner steps (``ige8_by_step``: what the
  steps add on top of the jointly fine-tuned initialiser);
* ``benchmarks/results/lift_table1.json``: b1024-2 vs IGE-4 vs IGE-8, P1a and PA-MPJPE, GT and
  noisy 2D, with parameter counts and the paper's targets checked.

Metrics (mm, 17 joints incl. pelvis, mean of per-action means): MPJPE (root-aligned), P1a (optimal
scale in the camera frame) and PA-MPJPE (similarity Procrustes). MACs are dense-layer multiply-adds
per pose of inference (IGE: initialiser + observed block + T closed-form gradient steps).

Usage: python benchmarks/bench_lift_accuracy.py [--runs runs] [--out benchmarks/results]
       [--only RUN ...] [--replot]
       python benchmarks/bench_lift_accuracy.py [--table-only] --suffix=-all --tag all
       (Fig. 4 and Table 1 of the models trained on every motion source, ``configs/lift/all/``, run
       names ``NAME-all``, each evaluated in the 2D geometry it trained on -> ``lift_fig4_all.json/png``,
       ``lift_table1_all.json``; ``--table-only``: Table 1 alone)
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

from energy3d.config import from_dict
from energy3d.data.lifting import LiftDataConfig, load_lifting_split
from energy3d.tasks.lift import evaluate_lifter, load_lifter
from energy3d.metrics import count_parameters

BASELINES = [f"b{w}-{b}" for b in (1, 2) for w in (128, 256, 512, 1024)]
IGE_T = [1, 2, 4, 8, 16]


def _eval(run: Path, ds, two_d, steps=None):
    model, meta = load_lifter(run / "best.json")
    data = from_dict(LiftDataConfig, meta["config"]["data"])
    t0 = time.perf_counter()
    res = evaluate_lifter(model, ds, two_d=two_d, seed=0, steps=steps, noise=data.noise, keypoints=data.keypoints,
                          markers=data.markers)
    T = model.steps if steps is None and hasattr(model, "steps") else (steps or 0)
    macs = model.macs(T) if hasattr(model, "steps") else model.macs()
    return {"model": meta["config"]["name"], "two_d": two_d, "keypoints": data.keypoints, "steps": T,
            "parameters": count_parameters(model), "macs": macs,
            "average": res["average"], "all": res["all"], "per_action": res["per_group"],
            "epochs": meta["metrics"]["epoch"], "train_epochs": meta["config"]["train"]["epochs"],
            "eval_seconds": round(time.perf_counter() - t0, 1)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", default="runs")
    ap.add_argument("--out", default="benchmarks/results")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--replot", action="store_true", help="only redraw lift_fig4.png from the saved lift_fig4.json")
    ap.add_argument("--only", nargs="+", metavar="RUN",
                    help="re-evaluate only these Fig. 4 runs (e.g. ige2-gt) and replace their rows in the saved "
                         "lift_fig4.json, keeping the others; Table 1 is left alone")
    ap.add_argument("--table-only", action="store_true", help="only Table 1 (b1024-2, IGE-4, IGE-8)")
    ap.add_argument("--suffix", default="", help="run-name suffix of the Table 1 runs (e.g. -all)")
    ap.add_argument("--tag", default="", help="suffix of the output file name (lift_table1_TAG.json)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    runs, out = Path(args.runs), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.replot:
        _plot(json.loads((out / "lift_fig4.json").read_text())["rows"], out / "lift_fig4.png")
        return
    if args.only:
        return _update_fig4(args.only, runs, out, args.tag)
    ds = load_lifting_split(LiftDataConfig(), "test")
    info = {"data": f"Bandai test split, {len(ds)} poses (10 fps, one virtual camera each, seed 0)",
            "command": "python " + " ".join(sys.argv), "torch": torch.__version__, "machine": platform.processor() or platform.machine()}

    if args.table_only:
        return _table1(runs, out, ds, info, args.suffix, args.tag)
    sfx, fig_name = args.suffix, "lift_fig4" + (f"_{args.tag}" if args.tag else "")
    fig4 = []
    for name in BASELINES:
        if (runs / f"{name}-gt{sfx}" / "best.json").exists():
            fig4.append({"family": f"base{name[-1]}", **_eval(runs / f"{name}-gt{sfx}", ds, "gt")})
    if (runs / f"b128-1-gt{sfx}" / "best.json").exists():
        fig4.append({"family": "ige", **_eval(runs / f"b128-1-gt{sfx}", ds, "gt"), "model": "ige0 (= b128-1)"})
    for T in IGE_T:
        if (runs / f"ige{T}-gt{sfx}" / "best.json").exists():
            fig4.append({"family": "ige", **_eval(runs / f"ige{T}-gt{sfx}", ds, "gt")})
    by_step = []  # the trained IGE-8 stopped after t = 0..8 inner steps: what the steps themselves add
    if (runs / f"ige8-gt{sfx}" / "best.json").exists():
        for t in range(9):
            r = _eval(runs / f"ige8-gt{sfx}", ds, "gt", steps=t)
            by_step.append({"steps": t, "macs": r["macs"], "average": r["average"]})
    (out / f"{fig_name}.json").write_text(json.dumps({**info, "rows": fig4, "ige8_by_step": by_step}, indent=2))
    print(f"{'model':18s} {'params':>9s} {'MACs':>10s} {'MPJPE':>7s} {'P1a':>7s} {'PA-MPJPE':>9s}")
    for r in fig4:
        a = r["average"]
        print(f"{r['model']:18s} {r['parameters']:9d} {r['macs']:10d} {a['mpjpe_mm']:7.1f} {a['p1a_mm']:7.1f} {a['pa_mpjpe_mm']:9.1f}")
    if by_step:
        print("IGE-8 (GT) stopped after t steps, PA-MPJPE:",
              " ".join(f"t={r['steps']}: {r['average']['pa_mpjpe_mm']:.1f}" for r in by_step))
    _plot(fig4, out / f"{fig_name}.png")
    _table1(runs, out, ds, info, sfx, args.tag)


def _table1(runs: Path, out: Path, ds, info: dict, suffix: str = "", tag: str = "") -> None:
    table = []
    for two_d in ("gt", "noisy"):
        for name in ("b1024-2", "ige4", "ige8"):
            run = runs / f"{name}-{two_d}{suffix}"
            if (run / "best.json").exists():
                table.append(_eval(run, ds, two_d))
    checks = {}
    for two_d in ("gt", "noisy"):
        rows = {_base(r["model"], suffix): r for r in table if r["two_d"] == two_d}
        if "b1024-2" in rows and "ige8" in rows:
            b, i = rows["b1024-2"], rows["ige8"]
            checks[two_d] = {
                "ige8_p1a_below_b1024-2": i["average"]["p1a_mm"] < b["average"]["p1a_mm"],
                "ige8_pa_ratio_to_b1024-2": i["average"]["pa_mpjpe_mm"] / b["average"]["pa_mpjpe_mm"],
                "ige8_pa_within_1.10x": i["average"]["pa_mpjpe_mm"] <= 1.10 * b["average"]["pa_mpjpe_mm"],
                "parameter_ratio": b["parameters"] / i["parameters"],
            }
    name = "lift_table1" + (f"_{tag}" if tag else "") + ".json"
    (out / name).write_text(json.dumps({**info, "rows": table, "targets": checks}, indent=2))
    print("\nTable 1 analogue (mm, mean over actions)")
    print(f"{'model':10s} {'params':>9s} {'P1a GT':>8s} {'P1a noisy':>10s} {'PA GT':>7s} {'PA noisy':>9s}")
    for name in ("b1024-2", "ige4", "ige8"):
        rr = {r["two_d"]: r for r in table if _base(r["model"], suffix) == name}
        if not rr:
            continue
        g = lambda d, k: f"{rr[d]['average'][k]:.1f}" if d in rr else "-"
        params = next(iter(rr.values()))["parameters"]
        print(f"{name:10s} {params:9d} {g('gt', 'p1a_mm'):>8s} {g('noisy', 'p1a_mm'):>10s} {g('gt', 'pa_mpjpe_mm'):>7s} {g('noisy', 'pa_mpjpe_mm'):>9s}")
    print(json.dumps(checks, indent=2))


def _base(model: str, suffix: str = "") -> str:
    """``ige8-noisy-all`` -> ``ige8`` (the run name without its 2D mode and suffix)."""
    if suffix and model.endswith(suffix):
        model = model[: -len(suffix)]
    return model.rsplit("-", 1)[0]


def _update_fig4(names, runs: Path, out: Path, tag: str = "") -> None:
    """Re-evaluate some Fig. 4 runs and replace their rows in ``lift_fig4[_TAG].json`` (each row keeps
    the date it was evaluated, so a file updated this way says which rows are newer)."""
    path = out / ("lift_fig4" + (f"_{tag}" if tag else "") + ".json")
    doc = json.loads(path.read_text())
    ds = load_lifting_split(LiftDataConfig(), "test")
    for name in names:
        run = runs / name
        if not (run / "best.json").exists():
            raise SystemExit(f"bench_lift_accuracy: {run / 'best.json'} not found")
        base = name.split("-gt")[0]
        family = "ige" if base.startswith("ige") else f"base{base[-1]}"
        row = {"family": family, **_eval(run, ds, "gt"), "evaluated": time.strftime("%Y-%m-%d")}
        keys = [i for i, r in enumerate(doc["rows"]) if r["model"] == row["model"]]
        if keys:
            doc["rows"][keys[0]] = row
        else:
            doc["rows"].append(row)
        a = row["average"]
        print(f"{row['model']:18s} {row['epochs']} epochs: MPJPE {a['mpjpe_mm']:.1f} P1a {a['p1a_mm']:.1f} "
              f"PA-MPJPE {a['pa_mpjpe_mm']:.1f}")
    doc["updated_rows"] = sorted(set(doc.get("updated_rows", [])) | set(names))
    path.write_text(json.dumps(doc, indent=2))
    _plot(doc["rows"], path.with_suffix(".png"))
    print(f"wrote {path}")


def _plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    style = {"base1": ("tab:red", "Base, 1 block"), "base2": ("tab:blue", "Base, 2 blocks"), "ige": ("black", "IGE (T steps)")}
    for fam, (c, label) in style.items():
        rs = sorted([r for r in rows if r["family"] == fam], key=lambda r: r["macs"])
        if not rs:
            continue
        ax.plot([r["macs"] for r in rs], [r["average"]["pa_mpjpe_mm"] for r in rs], "-", color=c, alpha=0.4)
        ax.scatter([r["macs"] for r in rs], [r["average"]["pa_mpjpe_mm"] for r in rs], color=c, label=label,
                   s=[max(12, r["parameters"] / 2e4) for r in rs])
        ige_macs = {r["macs"] for r in rows if r["family"] == "ige"}
        for r in rs:  # training budgets differ between runs: say where each one's checkpoint is from
            if fam != "ige" and r["macs"] in ige_macs:
                continue  # b128-1 is also IGE's T=0 point, labelled there
            ep = f"ep {r['epochs']}" if r.get("epochs") is not None else ""
            ep += f"/{r['train_epochs']}" if r.get("train_epochs") else ""
            text = f"T={r['steps']} ({ep})" if fam == "ige" else ep
            ax.annotate(text, (r["macs"], r["average"]["pa_mpjpe_mm"]), fontsize=7, color=c if fam != "ige" else "black",
                        xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("multiply-adds per pose (dense layers, inference)")
    ax.set_ylabel("PA-MPJPE (mm), Bandai test split, GT 2D")
    ax.set_title("energy3d: Fig. 4 analogue (dot size ~ parameters; ep: epoch of the kept checkpoint)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
