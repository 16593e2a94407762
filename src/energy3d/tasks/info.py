"""``energy3d info``: what a checkpoint is, checked: its weights, layouts or resolution, dtype, score."""

from __future__ import annotations

from pathlib import Path

from energy3d.errors import InputError
from energy3d.train.checkpoint import checkpoint_paths, read_checkpoint_meta

__all__ = ["describe_checkpoint", "SCORE_MEANING"]

SCORE_MEANING = {
    "baseline_lifter": "validation P1a in mm (mean joint distance after the optimal scale, camera frame; lower is better)",
    "ige_lifter": "validation P1a in mm (mean joint distance after the optimal scale, camera frame; lower is better)",
    "voxel_baseline": "1 - validation mean IoU at threshold 0.5 over categories (lower is better)",
    "voxel_ige": "1 - validation mean IoU at threshold 0.5 over categories (lower is better)",
    "structured_pose": "validation PA-MPJPE in mm of the config's validation topology (mean joint distance after "
                       "Procrustes alignment; lower is better)",
}
"""What the ``score`` of each model type's training metrics means."""


def describe_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint's description and verify its weights file; return a summary for people.

    The weights are opened (safetensors header: names, dtypes, shapes; nothing is executed) and
    checked against the model the description's config builds, so a truncated or mismatched
    ``.safetensors`` file is reported here rather than at first use.

    Returns:
        ``{"checkpoint", "model_type", "library_version", "format_version", "weights": {"file",
        "bytes", "tensors", "dtype", "verified"}, "parameters", "macs", "layouts" (lifters) or
        "resolution" / "image_size" / "target" (voxel models), "metrics", "score_means", "license"}``.

    Raises:
        InputError: a missing or corrupt description or weights file, or weights that do not fit.
    """
    from safetensors import safe_open

    meta = read_checkpoint_meta(path)
    st, js = checkpoint_paths(path)
    kind = meta.get("model_type")
    try:
        with safe_open(str(st), framework="pt", device="cpu") as f:
            keys = list(f.keys())
            dtypes = sorted({str(f.get_slice(k).get_dtype()) for k in keys})
    except Exception as e:  # safetensors raises its own error types for corrupt headers
        raise InputError(f"{st}: corrupt checkpoint weights ({type(e).__name__}: {e})") from None
    if kind in ("baseline_lifter", "ige_lifter"):
        from energy3d.tasks.lift import load_lifter

        load_lifter(path)
    elif kind in ("voxel_baseline", "voxel_ige"):
        from energy3d.tasks.voxel import load_voxel_model

        load_voxel_model(path)
    elif kind == "structured_pose":
        from energy3d.tasks.structured import load_pose_model

        load_pose_model(path)
    out = {
        "checkpoint": str(js),
        "model_type": kind,
        "library_version": meta.get("library_version"),
        "format_version": meta.get("format_version"),
        "weights": {"file": st.name, "bytes": st.stat().st_size, "tensors": len(keys),
                    "dtype": dtypes[0] if len(dtypes) == 1 else dtypes,
                    "stored_as": meta.get("weights_dtype", dtypes[0] if len(dtypes) == 1 else "mixed"),
                    "verified": "header read and every tensor loaded into the model the config builds"},
        "parameters": meta.get("parameters"),
        "macs": meta.get("macs"),
    }
    if "layouts" in meta:
        out["layouts"] = {k: {"name": v.get("name"), "joints": len(v.get("joints", []))} for k, v in meta["layouts"].items()}
        out["units"] = meta.get("units")
    if "output" in meta:
        out["resolution"] = meta["output"].get("resolution")
        out["target"] = meta["output"].get("target")
        out["image_size"] = (meta.get("frustum") or {}).get("image_size")
    if kind in ("baseline_lifter", "ige_lifter"):
        from energy3d.config import from_dict
        from energy3d.data.lifting import LiftDataConfig
        from energy3d.tasks.lift import training_motion

        out["training_motion"] = meta.get("training_motion") or training_motion(
            from_dict(LiftDataConfig, (meta.get("config") or {}).get("data", {}), where=f"{js} config.data"))
    if kind == "structured_pose":
        out["input"] = meta.get("input")
        out["training_motion"] = meta.get("training_motion")
    out["metrics"] = meta.get("metrics")
    out["score_means"] = SCORE_MEANING.get(kind, "see the model type's documentation")
    out["license"] = meta.get("license")
    return out
