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

Joint mappings to canonical names (then :func:`energy3d.skeleton.layouts.convert` builds any layout):
``bandai`` (the Bandai Namco rig, via the ``bandai21`` layout), ``cmu`` (MotionBuilder-style names as in
the CMU BVH conversions and Mixamo: Hips, LeftUpLeg, LeftLeg, LeftFoot, Spine1/Spine, Neck, Head,
LeftArm, LeftForeArm, LeftHand, ...), ``3dsmax`` (Hips, LeftHip, LeftKnee, LeftAnkle, Chest, Neck, Head,
LeftShoulder, LeftElbow, LeftWrist, ...). Names are matched case-sensitively after dropping a
``namespace:`` prefix (e.g. ``mixamorig:Hips``). The rigs have no head-top joint: ``h36m17``'s
``Head`` is then derived by the documented head-top rule of :mod:`energy3d.skeleton.layouts`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from energy3d.data.motion import Motion, concat_motions, convert_motion_joints, fps_step
from energy3d.errors import InputError
from energy3d.skeleton.layouts import BANDAI21, Skeleton, get_layout

UNIT_SCALES = {"m": 1.0, "cm": 0.01, "mm": 0.001, "inch": 0.0254}
_POS = {"Xposition": 0, "Yposition": 1, "Zposition": 2}
_ROT = {"Xrotation": 0, "Yrotation": 1, "Zrotation": 2}

# Units auto-detection: the skeleton's span S (longest bone path between two joints, see
# `skeleton_span`) of a human is 1.1-1.3x the standing height, about 1.9 m for an adult.
SPAN_TARGET_M = 1.9
SPAN_RANGE_M = (1.0, 3.0)


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

def skeleton_span(parents: np.ndarray, offsets: np.ndarray, channels: list, motion: np.ndarray) -> float:
    """Longest path along bones between two joints, in file units.

    Bone lengths are the norms of each joint's local translation in the first frame (its OFFSET
    with position channels substituted, see module docstring). Root joints and joints whose position
    channels change over time (global translation carriers, e.g. a root-motion ``Hips`` under a
    dummy root) contribute no bone. End Sites count, so the span of a human rig is roughly
    toe-to-fingertip, 1.1-1.3 times the standing height.
    """
    J = len(parents)
    length = np.zeros(J)
    col = 0
    for j in range(J):
        t = np.array(offsets[j], dtype=np.float64)
        moving = False
        for ch in channels[j]:
            if ch in _POS and motion.shape[0]:
                v = motion[:, col]
                t[_POS[ch]] = v[0]
                moving |= bool(np.ptp(v) > 1e-6 * max(1.0, float(np.abs(v).max())))
            col += 1
        length[j] = 0.0 if parents[j] < 0 or moving else float(np.linalg.norm(t))
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

    Rule: among ``m``, ``cm``, ``mm`` and ``inch``, choose the unit whose conversion puts the span
    closest (in log scale) to 1.9 m, a typical adult toe-to-fingertip span; the result must lie in
    1.0-3.0 m, otherwise the units are ambiguous and :class:`InputError` asks for ``units=``.
    Consequences: cm and inch split at a span of 119 file units (smaller spans read as inches),
    m and mm files are unambiguous. Pass ``units=`` for children, partial rigs or unusual scales
    (e.g. ``0.056444`` m per unit for the common CMU BVH conversions).

    Raises:
        InputError: no unit gives a plausible human span.
    """
    if not np.isfinite(span) or span <= 0:
        raise InputError(f"{source}: cannot detect units of a skeleton with zero size; pass units=")
    best = min(UNIT_SCALES, key=lambda u: abs(np.log(span * UNIT_SCALES[u] / SPAN_TARGET_M)))
    metres = span * UNIT_SCALES[best]
    if not (SPAN_RANGE_M[0] <= metres <= SPAN_RANGE_M[1]):
        raise InputError(
            f"{source}: cannot detect units: skeleton span {span:g} file units is not a human size in m, cm, "
            f"mm or inch; pass units= ('m', 'cm', 'mm', 'inch' or metres per file unit)"
        )
    return best


def _resolve_units(units, span, source):
    if units is None:
        u = detect_units(span, source=source)
        return u, UNIT_SCALES[u]
    if isinstance(units, str):
        if units not in UNIT_SCALES:
            raise InputError(f"{source}: unknown units {units!r}; expected one of {', '.join(UNIT_SCALES)} or a number (metres per unit)")
        return units, UNIT_SCALES[units]
    try:
        s = float(units)
    except (TypeError, ValueError):
        raise InputError(f"{source}: units must be a unit name or metres per file unit, got {units!r}") from None
    if not np.isfinite(s) or s <= 0:
        raise InputError(f"{source}: units scale must be positive, got {units!r}")
    return "custom", s


def read_bvh(path: str | Path, *, units: str | float | None = None, include_end_sites: bool = False) -> BVH:
    """Read a BVH file and compute world joint positions by forward kinematics.

    Args:
        path: ``.bvh`` file.
        units: file units, ``"m" | "cm" | "mm" | "inch"`` or a float (metres per file unit);
            ``None`` auto-detects from the skeleton span (see :func:`detect_units`).
        include_end_sites: keep End Site points as joints (named ``<parent>_End``).

    Returns:
        :class:`BVH` with ``positions`` ``(T, J, 3)`` in the file's units.

    Raises:
        InputError: missing/unreadable file or any format error (see :func:`parse_bvh`).

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
    unit_name, scale = _resolve_units(
        units, skeleton_span(h["parents"], h["offsets"], h["channels"], h["motion"]) if units is None else 0.0, str(p))
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
    )


