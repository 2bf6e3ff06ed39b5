"""Imagination videos and the HTML report, as a user opens them."""

import numpy as np
import pytest
import torch

from worldlab.data import EpisodeDataset, collect
from worldlab.errors import WorldlabError
from worldlab.evaluate import (
    comparison_frames,
    evaluate_open_loop,
    imagine_episode,
    plot_over_horizon,
    write_html_report,
    write_imagination,
)
from worldlab.evaluate.imagine import OPEN_LOOP_COLOUR
from worldlab.models import ActionSpec, get_family
from worldlab.models.rssm import PRESETS, RSSMConfig

torch.set_num_threads(2)
CONTEXT = 4


@pytest.fixture(scope="module")
def bounce(tmp_path_factory):
    out = tmp_path_factory.mktemp("bounce_imagine")
    collect("bounce", out, episodes=2, max_steps=20, size=32, progress=False)
    return EpisodeDataset(out)


@pytest.fixture(scope="module")
def model(bounce):
    torch.manual_seed(0)
    return get_family("rssm")(
        RSSMConfig(**PRESETS["tiny"]), (32, 32, 3), ActionSpec.from_manifest(bounce.manifest.action)
    )


def test_imagined_episode_lines_up_with_the_real_one(model, bounce):
    episode = bounce.episode(0)
    result = imagine_episode(model, episode, context=CONTEXT)
    steps = len(episode["obs"])
    assert result["real"].shape == result["imagined"].shape == (steps, 32, 32, 3)
    assert result["imagined"].dtype == np.uint8
    np.testing.assert_array_equal(result["real"], episode["obs"])
    np.testing.assert_array_equal(result["imagined"][:CONTEXT], episode["obs"][:CONTEXT])
    np.testing.assert_array_equal(result["actions"], episode["action"][CONTEXT:])
    assert result["reward"].shape == (steps - CONTEXT,)


def test_random_actions_differ_from_the_dataset_and_repeat_under_a_seed(model, bounce):
    episode = bounce.episode(1)
    random_a = imagine_episode(model, episode, CONTEXT, horizon=8, actions="random", seed=1)
    random_b = imagine_episode(model, episode, CONTEXT, horizon=8, actions="random", seed=1)
    from_data = imagine_episode(model, episode, CONTEXT, horizon=8, actions="dataset", seed=1)
    assert random_a["imagined"].shape == (CONTEXT + 8, 32, 32, 3)
    assert random_a["actions"].shape == (8,) and random_a["actions"].dtype == np.int64
    assert 0 <= random_a["actions"].min() and random_a["actions"].max() < 5
    np.testing.assert_array_equal(random_a["actions"], random_b["actions"])
    np.testing.assert_array_equal(random_a["imagined"], random_b["imagined"])
    assert not np.array_equal(random_a["actions"], from_data["actions"])


def test_given_actions_are_validated(model, bounce, tmp_path):
    episode = bounce.episode(0)
    given = np.array([1, 2, 3, 4, 0, 1], np.int64)
    result = imagine_episode(model, episode, CONTEXT, horizon=6, actions=given)
    np.testing.assert_array_equal(result["actions"], given)
    np.save(tmp_path / "short.npy", given[:3])
    with pytest.raises(WorldlabError, match="needs at least 6 actions, got 3"):
        imagine_episode(model, episode, CONTEXT, horizon=6, actions=tmp_path / "short.npy")
    with pytest.raises(WorldlabError, match="integer array"):
        imagine_episode(model, episode, CONTEXT, horizon=6, actions=np.zeros((6, 2), np.float32))
    with pytest.raises(WorldlabError, match="0..4"):
        imagine_episode(model, episode, CONTEXT, horizon=6, actions=given + 5)
    with pytest.raises(WorldlabError, match="does not fit"):
        imagine_episode(model, episode, CONTEXT, horizon=100)


def test_comparison_frames_layout():
    real = np.full((5, 8, 10, 3), 100, np.uint8)
    imagined = real.copy()
    imagined[3:] = 110
    frames = comparison_frames(real, imagined, context=2, gap=2)
    assert frames.shape == (5, 8, 3 * 10 + 2 * 2, 3) and frames.dtype == np.uint8
    assert (frames[:, :, 10:12] == 255).all() and (frames[:, :, 22:24] == 255).all()  # gaps
    np.testing.assert_array_equal(frames[:, :, :10], real)
    assert (frames[:3, :, 24:] == 0).all() and (frames[3:, :, 24:] == 20).all()  # error ×2
    marked = [(frame[1, 13] == OPEN_LOOP_COLOUR).all() for frame in frames]
    assert marked == [False, False, True, True, True]  # open loop after the context
    with pytest.raises(WorldlabError, match="real and imagined"):
        comparison_frames(real, imagined[:, :4], context=2)


def test_write_imagination_gif(model, bounce, tmp_path):
    path = write_imagination(
        model,
        bounce.episode(0),
        tmp_path / "media" / "imagine.gif",
        context=CONTEXT,
        horizon=6,
        scale=2,
    )
    assert path.exists() and path.stat().st_size > 0
    import imageio.v2 as imageio

    frames = imageio.mimread(path)
    assert len(frames) == CONTEXT + 6 and frames[0].shape[:2] == (64, 2 * (3 * 32 + 4))


def test_html_report(model, bounce, tmp_path):
    report = evaluate_open_loop(model, bounce, horizon=3, context=CONTEXT, progress=False)
    plot = plot_over_horizon(report, tmp_path / "open_loop.png")
    video = write_imagination(
        model, bounce.episode(0), tmp_path / "videos" / "ep0.gif", context=CONTEXT, horizon=4
    )
    path = write_html_report(
        tmp_path,
        report,
        [("episode 0", str(video)), ("episode 1 <mp4>", "videos/ep1.mp4")],
        str(plot),
        config={"family": "rssm", "preset": "tiny"},
        timings={"evaluate": 1.234, "videos": 0.5},
        notes="untrained <script>alert(1)</script> & co",
    )
    page = path.read_text()
    assert path == tmp_path / "report.html"
    assert '<img src="open_loop.png"' in page and '<img src="videos/ep0.gif"' in page
    assert '<video src="videos/ep1.mp4" controls loop autoplay muted' in page
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in page
    assert "episode 1 &lt;mp4&gt;" in page
    for step in range(3):
        assert f"{report['model']['psnr'][step]:.2f}" in page
        assert f"{report['baselines']['repeat_last']['ssim'][step]:.3f}" in page
        assert f"{report['baselines']['mean_frame']['psnr'][step]:.2f}" in page
    best = max(
        report["model"]["psnr"][0],
        report["baselines"]["repeat_last"]["psnr"][0],
        report["baselines"]["mean_frame"]["psnr"][0],
    )
    assert f"<b>{best:.2f}" in page
    assert "&quot;preset&quot;: &quot;tiny&quot;" in page and "1.23 s" in page
    assert "http://" not in page and "https://" not in page  # self-contained
