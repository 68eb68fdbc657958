"""NYUD and PASCAL-Context loaders on tiny datasets written to tmp_path; `mtbench data check` messages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from _datasets import PASCAL_SIZE, save_png, write_pascal_context
from PIL import Image

from mtbench.cli import main
from mtbench.data import build_dataset, check_dataset, write_synthetic
from mtbench.data.common import MEAN, STD
from mtbench.data.pascal_context import NORMALS_VALID_LABELS
from mtbench.errors import DataError
from mtbench.metrics.boundary.evaluate import seg_to_boundary
from mtbench.metrics.boundary.thin import thin

H, W = PASCAL_SIZE  # the NYUD fixture below uses the same size
NYUD_TASKS = ["semseg", "depth", "normals", "edge"]


def _nyud_sample(i: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(i)
    n = rng.normal(size=(H, W, 3))
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    n[0, 0] = 0  # an invalid pixel
    return {
        "image": rng.integers(0, 256, (H, W, 3), dtype=np.uint8),
        "semseg": (np.arange(H * W).reshape(H, W) % 41).astype(np.uint8),  # 0..40 as stored
        "depth": rng.uniform(0.5, 9.0, (H, W)).astype(np.float32),
        "normals": n.astype(np.float32),
        "edge": (np.arange(W)[None].repeat(H, 0) == 4).astype(np.float32),
    }


@pytest.fixture
def nyud_root(tmp_path) -> Path:
    root = tmp_path / "nyud"
    for split, ids in {"train": ["a0", "a1", "a2"], "val": ["b0", "b1"]}.items():
        for i, name in enumerate(ids):
            s = _nyud_sample(i + (10 if split == "val" else 0))
            save_png(root / "images" / f"{name}.jpg", s["image"])
            save_png(root / "segmentation" / f"{name}.png", s["semseg"])
            for t in ("depth", "normals", "edge"):
                (root / t).mkdir(exist_ok=True)
                np.save(root / t / f"{name}.npy", s[t])
        (root / "gt_sets").mkdir(exist_ok=True)
        (root / "gt_sets" / f"{split}.txt").write_text("\n".join(ids) + "\n")
    return root


def test_nyud_loader_values(nyud_root):
    # evaluation input at the images' own size: nothing resized, nothing padded
    ds = build_dataset("nyud", "train", root=str(nyud_root), tasks=NYUD_TASKS, train=False, size=(H, W))
    assert len(ds) == 3
    s, raw = ds[1], _nyud_sample(1)
    assert s["meta"] == {"name": "a1", "size": [H, W]}
    lab = raw["semseg"].astype(np.int64)
    np.testing.assert_array_equal(s["semseg"].numpy(), np.where(lab == 0, 255, lab - 1))  # 0 ignored, 1..40 -> 0..39
    np.testing.assert_allclose(s["depth"][0].numpy(), raw["depth"])
    np.testing.assert_allclose(s["normals"].numpy(), raw["normals"].transpose(2, 0, 1))
    # evaluation edge target = SEISM's ground truth of the edge map: seg2bmap of the column-4 line marks
    # columns 3 and 4 (one-sided rule: a pixel whose east neighbour differs), thinned to one pixel wide
    e = s["edge"][0].numpy()
    assert set(np.unique(e)) == {0.0, 1.0} and e[:, 3:5].sum() == e.sum() >= H - 1
    assert (e[:, 3] + e[:, 4] <= 1).all()
    np.testing.assert_array_equal(e, thin(seg_to_boundary(raw["edge"] > 0.5)))
    train_edge = build_dataset(
        "nyud", "train", root=str(nyud_root), tasks=["edge"], train=True, size=(H, W), scales=[1.0]
    )[1]["edge"][0].numpy()
    assert train_edge.sum() == H and ((train_edge[:, 4] == 1).all() or (train_edge[:, W - 5] == 1).all())  # as stored
    img = np.asarray(Image.open(nyud_root / "images" / "a1.jpg").convert("RGB")).transpose(2, 0, 1) / 255.0
    torch.testing.assert_close(s["image"], ((torch.from_numpy(img).float() - MEAN) / STD))
    only = build_dataset("nyud", "val", root=str(nyud_root), tasks=["depth"], train=False, n=1, size=(H, W))
    assert len(only) == 1 and set(only[0]) == {"image", "depth", "meta"}


def test_nyud_eval_default_resizes_input_keeps_targets(nyud_root):
    """Default evaluation (the release's 480×640 test size): the image is resized to 480×640 for the
    model; targets stay at the original size, padded to the 480×640 canvas with ignore values."""
    s, raw = build_dataset("nyud", "val", root=str(nyud_root), tasks=NYUD_TASKS, train=False)[0], _nyud_sample(10)
    assert s["meta"]["size"] == [H, W] and s["image"].shape == (3, 480, 640)
    assert s["semseg"].shape == (480, 640) and (s["semseg"][H:] == 255).all() and (s["semseg"][:, W:] == 255).all()
    lab = raw["semseg"].astype(np.int64)
    np.testing.assert_array_equal(s["semseg"][:H, :W].numpy(), np.where(lab == 0, 255, lab - 1))
    np.testing.assert_allclose(s["depth"][0, :H, :W].numpy(), raw["depth"])
    assert (s["depth"][:, H:] == 0).all() and (s["normals"][:, :, W:] == 0).all() and (s["edge"][:, H:] == 255).all()


def test_nyud_train_transform_resizes_whole_image_and_keeps_alignment(nyud_root):
    """The release's NYUD training geometry without zoom: flip, then the whole image resized to the size
    (labels and depth nearest: source index floor(i * in / out)); every target stays aligned."""
    ds = build_dataset("nyud", "train", root=str(nyud_root), tasks=NYUD_TASKS, train=True, size=(8, 10), scales=[1.0])
    s = ds[0]
    assert s["image"].shape == (3, 8, 10) and s["semseg"].shape == (8, 10) and s["depth"].shape == (1, 8, 10)
    raw = _nyud_sample(0)
    rows, cols = (np.arange(8) * H) // 8, (np.arange(10) * W) // 10
    flipped = not np.allclose(s["depth"][0].numpy(), raw["depth"][rows][:, cols])
    depth_src, sem_src = (raw["depth"][:, ::-1], raw["semseg"][:, ::-1]) if flipped else (raw["depth"], raw["semseg"])
    np.testing.assert_allclose(s["depth"][0].numpy(), depth_src[rows][:, cols])
    sem = sem_src[rows][:, cols].astype(np.int64)
    np.testing.assert_array_equal(s["semseg"].numpy(), np.where(sem == 0, 255, sem - 1))
    n = s["normals"].numpy()
    valid = np.linalg.norm(n, axis=0) > 0
    np.testing.assert_allclose(np.linalg.norm(n, axis=0)[valid], 1.0, atol=1e-5)  # renormalised after resizing


@pytest.fixture
def pascal_root(tmp_path) -> Path:
    return write_pascal_context(tmp_path / "pascal")


PASCAL_TASKS = ["semseg", "human_parts", "saliency", "normals", "edge"]


def test_pascal_loader_values_and_eval_padding(pascal_root):
    """Evaluation: the image resized to the input size (here 24×24) for the model; targets at the original
    12×16, padded to the canvas (here 16×20) with each task's ignore value."""
    ds = build_dataset(
        "pascal_context",
        "train",
        root=str(pascal_root),
        tasks=PASCAL_TASKS,
        train=False,
        size=(24, 24),
        eval_canvas=(16, 20),
    )
    s = ds[0]
    assert s["meta"] == {"name": "p0", "size": [H, W]} and s["image"].shape == (3, 24, 24)
    assert s["semseg"].shape == (16, 20) and s["normals"].shape == (3, 16, 20)
    rows = np.arange(H)[:, None].repeat(W, 1)
    np.testing.assert_array_equal(s["semseg"][:H, :W].numpy(), rows % 21)
    assert (s["semseg"][H:] == 255).all() and (s["human_parts"][:, W:] == 255).all()
    parts = s["human_parts"][:H, :W].numpy()
    assert (parts[:3] == 1).all() and (parts[3:6] == 3).all() and (parts[10:] == 6).all() and (parts[6:10] == 0).all()
    np.testing.assert_array_equal(s["saliency"][0, :H, :W].numpy(), (rows > 5).astype(np.float32))
    n = s["normals"][:, :H, :W].numpy()
    assert 440 in NORMALS_VALID_LABELS and 1 not in NORMALS_VALID_LABELS
    np.testing.assert_allclose(
        n[:, :, :8], np.array([1 / 255, 1 / 255, 1.0])[:, None, None].repeat(H, 1).repeat(8, 2), atol=1e-6
    )
    assert (n[:, :, 8:] == 0).all()  # label 1 is not a NYUD class: distilled normals invalid there
    e = s["edge"][0, :H, :W].numpy()
    # evaluation edge = SEISM's ground truth: seg2bmap of the LabelMap (label 440 in columns 0..7, 1 from
    # column 8) marks only column 7 (one-sided: the east neighbour differs), thinned: column 7, every row
    assert (e[:, 7] == 1).all() and e.sum() == H and (s["edge"][0, H:] == 255).all()
    # the training target is the release's two-sided boundary band (columns 7 and 8), thinned to one line
    t = build_dataset(
        "pascal_context",
        "train",
        root=str(pascal_root),
        tasks=["edge"],
        train=True,
        size=(H, W),
        scales=(1.0, 1.0),
        rotation=0.0,
    )[0]["edge"][0].numpy()
    t = t if t[:, 7:9].sum() == t.sum() else t[:, ::-1]  # undo a random flip
    assert t[:, 7:9].sum() == t.sum() >= H - 1 and (t[:, 7] + t[:, 8] <= 1).all()
    no_person = ds[1]  # p1 has no annotated person: human parts ignored
    assert (no_person["human_parts"] == 255).all()


def test_pascal_train_transform(pascal_root):
    ds = build_dataset("pascal_context", "train", root=str(pascal_root), tasks=PASCAL_TASKS, train=True, size=(10, 10))
    s = ds[0]
    assert s["image"].shape == (3, 10, 10) and s["normals"].shape == (3, 10, 10)
    # renormalised as the release, n / (|n| + eps): unit length except where bicubic interpolation next to
    # invalid (zero) normals left a vector of a few eps
    norm = s["normals"].norm(dim=0)
    assert norm.max() <= 1 + 1e-6 and (norm > 1 - 1e-5).sum() >= 0.7 * (norm > 0).sum() > 0
    # the release fills 0 outside the warped image: semseg background, never the ignore value 255 (the
    # fixture has no 255 labels); the person-free image's human parts stay all ignored
    assert set(s["semseg"].unique().tolist()) <= set(range(21))
    for i in range(4):
        ds.set_epoch(i)
        assert (ds[1]["human_parts"] == 255).all()


def test_check_reports_ok(nyud_root, pascal_root):
    r = check_dataset("nyud", nyud_root)
    assert r.ok and r.listed == {"train": 3, "val": 2} and r.readable == {"train": 3, "val": 2}
    assert r.classes_seen["train"]["semseg"] == list(range(40))
    r = check_dataset("pascal_context", pascal_root)
    assert r.ok, r.problems
    assert r.classes_seen["train"]["human_parts"] == [0, 1, 3, 6]


def test_check_messages_and_loader_raises_the_same(nyud_root, tmp_path):
    with pytest.raises(DataError, match=r"Dataset root '.*missing' does not exist"):
        check_dataset("nyud", tmp_path / "missing")
    (nyud_root / "images" / "a1.jpg").write_bytes(b"not a jpeg")
    save_png(nyud_root / "segmentation" / "a2.png", np.full((H, W), 45, np.uint8))
    (nyud_root / "depth" / "b1.npy").unlink()
    r = check_dataset("nyud", nyud_root)
    assert not r.ok and len(r.problems) == 3
    corrupt, out_of_range, missing = r.problems
    assert corrupt.startswith("Corrupt or unreadable image") and "a1.jpg" in corrupt
    assert out_of_range.startswith("Label out of range") and "a2.png" in out_of_range and "[44]" in out_of_range
    assert missing == (
        f"Split file '{nyud_root / 'gt_sets' / 'val.txt'}' names sample 'b1' but "
        f"'{nyud_root / 'depth' / 'b1.npy'}' is missing."
    )
    ds = build_dataset("nyud", "train", root=str(nyud_root), tasks=NYUD_TASKS, train=True, size=(8, 8))
    for i, msg in ((1, corrupt), (2, out_of_range)):
        with pytest.raises(DataError) as e:
            ds[i]
        assert str(e.value) == msg
    with pytest.raises(DataError) as e:
        build_dataset("nyud", "val", root=str(nyud_root), tasks=NYUD_TASKS, train=False)
    assert str(e.value) == missing
    with pytest.raises(DataError, match="Missing split file"):
        build_dataset("pascal_context", "val", root=str(nyud_root), tasks=["semseg"], train=False)


def test_bad_depth_and_normals_are_reported(nyud_root):
    d = np.load(nyud_root / "depth" / "a0.npy")
    d[2, 3] = np.nan
    np.save(nyud_root / "depth" / "a0.npy", d)
    np.save(nyud_root / "normals" / "b0.npy", np.full((H, W, 3), 0.9, np.float32))
    np.save(nyud_root / "edge" / "a1.npy", np.zeros((H + 1, W), np.float32))
    problems = check_dataset("nyud", nyud_root).problems
    assert len(problems) == 3
    assert "non-finite" in problems[0] and "a0.npy" in problems[0]
    assert problems[1].startswith("Size mismatch in") and "a1.npy" in problems[1]
    assert "not unit length" in problems[2] and "b0.npy" in problems[2]


def _cli(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as e:
        return int(e.code or 0)
    return 0


def test_cli_synth_then_check(tmp_path, capsys):
    out = tmp_path / "syn"
    assert _cli(["data", "synth", "--out", str(out), "--n", "4", "--size", "24x32"]) == 0
    assert (out / "contact_sheet.png").is_file()
    assert (out / "gt_sets" / "val.txt").read_text().split() == ["synthetic_val_00000"]
    assert _cli(["data", "check", str(out), "--dataset", "synthetic"]) == 0
    assert "train" in capsys.readouterr().out
    (out / "human_parts" / "synthetic_train_00001.png").write_bytes(b"junk")
    assert _cli(["data", "check", str(out), "--dataset", "synthetic"]) == 1
    err = capsys.readouterr().err
    assert "synthetic_train_00001.png" in err and "1 problem(s)" in err
    assert _cli(["data", "check", str(tmp_path / "nope"), "--dataset", "nyud"]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert _cli(["data", "synth", "--out", str(out), "--size", "24by32"]) == 2


def test_synth_folder_reads_back_as_generated(tmp_path):
    write_synthetic(tmp_path / "s", n=3, size=(24, 32), seed=5)
    disk = build_dataset(
        "synthetic",
        "train",
        root=str(tmp_path / "s"),
        tasks=["semseg", "depth", "human_parts", "saliency", "normals", "edge"],
        train=False,
    )
    mem = build_dataset(
        "synthetic",
        "train",
        tasks=["semseg", "depth", "human_parts", "saliency", "normals", "edge"],
        train=False,
        n=2,
        size=(24, 32),
        seed=5,
    )
    assert len(disk) == 2
    for k in ("semseg", "depth", "human_parts", "saliency", "normals", "edge"):
        torch.testing.assert_close(disk[1][k], mem[1][k])
    diff = ((disk[1]["image"] - mem[1]["image"]) * STD).abs().mean()  # in [0, 1] units: JPEG loss only
    assert diff < 0.03
