"""Vectorised NumPy ray casting of a ``synthetic_scene.Scene`` into exact, mutually consistent targets.

One ray per pixel centre, ``d = R (x_n, y_n, 1)`` with ``x_n = (u + 0.5 - W/2) / f``, so the ray
parameter ``t`` of a hit *is* the z-depth (metres along the optical axis). A z-buffer keeps the nearest
hit; every primitive is only tested inside the screen rectangle of its bounding sphere.

Normals convention (NYUD, see ``mtbench.data``): camera frame, x right, y down (image axes), z towards
the camera; the normal of a visible surface faces the camera, so z >= 0.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from mtbench.data.synthetic_scene import PARTS, SALIENT, Prim, Scene

_EPS = 1e-4
_SIGNS = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], float)


@lru_cache(maxsize=8)
def _pixel_grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    v, u = np.mgrid[0:h, 0:w].astype(np.float32)
    return u + 0.5 - w / 2, v + 0.5 - h / 2


def _screen_box(p: Prim, scene: Scene, f: float, h: int, w: int) -> tuple[int, int, int, int] | None:
    """Pixel rectangle (r0, r1, c0, c1) containing the projection of the primitive's oriented bounding box."""
    half = np.array(p.size * 3 if p.kind == "sphere" else (p.size[0], p.size[1], p.size[0]) if p.kind == "cyl"
                    else p.size)
    corners = p.center + (_SIGNS * half) @ p.rot.T  # (8, 3) world
    c = (corners - scene.cam_pos) @ scene.cam_rot  # camera frame
    if (c[:, 2] <= 0.01).all():
        return None
    if (c[:, 2] <= 0.01).any():
        return 0, h, 0, w
    u, v = c[:, 0] / c[:, 2] * f + w / 2, c[:, 1] / c[:, 2] * f + h / 2
    c0, c1 = max(int(u.min()) - 1, 0), min(int(np.ceil(u.max())) + 1, w)
    r0, r1 = max(int(v.min()) - 1, 0), min(int(np.ceil(v.max())) + 1, h)
    if c0 >= c1 or r0 >= r1:
        return None
    return r0, r1, c0, c1


def _pairs(prims: list[Prim], boxes: list, w: int) -> tuple[np.ndarray, np.ndarray]:
    """(pixel, primitive) pairs for every pixel inside each primitive's screen rectangle."""
    pix, pid = [], []
    for i, (r0, r1, c0, c1) in enumerate(boxes):
        idx = (np.arange(r0, r1)[:, None] * w + np.arange(c0, c1)[None, :]).ravel()
        pix.append(idx)
        pid.append(np.full(idx.size, i, np.int32))
    return np.concatenate(pix), np.concatenate(pid)