# ----------------------------------------------------------------------------------------------
# Joint-name mappings

def _sided(spec: dict) -> dict:
    """Expand ``{canonical_with_{s}: name_with_{S}}`` into left/right entries."""
    out = {}
    for canon, names in spec.items():
        names = names if isinstance(names, tuple) else (names,)
        if "{s}" in canon:
            for s, S in (("l", "Left"), ("r", "Right")):
                out[canon.format(s=s)] = tuple(n.format(S=S) for n in names)
        else:
            out[canon] = names
    return out


# canonical joint -> candidate BVH names (first present wins)
BVH_MAPPINGS: dict[str, dict[str, tuple]] = {
    "bandai": {c: (n,) for n, c in zip(BANDAI21.joints, BANDAI21.canonical)},
    "cmu": _sided({
        "pelvis": "Hips", "{s}_hip": "{S}UpLeg", "{s}_knee": "{S}Leg", "{s}_ankle": "{S}Foot",
        "spine": ("Spine1", "Spine"), "thorax": "Neck", "nose": "Head",
        "{s}_shoulder": "{S}Arm", "{s}_elbow": "{S}ForeArm", "{s}_wrist": "{S}Hand",
    }),
    "3dsmax": _sided({
        "pelvis": "Hips", "{s}_hip": "{S}Hip", "{s}_knee": "{S}Knee", "{s}_ankle": "{S}Ankle",
        "spine": "Chest", "thorax": "Neck", "nose": "Head",
        "{s}_shoulder": "{S}Shoulder", "{s}_elbow": "{S}Elbow", "{s}_wrist": "{S}Wrist",
    }),
}


def _strip_ns(name: str) -> str:
    return name.rsplit(":", 1)[-1]


def detect_mapping(names, *, source: str = "BVH") -> tuple[str, dict[str, int]]:
    """Find which joint-name mapping fits a BVH skeleton.

    Args:
        names: BVH joint names (a ``namespace:`` prefix is ignored).
        source: file name for error messages.

    Returns:
        ``(mapping_name, {canonical: joint_index})``, mappings tried in the order ``bandai``,
        ``cmu``, ``3dsmax``; the first whose every canonical joint is present wins.

    Raises:
        InputError: no mapping fits; names the joints missing for the closest mapping.
    """
    plain = [_strip_ns(n) for n in names]
    lookup = {n: i for i, n in reversed(list(enumerate(plain)))}
    best = None
    for mname, spec in BVH_MAPPINGS.items():
        found, missing = {}, []
        for canon, cands in spec.items():
            hit = next((c for c in cands if c in lookup), None)
            if hit is None:
                missing.append("/".join(cands))
            else:
                found[canon] = lookup[hit]
        if not missing:
            return mname, found
        if best is None or len(missing) < len(best[1]):
            best = (mname, missing)
    raise InputError(
        f"{source}: joint names match no known BVH rig (bandai, cmu, 3dsmax); closest is "
        f"{best[0]!r}, missing joints: {', '.join(best[1])}"
    )


