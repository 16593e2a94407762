"""Synthetic BVH rigs with known geometry, one per built-in rig (joint names only; written by hand).

Every rig is a list of ``(name, parent, offset)`` in centimetres, Y up; a name ending in ``_End``
is written as the End Site of its parent. All joint rotations are zero, so a joint's world
position is its root position plus the offsets down its chain (the root may turn about Y).
``EXPECTED[rig]`` says which joint each ``h36m17`` joint is: a name, ``("mid", a, b)`` for a
midpoint, or ``None`` where the head top must be extrapolated.
"""

from __future__ import annotations

import numpy as np


def _legs(hip_parent, names, side_sign):
    """Leg chain: ([hip joint bone,] hip, knee, ankle, toe) names; hips 10 cm aside, 5 cm below their parent."""
    out = []
    parent = hip_parent
    if len(names) == 5:  # an ASF-style zero-length hip-joint bone first
        out.append((names[0], hip_parent, (0.0, 0.0, 0.0)))
        parent, names = names[0], names[1:]
    hip, knee, ankle, toe = names
    out += [(hip, parent, (10.0 * side_sign, -5.0, 0.0)), (knee, hip, (0.0, -40.0, 2.0)),
            (ankle, knee, (0.0, -42.0, -2.0)), (toe, ankle, (0.0, -5.0, 10.0)), (toe + "_End", toe, (0.0, 0.0, 4.0))]
    return out


def _arm(parent, names, side_sign, collar_offset=(3.0, 4.0, 0.0)):
    collar, shoulder, elbow, wrist = names
    s = side_sign
    return [(collar, parent, (collar_offset[0] * s, collar_offset[1], collar_offset[2])),
            (shoulder, collar, (14.0 * s, 1.0, 0.0)), (elbow, shoulder, (27.0 * s, 0.0, 0.0)),
            (wrist, elbow, (25.0 * s, 0.0, 0.0)), (wrist + "_End", wrist, (8.0 * s, 0.0, 0.0))]


def _both(fn, parent, left, right, **kw):
    return fn(parent, left, 1.0, **kw) + fn(parent, right, -1.0, **kw)


RIGS = {}
EXPECTED = {}

# CMU MotionBuilder-friendly: Neck at offset 0 from Spine1 (like the cgspeed files), Neck1 above.
RIGS["cmu"] = [("Hips", None, (0.0, 95.0, 0.0))] \
    + _both(_legs, "Hips", ("LeftUpLeg", "LeftLeg", "LeftFoot", "LeftToeBase"),
            ("RightUpLeg", "RightLeg", "RightFoot", "RightToeBase")) \
    + [("LowerBack", "Hips", (0.0, 0.0, 0.0)), ("Spine", "LowerBack", (0.0, 12.0, 0.0)),
       ("Spine1", "Spine", (0.0, 12.0, 0.0)), ("Neck", "Spine1", (0.0, 0.0, 0.0)), ("Neck1", "Neck", (0.0, 9.0, 1.0)),
       ("Head", "Neck1", (0.0, 9.0, 0.0)), ("Head_End", "Head", (0.0, 9.0, 0.0))] \
    + _both(_arm, "Spine1", ("LeftShoulder", "LeftArm", "LeftForeArm", "LeftHand"),
            ("RightShoulder", "RightArm", "RightForeArm", "RightHand"))
EXPECTED["cmu"] = {"Hip": ("mid", "LeftUpLeg", "RightUpLeg"), "LHip": "LeftUpLeg", "RKnee": "RightLeg",
                   "LFoot": "LeftFoot", "Spine": "Spine", "Thorax": "Neck1", "Neck/Nose": "Head",
                   "Head": "Head_End", "LShoulder": "LeftArm", "RElbow": "RightForeArm", "LWrist": "LeftHand"}

RIGS["mixamo"] = [("mixamorig:Hips", None, (0.0, 95.0, 0.0))] \
    + _both(_legs, "mixamorig:Hips", ("mixamorig:LeftUpLeg", "mixamorig:LeftLeg", "mixamorig:LeftFoot",
                                      "mixamorig:LeftToeBase"),
            ("mixamorig:RightUpLeg", "mixamorig:RightLeg", "mixamorig:RightFoot", "mixamorig:RightToeBase")) \
    + [("mixamorig:Spine", "mixamorig:Hips", (0.0, 10.0, 0.0)), ("mixamorig:Spine1", "mixamorig:Spine", (0.0, 10.0, 0.0)),
       ("mixamorig:Spine2", "mixamorig:Spine1", (0.0, 10.0, 0.0)), ("mixamorig:Neck", "mixamorig:Spine2", (0.0, 15.0, 0.0)),
       ("mixamorig:Head", "mixamorig:Neck", (0.0, 10.0, 1.0)), ("mixamorig:HeadTop_End", "mixamorig:Head", (0.0, 18.0, 0.0)),
       ("mixamorig:HeadTop_End_End", "mixamorig:HeadTop_End", (0.0, 1.0, 0.0))] \
    + _both(_arm, "mixamorig:Spine2", ("mixamorig:LeftShoulder", "mixamorig:LeftArm", "mixamorig:LeftForeArm",
                                       "mixamorig:LeftHand"),
            ("mixamorig:RightShoulder", "mixamorig:RightArm", "mixamorig:RightForeArm", "mixamorig:RightHand"),
            collar_offset=(3.0, 12.0, 0.0))
