"""Export checkpoints for use elsewhere: a (float16) checkpoint copy, or a TorchScript lifter.

Two formats (``energy3d export CHECKPOINT --out PATH --format ...``):

* ``"checkpoint"``: a copy of an energy3d checkpoint (``PATH.json`` + ``PATH.safetensors``) that
  loads with :func:`energy3d.tasks.lift.load_lifter` / :func:`energy3d.tasks.voxel.load_voxel_model`.
  With ``half=True`` floating-point tensors are stored as float16, halving the file; loading into
  the float32 model casts them back (``load_state_dict`` copies with a cast), so outputs change by
  float16 rounding only (relative error ``2**-11`` per stored value). The JSON records
  ``"weights_dtype": "float16"`` and keeps every other entry of the source description.
* ``"torchscript"`` (lifting checkpoints only): one ``.pt`` file that ``torch.jit.load`` runs
  without energy3d installed. Its forward takes normalised 2D keypoints ``(B, J_in, 2)``
  (``(p - c) / f`` in the model's input layout, people anywhere in the image) and returns what
  ``energy3d lift`` returns (:func:`energy3d.tasks.lift.lift_keypoints`): camera-frame 3D joints
  ``(B, J_out, 3)`` in metres (x right, y down, z forward), each person lifted in a virtual
  camera turned towards them and rescaled to the adult bone-length sum
  (:func:`energy3d.tasks.lift.lift_centred`). Any ``B >= 0``. The file carries ``meta.json`` in
  its ``_extra_files`` (layouts, units, input convention, scale). An IGE lifter is exported on
  its pure-torch closed-form path (:class:`LifterExport`): the fused numba descent used on CPU
  cannot be traced, and gives the same iterates up to float32 rounding.

Voxel models are not exported to TorchScript: their inner steps differentiate a 3D CNN energy with
autograd at inference time, which a trace does not record.

Both writers write temporary files beside the destination and rename them into place, so an
error never leaves a half-written export.
"""

from __future__ import annotations

import copy
import errno
import json
import os
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from energy3d import __version__
from energy3d.errors import InputError
from energy3d.models.lifter import BaselineLifter, IGELifter
from energy3d.skeleton import Skeleton, get_layout
from energy3d.tasks.lift import BONE_LENGTH_SUM_M, lift_centred, load_lifter
from energy3d.tasks.outputs import check_name_lengths, check_output_file
from energy3d.tasks.voxel import load_voxel_model
from energy3d.train.checkpoint import FORMAT, checkpoint_paths, json_default, read_checkpoint_meta, save_tensors

Tensor = torch.Tensor

EXPORT_FORMATS = ("checkpoint", "torchscript")
TORCHSCRIPT_FORMAT = "energy3d-torchscript"
TORCHSCRIPT_FORMAT_VERSION = 1
TORCHSCRIPT_META = "meta.json"
"""Name of the description stored in a TorchScript export's ``_extra_files``."""

_LIFTER_TYPES = ("baseline_lifter", "ige_lifter")
_VOXEL_TYPES = ("voxel_baseline", "voxel_ige")
_HALF_MIN_NORMAL = 2.0 ** -14  # smallest normal float16; below it float16 keeps fewer significant bits


# ----------------------------------------------------------------------------- helpers
def _load_model(src: str | Path, meta: dict) -> nn.Module:
    """Load the model a checkpoint describes (validates its config and weights), eval mode, CPU."""
    kind = meta.get("model_type")
    if kind in _LIFTER_TYPES:
        return load_lifter(src)[0]
    if kind in _VOXEL_TYPES:
        return load_voxel_model(src)[0]
    raise InputError(f"{src}: cannot export a {kind!r} model (known: {', '.join(_LIFTER_TYPES + _VOXEL_TYPES)})")


