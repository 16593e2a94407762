"""What the motion-capture readers share: rigs recognised by joint name, user joint maps, units, clip names.

:mod:`energy3d.data.bvh` and :mod:`energy3d.data.asf` both end with world joint positions of a
named skeleton in file units. This module turns those into a :class:`~energy3d.data.motion.Motion`
(metres, Y up, one layout): it finds which joints are the ``h36m17`` ones (a built-in *rig* or a
user *joint map*), works out the units, and parses clip metadata from file names.

Rigs (tried in this order; the first whose every needed joint is present wins; names are matched
after dropping a ``namespace:`` prefix such as ``mixamorig:``). "Spine at 50 %" means the joint's
distance from the hip midpoint, along the hip-midpoint -> thorax axis, averaged over a real clip,
is 50 % of the hip-midpoint -> thorax distance (h36m17's Spine sits at about 48 %: 0.23 m of the
0.49 m from pelvis to thorax in the Human3.6M skeleton).

============  =========================================================================================
rig           where the h36m17 joints sit
============  =========================================================================================
``bandai``    Bandai Namco rig, through the ``bandai21`` layout: Hip = ``Hips`` (2 cm above the hip
              midpoint), hips/knees/ankles = ``UpperLeg/LowerLeg/Foot_L/R``, Spine = ``Chest``
              (62 %), Thorax = ``Neck``, Neck/Nose = ``Head`` (skull base), shoulders/elbows/wrists
              = ``UpperArm/LowerArm/Hand_L/R``; no head top (extrapolated).
``cmu``       CMU conversions with MotionBuilder names (cgspeed "MotionBuilder-friendly": ``LHipJoint``,
              ``LowerBack``, ``Spine``, ``Spine1``, ``Neck``, ``Neck1``, ``Head``): the ASF skeleton
              under other names, so the ``asf`` choices apply: Hip = midpoint of ``LeftUpLeg`` and
              ``RightUpLeg``, knees ``LeftLeg``, ankles ``LeftFoot``, Spine = ``Spine`` (start of the
              ASF upperback bone, 50 % on CMU subject 131), Thorax = ``Neck1`` (start of the upper neck
              bone: ``Neck`` sits at offset 0 from ``Spine1``, 8 cm below the shoulders), Neck/Nose =
              ``Head`` (skull base), Head = End Site of ``Head`` (head top), shoulders ``LeftArm``,
              elbows ``LeftForeArm``, wrists ``LeftHand``.
``mixamo``    Mixamo and other MotionBuilder/HumanIK names without ``Neck1`` (``Hips``, ``Spine``,
              ``Spine1``, ``Spine2``, ``Neck``, ``Head``, ``HeadTop_End``): Hip = hip midpoint, Spine =
              ``Spine1`` (44 % on a Mixamo rig's offsets: 20 of 46 cm), Thorax = ``Neck`` (the neck
              base), Neck/Nose = ``Head``, Head = ``HeadTop_End`` (or the End Site of ``Head``), limbs
              as ``cmu``. Not measured on motion data (none in the data folder).
``3dsmax``    CMU conversions with 3ds Max names (cgspeed "3dsMax-friendly") and Biovision-style rigs
              (``LeftHip``, ``LeftKnee``, ``LeftAnkle``, ``Chest``, ``Chest2``, ``Neck``, ``Head``,
              ``LeftShoulder``, ``LeftElbow``, ``LeftWrist``): Hip = hip midpoint, Spine = ``Chest``
              (50 % on subject 131), Thorax = ``Neck`` (start of the upper neck bone, level with the
              shoulders; ``lowerneck``/``Chest2`` sit 8 cm below them), Neck/Nose = ``Head``, Head =
              End Site of ``Head``.
``daz``       DAZ/Poser names (``hip``, ``abdomen``, ``chest``, ``neck``, ``head``, ``lThigh``,
              ``lShin``, ``lFoot``, ``lShldr``, ``lForeArm``, ``lHand``; Genesis ``...Bend`` and
              ``...Lower`` variants accepted): Hip = midpoint of ``lThigh``/``rThigh`` (``hip`` is
              3 cm lower), Spine = ``chest`` (57 %; ``abdomen`` is at 35 %), Thorax = ``neck`` (4 cm
              above the shoulders, as in Bandai), Neck/Nose = ``head``; no head top (extrapolated).
``asf``       CMU/HDM05 ASF bone names (HDM05 BVH conversions, :mod:`energy3d.data.asf`). A joint is
              named after the bone that *starts* there: Hip = midpoint of ``lfemur``/``rfemur`` (the
              ASF ``root`` is at the lower back, 10 cm from the hip midpoint), knees ``ltibia``,
              ankles ``lfoot``, Spine = ``thorax`` (57 % on HDM05 mm; ``upperback`` 31 %), Thorax =
              ``upperneck`` (3 cm above the shoulders; ``lowerneck``, where the clavicles start, is
              5 cm below them), Neck/Nose = ``head`` (skull base), Head = ``head`` End Site (head top),
              shoulders ``lhumerus``, elbows ``lradius``, wrists ``lwrist``.
``cc``        Character Creator / iClone (``CC_Base_`` names): Hip = midpoint of ``CC_Base_L_Thigh``/
              ``CC_Base_R_Thigh``, knees ``CC_Base_L_Calf``, ankles ``CC_Base_L_Foot``, Spine =
              ``CC_Base_Spine01`` (the counterpart of Mixamo ``Spine1``), Thorax =
              ``CC_Base_NeckTwist01``, Neck/Nose = ``CC_Base_Head``, shoulders ``CC_Base_L_Upperarm``,
              elbows ``CC_Base_L_Forearm``, wrists ``CC_Base_L_Hand``; no head top (extrapolated).
              Not measured on motion data.
============  =========================================================================================

Every rig but ``bandai`` puts ``Hip`` at the midpoint of the two hip joints, as the Human3.6M
skeleton does (its hips are offset sideways only from its pelvis). A head top is used only where
the rig has a non-zero one; otherwise :func:`energy3d.skeleton.layouts.convert` extrapolates it and
the Motion's notes say so.

Any other rig: a *joint map* ``{h36m17_or_canonical_name: "file joint name"}`` (a dict or a JSON
file), see :func:`read_joint_map`.

Units (:func:`guess_units`): among ``m``, ``cm``, ``mm``, ``inch`` and ``cmu`` (the CMU/ASF unit,
1/0.45 inch = 0.056444 m), the one that makes the skeleton most adult-sized. With a recognised rig
the measure is the leg length (hip -> knee -> ankle in the rest pose, both sides averaged): target
0.80 m, sure inside 0.60-1.10 m. Without one it is the skeleton span (longest bone path between two
joints, toe to fingertip): target 1.9 m, sure inside 1.4-2.6 m. Neighbouring units differ by at
least 2.2x and both sure ranges span less than that, so at most one unit can be sure. A best unit
outside its sure range but inside 0.35-1.5 m (leg) / 1.0-3.0 m (span) is used with a note saying so;
outside those, an :class:`InputError` asks for ``units=``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from energy3d.data.motion import Motion, convert_motion_joints, fps_step
from energy3d.errors import InputError
from energy3d.skeleton.layouts import BANDAI21, H36M17, HEAD_TOP_LENGTH_M, Skeleton, get_layout

__all__ = [
    "CMU_UNIT_M", "UNIT_MEASURES", "UNIT_SCALES", "RIGS", "Rig", "RigMatch", "UnitGuess", "clip_info_from_name", "guess_units",
    "leg_length", "match_rig", "motion_from_positions", "parse_units", "read_joint_map", "strip_namespace",
]

CMU_UNIT_M = 0.0254 / 0.45
"""Metres per CMU/HDM05 ASF length unit: ``:units length 0.45`` means 0.45 file units per inch."""

UNIT_SCALES = {"m": 1.0, "cm": 0.01, "mm": 0.001, "inch": 0.0254, "cmu": CMU_UNIT_M}
"""Metres per file unit of each unit name ``units=`` accepts (a number is metres per unit)."""

# measure -> (what, target metres, sure range, plausible range); see the module docstring
UNIT_MEASURES = {
    "leg": ("leg length (hip-knee-ankle)", 0.80, (0.60, 1.10), (0.35, 1.50)),
    "span": ("skeleton span (longest bone path)", 1.9, (1.4, 2.6), (1.0, 3.0)),
}


# ----------------------------------------------------------------------------------------------
# Units


@dataclass(frozen=True)
class UnitGuess:
    """Result of :func:`guess_units`.

    Attributes:
        unit: unit name (a key of :data:`UNIT_SCALES`).
        scale: metres per file unit.
        metres: the measure converted with ``scale``.
        sure: True when ``metres`` lies in the measure's adult range (no other unit can).
        note: ``""`` when sure, else one sentence saying what was assumed and the alternatives.
    """

    unit: str
    scale: float
    metres: float
    sure: bool
    note: str = ""


def guess_units(size: float, measure: str = "span", *, source: str = "motion") -> UnitGuess:
    """Guess the length unit of a skeleton from its size in file units.

    Args:
        size: the measure in file units: a leg length (``measure="leg"``, see :func:`leg_length`) or
            a skeleton span (``measure="span"``, see :func:`energy3d.data.bvh.skeleton_span`).
        measure: ``"leg"`` or ``"span"`` (targets and ranges in the module docstring).
        source: file name for messages.

    Returns:
        :class:`UnitGuess`; ``note`` is set when the best unit gives a size outside the adult range.

    Raises:
        InputError: no unit gives a plausible human size (the message asks for ``units=``).

    Example:
        >>> guess_units(14.2, "leg").unit   # CMU subject 131 in cgspeed units: 0.80 m
        'cmu'
        >>> guess_units(80.0, "leg").unit
        'cm'
    """
    what, target, sure, plausible = UNIT_MEASURES[measure]
    if not np.isfinite(size) or size <= 0:
        raise InputError(f"{source}: cannot detect units of a skeleton with zero size; pass units=")
    best = min(UNIT_SCALES, key=lambda u: abs(np.log(size * UNIT_SCALES[u] / target)))
    metres = size * UNIT_SCALES[best]
    readings = ", ".join(f"{u} {size * s:.3g} m" for u, s in UNIT_SCALES.items())
    if not (plausible[0] <= metres <= plausible[1]):
        raise InputError(
            f"{source}: cannot detect units: {what} {size:g} file units is no human size in any known unit "
            f"({readings}; expected {plausible[0]:g}-{plausible[1]:g} m); pass units= ('m', 'cm', 'mm', 'inch', "
            f"'cmu' or metres per file unit)")
    if sure[0] <= metres <= sure[1]:
        return UnitGuess(best, UNIT_SCALES[best], float(metres), True)
    note = (f"{source}: units assumed {best!r} ({UNIT_SCALES[best]:g} m per unit): {what} {size:g} units = "
            f"{metres:.2f} m, outside the adult {sure[0]:g}-{sure[1]:g} m (other readings: {readings}); "
            f"pass units= if this is wrong")
    return UnitGuess(best, UNIT_SCALES[best], float(metres), False, note)


def parse_units(units, *, source: str = "motion") -> tuple[str, float]:
    """An explicit ``units=`` value as ``(name, metres per file unit)``.

    Args:
        units: a unit name (``"m"``, ``"cm"``, ``"mm"``, ``"inch"``, ``"cmu"``), a positive number of
            metres per file unit, or such a number as a string (``"0.056444"``, as the CLI passes it).
        source: file name for messages.

    Returns:
        ``(name, scale)``; ``name`` is ``"custom"`` for numbers.

    Raises:
        InputError: unknown name, non-positive or non-finite number.
    """
    if isinstance(units, str):
        text = units.strip()
        if text in UNIT_SCALES:
            return text, UNIT_SCALES[text]
        try:
            value = float(text)
        except ValueError:
            raise InputError(
                f"{source}: unknown units {units!r}; expected one of {', '.join(UNIT_SCALES)} or a number "
                f"(metres per file unit, e.g. 0.056444)") from None
    else:
        try:
            value = float(units)
        except (TypeError, ValueError):
            raise InputError(f"{source}: units must be a unit name or metres per file unit, got {units!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise InputError(f"{source}: units must be a positive number of metres per file unit, got {units!r}")
    return "custom", value


# ----------------------------------------------------------------------------------------------
# Rigs


def strip_namespace(name: str) -> str:
    """Joint name without a ``namespace:`` prefix (``"mixamorig:Hips"`` -> ``"Hips"``)."""
    return name.rsplit(":", 1)[-1]


@dataclass(frozen=True)
class Rig:
    """A joint-naming convention: which file joints are the ``h36m17`` joints.

    Attributes:
        name: rig id (``"cmu"``, ``"daz"``, ...).
        title: one line saying which files use it.
        joints: canonical name -> candidate file joint names (first one present wins); all needed.
        head_top: candidate names of a head-top point (End Sites are named ``<joint>_End``); optional.
        pelvis_from_hips: ``Hip`` is the midpoint of the two hip joints (not a joint of the rig).
        layout: a built-in layout the rig *is* (``bandai21``); the mapped joints then follow it.
    """

    name: str
    title: str
    joints: dict
    head_top: tuple = ()
    pelvis_from_hips: bool = True
    layout: Skeleton | None = None


def _limbs(hip, knee, ankle, shoulder, elbow, wrist):
    """Left/right limb entries from templates with ``{Side}`` (Left/Right), ``{s}`` (l/r), ``{S}`` (L/R)."""
    out = {}
    for canon, tmpl in (("hip", hip), ("knee", knee), ("ankle", ankle), ("shoulder", shoulder),
                        ("elbow", elbow), ("wrist", wrist)):
        tmpl = tmpl if isinstance(tmpl, tuple) else (tmpl,)
        for s, S, Side in (("l", "L", "Left"), ("r", "R", "Right")):
            out[f"{s}_{canon}"] = tuple(t.format(s=s, S=S, Side=Side) for t in tmpl)
    return out


def _rig(name, title, limbs, spine, thorax, nose, head_top=()):
    joints = dict(limbs)
    joints.update(spine=spine if isinstance(spine, tuple) else (spine,),
                  thorax=thorax if isinstance(thorax, tuple) else (thorax,),
                  nose=nose if isinstance(nose, tuple) else (nose,))
    return Rig(name, title, joints, tuple(head_top))


_MB_LIMBS = _limbs("{Side}UpLeg", "{Side}Leg", "{Side}Foot", "{Side}Arm", "{Side}ForeArm", "{Side}Hand")

RIGS: dict[str, Rig] = {r.name: r for r in (
    Rig("bandai", "Bandai Namco Research Motion Dataset rig (bandai21 layout)",
        {c: (n,) for n, c in zip(BANDAI21.joints, BANDAI21.canonical)}, pelvis_from_hips=False, layout=BANDAI21),
    _rig("cmu", "CMU conversions with MotionBuilder names (LHipJoint, LowerBack, Spine, Spine1, Neck, Neck1)",
         _MB_LIMBS, "Spine", "Neck1", "Head", ("Head_End",)),
    _rig("mixamo", "Mixamo / MotionBuilder / HumanIK names (Hips, Spine, Spine1, Spine2, Neck, Head, HeadTop_End)",
         _MB_LIMBS, ("Spine1", "Spine"), "Neck", "Head", ("HeadTop_End", "Head_End")),
    _rig("3dsmax", "CMU conversions with 3ds Max names and Biovision-style rigs (LeftHip, LeftKnee, Chest, Neck)",
         _limbs("{Side}Hip", "{Side}Knee", "{Side}Ankle", "{Side}Shoulder", "{Side}Elbow", "{Side}Wrist"),
         "Chest", "Neck", "Head", ("Head_End",)),
    _rig("daz", "DAZ/Poser names (hip, abdomen, chest, neck, head, lThigh, lShin, lFoot, lShldr, lForeArm, lHand)",
         _limbs(("{s}Thigh", "{s}ThighBend"), "{s}Shin", "{s}Foot", ("{s}Shldr", "{s}ShldrBend"),
                ("{s}ForeArm", "{s}ForearmBend"), "{s}Hand"),
         ("chest", "chestLower"), ("neck", "neckLower"), "head"),
    _rig("asf", "CMU/HDM05 ASF bone names (lfemur, ltibia, lfoot, thorax, upperneck, head, lhumerus, lradius, lwrist)",
         _limbs("{s}femur", "{s}tibia", "{s}foot", "{s}humerus", "{s}radius", "{s}wrist"),
         "thorax", "upperneck", "head", ("head_End",)),
    _rig("cc", "Character Creator / iClone names (CC_Base_Hip, CC_Base_L_Thigh, CC_Base_Spine01, CC_Base_NeckTwist01)",
         _limbs("CC_Base_{S}_Thigh", "CC_Base_{S}_Calf", "CC_Base_{S}_Foot", "CC_Base_{S}_Upperarm",
                "CC_Base_{S}_Forearm", "CC_Base_{S}_Hand"),
         "CC_Base_Spine01", "CC_Base_NeckTwist01", "CC_Base_Head"),
)}
"""Built-in rigs in detection order (see the module docstring for where each joint sits)."""

_H36M_NAME_TO_CANON = dict(zip(H36M17.joints, H36M17.canonical))


@dataclass(frozen=True)
class RigMatch:
    """The mapped joints of one skeleton.

    Attributes:
        rig: rig name, or ``"joint_map"`` for a user map.
        layout: skeleton of the mapped joints (``bandai21`` for Bandai; otherwise the present
            ``h36m17`` joints, in ``h36m17`` order and tree, named after the file joints).
        sources: ``(K, 2)`` int: joint ``k`` is the mean of file joints ``sources[k, 0]`` and
            ``sources[k, 1]`` (the same index twice for a plain joint; the two hips for ``Hip``).
    """

    rig: str
    layout: Skeleton
    sources: np.ndarray

    def gather(self, positions: np.ndarray) -> np.ndarray:
        """``(..., J_file, 3)`` file-joint positions -> ``(..., K, 3)`` mapped-joint positions."""
        return 0.5 * (positions[..., self.sources[:, 0], :] + positions[..., self.sources[:, 1], :])

    def index(self, canonical: str) -> int | None:
        """First file-joint index of a mapped canonical joint, or ``None``."""
        return int(self.sources[self.layout.canonical.index(canonical), 0]) if canonical in self.layout.canonical else None


def read_joint_map(joint_map, *, source: str = "joint_map") -> dict[str, str]:
    """A user joint map as ``{canonical: file joint name}``.

    Args:
        joint_map: a dict or the path of a JSON file holding one object. Keys are ``h36m17`` joint
            names (``Hip``, ``RHip``, ..., ``Neck/Nose``, ``Head`` = head top) or their canonical
            names (``pelvis``, ``r_hip``, ..., ``nose``, ``head_top``); values are joint names of the
            file (End Sites are ``<joint>_End``; a ``namespace:`` prefix may be left out).
            Unmapped ``pelvis``, ``spine``, ``thorax`` and ``head_top`` are derived by
            :func:`energy3d.skeleton.layouts.convert` (``pelvis`` from the hips here already).
        source: name for messages.

    Returns:
        ``{canonical: name}``.

    Raises:
        InputError: unreadable file, not a JSON object, unknown keys, a joint named twice, non-string values.

    Example:
        >>> read_joint_map({"Hip": "root", "l_knee": "LKnee"})
        {'pelvis': 'root', 'l_knee': 'LKnee'}
    """
    if isinstance(joint_map, (str, Path)):
        p = Path(joint_map)
        if not p.is_file():
            raise InputError(f"joint map {p}: file not found (expected a JSON object {{h36m17 joint: file joint name}})")
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise InputError(f"joint map {p}: not readable JSON ({e})") from None
        source = f"joint map {p}"
    else:
        data = joint_map
    if not isinstance(data, dict) or not data:
        raise InputError(f"{source}: expected a non-empty JSON object {{h36m17 joint: file joint name}}, "
                         f"got {type(data).__name__}")
    out, unknown = {}, []
    for key, value in data.items():
        canon = _H36M_NAME_TO_CANON.get(key, key if key in H36M17.canonical else None)
        if canon is None:
            unknown.append(repr(key))
            continue
        if not isinstance(value, str) or not value:
            raise InputError(f"{source}: joint {key!r} must map to a joint name (a string), got {value!r}")
        if canon in out:
            raise InputError(f"{source}: joint {canon!r} is mapped twice (keys name the same h36m17 joint)")
        out[canon] = value
    if unknown:
        raise InputError(
            f"{source}: unknown joint key(s) {', '.join(unknown)}; expected h36m17 names "
            f"({', '.join(H36M17.joints)}) or canonical names ({', '.join(H36M17.canonical)})")
    return out


def _lookup(names):
    """File joint name -> index, by exact and by namespace-stripped name (first occurrence wins)."""
    table = {}
    for i, n in enumerate(names):
        table.setdefault(n, i)
    for i, n in enumerate(names):
        table.setdefault(strip_namespace(n), i)
    return table


def _build(rig_name, names, found, bvh_names=None):
    """RigMatch from ``{canonical: index}`` (h36m17 order and tree; Hip from the hips when unmapped)."""
    found = {c: (i, i) for c, i in found.items()}
    if "pelvis" not in found and "l_hip" in found and "r_hip" in found:
        found["pelvis"] = (found["l_hip"][0], found["r_hip"][0])
    canon = [c for c in H36M17.canonical if c in found]
    parents = []
    for c in canon:
        q = H36M17.parents[H36M17.canonical.index(c)]
        while q >= 0 and H36M17.canonical[q] not in found:
            q = H36M17.parents[q]
        parents.append(canon.index(H36M17.canonical[q]) if q >= 0 else -1)

    def label(c):
        a, b = found[c]
        return names[a] if a == b else f"mid({names[a]},{names[b]})"

    left = tuple(k for k, c in enumerate(canon) if c.startswith("l_") and "r_" + c[2:] in found)
    right = tuple(canon.index("r_" + canon[k][2:]) for k in left)
    skel = Skeleton(f"rig-{rig_name}", tuple(label(c) for c in canon), tuple(parents), tuple(canon), left, right)
    return RigMatch(rig_name, skel, np.array([found[c] for c in canon], dtype=np.int64).reshape(-1, 2))


def _try_rig(rig: Rig, table, rest, names):
    """``(found, missing)`` for one rig: ``found`` {canonical: index}, ``missing`` candidate names."""
    found, missing = {}, []
    for canon, cands in rig.joints.items():
        hit = next((table[c] for c in cands if c in table), None)
        if hit is None:
            missing.append("/".join(cands))
        else:
            found[canon] = hit
    if not missing and rig.head_top and "nose" in found:
        for c in rig.head_top:
            i = table.get(c)
            # a zero-length head top (an End Site at offset 0) is no head top
            if i is not None and (rest is None or np.linalg.norm(rest[i] - rest[found["nose"]]) > 1e-9):
                found["head_top"] = i
                break
    return found, missing


def match_rig(names, *, rig: str | None = None, joint_map=None, rest: np.ndarray | None = None,
              source: str = "motion") -> RigMatch:
    """Find which file joints are the ``h36m17`` joints.

    Args:
        names: the file's joint names (End Sites named ``<joint>_End``).
        rig: a name of :data:`RIGS` to use, or ``None`` to try them all in order.
        joint_map: a user joint map (dict or JSON path, see :func:`read_joint_map`); overrides ``rig``.
        rest: optional ``(J, 3)`` rest-pose positions; a head top at zero distance from ``Neck/Nose``
            is then ignored.
        source: file name for messages.

    Returns:
        :class:`RigMatch`.

    Raises:
        InputError: unknown ``rig``; a joint map naming joints absent from the file (all listed); no
            rig fits (per rig: how many needed joints are missing and the first few).
    """
    names = list(names)
    table = _lookup(names)
    if joint_map is not None:
        wanted = read_joint_map(joint_map)
        absent = [f"{c} -> {n!r}" for c, n in wanted.items() if n not in table]
        if absent:
            raise InputError(
                f"{source}: joint map names {len(absent)} joint(s) absent from the file: {', '.join(absent)}; "
                f"the file's joints are: {', '.join(names[:40])}" + (f" (and {len(names) - 40} more)" if len(names) > 40 else ""))
        return _build("joint_map", names, {c: table[n] for c, n in wanted.items()})
    if rig is not None:
        if rig not in RIGS:
            raise InputError(f"{source}: unknown rig {rig!r}; expected one of {', '.join(RIGS)} (or a joint_map)")
        candidates = [RIGS[rig]]
    else:
        candidates = list(RIGS.values())
    report = []
    for r in candidates:
        found, missing = _try_rig(r, table, rest, names)
        if not missing:
            if r.layout is not None:
                idx = np.array([found[c] for c in r.layout.canonical], dtype=np.int64)
                return RigMatch(r.name, r.layout, np.stack([idx, idx], axis=1))
            return _build(r.name, names, found)
        report.append((len(missing), r.name, len(r.joints), missing))
    if rig is not None:
        n, name, total, missing = report[0]
        raise InputError(f"{source}: rig {name!r} needs {n} joint(s) missing from the file: {', '.join(missing)}")
    report.sort(key=lambda x: x[0])
    per_rig = "; ".join(f"{name} {n} of {total} ({', '.join(missing[:3])}{', ...' if n > 3 else ''})"
                        for n, name, total, missing in report)
    raise InputError(
        f"{source}: joint names match no known rig. Missing per rig: {per_rig}. The file's joints: "
        f"{', '.join(names[:12])}{f' (and {len(names) - 12} more)' if len(names) > 12 else ''}. For another rig "
        f"pass joint_map= (a JSON object {{h36m17 joint: file joint name}})")


def leg_length(rest: np.ndarray, match: RigMatch) -> float | None:
    """Mean leg length hip -> knee -> ankle over both sides, in file units (``None`` without legs).

    Args:
        rest: ``(J, 3)`` rest-pose file-joint positions (file units).
        match: the skeleton's :class:`RigMatch`.
    """
    legs = []
    for s in ("l", "r"):
        h, k, a = (match.index(f"{s}_{j}") for j in ("hip", "knee", "ankle"))
        if None not in (h, k, a):
            legs.append(float(np.linalg.norm(rest[k] - rest[h]) + np.linalg.norm(rest[a] - rest[k])))
    return float(np.mean(legs)) if legs and np.mean(legs) > 0 else None


# ----------------------------------------------------------------------------------------------
# Clip names

_BANDAI_NAME = re.compile(r"^(dataset-\d+)_(.+)_([^_]+)_(\d+)$")
_HDM05_NAME = re.compile(r"^HDM_([A-Za-z]+)_(.+?)_(\d+)(?:_(\d+))?$")
_CMU_NAME = re.compile(r"^(\d+)_(\d+)$")


def clip_info_from_name(stem: str) -> dict:
    """Clip metadata from a file name (without extension).

    Recognised patterns (others give only ``name``):

    * Bandai ``dataset-N_{content}_{style}_{take}``: subject ``dataset-N``, action, style, take;
    * HDM05 ``HDM_{actor}_{motion}_{take}[_{capture fps}]``: subject = the actor (``bd``, ``bk``,
      ``dg``, ``mm``, ``tr``), action = the motion class, ``take``;
    * CMU ``{subject}_{take}`` (e.g. ``13_07``): subject = the number before ``_`` (``"13"``), ``take``.

    Returns:
        dict with ``name``, ``action``, ``style``, ``subject`` (``""`` where unknown) and ``take`` when known.
    """
    m = _BANDAI_NAME.match(stem)
    if m:
        return {"name": stem, "action": m.group(2), "style": m.group(3), "subject": m.group(1), "take": int(m.group(4))}
    m = _HDM05_NAME.match(stem)
    if m:
        return {"name": stem, "action": m.group(2), "style": "", "subject": m.group(1), "take": int(m.group(3))}
    m = _CMU_NAME.match(stem)
    if m:
        return {"name": stem, "action": "", "style": "", "subject": m.group(1), "take": int(m.group(2))}
    return {"name": stem, "action": "", "style": "", "subject": ""}


# ----------------------------------------------------------------------------------------------
# Positions -> Motion


def motion_from_positions(positions: np.ndarray, scale: float, match: RigMatch, *, fps: float,
                          target_fps: float | None = None, layout: str | Skeleton | None = "h36m17",
                          clip: dict | None = None, notes=(), source: str = "motion") -> Motion:
    """One clip of file-joint positions as a :class:`Motion` (metres, Y up).

    Args:
        positions: ``(T, J, 3)`` world positions of the file's joints in file units, Y up.
        scale: metres per file unit (the conversion to metres happens here).
        match: which file joints are the mapped joints (:func:`match_rig`).
        fps: the clip's frame rate.
        target_fps: keep every k-th frame to reach this rate (``None`` keeps all).
        layout: target layout (``None`` keeps ``match.layout``).
        clip: clip metadata (``name`` etc.); ``rig`` is added.
        notes: notes to carry (e.g. from unit detection).
        source: file name for messages.

    Returns:
        :class:`Motion` with one clip; a note says when ``head_top`` had to be extrapolated.

    Raises:
        InputError: non-finite positions, an impossible frame-rate change, or a layout the mapped
            joints cannot provide.
    """
    joints = (match.gather(np.asarray(positions, dtype=np.float64)) * scale).astype(np.float32)
    if not np.all(np.isfinite(joints)):
        bad = int(np.argwhere(~np.isfinite(joints))[0, 0])
        raise InputError(f"{source}: non-finite joint positions (NaN or inf) from frame {bad} on")
    rate = float(fps)
    if target_fps is not None:
        step = fps_step(rate, float(target_fps), source)
        joints = joints[::step]
        rate = rate / step
    notes = list(notes)
    skel = match.layout
    if layout is not None:
        dst = get_layout(layout)
        if "head_top" in dst.canonical and "head_top" not in skel.canonical:
            notes.append(f"{match.rig} rig has no head-top joint: head_top extrapolated {HEAD_TOP_LENGTH_M} m "
                         "beyond the skull base along thorax -> skull base (energy3d.skeleton.layouts)")
        try:
            joints = convert_motion_joints(joints, skel, dst)
        except InputError as e:
            raise InputError(f"{source}: {e}") from None
        skel = dst
    info = dict(clip or {"name": Path(source).stem})
    info["rig"] = match.rig
    return Motion(joints, skel, np.zeros(len(joints), dtype=np.int64), [info], rate, notes=notes)
