"""PSNR, SSIM and confidence intervals agree with scikit-image and hand computation."""

import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from worldlab.errors import WorldlabError
from worldlab.evaluate import mean_ci, psnr, ssim
from worldlab.evaluate.metrics import PSNR_CAP, difference_ci, t_quantile

torch.set_num_threads(2)


def skimage_ssim(a, b):
    return structural_similarity(
        a,
        b,
        channel_axis=-1,
        data_range=255,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
    )


def random_images(shape, seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.integers(0, 256, shape, dtype=np.uint8),
        rng.integers(0, 256, shape, dtype=np.uint8),
    )


def natural_image(height=64, width=64, seed=0):
    """Smooth colour gradients and a disc, plus sensor noise: closer to real frames than noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:height, :width] / max(height, width)
    image = np.stack([200 * x + 30, 150 * y + 50 * np.sin(6 * x), 120 + 80 * np.cos(4 * x * y)], -1)
    disc = (x - 0.6) ** 2 + (y - 0.4) ** 2 < 0.04
    image[disc] = (240, 60, 40)
    return np.clip(image + rng.normal(0, 6, image.shape), 0, 255).astype(np.uint8)


def blur(image):
    padded = np.pad(image.astype(np.float64), ((1, 1), (1, 1), (0, 0)), mode="edge")
    out = (
        sum(
            padded[dy : dy + image.shape[0], dx : dx + image.shape[1]]
            for dy in range(3)
            for dx in range(3)
        )
        / 9
    )
    return np.rint(out).astype(np.uint8)


@pytest.mark.parametrize("shape", [(64, 64, 3), (32, 32, 3), (17, 23, 1), (48, 40, 3)])
def test_psnr_matches_skimage(shape):
    a, b = random_images(shape)
    expected = peak_signal_noise_ratio(a, b, data_range=255)
    assert psnr(torch.from_numpy(a), torch.from_numpy(b)).item() == pytest.approx(
        expected, rel=1e-5
    )


def test_psnr_is_per_image_over_a_batch():
    a, b = random_images((2, 3, 32, 32, 3), seed=1)
    b[0, 1] = np.clip(a[0, 1].astype(int) + 3, 0, 255)  # one near-perfect prediction
    values = psnr(a, b)
    assert values.shape == (2, 3)
    for index in np.ndindex(2, 3):
        expected = peak_signal_noise_ratio(a[index], b[index], data_range=255)
        assert values[index].item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("shape", [(64, 64, 3), (32, 32, 3), (11, 11, 1), (40, 23, 3)])
def test_ssim_matches_skimage_on_random_images(shape):
    a, b = random_images(shape, seed=2)
    assert ssim(a, b).item() == pytest.approx(skimage_ssim(a, b), abs=1e-4)


def test_ssim_matches_skimage_on_natural_images():
    image = natural_image()
    noisy = np.clip(image + np.random.default_rng(3).normal(0, 20, image.shape), 0, 255)
    noisy = noisy.astype(np.uint8)
    shifted = np.roll(image, (2, 3), axis=(0, 1))
    for other in (noisy, shifted, blur(image), natural_image(seed=1)):
        assert ssim(image, other).item() == pytest.approx(skimage_ssim(image, other), abs=1e-4)


def test_ssim_is_batched():
    images = np.stack([natural_image(32, 32, seed=s) for s in range(4)]).reshape(2, 2, 32, 32, 3)
    others = np.stack([blur(i) for i in images.reshape(4, 32, 32, 3)]).reshape(images.shape)
    values = ssim(torch.from_numpy(images), torch.from_numpy(others))
    assert values.shape == (2, 2)
    for index in np.ndindex(2, 2):
        expected = skimage_ssim(images[index], others[index])
        assert values[index].item() == pytest.approx(expected, abs=1e-4)


def test_identical_images_score_perfect():
    image = natural_image()
    assert psnr(image, image).item() == PSNR_CAP
    assert math.isfinite(psnr(image, image).item())
    assert ssim(image, image).item() == pytest.approx(1.0, abs=1e-6)
    flat = np.full((32, 32, 3), 7, np.uint8)  # zero variance: still exactly similar
    assert ssim(flat, flat).item() == pytest.approx(1.0, abs=1e-6)


def test_bad_inputs_get_clear_errors():
    with pytest.raises(WorldlabError, match="same shape"):
        psnr(np.zeros((8, 8, 3)), np.zeros((8, 9, 3)))
    with pytest.raises(WorldlabError, match="at least 11"):
        ssim(np.zeros((8, 8, 3)), np.zeros((8, 8, 3)))


def test_mean_ci_matches_hand_computation():
    mean, half = mean_ci([1.0, 2.0, 3.0, 4.0, 5.0])
    # sd = sqrt(2.5), sem = sqrt(2.5 / 5), t(0.975, 4) = 2.776445
    assert mean == pytest.approx(3.0)
    assert half == pytest.approx(2.776445105 * math.sqrt(0.5), rel=1e-6)
    means, halves = mean_ci(np.array([[0.0, 10.0], [2.0, 10.0]]), axis=0)
    np.testing.assert_allclose(means, [1.0, 10.0])
    np.testing.assert_allclose(halves, [12.706204736 * 1.0, 0.0], rtol=1e-6)  # sem = 1, 0
    assert math.isnan(mean_ci([4.0])[1])  # one value: no interval


def test_difference_ci_is_welchs_interval():
    difference, half = difference_ci([1.0, 2.0, 3.0, 4.0, 5.0], [6.0, 8.0])
    # s1²/n1 = 2.5 / 5, s2²/n2 = 2 / 2; ν = 1.5² / (0.5² / 4 + 1² / 1) = 2.12 → 2 → t = 4.302653
    assert difference == pytest.approx(-4.0)
    assert half == pytest.approx(4.302652730 * math.sqrt(1.5), rel=1e-6)
    # Against scipy's Welch test, whose ν is fractional: ours is a little wider, never narrower.
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    first, second = rng.normal(0.6, 0.1, 8), rng.normal(0.45, 0.2, 7)
    low, high = stats.ttest_ind(first, second, equal_var=False).confidence_interval()
    difference, half = difference_ci(first, second)
    assert difference == pytest.approx((low + high) / 2)
    assert (high - low) / 2 <= half <= 1.1 * (high - low) / 2
    assert difference_ci([1.0, 1.0], [0.0, 0.0]) == (1.0, 0.0)
    with pytest.raises(WorldlabError, match="at least two values"):
        difference_ci([1.0], [1.0, 2.0])


def test_t_quantile_table_values():
    for df, expected in [
        (1, 12.706204736),
        (2, 4.302652730),
        (10, 2.228138852),
        (30, 2.042272456),
        (1000, 1.962339081),
    ]:
        assert t_quantile(0.975, df) == pytest.approx(expected, rel=1e-7)
    assert t_quantile(0.995, 5) == pytest.approx(4.032142984, rel=1e-7)