def _prepare_parent(dst: Path) -> None:
    """Create ``dst``'s folder, with one clear error when that is impossible."""
    parent = dst.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        reason = ("a part of the path is a file, not a folder" if e.errno in (errno.EEXIST, errno.ENOTDIR)
                  else e.strerror or e)
        raise InputError(f"{dst}: cannot create the output folder {parent} ({reason})") from None
    if not parent.is_dir():  # pragma: no cover - mkdir(exist_ok=True) raises for a file in the way
        raise InputError(f"{dst}: output folder {parent} is not a folder")


def _tmp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _commit(pairs: list[tuple[Path, Path]]) -> None:
    """Rename each written temporary file onto its destination (after all were written)."""
    for tmp, dst in pairs:
        try:
            os.replace(tmp, dst)
        except OSError as e:
            raise InputError(f"{dst}: cannot write the export ({e.strerror or e})") from None


def _cleanup(paths) -> None:
    for p in paths:
        try:
            p.unlink()
        except FileNotFoundError:
            pass


def half_state_dict(state: dict[str, Tensor]) -> tuple[dict[str, Tensor], list[str]]:
    """Cast floating-point tensors to float16 where float16 can hold them.

    A floating-point tensor stays float32 when the cast would overflow (a finite value beyond
    float16's ±65504) or when its largest magnitude is below float16's smallest normal number
    ``2**-14`` (every value would lose significant bits, e.g. a tiny standard deviation used as a
    divisor). Integer tensors (batch-norm counters) are kept as they are.

    Args:
        state: name -> tensor (a model's ``state_dict``).

    Returns:
        ``(tensors, kept)``: the converted tensors (CPU, contiguous) and the sorted names of the
        floating-point tensors kept in float32.
    """
    out, kept = {}, []
    for k, v in state.items():
        v = v.detach().cpu()
        if v.is_floating_point() and v.dtype != torch.float16:
            h = v.to(torch.float16)
            overflow = bool((torch.isfinite(v) & ~torch.isfinite(h)).any())
            peak = float(v.abs().max()) if v.numel() else 0.0
            if overflow or 0.0 < peak < _HALF_MIN_NORMAL:
                kept.append(k)
                out[k] = v.float().contiguous()
            else:
                out[k] = h.contiguous()
        else:
            out[k] = v.contiguous()
    return out, sorted(kept)


# ----------------------------------------------------------------------------- checkpoint copy
def export_checkpoint(src: str | Path, dst: str | Path, half: bool = False) -> Path:
    """Write a copy of an energy3d checkpoint, optionally with float16 weights.

    The source is loaded with its model's loader first (lifting or voxel), so a checkpoint whose
    weights do not match its config is refused before anything is written; the copy holds the
    model's state dict (float32, or float16 with ``half``) and the source's JSON description with
    ``"weights_dtype"`` set (and, with ``half``, ``"float32_tensors"``: the tensors float16 cannot
    hold, see :func:`half_state_dict`). The destination is checked (name lengths, a probe write)
    after the source loads and before anything is written; both files get the mode of any new
    file (0644 under umask 022, :func:`energy3d.train.checkpoint.save_tensors`).

    Args:
        src: checkpoint ``NAME.json`` (with ``NAME.safetensors`` beside it).
        dst: output ``PATH`` or ``PATH.json``; writes ``PATH.json`` and ``PATH.safetensors``.
        half: store floating-point tensors as float16.

    Returns:
        The path of the written JSON file.

    Raises:
        InputError: missing or corrupt checkpoint, a model type that cannot be exported, or an
            output folder that cannot be created or written.

    Example:
        >>> export_checkpoint("energy3d/assets/ige8-lifter.json", "out/ige8-half", half=True)  # doctest: +SKIP
        PosixPath('out/ige8-half.json')
    """
    meta = read_checkpoint_meta(src)
    model = _load_model(src, meta)
    st, js = checkpoint_paths(dst)
    check_name_lengths(st)  # before any folder is created (".safetensors" is the longer name)
    _prepare_parent(js)
    check_output_file(js)  # writable: a probe file, one clear message
    state = model.state_dict()
    if half:
        tensors, kept = half_state_dict(state)
        meta = {**meta, "weights_dtype": "float16", "float32_tensors": kept}
    else:
        tensors = {k: (v.detach().cpu().float() if v.is_floating_point() else v.detach().cpu()).contiguous()
                   for k, v in state.items()}
        meta = {k: v for k, v in meta.items() if k != "float32_tensors"}
        meta["weights_dtype"] = "float32"
    # short temporary names: a destination name that fits always leaves room for them
    tmp_st = st.with_name(f".energy3d-export-{os.getpid()}.safetensors.tmp")
    tmp_js = js.with_name(f".energy3d-export-{os.getpid()}.json.tmp")
    try:
        try:
            save_tensors(tensors, tmp_st, metadata={"format": FORMAT})  # mode 0644 under umask 022
            tmp_js.write_text(json.dumps(meta, indent=2, default=json_default))
        except OSError as e:
            raise InputError(f"{js}: cannot write the export ({e.strerror or e})") from None
        _commit([(tmp_st, st), (tmp_js, js)])  # weights first: the JSON marks a complete pair
    finally:
        _cleanup([tmp_st, tmp_js])
    return js


