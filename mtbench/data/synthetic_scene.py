"""Random indoor scenes for the synthetic dataset: a room, a camera and furniture made of primitives.

World frame: metres, y up, floor at y = 0, the room spans x in [-a, a], z in [-b, b], y in [0, h].
A primitive is a sphere, an oriented box or an oriented capped cylinder (axis = its local y).
Nothing here renders; ``synthetic_render`` ray-casts the scene.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

# Semantic classes of the synthetic dataset (DatasetSpec "synthetic": 10 classes).
CLASSES = ("floor", "ceiling", "wall", "box", "sphere", "cylinder", "figure", "table", "rug", "picture")
FLOOR, CEILING, WALL, BOX, SPHERE, CYLINDER, FIGURE, TABLE, RUG, PICTURE = range(10)
SALIENT = {BOX, SPHERE, CYLINDER, FIGURE, TABLE}  # saliency = the furniture and the figures
# Human parts (PASCAL-Context's 6-part grouping): 0 background.
PARTS = ("background", "head", "torso", "upper_arm", "lower_arm", "upper_leg", "lower_leg")


@dataclass
class Prim:
    kind: str  # "box" | "sphere" | "cyl"
    center: np.ndarray  # (3,) world
    rot: np.ndarray  # (3, 3) local -> world (columns = local axes)
    size: tuple[float, ...]  # box: half extents (hx, hy, hz); sphere: (r,); cyl: (r, half_height)
    cls: int
    inst: int
    part: int = 0

    @property
    def radius(self) -> float:
        """Radius of a bounding sphere around ``center``."""
        if self.kind == "box":
            return float(np.linalg.norm(self.size))
        if self.kind == "cyl":
            return float(math.hypot(self.size[0], self.size[1]))
        return float(self.size[0])


@dataclass
class Scene:
    room: tuple[float, float, float]  # half width a (x), half depth b (z), height h
    cam_pos: np.ndarray  # (3,)
    cam_rot: np.ndarray  # (3, 3) camera (OpenCV: x right, y down, z forward) -> world
    focal: float  # focal length as a fraction of the image width
    prims: list[Prim] = field(default_factory=list)
    n_inst: int = 6  # instances 0..5 are floor, ceiling and the four walls


def rot_y(yaw: float) -> np.ndarray:
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _cross(a, b) -> tuple[float, float, float]:
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def _unit(a) -> tuple[float, float, float]:
    n = math.sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2])
    return (a[0] / n, a[1] / n, a[2] / n)


def frame_from_axis(u) -> np.ndarray:
    """A rotation whose local y axis is the direction ``u`` (plain floats: this runs per primitive)."""
    u = _unit([float(v) for v in u])
    helper = (1.0, 0.0, 0.0) if abs(u[0]) < 0.9 else (0.0, 0.0, 1.0)
    x = _unit(_cross(u, helper))
    z = _cross(x, u)
    return np.array([x, u, z]).T


def camera_rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Camera -> world rotation, columns (right, down, forward); pitch < 0 looks down."""
    f = (math.sin(yaw) * math.cos(pitch), math.sin(pitch), math.cos(yaw) * math.cos(pitch))
    r: Sequence[float] = _unit(_cross(f, (0.0, 1.0, 0.0)))
    d: Sequence[float] = _cross(f, r)
    c, s = math.cos(roll), math.sin(roll)
    r, d = [c * a + s * b for a, b in zip(r, d)], [-s * a + c * b for a, b in zip(r, d)]
    return np.array([r, d, f]).T


class _Builder:
    def __init__(self, scene: Scene):
        self.scene = scene

    def new_inst(self) -> int:
        self.scene.n_inst += 1
        return self.scene.n_inst - 1

    def add(self, kind, center, rot, size, cls, inst, part=0) -> None:
        self.scene.prims.append(Prim(kind, np.asarray(center, float), rot, tuple(size), cls, inst, part))


def _limb(b: _Builder, start, direction, length, radius, inst, part) -> np.ndarray:
    u = direction / np.linalg.norm(direction)
    b.add("cyl", start + u * length / 2, frame_from_axis(u), (radius, length / 2), FIGURE, inst, part)
    return start + u * length


def _add_figure(b: _Builder, rng: np.random.Generator, x: float, z: float) -> None:
    H = rng.uniform(1.3, 1.9)
    R = rot_y(rng.uniform(-math.pi, math.pi))
    base = np.array([x, 0.0, z])
    inst = b.new_inst()

    def w(p):  # figure frame (x lateral, y up, z forward) -> world
        return base + R @ np.asarray(p, float)

    b.add("box", w([0, 0.62 * H, 0]), R, (0.12 * H, 0.15 * H, 0.06 * H), FIGURE, inst, 2)  # torso
    b.add("sphere", w([0, 0.87 * H, 0]), np.eye(3), (0.07 * H,), FIGURE, inst, 1)  # head
    for side in (-1.0, 1.0):
        swing, abd, bend = rng.uniform(-0.9, 0.9), rng.uniform(0.05, 1.2), rng.uniform(0.0, 1.4)
        d1 = np.array([side * math.sin(abd), -math.cos(abd) * math.cos(swing), math.cos(abd) * math.sin(swing)])
        elbow = _limb(b, w([side * 0.15 * H, 0.75 * H, 0]), R @ d1, 0.17 * H, 0.035 * H, inst, 3)
        d2 = d1 + np.array([0.0, 0.0, math.sin(bend)]) + np.array([0.0, math.cos(bend) - 1.0, 0.0])
        _limb(b, elbow, R @ d2, 0.18 * H, 0.03 * H, inst, 4)
        hip_swing, knee = rng.uniform(-0.5, 0.5), rng.uniform(0.0, 0.9)
        d3 = np.array([side * 0.08, -math.cos(hip_swing), math.sin(hip_swing)])
        knee_pt = _limb(b, w([side * 0.07 * H, 0.48 * H, 0]), R @ d3, 0.24 * H, 0.05 * H, inst, 5)
        d4 = np.array([side * 0.05, -math.cos(hip_swing - knee), math.sin(hip_swing - knee)])
        _limb(b, knee_pt, R @ d4, 0.24 * H, 0.04 * H, inst, 6)


