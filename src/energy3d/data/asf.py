"""Acclaim ASF/AMC motion capture (the CMU and HDM05 format): parser, forward kinematics, Motion.

Written from the published format descriptions: M. Schafer, "Acclaim Skeleton File Definition
V1.10" (Acclaim, 1994/95), the University of Wisconsin CS 838 notes "Acclaim ASF/AMC" (1999), and
Vicon's "Acclaim Format - ASF line Details" (root section), all describing the same format:

* **ASF** (skeleton). Keywords start with ``:``. ``#`` starts a comment; commas and parentheses
  are whitespace.

  - ``:units`` with ``mass``, ``length`` and ``angle deg|rad``. ``length`` is a *multiplier*
    between the file's numbers and local units: the spec's example ``length 2.54`` means "data in
    cm, local units in inches", i.e. file value = inches x length. This module takes the local unit
    to be the inch (the Acclaim/Vicon convention, and what CMU documents for its files), so
    **metres per file unit = 0.0254 / length**. The CMU and HDM05 files say ``length 0.45``:
    1 unit = 1/0.45 inch = 0.056444 m (checked against the HDM05 BVH conversions, which are in
    centimetres: 5.6444 cm per unit). Note it is a division: multiplying by 0.45 would make people
    0.2x their size. ``units=`` overrides the rule.
  - ``:root`` with ``order`` (the AMC root channels, e.g. ``TX TY TZ RX RY RZ``; rotations are
    applied in the listed order about fixed axes), ``axis`` (order of the ``orientation`` angles),
    ``position`` and ``orientation`` (a preset offset, zero in CMU/HDM05 files).
  - ``:bonedata``: ``begin ... end`` blocks with ``id``, ``name``, ``direction`` (unit vector in the
    world frame of the rest pose), ``length``, ``axis a b c XYZ`` (the bone's local frame C: angles
    about x, y, z applied in the given order about fixed axes), ``dof`` (``rx ry rz``, in the order
    the AMC lists the values and the rotations are applied), ``limits`` (one ``(min max)`` per dof;
    read, not enforced).
  - ``:hierarchy``: ``begin``, lines ``parent child child ...`` (``root`` is the root), ``end``.

* **AMC** (motion): header lines (``:FULLY-SPECIFIED``, ``:DEGREES`` or ``:RADIANS``), then per
  frame its number on a line of its own followed by lines ``bone v1 v2 ...`` (the root's values in
  ``:root order``, a bone's in its ``dof`` order). The format stores no frame rate: CMU and HDM05
  capture at 120 fps, the default here.

Forward kinematics (the Acclaim convention): with ``C`` the bone's axis rotation and ``M`` its AMC
rotation (``rx ry rz`` -> ``M = Rz Ry Rx``), a bone's world rotation is
``A_b = A_parent C M C^-1`` (``A_root = C_root M_root C_root^-1``) and it ends at
``end_b = start_b + A_b (direction_b * length_b)``; a bone starts where its parent ends (root
children at the root position ``position + (TX, TY, TZ)``).

Points returned: ``root``, then one point per bone *at the bone's start*, named after the bone
(``lfemur`` is the hip, ``ltibia`` the knee, ``lhumerus`` the shoulder, as in the HDM05 BVH
conversions), then ``<bone>_End`` at the end of every leaf bone (``head_End`` is the head top).
Worlds are Y up (CMU and HDM05); no axis change is applied. Conversion to metres happens in
:func:`energy3d.data.mocap.motion_from_positions` with :attr:`ASFMotion.scale`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from energy3d.data.bvh import axis_rotation, load_folder
from energy3d.data.mocap import (
    UNIT_MEASURES, clip_info_from_name, leg_length, match_rig, motion_from_positions, parse_units,
)
from energy3d.data.motion import Motion
from energy3d.errors import InputError
from energy3d.skeleton.layouts import Skeleton

__all__ = ["AMC_FPS", "ASFMotion", "ASFSkeleton", "amc_forward_kinematics", "find_asf", "load_amc", "parse_amc",
           "parse_asf", "read_amc", "read_asf"]

AMC_FPS = 120.0
"""Frame rate assumed for AMC files (the format stores none; CMU and HDM05 capture at 120 fps)."""

_AXES = {"x": 0, "y": 1, "z": 2}
_ROOT_CHANNELS = ("tx", "ty", "tz", "rx", "ry", "rz")
_BONE_KEYS = {"id", "name", "direction", "length", "axis", "dof", "limits", "bodymass", "cofmass", "begin", "end"}


@dataclass
class ASFSkeleton:
    """A parsed ASF file.

    Attributes:
        name: the ``:name`` value.
        bones: ``B`` bone names, parents before children (hierarchy order).
        parents: ``(B,)`` int index into ``bones`` of each bone's parent, ``-1`` for root children.
        directions: ``(B, 3)`` unit directions in the rest-pose world frame.
        lengths: ``(B,)`` bone lengths in file units.
        axes: ``(B, 3, 3)`` rotation ``C`` of each bone's local frame.
        dofs: per bone, its rotation channels (``("rx", "ry", "rz")``, ``()`` for fixed bones).
        root_order: AMC root channels in order (lower case, e.g. ``("tx", "ty", "tz", "rx", "ry", "rz")``).
        root_position: ``(3,)`` preset root offset (file units).
        root_axis: ``(3, 3)`` preset root orientation ``C_root``.
        length: the ``:units length`` multiplier (1.0 when absent).
        angle: ``"deg"`` or ``"rad"``: unit of the ASF angles and, unless the AMC says otherwise, of the AMC.
        path: the file read (``""`` for text).
    """

    name: str
    bones: list
    parents: np.ndarray
    directions: np.ndarray
    lengths: np.ndarray
    axes: np.ndarray
    dofs: list
    root_order: tuple
    root_position: np.ndarray
    root_axis: np.ndarray
    length: float = 1.0
    angle: str = "deg"
    path: str = ""

    @property
    def scale(self) -> float:
        """Metres per file unit: ``0.0254 / length`` (local units are inches, see module docstring)."""
        return 0.0254 / self.length

    def point_names(self) -> list[str]:
        """Names of the FK points: ``root``, the bones (at their starts), ``<leaf>_End``."""
        return ["root", *self.bones, *(f"{self.bones[b]}_End" for b in self.leaves())]

    def point_parents(self) -> np.ndarray:
        """``(P,)`` parent index of every FK point (``-1`` for ``root``)."""
        par = [-1] + [int(p) + 1 if p >= 0 else 0 for p in self.parents] + [b + 1 for b in self.leaves()]
        return np.array(par, dtype=np.int64)

    def leaves(self) -> list[int]:
        """Indices of bones without children."""
        has_child = set(int(p) for p in self.parents if p >= 0)
        return [b for b in range(len(self.bones)) if b not in has_child]


@dataclass
class ASFMotion:
    """An AMC clip with forward kinematics applied.

    Attributes:
        names: ``P`` point names (see :meth:`ASFSkeleton.point_names`).
        parents: ``(P,)`` parent indices.
        positions: ``(T, P, 3)`` float64 world positions in file units, Y up.
        rest: ``(P, 3)`` rest-pose positions (all AMC values zero), file units.
        units: unit name (``"asf"`` for the ``0.0254 / length`` rule, else as given).
        scale: metres per file unit.
        fps: frame rate.
        skeleton: the ASF.
        path: the AMC file.
        notes: what was assumed.
    """

    names: list
    parents: np.ndarray
    positions: np.ndarray
    rest: np.ndarray
    units: str
    scale: float
    fps: float
    skeleton: ASFSkeleton
    path: str = ""
    notes: list = field(default_factory=list)

    def positions_m(self) -> np.ndarray:
        """``(T, P, 3)`` float32 world positions in metres (Y up)."""
        return (self.positions * self.scale).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# Parsing


def _clean_lines(text: str):
    """``(line_no, tokens)`` per non-empty line, comments removed, commas/parentheses as spaces."""
    out = []
    for ln, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].replace(",", " ").replace("(", " ").replace(")", " ")
        toks = line.split()
        if toks:
            out.append((ln, toks))
    return out


def _num(tok, source, ln, what):
    try:
        v = float(tok)
    except ValueError:
        raise InputError(f"{source} line {ln}: {what}: expected a number, got {tok!r}") from None
    return v


def _euler(angles, order: str, angle_unit: str) -> np.ndarray:
    """Rotation applying ``angles[k]`` about axis ``order[k]`` in turn, about fixed axes:
    ``R = R_{order[-1]} ... R_{order[0]}``. ``angles`` ``(..., n)``; returns ``(..., 3, 3)``."""
    a = np.asarray(angles, dtype=np.float64)
    if angle_unit == "rad":
        a = np.rad2deg(a)
    R = np.broadcast_to(np.eye(3), a.shape[:-1] + (3, 3)).copy()
    for k, ax in enumerate(order):
        R = axis_rotation(_AXES[ax.lower()], a[..., k]) @ R
    return R


def parse_asf(text: str, *, source: str = "<asf text>") -> ASFSkeleton:
    """Parse ASF text (see the module docstring for the format).

    Args:
        text: the whole file.
        source: name for messages.

    Returns:
        :class:`ASFSkeleton` with bones in hierarchy order (parents first).

    Raises:
        InputError: empty file, missing ``:bonedata``/``:hierarchy``, a bone without ``name``,
            ``direction``, ``length`` or ``axis``, unsupported dofs, malformed numbers, a hierarchy
            naming unknown bones or leaving bones out, duplicate names.
    """
    lines = _clean_lines(text)
    if not lines:
        raise InputError(f"{source}: empty ASF file (expected :units, :root, :bonedata and :hierarchy)")
    sections: dict[str, list] = {}
    current = None
    for ln, toks in lines:
        if toks[0].startswith(":"):
            current = toks[0][1:].lower()
            sections.setdefault(current, [])
            if len(toks) > 1:
                sections[current].append((ln, toks[1:]))
        elif current is not None:
            sections[current].append((ln, toks))
        else:
            raise InputError(f"{source} line {ln}: text before the first ':keyword' ({toks[0]!r})")
    for need in ("bonedata", "hierarchy"):
        if need not in sections:
            raise InputError(f"{source}: not an ASF skeleton: no :{need} section")

    length, angle = 1.0, "deg"
    for ln, toks in sections.get("units", []):
        key = toks[0].lower()
        if key == "length" and len(toks) >= 2:
            length = _num(toks[1], source, ln, ":units length")
            if not (np.isfinite(length) and length > 0):
                raise InputError(f"{source} line {ln}: :units length must be a positive number, got {toks[1]!r}")
        elif key == "angle" and len(toks) >= 2:
            angle = toks[1].lower()
            if angle not in ("deg", "rad"):
                raise InputError(f"{source} line {ln}: :units angle must be 'deg' or 'rad', got {toks[1]!r}")

    root_order = ("tx", "ty", "tz", "rx", "ry", "rz")
    root_axis_order, root_pos, root_ori = "xyz", np.zeros(3), np.zeros(3)
    for ln, toks in sections.get("root", []):
        key = toks[0].lower()
        if key == "order":
            root_order = tuple(t.lower() for t in toks[1:])
            bad = [t for t in root_order if t not in _ROOT_CHANNELS]
            if bad or len(set(root_order)) != len(root_order):
                raise InputError(f"{source} line {ln}: :root order must list distinct channels among "
                                 f"TX TY TZ RX RY RZ, got {' '.join(toks[1:])}")
        elif key == "axis":
            root_axis_order = _axis_order(toks[1] if len(toks) > 1 else "", source, ln)
        elif key in ("position", "orientation"):
            if len(toks) != 4:
                raise InputError(f"{source} line {ln}: :root {key} needs 3 numbers, got {len(toks) - 1}")
            v = np.array([_num(t, source, ln, f":root {key}") for t in toks[1:]])
            if key == "position":
                root_pos = v
            else:
                root_ori = v

    bones = _parse_bonedata(sections["bonedata"], angle, source)
    order, parents = _parse_hierarchy(sections["hierarchy"], [b["name"] for b in bones], source)
    bones = [bones[i] for i in order]
    return ASFSkeleton(
        name=" ".join(t for _, toks in sections.get("name", []) for t in toks),
        bones=[b["name"] for b in bones],
        parents=np.array(parents, dtype=np.int64),
        directions=np.array([b["direction"] for b in bones], dtype=np.float64).reshape(-1, 3),
        lengths=np.array([b["length"] for b in bones], dtype=np.float64),
        axes=np.array([b["axis"] for b in bones], dtype=np.float64).reshape(-1, 3, 3),
        dofs=[b["dof"] for b in bones],
        root_order=root_order,
        root_position=root_pos,
        root_axis=_euler([root_ori[_AXES[c]] for c in root_axis_order], root_axis_order, angle),
        length=float(length),
        angle=angle,
        path=source,
    )


def _axis_order(tok: str, source, ln) -> str:
    order = tok.lower()
    if sorted(order) != ["x", "y", "z"]:
        raise InputError(f"{source} line {ln}: axis order must be a permutation of XYZ, got {tok!r}")
    return order


def _parse_bonedata(rows, angle, source):
    bones, block, start = [], None, None
    for ln, toks in rows:
        if toks[0].lower() == "begin":
            if block is not None:
                raise InputError(f"{source} line {ln}: 'begin' inside the bone block opened at line {start}")
            block, start = [], ln
            continue
        if toks[0].lower() == "end":
            if block is None:
                raise InputError(f"{source} line {ln}: 'end' without 'begin' in :bonedata")
            bones.append(_parse_bone(block, start, angle, source))
            block = None
            continue
        if block is None:
            raise InputError(f"{source} line {ln}: {toks[0]!r} outside a begin/end bone block")
        block.extend((ln, t) for t in toks)
    if block is not None:
        raise InputError(f"{source} line {start}: bone block without 'end'")
    if not bones:
        raise InputError(f"{source}: :bonedata holds no bones")
    names = [b["name"] for b in bones]
    dup = sorted({n for n in names if names.count(n) > 1} | ({"root"} & set(names)))
    if dup:
        raise InputError(f"{source}: duplicate bone names in :bonedata: {', '.join(dup)}")
    return bones


def _parse_bone(toks, start, angle, source):
    bone = {"dof": ()}
    i = 0

    def take(n, what):
        nonlocal i
        if i + n > len(toks):
            raise InputError(f"{source} line {toks[-1][0]}: bone block of line {start}: {what} needs {n} value(s)")
        out = toks[i:i + n]
        i += n
        return out

    while i < len(toks):
        ln, key = toks[i]
        i += 1
        k = key.lower()
        if k == "name":
            bone["name"] = take(1, "name")[0][1]
        elif k == "id":
            take(1, "id")
        elif k == "direction":
            bone["direction"] = [_num(t, source, l, "direction") for l, t in take(3, "direction")]
        elif k == "length":
            (l, t), = take(1, "length")
            bone["length"] = _num(t, source, l, "length")
        elif k == "axis":
            vals = take(4, "axis (3 angles and an order such as XYZ)")
            order = _axis_order(vals[3][1], source, vals[3][0])
            ang = [_num(t, source, l, "axis") for l, t in vals[:3]]
            bone["axis"] = _euler([ang[_AXES[c]] for c in order], order, angle)
        elif k == "dof":
            dof = []
            while i < len(toks) and toks[i][1].lower() not in _BONE_KEYS:
                dof.append(toks[i][1].lower())
                i += 1
            bad = [d for d in dof if d not in ("rx", "ry", "rz")]
            if bad:
                raise InputError(f"{source} line {ln}: dof {bad[0]!r} is not supported (rotation dofs rx ry rz only; "
                                 "bone translations and length changes are not read)")
            if len(set(dof)) != len(dof):
                raise InputError(f"{source} line {ln}: repeated dof in {' '.join(dof)}")
            bone["dof"] = tuple(dof)
        elif k == "limits":
            n = 2 * len(bone["dof"])
            for l, t in take(n, f"limits for {len(bone['dof'])} dof"):
                _num(t, source, l, "limits")  # inf/-inf are numbers
        elif k in ("bodymass", "cofmass"):
            take(1, k)
        else:
            raise InputError(f"{source} line {ln}: unknown bone keyword {key!r} (expected id, name, direction, "
                             "length, axis, dof, limits)")
    missing = [k for k in ("name", "direction", "length", "axis") if k not in bone]
    if missing:
        raise InputError(f"{source} line {start}: bone block lacks {', '.join(missing)}")
    d = np.array(bone["direction"], dtype=np.float64)
    n = float(np.linalg.norm(d))
    if not np.isfinite(bone["length"]) or bone["length"] < 0 or not np.all(np.isfinite(d)):
        raise InputError(f"{source} line {start}: bone {bone['name']!r}: non-finite direction or negative length")
    if n == 0 and bone["length"] > 0:
        raise InputError(f"{source} line {start}: bone {bone['name']!r} has a zero direction vector")
    bone["direction"] = d / n if n > 0 else d
    return bone


def _parse_hierarchy(rows, names, source):
    index = {n: i for i, n in enumerate(names)}
    children: dict[str, list] = {}
    parent_of = {}
    for ln, toks in rows:
        if toks[0].lower() in ("begin", "end"):
            continue
        par = toks[0]
        if par != "root" and par not in index:
            raise InputError(f"{source} line {ln}: :hierarchy names unknown bone {par!r}")
        for c in toks[1:]:
            if c not in index:
                raise InputError(f"{source} line {ln}: :hierarchy names unknown bone {c!r}")
            if c in parent_of:
                raise InputError(f"{source} line {ln}: bone {c!r} has two parents in :hierarchy")
            parent_of[c] = par
            children.setdefault(par, []).append(c)
    order, parents, pos = [], [], {}
    queue = ["root"]
    while queue:
        par = queue.pop(0)
        for c in children.get(par, []):
            pos[c] = len(order)
            order.append(index[c])
            parents.append(-1 if par == "root" else pos[par])
            queue.append(c)
    lost = [n for n in names if n not in pos]
    if lost:
        raise InputError(f"{source}: bone(s) not reachable from root in :hierarchy: {', '.join(lost)}")
    return order, parents


def parse_amc(text: str, skel: ASFSkeleton, *, source: str = "<amc text>") -> dict:
    """Parse AMC text for a skeleton.

    Args:
        text: the whole file.
        skel: its :class:`ASFSkeleton`.
        source: name for messages.

    Returns:
        dict: ``"root"`` -> ``(T, len(root_order))`` and every bone with dofs -> ``(T, n_dof)``,
        float64 (angles in degrees, translations in file units).

    Raises:
        InputError: no frames, a bone unknown to the ASF, a wrong number of values, non-numeric or
            non-finite values, frames that skip or repeat numbers, a frame missing or repeating a bone.
    """
    dof_of = {"root": skel.root_order, **{b: d for b, d in zip(skel.bones, skel.dofs)}}
    animated = [b for b, d in dof_of.items() if d]
    angle = skel.angle
    frames: list[dict] = []
    numbers = []
    cur = None
    for ln, line in enumerate(text.splitlines(), start=1):
        toks = line.split("#", 1)[0].split()
        if not toks:
            continue
        if toks[0].startswith(":"):
            key = toks[0].upper()
            if key == ":DEGREES":
                angle = "deg"
            elif key == ":RADIANS":
                angle = "rad"
            continue
        if len(toks) == 1 and re.fullmatch(r"\d+", toks[0]):
            if cur is not None:
                _check_frame(cur, animated, numbers[-1], source)
            n = int(toks[0])
            if numbers and n != numbers[-1] + 1:
                raise InputError(f"{source} line {ln}: frame {n} follows frame {numbers[-1]} (frames must count up by 1)")
            numbers.append(n)
            cur = {"_line": ln}
            frames.append(cur)
            continue
        if cur is None:
            raise InputError(f"{source} line {ln}: {toks[0]!r} before the first frame number")
        bone = toks[0]
        if bone not in dof_of:
            raise InputError(f"{source} line {ln}: bone {bone!r} is not in the ASF skeleton {skel.path or ''}".rstrip())
        want = len(dof_of[bone])
        if len(toks) - 1 != want:
            raise InputError(f"{source} line {ln}: bone {bone!r} has {len(toks) - 1} values, expected {want} "
                             f"({' '.join(dof_of[bone]) or 'no dof'})")
        if bone in cur:
            raise InputError(f"{source} line {ln}: bone {bone!r} appears twice in frame {numbers[-1]}")
        vals = []
        for t in toks[1:]:
            try:
                vals.append(float(t))
            except ValueError:
                raise InputError(f"{source} line {ln}: non-numeric value {t!r}") from None
        if not np.all(np.isfinite(vals)):
            raise InputError(f"{source} line {ln}: non-finite value (NaN or inf) for bone {bone!r}")
        cur[bone] = vals
    if cur is None:
        raise InputError(f"{source}: AMC file holds no frames (expected a frame number, then 'bone values...' lines)")
    _check_frame(cur, animated, numbers[-1], source)
    out = {}
    for b in animated:
        v = np.array([f.get(b, [0.0] * len(dof_of[b])) for f in frames], dtype=np.float64).reshape(len(frames), -1)
        if angle == "rad":  # rotations to degrees; translations unchanged
            rot = [k for k, d in enumerate(dof_of[b]) if d.startswith("r")]
            v[:, rot] = np.rad2deg(v[:, rot])
        out[b] = v
    return out


def _check_frame(frame, animated, number, source):
    missing = [b for b in animated if b not in frame and b != "root"]
    if "root" not in frame:
        missing.insert(0, "root")
    if missing:
        raise InputError(f"{source} line {frame['_line']}: frame {number} lacks bone(s) {', '.join(missing[:6])}"
                         + (" ..." if len(missing) > 6 else "") + " (every frame lists every bone with dofs)")


# ----------------------------------------------------------------------------------------------
# Kinematics


def amc_forward_kinematics(skel: ASFSkeleton, values: dict, frames: int | None = None) -> np.ndarray:
    """World positions of the FK points (see :meth:`ASFSkeleton.point_names`).

    Args:
        skel: the skeleton.
        values: :func:`parse_amc` output; an empty dict gives the rest pose.
        frames: number of frames when ``values`` is empty (default 1).

    Returns:
        ``(T, P, 3)`` float64 positions in file units (Y up as in the file).
    """
    T = len(values["root"]) if "root" in values else (frames or 1)
    root_vals = values.get("root", np.zeros((T, len(skel.root_order))))
    trans = np.broadcast_to(skel.root_position, (T, 3)).copy()
    rot_ch = []
    for k, ch in enumerate(skel.root_order):
        if ch.startswith("t"):
            trans[:, _AXES[ch[1]]] += root_vals[:, k]
        else:
            rot_ch.append((k, ch[1]))
    M = _euler(root_vals[:, [k for k, _ in rot_ch]], "".join(a for _, a in rot_ch), "deg") if rot_ch \
        else np.broadcast_to(np.eye(3), (T, 3, 3))
    C = skel.root_axis
    A_root = C @ M @ C.T
    B = len(skel.bones)
    A = np.zeros((T, B, 3, 3))
    start = np.zeros((T, B, 3))
    end = np.zeros((T, B, 3))
    for b in range(B):
        p = int(skel.parents[b])
        A_par, s = (A_root, trans) if p < 0 else (A[:, p], end[:, p])
        C = skel.axes[b]
        if skel.dofs[b] and skel.bones[b] in values:
            Mb = _euler(values[skel.bones[b]], "".join(d[1] for d in skel.dofs[b]), "deg")
            A[:, b] = A_par @ (C @ Mb @ C.T)
        else:
            A[:, b] = A_par
        start[:, b] = s
        end[:, b] = s + A[:, b] @ (skel.directions[b] * skel.lengths[b])
    leaves = skel.leaves()
    return np.concatenate([trans[:, None], start, end[:, leaves]], axis=1)


# ----------------------------------------------------------------------------------------------
# Files


def read_asf(path: str | Path) -> ASFSkeleton:
    """Read an ``.asf`` skeleton file (see :func:`parse_asf`)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: ASF skeleton file not found")
    try:
        text = p.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise InputError(f"{p}: cannot read ASF file ({e})") from None
    return parse_asf(text, source=str(p))