# ----------------------------------------------------------------------------- TorchScript lifter
_WEIGHT_FIELDS = ("Wf", "bf", "W2f", "b2f", "Wr", "Woo_t", "br", "W2r", "b2r", "A_f", "A_top", "A_bot", "oo_i", "oo_j")
_TRANSPOSED = ("Wf", "Wr", "A_f", "A_top")  # their ``*_t`` fields are transposed views, not stored twice


class LifterExport(nn.Module):
    """What ``energy3d lift`` computes from normalised 2D, as plain torch ops for ``torch.jit.trace``.

    ``forward`` is :func:`energy3d.tasks.lift.lift_centred` around :meth:`raw`: each person is
    lifted in a virtual camera turned towards them, rotated back and rescaled about the camera
    centre so the bones sum to :data:`~energy3d.tasks.lift.BONE_LENGTH_SUM_M`, so its output
    equals :func:`energy3d.tasks.lift.lift_keypoints` on the same input (up to float32 rounding
    of the inner steps, see below).

    :meth:`raw` is the model's eval-mode forward. A baseline lifter is used as it is (eval mode).
    An IGE lifter runs :meth:`IGELifter.closed_form_iterate
    <energy3d.models.lifter.IGELifter.closed_form_iterate>`, the non-fused branch of its
    inference (initialiser in eval mode, ``T`` steps of the learned clip / step / momentum update
    on the torch closed-form gradient), with the effective energy weights of
    :meth:`PoseEnergy.inference_weights <energy3d.energies.pose.PoseEnergy.inference_weights>` held
    as buffers of this module (each matrix once; the transposes the gradient also uses are views)
    and passed to :meth:`PoseEnergy.prepare <energy3d.energies.pose.PoseEnergy.prepare>`, so a
    trace saves them as named tensors instead of graph constants; the energy networks' raw
    weights are not needed and not kept.

    Args:
        model: a :class:`BaselineLifter` or :class:`IGELifter` (copied; the copy is put in eval
            mode on the CPU and its parameters frozen, the caller's model is untouched).
        layout: the model's output layout (a :class:`~energy3d.skeleton.Skeleton` or its name);
            its bones define the rescale.

    Shapes:
        ``(B, J_in, 2)`` normalised camera coordinates ``(p - c) / f`` -> ``(B, J_out, 3)``
        camera-frame metres (x right, y down, z forward); any ``B >= 0``. Float32, CPU.

    Example:
        >>> from energy3d.models.lifter import BaselineLifter
        >>> m = LifterExport(BaselineLifter(17, 17, width=16, blocks=1), "h36m17")
        >>> m(torch.zeros(2, 17, 2)).shape, m(torch.zeros(0, 17, 2)).shape
        (torch.Size([2, 17, 3]), torch.Size([0, 17, 3]))
    """

    def __init__(self, model: nn.Module, layout: Skeleton | str):
        super().__init__()
        if not isinstance(model, (BaselineLifter, IGELifter)):
            raise InputError(f"LifterExport: expected a BaselineLifter or IGELifter, got {type(model).__name__}")
        layout = get_layout(layout) if isinstance(layout, str) else layout
        base = model.init if isinstance(model, IGELifter) else model
        if layout.num_joints != base.num_out:
            raise InputError(f"LifterExport: the model outputs {base.num_out} joints, layout {layout.name} has "
                             f"{layout.num_joints}")
        model = copy.deepcopy(model).float().cpu().eval()
        model.requires_grad_(False)
        self.layout = layout
        self.is_ige = isinstance(model, IGELifter)
        if not self.is_ige:
            self.init = model
            self.steps, self.step_unit = 0, 1.0
            return
        # registered here: the initialiser and the learned lr / clip / momentum (scalar parameters)
        self.init = model.init.eval()
        self.optimizer = model.optimizer
        self.steps, self.step_unit = model.steps, model.step_unit
        # The IGE model is used for its methods only (its init and optimizer are the modules
        # registered above; the energy's gradient reads the weights passed in): keep it out of the
        # module tree so the energy networks' raw weights are not saved.
        object.__setattr__(self, "_ige", model)
        with torch.no_grad():
            w = model.energy.inference_weights(torch.float32, torch.device("cpu"))
        for name in _WEIGHT_FIELDS:
            self.register_buffer(f"w_{name}", getattr(w, name).clone())
        self.hip_col = w.hip_col

    @property
    def num_in(self) -> int:
        return self.init.num_in

    @property
    def num_out(self) -> int:
        return self.init.num_out

    def _weights(self):
        from energy3d.energies.pose import InferenceWeights

        w = {n: getattr(self, f"w_{n}") for n in _WEIGHT_FIELDS}
        w.update({f"{n}_t": w[n].t() for n in _TRANSPOSED})
        return InferenceWeights(**w, hip_col=self.hip_col)

    def raw(self, x: Tensor) -> Tensor:
        """The model's eval-mode output for ``x`` as given ``(B, J_in, 2) -> (B, J_out, 3)`` (no centring, no rescale)."""
        if not self.is_ige:
            return self.init(x)
        return self._ige.closed_form_iterate(x, weights=self._weights(), record_grad_norms=False).iterates[-1]

    def forward(self, x: Tensor) -> Tensor:
        """``(B, J_in, 2)`` normalised 2D -> ``(B, J_out, 3)`` camera-frame metres, as ``energy3d lift``."""
        return lift_centred(self.raw, x, self.layout)