EXPECTED["mixamo"] = {"Hip": ("mid", "mixamorig:LeftUpLeg", "mixamorig:RightUpLeg"), "Spine": "mixamorig:Spine1",
                      "Thorax": "mixamorig:Neck", "Neck/Nose": "mixamorig:Head", "Head": "mixamorig:HeadTop_End",
                      "LShoulder": "mixamorig:LeftArm", "RWrist": "mixamorig:RightHand", "LKnee": "mixamorig:LeftLeg"}

RIGS["3dsmax"] = [("Hips", None, (0.0, 95.0, 0.0))] \
    + _both(_legs, "Hips", ("LeftHip", "LeftKnee", "LeftAnkle", "LeftToe"), ("RightHip", "RightKnee", "RightAnkle",
                                                                             "RightToe")) \
    + [("lowerback", "Hips", (0.0, 0.0, 0.0)), ("Chest", "lowerback", (0.0, 12.0, 0.0)),
       ("Chest2", "Chest", (0.0, 12.0, 0.0)), ("lowerneck", "Chest2", (0.0, 0.0, 0.0)),
       ("Neck", "lowerneck", (0.0, 9.0, 0.0)), ("Head", "Neck", (0.0, 9.0, 0.0)), ("Head_End", "Head", (0.0, 9.0, 0.0))] \
    + _both(_arm, "Chest2", ("LeftCollar", "LeftShoulder", "LeftElbow", "LeftWrist"),
            ("RightCollar", "RightShoulder", "RightElbow", "RightWrist"))
EXPECTED["3dsmax"] = {"Hip": ("mid", "LeftHip", "RightHip"), "Spine": "Chest", "Thorax": "Neck", "Neck/Nose": "Head",
                      "Head": "Head_End", "LShoulder": "LeftShoulder", "LElbow": "LeftElbow", "RFoot": "RightAnkle"}

RIGS["daz"] = [("hip", None, (0.0, 95.0, 0.0)), ("abdomen", "hip", (0.0, 18.0, 0.0)), ("chest", "abdomen", (0.0, 12.0, 0.0)),
               ("neck", "chest", (0.0, 22.0, -2.0)), ("head", "neck", (0.0, 7.0, 1.0)),
               ("leftEye", "head", (3.0, 8.0, 8.0)), ("leftEye_End", "leftEye", (1.0, 0.0, 0.0))] \
    + _both(_arm, "chest", ("lCollar", "lShldr", "lForeArm", "lHand"), ("rCollar", "rShldr", "rForeArm", "rHand"),
            collar_offset=(3.0, 18.0, 0.0)) \
    + _both(_legs, "hip", ("lThigh", "lShin", "lFoot", "lToe"), ("rThigh", "rShin", "rFoot", "rToe"))
EXPECTED["daz"] = {"Hip": ("mid", "lThigh", "rThigh"), "Spine": "chest", "Thorax": "neck", "Neck/Nose": "head",
                   "Head": None, "LShoulder": "lShldr", "RElbow": "rForeArm", "LHip": "lThigh", "RKnee": "rShin"}

RIGS["asf"] = [("root", None, (0.0, 95.0, 0.0))] \
    + _both(_legs, "root", ("lhipjoint", "lfemur", "ltibia", "lfoot", "ltoes"),
            ("rhipjoint", "rfemur", "rtibia", "rfoot", "rtoes")) \
    + [("lowerback", "root", (0.0, 0.0, 0.0)), ("upperback", "lowerback", (0.0, 12.0, 0.0)),
       ("thorax", "upperback", (0.0, 12.0, 0.0)), ("lowerneck", "thorax", (0.0, 12.0, 0.0)),
       ("upperneck", "lowerneck", (0.0, 7.0, 0.0)), ("head", "upperneck", (0.0, 7.0, 0.0)),
       ("head_End", "head", (0.0, 8.0, 0.0))] \
    + _both(_arm, "thorax", ("lclavicle", "lhumerus", "lradius", "lwrist"), ("rclavicle", "rhumerus", "rradius", "rwrist"),
            collar_offset=(0.0, 12.0, 0.0))
EXPECTED["asf"] = {"Hip": ("mid", "lfemur", "rfemur"), "LHip": "lfemur", "LKnee": "ltibia", "LFoot": "lfoot",
                   "Spine": "thorax", "Thorax": "upperneck", "Neck/Nose": "head", "Head": "head_End",
                   "LShoulder": "lhumerus", "LElbow": "lradius", "RWrist": "rwrist"}

