"""FVD, FID and LPIPS from user-supplied TorchScript files, skipped without them, and the
offline encoder's FD/KID: trained fast, cached, and telling real frames from noise."""

import hashlib
import json
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from worldlab.errors import WorldlabError
from worldlab.evaluate import frame_encoder
from worldlab.evaluate.frame_encoder import ENCODER_STEPS, encoder_features, load_or_train_encoder
from worldlab.evaluate.frechet import frechet_from_features
from worldlab.evaluate.perceptual import perceptual_metrics

ENV_VARS = ("WORLDLAB_I3D", "WORLDLAB_INCEPTION", "WORLDLAB_LPIPS")


@pytest.fixture(autouse=True)
def one_thread_and_no_user_weights(monkeypatch):
    """One torch thread: on a shared 2-core machine, two OpenMP threads next to another
    busy process run ten times slower. And no weights from the user's environment."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    yield
    torch.set_num_threads(threads)


def moving_discs(sequences=6, length=16, size=32, seed=0):
    """uint8 [N, T, size, size, 3]: a coloured disc gliding over a plain background."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:size, :size]
    clips = np.empty((sequences, length, size, size, 3), np.uint8)
    for n in range(sequences):
        background, colour = rng.integers(20, 90, 3), rng.integers(150, 256, 3)
        (cx, cy), (vx, vy) = rng.uniform(6, size - 6, 2), rng.uniform(-1, 1, 2)
        for t in range(length):
            clips[n, t] = background
            clips[n, t][(x - cx - vx * t) ** 2 + (y - cy - vy * t) ** 2 < 16] = colour
    return clips


def brighter(frames, amount=60):
    return np.clip(frames.astype(np.int16) + amount, 0, 255).astype(np.uint8)