def torchscript_meta(meta: dict, model: nn.Module) -> dict:
    """Self-description stored as ``meta.json`` in a TorchScript export.

    Args:
        meta: the source checkpoint's JSON description.
        model: the loaded lifter.
    """
    from energy3d.skeleton import get_layout

    cfg = (meta.get("config") or {}).get("model", {})
    layouts = meta.get("layouts") or {"input": get_layout(cfg["input_layout"]).to_json(),
                                       "output": get_layout(cfg["output_layout"]).to_json()}
    base = model.init if isinstance(model, IGELifter) else model
    J_in, J_out = base.num_in, base.num_out
    doc = {
        "format": TORCHSCRIPT_FORMAT,
        "format_version": TORCHSCRIPT_FORMAT_VERSION,
        "library_version": __version__,
        "torch_version": torch.__version__,
        "model_type": meta.get("model_type"),
        "input": {
            "shape": ["B", J_in, 2], "dtype": "float32", "layout": layouts["input"]["name"],
            "units": "normalised camera coordinates (p - c) / f: pixel keypoints p minus the principal "
                     "point c, divided by the focal length f (pixels), x right, y down",
        },
        "output": {
            "shape": ["B", J_out, 3], "dtype": "float32", "layout": layouts["output"]["name"],
            "units": "metres, camera frame (x right, y down, z forward), not root-centred",
            "scale": "as energy3d lift: the model is trained scale-invariantly, so each pose is rescaled about "
                     f"the camera centre so its bones sum to {BONE_LENGTH_SUM_M} m (an adult); the projection "
                     "is unchanged",
        },
        "layouts": layouts,
        "batch": "any B >= 0 (B = 0 gives a (0, J, 3) tensor); every pose is lifted independently (eval mode)",
        "computation": ("each person is lifted in a virtual camera rotated about the camera centre to look at the "
                        "mean of their keypoints (exact for a pinhole camera), the result rotated back and rescaled "
                        "to the bone-length sum, as energy3d lift does; the lifter: "
                        + ("baseline MLP (eval mode)" if not isinstance(model, IGELifter) else
                           f"baseline initialiser (eval mode) + {model.steps} unrolled steps on the learned energy, "
                           "torch closed-form gradient")),
        "source": {k: meta[k] for k in ("library_version", "format_version", "parameters", "macs", "metrics",
                                        "provenance") if k in meta},
        "config": meta.get("config"),
        "license": meta.get("license"),
        "usage": "m = torch.jit.load(path, _extra_files={'meta.json': ''}); y = m(x)",
    }
    return doc


