"""``energy3d <verb>``: the command line. Thin: it parses arguments and calls the library.

Verbs: ``fit`` (train from a config), ``evaluate`` (metrics of a checkpoint on motion or shape
data), ``lift`` (2D keypoints -> 3D), ``reconstruct`` (image -> voxels and mesh), ``info`` (describe
a checkpoint), ``export`` (float16 checkpoint copies, TorchScript lifters).

Errors a user can cause end in one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from energy3d.errors import InputError


def _parse_set(items: list[str]) -> dict:
    """``--set train.epochs=3 model.steps=8`` -> nested dict (values parsed as JSON when possible)."""
    out: dict = {}
    for it in items or []:
        if "=" not in it:
            raise InputError(f"--set expects KEY=VALUE, got {it!r}")
        key, val = it.split("=", 1)
        try:
            v = json.loads(val)
        except json.JSONDecodeError:
            v = val
        d = out
        parts = key.split(".")
        for p in parts[:-1]:
            d = d.setdefault(p, {})
        d[parts[-1]] = v
    return out


def cmd_fit(args) -> int:
    from energy3d.config import load_json

    raw = load_json(args.config)
    kind = raw.get("kind", "lift")
    if kind == "voxel":
        from energy3d.cli.reconstruct import fit_voxel

        return fit_voxel(args, raw)
    if kind != "lift":
        raise InputError(f"{args.config}: unknown experiment kind {kind!r} (known: lift, voxel)")
    from energy3d.lifting import LiftingTask, load_experiment

    return run_fit(args, "lift", load_experiment(args.config, _parse_set(args.set)), LiftingTask)


def run_fit(args, kind: str, exp, make_task) -> int:
    """Shared tail of ``fit``: run folder, experiment record, training, summary."""
    from energy3d.config import to_dict
    from energy3d.train.loop import fit

    out = Path(args.out) if args.out else Path("runs") / exp.name
    out.mkdir(parents=True, exist_ok=True)
    (out / "experiment.json").write_text(json.dumps({"kind": kind, **to_dict(exp)}, indent=2))
    task = make_task(exp)
    summary = fit(task, exp.train, out, resume=not args.restart, progress=not args.quiet,
                  stop_after_batches=args.stop_after)
    if summary.get("stopped"):
        print(f"stopped after {args.stop_after} batches; run the same command again to resume")
        return 0
    print(json.dumps({"run": str(out), "best": summary["best"], "seconds": round(summary["seconds"], 1)}, indent=2))
    return 0


def cmd_evaluate(args) -> int:
    from energy3d.train.checkpoint import read_checkpoint_meta

    if str(read_checkpoint_meta(args.checkpoint).get("model_type", "")).startswith("voxel_"):
        from energy3d.cli.reconstruct import evaluate_voxel_cli

        return evaluate_voxel_cli(args)
    if getattr(args, "two_d_file", None):
        from energy3d.h36m_eval import run_evaluate

        return run_evaluate(args, _print_table)
    from energy3d.data.lifting import LiftDataConfig, build_lifting_set, load_lifting_split
    from energy3d.lifting import evaluate_lifter, load_lifter
    from energy3d.config import from_dict

    model, meta = load_lifter(args.checkpoint)
    data_cfg = from_dict(LiftDataConfig, meta["config"]["data"])
    if args.motion in ("bandai", "bandai-test", "bandai-val"):
        split = "val" if args.motion == "bandai-val" else "test"
        ds = load_lifting_split(LiftDataConfig(fps=args.fps, seed=args.seed), split)
        source = f"Bandai npz, {split} split, {args.fps:g} fps"
    else:
        from energy3d.data.motion import load_motion

        motion = load_motion(args.motion, units=args.units, fps=args.fps)
        ds = build_lifting_set(motion, LiftDataConfig(fps=args.fps, seed=args.seed), seed_offset=3)
        source = f"{args.motion} ({len(motion.clips)} clips, {args.fps:g} fps)"
    res = evaluate_lifter(model, ds, two_d=args.two_d, noise=data_cfg.noise, seed=args.seed, steps=args.steps)
    res["source"] = source
    res["checkpoint"] = str(args.checkpoint)
    res["model_type"] = meta["model_type"]
    _print_table(res)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(res, indent=2))
    return 0


def _print_table(res: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"{res['model_type']} on {res['source']} ({res['two_d']} 2D), mm")
    for c in ("action", "poses", "MPJPE", "P1a", "PA-MPJPE"):
        t.add_column(c, justify="right" if c != "action" else "left")
    for g, m in res["per_group"].items():
        t.add_row(g, str(m["count"]), f"{m['mpjpe_mm']:.1f}", f"{m['p1a_mm']:.1f}", f"{m['pa_mpjpe_mm']:.1f}")
    a = res["average"]
    t.add_row("average (of actions)", str(res["poses"]), f"{a['mpjpe_mm']:.1f}", f"{a['p1a_mm']:.1f}", f"{a['pa_mpjpe_mm']:.1f}", style="bold")
    Console().print(t)


def cmd_lift(args) -> int:
    from energy3d.cli.lift import run_lift

    run_lift(args)
    return 0


def cmd_reconstruct(args) -> int:
    from energy3d.cli.reconstruct import run_reconstruct

    run_reconstruct(args)
    return 0


def cmd_info(args) -> int:
    from energy3d.train.checkpoint import read_checkpoint_meta

    meta = read_checkpoint_meta(args.checkpoint)
    keep = {k: meta[k] for k in ("model_type", "library_version", "format_version", "parameters", "macs", "metrics", "license") if k in meta}
    print(json.dumps(keep, indent=2))
    return 0


def cmd_export(args) -> int:
    from energy3d.export import export_checkpoint, export_torchscript

    if args.format == "torchscript":
        if args.half:
            raise InputError("--half applies to --format checkpoint only (the TorchScript lifter runs in float32)")
        files = [export_torchscript(args.checkpoint, args.out)]
        what = "TorchScript lifter"
    else:
        js = export_checkpoint(args.checkpoint, args.out, half=args.half)
        files = [js, js.with_suffix(".safetensors")]
        what = f"checkpoint ({'float16' if args.half else 'float32'} weights)"
    size = sum(f.stat().st_size for f in files)
    print(f"wrote {what}: {' + '.join(str(f) for f in files)} ({size} bytes, {size / 1e6:.2f} MB)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="energy3d", description="Energy-based 3D inference from 2D observations.")
    sub = p.add_subparsers(dest="verb", required=True)

    f = sub.add_parser("fit", help="train a model from a named config (resumes automatically)")
    f.add_argument("config", help="experiment JSON, e.g. configs/lift/ige4-gt.json")
    f.add_argument("--out", help="run folder (default runs/NAME)")
    f.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override config values, e.g. train.epochs=3")
    f.add_argument("--restart", action="store_true", help="ignore saved state and start over")
    f.add_argument("--quiet", action="store_true", help="no progress bar")
    f.add_argument("--stop-after", type=int, default=None, metavar="N", help=argparse.SUPPRESS)
    f.set_defaults(func=cmd_fit)

    e = sub.add_parser("evaluate", help="MPJPE / P1a / PA-MPJPE of a lifting checkpoint on motion data")
    e.add_argument("checkpoint", help="NAME.json (with NAME.safetensors beside it)")
    e.add_argument("--motion", default="bandai", help="'bandai' (test split), 'bandai-val', a Bandai/Human3.6M npz, a BVH file or a folder of BVH files")
    e.add_argument("--two-d", choices=["gt", "noisy"], default="gt", help="exact projections or the detector-noise model")
    e.add_argument("--units", default=None, help="BVH units (m, cm, mm, inch); detected when omitted")
    e.add_argument("--fps", type=float, default=10.0, help="subsample motion to this frame rate")
    e.add_argument("--steps", type=int, default=None, help="IGE inner steps (default: as trained)")
    e.add_argument("--seed", type=int, default=0, help="seed of the virtual cameras and noise")
    e.add_argument("--json", help="also save the results here")
    e.add_argument("--two-d-file", default=None, metavar="H36M_2D.npz",
                   help="Human3.6M: 2D keypoints npz (positions_2d) paired with --motion H36M_3D.npz, instead of "
                        "virtual cameras (--two-d and --seed are then unused)")
    e.add_argument("--cameras", default=None, metavar="CAMERAS.json",
                   help="with --two-d-file: per-subject camera JSON (f, c, optional R, t); without R and t only "
                        "PA-MPJPE is reported (see energy3d.h36m_eval)")
    e.add_argument("--resolution", type=int, nargs="*", default=None, help="voxel checkpoints: evaluation resolutions (default: the model's)")
    e.add_argument("--split", default="test", choices=["train", "val", "test"], help="voxel checkpoints: shape dataset split")
    e.add_argument("--limit", type=int, default=None, help="voxel checkpoints: at most this many images")
    e.set_defaults(func=cmd_evaluate)

    l = sub.add_parser("lift", help="lift 2D keypoints (COCO / OpenPose JSON, npz) to 3D")
    l.add_argument("input", help="COCO keypoints JSON, OpenPose JSON file or folder, or npz of (N, J, 2)")
    l.add_argument("--layout", default=None, help="joint layout of the input (coco17, openpose25, h36m17, mpii16, ...)")
    l.add_argument("--image-size", nargs=2, type=float, metavar=("W", "H"), help="image size in pixels (if the file has none)")
    l.add_argument("--focal", type=float, default=None, help="focal length in pixels (default 1.2 x max(W, H))")
    l.add_argument("--checkpoint", default=None, help="lifting checkpoint (default: the bundled IGE model)")
    l.add_argument("--out", required=True, help="output folder")
    l.add_argument("--max-plot", type=int, default=4, help="people drawn in the PNG")
    l.set_defaults(func=cmd_lift)

    r = sub.add_parser("reconstruct", help="single image -> voxel occupancy, mesh and PNG (IGE-Net §6)")
    r.add_argument("image", help="RGB image (PNG/JPEG) of one object, like the training renders")
    r.add_argument("--resolution", type=int, default=None, help="output grid resolution: 32, 64 or 128 (default: the model's)")
    r.add_argument("--checkpoint", default=None, help="voxel checkpoint NAME.json (default: the bundled model, if installed)")
    r.add_argument("--out", required=True, help="output folder")
    r.add_argument("--mesh", default="mesh.obj", help="mesh file name; the extension picks OBJ, PLY or GLB")
    r.add_argument("--threshold", type=float, default=0.5, help="occupancy threshold of the mesh")
    r.add_argument("--steps", type=int, default=None, help="IGE inner steps (default: as trained)")
    r.set_defaults(func=cmd_reconstruct)

    i = sub.add_parser("info", help="describe a checkpoint")
    i.add_argument("checkpoint")
    i.set_defaults(func=cmd_info)

    x = sub.add_parser("export", help="copy a checkpoint (optionally float16) or export a lifter to TorchScript")
    x.add_argument("checkpoint", help="NAME.json (with NAME.safetensors beside it)")
    x.add_argument("--out", required=True,
                   help="checkpoint: PATH or PATH.json (writes PATH.json + PATH.safetensors); torchscript: the .pt file")
    x.add_argument("--format", choices=["checkpoint", "torchscript"], default="checkpoint",
                   help="'checkpoint' (default): an energy3d checkpoint copy; 'torchscript': a lifter that runs "
                        "with torch.jit.load alone, (B, J, 2) normalised 2D -> (B, J, 3) metres (lifting models only)")
    x.add_argument("--half", action="store_true", help="checkpoint format: store floating-point weights as float16")
    x.set_defaults(func=cmd_export)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except InputError as e:
        print(f"energy3d {args.verb}: error: {e}", file=sys.stderr)
        return 2
    except FileNotFoundError as e:
        print(f"energy3d {args.verb}: error: {e.filename or e}: no such file", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"energy3d {args.verb}: interrupted" + ("; run the same command again to resume" if args.verb == "fit" else ""),
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
