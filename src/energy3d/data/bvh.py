"""Biovision Hierarchy (BVH) motion files: parser, forward kinematics, units and joint mappings.

Format (Biovision BVH, as documented by Biovision/Meredith & Maddock "Motion capture file formats
explained", 2001)::

    HIERARCHY
    ROOT Hips                       # one or more ROOT blocks
    {
      OFFSET 0 0 0                  # joint origin in the parent's frame (file units)
      CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
      JOINT Spine { OFFSET ... CHANNELS 3 ... ... }
      End Site { OFFSET ... }       # a leaf point without channels
    }
    MOTION
    Frames: T
    Frame Time: dt                  # seconds per frame
    <T rows, one value per channel, in hierarchy order>

Conventions implemented here:

* Rotation channels are Euler angles in degrees. They compose in the order they are listed, as
  intrinsic rotations: for ``Zrotation Xrotation Yrotation`` the local rotation is
  ``R = Rz(z) @ Rx(x) @ Ry(y)``; ``Rx, Ry, Rz`` are right-handed rotations about the parent-frame axes.
* A joint's local translation (in its parent's frame) is its ``OFFSET``; if the joint has position
  channels they *replace* the offset components they name (``Xposition`` replaces ``OFFSET x`` ...).
  This is what exporters writing 6 channels for every joint rely on (e.g. the Bandai Namco files,
  whose non-root position channels repeat the offsets, and whose ``Hips`` positions are absolute),
  and equals the usual root convention when the root's offset is zero.
* World transform: ``R_w[j] = R_w[parent] @ R_local[j]`` and ``p_w[j] = p_w[parent] + R_w[parent] @ t[j]``.
* Positions stay in the file's units; :attr:`BVH.scale` converts to metres. BVH worlds are taken to
  be Y-up (the format's convention); no axis change is applied.

Units are detected per file (:func:`energy3d.data.mocap.guess_units`: leg length when the rig is
recognised, else the skeleton span; ``m``, ``cm``, ``mm``, ``inch`` or ``cmu`` = 0.056444 m, the unit
of the CMU conversions) or given with ``units=``; an uncertain guess is reported in ``notes``.

Joints are mapped to ``h36m17`` by rig (recognised from joint names: Bandai, CMU MotionBuilder
names, Mixamo, 3ds Max, DAZ/Poser, CMU/HDM05 ASF names, Character Creator) or by a user joint map;
:mod:`energy3d.data.mocap` documents where each ``h36m17`` joint sits on every rig. End Sites are
kept as ``<joint>_End`` points when loading, so a rig's head top (the End Site of ``Head``) is used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from energy3d.data.mocap import (
    RIGS, UNIT_SCALES, RigMatch, clip_info_from_name, guess_units, leg_length, match_rig, motion_from_positions,
    parse_units,
)
from energy3d.data.motion import Motion, concat_motions
from energy3d.errors import InputError
from energy3d.skeleton.layouts import Skeleton

__all__ = [
    "BVH", "BVH_MAPPINGS", "UNIT_SCALES", "axis_rotation", "bvh_skeleton", "clip_info_from_name", "detect_mapping",
    "detect_units", "forward_kinematics", "load_bvh", "load_folder", "parse_bvh", "read_bvh", "rest_positions",
    "skeleton_span",
]

_POS = {"Xposition": 0, "Yposition": 1, "Zposition": 2}
_ROT = {"Xrotation": 0, "Yrotation": 1, "Zrotation": 2}


@dataclass
class BVH:
    """A parsed BVH file with forward kinematics applied.

    Attributes:
        names: ``J`` joint names in file order (End Sites, if kept, are named ``<parent>_End``).
        parents: ``(J,)`` int parent index, ``-1`` for roots; parents precede their children.
        offsets: ``(J, 3)`` float64 OFFSET of each joint in its parent's frame (file units).
        channels: per joint, the tuple of its channel names in file order (``()`` for End Sites).
        motion: ``(T, C)`` float64 raw channel values (C = total number of channels).
        positions: ``(T, J, 3)`` float64 world joint positions in the FILE's units.
        frame_time: seconds per frame.
        units: the units of the file (``"m"``, ``"cm"``, ``"mm"``, ``"inch"``, or ``"custom"``).
        scale: metres per file unit (multiply :attr:`positions` by it to get metres).
        end_site: ``(J,)`` bool, True for End Site points.
        path: the file read ("" for text input).
        notes: what was assumed (e.g. units detected outside the adult size range), one sentence each.
    """

    names: list
    parents: np.ndarray
    offsets: np.ndarray
    channels: list
    motion: np.ndarray
    positions: np.ndarray
    frame_time: float
    units: str
    scale: float
    end_site: np.ndarray
    path: str = ""
    notes: list = field(default_factory=list)

    @property
    def fps(self) -> float:
        """Frames per second: ``1 / frame_time``, rounded to an integer when within 0.01 % of one
        (files store e.g. ``0.0333333`` for 30 fps)."""
        f = 1.0 / self.frame_time
        return float(round(f)) if round(f) > 0 and abs(f - round(f)) < 1e-4 * f else f

    @property
    def num_frames(self) -> int:
        return int(self.positions.shape[0])

    def positions_m(self) -> np.ndarray:
        """``(T, J, 3)`` float32 world positions in metres (Y-up)."""
        return (self.positions * self.scale).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# Parsing

def _tokens(text: str):
    """Whitespace tokens with 1-based line numbers; braces are separate tokens."""
    out = []
    for ln, line in enumerate(text.splitlines(), start=1):
        for tok in line.replace("{", " { ").replace("}", " } ").split():
            out.append((tok, ln))
    return out


def parse_bvh(text: str, *, source: str = "<bvh text>"):
    """Parse BVH text into its hierarchy and raw channel values (no kinematics).

    Args:
        text: the whole file content.
        source: name used in error messages (usually the file path).

    Returns:
        dict with ``names`` (list), ``parents`` (``(J,)`` int), ``offsets`` (``(J, 3)``),
        ``channels`` (list of tuples), ``end_site`` (``(J,)`` bool), ``motion`` (``(T, C)`` float64)
        and ``frame_time`` (float seconds).

    Raises:
        InputError: empty text, malformed hierarchy, a ``Frames`` count that disagrees with the
            number of data rows, rows with the wrong number of values, non-numeric or non-finite values.
    """
    if not text.strip():
        raise InputError(f"{source}: empty BVH file (expected 'HIERARCHY' followed by 'MOTION')")
    lines = text.splitlines()
    motion_line = next((i for i, l in enumerate(lines) if l.strip().upper().startswith("MOTION")), None)
    if motion_line is None:
        raise InputError(f"{source}: no MOTION section (a BVH file has HIERARCHY ... MOTION, Frames:, Frame Time:, rows)")
    toks = _tokens("\n".join(lines[:motion_line]))
    hier = _parse_hierarchy(toks, source)
    motion, frame_time = _parse_motion(lines, motion_line, sum(len(c) for c in hier["channels"]), source)
    hier["motion"] = motion
    hier["frame_time"] = frame_time
    return hier


def _parse_hierarchy(toks, source):
    pos = 0

    def err(msg, at=None):
        ln = toks[min(at if at is not None else pos, len(toks) - 1)][1] if toks else 1
        raise InputError(f"{source} line {ln}: malformed BVH hierarchy: {msg}")

    def take(literal=None, what=None):
        """Consume one token; it must equal ``literal`` when given (``what`` describes it)."""
        nonlocal pos
        want = repr(literal) if literal is not None else (what or "more")
        if pos >= len(toks):
            err(f"file ends early (expected {want})", len(toks) - 1)
        tok = toks[pos][0]
        if literal is not None and tok != literal:
            err(f"expected {want}, got {tok!r}")
        pos += 1
        return tok

    def number():
        tok = take(what="a number")
        try:
            v = float(tok)
        except ValueError:
            err(f"expected a number, got {tok!r}", pos - 1)
        if not np.isfinite(v):
            err(f"non-finite number {tok!r}", pos - 1)
        return v

    if not toks or toks[0][0].upper() != "HIERARCHY":
        err(f"file must start with 'HIERARCHY', got {toks[0][0]!r}" if toks else "no HIERARCHY section", 0)
    pos = 1
    names, parents, offsets, channels, end_site = [], [], [], [], []

    def block(name, parent, is_end):
        if name in ("{", "}"):
            err("a joint name is missing after ROOT/JOINT", pos - 1)
        idx = len(names)
        names.append(name)
        parents.append(parent)
        offsets.append((0.0, 0.0, 0.0))
        channels.append(())
        end_site.append(is_end)
        take("{")
        seen_offset = False
        while True:
            if pos >= len(toks):
                err(f"missing '}}' closing joint {name!r}", len(toks) - 1)
            tok = toks[pos][0]
            if tok == "}":
                take("}")
                break
            if tok == "OFFSET":
                take()
                offsets[idx] = (number(), number(), number())
                seen_offset = True
            elif tok == "CHANNELS":
                if is_end:
                    err(f"End Site of {names[parent]!r} cannot have CHANNELS")
                take()
                n_tok = take(what="a channel count")
                if not n_tok.isdigit():
                    err(f"CHANNELS count must be an integer, got {n_tok!r}", pos - 1)
                n = int(n_tok)
                chans = tuple(take(what="a channel name") for _ in range(n))
                bad = [c for c in chans if c not in _POS and c not in _ROT]
                if bad:
                    err(f"joint {name!r}: unknown channel {bad[0]!r} (expected X/Y/Z position or rotation)", pos - 1)
                if len(set(chans)) != len(chans):
                    err(f"joint {name!r}: repeated channel in {' '.join(chans)}", pos - 1)
                channels[idx] = chans
            elif tok == "JOINT":
                if is_end:
                    err("End Site cannot have child joints")
                take()
                block(take(what="a joint name"), idx, False)
            elif tok == "End":
                if is_end:
                    err("End Site cannot have children")
                take()
                take("Site")
                block(f"{name}_End", idx, True)
            else:
                err(f"unexpected {tok!r} inside joint {name!r} (expected OFFSET, CHANNELS, JOINT, End Site or '}}')")
        if not seen_offset:
            err(f"joint {name!r} has no OFFSET")

    while pos < len(toks):
        tok = toks[pos][0]
        if tok != "ROOT":
            err(f"expected 'ROOT', got {tok!r}")
        take()
        block(take(what="a joint name"), -1, False)
    if not names:
        err("no ROOT joint", 0)
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        err(f"duplicate joint names: {', '.join(sorted(dup))}", 0)
    return {
        "names": names,
        "parents": np.array(parents, dtype=np.int64),
        "offsets": np.array(offsets, dtype=np.float64).reshape(-1, 3),
        "channels": channels,
        "end_site": np.array(end_site, dtype=bool),
    }


def _parse_motion(lines, motion_line, n_channels, source):
    i = motion_line + 1

    def next_nonblank(i):
        while i < len(lines) and not lines[i].strip():
            i += 1
        return i

    i = next_nonblank(i)
    m = re.match(r"^\s*Frames\s*:\s*(\S+)\s*$", lines[i]) if i < len(lines) else None
    if m is None or not m.group(1).isdigit():
        raise InputError(f"{source} line {i + 1}: expected 'Frames: <count>' after MOTION")
    n_frames = int(m.group(1))
    i = next_nonblank(i + 1)
    m = re.match(r"^\s*Frame\s+Time\s*:\s*(\S+)\s*$", lines[i]) if i < len(lines) else None
    try:
        frame_time = float(m.group(1)) if m else float("nan")
    except ValueError:
        frame_time = float("nan")
    if not (np.isfinite(frame_time) and frame_time > 0):
        raise InputError(f"{source} line {i + 1}: expected 'Frame Time: <seconds per frame>' (a positive number)")
    rows = [(k + 1, l) for k, l in enumerate(lines[i + 1:], start=i + 1) if l.strip()]
    if len(rows) != n_frames:
        raise InputError(f"{source}: header says Frames: {n_frames} but the file has {len(rows)} data rows")
    for ln, l in rows:
        n = len(l.split())
        if n != n_channels:
            raise InputError(f"{source} line {ln}: {n} values in a frame row, expected {n_channels} (one per channel)")
    try:
        data = np.array(" ".join(l for _, l in rows).split(), dtype=np.float64).reshape(n_frames, n_channels)
    except ValueError:
        for ln, l in rows:
            for tok in l.split():
                try:
                    float(tok)
                except ValueError:
                    raise InputError(f"{source} line {ln}: non-numeric value {tok!r} in frame data") from None
        raise  # pragma: no cover
    if not np.all(np.isfinite(data)):
        bad = int(np.argwhere(~np.isfinite(data))[0, 0])
        raise InputError(f"{source} line {rows[bad][0]}: non-finite value (NaN or inf) in frame data")
    return data, frame_time


# ----------------------------------------------------------------------------------------------
# Kinematics

def axis_rotation(axis: int, angle_deg: np.ndarray) -> np.ndarray:
    """Right-handed rotation matrices about the x (0), y (1) or z (2) axis.

    Args:
        axis: 0, 1 or 2.
        angle_deg: ``(...)`` angles in degrees.

    Returns:
        ``(..., 3, 3)`` rotation matrices (e.g. ``axis_rotation(2, 90) @ [1, 0, 0] = [0, 1, 0]``).
    """
    a = np.deg2rad(np.asarray(angle_deg, dtype=np.float64))
    c, s = np.cos(a), np.sin(a)
    R = np.zeros(a.shape + (3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]  # the plane rotated: y->z for x, z->x for y, x->y for z
    R[..., axis, axis] = 1.0
    R[..., i, i] = c
    R[..., j, j] = c
    R[..., i, j] = -s
    R[..., j, i] = s
    return R


def forward_kinematics(parents: np.ndarray, offsets: np.ndarray, channels: list, motion: np.ndarray) -> np.ndarray:
    """World joint positions from BVH channels (vectorised over frames).

    Args:
        parents: ``(J,)`` parent indices (``-1`` for roots), parents before children.
        offsets: ``(J, 3)`` joint offsets in the parent frame (file units).
        channels: per joint, tuple of channel names (see module docstring for their meaning).
        motion: ``(T, C)`` channel values (degrees for rotations, file units for positions).

    Returns:
        ``(T, J, 3)`` float64 world positions in file units.
    """
    T = motion.shape[0]
    J = len(parents)
    pos = np.zeros((T, J, 3))
    rot = np.zeros((T, J, 3, 3))
    col = 0
    for j in range(J):
        t = np.broadcast_to(offsets[j], (T, 3)).copy()
        R = None
        for ch in channels[j]:
            v = motion[:, col]
            col += 1
            if ch in _POS:
                t[:, _POS[ch]] = v
            else:
                Ra = axis_rotation(_ROT[ch], v)
                R = Ra if R is None else R @ Ra
        if R is None:
            R = np.broadcast_to(np.eye(3), (T, 3, 3))
        p = parents[j]
        if p < 0:
            pos[:, j] = t
            rot[:, j] = R
        else:
            pos[:, j] = pos[:, p] + np.einsum("tab,tb->ta", rot[:, p], t)
            rot[:, j] = rot[:, p] @ R
    return pos


# ----------------------------------------------------------------------------------------------
# Units


def _local_translations(offsets: np.ndarray, channels: list, motion: np.ndarray):
    """Per joint: the first-frame local translation (OFFSET with position channels substituted) and
    whether its position channels move over time (a global-translation carrier)."""
    J = len(offsets)
    trans = np.array(offsets, dtype=np.float64).reshape(J, 3).copy()
    moving = np.zeros(J, dtype=bool)
    col = 0
    for j in range(J):
        for ch in channels[j]:
            if ch in _POS and motion.shape[0]:
                v = motion[:, col]
                trans[j, _POS[ch]] = v[0]
                moving[j] |= bool(np.ptp(v) > 1e-6 * max(1.0, float(np.abs(v).max())))
            col += 1
    return trans, moving


def rest_positions(parents: np.ndarray, offsets: np.ndarray, channels: list, motion: np.ndarray) -> np.ndarray:
    """``(J, 3)`` joint positions with every rotation zero (file units; roots at the origin).

    Local translations are the OFFSETs with first-frame position channels substituted (see the
    module docstring), so distances between joints are the rig's bone geometry.
    """
    trans, _ = _local_translations(offsets, channels, motion)
    rest = np.zeros_like(trans)
    for j, p in enumerate(parents):
        if p >= 0:
            rest[j] = rest[p] + trans[j]
    return rest


def skeleton_span(parents: np.ndarray, offsets: np.ndarray, channels: list, motion: np.ndarray) -> float:
    """Longest path along bones between two joints, in file units.

    Bone lengths are the norms of each joint's local translation in the first frame (its OFFSET
    with position channels substituted, see module docstring). Root joints and joints whose position
    channels change over time (global translation carriers, e.g. a root-motion ``Hips`` under a
    dummy root) contribute no bone. End Sites count, so the span of a human rig is roughly
    toe-to-fingertip, 1.1-1.3 times the standing height.
    """
    J = len(parents)
    trans, moving = _local_translations(offsets, channels, motion)
    length = np.where((np.asarray(parents) < 0) | moving, 0.0, np.linalg.norm(trans, axis=1))
    down = np.zeros(J)  # longest downward path from joint j
    best = 0.0
    for j in range(J - 1, -1, -1):  # children come after parents
        kids = [down[c] + length[c] for c in range(J) if parents[c] == j]
        kids.sort(reverse=True)
        down[j] = kids[0] if kids else 0.0
        best = max(best, sum(kids[:2]))
    return best


def detect_units(span: float, *, source: str = "BVH") -> str:
    """Guess file units from the skeleton span (:func:`skeleton_span`, in file units).

    The span rule of :func:`energy3d.data.mocap.guess_units`: among ``m``, ``cm``, ``mm``,
    ``inch`` and ``cmu`` (0.056444 m), the unit putting the span closest (in log scale) to 1.9 m;
    the result must lie in 1.0-3.0 m. :func:`read_bvh` prefers the leg length when it recognises
    the rig (a sharper measure: the span depends on fingers and toes being present).

    Raises:
        InputError: no unit gives a plausible human span.

    Example:
        >>> detect_units(190.0), detect_units(75.0), detect_units(39.3)
        ('cm', 'inch', 'cmu')
    """
    return guess_units(span, "span", source=source).unit


def _detect_bvh_units(h, source, mapping, joint_map):
    """``(unit, scale, notes)`` for a parsed file: leg length when a rig matches, else the span."""
    rest = rest_positions(h["parents"], h["offsets"], h["channels"], h["motion"])
    leg = None
    try:
        match = match_rig(h["names"], rig=mapping, joint_map=joint_map, rest=rest, source=source)
        leg = leg_length(rest, match)
    except InputError:
        pass
    if leg is not None:
        g = guess_units(leg, "leg", source=source)
    else:
        g = guess_units(skeleton_span(h["parents"], h["offsets"], h["channels"], h["motion"]), "span", source=source)
    return g.unit, g.scale, [g.note] if g.note else []


def read_bvh(path: str | Path, *, units: str | float | None = None, include_end_sites: bool = False,
             mapping: str | None = None, joint_map=None) -> BVH:
    """Read a BVH file and compute world joint positions by forward kinematics.

    Args:
        path: ``.bvh`` file.
        units: file units: ``"m" | "cm" | "mm" | "inch" | "cmu"``, metres per file unit (a number
            or a numeric string such as ``"0.056444"``), or ``None`` to detect them from the leg
            length (when the rig is recognised, via ``mapping`` / ``joint_map`` if given) or else
            the skeleton span (:func:`energy3d.data.mocap.guess_units`).
        include_end_sites: keep End Site points as joints (named ``<parent>_End``).
        mapping: rig used for unit detection (see :data:`energy3d.data.mocap.RIGS`), ``None`` = any.
        joint_map: user joint map used for unit detection (see :func:`energy3d.data.mocap.read_joint_map`).

    Returns:
        :class:`BVH` with ``positions`` ``(T, J, 3)`` in the file's units; ``notes`` says when the
        detected units are not certain.

    Raises:
        InputError: missing/unreadable file, any format error (see :func:`parse_bvh`), bad ``units``,
            or units that cannot be detected.

    Example:
        >>> b = read_bvh("walk.bvh")  # doctest: +SKIP
        >>> b.positions_m().shape      # doctest: +SKIP
        (195, 22, 3)
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: BVH file not found")
    try:
        text = p.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise InputError(f"{p}: cannot read BVH file ({e})") from None
    h = parse_bvh(text, source=str(p))
    positions = forward_kinematics(h["parents"], h["offsets"], h["channels"], h["motion"])
    if not np.all(np.isfinite(positions)):
        bad = int(np.argwhere(~np.isfinite(positions))[0, 0])
        raise InputError(f"{p}: forward kinematics gives non-finite positions (NaN or inf) from frame {bad} on")
    if units is None:
        unit_name, scale, notes = _detect_bvh_units(h, str(p), mapping, joint_map)
    else:
        (unit_name, scale), notes = parse_units(units, source=str(p)), []
    keep = np.ones(len(h["names"]), dtype=bool) if include_end_sites else ~h["end_site"]
    new_index = np.cumsum(keep) - 1
    parents = np.array([new_index[q] if q >= 0 else -1 for q in h["parents"][keep]], dtype=np.int64)
    return BVH(
        names=[n for n, k in zip(h["names"], keep) if k],
        parents=parents,
        offsets=h["offsets"][keep],
        channels=[c for c, k in zip(h["channels"], keep) if k],
        motion=h["motion"],
        positions=positions[:, keep],
        frame_time=h["frame_time"],
        units=unit_name,
        scale=scale,
        end_site=h["end_site"][keep],
        path=str(p),
        notes=notes,
    )