def _check_trace(traced, module: nn.Module, x: Tensor) -> None:
    """Compare a trace with its eager module on ``x`` (another batch size than the traced one).

    Both run the same ops; TorchScript may reorder float32 arithmetic (e.g. split ``addmm``), which
    the inner steps carry along, so the bound is loose (1e-3 of the output size): it is there to
    catch a trace that baked in the batch size or a value, which fails or is off by O(1).
    """
    try:
        got = traced(x)
    except RuntimeError as e:
        raise RuntimeError(f"export_torchscript: the traced module fails at batch size {x.shape[0]} ({e})") from None
    want = module(x)
    fin = torch.isfinite(want)
    ok = got.shape == want.shape and torch.equal(torch.isfinite(got), fin)
    if ok and bool(fin.any()):
        ok = float((got[fin] - want[fin]).abs().max()) <= 1e-3 * (1.0 + float(want[fin].abs().max()))
    if not ok:
        raise RuntimeError("export_torchscript: the traced module differs from the eager one; please report this")


def export_torchscript(src: str | Path, dst: str | Path, *, check: bool = True) -> Path:
    """Trace a lifting checkpoint into one TorchScript file (loads without energy3d).

    The file's module maps ``(B, J_in, 2)`` normalised 2D keypoints to ``(B, J_out, 3)``
    camera-frame metres, as ``energy3d lift`` does (centring rotation and bone-length rescale
    included, see :class:`LifterExport`); the batch size is free (``B = 0`` too). ``meta.json``
    in the file's ``_extra_files`` describes layouts, units and the input
    convention (:func:`torchscript_meta`).

    Args:
        src: lifting checkpoint ``NAME.json`` (with ``NAME.safetensors`` beside it).
        dst: output file (``.pt`` by convention), written as given.
        check: compare the traced module with the eager one at a batch size other than the
            traced one before writing.

    Returns:
        ``Path(dst)``.

    Raises:
        InputError: missing or corrupt checkpoint, a voxel checkpoint (its inner steps need
            autograd), or an output path that cannot be created or written.
    """
    meta = read_checkpoint_meta(src)
    kind = meta.get("model_type")
    if kind in _VOXEL_TYPES:
        raise InputError(f"{src}: a {kind} model cannot be exported to TorchScript: the voxel energy's inner "
                         "steps differentiate a 3D CNN with autograd at inference time, which a trace does not "
                         "record; use --format checkpoint")
    if kind not in _LIFTER_TYPES:
        raise InputError(f"{src}: cannot export a {kind!r} model to TorchScript (lifting models only: "
                         f"{', '.join(_LIFTER_TYPES)})")
    model = _load_model(src, meta)
    dst = Path(dst)
    if dst.is_dir():
        raise InputError(f"{dst}: is a folder; give the output file, e.g. {dst / 'model.pt'}")
    doc = torchscript_meta(meta, model)
    module = LifterExport(model, doc["output"]["layout"]).eval()
    gen = torch.Generator().manual_seed(0)
    example = 0.3 * torch.randn(2, module.num_in, 2, generator=gen)
    with torch.no_grad(), warnings.catch_warnings():
        # shape checks and index tables are fixed per model: the tracer's warnings about values
        # turned into constants do not apply to the batch (checked below at another batch size)
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(module, example, check_trace=False)
        if check:
            _check_trace(traced, module, 0.3 * torch.randn(5, module.num_in, 2, generator=gen))
            _check_trace(traced, module, torch.zeros(0, module.num_in, 2))
    extra = {TORCHSCRIPT_META: json.dumps(doc, indent=2, default=json_default)}
    _prepare_parent(dst)
    tmp = _tmp_path(dst)
    try:
        try:
            torch.jit.save(traced, str(tmp), _extra_files=extra)
        except (OSError, RuntimeError) as e:
            raise InputError(f"{dst}: cannot write the export ({e})") from None
        _commit([(tmp, dst)])
    finally:
        _cleanup([tmp])
    return dst