def _add_table(b: _Builder, rng: np.random.Generator, x: float, z: float) -> None:
    R = rot_y(rng.uniform(0, math.pi))
    hw, hd, ht = rng.uniform(0.4, 0.8), rng.uniform(0.3, 0.5), rng.uniform(0.35, 0.4)
    inst = b.new_inst()
    b.add("box", [x, 2 * ht, z], R, (hw, 0.025, hd), TABLE, inst)
    for sx in (-1, 1):
        for sz in (-1, 1):
            leg = np.array([x, ht, z]) + R @ np.array([sx * (hw - 0.05), 0.0, sz * (hd - 0.05)])
            b.add("box", leg, R, (0.025, ht - 0.02, 0.025), TABLE, inst)


def _add_object(b: _Builder, rng: np.random.Generator, x: float, z: float) -> None:
    kind = rng.choice(["box", "sphere", "cyl", "box_stack"], p=[0.35, 0.25, 0.3, 0.1])
    if kind == "sphere":
        r = rng.uniform(0.15, 0.45)
        b.add(
            "sphere",
            [x, r + rng.choice([0.0, rng.uniform(0.2, 1.0)], p=[0.8, 0.2]), z],
            np.eye(3),
            (r,),
            SPHERE,
            b.new_inst(),
        )
    elif kind == "cyl":
        r, hh = rng.uniform(0.1, 0.35), rng.uniform(0.15, 0.8)
        if rng.random() < 0.25:  # lying on its side
            rot = rot_y(rng.uniform(0, math.pi)) @ frame_from_axis(np.array([1.0, 0.0, 0.0]))
            b.add("cyl", [x, r, z], rot, (r, hh), CYLINDER, b.new_inst())
        else:
            b.add("cyl", [x, hh, z], np.eye(3), (r, hh), CYLINDER, b.new_inst())
    else:
        y0 = 0.0
        for _ in range(2 if kind == "box_stack" else 1):
            hx, hy, hz = rng.uniform(0.15, 0.5, size=3)
            b.add("box", [x, y0 + hy, z], rot_y(rng.uniform(0, math.pi)), (hx, hy, hz), BOX, b.new_inst())
            y0 += 2 * hy


def sample_scene(rng: np.random.Generator, aspect: float) -> Scene:
    """Sample a furnished room and a camera inside it; ``aspect`` = width / height of the image."""
    a, bb, h = rng.uniform(2.2, 4.5), rng.uniform(2.2, 4.5), rng.uniform(2.5, 3.3)
    cam = np.array([rng.uniform(-a + 0.4, a - 0.4), rng.uniform(1.0, 1.8), rng.uniform(-bb + 0.4, bb - 0.4)])
    # look roughly towards the room centre so that most of the room is in view
    yaw = math.atan2(-cam[0], -cam[2]) + rng.uniform(-0.8, 0.8)
    rot = camera_rotation(yaw, rng.uniform(-0.45, -0.05), rng.uniform(-0.08, 0.08))
    scene = Scene((a, bb, h), cam, rot, focal=rng.uniform(0.65, 0.95))
    b = _Builder(scene)
    half_fov = math.atan(0.5 / scene.focal) * 0.9
    n_obj, n_fig = int(rng.integers(2, 6)), int(rng.choice([0, 1, 1, 2, 2, 3]))
    kinds = ["fig"] * n_fig + ["table"] * int(rng.random() < 0.5) + ["obj"] * n_obj
    for kind in kinds:
        for _ in range(10):  # rejection: keep furniture away from the camera and inside the room
            ang, dist = yaw + rng.uniform(-half_fov, half_fov), rng.uniform(1.5, 6.0)
            x, z = cam[0] + dist * math.sin(ang), cam[2] + dist * math.cos(ang)
            if abs(x) < a - 0.6 and abs(z) < bb - 0.6 and math.hypot(x - cam[0], z - cam[2]) > 1.4:
                break
        else:
            continue
        {"fig": _add_figure, "table": _add_table, "obj": _add_object}[kind](b, rng, x, z)
    if rng.random() < 0.6:  # a rug on the floor
        b.add(
            "box",
            [rng.uniform(-a + 1, a - 1), 0.01, rng.uniform(-bb + 1, bb - 1)],
            rot_y(rng.uniform(0, math.pi)),
            (rng.uniform(0.5, 1.3), 0.01, rng.uniform(0.4, 1.0)),
            RUG,
            b.new_inst(),
        )
    for _ in range(int(rng.integers(0, 3))):  # pictures on the walls
        wall = int(rng.integers(4))
        hw, hh = rng.uniform(0.25, 0.6), rng.uniform(0.2, 0.45)
        y = rng.uniform(1.2, h - 0.6)
        if wall < 2:
            x, z, rot = (a - 0.01) * (1 if wall == 0 else -1), rng.uniform(-bb + 0.8, bb - 0.8), rot_y(math.pi / 2)
        else:
            x, z, rot = rng.uniform(-a + 0.8, a - 0.8), (bb - 0.01) * (1 if wall == 2 else -1), np.eye(3)
        b.add("box", [x, y, z], rot, (hw, hh, 0.015), PICTURE, b.new_inst())
    return scene
