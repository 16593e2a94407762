"""Checkpoints that load anywhere: a ``safetensors`` weight file plus a JSON description.

``NAME.safetensors`` holds the tensors (weights and buffers, e.g. normalisation statistics);
``NAME.json`` holds the format version, model type, config, joint layouts, library version,
training metrics and provenance. Nothing is unpickled: loading never executes code, and weights
load on any device (they are saved from CPU).

Training state for resuming (optimizer moments, RNG states, epoch/batch position) is saved the
same way, as ``state.safetensors`` + ``state.json`` in the run folder.
"""

from __future__ import annotations

import errno
import json
import os
import re
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from energy3d import __version__
from energy3d.errors import InputError

FORMAT = "energy3d-checkpoint"
FORMAT_VERSION = 1


def checkpoint_paths(path: str | Path) -> tuple[Path, Path]:
    p = Path(path)
    if p.suffix in (".json", ".safetensors"):
        p = p.with_suffix("")
    return p.with_suffix(".safetensors"), p.with_suffix(".json")


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def new_file_mode() -> int:
    """The mode a newly created file gets under the current umask: ``0o666 & ~umask`` (0644 under 022)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def save_tensors(tensors: dict[str, torch.Tensor], path: str | Path, metadata: dict | None = None) -> Path:
    """Write ``tensors`` to a ``safetensors`` file atomically, readable as any new file (umask respected).

    The tensors are written to ``PATH.tmp`` and renamed onto ``path``, so a crash never leaves a
    truncated file under the final name. ``safetensors`` itself writes through a private temporary
    file (mode 0600); the file is given :func:`new_file_mode` (0644 under the usual umask 022) so
    checkpoints can be shared like any other file.

    Args:
        tensors: name -> tensor (any device; saved from CPU, contiguous).
        path: destination ``.safetensors`` file; its folder must exist.
        metadata: optional string -> string header entries.

    Returns:
        ``Path(path)``.

    Raises:
        OSError: the file cannot be written (``safetensors``' own error is turned into one).
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        safetensors.torch.save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp),
                                    metadata=metadata)
        os.chmod(tmp, new_file_mode())
        os.replace(tmp, path)
    except SafetensorError as e:  # an I/O error inside safetensors' writer: "... (os error 2) ..."
        m = re.search(r"os error (\d+)", str(e))
        code = int(m.group(1)) if m else errno.EIO
        raise OSError(code, os.strerror(code), str(path)) from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def save_checkpoint(path: str | Path, model: torch.nn.Module, meta: dict[str, Any]) -> Path:
    """Save ``model``'s state dict and ``meta`` (must include ``model_type`` and ``config``).

    Returns the path of the JSON file.
    """
    st, js = checkpoint_paths(path)
    st.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v for k, v in model.state_dict().items()}
    save_tensors(tensors, st, {"format": FORMAT})
    doc = {"format": FORMAT, "format_version": FORMAT_VERSION, "library_version": __version__, **meta}
    _atomic_write_text(js, json.dumps(doc, indent=2, default=json_default))
    return js


def json_default(o):
    if hasattr(o, "tolist"):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def read_checkpoint_meta(path: str | Path, expected_types: tuple[str, ...] | None = None) -> dict:
    """Read and validate a checkpoint's JSON description.

    Raises:
        InputError: missing files, corrupt JSON, another format, a newer format version, or a
            model type not in ``expected_types``.
    """
    st, js = checkpoint_paths(path)
    if not js.is_file():
        raise InputError(f"{js}: checkpoint description not found (a checkpoint is NAME.json + NAME.safetensors)")
    if not st.is_file():
        raise InputError(f"{st}: checkpoint weights not found")
    try:
        meta = json.loads(js.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{js}: corrupt checkpoint description ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise InputError(f"{js}: not an energy3d checkpoint")
    v = meta.get("format_version")
    if not isinstance(v, int) or v > FORMAT_VERSION:
        raise InputError(
            f"{js}: checkpoint format version {v} is newer than this energy3d ({__version__}) reads "
            f"(up to {FORMAT_VERSION}); upgrade energy3d"
        )
    if expected_types is not None and meta.get("model_type") not in expected_types:
        raise InputError(
            f"{js}: checkpoint holds a {meta.get('model_type')!r} model, expected one of {', '.join(expected_types)}"
        )
    return meta


def load_weights(path: str | Path, model: torch.nn.Module) -> None:
    """Load a checkpoint's tensors into ``model`` (strict), with one clear error on mismatch."""
    st, _ = checkpoint_paths(path)
    try:
        tensors = load_file(str(st), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        raise InputError(f"{st}: corrupt checkpoint weights ({e})") from None
    missing = set(model.state_dict()) - set(tensors)
    unexpected = set(tensors) - set(model.state_dict())
    if missing or unexpected:
        raise InputError(
            f"{st}: weights do not match the model described by its config "
            f"(missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]})"
        )
    for k, v in model.state_dict().items():
        if tensors[k].shape != v.shape:
            raise InputError(f"{st}: tensor {k} has shape {tuple(tensors[k].shape)}, model expects {tuple(v.shape)}")
    model.load_state_dict(tensors)


# ---------------------------------------------------------------- training state (resume)
def save_train_state(folder: Path, model, optimizer, extra: dict, *, device: torch.device | None = None) -> None:
    """Save everything needed to resume: weights, optimizer state, RNG, position (``extra``).

    Tensors are saved from the CPU whatever device trained them. With a CUDA ``device`` its RNG
    state is saved too (dropout there draws from it), so a resumed CUDA run repeats the
    uninterrupted one.
    """
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    osd = optimizer.state_dict()
    for pid, st in osd["state"].items():
        for name, val in st.items():
            t = val if isinstance(val, torch.Tensor) else torch.tensor(val)
            tensors[f"optim.{pid}.{name}"] = t
    tensors["rng.torch"] = torch.get_rng_state()
    if device is not None and torch.device(device).type == "cuda":
        tensors["rng.cuda"] = torch.cuda.get_rng_state(device)
    meta = {"param_groups": osd["param_groups"], **extra}
    save_tensors(tensors, folder / "state.safetensors")
    _atomic_write_text(folder / "state.json", json.dumps(meta, indent=2, default=json_default))


def load_train_state(folder: Path, model, optimizer, *, device: torch.device | None = None) -> dict | None:
    """Restore a state saved by :func:`save_train_state`; returns its ``extra`` dict or None.

    The CPU tensors are copied into ``model`` and ``optimizer`` on whatever device they are
    (the optimizer casts its state to its parameters' device). A saved CUDA RNG state is
    restored when ``device`` is a CUDA device.
    """
    st, js = folder / "state.safetensors", folder / "state.json"
    if not (st.is_file() and js.is_file()):
        return None
    try:
        meta = json.loads(js.read_text())
        tensors = load_file(str(st), device="cpu")
    except (json.JSONDecodeError, SafetensorError, OSError, ValueError) as e:
        raise InputError(f"{folder}: cannot resume, training state is corrupt ({e}); delete it to start over") from None
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    state: dict = {}
    for k, v in tensors.items():
        if k.startswith("optim."):
            _, pid, name = k.split(".", 2)
            state.setdefault(int(pid), {})[name] = v
    optimizer.load_state_dict({"state": state, "param_groups": meta.pop("param_groups")})
    torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors and device is not None and torch.device(device).type == "cuda":
        torch.cuda.set_rng_state(tensors["rng.cuda"], device)
    return meta
