"""The synthetic dataset: exact, mutually consistent targets; determinism; the Dataset wrapper."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mtbench.data import build_dataset, get_dataset_spec
from mtbench.data.synthetic import generate
from mtbench.data.synthetic_render import render
from mtbench.data.synthetic_scene import CLASSES, FIGURE, PARTS, SALIENT, sample_scene

SIZE = (64, 80)
N = 6
ALL = ["semseg", "depth", "normals", "edge", "saliency", "human_parts"]


@pytest.fixture(scope="module")
def scenes():
    """(scene, arrays) for N train scenes, rendered exactly as ``generate`` does."""
    out = []
    for i in range(N):
        rng = np.random.default_rng([0, 0, i])
        scene = sample_scene(rng, SIZE[1] / SIZE[0])
        out.append((scene, render(scene, *SIZE, rng)))
    return out


def _rays(scene, h, w):
    """Camera-frame (OpenCV) ray directions (x_n, y_n, 1) per pixel centre, H×W×3."""
    f = scene.focal * w
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    return np.stack([(u + 0.5 - w / 2) / f, (v + 0.5 - h / 2) / f, np.ones((h, w))], -1)


def test_generate_matches_render(scenes):
    a = generate(0, "train", 2, SIZE)
    for k, v in scenes[2][1].items():
        np.testing.assert_array_equal(a[k], v)


def test_shapes_ranges_and_classes(scenes):
    spec = get_dataset_spec("synthetic")
    assert len(CLASSES) == spec.num_classes["semseg"] == 10
    assert len(PARTS) == spec.num_classes["human_parts"] == 7
    seen = set()
    for _, s in scenes:
        assert s["image"].shape == (*SIZE, 3) and s["image"].dtype == np.uint8
        assert s["semseg"].max() < 10 and s["human_parts"].max() < 7
        assert set(np.unique(s["edge"])) <= {0, 1} and set(np.unique(s["saliency"])) <= {0, 1}
        seen |= set(np.unique(s["semseg"]).tolist())
    assert {0, 2} <= seen and len(seen) >= 6  # floor, walls and several object classes appear


def test_depth_positive_and_normals_unit_facing_camera(scenes):
    for scene, s in scenes:
        d, n = s["depth"], s["normals"].astype(np.float64)
        assert np.isfinite(d).all() and (d > 0).all()
        np.testing.assert_allclose(np.linalg.norm(n, axis=-1), 1.0, atol=1e-5)
        # convention x right, y down, z towards the camera: back to OpenCV (z forward) to test facing
        n_cv = n * [1, 1, -1]
        assert ((n_cv * _rays(scene, *SIZE)).sum(-1) < 1e-6).all()


def test_normals_agree_with_depth_on_planar_interiors(scenes):
    """Normals from the depth map's 3D points (cross product of neighbours) match the rendered normals."""
    angles = []
    for scene, s in scenes:
        pts = s["depth"].astype(np.float64)[..., None] * _rays(scene, *SIZE)
        dx, dy = pts[:-1, 1:] - pts[:-1, :-1], pts[1:, :-1] - pts[:-1, :-1]
        nd = np.cross(dx, dy)
        nd /= np.linalg.norm(nd, axis=-1, keepdims=True)
        nd = np.where((nd * pts[:-1, :-1]).sum(-1, keepdims=True) > 0, -nd, nd) * [1, 1, -1]  # face camera
        n, inst = s["normals"].astype(np.float64), s["instance"]
        same = (inst[:-1, :-1] == inst[:-1, 1:]) & (inst[:-1, :-1] == inst[1:, :-1])
        flat = ((n[:-1, :-1] * n[:-1, 1:]).sum(-1) > 0.99999) & ((n[:-1, :-1] * n[1:, :-1]).sum(-1) > 0.99999)
        planar = np.isin(s["semseg"][:-1, :-1], [0, 1, 2, 3, 7, 8, 9])
        m = same & flat & planar
        cos = np.clip((nd * n[:-1, :-1]).sum(-1), -1, 1)
        angles.append(np.degrees(np.arccos(cos[m])))
    angles = np.concatenate(angles)
    assert angles.size > 5000
    assert np.median(angles) < 0.5
    assert np.percentile(angles, 99) < 3.0