# ----------------------------------------------------------------------------------------------
# Rigs and Motion

BVH_MAPPINGS = RIGS
"""The built-in rigs (:data:`energy3d.data.mocap.RIGS`), by name, in detection order."""


def detect_mapping(names, *, source: str = "BVH", joint_map=None) -> RigMatch:
    """Which rig a skeleton uses: :func:`energy3d.data.mocap.match_rig` over all built-in rigs.

    Args:
        names: joint names (a ``namespace:`` prefix is ignored).
        source: file name for error messages.
        joint_map: a user joint map instead of the built-in rigs.

    Returns:
        :class:`energy3d.data.mocap.RigMatch` (``.rig`` is the rig's name).

    Raises:
        InputError: no rig fits; the message lists, per rig, the missing count and the first names.
    """
    return match_rig(names, joint_map=joint_map, source=source)


def bvh_skeleton(bvh: BVH, mapping: str | None = None, joint_map=None) -> RigMatch:
    """The mapped joints of a read file.

    Args:
        bvh: a file read with :func:`read_bvh` (with End Sites, if a head top should be found).
        mapping: a rig name of :data:`BVH_MAPPINGS` or ``None`` (detect).
        joint_map: user joint map (overrides ``mapping``).

    Returns:
        :class:`energy3d.data.mocap.RigMatch`: ``match.layout`` and ``match.gather(bvh.positions)``.
    """
    rest = rest_positions(bvh.parents, bvh.offsets, bvh.channels, bvh.motion)
    return match_rig(bvh.names, rig=mapping, joint_map=joint_map, rest=rest, source=bvh.path or "BVH")


