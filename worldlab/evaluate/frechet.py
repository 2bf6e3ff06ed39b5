"""Distances between two sets of features: Fréchet distance (FID/FVD) and KID.

Both compare the distribution of features of real frames (or clips) with that of
imagined ones; which network gives the features is the caller's business (see
``perceptual.py``). Everything is computed in numpy float64.

- Fréchet distance (Heusel et al., 2017): fit a Gaussian to each set and take the
  2-Wasserstein distance between them,
  ``|μ1 − μ2|² + tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^{1/2})``.
- Kernel Inception Distance (Bińkowski et al., 2018): the unbiased estimate of the
  squared maximum mean discrepancy under the cubic polynomial kernel
  ``k(a, b) = (a·b / d + 1)³``, averaged over random subsets. Unlike FD it is unbiased
  in the number of samples, so it can come out slightly negative for equal distributions.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from worldlab.errors import WorldlabError

SQRTM_EPS = 1e-6  # added to both covariances' diagonals when Σ1 Σ2 is too singular for sqrtm
SQRTM_IMAG_TOL = 1e-3  # largest imaginary part on sqrtm's diagonal taken as rounding noise
KID_SUBSETS = 100  # as torch-fidelity and clean-fid
KID_SUBSET_SIZE = 1000


def _as_features(features: Any, name: str) -> np.ndarray:
    """``features`` (numpy or torch) as a float64 ``[N, D]`` array with at least 2 rows."""
    if hasattr(features, "detach"):
        features = features.detach().cpu().numpy()
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise WorldlabError(
            f"{name} must be a [N, D] array of N feature vectors, got shape {list(features.shape)}"
        )
    if features.shape[0] < 2:
        raise WorldlabError(
            f"{name} has {features.shape[0]} feature vector(s); a distribution distance "
            "needs at least 2 (and hundreds for a stable value)"
        )
    if not np.isfinite(features).all():
        raise WorldlabError(f"{name} contains NaN or infinite values")
    return features


def feature_statistics(features: Any) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``[D]`` and sample covariance ``[D, D]`` (ddof=1, as pytorch-fid) of ``[N, D]``."""
    features = _as_features(features, "features")
    return features.mean(0), np.atleast_2d(np.cov(features, rowvar=False))