def test_edges_sit_on_discontinuities(scenes):
    for _, s in scenes:
        e, lab, d, n, inst = s["edge"].astype(bool), s["semseg"], s["depth"], s["normals"], s["instance"]
        assert 0 < e.mean() < 0.2
        disc = np.zeros_like(e)  # a 4-neighbour with another label, a depth jump > 3 % or a crease > 10 deg
        inst_change = np.zeros_like(e)
        for sl_a, sl_b in (
            ((slice(None, -1), slice(None)), (slice(1, None), slice(None))),
            ((slice(None), slice(None, -1)), (slice(None), slice(1, None))),
        ):
            jump = (
                (lab[sl_a] != lab[sl_b])
                | (np.abs(d[sl_a] - d[sl_b]) > 0.03 * d[sl_a])
                | ((n[sl_a] * n[sl_b]).sum(-1) < np.cos(np.radians(10)))
            )
            ch = inst[sl_a] != inst[sl_b]
            for sl in (sl_a, sl_b):
                disc[sl] |= jump
                inst_change[sl] |= ch
        assert inst_change[e].all()  # every edge pixel borders another instance
        assert disc[e].mean() > 0.95  # and almost always a label, depth or orientation discontinuity
        # every label change has an edge pixel on one of its two sides (boundaries are complete)
        ch = lab[:, 1:] != lab[:, :-1]
        assert (e[:, 1:] | e[:, :-1])[ch].all()
        # about 1 px wide: at most one edge pixel per 4-neighbour instance change (two-sided marking
        # would give up to twice as many), and at least half as many as changes
        pairs = int((inst[1:] != inst[:-1]).sum() + (inst[:, 1:] != inst[:, :-1]).sum())
        assert 0.5 * pairs <= e.sum() <= pairs


def test_saliency_and_parts_consistent_with_semseg(scenes):
    for _, s in scenes:
        np.testing.assert_array_equal(s["saliency"].astype(bool), np.isin(s["semseg"], list(SALIENT)))
        np.testing.assert_array_equal(s["human_parts"] > 0, s["semseg"] == FIGURE)
    assert any((s["human_parts"] > 0).any() for _, s in scenes)


def test_deterministic_and_distinct():
    a, b = generate(3, "train", 5, (32, 40)), generate(3, "train", 5, (32, 40))
    for k in a:
        assert a[k].tobytes() == b[k].tobytes()
    images = [generate(3, split, i, (32, 40))["image"].tobytes() for split in ("train", "val") for i in range(5)]
    assert len(set(images)) == len(images)


def test_dataset_train_and_eval_samples():
    ev = build_dataset("synthetic", "val", tasks=ALL, train=False, n=3, size=(32, 40), seed=1)
    assert len(ev) == 3
    s = ev[1]
    assert set(s) == set(ALL) | {"image", "meta"}
    assert s["meta"] == {"name": "synthetic_val_00001", "size": [32, 40]}
    raw = generate(1, "val", 1, (32, 40))
    torch.testing.assert_close(s["depth"][0], torch.from_numpy(raw["depth"]))
    assert s["semseg"].dtype == torch.int64 and s["image"].dtype == torch.float32
    tr = build_dataset("synthetic", "train", tasks=["semseg", "depth"], train=True, n=4, size=(32, 40), seed=1)
    first = [tr[i] for i in (2, 0, 1)]
    again = [tr[i] for i in (0, 1, 2)]
    torch.testing.assert_close(first[0]["image"], again[2]["image"])  # order does not matter
    assert set(first[0]) == {"image", "semseg", "depth", "meta"} and first[0]["image"].shape == (3, 32, 40)
    tr.set_epoch(1)
    assert not torch.equal(tr[2]["image"], first[0]["image"])  # augmentation varies with the epoch
    batch = next(iter(torch.utils.data.DataLoader(tr, batch_size=2)))
    assert batch["image"].shape == (2, 3, 32, 40) and batch["depth"].shape == (2, 1, 32, 40)


def test_dataset_rejects_unknown_task_and_option():
    from mtbench.errors import UsageError

    with pytest.raises(UsageError, match="Unknown task"):
        build_dataset("synthetic", "train", tasks=["semsge"], train=False, n=1)
    with pytest.raises(UsageError, match="Unknown dataset option"):
        build_dataset("synthetic", "train", tasks=["semseg"], train=False, n=1, colour=True)
    with pytest.raises(UsageError, match="needs a root"):
        build_dataset("nyud", "train", tasks=["semseg"], train=False)