def _load_bvh_file(f: Path, units, fps, layout, mapping, joint_map) -> Motion:
    b = read_bvh(f, units=units, include_end_sites=True, mapping=mapping, joint_map=joint_map)
    match = bvh_skeleton(b, mapping, joint_map)
    return motion_from_positions(b.positions, b.scale, match, fps=b.fps, target_fps=fps, layout=layout,
                                 clip=clip_info_from_name(f.stem), notes=b.notes, source=str(f))


def load_bvh(source: str | Path, *, units: str | float | None = None, fps: float | None = None,
             layout: str | Skeleton | None = "h36m17", mapping: str | None = None, joint_map=None) -> Motion:
    """Read one ``.bvh`` file or a folder of them (recursive, sorted) into a :class:`Motion`.

    Args:
        source: a ``.bvh`` file or a folder.
        units: file units or ``None`` to detect them per file (see :func:`read_bvh`).
        fps: target frame rate (every k-th frame kept); required when files differ in frame rate.
        layout: target layout (default ``h36m17``); ``None`` keeps the mapped rig joints.
        mapping: rig name (:data:`BVH_MAPPINGS`) or ``None`` to recognise it per file.
        joint_map: a user joint map (dict or JSON path) for other rigs, see
            :func:`energy3d.data.mocap.read_joint_map`.

    Returns:
        :class:`energy3d.data.motion.Motion`, metres, Y-up (BVH worlds are Y-up), one clip per file;
        clip metadata from the file name (:func:`energy3d.data.mocap.clip_info_from_name`) plus
        ``rig``. In a folder, files that cannot be read are left out and listed in ``skipped`` with
        the reason; ``notes`` gathers what was assumed (uncertain units, extrapolated head tops).

    Raises:
        InputError: a single file that cannot be read; a folder with no ``.bvh`` files or none
            readable (every reason listed); mixed frame rates without ``fps``; different rigs with
            ``layout=None``.
    """
    src = Path(source)
    if src.is_file():
        return _load_bvh_file(src, units, fps, layout, mapping, joint_map)
    if not src.is_dir():
        raise InputError(f"{src}: BVH file or folder not found")
    files = sorted(src.rglob("*.bvh"))
    if not files:
        raise InputError(f"{src}: folder holds no .bvh files")
    return load_folder(src, files, lambda f: _load_bvh_file(f, units, fps, layout, mapping, joint_map), layout)


