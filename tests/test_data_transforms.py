"""Joint transforms keep every target aligned with the image (flip, scale, rotation, crop/pad, jitter)."""

from __future__ import annotations

import math

import pytest
import torch

from mtbench.data.transforms import (
    EvalResize,
    PadTo,
    PhotometricJitter,
    RandomAffine,
    RandomCropPad,
    RandomHorizontalFlip,
    RandomScale,
    rotate,
)

H, W = 12, 16


def _coded_sample() -> dict[str, torch.Tensor]:
    """Every map encodes the pixel position, so alignment can be read back after a transform."""
    y, x = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    code = (y * W + x).float()
    n = torch.nn.functional.normalize(torch.stack([x.float() - 7.5, y.float() - 5.5, torch.full((H, W), 4.0)]), dim=0)
    return {
        "image": torch.stack([x / W, y / H, torch.full((H, W), 0.5)]).float(),
        "semseg": (code % 200).long(),
        "human_parts": (x % 7).long(),
        "depth": (code + 1)[None] / 10,
        "normals": n,
        "edge": (x == 3).float()[None],
        "saliency": (y > 5).float()[None],
    }


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_flip_mirrors_maps_and_negates_normals_x():
    s = _coded_sample()
    out = RandomHorizontalFlip(p=1.0)(_coded_sample(), _gen())
    for k in ("image", "semseg", "depth", "edge", "saliency", "human_parts"):
        torch.testing.assert_close(out[k], s[k].flip(-1))
    torch.testing.assert_close(out["normals"][0], -s["normals"][0].flip(-1))
    torch.testing.assert_close(out["normals"][1:], s["normals"][1:].flip(-1))
    assert RandomHorizontalFlip(p=0.0)(_coded_sample(), _gen())["semseg"].equal(s["semseg"])