def _intersect(kind: str, prims: list[Prim], pix: np.ndarray, pid: np.ndarray, o: np.ndarray,
               d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hit distance (inf = miss) and local-frame normal (3, P) of each (pixel, primitive) pair."""
    rt = np.stack([p.rot.T for p in prims]).astype(np.float32)[pid]  # (P, 3, 3) world -> local
    ol = np.stack([p.rot.T @ (o - p.center) for p in prims]).astype(np.float32)[pid].T  # (3, P)
    dw = d[:, pix]
    dl = np.einsum("pij,jp->ip", rt, dw)
    size = np.array([p.size + (0.0,) * (3 - len(p.size)) for p in prims], np.float32)[pid].T
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if kind == "sphere":
            r = size[0]
            a = (dl * dl).sum(0)
            b = (ol * dl).sum(0)
            disc = b * b - a * ((ol * ol).sum(0) - r * r)
            t = (-b - np.sqrt(disc)) / a
            t = np.where((disc >= 0) & (t > _EPS), t, np.inf)
            nl = (ol + t * dl) / r
        elif kind == "box":
            t1, t2 = (-size - ol) / dl, (size - ol) / dl
            tn, tf = np.minimum(t1, t2), np.maximum(t1, t2)
            axis = tn.argmax(0)
            tmin = np.take_along_axis(tn, axis[None], 0)[0]
            t = np.where((tmin <= tf.min(0)) & (tmin > _EPS), tmin, np.inf)
            nl = np.zeros_like(dl)
            nl[axis, np.arange(axis.size)] = -np.sign(np.take_along_axis(dl, axis[None], 0)[0])
        else:  # capped cylinder along local y: size = (r, half height)
            r, hh = size[0], size[1]
            a = dl[0] ** 2 + dl[2] ** 2
            b = ol[0] * dl[0] + ol[2] * dl[2]
            disc = b * b - a * (ol[0] ** 2 + ol[2] ** 2 - r * r)
            ts = (-b - np.sqrt(disc)) / a
            ts = np.where((disc >= 0) & (ts > _EPS) & (np.abs(ol[1] + ts * dl[1]) <= hh), ts, np.inf)
            tc = np.minimum((hh - ol[1]) / dl[1], (-hh - ol[1]) / dl[1])  # the entry cap plane
            xc, zc = ol[0] + tc * dl[0], ol[2] + tc * dl[2]
            tc = np.where((tc > _EPS) & (xc * xc + zc * zc <= r * r), tc, np.inf)
            t = np.minimum(ts, tc)
            side = ts <= tc
            nl = np.stack([np.where(side, (ol[0] + t * dl[0]) / r, 0.0), np.where(side, 0.0, -np.sign(dl[1])),
                           np.where(side, (ol[2] + t * dl[2]) / r, 0.0)])
    t = np.where(np.isfinite(t), t, np.inf).astype(np.float32)
    return t, nl.astype(np.float32)


def _room(scene: Scene, d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exit distance, plane index (0 floor, 1 ceiling, 2..5 walls +x, -x, +z, -z) and inward normal."""
    a, b, h = scene.room
    o = scene.cam_pos
    lo, hi = np.array([-a, 0.0, -b]), np.array([a, h, b])
    with np.errstate(divide="ignore", invalid="ignore"):
        pos = d > 0
        ts = np.where(pos, (hi[:, None] - o[:, None]) / d, (lo[:, None] - o[:, None]) / d)
    ts = np.where(np.isfinite(ts) & (ts > 0), ts, np.inf).astype(np.float32)
    ax = ts.argmin(0)
    t = np.take_along_axis(ts, ax[None], 0)[0]
    up = np.take_along_axis(pos, ax[None], 0)[0]
    plane = np.array([[3, 2], [0, 1], [5, 4]])[ax, up.astype(int)]
    n = np.zeros_like(d)
    n[ax, np.arange(ax.size)] = np.where(up, -1.0, 1.0)
    return t, plane, n


def edges_from_instances(inst: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """1 where a 4-neighbour belongs to another instance and lies no nearer (the occluding side): ~1 px."""
    edge = np.zeros(inst.shape, bool)
    for axis in (0, 1):
        a = [slice(None)] * 2
        b = [slice(None)] * 2
        a[axis], b[axis] = slice(None, -1), slice(1, None)
        diff = inst[tuple(a)] != inst[tuple(b)]
        nearer = depth[tuple(a)] <= depth[tuple(b)]
        edge[tuple(a)] |= diff & nearer
        edge[tuple(b)] |= diff & ~nearer
    return edge


def render(scene: Scene, h: int, w: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Ray-cast ``scene`` at h×w; returns uint8 image H×W×3 and the targets (see ``SyntheticDataset``)."""
    f = scene.focal * w
    xn, yn = _pixel_grid(h, w)
    rc = scene.cam_rot.astype(np.float32)
    d = (rc[:, :1] * (xn.ravel() / f) + rc[:, 1:2] * (yn.ravel() / f) + rc[:, 2:3]).astype(np.float32)
    depth, plane, n_world = _room(scene, d)
    prim_id = plane.astype(np.int32) - 6  # room planes -6..-1, primitives 0..
    hits_t, hits_pix, hits_gid, hits_n = [], [], [], []
    for kind in ("box", "sphere", "cyl"):
        sel = [(i, p, _screen_box(p, scene, f, h, w)) for i, p in enumerate(scene.prims) if p.kind == kind]
        sel = [s for s in sel if s[2] is not None]
        if not sel:
            continue
        prims = [s[1] for s in sel]
        pix, pid = _pairs(prims, [s[2] for s in sel], w)
        t, nl = _intersect(kind, prims, pix, pid, scene.cam_pos, d)
        hit = t < depth[pix]
        rot = np.stack([p.rot for p in prims]).astype(np.float32)[pid[hit]]
        hits_t.append(t[hit])
        hits_pix.append(pix[hit])
        hits_gid.append(np.array([s[0] for s in sel], np.int32)[pid[hit]])
        hits_n.append(np.einsum("pij,jp->ip", rot, nl[:, hit]))
    if hits_t:
        t, pix, gid, nw = (np.concatenate(x, axis=-1) for x in (hits_t, hits_pix, hits_gid, hits_n))
        np.minimum.at(depth, pix, t)
        win = t == depth[pix]
        prim_id[pix[win]] = gid[win]
        n_world[:, pix[win]] = nw[:, win]
    lut = lambda room_vals, attr: np.array(  # noqa: E731 - lookup table indexed by prim_id + 6
        list(room_vals) + [getattr(p, attr) for p in scene.prims], np.int32)[prim_id + 6].reshape(h, w)
    inst, semseg = lut(range(6), "inst"), lut([0, 1, 2, 2, 2, 2], "cls")
    depth, n_world = depth.reshape(h, w), n_world.reshape(3, h, w)
    normals_cv = np.tensordot(rc.T, n_world, axes=1)
    normals_cv /= np.linalg.norm(normals_cv, axis=0, keepdims=True)
    normals = np.stack([normals_cv[0], normals_cv[1], -normals_cv[2]], axis=-1)  # z towards the camera
    image = _shade(scene, rng, d.reshape(3, h, w), depth, inst, n_world)
    return {
        "image": image,
        "semseg": semseg.astype(np.uint8),
        "depth": depth.astype(np.float32),
        "normals": normals.astype(np.float32),
        "edge": edges_from_instances(inst, depth).astype(np.uint8),
        "saliency": np.isin(semseg, list(SALIENT)).astype(np.uint8),
        "human_parts": lut([0] * 6, "part").astype(np.uint8),
        "instance": inst.astype(np.int32),
    }


def _shade(scene: Scene, rng: np.random.Generator, d, depth, inst, n_world) -> np.ndarray:
    """Textured Lambertian shading (directional light + head light), colour cast, sensor noise, gamma."""
    n = scene.n_inst
    col1 = rng.uniform(0.08, 0.95, (n, 3))
    col2 = np.clip(col1 * rng.uniform(0.4, 1.4, (n, 1)) + rng.normal(0, 0.15, (n, 3)), 0, 1)
    kind = rng.integers(0, 4, n)  # 0 plain, 1 stripes, 2 checker, 3 blotches
    dirs = rng.normal(size=(n, 2, 3)) * rng.uniform(2.0, 12.0, (n, 1, 1))
    table = np.concatenate([col1, col2 - col1, dirs.reshape(n, 6), kind[:, None]], 1).astype(np.float32)
    g = table[inst].transpose(2, 0, 1)  # one gather: per-pixel texture parameters (13, H, W)
    pts = scene.cam_pos.astype(np.float32)[:, None, None] + depth[None] * d
    pa, pb = (pts * g[6:9]).sum(0), (pts * g[9:12]).sum(0)
    sa = np.sin(pa)
    k = g[12]
    mix = np.where(k == 1, sa > 0, 0.0) + np.where(k == 2, (np.floor(pa).astype(np.int32) + np.floor(pb).astype(np.int32)) & 1, 0)
    mix = mix + np.where(k == 3, 0.5 + 0.5 * sa * np.sin(pb), 0.0)
    light = rng.normal(size=3)
    light[1] = abs(light[1]) + 0.5
    light = (light / np.linalg.norm(light)).astype(np.float32)
    lam = np.clip(np.tensordot(light, n_world, axes=1), 0, None)
    head = np.clip(-(d * n_world).sum(0), 0, None) / (np.sqrt((d * d).sum(0)) * (1 + 0.05 * depth * depth))
    shade = (rng.uniform(0.15, 0.4) + rng.uniform(0.3, 0.7) * lam + rng.uniform(0.2, 0.6) * head).astype(np.float32)
    cast = rng.uniform(0.8, 1.2, 3).astype(np.float32)[:, None, None] * shade * 255
    img = (g[:3] + g[3:6] * mix.astype(np.float32)) * cast
    noise = np.float32(rng.uniform(1.0, 10.0) * 12 ** 0.5)  # uniform noise with std 1..10 grey levels
    img += (rng.random(img.shape, dtype=np.float32) - np.float32(0.5)) * noise
    img = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    lut = (255 * (np.arange(256) / 255) ** rng.uniform(0.8, 1.2) + 0.5).astype(np.uint8)
    return np.ascontiguousarray(lut[img].transpose(1, 2, 0))


__all__ = ["render", "edges_from_instances", "PARTS"]
