"""``mtbench affinity``: linear CKA against its closed form, then task-feature similarity of tiny runs."""

from __future__ import annotations

import math

import pytest
import torch

from mtbench.analysis.cka import center, cka_matrix, linear_cka


def _rand(n: int, p: int, seed: int) -> torch.Tensor:
    return torch.randn(n, p, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_cka_of_identical_features_is_one():
    x = _rand(50, 7, 0)
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)


def test_cka_of_uncorrelated_centred_features_is_zero():
    # disjoint supports: X lives on samples 0..3, Y on samples 4..7, each block with zero column sums, so both
    # are already centred and their cross-covariance YᵀX is exactly zero
    x = torch.zeros(8, 2, dtype=torch.float64)
    y = torch.zeros(8, 3, dtype=torch.float64)
    x[:4] = torch.tensor([[1.0, 2.0], [-1.0, 0.0], [2.0, -1.0], [-2.0, -1.0]])
    y[4:] = torch.tensor([[1.0, 0.0, 3.0], [0.0, 1.0, -1.0], [-1.0, 0.0, -1.0], [0.0, -1.0, -1.0]])
    assert torch.equal(center(x), x) and torch.equal(center(y), y)
    assert float((y.T @ x).abs().max()) == 0.0
    assert linear_cka(x, y) == 0.0


def test_cka_is_invariant_to_orthogonal_transforms_and_isotropic_scaling():
    x, y = _rand(60, 5, 1), _rand(60, 4, 2)
    y = y + 0.5 * x[:, :4]  # correlated, so the value is well away from 0
    q, _ = torch.linalg.qr(_rand(5, 5, 3))
    assert torch.allclose(q.T @ q, torch.eye(5, dtype=torch.float64))
    base = linear_cka(x, y)
    assert 0.1 < base < 0.99
    assert linear_cka(x @ q, y) == pytest.approx(base, abs=1e-12)
    assert linear_cka(3.7 * x, 0.02 * y) == pytest.approx(base, abs=1e-12)
    assert linear_cka(x + 5.0, y - 2.0) == pytest.approx(base, abs=1e-12)  # centring removes offsets
    # not invariant to a general (non-orthogonal) linear map
    a = torch.diag(torch.tensor([1.0, 10.0, 0.1, 1.0, 1.0], dtype=torch.float64))
    assert abs(linear_cka(x @ a, y) - base) > 1e-3


def test_cka_small_case_by_hand():
    # x = (1, 2, 3, 4) centred: (-1.5, -0.5, 0.5, 1.5), |x|² = 5
    # y = (1, 0, 0, 1) centred: (0.5, -0.5, -0.5, 0.5), |y|² = 1, xᵀy = -0.75 + 0.25 - 0.25 + 0.75 = 0
    # y2 = (0, 0, 1, 1) centred: (-0.5, -0.5, 0.5, 0.5), |y2|² = 1, xᵀy2 = 0.75 + 0.25 + 0.25 + 0.75 = 2
    # one channel each: CKA = (xᵀy)² / (|x|² |y|²), so 0 and 4/5
    x = torch.tensor([[1.0], [2.0], [3.0], [4.0]])
    assert linear_cka(x, torch.tensor([[1.0], [0.0], [0.0], [1.0]])) == 0.0
    assert linear_cka(x, torch.tensor([[0.0], [0.0], [1.0], [1.0]])) == pytest.approx(0.8, abs=1e-12)
    # two channels on one side: X = [x, y2], Y = x: ||YᵀX||² = 5² + 2² = 29; ||XᵀX||_F = ||[[5,2],[2,1]]|| =
    # sqrt(34); ||YᵀY|| = 5 -> 29 / (5 sqrt(34))
    x2 = torch.tensor([[1.0, 0.0], [2.0, 0.0], [3.0, 1.0], [4.0, 1.0]])
    assert linear_cka(x2, x) == pytest.approx(29 / (5 * math.sqrt(34)), abs=1e-12)


def test_cka_matrix_is_symmetric_with_unit_diagonal():
    feats = [_rand(40, 6, 10), _rand(40, 3, 11), _rand(40, 9, 12)]
    feats[1] = feats[1] + feats[0][:, :3]
    m = cka_matrix(feats)
    for i in range(3):
        assert m[i][i] == pytest.approx(1.0, abs=1e-12)
        for j in range(3):
            assert m[i][j] == m[j][i] and 0.0 <= m[i][j] <= 1.0
            assert m[i][j] == pytest.approx(linear_cka(feats[i], feats[j]), abs=1e-15)
    assert linear_cka(feats[0], feats[1]) == pytest.approx(linear_cka(feats[1], feats[0]), abs=1e-15)


def test_cka_of_constant_features_is_nan_and_mismatched_samples_fail():
    assert math.isnan(linear_cka(torch.ones(5, 2), _rand(5, 2, 0)))
    with pytest.raises(ValueError, match="same samples"):
        linear_cka(_rand(5, 2, 0), _rand(6, 2, 0))


# ---- end to end: tiny runs, then `mtbench affinity` --------------------------------------------------------

TINY = {"data.n_train": 16, "data.n_val": 8, "data.train_size": "[64,96]"}
MTINET_KEYS = [f"{stage} 1/{s}" for stage in ("initial", "distilled") for s in (32, 16, 8, 4)] + ["head 1/4"]


