"""Motion sequences: 3D joint positions of many clips in one array.

A :class:`Motion` holds the frames of all its clips stacked in one ``(N, J, 3)`` array (metres,
Y-up world) with a per-frame clip index; the frames of one clip are contiguous and in time order,
and clips appear in the order of :attr:`Motion.clips`.

:func:`energy3d.data.sources.load_motion` reads any supported source and converts it to one layout:

* the Bandai Namco npz (key ``joints_mm``), see :mod:`energy3d.data.bandai`;
* a Human3.6M 3D npz (key ``positions_3d``) or Martinez-style ``.h5`` files, see
  :mod:`energy3d.data.h36m` (Z-up world rotated to Y-up there);
* a single ``.bvh`` file or a folder of them (searched recursively), see :mod:`energy3d.data.bvh`;
* an ``.amc`` file (with its ``.asf`` skeleton) or a folder of them, see :mod:`energy3d.data.asf`;
* the named sources ``"hdm05"``, ``"cmu"`` and ``"bandai"`` under the data folder.

Besides the joints a :class:`Motion` carries what the reader had to assume or leave out:
:attr:`Motion.notes` (assumptions worth a look, e.g. units detected with little margin, a head top
extrapolated because the rig has none) and :attr:`Motion.skipped` (files of a folder that could not
be read, each with the reason). Both survive :meth:`Motion.subsample`, :meth:`Motion.select_clips`,
:meth:`Motion.to_layout` and :func:`concat_motions`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from energy3d.errors import InputError
from energy3d.skeleton.layouts import Skeleton, convert, get_layout

CLIP_KEYS = ("name", "action", "style", "subject")
"""Keys every clip dict has (``""`` where unknown). ``subject`` is the person performing the clip
(Bandai: the dataset, Human3.6M: ``S1`` ..., HDM05: the actor ``bd``/``bk``/``dg``/``mm``/``tr``, CMU:
the subject number such as ``"13"``), so data can be split by person."""


def fps_step(src_fps: float, dst_fps: float, what: str) -> int:
    """Integer frame step that turns ``src_fps`` into ``dst_fps``; InputError if there is none."""
    if not np.isfinite(dst_fps) or dst_fps <= 0:
        raise InputError(f"{what}: target frame rate must be a positive number, got {dst_fps}")
    ratio = src_fps / dst_fps
    step = int(round(ratio))
    if step < 1 or abs(ratio - step) > 1e-3 * ratio:
        raise InputError(
            f"{what}: cannot subsample {src_fps:g} fps to {dst_fps:g} fps by keeping every k-th "
            f"frame; the target must be {src_fps:g}/k for an integer k (e.g. {src_fps / 2:g}, {src_fps / 3:g})"
        )
    return step


@dataclass
class Motion:
    """3D joint positions of a set of motion clips.

    Attributes:
        joints: ``(N, J, 3)`` float32 joint positions in metres, world frame with +Y up.
        layout: joint layout of ``joints`` (normally ``h36m17``).
        clip_index: ``(N,)`` int index into :attr:`clips` for every frame; non-decreasing (the
            frames of a clip are contiguous, in time order).
        clips: one dict per clip with at least the string keys ``name``, ``action``, ``style``,
            ``subject`` (``""`` where unknown); readers add more (e.g. ``take``, ``camera``).
        fps: frame rate in frames per second (all clips share it).
        notes: what the reader assumed and the user may want to check, one sentence each (e.g.
            ``"131_01.bvh: units assumed 'cmu' ..."``); empty when nothing was assumed.
        skipped: ``(path, reason)`` for every file of a folder that was not read.

    Example:
        >>> import numpy as np
        >>> m = Motion(np.zeros((4, 17, 3), np.float32), get_layout("h36m17"), np.array([0, 0, 1, 1]),
        ...            [{"name": "a", "action": "walk"}, {"name": "b", "action": "run"}], 30.0)
        >>> len(m), m.actions().tolist()
        (4, ['walk', 'walk', 'run', 'run'])
    """

    joints: np.ndarray
    layout: Skeleton
    clip_index: np.ndarray
    clips: list = field(default_factory=list)
    fps: float = 30.0
    notes: list = field(default_factory=list)
    skipped: list = field(default_factory=list)

    def __post_init__(self):
        self.layout = get_layout(self.layout)
        self.joints = np.asarray(self.joints, dtype=np.float32)
        if self.joints.ndim != 3:
            raise InputError(f"Motion.joints: expected shape (N, J, 3), got {self.joints.shape}")
        self.layout.check(self.joints, "Motion.joints", dims=(3,))
        self.clip_index = np.asarray(self.clip_index, dtype=np.int64).reshape(-1)
        n = self.joints.shape[0]
        if self.clip_index.shape != (n,):
            raise InputError(f"Motion.clip_index: expected shape ({n},), got {self.clip_index.shape}")
        clips = []
        for c in self.clips:
            c = dict(c)
            for k in CLIP_KEYS:
                c[k] = "" if c.get(k) is None else str(c.get(k))
            clips.append(c)
        self.clips = clips
        if n:
            if self.clip_index.min() < 0 or self.clip_index.max() >= len(clips):
                raise InputError(
                    f"Motion.clip_index: values must lie in [0, {len(clips)}) for {len(clips)} clips, "
                    f"got range [{self.clip_index.min()}, {self.clip_index.max()}]"
                )
            if np.any(np.diff(self.clip_index) < 0):
                raise InputError("Motion.clip_index: must be non-decreasing (frames of a clip contiguous, clips in order)")
        self.fps = float(self.fps)
        if not np.isfinite(self.fps) or self.fps <= 0:
            raise InputError(f"Motion.fps: expected a positive frame rate, got {self.fps}")
        self.notes = [str(n) for n in self.notes]
        self.skipped = [(str(p), str(r)) for p, r in self.skipped]

    def __len__(self) -> int:
        return int(self.joints.shape[0])

    @property
    def num_clips(self) -> int:
        return len(self.clips)

    @property
    def clip_starts(self) -> np.ndarray:
        """``(C + 1,)`` frame offsets: clip ``c`` occupies frames ``starts[c]:starts[c + 1]``."""
        counts = np.bincount(self.clip_index, minlength=len(self.clips))
        return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    def clip(self, c: int | str) -> np.ndarray:
        """Joints of one clip (by index or name): ``(T_c, J, 3)`` metres (a view, not a copy)."""
        if isinstance(c, str):
            names = [x["name"] for x in self.clips]
            if c not in names:
                raise InputError(f"no clip named {c!r} in this motion ({len(names)} clips)")
            c = names.index(c)
        s = self.clip_starts
        return self.joints[s[c]:s[c + 1]]

    def frame_in_clip(self) -> np.ndarray:
        """``(N,)`` int: index of every frame within its own clip (0 at each clip start)."""
        s = self.clip_starts
        return np.arange(len(self), dtype=np.int64) - s[self.clip_index]

    def actions(self) -> np.ndarray:
        """``(N,)`` str array: the action label of every frame."""
        labels = np.array([c["action"] for c in self.clips] or [""], dtype=str)
        return labels[self.clip_index] if len(self) else np.zeros((0,), dtype=str)

    def subsample(self, fps: float) -> "Motion":
        """Keep every k-th frame of every clip (starting at each clip's first frame).

        Args:
            fps: target frame rate; ``self.fps / fps`` must be an integer ``k``.

        Returns:
            A new :class:`Motion` at ``self.fps / k`` fps (the same object data if ``k == 1``).

        Raises:
            InputError: the target rate is not ``self.fps / k`` for an integer ``k``.
        """
        step = fps_step(self.fps, float(fps), "Motion.subsample")
        if step == 1:
            return self
        keep = (self.frame_in_clip() % step) == 0
        return replace(self, joints=self.joints[keep], clip_index=self.clip_index[keep],
                       fps=self.fps / step)

    def select_clips(self, which: np.ndarray | Sequence[bool] | Iterable[str] | Iterable[int]) -> "Motion":
        """Keep a subset of clips (their order is preserved; clip indices are renumbered).

        Args:
            which: a boolean mask ``(C,)`` over clips, integer clip indices, or clip names.

        Returns:
            A new :class:`Motion` with only the chosen clips.

        Raises:
            InputError: mask of the wrong length, index out of range, or an unknown clip name.
        """
        c = len(self.clips)
        if isinstance(which, str):
            which = [which]
        arr = np.asarray(list(which) if not isinstance(which, np.ndarray) else which)
        if arr.dtype == bool:
            if arr.shape != (c,):
                raise InputError(f"select_clips: boolean mask must have shape ({c},) (one per clip), got {arr.shape}")
            keep_clip = arr
        elif arr.size == 0:
            keep_clip = np.zeros(c, dtype=bool)
        elif arr.dtype.kind in "iu":
            if arr.min() < -c or arr.max() >= c:
                raise InputError(f"select_clips: clip index out of range [0, {c})")
            keep_clip = np.zeros(c, dtype=bool)
            keep_clip[arr] = True
        elif arr.dtype.kind in "UO":
            names = {x["name"]: i for i, x in enumerate(self.clips)}
            missing = [str(n) for n in arr if str(n) not in names]
            if missing:
                raise InputError(f"select_clips: unknown clip name(s): {', '.join(missing[:5])}"
                                 + (" ..." if len(missing) > 5 else ""))
            keep_clip = np.zeros(c, dtype=bool)
            keep_clip[[names[str(n)] for n in arr]] = True
        else:
            raise InputError(f"select_clips: expected a boolean mask, clip indices or clip names, got dtype {arr.dtype}")
        new_id = np.cumsum(keep_clip) - 1
        keep = keep_clip[self.clip_index]
        return replace(self, joints=self.joints[keep], clip_index=new_id[self.clip_index[keep]],
                       clips=[x for x, k in zip(self.clips, keep_clip) if k])

    def to_layout(self, layout: str | Skeleton) -> "Motion":
        """Convert to another joint layout via :func:`energy3d.skeleton.layouts.convert`."""
        dst = get_layout(layout)
        if dst == self.layout:
            return self
        joints = convert_motion_joints(self.joints, self.layout, dst)
        return replace(self, joints=joints, layout=dst)


def convert_motion_joints(joints: np.ndarray, src: Skeleton, dst: Skeleton, chunk: int = 65536) -> np.ndarray:
    """Layout conversion of ``(N, J_src, 3)`` metres to float32 ``(N, J_dst, 3)``, in chunks (bounded memory)."""
    src, dst = get_layout(src), get_layout(dst)
    out = np.empty((joints.shape[0], dst.num_joints, 3), dtype=np.float32)
    if joints.shape[0] == 0:
        src.check(joints, "joints", dims=(3,))
    for s in range(0, joints.shape[0], chunk):
        out[s:s + chunk] = convert(joints[s:s + chunk], src, dst)
    return out


def concat_motions(motions: Sequence[Motion]) -> Motion:
    """Stack motions of the same layout and frame rate into one (clips appended in order).

    Notes are merged without repeats (first occurrence order); skipped files are appended.
    """
    if not motions:
        raise InputError("no motion clips to combine")
    first = motions[0]
    for m in motions[1:]:
        if m.layout != first.layout:
            raise InputError(f"cannot combine motions of layouts {first.layout.name} and {m.layout.name}")
        if abs(m.fps - first.fps) > 1e-6 * first.fps:
            raise InputError(
                f"cannot combine clips at {first.fps:g} and {m.fps:g} fps; pass fps= to resample them to one rate"
            )
    offsets = np.cumsum([0] + [m.num_clips for m in motions[:-1]])
    return Motion(
        joints=np.concatenate([m.joints for m in motions], axis=0),
        layout=first.layout,
        clip_index=np.concatenate([m.clip_index + o for m, o in zip(motions, offsets)]),
        clips=[c for m in motions for c in m.clips],
        fps=first.fps,
        notes=list(dict.fromkeys(n for m in motions for n in m.notes)),
        skipped=[s for m in motions for s in m.skipped],
    )
