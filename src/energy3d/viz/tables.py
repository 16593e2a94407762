"""Text tables of results (rich), printed by the command line and the benchmarks."""

from __future__ import annotations

import json
import math

from rich.console import Console
from rich.table import Table


def _fmt(v) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.1f}"


def print_lift_table(res: dict) -> None:
    """MPJPE / P1a / PA-MPJPE (mm) per action and averaged; ``None`` metrics print as ``n/a``."""
    t = Table(title=f"{res['model_type']} on {res['source']} ({res['two_d']} 2D), mm")
    for c in ("action", "poses", "MPJPE", "P1a", "PA-MPJPE"):
        t.add_column(c, justify="right" if c != "action" else "left")
    for g, m in res["per_group"].items():
        t.add_row(g, str(m["count"]), _fmt(m["mpjpe_mm"]), _fmt(m["p1a_mm"]), _fmt(m["pa_mpjpe_mm"]))
    a = res["average"]
    t.add_row("average (of actions)", str(res["poses"]), _fmt(a["mpjpe_mm"]), _fmt(a["p1a_mm"]), _fmt(a["pa_mpjpe_mm"]),
              style="bold")
    Console().print(t)


def print_voxel_table(results: dict, title: str | None = None) -> None:
    """Rich table: IoU@0.5 (%) per category and resolution, the mean over categories, the best threshold."""
    by = results["by_resolution"]
    t = Table(title=title or f"{results['model_type']} ({results['target']} grids, {results['split']} split): IoU @ 0.5, %")
    t.add_column("category")
    for r in by:
        t.add_column(f"{r}³", justify="right")
    cats = sorted({c for v in by.values() for c in v["iou@0.5"]["per_category"]})
    for c in cats:
        t.add_row(c, *[f"{100 * v['iou@0.5']['per_category'][c]['iou']:.1f}" if c in v["iou@0.5"]["per_category"] else "-"
                       for v in by.values()])
    t.add_row("mean (of categories)", *[f"{100 * v['iou@0.5']['mean']:.1f}" for v in by.values()], style="bold")
    t.add_row("best threshold (oracle)", *[f"{100 * v['best_threshold']['mean']:.1f} @ {v['best_threshold']['threshold']:.2f}"
                                           for v in by.values()])
    Console().print(t)


def print_structured_table(res: dict) -> None:
    """PA-MPJPE (mm) per action (rows) and topology (columns), Kinauer et al. Table 1 style, with the
    certified fraction, ADMM iterations and milliseconds per image of the structured inference."""
    topos = list(res["topologies"])
    t = Table(title=f"structured pose ({res['input']} input, {res['stage']} stage) on the rendered {res['split']} split: "
                    f"PA-MPJPE, mm ({res['images']} images, {res['candidates']} candidates per joint)")
    t.add_column("action")
    for name in topos:
        t.add_column(name.replace("_", " "), justify="right")
    actions = list(next(iter(res["topologies"].values()))["per_action"])
    for a in actions:
        t.add_row(a, *[_fmt(res["topologies"][n]["per_action"][a]) for n in topos])
    t.add_row("average (of actions)", *[_fmt(res["topologies"][n]["pa_mpjpe_mm"]) for n in topos], style="bold")
    t.add_row("certified optimal", *[f"{100 * res['topologies'][n]['certified_fraction']:.0f} %" for n in topos])
    t.add_row("ADMM iterations", *[f"{res['topologies'][n]['admm_iterations_mean']:.1f}" for n in topos])
    t.add_row("structured ms/image", *[f"{res['topologies'][n]['ms_structured_per_image']:.1f}" for n in topos])
    Console().print(t)
    print(f"CNN: {res['ms_cnn_per_image']:.1f} ms per image")


def print_json(doc) -> None:
    print(json.dumps(doc, indent=2))