# ----------------------------------------------------------------------------- BVH from a lift result
LIFT_RESULT_FPS = 30.0
"""Frame rate written for a photo's (or keypoint file's) one-frame BVH, as ``energy3d lift --bvh`` does."""


def is_lift_result(path: str | Path) -> bool:
    """Whether ``path`` looks like what ``energy3d lift`` writes (``poses.npz``, or a JSON with ``people``)."""
    p = Path(path)
    if p.suffix.lower() == ".npz":
        return True
    if p.suffix.lower() != ".json" or not p.is_file():
        return False
    try:
        doc = json.loads(p.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and "people" in doc


def read_lift_result(path: str | Path) -> dict:
    """The gravity-aligned joints of an ``energy3d lift`` result (``poses.npz`` or ``poses.json``).

    Returns:
        ``{"joints_world": (N, J, 3) float32, "layout": name, "names": [N], "fps": float}``;
        ``fps`` is the sequence's frame rate (a video or frame folder: its ``N`` entries are frames of
        one person) or 0 (a photo or keypoint file: its ``N`` entries are people). ``poses.json``
        holds the joints rounded to 0.01 mm; ``poses.npz`` holds them as computed (float32).

    Raises:
        InputError: a missing or unreadable file, or one without the arrays a lift writes.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    hint = "energy3d lift ... --out DIR writes DIR/poses.npz and DIR/poses.json with them"
    if p.suffix.lower() == ".npz":
        try:
            with np.load(p, allow_pickle=False) as z:
                have = set(z.files)
                missing = [k for k in ("joints_world", "layout") if k not in have]
                if missing:
                    raise InputError(f"{p}: not an energy3d lift result: no {' or '.join(missing)} array "
                                     f"(it holds {', '.join(sorted(have)) or 'no arrays'}); {hint}")
                world = np.asarray(z["joints_world"])
                layout = str(z["layout"])
                n = world.shape[0] if world.ndim else 0
                names = [str(s) for s in z["names"]] if "names" in have else [f"#{i}" for i in range(n)]
                fps = float(z["fps"]) if "fps" in have else 0.0
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
            raise InputError(f"{p}: not a readable npz ({e})") from None
    elif p.suffix.lower() == ".json":
        try:
            doc = json.loads(p.read_text())
        except (OSError, ValueError) as e:
            raise InputError(f"{p}: not a readable JSON file ({e})") from None
        people = doc.get("people") if isinstance(doc, dict) else None
        name = (doc.get("layout") or {}).get("name") if isinstance(doc, dict) and isinstance(doc.get("layout"), dict) else None
        if not isinstance(people, list) or not people or name is None or \
                any(not isinstance(q, dict) or "joints_world" not in q for q in people):
            raise InputError(f"{p}: not an energy3d lift result: no people with joints_world and layout; {hint}")
        try:
            world = np.asarray([q["joints_world"] for q in people], dtype=np.float32)
        except (TypeError, ValueError):
            raise InputError(f"{p}: joints_world: expected a list of (J, 3) numbers per person") from None
        layout, names = str(name), [str(q.get("name", f"#{i}")) for i, q in enumerate(people)]
        media = doc.get("media") if isinstance(doc.get("media"), dict) else {}
        fps = float(media.get("fps") or 0.0) if media.get("kind") not in (None, "image") else 0.0
    else:
        raise InputError(f"{p}: expected a lift result, poses.npz (or poses.json)")
    if world.ndim != 3 or world.shape[-1] != 3 or world.shape[0] < 1:
        raise InputError(f"{p}: joints_world: expected shape (N >= 1, J, 3), got {tuple(world.shape)}")
    if len(names) != world.shape[0]:
        names = [f"#{i}" for i in range(world.shape[0])]
    return {"joints_world": world.astype(np.float32), "layout": layout, "names": names,
            "fps": fps if np.isfinite(fps) and fps > 0 else 0.0}


def export_bvh(src: str | Path, dst: str | Path, *, fps: float | None = None, person: int | None = None):
    """BVH or glTF from an existing lift result: what ``energy3d lift ... --bvh`` writes, after the fact.

    The gravity-aligned joints (``joints_world``) the lift stored go through
    :func:`energy3d.data.bvh_export.write_bvh` (one skeleton, median bone lengths, centimetres,
    +Y up), so ``energy3d export DIR/poses.npz --out F.bvh`` writes the same file as
    ``energy3d lift ... --bvh F.bvh`` did. A video or frame folder (the result stores its frame
    rate) gives one person's motion at that rate; a photo or keypoint file holds people, each one
    frame: ``person`` picks one (default 0), written at ``fps`` or :data:`LIFT_RESULT_FPS`.

    Args:
        src: ``poses.npz`` (or ``poses.json``, whose joints are rounded to 0.01 mm) of ``energy3d lift``.
        dst: the ``.bvh`` file (centimetres) or ``.glb`` file (glTF 2.0 binary, metres; an animated
            skeleton with a stick-figure mesh, :mod:`energy3d.data.gltf_export`) to write.
        fps: frame rate to write instead of the stored one.
        person: which person of a photo / keypoint file (index into ``people``).

    Returns:
        ``(export, notes)``: the :class:`~energy3d.data.bvh_export.BVHExport` written, and notes for
        the user (which person was taken of several).

    Raises:
        InputError: the source is not a lift result, ``person`` out of range or given for a
            sequence, ``fps`` not > 0, or a destination that cannot be written.
    """
    from energy3d.data.gltf_export import MOTION_SUFFIXES, write_motion

    dst = Path(dst)
    if dst.suffix.lower() not in MOTION_SUFFIXES:
        raise InputError(f"{dst}: expected a {' or '.join(MOTION_SUFFIXES)} file name")
    res = read_lift_result(src)
    world, names, notes = res["joints_world"], res["names"], []
    if fps is not None and not (np.isfinite(fps) and fps > 0):
        raise InputError(f"--fps must be a positive number of frames per second, got {fps}")
    if res["fps"] > 0:  # a sequence: the entries are frames of one person
        if person not in (None, 0):
            raise InputError(f"{src}: holds one person's motion ({len(world)} frames of a video); --person "
                             f"{person} does not apply")
        joints, rate = world, fps or res["fps"]
    else:
        n = len(world)
        i = 0 if person is None else int(person)
        if not 0 <= i < n:
            raise InputError(f"--person {i}: {src} holds {n} {'person' if n == 1 else 'people'} "
                             f"(0{'' if n == 1 else f' to {n - 1}'})")
        if n > 1:
            notes.append(f"note: {src} holds {n} people; wrote person {i} ({names[i]}) as one frame; choose another "
                         f"with --person 0..{n - 1}")
        joints, rate = world[i:i + 1], fps or LIFT_RESULT_FPS
    return write_motion(dst, joints, res["layout"], float(rate)), notes