# -- TorchScript stand-ins with the documented contracts ----------------------------------
class TinyI3D(nn.Module):
    """[N, 3, 16, 224, 224] in [-1, 1] → [N, 32] (400 logits in FVD code: a smaller D keeps
    the test's matrix square roots fast)."""

    def __init__(self):
        super().__init__()
        self.pool = nn.AvgPool3d((1, 8, 8))
        self.conv = nn.Conv3d(3, 16, 3, stride=2)
        self.head = nn.Linear(16, 32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[1:] == (3, 16, 224, 224), "I3D input must be [N, 3, 16, 224, 224]"
        assert bool(x.min() >= -1) and bool(x.max() <= 1), "I3D input must lie in [-1, 1]"
        return self.head(torch.relu(self.conv(self.pool(x))).mean((2, 3, 4)))


class TinyInception(nn.Module):
    """[N, 3, 299, 299] in [0, 1] → [N, 64] (2048 in pytorch-fid's pool3, see above)."""

    def __init__(self):
        super().__init__()
        self.pool = nn.AvgPool2d(13)
        self.conv = nn.Conv2d(3, 64, 3, stride=2)
        self.head = nn.Linear(64, 64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[1:] == (3, 299, 299), "Inception input must be [N, 3, 299, 299]"
        assert bool(x.min() >= 0) and bool(x.max() <= 1), "Inception input must lie in [0, 1]"
        return torch.relu(self.head(torch.relu(self.conv(self.pool(x))).mean((2, 3))))


class TinyLPIPS(nn.Module):
    """Two [N, 3, H, W] in [-1, 1], H, W ≥ 64 → [N, 1, 1, 1], as lpips.LPIPS returns."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 5, stride=4)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        assert x.shape == y.shape and x.shape[2] >= 64 and x.shape[3] >= 64
        assert bool(x.min() >= -1) and bool(y.max() <= 1), "LPIPS input must lie in [-1, 1]"
        return (self.conv(x) - self.conv(y)).square().mean((1, 2, 3), keepdim=True)


class ChannelMeans(nn.Module):
    """Features = mean of each channel: exposes the input range the metric feeds."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(2).mean(2)


def save_script(make_module, path):
    """Script ``make_module()``, built under a fixed seed, into the file ``path``."""
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        torch.manual_seed(0)
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit, as users export
        torch.jit.script(make_module().eval()).save(str(path))
    return path


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory):
    root = tmp_path_factory.mktemp("weights")
    return {
        "i3d": save_script(TinyI3D, root / "i3d.pt"),
        "inception": save_script(TinyInception, root / "inception.pt"),
        "lpips": save_script(TinyLPIPS, root / "lpips.pt"),
    }


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    """Shared by the tests of one module: the encoder trains once per set of real frames."""
    return tmp_path_factory.mktemp("encoders")


@pytest.fixture
def quick_encoder(monkeypatch):
    """Tests about the detectors train the offline encoder for a few steps only."""
    monkeypatch.setattr(frame_encoder, "ENCODER_STEPS", 30)


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- detectors -----------------------------------------------------------------------------
def test_without_weights_each_detector_metric_is_skipped_with_what_to_supply(
    encoder_dir, quick_encoder
):
    real = moving_discs()
    result = perceptual_metrics(real, brighter(real), encoder_dir=encoder_dir)
    assert result["fvd"] == {
        "skipped": "no I3D weights: set WORLDLAB_I3D=/path/to/i3d_torchscript.pt "
        "(TorchScript; see docs/metrics.md)"
    }
    assert "WORLDLAB_INCEPTION=" in result["fid"]["skipped"]
    assert "WORLDLAB_LPIPS=" in result["lpips"]["skipped"]
    assert result["encoder_fd"]["value"] > 0  # the offline metric is always there
    assert result["protocol"] == {
        "clip_length": 16,
        "num_clips": 6,
        "num_sequences": 6,
        "frames_per_sequence": 16,
        "num_frames": 96,
        "frame_size": [32, 32],
        "fvd_input": [16, 224, 224],
        "fid_input": [299, 299],
        "lpips_input": [64, 64],
        "encoder_input": [64, 64],
        "resize": "torch bilinear, align_corners=False, antialias when shrinking",
    }
    json.dumps(result)


def test_fvd_fid_lpips_from_files_record_sha256_and_grow_with_a_shift(
    stand_ins, encoder_dir, quick_encoder, monkeypatch
):
    monkeypatch.setenv("WORLDLAB_I3D", str(stand_ins["i3d"]))  # one by env var, two by argument
    weights = {"inception": stand_ins["inception"], "lpips": str(stand_ins["lpips"])}
    real = moving_discs()
    same = perceptual_metrics(real, real, weights=weights, encoder_dir=encoder_dir)
    shifted = perceptual_metrics(real, brighter(real), weights=weights, encoder_dir=encoder_dir)
    json.dumps(shifted)
    for metric, key in (("fvd", "i3d"), ("fid", "inception"), ("lpips", "lpips")):
        assert same[metric]["sha256"] == sha256(stand_ins[key])
        assert same[metric]["weights"] == str(stand_ins[key])
        assert same[metric]["value"] == pytest.approx(0.0, abs=1e-6)
        assert shifted[metric]["value"] > 1e-3
    assert len(shifted["lpips"]["per_step"]) == 16
    assert same["encoder_fd"]["value"] == pytest.approx(0.0, abs=1e-6)
    assert shifted["encoder_fd"]["value"] > 1.0
    assert shifted["encoder_kid"]["value"] > same["encoder_kid"]["value"]


def test_frames_reach_the_detectors_in_the_documented_ranges(tmp_path, encoder_dir, quick_encoder):
    """Black vs white frames through channel-mean 'detectors': I3D sees -1 and 1, so FVD
    = 3 · 2² = 12; Inception sees 0 and 1, so FID = 3."""
    means = save_script(ChannelMeans, tmp_path / "means.pt")
    black = np.zeros((2, 16, 8, 8, 3), np.uint8)
    white = np.full_like(black, 255)
    weights = {"i3d": means, "inception": means}
    result = perceptual_metrics(black, white, weights=weights, encoder_dir=encoder_dir)
    assert result["fvd"]["value"] == pytest.approx(12.0, abs=1e-9)
    assert result["fid"]["value"] == pytest.approx(3.0, abs=1e-9)


def test_junk_or_missing_weights_get_errors_naming_the_file(tmp_path):
    real = moving_discs(sequences=2)
    junk = tmp_path / "i3d_download.pt"
    junk.write_bytes(b"<html>not found</html>" * 50)
    with pytest.raises(WorldlabError, match=r"i3d_download\.pt is not a valid TorchScript"):
        perceptual_metrics(real, real, weights={"i3d": junk})
    state_dict = tmp_path / "inception_state.pt"
    torch.save(nn.Linear(2, 2).state_dict(), state_dict)
    with pytest.raises(WorldlabError, match=r"inception_state\.pt is not a valid TorchScript"):
        perceptual_metrics(real, real, weights={"inception": state_dict})
    with pytest.raises(WorldlabError, match=r"WORLDLAB_LPIPS=.*nowhere\.pt: no such file"):
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("WORLDLAB_LPIPS", str(tmp_path / "nowhere.pt"))
            perceptual_metrics(real, real)
    with pytest.raises(WorldlabError, match="unknown weights"):
        perceptual_metrics(real, real, weights={"fid": junk})


class ScalarOutput(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean()


class NaNDistance(nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (x - y).mean((1, 2, 3), keepdim=True) * float("nan")


def test_a_file_breaking_the_contract_gets_an_error_naming_it(tmp_path):
    scalar = save_script(ScalarOutput, tmp_path / "scalar.pt")
    real = moving_discs(sequences=2)
    with pytest.raises(WorldlabError, match=r"scalar\.pt returned \[\] for 32 inputs"):
        perceptual_metrics(real, real, weights={"inception": scalar})
    nan = save_script(NaNDistance, tmp_path / "nan_lpips.pt")  # e.g. weights full of NaN
    with pytest.raises(WorldlabError, match=r"nan_lpips\.pt returned NaN"):
        perceptual_metrics(real, real, weights={"lpips": nan})


def test_short_sequences_skip_fvd_and_bad_frames_are_refused(stand_ins, encoder_dir, quick_encoder):
    real = moving_discs(sequences=3, length=8)
    result = perceptual_metrics(
        real, real, weights={"i3d": stand_ins["i3d"]}, encoder_dir=encoder_dir
    )
    assert "FVD needs at least 2 clips of 16 frames" in result["fvd"]["skipped"]
    assert result["protocol"]["num_clips"] == 0
    with pytest.raises(WorldlabError, match=r"uint8 \[N, T, H, W, 3\]"):
        perceptual_metrics(real.astype(np.float32), real)
    with pytest.raises(WorldlabError, match="same shape"):
        perceptual_metrics(real, real[:2])


# -- the offline encoder --------------------------------------------------------------------
def test_encoder_trains_fast_tells_real_from_noise_and_is_cached(tmp_path):
    real = moving_discs(sequences=8, seed=0).reshape(-1, 32, 32, 3)
    other_real = moving_discs(sequences=8, seed=1).reshape(-1, 32, 32, 3)
    noise = np.random.default_rng(2).integers(0, 256, real.shape, dtype=np.uint8)

    start = time.perf_counter()
    model, record = load_or_train_encoder(real, tmp_path, key="moving-discs")
    trained_in = time.perf_counter() - start
    assert record["trained_now"] and record["steps"] == ENCODER_STEPS
    assert Path(record["path"]).parent == tmp_path and Path(record["path"]).is_file()

    features = encoder_features(model, real)
    assert features.shape == (128, 32) and features.dtype == np.float64
    near = frechet_from_features(features, encoder_features(model, other_real))
    far = frechet_from_features(features, encoder_features(model, noise))
    assert far > 10 * near

    start = time.perf_counter()
    cached, again = load_or_train_encoder(real, tmp_path, key="moving-discs")
    assert time.perf_counter() - start < trained_in / 3  # loaded, not trained again
    assert not again["trained_now"] and again["sha256"] == record["sha256"]
    np.testing.assert_array_equal(encoder_features(cached, real), features)


def test_encoder_is_deterministic_and_a_damaged_cache_is_retrained(tmp_path):
    real = moving_discs(sequences=2, length=8).reshape(-1, 32, 32, 3)
    _, first = load_or_train_encoder(real, tmp_path, steps=30)  # keyed by the frames
    cache = Path(first["path"])
    cache.write_bytes(b"junk")
    _, second = load_or_train_encoder(real, tmp_path, steps=30)
    assert second["trained_now"] and second["sha256"] == first["sha256"]
    _, third = load_or_train_encoder(real, None, steps=30)
    assert third["path"] is None and third["sha256"] == first["sha256"]


def test_encoder_key_changes_when_a_dataset_is_collected_again_at_the_same_path(tmp_path):
    import shutil

    from worldlab.data import EpisodeDataset, collect
    from worldlab.evaluate.perceptual_section import encoder_key

    data = tmp_path / "data"
    collect("bounce", data, 2, max_steps=5, size=16, progress=False)
    first = encoder_key(EpisodeDataset(data))
    assert encoder_key(EpisodeDataset(data)) == first  # same files: the cached encoder stands
    shutil.rmtree(data)
    collect("bounce", data, 2, max_steps=5, size=16, progress=False, seed=7)
    assert encoder_key(EpisodeDataset(data)) != first
