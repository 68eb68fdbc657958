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