def _run(root, model: str, tasks: str):
    from conftest import tiny_overrides

    from mtbench.cli import main
    from mtbench.reporting.results import load_records

    main(["run", "--model", model, "--tasks", tasks, *sum((["--set", s] for s in tiny_overrides(root, **TINY)), [])])
    (record,) = load_records(root / "results")
    return root / "runs" / record.id, record


@pytest.fixture(scope="module")
def mtinet_run(module_tmp):
    return _run(module_tmp("mtinet"), "mtinet", "semseg,depth")


def _check_matrices(data: dict) -> None:
    for key, entry in data["scales"].items():
        m, k = entry["cka"], len(entry["tasks"])
        assert len(m) == k and all(len(row) == k for row in m), key
        for i in range(k):
            assert m[i][i] == pytest.approx(1.0, abs=1e-6), key
            for j in range(k):
                assert m[i][j] == m[j][i] and 0.0 <= m[i][j] <= 1.0, key


def _png_size(path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def test_affinity_of_mtinet_writes_every_scale_before_and_after_distillation(mtinet_run, tmp_path, capsys):
    import json

    from mtbench.analysis.affinity import affinity, affinity_figure
    from mtbench.cli import main

    run_dir, record = mtinet_run
    capsys.readouterr()
    main(["affinity", str(run_dir), "--images", "4", "--out", str(tmp_path / "aff")])
    out = capsys.readouterr().out
    data = json.loads((tmp_path / "aff" / "affinity.json").read_text())
    assert data["run"] == record.id and data["model"] == "mtinet" and data["images"] == [0, 1, 2, 3]
    assert data["split"] == "val" and data["positions_per_image"] == 256 and "spatial positions" in data["features"]
    # 4 scales of initial task features (main + auxiliary tasks), the same 4 after distillation (main tasks),
    # and the heads' classifier inputs
    assert list(data["scales"]) == MTINET_KEYS
    for key, entry in data["scales"].items():
        assert entry["tasks"] == (
            ["semseg", "depth", "normals", "edge"] if key.startswith("initial") else ["semseg", "depth"]
        )
    hrnet18 = {32: 144, 16: 72, 8: 36, 4: 18}
    for s, c in hrnet18.items():  # 64×96 input: (64/s)·(96/s) positions per image, all kept (<= 256)
        entry = data["scales"][f"distilled 1/{s}"]
        assert entry["channels"] == {"semseg": c, "depth": c}
        assert entry["samples"] == 4 * min(256, (64 // s) * (96 // s))
    assert data["scales"]["head 1/4"]["channels"] == {"semseg": 270, "depth": 270}
    assert "note" in data["scales"]["initial 1/32"] and "note" not in data["scales"]["initial 1/4"]
    _check_matrices(data)
    width, height = _png_size(tmp_path / "aff" / "affinity.png")
    assert width > height  # 3 rows (initial, distilled, head) of up to 4 heatmaps
    # printed: the change across scales per task pair, coarse to fine, matching the JSON
    d = data["scales"]
    want = "distilled semseg–depth: " + " → ".join(
        f"{d[f'distilled 1/{s}']['cka'][0][1]:.2f} (1/{s})" for s in (32, 16, 8, 4)
    )
    assert want in out and "initial normals–edge: " in out and "wrote " in out
    # the library call gives the same matrices (deterministic), and the figure one heatmap per entry
    again = affinity(run_dir, images=4)
    assert again.to_json()["scales"] == data["scales"]
    fig = affinity_figure(again)
    assert len([ax for ax in fig.axes if ax.images]) == len(MTINET_KEYS)
    only = affinity(run_dir, images=2, scales="1/4")
    assert [e.key for e in only.entries] == ["initial 1/4", "distilled 1/4", "head 1/4"]
    assert only.images == [0, 1] and only.entries[0].samples == 2 * 256


def test_affinity_of_mtl_compares_the_heads_features_and_reads_a_record(tmp_path, capsys):
    import json

    from mtbench.cli import main

    run_dir, record = _run(tmp_path, "mtl", "semseg,depth")
    (path,) = (tmp_path / "results").rglob(f"{record.id}.json")
    capsys.readouterr()
    main(["affinity", str(path), "--images", "4", "--out", str(tmp_path / "aff")])  # a record names its run
    data = json.loads((tmp_path / "aff" / "affinity.json").read_text())
    assert data["run"] == record.id and data["model"] == "mtl"
    assert list(data["scales"]) == ["head 1/4"] and data["scales"]["head 1/4"]["tasks"] == ["semseg", "depth"]
    _check_matrices(data)
    assert data["scales"]["head 1/4"]["cka"][0][1] < 0.999  # task-specific features, not the shared input
    assert "head semseg–depth: " in capsys.readouterr().out
    _png_size(tmp_path / "aff" / "affinity.png")


def test_affinity_of_a_single_task_run_is_a_one_line_error(tmp_path, capsys):
    from conftest import one_line_error

    run_dir, _ = _run(tmp_path, "single_task", "semseg")
    one_line_error(["affinity", str(run_dir), "--images", "2"], capsys, 1, r"one-task model \(single_task: semseg\)")
    assert not (run_dir / "affinity").exists()


def test_affinity_bad_scales_and_paths_are_usage_errors(mtinet_run, tmp_path, capsys):
    from conftest import one_line_error

    run_dir, _ = mtinet_run
    one_line_error(["affinity", str(run_dir), "--scales", "1/2"], capsys, 2, r"--scales 1/2: this model has initial")
    one_line_error(["affinity", str(tmp_path / "nope")], capsys, 2, "not a run folder or a record JSON")