def find_asf(amc: str | Path) -> Path:
    """The ASF beside an AMC file: in the same folder, the ``.asf`` whose name is the AMC's name or
    a prefix of it followed by ``_`` (longest wins): ``HDM_mm.asf`` for ``HDM_mm_kick_001_120.amc``,
    CMU ``13.asf`` for ``13_07.amc``.

    Raises:
        InputError: no such ASF (pass ``asf=`` instead).
    """
    amc = Path(amc)
    stem = amc.stem
    cands = [a for a in amc.parent.glob("*.asf") if stem == a.stem or stem.startswith(a.stem + "_")]
    if not cands:
        raise InputError(
            f"{amc}: no ASF skeleton beside it (looked for {amc.parent}/<prefix>.asf with <prefix> = the AMC name "
            "up to an '_', e.g. HDM_mm.asf for HDM_mm_..., 13.asf for 13_07.amc); pass asf=PATH (--asf)")
    return max(cands, key=lambda a: len(a.stem))


def read_amc(path: str | Path, asf: str | Path | ASFSkeleton | None = None, *, units=None,
             amc_fps: float | None = None, mapping: str | None = None, joint_map=None) -> ASFMotion:
    """Read an ``.amc`` clip with its skeleton and apply forward kinematics.

    Args:
        path: the ``.amc`` file.
        asf: its skeleton (path or parsed); ``None`` finds it beside the AMC (:func:`find_asf`).
        units: ``None`` for the ASF rule (metres per unit = ``0.0254 / :units length``), or a unit
            name / metres per unit (number or numeric string) overriding it.
        amc_fps: the clip's frame rate; ``None`` assumes :data:`AMC_FPS` (120) and says so in ``notes``.
        mapping, joint_map: rig or joint map used to check the size (see :func:`energy3d.data.mocap.match_rig`).

    Returns:
        :class:`ASFMotion`; ``notes`` flags a leg length outside the adult range and an assumed frame rate.

    Raises:
        InputError: missing files or any format error.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: AMC file not found")
    skel = asf if isinstance(asf, ASFSkeleton) else read_asf(asf if asf is not None else find_asf(p))
    try:
        text = p.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise InputError(f"{p}: cannot read AMC file ({e})") from None
    values = parse_amc(text, skel, source=str(p))
    positions = amc_forward_kinematics(skel, values)
    if not np.all(np.isfinite(positions)):
        raise InputError(f"{p}: forward kinematics gives non-finite positions")
    rest = amc_forward_kinematics(skel, {})[0]
    names = skel.point_names()
    notes = []
    if units is None:
        unit_name, scale = "asf", skel.scale
        try:
            leg = leg_length(rest, match_rig(names, rig=mapping, joint_map=joint_map, rest=rest, source=str(p)))
        except InputError:
            leg = None
        what, _, sure, _ = UNIT_MEASURES["leg"]
        if leg is not None and not (sure[0] <= leg * scale <= sure[1]):
            notes.append(f"{p}: ASF units read as {scale:g} m per unit (0.0254 / length {skel.length:g}) give a "
                         f"{what} of {leg * scale:.2f} m, outside the adult {sure[0]:g}-{sure[1]:g} m; pass units= if wrong")
    else:
        unit_name, scale = parse_units(units, source=str(p))
    if amc_fps is None:
        fps = AMC_FPS
        notes.append(f"AMC frame rate assumed {AMC_FPS:g} fps (the format stores none; CMU and HDM05 capture at "
                     f"{AMC_FPS:g}); pass amc_fps= otherwise")
    else:
        fps = float(amc_fps)
        if not np.isfinite(fps) or fps <= 0:
            raise InputError(f"{p}: amc_fps must be a positive frame rate, got {amc_fps!r}")
    return ASFMotion(names, skel.point_parents(), positions, rest, unit_name, scale, fps, skel, str(p), notes)


def _load_amc_file(f: Path, asf, units, fps, layout, mapping, joint_map, amc_fps) -> Motion:
    a = read_amc(f, asf, units=units, amc_fps=amc_fps, mapping=mapping, joint_map=joint_map)
    match = match_rig(a.names, rig=mapping, joint_map=joint_map, rest=a.rest, source=str(f))
    return motion_from_positions(a.positions, a.scale, match, fps=a.fps, target_fps=fps, layout=layout,
                                 clip=clip_info_from_name(f.stem), notes=a.notes, source=str(f))


def load_amc(source: str | Path, *, asf: str | Path | None = None, units=None, fps: float | None = None,
             layout: str | Skeleton | None = "h36m17", mapping: str | None = None, joint_map=None,
             amc_fps: float | None = None) -> Motion:
    """Read one ``.amc`` file or a folder of them (recursive, sorted) into a :class:`Motion`.

    Args:
        source: an ``.amc`` file or a folder.
        asf: the ASF skeleton for every clip; ``None`` finds each clip's ASF beside it (:func:`find_asf`).
        units: ``None`` (ASF rule) or a unit override, see :func:`read_amc`.
        fps: target frame rate (every k-th frame kept), e.g. 30 for 120 fps AMC.
        layout: target layout (default ``h36m17``); ``None`` keeps the mapped joints.
        mapping: rig name (default: recognised; CMU/HDM05 files are the ``asf`` rig).
        joint_map: a user joint map for other bone names.
        amc_fps: frame rate of the AMC files (default 120, noted).

    Returns:
        :class:`Motion` (metres, Y up), one clip per file, clip info from the file name; unreadable
        files of a folder are listed in ``skipped``.

    Raises:
        InputError: a single unreadable file (e.g. no ASF beside it), a folder with no ``.amc`` file
            or none readable.
    """
    src = Path(source)

    def one(f):
        return _load_amc_file(f, asf, units, fps, layout, mapping, joint_map, amc_fps)

    if src.is_file():
        return one(src)
    if not src.is_dir():
        raise InputError(f"{src}: AMC file or folder not found")
    files = sorted(src.rglob("*.amc"))
    if not files:
        raise InputError(f"{src}: folder holds no .amc files")
    return load_folder(src, files, one, layout)
