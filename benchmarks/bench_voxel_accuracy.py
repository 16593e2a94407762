"""Table 3 and Table 4 analogues of IGE-Net (§6.5) on the objects_cc0 test split.

Evaluates the checkpoints trained by ``benchmarks/train_voxel_all.sh`` (``runs/NAME/best.json``) and
writes

* ``benchmarks/results/voxel_table3.json``: IoU @ 0.5 (%) per category and the mean over categories
  at 32³ for the IGE model (continuous IoU loss) and the 3D-deconv baseline on the frustum dataset,
  and the baseline on the world-aligned dataset;
* ``benchmarks/results/voxel_table4.json``: mean IoU (%) of the IGE model trained with each of the
  four losses (continuous IoU, cross-entropy α = γ = 0, α = 0.7, focal γ = 2) at 32³ and at 64³
  (configs ``ige-mn-{32,64}[-ce|-a07|-g2]``), each evaluated at its training resolution and, after
  trilinear upsampling, at the higher ones up to 128³. The 32³ continuous-IoU row falls back to the
  bundled checkpoint (that run's best epoch with float16 weights) when ``runs/ige-mn-32`` is absent.

Data: 64 px renders (the CPU configs), 24 views per test model; 128³ ground truth needs 128 px
renders, which are area-averaged to 64 px for the models (see :mod:`energy3d.tasks.voxel`). Every
number is IoU at threshold 0.5; the best threshold (chosen on the test set: an oracle) is stored
separately under ``best_threshold``. Parameters and forward multiply-adds come from the checkpoints.

Usage: python benchmarks/bench_voxel_accuracy.py [--runs runs] [--out benchmarks/results] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

from energy3d.tasks.voxel import eval_dataset_config
from energy3d.viz.tables import print_voxel_table
from energy3d.config import from_dict
from energy3d.tasks.voxel import VoxelDataConfig, evaluate_voxel, load_voxel_model, open_shape_split

TABLE3 = {"IGE (frustum)": "ige-mn-32", "Base (frustum)": "base-frustum-32", "Base (world)": "base-world-32"}
LOSSES = {"cont. IoU": "", "α = γ = 0": "-ce", "α = 0.7": "-a07", "γ = 2": "-g2"}
TRAIN_RES = (32, 64)
TABLE4 = {f"{loss} @ {r}³": f"ige-mn-{r}{suffix}" for loss, suffix in LOSSES.items() for r in TRAIN_RES}
# the bundled voxel checkpoint is runs/ige-mn-32/best exported with float16 weights
# (energy3d export --half): used for that row when the run folder is not there
BUNDLED = {"ige-mn-32": Path(__file__).resolve().parents[1] / "src" / "energy3d" / "assets" / "voxel-ige-32.json"}


def _checkpoint(runs: Path, name: str) -> Path | None:
    path = runs / name / "best.json"
    if path.is_file():
        return path
    return BUNDLED[name] if name in BUNDLED and BUNDLED[name].is_file() else None


def _eval(ckpt: Path, resolutions, limit, cache):
    model, meta = load_voxel_model(ckpt)
    data = from_dict(VoxelDataConfig, meta["config"]["data"])
    out = {"checkpoint": str(ckpt), "model_type": meta["model_type"], "parameters": meta.get("parameters"),
           "weights_dtype": meta.get("weights_dtype", "float32"), "train_epochs": meta["config"]["train"]["epochs"],
           "macs": meta.get("macs"), "trained_resolution": model.cfg.resolution, "target": data.target,
           "epochs": meta.get("metrics", {}).get("epoch"), "split": "test", "by_resolution": {}}
    for r in resolutions:
        if r < model.cfg.resolution:
            continue
        cfg = eval_dataset_config(data, r, "test")
        key = (cfg.image_size, cfg.resolution, cfg.target, cfg.categories, cfg.limit_per_category)
        if key not in cache:
            cache[key] = open_shape_split(cfg, "test")
        t0 = time.perf_counter()
        res = evaluate_voxel(model, cache[key], target=data.target, limit=limit, batch_size=16 if r <= 64 else 4)
        res["seconds"] = round(time.perf_counter() - t0, 1)
        res["data"] = f"objects_cc0 test split, {cfg.image_size} px renders, {r}³ {data.target} grids"
        out["by_resolution"][str(r)] = res
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", default="runs")
    ap.add_argument("--out", default="benchmarks/results")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=None, help="at most this many test images per evaluation")
    ap.add_argument("--tables", type=int, nargs="+", default=[3, 4], choices=[3, 4], help="which tables to make")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    runs, out = Path(args.runs), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    info = {"machine": platform.platform(), "torch": torch.__version__, "metric": "IoU @ 0.5 in %, mean over categories",
            "note": "best_threshold entries are oracle thresholds chosen on the test data, reported separately"}
    cache: dict = {}
    wanted = (set(TABLE3.values()) if 3 in args.tables else set()) | (set(TABLE4.values()) if 4 in args.tables else set())
    missing = [n for n in wanted if _checkpoint(runs, n) is None]
    if missing:
        print(f"missing runs (train them with benchmarks/train_voxel_all.sh): {sorted(missing)}", file=sys.stderr)

    if 3 in args.tables:
        table3(runs, out, info, missing, args.limit, cache)
    if 4 in args.tables:
        table4(runs, out, info, missing, args.limit, cache)
    return 0


def table3(runs: Path, out: Path, info: dict, missing: list, limit, cache) -> dict:
    """IoU @ 0.5 per category at 32³: IGE and baseline on frustum grids, baseline on world grids."""
    t3 = {"info": info, "columns": {}}
    for col, name in TABLE3.items():
        if name in missing:
            continue
        res = _eval(_checkpoint(runs, name), [32], limit, cache)
        t3["columns"][col] = res
        print_voxel_table({**res, "split": "test"}, title=f"Table 3 analogue, {col} ({name}): IoU @ 0.5, %")
    (out / "voxel_table3.json").write_text(json.dumps(t3, indent=2))
    if t3["columns"]:
        _plot_table3(t3, out / "voxel_table3.png")
    print(f"wrote {out / 'voxel_table3.json'}")
    return t3


def _plot_table3(t3: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    cols = list(t3["columns"])
    cats = sorted(t3["columns"][cols[0]]["by_resolution"]["32"]["iou@0.5"]["per_category"])
    fig, ax = plt.subplots(figsize=(max(8, 0.8 * len(cats) + 2), 4))
    w = 0.8 / len(cols)
    for i, col in enumerate(cols):
        iou = t3["columns"][col]["by_resolution"]["32"]["iou@0.5"]
        per = iou["per_category"]
        vals = [100 * per[c]["iou"] if c in per else float("nan") for c in cats] + [100 * iou["mean"]]
        ax.bar(np.arange(len(cats) + 1) + (i - (len(cols) - 1) / 2) * w, vals, w, label=col)
    ax.set_xticks(np.arange(len(cats) + 1), cats + ["mean"], rotation=45, ha="right")
    ax.set_ylabel("IoU @ 0.5 (%)")
    ax.set_title("Table 3 analogue: objects_cc0 test split, 32³")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plot_table4(t4: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, loss in enumerate(LOSSES):
        for r, style in zip(TRAIN_RES, ("-", "--")):
            res = t4["rows"].get(f"{loss} @ {r}³")
            if res is None:
                continue
            by = res["by_resolution"]
            rs = sorted(int(k) for k in by)
            ax.plot(rs, [100 * by[str(k)]["iou@0.5"]["mean"] for k in rs], style, marker="o", color=colors[i],
                    label=f"{loss}, trained {r}³")
    ax.set_xscale("log", base=2)
    ax.set_xticks([32, 64, 128], ["32³", "64³", "128³"])
    ax.set_xlabel("evaluation resolution (trilinear upsampling above the training resolution)")
    ax.set_ylabel("mean IoU @ 0.5 (%)")
    ax.set_title("Table 4 analogue: IGE-MN by training loss, objects_cc0 test split")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def table4(runs: Path, out: Path, info: dict, missing: list, limit, cache) -> dict:
    """Mean IoU of the IGE model by training loss and training resolution (32³, 64³), each evaluated
    at its own resolution and, after trilinear upsampling, at the higher ones up to 128³."""
    t4 = {"info": {**info, "layout": "rows 'LOSS @ R³': IGE-MN trained with LOSS at R³; by_resolution: "
                                    "evaluated at that resolution (trilinear upsampling above R)"},
          "rows": {}}
    for col, name in TABLE4.items():
        if name in missing:
            continue
        t4["rows"][col] = _eval(_checkpoint(runs, name), [32, 64, 128], limit, cache)
    (out / "voxel_table4.json").write_text(json.dumps(t4, indent=2))
    if t4["rows"]:
        _plot_table4(t4, out / "voxel_table4.png")

    from rich.console import Console
    from rich.table import Table

    t = Table(title="Table 4 analogue: mean IoU @ 0.5 (%) of IGE-MN by training loss (rows) and training "
                    "resolution (columns), evaluated at the training resolution; in brackets: upsampled to 128³")
    t.add_column("loss")
    for r in TRAIN_RES:
        t.add_column(f"trained {r}³", justify="right")
    t.add_column("epochs", justify="right")
    for loss in LOSSES:
        cells, epochs = [], []
        for r in TRAIN_RES:
            res = t4["rows"].get(f"{loss} @ {r}³")
            if res is None:
                cells.append("-")
                continue
            by = res["by_resolution"]
            cell = f"{100 * by[str(r)]['iou@0.5']['mean']:.1f}"
            if "128" in by and r != 128:
                cell += f" ({100 * by['128']['iou@0.5']['mean']:.1f})"
            cells.append(cell)
            epochs.append(str(res["train_epochs"]))
        t.add_row(loss, *cells, "/".join(epochs))
    Console().print(t)
    print(f"wrote {out / 'voxel_table4.json'}")
    return t4


if __name__ == "__main__":
    sys.exit(main())
