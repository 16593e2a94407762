"""``energy3d <verb>``: the command line. Thin: it parses arguments, calls one task, prints.

Verbs: ``fit`` (train from a config), ``evaluate`` (metrics of a checkpoint on motion or shape
data), ``lift`` (2D keypoints -> 3D), ``pose`` (photo or keypoints -> 3D by structured inference),
``reconstruct`` (image -> voxels and mesh), ``info`` (describe and verify a checkpoint), ``export``
(float16 checkpoint copies, TorchScript lifters, BVH from a lift result's ``poses.npz``). The work is
done by :mod:`energy3d.tasks`.

Errors a user can cause end in one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from energy3d import __version__
from energy3d.errors import InputError


def _warn(verb: str, msg: str) -> None:
    print(f"energy3d {verb}: {msg if msg.startswith(('warning:', 'note:')) else 'warning: ' + msg}", file=sys.stderr)


def cmd_fit(args) -> int:
    from energy3d.tasks.fit import fit_experiment

    res = fit_experiment(args.config, overrides=args.set, out=args.out, restart=args.restart,
                         progress=not args.quiet, stop_after=args.stop_after, device=args.device)
    if res.stopped:
        print(f"stopped after {args.stop_after} batches; run the same command again to resume")
        return 0
    from energy3d.viz.tables import print_json

    print_json({"run": str(res.run), "best": res.best, "seconds": round(res.seconds, 1)})
    return 0


def cmd_evaluate(args) -> int:
    from energy3d.viz.tables import print_lift_table, print_voxel_table
    from energy3d.tasks.outputs import check_output_file, write_json
    from energy3d.train.checkpoint import read_checkpoint_meta
    from energy3d.train.device import resolve_device

    resolve_device(args.device)
    if args.json:
        check_output_file(args.json, suffixes=(".json",))
    kind = str(read_checkpoint_meta(args.checkpoint).get("model_type", ""))
    progress = not args.quiet
    lift_flags = (("--motion", args.motion), ("--two-d", args.two_d), ("--two-d-file", args.two_d_file),
                  ("--cameras", args.cameras), ("--units", args.units), ("--joint-map", args.joint_map),
                  ("--asf", args.asf), ("--keypoints", args.keypoints))
    if kind == "structured_pose":
        wrong = [f for f, v in lift_flags + (("--resolution", args.resolution),) if v is not None]
        if wrong:
            raise InputError(f"{args.checkpoint} is a structured-pose model: {', '.join(wrong)} do not apply to it; it is "
                             "scored on its rendered split (--split, --limit, --topology, --candidates)")
        from energy3d.tasks.structured import evaluate_structured
        from energy3d.viz.tables import print_structured_table

        res = evaluate_structured(args.checkpoint, split=args.split or "test", limit=args.limit,
                                  topologies=args.topology or None, candidates=args.candidates, progress=progress,
                                  device=args.device)
        print_structured_table(res)
        if args.json:
            write_json(args.json, res)
            print(f"wrote {args.json}")
        return 0
    if args.topology or args.candidates is not None:
        raise InputError("--topology and --candidates apply to structured-pose checkpoints only")
    if kind.startswith("voxel_"):
        lift_only = [f for f, v in lift_flags if v is not None]
        if lift_only:
            raise InputError(f"{args.checkpoint} is a voxel model ({kind}): {', '.join(lift_only)} apply to lifting "
                             "checkpoints only; voxel models are scored on the shape dataset (--split, --resolution, --limit)")
        from energy3d.tasks.voxel import evaluate_voxel_checkpoint

        res = evaluate_voxel_checkpoint(args.checkpoint, resolutions=args.resolution, split=args.split or "test",
                                        limit=args.limit, steps=args.steps, progress=progress, device=args.device)
        print_voxel_table(res)
    else:
        voxel_only = [f for f, v in (("--resolution", args.resolution), ("--split", args.split), ("--limit", args.limit))
                      if v is not None]
        if voxel_only:
            raise InputError(f"{args.checkpoint} is a lifting model ({kind}): {', '.join(voxel_only)} apply to voxel "
                             "checkpoints only")
        motion = args.motion or "bandai"
        if args.two_d_file:
            from energy3d.tasks.lift import evaluate_h36m_files

            res, notes = evaluate_h36m_files(args.checkpoint, motion, args.two_d_file, cameras=args.cameras,
                                             fps=args.fps, steps=args.steps, device=args.device)
            for n in notes:
                _warn("evaluate", n)
        else:
            from energy3d.tasks.lift import evaluate_motion

            res = evaluate_motion(args.checkpoint, motion, two_d=args.two_d or "gt", units=args.units, fps=args.fps,
                                  steps=args.steps, seed=args.seed, progress=progress, device=args.device,
                                  joint_map=args.joint_map, asf=args.asf, keypoints=args.keypoints)
            for n in res.get("motion_notes", []):
                _warn("evaluate", "note: " + n)
            for path, why in res.get("skipped", []):
                _warn("evaluate", f"skipped {path}: {why}")
        print_lift_table(res)
    if args.json:
        write_json(args.json, res)
        print(f"wrote {args.json}")
    return 0


def cmd_lift(args) -> int:
    from energy3d.data.video import media_kind
    from energy3d.tasks.lift import lift_file, lift_media
    from energy3d.tasks.sequence import lift_sequence

    if media_kind(args.input) is not None:
        if args.layout or args.image_size:
            raise InputError("--layout and --image-size apply to keypoint files; a photo or video gives both")
        res = lift_media(args.input, args.out, focal=args.focal, checkpoint=args.checkpoint, fps=args.fps,
                         max_plot=args.max_plot, device=args.device, progress=not args.quiet, bvh=args.bvh,
                         lift_sequence=lift_sequence, horizon=args.horizon)
        what = "person" if res.people == 1 else f"frames with a person"
    else:
        if args.fps is not None:
            raise InputError("--fps applies to videos and folders of frames")
        res = lift_file(args.input, args.out, layout=args.layout, image_size=args.image_size, focal=args.focal,
                        checkpoint=args.checkpoint, max_plot=args.max_plot, device=args.device, bvh=args.bvh,
                        horizon=args.horizon)
        what = "person" if res.people == 1 else "people"
    for w in res.warnings:
        _warn("lift", w)
    print(f"lifted {res.people} {what} from {args.input} -> {res.out}/ ({', '.join(res.files)})")
    return 0


def cmd_pose(args) -> int:
    from energy3d.tasks.structured import pose_file

    res = pose_file(args.input, args.out, topology=args.topology, candidates=args.candidates, checkpoint=args.checkpoint,
                    mode=args.mode, layout=args.layout, image_size=args.image_size, device=args.device)
    for w in res.warnings:
        _warn("pose", w)
    what = "person" if res.people == 1 else "people"
    cert = sum(p["certified"] for p in res.info)
    print(f"posed {res.people} {what} from {args.input} with the {args.topology} graph ({cert} of {res.people} "
          f"certified optimal; CNN {res.seconds['cnn']:.2f} s, structured {res.seconds['structured']:.2f} s) -> "
          f"{res.out}/ ({', '.join(res.files)})")
    return 0


def cmd_reconstruct(args) -> int:
    from energy3d.tasks.voxel import reconstruct

    res = reconstruct(args.image, args.out, resolution=args.resolution, checkpoint=args.checkpoint, mesh=args.mesh,
                      threshold=args.threshold, steps=args.steps, frame=args.frame, device=args.device)
    for w in res.warnings:
        _warn("reconstruct", w)
    print(f"reconstructed {args.image} at {res.resolution}^3 in {res.seconds['total_before_writing']:.2f} s "
          f"(inference {res.seconds['inference']:.2f} s) -> {res.out}/ ({', '.join(res.files)})")
    return 0


def cmd_info(args) -> int:
    from energy3d.viz.tables import print_json
    from energy3d.tasks.info import describe_checkpoint

    print_json(describe_checkpoint(args.checkpoint))
    return 0


def cmd_export(args) -> int:
    from energy3d.tasks.export import export_bvh, export_checkpoint, export_torchscript, is_lift_result

    fmt = args.format or ("bvh" if is_lift_result(args.checkpoint) else "checkpoint")
    if fmt == "bvh":
        if args.half:
            raise InputError("--half applies to --format checkpoint only")
        out, notes = export_bvh(args.checkpoint, args.out, fps=args.fps, person=args.person)
        for n in notes:
            _warn("export", n)
        size = Path(args.out).stat().st_size
        kind = "glTF binary" if Path(args.out).suffix.lower() == ".glb" else "BVH"
        print(f"wrote {kind}: {args.out} ({out.num_frames} frame{'s' if out.num_frames != 1 else ''} at "
              f"{1 / out.frame_time:g} fps, one skeleton of {len(out.names)} joints, {out.units}, +Y up; "
              f"{size} bytes)")
        return 0
    if args.fps is not None or args.person is not None:
        raise InputError("--fps and --person apply to --format bvh (a lift result: poses.npz) only")
    if is_lift_result(args.checkpoint):
        raise InputError(f"{args.checkpoint} is a lift result, not a checkpoint: --format {fmt} exports checkpoints; "
                         "use --format bvh (or leave --format out) for its motion")
    if fmt == "torchscript":
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


def _device_flag(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--device", default="cpu", metavar="DEVICE",
                        help=f"cpu (default), cuda or cuda:N: the device to {what}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="energy3d", description="Energy-based 3D inference from 2D observations.")
    p.add_argument("--version", action="version", version=f"energy3d {__version__}")
    sub = p.add_subparsers(dest="verb", required=True)

    f = sub.add_parser("fit", help="train a model from a named config (resumes automatically)")
    f.add_argument("config", help="experiment JSON, e.g. configs/lift/ige4-gt.json")
    f.add_argument("--out", help="run folder (default runs/NAME)")
    f.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override config values, e.g. train.epochs=3")
    f.add_argument("--restart", action="store_true", help="ignore saved state and start over")
    f.add_argument("--quiet", action="store_true", help="no progress bar")
    f.add_argument("--stop-after", type=int, default=None, metavar="N", help=argparse.SUPPRESS)
    _device_flag(f, "train on (under torchrun, cuda means cuda:LOCAL_RANK on each rank)")
    f.set_defaults(func=cmd_fit)

    e = sub.add_parser("evaluate", help="metrics of a checkpoint: MPJPE / P1a / PA-MPJPE (lifters), IoU (voxel models), "
                       "PA-MPJPE per graph topology (structured-pose models)")
    e.add_argument("checkpoint", help="NAME.json (with NAME.safetensors beside it)")
    e.add_argument("--motion", default=None, help="lifters: 'bandai' (test split, the default), 'bandai-val', "
                   "'hdm05', 'cmu', a Bandai/Human3.6M npz, a BVH or AMC file, or a folder of them")
    e.add_argument("--two-d", choices=["gt", "noisy"], default=None, help="lifters: exact projections (default) or the detector-noise model")
    e.add_argument("--units", default=None, help="lifters, BVH/AMC: units (m, cm, mm, inch, cmu = 0.056444 m, or metres "
                   "per unit such as 0.056444); detected when omitted")
    e.add_argument("--keypoints", default=None, choices=["rig", "detector"],
                   help="lifters: 2D geometry, the rig's joints or detector-style keypoints (default: what the checkpoint trained on)")
    e.add_argument("--joint-map", default=None, metavar="MAP.json", help="lifters, BVH/AMC: JSON {h36m17 joint: file "
                   "joint name} for rigs not recognised by joint name")
    e.add_argument("--asf", default=None, metavar="SKELETON.asf", help="lifters, AMC: the ASF skeleton (default: the "
                   ".asf beside each clip whose name starts the clip's name)")
    e.add_argument("--fps", type=float, default=10.0, help="lifters: subsample motion to this frame rate")
    e.add_argument("--steps", type=int, default=None, help="IGE inner steps (default: as trained)")
    e.add_argument("--seed", type=int, default=0, help="lifters: seed of the virtual cameras and noise")
    e.add_argument("--json", help="also save the results here (checked writable before the evaluation)")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    e.add_argument("--two-d-file", default=None, metavar="H36M_2D.npz",
                   help="Human3.6M: 2D keypoints npz (positions_2d) paired with --motion H36M_3D.npz, instead of "
                        "virtual cameras (--two-d and --seed are then unused)")
    e.add_argument("--cameras", default=None, metavar="CAMERAS.json",
                   help="with --two-d-file: per-subject camera JSON (f, c, optional R, t); without R and t only "
                        "PA-MPJPE is reported (see energy3d.data.h36m)")
    e.add_argument("--resolution", type=int, nargs="*", default=None, help="voxel models: evaluation resolutions (default: the model's)")
    e.add_argument("--split", default=None, choices=["train", "val", "test"],
                   help="voxel models: shape dataset split; structured-pose models: rendered split (default test)")
    e.add_argument("--limit", type=int, default=None, help="voxel and structured-pose models: at most this many images")
    e.add_argument("--topology", nargs="*", default=None, metavar="NAME",
                   help="structured-pose models: graphs to score (default all: unary, center_star, stick_figure, "
                        "extended_stick_figure, two_hop)")
    e.add_argument("--candidates", type=int, default=None, metavar="N",
                   help="structured-pose models: top-N voxels per joint (default: as trained)")
    _device_flag(e, "run the model on; metrics are computed on the CPU")
    e.set_defaults(func=cmd_evaluate)

    l = sub.add_parser("lift", help="photo, video or 2D keypoints (COCO / OpenPose JSON, npz) -> 3D")
    l.add_argument("input", help="a photo (JPEG/PNG), a video (MP4, AVI, ...) or a folder of frames (2D by the "
                   "MediaPipe detector, energy3d[detect]); or 2D keypoints: COCO JSON, OpenPose JSON file or folder, "
                   "npz of (N, J, 2)")
    l.add_argument("--fps", type=float, default=None, help="frame rate of a folder of frames (default 30) or to assume for a video")
    l.add_argument("--quiet", action="store_true", help="no progress bar")
    l.add_argument("--bvh", default=None, metavar="FILE.bvh", help="also write the motion as BVH (one skeleton, "
                   "gravity-aligned frame, centimetres; a photo gives one frame), or as glTF if FILE ends in .glb "
                   "(same skeleton and rotations, metres, a stick-figure mesh skinned to it)")
    l.add_argument("--layout", default=None, help="joint layout of the input (coco17, openpose25, h36m17, mpii16, ...)")
    l.add_argument("--image-size", nargs=2, type=float, metavar=("W", "H"), help="image size in pixels (if the file has none)")
    l.add_argument("--focal", type=float, default=None, help="focal length in pixels (default 1.2 x max(W, H))")
    l.add_argument("--horizon", nargs=4, type=float, default=None, metavar=("X1", "Y1", "X2", "Y2"),
                   help="two image points (pixels) on the horizon (sea, plain): the gravity-aligned frame and the "
                   "camera's pitch/roll come from it instead of from the lifted poses (a video's camera must not tilt)")
    l.add_argument("--checkpoint", default=None, help="lifting checkpoint (default: the bundled IGE model)")
    l.add_argument("--out", required=True, help="output folder")
    l.add_argument("--max-plot", type=int, default=4, help="people drawn in the PNG")
    _device_flag(l, "run the model on")
    l.set_defaults(func=cmd_lift)

    q = sub.add_parser("pose", help="photo or 2D keypoints -> 3D by structured inference (Kinauer et al.)")
    q.add_argument("input", help="a photo (JPEG/PNG; 2D by the MediaPipe detector, energy3d[detect]) or 2D keypoints "
                   "(COCO / OpenPose JSON, npz)")
    q.add_argument("--out", required=True, help="output folder")
    q.add_argument("--topology", default="two_hop", help="unary, center_star, stick_figure, extended_stick_figure or "
                   "two_hop (default, the paper's best)")
    q.add_argument("--candidates", type=int, default=None, metavar="N", help="top-N voxels per joint (default: as trained)")
    q.add_argument("--mode", default=None, choices=["heatmaps", "rgb"],
                   help="the bundled model to use: 'heatmaps' (default; 2D keypoints as Gaussian maps, for real photos) "
                        "or 'rgb' (pixels, trained on rendered people)")
    q.add_argument("--checkpoint", default=None, help="structured-pose checkpoint (default: the bundled model of --mode)")
    q.add_argument("--layout", default=None, help="joint layout of a keypoint file (coco17, openpose25, ...)")
    q.add_argument("--image-size", nargs=2, type=float, metavar=("W", "H"), help="image size in pixels (if the file has none)")
    _device_flag(q, "run the network on")
    q.set_defaults(func=cmd_pose)

    r = sub.add_parser("reconstruct", help="single image -> voxel occupancy, mesh and PNG (IGE-Net §6)")
    r.add_argument("image", help="RGB image (PNG/JPEG) of one object, like the training renders")
    r.add_argument("--resolution", type=int, default=None, help="output grid resolution, a power of two from 8 to 512 (default: the model's)")
    r.add_argument("--checkpoint", default=None, help="voxel checkpoint NAME.json (default: the bundled model, if installed)")
    r.add_argument("--out", required=True, help="output folder")
    r.add_argument("--mesh", default="mesh.obj", help="mesh file name; the extension picks OBJ, PLY or GLB")
    r.add_argument("--frame", default="y-up", choices=["y-up", "camera"],
                   help="frame of the mesh: 'y-up' (default, what mesh viewers assume) or 'camera' (x right, y down, z forward)")
    r.add_argument("--threshold", type=float, default=0.5, help="occupancy threshold of the mesh")
    r.add_argument("--steps", type=int, default=None, help="IGE inner steps (default: as trained)")
    _device_flag(r, "run the model on; meshing and files stay on the CPU")
    r.set_defaults(func=cmd_reconstruct)

    i = sub.add_parser("info", help="describe a checkpoint and verify its weights")
    i.add_argument("checkpoint")
    i.set_defaults(func=cmd_info)

    x = sub.add_parser("export", help="copy a checkpoint (optionally float16), export a lifter to TorchScript, or a "
                       "lift result (poses.npz) as BVH or glTF (.glb)")
    x.add_argument("checkpoint", metavar="SOURCE", help="a checkpoint NAME.json (with NAME.safetensors beside it), or "
                   "the poses.npz (or poses.json) that energy3d lift wrote")
    x.add_argument("--out", required=True,
                   help="checkpoint: PATH or PATH.json (writes PATH.json + PATH.safetensors); torchscript: the .pt "
                        "file; bvh: the .bvh file, or a .glb file for glTF 2.0 (animated skeleton + stick-figure mesh, metres)")
    x.add_argument("--format", choices=["checkpoint", "torchscript", "bvh"], default=None,
                   help="'checkpoint' (the default for a checkpoint): an energy3d checkpoint copy; 'torchscript': a "
                        "lifter that runs with torch.jit.load alone, (B, J, 2) normalised 2D -> (B, J, 3) metres as "
                        "energy3d lift gives them (lifting models only); 'bvh' (the default for a lift result): the "
                        "lifted motion as energy3d lift --bvh writes it (gravity-aligned, centimetres)")
    x.add_argument("--half", action="store_true", help="checkpoint format: store floating-point weights as float16")
    x.add_argument("--fps", type=float, default=None, help="bvh: frame rate (default: the video's; 30 for a photo)")
    x.add_argument("--person", type=int, default=None, metavar="I",
                   help="bvh, a photo or keypoint file of several people: which one (default 0; a note says so)")
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
    except OSError as e:
        from energy3d.tasks.outputs import os_error_message

        print(f"energy3d {args.verb}: error: {os_error_message(e.filename or '', e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"energy3d {args.verb}: interrupted" + ("; run the same command again to resume" if args.verb == "fit" else ""),
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
