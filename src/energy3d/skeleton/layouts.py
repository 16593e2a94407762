"""Joint layouts: names, kinematic parents, left/right pairs, and conversion between layouts.

Every layout is a :class:`Skeleton`. Each joint also carries a *canonical* name from one shared
vocabulary (``pelvis``, ``r_hip``, ``l_wrist``, ``head_top`` ...), and conversion between layouts
(:func:`convert`) goes through those names: a target joint is copied when the source has it, or
derived by a documented rule otherwise (see ``_DERIVED``).

Conventions of the built-in layouts:

* ``h36m17``: the 17-joint Human3.6M skeleton used by Martinez et al. and IGE-Net
  (Hip, RHip, RKnee, RFoot, LHip, LKnee, LFoot, Spine, Thorax, Neck/Nose, Head, LShoulder, LElbow,
  LWrist, RShoulder, RElbow, RWrist). ``Head`` is the head top.
* ``coco17``: COCO keypoints order (nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles).
* ``openpose25``: OpenPose BODY_25 order.
* ``mpii16``: MPII order (r_ankle ... l_wrist).
* ``bandai21``: the Bandai Namco motion dataset rig (``Head`` is the skull base, no head top).

Head-top approximation (rigs without one, e.g. Bandai): ``head_top = nose + L * unit(nose - thorax)``
where ``nose`` is the h36m ``Neck/Nose`` joint (Bandai ``Head``, the skull base) and ``thorax`` is
the neck base (Bandai ``Neck``). ``L`` is 0.18 m in 3D (metres). For 2D inputs (pixels) a fixed
length has no meaning, so ``head_top = nose + 0.6 * (nose - thorax)`` is used instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from energy3d.errors import InputError

HEAD_TOP_LENGTH_M = 0.18
HEAD_TOP_RATIO_2D = 0.6


@dataclass(frozen=True)
class Skeleton:
    """A joint layout.

    Attributes:
        name: layout id, e.g. ``"h36m17"``.
        joints: joint names in array order.
        parents: parent index per joint, ``-1`` for the root.
        canonical: canonical (shared-vocabulary) name per joint.
        left / right: indices of mirrored joint pairs (``left[k]`` mirrors ``right[k]``).
    """

    name: str
    joints: tuple[str, ...]
    parents: tuple[int, ...]
    canonical: tuple[str, ...]
    left: tuple[int, ...] = field(default=())
    right: tuple[int, ...] = field(default=())

    def __post_init__(self):
        n = len(self.joints)
        if len(self.parents) != n or len(self.canonical) != n:
            raise ValueError(f"skeleton {self.name}: joints/parents/canonical lengths differ")
        if len(self.left) != len(self.right):
            raise ValueError(f"skeleton {self.name}: left/right pair lists differ in length")

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    @property
    def edges(self) -> list[tuple[int, int]]:
        """Bones as (parent, child) index pairs."""
        return [(p, c) for c, p in enumerate(self.parents) if p >= 0]

    def index(self, joint: str) -> int:
        """Index of a joint given its layout name or canonical name."""
        if joint in self.joints:
            return self.joints.index(joint)
        if joint in self.canonical:
            return self.canonical.index(joint)
        raise InputError(f"layout {self.name} has no joint {joint!r}; joints: {', '.join(self.joints)}")

    def flip_permutation(self) -> list[int]:
        """Index permutation that swaps left and right joints."""
        perm = list(range(self.num_joints))
        for a, b in zip(self.left, self.right):
            perm[a], perm[b] = b, a
        return perm

    def check(self, points, what: str = "points", dims: tuple[int, ...] = (2, 3)) -> None:
        """Raise :class:`InputError` unless ``points`` is ``(..., J, D)`` for this layout."""
        shape = tuple(points.shape)
        if len(shape) < 2 or shape[-2] != self.num_joints or shape[-1] not in dims:
            d = "|".join(map(str, dims))
            raise InputError(
                f"{what}: expected shape (..., {self.num_joints}, {d}) for layout {self.name} "
                f"({self.num_joints} joints), got {shape}"
            )

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "joints": list(self.joints),
            "parents": list(self.parents),
            "canonical": list(self.canonical),
            "left": list(self.left),
            "right": list(self.right),
        }

    @classmethod
    def from_json(cls, d: dict) -> "Skeleton":
        return cls(
            d["name"], tuple(d["joints"]), tuple(d["parents"]), tuple(d["canonical"]),
            tuple(d.get("left", ())), tuple(d.get("right", ())),
        )


def _make(name, spec, pairs):
    """spec: list of (joint_name, parent_name_or_None, canonical)."""
    joints = tuple(s[0] for s in spec)
    parents = tuple(-1 if s[1] is None else joints.index(s[1]) for s in spec)
    canonical = tuple(s[2] for s in spec)
    left = tuple(joints.index(a) for a, _ in pairs)
    right = tuple(joints.index(b) for _, b in pairs)
    return Skeleton(name, joints, parents, canonical, left, right)


H36M17 = _make(
    "h36m17",
    [
        ("Hip", None, "pelvis"),
        ("RHip", "Hip", "r_hip"),
        ("RKnee", "RHip", "r_knee"),
        ("RFoot", "RKnee", "r_ankle"),
        ("LHip", "Hip", "l_hip"),
        ("LKnee", "LHip", "l_knee"),
        ("LFoot", "LKnee", "l_ankle"),
        ("Spine", "Hip", "spine"),
        ("Thorax", "Spine", "thorax"),
        ("Neck/Nose", "Thorax", "nose"),
        ("Head", "Neck/Nose", "head_top"),
        ("LShoulder", "Thorax", "l_shoulder"),
        ("LElbow", "LShoulder", "l_elbow"),
        ("LWrist", "LElbow", "l_wrist"),
        ("RShoulder", "Thorax", "r_shoulder"),
        ("RElbow", "RShoulder", "r_elbow"),
        ("RWrist", "RElbow", "r_wrist"),
    ],
    [("LHip", "RHip"), ("LKnee", "RKnee"), ("LFoot", "RFoot"), ("LShoulder", "RShoulder"),
     ("LElbow", "RElbow"), ("LWrist", "RWrist")],
)

COCO17 = _make(
    "coco17",
    [
        ("nose", None, "nose"),
        ("left_eye", "nose", "l_eye"),
        ("right_eye", "nose", "r_eye"),
        ("left_ear", "left_eye", "l_ear"),
        ("right_ear", "right_eye", "r_ear"),
        ("left_shoulder", "nose", "l_shoulder"),
        ("right_shoulder", "nose", "r_shoulder"),
        ("left_elbow", "left_shoulder", "l_elbow"),
        ("right_elbow", "right_shoulder", "r_elbow"),
        ("left_wrist", "left_elbow", "l_wrist"),
        ("right_wrist", "right_elbow", "r_wrist"),
        ("left_hip", "left_shoulder", "l_hip"),
        ("right_hip", "right_shoulder", "r_hip"),
        ("left_knee", "left_hip", "l_knee"),
        ("right_knee", "right_hip", "r_knee"),
        ("left_ankle", "left_knee", "l_ankle"),
        ("right_ankle", "right_knee", "r_ankle"),
    ],
    [("left_eye", "right_eye"), ("left_ear", "right_ear"), ("left_shoulder", "right_shoulder"),
     ("left_elbow", "right_elbow"), ("left_wrist", "right_wrist"), ("left_hip", "right_hip"),
     ("left_knee", "right_knee"), ("left_ankle", "right_ankle")],
)

OPENPOSE25 = _make(
    "openpose25",
    [
        ("Nose", "Neck", "nose"),
        ("Neck", "MidHip", "thorax"),
        ("RShoulder", "Neck", "r_shoulder"),
        ("RElbow", "RShoulder", "r_elbow"),
        ("RWrist", "RElbow", "r_wrist"),
        ("LShoulder", "Neck", "l_shoulder"),
        ("LElbow", "LShoulder", "l_elbow"),
        ("LWrist", "LElbow", "l_wrist"),
        ("MidHip", None, "pelvis"),
        ("RHip", "MidHip", "r_hip"),
        ("RKnee", "RHip", "r_knee"),
        ("RAnkle", "RKnee", "r_ankle"),
        ("LHip", "MidHip", "l_hip"),
        ("LKnee", "LHip", "l_knee"),
        ("LAnkle", "LKnee", "l_ankle"),
        ("REye", "Nose", "r_eye"),
        ("LEye", "Nose", "l_eye"),
        ("REar", "REye", "r_ear"),
        ("LEar", "LEye", "l_ear"),
        ("LBigToe", "LAnkle", "l_big_toe"),
        ("LSmallToe", "LAnkle", "l_small_toe"),
        ("LHeel", "LAnkle", "l_heel"),
        ("RBigToe", "RAnkle", "r_big_toe"),
        ("RSmallToe", "RAnkle", "r_small_toe"),
        ("RHeel", "RAnkle", "r_heel"),
    ],
    [("LShoulder", "RShoulder"), ("LElbow", "RElbow"), ("LWrist", "RWrist"), ("LHip", "RHip"),
     ("LKnee", "RKnee"), ("LAnkle", "RAnkle"), ("LEye", "REye"), ("LEar", "REar"),
     ("LBigToe", "RBigToe"), ("LSmallToe", "RSmallToe"), ("LHeel", "RHeel")],
)

MPII16 = _make(
    "mpii16",
    [
        ("r_ankle", "r_knee", "r_ankle"),
        ("r_knee", "r_hip", "r_knee"),
        ("r_hip", "pelvis", "r_hip"),
        ("l_hip", "pelvis", "l_hip"),
        ("l_knee", "l_hip", "l_knee"),
        ("l_ankle", "l_knee", "l_ankle"),
        ("pelvis", None, "pelvis"),
        ("thorax", "pelvis", "thorax"),
        ("upper_neck", "thorax", "nose"),
        ("head_top", "upper_neck", "head_top"),
        ("r_wrist", "r_elbow", "r_wrist"),
        ("r_elbow", "r_shoulder", "r_elbow"),
        ("r_shoulder", "thorax", "r_shoulder"),
        ("l_shoulder", "thorax", "l_shoulder"),
        ("l_elbow", "l_shoulder", "l_elbow"),
        ("l_wrist", "l_elbow", "l_wrist"),
    ],
    [("l_ankle", "r_ankle"), ("l_knee", "r_knee"), ("l_hip", "r_hip"), ("l_wrist", "r_wrist"),
     ("l_elbow", "r_elbow"), ("l_shoulder", "r_shoulder")],
)

BANDAI21 = _make(
    "bandai21",
    [
        ("Hips", None, "pelvis"),
        ("Spine", "Hips", "spine_low"),
        ("Chest", "Spine", "spine"),
        ("Neck", "Chest", "thorax"),
        ("Head", "Neck", "nose"),
        ("Shoulder_L", "Chest", "l_clavicle"),
        ("UpperArm_L", "Shoulder_L", "l_shoulder"),
        ("LowerArm_L", "UpperArm_L", "l_elbow"),
        ("Hand_L", "LowerArm_L", "l_wrist"),
        ("Shoulder_R", "Chest", "r_clavicle"),
        ("UpperArm_R", "Shoulder_R", "r_shoulder"),
        ("LowerArm_R", "UpperArm_R", "r_elbow"),
        ("Hand_R", "LowerArm_R", "r_wrist"),
        ("UpperLeg_L", "Hips", "l_hip"),
        ("LowerLeg_L", "UpperLeg_L", "l_knee"),
        ("Foot_L", "LowerLeg_L", "l_ankle"),
        ("Toes_L", "Foot_L", "l_toes"),
        ("UpperLeg_R", "Hips", "r_hip"),
        ("LowerLeg_R", "UpperLeg_R", "r_knee"),
        ("Foot_R", "LowerLeg_R", "r_ankle"),
        ("Toes_R", "Foot_R", "r_toes"),
    ],
    [("Shoulder_L", "Shoulder_R"), ("UpperArm_L", "UpperArm_R"), ("LowerArm_L", "LowerArm_R"),
     ("Hand_L", "Hand_R"), ("UpperLeg_L", "UpperLeg_R"), ("LowerLeg_L", "LowerLeg_R"),
     ("Foot_L", "Foot_R"), ("Toes_L", "Toes_R")],
)

LAYOUTS: dict[str, Skeleton] = {s.name: s for s in (H36M17, COCO17, OPENPOSE25, MPII16, BANDAI21)}


def get_layout(name: str | Skeleton) -> Skeleton:
    """Look up a layout by name (``h36m17``, ``coco17``, ``openpose25``, ``mpii16``, ``bandai21``)."""
    if isinstance(name, Skeleton):
        return name
    try:
        return LAYOUTS[name]
    except KeyError:
        raise InputError(f"unknown joint layout {name!r}; known layouts: {', '.join(sorted(LAYOUTS))}") from None


def _unit(v, eps=1e-9):
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, eps)


def _head_top(get, dim):
    nose, thorax = get("nose"), get("thorax")
    if dim == 3:
        return nose + HEAD_TOP_LENGTH_M * _unit(nose - thorax)
    return nose + HEAD_TOP_RATIO_2D * (nose - thorax)


# canonical name -> (source canonical names needed, rule). Rules receive a getter for canonical joints.
_DERIVED = {
    "pelvis": (("l_hip", "r_hip"), lambda g, d: 0.5 * (g("l_hip") + g("r_hip"))),
    "thorax": (("l_shoulder", "r_shoulder"), lambda g, d: 0.5 * (g("l_shoulder") + g("r_shoulder"))),
    "spine": (("pelvis", "thorax"), lambda g, d: 0.5 * (g("pelvis") + g("thorax"))),
    "head_top": (("nose", "thorax"), _head_top),
}


def convert(points, src: Skeleton | str, dst: Skeleton | str, confidence=None):
    """Convert joint positions from layout ``src`` to layout ``dst`` by canonical joint names.

    Joints present in both are copied; ``pelvis``, ``thorax``, ``spine`` and ``head_top`` are
    derived when missing (see module docstring). The confidence of a derived joint is the minimum
    of the confidences it was derived from.

    Args:
        points: ``(..., J_src, D)`` array, D = 2 (pixels) or 3 (metres).
        src, dst: layouts or layout names.
        confidence: optional ``(..., J_src)`` array.

    Returns:
        ``(..., J_dst, D)`` array, and the ``(..., J_dst)`` confidence if one was given.

    Raises:
        InputError: wrong shape for ``src``, or ``dst`` needs a joint ``src`` cannot provide.

    Example:
        >>> import numpy as np
        >>> convert(np.zeros((5, 17, 2)), "coco17", "h36m17").shape
        (5, 17, 2)
    """
    src, dst = get_layout(src), get_layout(dst)
    pts = np.asarray(points, dtype=np.float64)
    src.check(pts, "points")
    dim = pts.shape[-1]
    conf = None if confidence is None else np.asarray(confidence, dtype=np.float64)
    if conf is not None and conf.shape != pts.shape[:-1]:
        raise InputError(f"confidence: expected shape {pts.shape[:-1]}, got {conf.shape}")
    cache: dict[str, tuple] = {}

    def get_pair(c: str, stack=()):
        if c in cache:
            return cache[c]
        if c in src.canonical:
            i = src.canonical.index(c)
            r = (pts[..., i, :], None if conf is None else conf[..., i])
        elif c in _DERIVED and c not in stack:
            needs, rule = _DERIVED[c]
            parts = [get_pair(n, stack + (c,)) for n in needs]
            r = (rule(lambda n: get_pair(n, stack + (c,))[0], dim),
                 None if conf is None else np.min(np.stack([p[1] for p in parts]), axis=0))
        else:
            raise InputError(
                f"cannot build joint {c!r} of layout {dst.name} from layout {src.name}: "
                f"it has no such joint and no rule derives it"
            )
        cache[c] = r
        return r

    out = np.stack([get_pair(c)[0] for c in dst.canonical], axis=-2)
    if conf is None:
        return out
    return out, np.stack([get_pair(c)[1] for c in dst.canonical], axis=-1)