def test_scale_divides_depth_and_keeps_labels_aligned():
    s = _coded_sample()
    out = RandomScale([2.0])(_coded_sample(), _gen())
    assert out["image"].shape == (3, 2 * H, 2 * W) and out["semseg"].shape == (2 * H, 2 * W)
    # nearest upsampling by 2: output pixel (2i+1, 2j+1) comes from input (i, j); depth halves
    torch.testing.assert_close(out["depth"][0, 1::2, 1::2], s["depth"][0] / 2)
    assert out["semseg"][1::2, 1::2].equal(s["semseg"])
    assert out["semseg"].dtype == torch.int64
    down = RandomScale((0.5, 0.5))(_coded_sample(), _gen())
    assert down["depth"].shape == (1, H // 2, W // 2)
    torch.testing.assert_close(down["depth"][0, 0, 0], s["depth"][0, 1, 1] * 2)  # nearest of a 2×2 block


def test_rotation_moves_content_and_normals_together():
    """Rotate 90° counter-clockwise: a feature right of the centre moves up; a normal pointing right
    (+x) points up (-y in the y-down convention); the rotated normals still point at the feature."""
    size = 15
    s = {
        "image": torch.zeros(3, size, size),
        "normals": torch.zeros(3, size, size),
        "semseg": torch.zeros(size, size, dtype=torch.long),
        "depth": torch.ones(1, size, size),
    }
    s["image"][:, 7, 11] = 1.0  # 4 px right of the centre (7, 7)
    s["semseg"][7, 11] = 5
    s["normals"][0] = 1.0  # every normal points right
    out = rotate(s, 90.0)
    r, c = divmod(int(out["image"][0].argmax()), size)
    assert (r, c) == (3, 7)  # 4 px above the centre
    assert out["semseg"][3, 7] == 5 and (out["semseg"] == 5).sum() == 1
    torch.testing.assert_close(out["normals"][:, 7, 7], torch.tensor([0.0, -1.0, 0.0]), atol=1e-6, rtol=0)


def test_rotation_small_angle_normals_and_fill_values():
    s = _coded_sample()
    out = rotate(_coded_sample(), 20.0)
    valid = out["normals"].norm(dim=0) > 0.5
    # in-plane angle of every valid rotated normal = original angle - 20° (counter-clockwise on screen,
    # y down), magnitude and z unchanged
    a0 = torch.atan2(s["normals"][1], s["normals"][0])
    a1 = torch.atan2(out["normals"][1], out["normals"][0])
    z_set = set(s["normals"][2].flatten().tolist())
    for v in out["normals"][2][valid].flatten().tolist()[:20]:
        assert min(abs(v - z) for z in z_set) < 1e-6
    # centre pixel samples itself, so its normal angle is exactly rotated
    d = (a1[5:7, 7:9] - (a0[5:7, 7:9] - math.radians(20))).remainder(2 * math.pi)
    assert torch.minimum(d, 2 * math.pi - d).max() < 1e-4
    corners = (0, 0), (0, W - 1), (H - 1, 0), (H - 1, W - 1)
    for r, c in corners:  # corners fall outside the rotated image: ignore / invalid values
        assert out["semseg"][r, c] == 255 and out["edge"][0, r, c] == 255 and out["saliency"][0, r, c] == 255
        assert out["depth"][0, r, c] == 0 and out["normals"][:, r, c].abs().sum() == 0


def test_crop_pad_keeps_alignment_and_pads_with_ignore():
    s = _coded_sample()
    out = RandomCropPad((8, 10))(_coded_sample(), _gen(3))
    code = out["semseg"][0, 0].item()
    y0, x0 = divmod(code, W)
    assert out["semseg"].equal(s["semseg"][y0 : y0 + 8, x0 : x0 + 10])
    torch.testing.assert_close(out["depth"], s["depth"][:, y0 : y0 + 8, x0 : x0 + 10])
    torch.testing.assert_close(out["image"], s["image"][:, y0 : y0 + 8, x0 : x0 + 10])
    padded = PadTo((20, 24))(_coded_sample())
    assert padded["image"].shape == (3, 20, 24)
    assert (padded["semseg"][H:] == 255).all() and (padded["semseg"][:, W:] == 255).all()
    assert (padded["depth"][:, H:] == 0).all() and (padded["normals"][:, :, W:] == 0).all()
    assert (padded["edge"][:, H:] == 255).all() and padded["semseg"][:H, :W].equal(s["semseg"])


@pytest.mark.parametrize("seed", [0, 1])
def test_jitter_changes_only_the_image(seed):
    s = _coded_sample()
    out = PhotometricJitter(0.3, 0.3, 0.3)(_coded_sample(), _gen(seed))
    assert not torch.equal(out["image"], s["image"])
    assert out["image"].min() >= 0 and out["image"].max() <= 1
    for k in ("semseg", "depth", "normals", "edge"):
        assert torch.equal(out[k], s[k])


def test_eval_resize_resizes_only_the_image_and_pads_targets_with_ignore():
    s = _coded_sample()
    out = EvalResize((24, 24), (16, 20))(_coded_sample())
    assert out["image"].shape == (3, 24, 24) and out["image"].min() >= 0 and out["image"].max() <= 1
    assert out["semseg"][:H, :W].equal(s["semseg"]) and (out["semseg"][H:] == 255).all()
    assert (out["semseg"][:, W:] == 255).all() and (out["human_parts"][:, W:] == 255).all()
    assert (out["edge"][:, H:] == 255).all() and (out["saliency"][:, :, W:] == 255).all()
    assert (out["depth"][:, H:] == 0).all() and (out["normals"][:, :, W:] == 0).all()
    torch.testing.assert_close(out["depth"][:, :H, :W], s["depth"])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_affine_draws_the_release_ranges(seed):
    """PASCAL: angle in [-20, 20], scale in [0.75, 1.25]; NYUD: scale one of {1, 1.2, 1.5}, no rotation
    (a constant depth map reveals the scale: depth / s)."""
    g = _gen(seed)
    for _ in range(5):
        d = RandomAffine(0.0, [1.0, 1.2, 1.5])({"image": torch.zeros(3, 8, 8), "depth": torch.full((1, 8, 8), 3.0)}, g)
        assert min(abs(3.0 / float(d["depth"][0, 4, 4]) - z) for z in (1.0, 1.2, 1.5)) < 1e-5
        p = RandomAffine(20.0, (0.75, 1.25))({"image": torch.zeros(3, 8, 8), "depth": torch.full((1, 8, 8), 3.0)}, g)
        assert 0.75 - 1e-5 <= 3.0 / float(p["depth"][0, 4, 4]) <= 1.25 + 1e-5