RIGS["cc"] = [("CC_Base_BoneRoot", None, (0.0, 0.0, 0.0)), ("CC_Base_Hip", "CC_Base_BoneRoot", (0.0, 95.0, 0.0)),
              ("CC_Base_Pelvis", "CC_Base_Hip", (0.0, 0.0, 0.0))] \
    + _both(_legs, "CC_Base_Pelvis", ("CC_Base_L_Thigh", "CC_Base_L_Calf", "CC_Base_L_Foot", "CC_Base_L_ToeBase"),
            ("CC_Base_R_Thigh", "CC_Base_R_Calf", "CC_Base_R_Foot", "CC_Base_R_ToeBase")) \
    + [("CC_Base_L_ThighTwist01", "CC_Base_L_Thigh", (0.0, -10.0, 0.0)),
       ("CC_Base_Waist", "CC_Base_Hip", (0.0, 8.0, 0.0)), ("CC_Base_Spine01", "CC_Base_Waist", (0.0, 12.0, 0.0)),
       ("CC_Base_Spine02", "CC_Base_Spine01", (0.0, 12.0, 0.0)),
       ("CC_Base_NeckTwist01", "CC_Base_Spine02", (0.0, 16.0, 0.0)),
       ("CC_Base_NeckTwist02", "CC_Base_NeckTwist01", (0.0, 4.0, 0.0)),
       ("CC_Base_Head", "CC_Base_NeckTwist02", (0.0, 5.0, 1.0)), ("CC_Base_Head_End", "CC_Base_Head", (0.0, 0.0, 0.0))] \
    + _both(_arm, "CC_Base_Spine02", ("CC_Base_L_Clavicle", "CC_Base_L_Upperarm", "CC_Base_L_Forearm", "CC_Base_L_Hand"),
            ("CC_Base_R_Clavicle", "CC_Base_R_Upperarm", "CC_Base_R_Forearm", "CC_Base_R_Hand"),
            collar_offset=(3.0, 12.0, 0.0))
EXPECTED["cc"] = {"Hip": ("mid", "CC_Base_L_Thigh", "CC_Base_R_Thigh"), "Spine": "CC_Base_Spine01",
                  "Thorax": "CC_Base_NeckTwist01", "Neck/Nose": "CC_Base_Head", "Head": None,
                  "LShoulder": "CC_Base_L_Upperarm", "LElbow": "CC_Base_L_Forearm", "RWrist": "CC_Base_R_Hand",
                  "LKnee": "CC_Base_L_Calf", "RFoot": "CC_Base_R_Foot"}


def world_positions(joints, root_pos=None, yaw_deg=0.0):
    """``{name: (3,)}`` world positions (file units) with zero joint rotations and the root turned about Y."""
    a = np.deg2rad(yaw_deg)
    Ry = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    rest = {}
    for name, parent, off in joints:
        rest[name] = np.array(off, float) + (rest[parent] if parent else 0.0)
    root = joints[0][0]
    base = rest[root] if root_pos is None else np.asarray(root_pos, float)
    return {n: base + Ry @ (p - rest[root]) for n, p in rest.items()}


def bvh_text(joints, frames=((None, 0.0),), frame_time=1 / 30):
    """BVH text for a rig: ``frames`` is a list of (root position or None = its offset, yaw degrees).

    The root has 6 channels (X/Y/Z position, Z X Y rotation), other joints 3 rotations (all zero).
    """
    kids = {}
    for name, parent, _ in joints:
        kids.setdefault(parent, []).append(name)
    off = {n: o for n, _, o in joints}
    lines, nch = [], [0]

    def emit(name, depth, root=False):
        ind = "  " * depth
        if name.endswith("_End") and name[:-4] in off and not kids.get(name):
            lines.append(f"{ind}End Site\n{ind}{{\n{ind}  OFFSET {' '.join(map(str, off[name]))}\n{ind}}}")
            return
        lines.append(f"{ind}{'ROOT' if root else 'JOINT'} {name}\n{ind}{{\n{ind}  OFFSET {' '.join(map(str, off[name]))}")
        if root:
            lines.append(f"{ind}  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation")
            nch[0] += 6
        else:
            lines.append(f"{ind}  CHANNELS 3 Zrotation Xrotation Yrotation")
            nch[0] += 3
        for k in kids.get(name, []):
            emit(k, depth + 1)
        lines.append(f"{ind}}}")

    emit(joints[0][0], 0, root=True)
    rows = []
    for pos, yaw in frames:
        p = off[joints[0][0]] if pos is None else pos
        rows.append(" ".join(map(str, [*p, 0.0, 0.0, yaw] + [0.0] * (nch[0] - 6))))
    return ("HIERARCHY\n" + "\n".join(lines) + f"\nMOTION\nFrames: {len(rows)}\nFrame Time: {frame_time:.7f}\n"
            + "\n".join(rows) + "\n")


def expected_h36m(rig, world):
    """``{h36m17 name: (3,) or None}`` from :data:`EXPECTED` and world positions."""
    out = {}
    for h, spec in EXPECTED[rig].items():
        if spec is None:
            out[h] = None
        elif isinstance(spec, tuple):
            out[h] = 0.5 * (world[spec[1]] + world[spec[2]])
        else:
            out[h] = world[spec]
    return out