def bvh_skeleton(bvh: BVH, mapping: str | None = None) -> tuple[Skeleton, np.ndarray]:
    """The mapped joints of a BVH as a :class:`Skeleton` with canonical names.

    Args:
        bvh: a read file.
        mapping: ``"bandai"``, ``"cmu"``, ``"3dsmax"`` or ``None`` (auto-detect).

    Returns:
        ``(skeleton, index)``: ``index`` ``(K,)`` selects the skeleton's joints from ``bvh.positions``.
        For ``bandai`` the skeleton is the ``bandai21`` layout itself.
    """
    if mapping is None:
        mapping, found = detect_mapping(bvh.names, source=bvh.path or "BVH")
    else:
        if mapping not in BVH_MAPPINGS:
            raise InputError(f"unknown BVH mapping {mapping!r}; expected one of {', '.join(BVH_MAPPINGS)}")
        plain = {_strip_ns(n): i for i, n in enumerate(bvh.names)}
        found, missing = {}, []
        for canon, cands in BVH_MAPPINGS[mapping].items():
            hit = next((c for c in cands if c in plain), None)
            if hit is None:
                missing.append("/".join(cands))
            else:
                found[canon] = plain[hit]
        if missing:
            raise InputError(f"{bvh.path or 'BVH'}: mapping {mapping!r} needs joints missing from the file: {', '.join(missing)}")
    if mapping == "bandai":
        return BANDAI21, np.array([found[c] for c in BANDAI21.canonical], dtype=np.int64)
    canon = list(found)
    index = np.array([found[c] for c in canon], dtype=np.int64)
    pos_of = {int(b): k for k, b in enumerate(index)}
    parents = []
    for b in index:  # nearest mapped ancestor
        q = int(bvh.parents[b])
        while q >= 0 and q not in pos_of:
            q = int(bvh.parents[q])
        parents.append(pos_of[q] if q >= 0 else -1)
    names = tuple(bvh.names[b] for b in index)
    left = tuple(k for k, c in enumerate(canon) if c.startswith("l_") and "r_" + c[2:] in found)
    right = tuple(canon.index("r_" + canon[k][2:]) for k in left)
    return Skeleton(f"bvh-{mapping}", names, tuple(parents), tuple(canon), left, right), index


_BANDAI_NAME = re.compile(r"^(dataset-\d+)_(.+)_([^_]+)_(\d+)$")


def clip_info_from_name(stem: str) -> dict:
    """Clip metadata from a file name; Bandai names ``dataset-N_{content}_{style}_{take}`` are parsed."""
    m = _BANDAI_NAME.match(stem)
    if m:
        return {"name": stem, "action": m.group(2), "style": m.group(3), "subject": m.group(1), "take": int(m.group(4))}
    return {"name": stem, "action": "", "style": "", "subject": ""}


def load_bvh(source: str | Path, *, units: str | float | None = None, fps: float | None = None,
             layout: str | Skeleton | None = "h36m17", mapping: str | None = None):
    """Read one ``.bvh`` file or a folder of them (recursive, sorted) into a :class:`Motion`.

    Args:
        source: a ``.bvh`` file or a folder.
        units: file units or ``None`` to auto-detect per file (see :func:`read_bvh`).
        fps: target frame rate (every k-th frame kept); required when files differ in frame rate.
        layout: target layout (default ``h36m17``); ``None`` keeps the mapped rig joints.
        mapping: joint-name mapping (``bandai``, ``cmu``, ``3dsmax``) or ``None`` to auto-detect.

    Returns:
        :class:`energy3d.data.motion.Motion`, metres, Y-up (BVH worlds are Y-up), one clip per file;
        clip metadata from the file name (:func:`clip_info_from_name`).

    Raises:
        InputError: no files, format errors, unknown rig, or mixed frame rates without ``fps``.
    """
    src = Path(source)
    if src.is_dir():
        files = sorted(src.rglob("*.bvh"))
        if not files:
            raise InputError(f"{src}: folder holds no .bvh files")
    elif src.is_file():
        files = [src]
    else:
        raise InputError(f"{src}: BVH file or folder not found")
    parts = []
    for f in files:
        b = read_bvh(f, units=units)
        skel, index = bvh_skeleton(b, mapping)
        joints = (b.positions[:, index] * b.scale).astype(np.float32)
        rate = b.fps
        if fps is not None:
            step = fps_step(rate, float(fps), str(f))
            joints = joints[::step]
            rate = rate / step
        if layout is not None:
            dst = get_layout(layout)
            try:
                joints = convert_motion_joints(joints, skel, dst)
            except InputError as e:
                raise InputError(f"{f}: {e}") from None
            skel = dst
        parts.append(Motion(joints, skel, np.zeros(len(joints), dtype=np.int64), [clip_info_from_name(f.stem)], rate))
    if layout is None and len({p.layout for p in parts}) > 1:
        raise InputError(f"{src}: files use different rigs; pass layout= to convert them to one layout")
    return concat_motions(parts)
