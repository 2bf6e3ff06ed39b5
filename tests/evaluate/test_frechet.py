"""Fréchet distance and KID agree with closed forms and hand computation."""

import numpy as np
import pytest
import torch

from worldlab.errors import WorldlabError
from worldlab.evaluate import frechet
from worldlab.evaluate.frechet import (
    feature_statistics,
    frechet_distance,
    frechet_from_features,
    kernel_inception_distance,
)


@pytest.fixture(params=["scipy", "eigh"])
def sqrt_method(request, monkeypatch):
    """Run a test with scipy's sqrtm and again with the eigen-decomposition fallback."""
    if request.param == "scipy":
        pytest.importorskip("scipy")
    else:
        monkeypatch.setattr(frechet, "_scipy_available", lambda: False)
    return request.param


def commuting_gaussians(dim=5, seed=0):
    """Two Gaussians whose covariances share eigenvectors, and FD computed by hand.

    With ``S1 = Q diag(a) Qᵀ`` and ``S2 = Q diag(b) Qᵀ``, ``(S1 S2)^{1/2} = Q diag(√(ab)) Qᵀ``,
    so ``tr(S1 + S2 − 2 (S1 S2)^{1/2}) = Σ (√a − √b)²``.
    """
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    a, b = rng.uniform(0.2, 3.0, dim), rng.uniform(0.2, 3.0, dim)
    m1, m2 = rng.normal(size=dim), rng.normal(size=dim)
    s1, s2 = q @ np.diag(a) @ q.T, q @ np.diag(b) @ q.T
    expected = np.sum((m1 - m2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    return m1, s1, m2, s2, expected


def test_diagonal_covariances_match_closed_form(sqrt_method):
    m1, m2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.5])
    a, b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    expected = np.sum((m1 - m2) ** 2) + np.sum(a + b - 2 * np.sqrt(a * b))  # = 7.25 + 5
    assert frechet_distance(m1, np.diag(a), m2, np.diag(b)) == pytest.approx(expected, rel=1e-9)
    assert expected == pytest.approx(12.25)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_commuting_covariances_match_closed_form(sqrt_method, seed):
    m1, s1, m2, s2, expected = commuting_gaussians(seed=seed)
    assert frechet_distance(m1, s1, m2, s2) == pytest.approx(expected, rel=1e-7)


def test_distance_to_itself_is_zero(sqrt_method):
    features = np.random.default_rng(0).normal(size=(500, 8)) @ np.diag(np.arange(1, 9))
    assert frechet_from_features(features, features) == pytest.approx(0.0, abs=1e-6)


def test_singular_covariances_stay_finite(sqrt_method):
    """Fewer samples than dimensions (rank-deficient covariances, as with 400-d I3D logits
    from a few dozen clips) still give a finite, non-negative distance, 0 for x vs x."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(20, 64)), rng.normal(size=(20, 64)) + 1.0
    assert frechet_from_features(x, x) == pytest.approx(0.0, abs=1e-4)
    distance = frechet_from_features(x, y)
    assert np.isfinite(distance) and distance > 64 * 0.9  # the mean shift alone is 64


def test_scipy_and_eigh_agree_on_random_covariances(monkeypatch):
    pytest.importorskip("scipy")
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(300, 10)), rng.normal(size=(300, 10)) @ rng.normal(size=(10, 10))
    with_scipy = frechet_from_features(x, y)
    monkeypatch.setattr(frechet, "_scipy_available", lambda: False)
    assert frechet_from_features(x, y) == pytest.approx(with_scipy, rel=1e-8)


def test_large_samples_approach_closed_form():
    m1, s1, m2, s2, expected = commuting_gaussians(dim=4, seed=5)
    rng = np.random.default_rng(0)
    x = rng.multivariate_normal(m1, s1, size=40_000)
    y = rng.multivariate_normal(m2, s2, size=40_000)
    assert frechet_from_features(x, y) == pytest.approx(expected, rel=0.03, abs=0.02)


def test_features_may_be_torch_tensors():
    x = torch.randn(50, 3, generator=torch.Generator().manual_seed(0))
    assert frechet_from_features(x, x + 2) == pytest.approx(12.0, rel=1e-6)
    mean, covariance = feature_statistics(x)
    assert mean.shape == (3,) and covariance.shape == (3, 3) and covariance.dtype == np.float64


def test_bad_inputs_get_clear_errors():
    with pytest.raises(WorldlabError, match="same dimension"):
        frechet_from_features(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(WorldlabError, match="at least 2"):
        frechet_from_features(np.zeros((1, 3)), np.zeros((5, 3)))
    with pytest.raises(WorldlabError, match=r"\[N, D\]"):
        kernel_inception_distance(np.zeros(5), np.zeros(5))
    with pytest.raises(WorldlabError, match="one dimension D"):
        frechet_distance(np.zeros(2), np.eye(3), np.zeros(2), np.eye(2))


# -- KID --------------------------------------------------------------------------------
def hand_mmd2(x, y):
    """Unbiased MMD² with the cubic polynomial kernel, written out as sums over pairs."""
    d, m = x.shape[1], x.shape[0]

    def k(a, b):
        return (a @ b / d + 1) ** 3

    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_kid_matches_hand_computation():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(12, 4)), rng.normal(size=(12, 4)) + 0.3
    # One subset of all rows: a permutation of each set, which MMD² does not see.
    mean, std = kernel_inception_distance(x, y, subsets=1, subset_size=12)
    assert mean == pytest.approx(hand_mmd2(x, y), rel=1e-10)
    assert std == 0.0


def test_kid_of_identical_distributions_is_near_zero_and_grows_with_shift():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(1000, 16)), rng.normal(size=(1000, 16))
    same, same_std = kernel_inception_distance(x, y, subsets=20, subset_size=500)
    assert abs(same) < 3 * same_std + 1e-3  # unbiased: may be slightly negative
    small, _ = kernel_inception_distance(x, y + 0.25, subsets=20, subset_size=500)
    large, _ = kernel_inception_distance(x, y + 1.0, subsets=20, subset_size=500)
    assert small > abs(same) + 3 * same_std
    assert large > 4 * small


def test_kid_is_deterministic_under_seed():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(200, 8)), rng.normal(size=(150, 8))
    first = kernel_inception_distance(x, y, subsets=10, subset_size=100, seed=7)
    assert kernel_inception_distance(x, y, subsets=10, subset_size=100, seed=7) == first
    assert kernel_inception_distance(x, y, subsets=10, subset_size=100, seed=8) != first


def test_a_failed_scipy_root_falls_back_to_the_eigen_form(monkeypatch):
    """scipy's root can keep large imaginary parts on ill-conditioned products: then the
    symmetric eigen form, exact for covariances, gives the answer."""
    m1, s1, m2, s2, expected = commuting_gaussians(seed=4)
    monkeypatch.setattr(frechet, "_trace_sqrt_product_scipy", lambda sigma1, sigma2: None)
    assert frechet_distance(m1, s1, m2, s2) == pytest.approx(expected, rel=1e-7)