def load_folder(src: Path, files, load_one, layout) -> Motion:
    """Read every file of a folder with ``load_one``; unreadable ones go to ``Motion.skipped``.

    Raises:
        InputError: no file readable (every reason listed, up to 10); mixed frame rates; mixed rigs
            with ``layout=None``.
    """
    parts, skipped = [], []
    for f in files:
        try:
            parts.append(load_one(f))
        except InputError as e:
            skipped.append((str(f), str(e)))
    if not parts:
        reasons = "; ".join(f"{Path(p).name}: {r}" for p, r in skipped[:10])
        more = f" (and {len(skipped) - 10} more)" if len(skipped) > 10 else ""
        raise InputError(f"{src}: none of its {len(files)} motion file(s) could be read: {reasons}{more}")
    if layout is None and len({p.layout for p in parts}) > 1:
        rigs = sorted({p.layout.name for p in parts})
        raise InputError(f"{src}: files use different rigs ({', '.join(rigs)}); pass layout= to convert them to one layout")
    rates = sorted({p.fps for p in parts})
    if len(rates) > 1:
        raise InputError(f"{src}: files run at different frame rates ({', '.join(f'{r:g}' for r in rates)} fps); "
                         "pass fps= to resample them to one rate")
    m = concat_motions(parts)
    m.skipped = skipped
    return m