# -- tr((Σ1 Σ2)^{1/2}) -------------------------------------------------------------------
def _trace_sqrt_product_eigh(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """``tr((Σ1 Σ2)^{1/2})`` through the symmetric form ``tr((Σ1^{1/2} Σ2 Σ1^{1/2})^{1/2})``.

    ``Σ1 Σ2`` is similar to the positive semi-definite ``Σ1^{1/2} Σ2 Σ1^{1/2}``, so both
    have the same non-negative eigenvalues; two symmetric eigen-decompositions give them
    stably, and eigenvalues below zero (rounding on singular covariances) are clipped.
    """
    values, vectors = np.linalg.eigh(sigma1)
    root1 = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
    middle = root1 @ sigma2 @ root1
    eigenvalues = np.linalg.eigvalsh(0.5 * (middle + middle.T))
    return float(np.sqrt(np.clip(eigenvalues, 0, None)).sum())


def _trace_sqrt_product_scipy(sigma1: np.ndarray, sigma2: np.ndarray) -> float | None:
    """``tr((Σ1 Σ2)^{1/2})`` with ``scipy.linalg.sqrtm``, as pytorch-fid computes it.

    A non-finite root is retried with ``SQRTM_EPS`` on both diagonals; a root whose
    diagonal keeps imaginary parts above ``SQRTM_IMAG_TOL`` returns None, so that the
    caller falls back to the eigen-decomposition.
    """
    from scipy.linalg import sqrtm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "matrix is singular": the result is checked below
        root = sqrtm(sigma1 @ sigma2)
        if not np.isfinite(root).all():
            offset = SQRTM_EPS * np.eye(sigma1.shape[0])
            root = sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if not np.isfinite(root).all():
        return None
    if np.iscomplexobj(root):
        if np.abs(np.diagonal(root).imag).max() > SQRTM_IMAG_TOL:
            return None
        root = root.real
    return float(np.trace(root))


def _scipy_available() -> bool:
    try:
        import scipy.linalg  # noqa: F401
    except ImportError:
        return False
    return True


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """``tr((Σ1 Σ2)^{1/2})`` for covariance matrices: scipy's ``sqrtm`` when installed (the
    reference implementations use it), else or when it fails, the symmetric eigen form."""
    if _scipy_available():
        trace = _trace_sqrt_product_scipy(sigma1, sigma2)
        if trace is not None:
            return trace
    return _trace_sqrt_product_eigh(sigma1, sigma2)


# -- Fréchet distance --------------------------------------------------------------------
def frechet_distance(mu1: Any, sigma1: Any, mu2: Any, sigma2: Any) -> float:
    """Fréchet distance between ``N(mu1, sigma1)`` and ``N(mu2, sigma2)``.

    ``mu: [D]``, ``sigma: [D, D]`` →
    ``|mu1 − mu2|² + tr(sigma1 + sigma2 − 2 (sigma1 sigma2)^{1/2})``, a float ≥ 0 (tiny
    negative rounding is clipped to 0).
    """
    mu1, mu2 = (np.atleast_1d(np.asarray(mu, np.float64)) for mu in (mu1, mu2))
    sigma1, sigma2 = (np.atleast_2d(np.asarray(sigma, np.float64)) for sigma in (sigma1, sigma2))
    dim = mu1.shape[0]
    shapes = [array.shape for array in (mu1, sigma1, mu2, sigma2)]
    if shapes != [(dim,), (dim, dim), (dim,), (dim, dim)]:
        raise WorldlabError(
            "frechet_distance needs means [D] and covariances [D, D] of one dimension D, "
            f"got shapes {', '.join(str(list(shape)) for shape in shapes)}"
        )
    mean_term = float(np.square(mu1 - mu2).sum())
    trace_term = float(np.trace(sigma1) + np.trace(sigma2)) - 2 * trace_sqrt_product(sigma1, sigma2)
    return max(mean_term + trace_term, 0.0)


def frechet_from_features(x: Any, y: Any) -> float:
    """Fréchet distance between Gaussians fitted to features ``x: [N, D]`` and ``y: [M, D]``."""
    x, y = _as_features(x, "x"), _as_features(y, "y")
    _same_dimension(x, y, "frechet_from_features")
    return frechet_distance(*feature_statistics(x), *feature_statistics(y))


def _same_dimension(x: np.ndarray, y: np.ndarray, name: str) -> None:
    if x.shape[1] != y.shape[1]:
        raise WorldlabError(
            f"{name}: both feature sets need the same dimension, got {x.shape[1]} and {y.shape[1]}"
        )


# -- Kernel Inception Distance -----------------------------------------------------------
def _polynomial_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``k(a, b) = (a·b / d + 1)³`` for all pairs: ``[m, d], [n, d]`` → ``[m, n]``."""
    return (a @ b.T / a.shape[1] + 1) ** 3


def _unbiased_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² between two equal-sized samples (diagonal terms k(x_i, x_i) left out)."""
    m = x.shape[0]
    k_xx, k_yy, k_xy = _polynomial_kernel(x, x), _polynomial_kernel(y, y), _polynomial_kernel(x, y)
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2 * k_xy.mean())


def kernel_inception_distance(
    x: Any,
    y: Any,
    subsets: int = KID_SUBSETS,
    subset_size: int = KID_SUBSET_SIZE,
    seed: int = 0,
) -> tuple[float, float]:
    """KID between features ``x: [N, D]`` and ``y: [M, D]``: ``(mean, std)`` over subsets.

    Each of ``subsets`` rounds draws ``min(subset_size, N, M)`` rows of each set without
    replacement (seeded by ``seed``, so the result is deterministic) and computes the
    unbiased MMD²; the mean is KID, the std (ddof=0, as torch-fidelity) its spread.
    """
    x, y = _as_features(x, "x"), _as_features(y, "y")
    _same_dimension(x, y, "kernel_inception_distance")
    if subsets < 1 or subset_size < 2:
        raise WorldlabError(
            f"KID needs subsets ≥ 1 and subset_size ≥ 2, got {subsets} and {subset_size}"
        )
    size = min(subset_size, x.shape[0], y.shape[0])
    rng = np.random.default_rng(seed)
    values = [
        _unbiased_mmd2(
            x[rng.choice(x.shape[0], size, replace=False)],
            y[rng.choice(y.shape[0], size, replace=False)],
        )
        for _ in range(subsets)
    ]
    return float(np.mean(values)), float(np.std(values))
