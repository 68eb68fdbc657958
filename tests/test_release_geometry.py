"""The MTI-Net release's geometry for NYUD and PASCAL-Context (DESIGN.md "Reference training setup"):
one affine warp about (W/2, H/2) at the original size with fill 0, the whole image resized to the input
size, predictions resized back to the original size for scoring, and SEISM's edge ground truth."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from mtbench.data import build_dataset, get_dataset_spec
from mtbench.data.common import seism_edges
from mtbench.data.pascal_context import label_boundaries
from mtbench.data.transforms import EvalResize, FixedResize, affine_warp
from mtbench.engine.evaluate import evaluate, resize_prediction
from mtbench.metrics.boundary.evaluate import seg_to_boundary


def _square_sample(h: int = 40, w: int = 50, top: int = 10, left: int = 26, side: int = 9) -> dict:
    """A bright square object on black (centre x = 30, y = 14), the same square in every target."""
    sq = torch.zeros(h, w, dtype=torch.bool)
    sq[top : top + side, left : left + side] = True
    normals = torch.zeros(3, h, w)
    normals[0][sq] = 1.0
    normals[2][~sq] = 1.0  # valid everywhere: (1, 0, 0) on the square, (0, 0, 1) elsewhere
    return {
        "image": sq.float()[None].repeat(3, 1, 1),
        "semseg": sq.long() * 5,
        "human_parts": sq.long() * 3,
        "saliency": sq.float()[None],
        "edge": sq.float()[None],
        "depth": 1.0 + sq.float()[None],
        "normals": normals,
    }


def _centroid(mask: torch.Tensor) -> tuple[float, float]:
    ys, xs = torch.nonzero(mask, as_tuple=True)
    return float(xs.float().mean()), float(ys.float().mean())


def test_warp_moves_object_identically_in_image_and_every_target():
    """Rotate 20° and zoom 1.2 about (W/2, H/2) = (25, 20). The square's centre (x, y) = (30, 14) lands at
    c + 1.2 R (p - c), R = [[cos 20°, sin 20°], [-sin 20°, cos 20°]], p - c = (5, -6):
    R (p - c) = (5 cos - 6 sin, -5 sin - 6 cos) = (2.6464, -7.3483); × 1.2 = (3.1757, -8.8180);
    + c = (28.18, 11.18)."""
    out = affine_warp(_square_sample(), 20.0, 1.2)
    expected = (28.18, 11.18)
    for key, mask in (
        ("image", out["image"][0] > 0.5),
        ("semseg", out["semseg"] == 5),
        ("human_parts", out["human_parts"] == 3),
        ("saliency", out["saliency"][0] == 1),
        ("edge", out["edge"][0] == 1),
        ("depth", out["depth"][0] > 1.2),
        ("normals", out["normals"][0] > 0.5),
    ):
        x, y = _centroid(mask)
        assert abs(x - expected[0]) < 0.3 and abs(y - expected[1]) < 0.3, (key, x, y)
    # nearest-sampled targets agree pixel for pixel
    sq = out["semseg"] == 5
    for k in ("human_parts", "saliency", "edge"):
        assert torch.equal(out[k].squeeze(0) != 0, sq)
    # depth divided by the zoom; normals rotated with the image: (1, 0, 0) -> (cos 20°, -sin 20°, 0) at the
    # pixel nearest the centre (its bicubic taps all lie on the square)
    torch.testing.assert_close(out["depth"][0][sq], torch.full((int(sq.sum()),), 2.0 / 1.2))
    c, s = math.cos(math.radians(20)), math.sin(math.radians(20))
    torch.testing.assert_close(out["normals"][:, 11, 28], torch.tensor([c, -s, 0.0]), atol=1e-5, rtol=0)


def test_warp_fills_zero_outside_and_keeps_ignore_regions():
    """Zoom out 0.5 about c = (W/2, H/2) = (16, 12) of 24×32: output pixel p shows the input at 2 p - c, so
    rows y <= 4 and columns x <= 6 read outside (y: 2·4 - 12 = -4) and get the release's fill 0 in every
    map: black image, background semseg / human parts (not 255), not salient, no edge, depth 0 and zero
    normals (both invalid). The input's ignore (255) block stays 255 where it lands; a human-parts map
    that is all ignore (no person) stays all ignore."""
    h, w = 24, 32
    s = {
        "image": torch.full((3, h, w), 0.7),
        "semseg": torch.full((h, w), 4),
        "human_parts": torch.full((h, w), 255),
        "saliency": torch.ones(1, h, w),
        "edge": torch.ones(1, h, w),
        "depth": torch.full((1, h, w), 3.0),
        "normals": torch.tensor([0.0, 0.0, 1.0]).view(3, 1, 1).repeat(1, h, w),
    }
    s["semseg"][10:14, 14:18] = 255  # ignore around the centre: lands on rows 11..12, columns 15..16
    out = affine_warp(s, 0.0, 0.5)
    border = torch.zeros(h, w, dtype=torch.bool)
    border[:5], border[:, :7] = True, True
    for k in ("semseg", "saliency", "edge", "depth", "image", "normals"):
        m = out[k] if out[k].dim() == 2 else out[k].abs().sum(0)
        assert (m[border] == 0).all(), k
    assert (out["semseg"][11:13, 15:17] == 255).all() and (out["semseg"][8:10, 8:24] == 4).all()
    assert (out["human_parts"] == 255).all()
    torch.testing.assert_close(out["depth"][0, 12, 16], torch.tensor(6.0))  # 3 / 0.5


def test_warp_keeps_coded_image_and_labels_aligned():
    """Blocks of 10×10 pixels, each a distinct label and a distinct image value: after the warp, every
    pixel whose image value is a clean block value (all its bicubic taps inside one block) carries that
    block's label."""
    h, w = 60, 80
    y, x = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    block = (y // 10) * (w // 10) + (x // 10) + 1  # 1..48; 0 = fill
    s = {"image": (block.float() / 200)[None].repeat(3, 1, 1), "semseg": block.clone()}
    out = affine_warp(s, -13.0, 0.9)
    code = out["image"][0] * 200
    clean = ((code - code.round()).abs() < 1e-4) & (out["semseg"] > 0)
    assert clean.sum() > 0.15 * h * w
    assert torch.equal(code.round().long()[clean], out["semseg"][clean])


def test_rotation_by_90_moves_a_known_point_about_the_release_centre():
    """The release's centre is (W/2, H/2) in pixel-index coordinates (cv2.getRotationMatrix2D), half a
    pixel below and right of the geometric centre. 15×15: c = (7.5, 7.5). Pixel (row 7, col 11):
    p - c = (3.5, -0.5); rotating 90° counter-clockwise, R = [[0, 1], [-1, 0]]: (-0.5, -3.5); + c =
    (7.0, 4.0): row 4, col 7. A normal pointing right points up."""
    s = {
        "image": torch.zeros(3, 15, 15),
        "semseg": torch.zeros(15, 15, dtype=torch.long),
        "normals": torch.zeros(3, 15, 15),
    }
    s["semseg"][7, 11] = 9
    s["normals"][0] = 1.0
    out = affine_warp(s, 90.0, 1.0)
    assert torch.nonzero(out["semseg"] == 9).tolist() == [[4, 7]]
    torch.testing.assert_close(out["normals"][:, 7, 7], torch.tensor([0.0, -1.0, 0.0]), atol=1e-5, rtol=0)


def test_nyud_zoom_is_centred_and_divides_depth():
    """Zoom 1.5 about c = (W/2, H/2) = (8, 6) of a 12×16 map: output pixel p shows the input at
    c + (p - c) / 1.5, nearest (index floor(v + 0.5)): (x=14, y=6) -> (12, 6); (x=2, y=0) -> (4, 2);
    the centre (8, 6) stays. Depth is divided by 1.5."""
    h, w = 12, 16
    code = torch.arange(h * w).view(h, w)
    s = {"image": torch.zeros(3, h, w), "semseg": code.clone(), "depth": (code + 1).float()[None]}
    out = affine_warp(s, 0.0, 1.5)
    for (yo, xo), (yi, xi) in (((6, 14), (6, 12)), ((0, 2), (2, 4)), ((6, 8), (6, 8))):
        assert out["semseg"][yo, xo] == code[yi, xi]
        torch.testing.assert_close(out["depth"][0, yo, xo], (code[yi, xi] + 1).float() / 1.5)
    # every output label agrees with the depth at the same pixel (the two maps moved together)
    torch.testing.assert_close(out["depth"][0] * 1.5, (out["semseg"] + 1).float())


def test_fixed_resize_whole_image_and_renormalises_normals():
    s = {
        "image": torch.rand(3, 12, 16),
        "semseg": torch.arange(12)[:, None].repeat(1, 16),
        "normals": torch.tensor([0.6, 0.0, 0.8]).view(3, 1, 1).repeat(1, 12, 16) * 2,
    }
    s["normals"][:, :, :8] = 0  # invalid left half
    out = FixedResize((512, 512))(s)
    assert out["image"].shape == (3, 512, 512) and out["semseg"].shape == (512, 512)
    # aspect ratio not kept; labels nearest: row i of the output shows input row floor(i * 12 / 512)
    assert torch.equal(out["semseg"][:, 100], torch.arange(512) * 12 // 512)
    n = out["normals"].norm(dim=0)
    torch.testing.assert_close(n[:, 300:], torch.ones(512, 212))  # unit after renormalising
    assert (n[:, :200] == 0).all()  # invalid stays zero
    assert out["image"].min() >= 0 and out["image"].max() <= 1


def _save_png(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


@pytest.fixture
def pascal_sizes(tmp_path) -> Path:
    """PASCAL_MT layout, two val images of different sizes (12×16, 10×14): semseg 1 on the top half,
    2 below; salient left half; LabelMap 440 left of column 8, 1 from there."""
    from scipy.io import savemat

    root = tmp_path / "pascal"
    ids = {"q0": (12, 16), "q1": (10, 14)}
    for name, (h, w) in ids.items():
        rows, cols = np.arange(h)[:, None].repeat(w, 1), np.arange(w)[None].repeat(h, 0)
        _save_png(root / "JPEGImages" / f"{name}.jpg", np.full((h, w, 3), 90, np.uint8))
        _save_png(root / "semseg" / "VOC12" / f"{name}.png", np.where(rows < h // 2, 1, 2).astype(np.uint8))
        _save_png(root / "sal_distill" / f"{name}.png", np.where(cols < w // 2, 255, 0).astype(np.uint8))
        (root / "pascal-context" / "trainval").mkdir(parents=True, exist_ok=True)
        savemat(
            root / "pascal-context" / "trainval" / f"{name}.mat",
            {"LabelMap": np.where(cols < 8, 440, 1).astype(np.uint16)},
        )
    for split in ("train", "val"):
        (root / "ImageSets" / "Context").mkdir(parents=True, exist_ok=True)
        (root / "ImageSets" / "Context" / f"{split}.txt").write_text("\n".join(ids) + "\n")
    return root


def test_pascal_whole_image_resized_to_512_for_training_and_testing(pascal_sizes):
    tasks = ["semseg", "saliency", "edge"]
    train = build_dataset(
        "pascal_context", "train", root=str(pascal_sizes), tasks=tasks, train=True, scales=(1.0, 1.0), rotation=0.0
    )
    s = train[1]  # 10×14 -> 512×512 (aspect not kept); labels nearest: row i from floor(i * 10 / 512)
    assert all(s[k].shape[-2:] == (512, 512) for k in ("image", "semseg", "saliency", "edge"))
    assert torch.equal(s["semseg"][:, 0], torch.where(torch.arange(512) * 10 // 512 < 5, 1, 2))
    val = build_dataset("pascal_context", "val", root=str(pascal_sizes), tasks=tasks, train=False)
    v = val[1]  # model input 512×512, targets at the original 10×14, padded to the 512×512 canvas
    assert v["image"].shape == (3, 512, 512) and v["meta"]["size"] == [10, 14]
    assert v["semseg"].shape == (512, 512) and (v["semseg"][10:] == 255).all() and (v["semseg"][:, 14:] == 255).all()
    assert torch.equal(v["semseg"][:10, :14], torch.where(torch.arange(10)[:, None] < 5, 1, 2).expand(10, 14))
    with pytest.raises(Exception, match="larger than the evaluation canvas"):
        EvalResize((8, 8), (9, 13))(dict(val.load(1)))


class _KnownMaps(torch.nn.Module):
    """Outputs fixed maps at the input size: semseg class 1 above y = H/2 and 2 below; saliency logit +10
    left of x = W/2 and -10 right of it; depth 1 + x / W."""

    def __init__(self, num_classes: int = 21):
        super().__init__()
        self.num_classes = num_classes
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        b, _, h, w = image.shape
        y = torch.arange(h).view(1, 1, h, 1).expand(b, 1, h, w)
        x = torch.arange(w).view(1, 1, 1, w).expand(b, 1, h, w).float()
        sem = torch.zeros(b, self.num_classes, h, w)
        sem[:, 1:2][y < h // 2] = 5.0
        sem[:, 2:3][y >= h // 2] = 5.0
        return {
            "semseg": sem,
            "saliency": torch.where(x < w // 2, 10.0, -10.0),
            "depth": 1.0 + x / w,
            "edge": torch.zeros(b, 1, h, w),
        }


def test_evaluation_resizes_predictions_back_to_each_original_size(pascal_sizes):
    """A batch of two images of different sizes, input 512×512: semseg labels resized back nearest
    (row i <- floor(i * 512 / H): 12 rows -> 6 above, 10 rows -> 5 above; the targets' halves),
    saliency bilinear (columns left of W/2 stay > 0.99); both then match the original-size targets
    exactly. Compared without the resize (512 rows against a 12-row target on the canvas) they would not."""
    spec = get_dataset_spec("pascal_context")
    val = build_dataset("pascal_context", "val", root=str(pascal_sizes), tasks=["semseg", "saliency"], train=False)
    loader = DataLoader(val, batch_size=2)
    res = evaluate(_KnownMaps(), loader, ["semseg", "saliency"], spec, torch.device("cpu")).metrics
    assert res["semseg"]["pixel_acc"] == 100.0 and res["semseg"]["mIoU_nonempty"] == 100.0
    assert res["semseg"]["IoU_1"] == 100.0 and res["semseg"]["IoU_2"] == 100.0
    assert res["saliency"]["mIoU"] == pytest.approx(100.0)
    # the resize rule itself: labels nearest, floor(i * in / out)
    lab = torch.where(torch.arange(512) < 256, 1, 2).view(1, 512, 1).expand(1, 512, 3)
    assert resize_prediction(lab, (10, 3))[0, :, 0].tolist() == [1] * 5 + [2] * 5


def _nyud_root(tmp_path: Path, h: int = 12, w: int = 16) -> tuple[Path, np.ndarray]:
    root = tmp_path / "nyud"
    depth = np.random.default_rng(3).uniform(0.5, 5.0, (h, w)).astype(np.float32)
    depth[0, :3] = 0  # invalid
    _save_png(root / "images" / "v0.jpg", np.full((h, w, 3), 120, np.uint8))
    (root / "depth").mkdir()
    np.save(root / "depth" / "v0.npy", depth)
    (root / "gt_sets").mkdir()
    for split in ("train", "val"):
        (root / "gt_sets" / f"{split}.txt").write_text("v0\n")
    return root, depth


def test_nyud_depth_scored_at_the_original_size(tmp_path):
    """NYUD input 480×640 (the release's test size); the model's depth 1 + x / 640 comes back to the
    original 16 columns bilinearly: column j reads x = (j + 0.5) * 40 - 0.5, depth 1 + x / 640 (a linear
    map is reproduced exactly). RMSE over the valid original pixels, computed here in NumPy."""
    root, depth = _nyud_root(tmp_path)
    val = build_dataset("nyud", "val", root=str(root), tasks=["depth"], train=False)
    assert val[0]["image"].shape == (3, 480, 640)
    res = evaluate(
        _KnownMaps(), DataLoader(val, batch_size=1), ["depth"], get_dataset_spec("nyud"), torch.device("cpu")
    ).metrics
    pred = 1.0 + ((np.arange(16) + 0.5) * 40 - 0.5) / 640
    valid = depth > 0
    rmse = np.sqrt(np.mean((np.broadcast_to(pred, depth.shape)[valid] - depth[valid]) ** 2))
    assert res["depth"]["rmse"] == pytest.approx(rmse, rel=1e-5)


def test_nyud_train_zoom_through_the_loader_divides_depth(tmp_path):
    root, depth = _nyud_root(tmp_path)
    ds = build_dataset("nyud", "train", root=str(root), tasks=["depth"], train=True, size=(12, 16), scales=[1.5])
    d = ds[0]["depth"][0].numpy()
    src = depth if np.isclose(d[6, 8] * 1.5, depth[6, 8]) else depth[:, ::-1]  # undo a random flip
    # centre pixel (x=8, y=6) maps to itself; (x=14, y=6) shows (12, 6); both divided by the zoom
    assert d[6, 8] * 1.5 == pytest.approx(src[6, 8]) and d[6, 14] * 1.5 == pytest.approx(src[6, 12])


def test_edge_eval_ground_truth_is_seism_thinned_one_sided_boundary():
    """A 3×3 region of label 2 (rows and columns 1..3) in label 0. SEISM's seg2bmap marks a pixel whose
    east, south or south-east neighbour differs: the 4×4 ring rows/columns 0..3 (outside on the top and
    left, inside on the bottom and right); bwmorph 'thin' then removes its four corners. The training
    target (the release's two-sided boundary, thinned) is a different set of pixels."""
    lab = np.zeros((7, 8), np.int64)
    lab[1:4, 1:4] = 2
    ring = np.zeros((7, 8), bool)
    ring[0, 0:4] = ring[3, 0:4] = ring[0:4, 0] = ring[0:4, 3] = True
    np.testing.assert_array_equal(seg_to_boundary(lab), ring)
    expected = ring.copy()
    expected[[0, 0, 3, 3], [0, 3, 0, 3]] = False
    np.testing.assert_array_equal(seism_edges(lab), expected.astype(np.float32))
    assert not np.array_equal(label_boundaries(lab), seism_edges(lab))
