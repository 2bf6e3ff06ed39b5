import numpy as np
import pytest

from worldlab.data import EpisodeDataset, collect
from worldlab.data.episode import episode_filename, write_episode
from worldlab.errors import DatasetError


@pytest.fixture(scope="module")
def bounce_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("bounce")
    collect("bounce", out, episodes=4, max_steps=40, seed=3, size=32, progress=False)
    return out


def test_collect_writes_manifest_and_episodes(bounce_dir):
    dataset = EpisodeDataset(bounce_dir)
    assert len(dataset) == 4
    assert dataset.num_steps == 4 * 40
    assert dataset.obs_shape == (32, 32, 3)
    assert dataset.manifest.env_id == "worldlab/Bounce-v0"
    assert dataset.manifest.action == {"type": "discrete", "n": 5}
    assert dataset.manifest.episodes == 4 and dataset.manifest.steps == 160
    episode = dataset.episode(0)
    assert episode["obs"].shape == (41, 32, 32, 3)
    assert episode["is_first"][0] and not episode["is_first"][1:].any()
    assert episode["action"][0] == 0 and episode["reward"][0] == 0
    assert episode["state"].dtype == np.float32


def test_sample_shapes_and_dtypes(bounce_dir):
    dataset = EpisodeDataset(bounce_dir)
    batch = dataset.sample(6, 16, rng=np.random.default_rng(0))
    assert batch["obs"].shape == (6, 16, 32, 32, 3) and batch["obs"].dtype == np.uint8
    assert batch["action"].shape == (6, 16) and batch["action"].dtype == np.int64
    assert batch["reward"].shape == (6, 16) and batch["reward"].dtype == np.float32
    assert batch["terminated"].dtype == bool and batch["is_first"].dtype == bool
    assert batch["state"].shape[:2] == (6, 16)


def test_sampled_window_matches_the_episode(bounce_dir):
    dataset = EpisodeDataset(bounce_dir)
    batch = dataset.sample(8, 10, rng=np.random.default_rng(1))
    episodes = [dataset.episode(i)["obs"] for i in range(len(dataset))]
    for window in batch["obs"]:
        assert any(
            np.array_equal(window, ep[s : s + 10]) for ep in episodes for s in range(len(ep) - 9)
        )


def test_sampling_is_deterministic_under_a_seed(bounce_dir):
    dataset = EpisodeDataset(bounce_dir)
    a = dataset.sample(4, 8, rng=np.random.default_rng(7))
    b = dataset.sample(4, 8, rng=np.random.default_rng(7))
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


def test_crossing_windows_mark_episode_starts(bounce_dir):
    dataset = EpisodeDataset(bounce_dir)
    batch = dataset.sample(16, 60, rng=np.random.default_rng(0), cross_episodes=True)
    assert batch["obs"].shape[1] == 60
    # 60 > 41 observations per episode: every window crosses at least one boundary.
    assert batch["is_first"][:, 1:].any(axis=1).all()


def test_too_long_window_is_a_clear_error(bounce_dir):
    with pytest.raises(DatasetError, match="no episode .* has 100 observations"):
        EpisodeDataset(bounce_dir).sample(2, 100)


def test_sees_episodes_appended_while_open(tmp_path):
    collect("bounce", tmp_path, episodes=2, max_steps=10, size=16, progress=False)
    dataset = EpisodeDataset(tmp_path)
    assert len(dataset) == 2
    collect("bounce", tmp_path, episodes=3, max_steps=10, size=16, progress=False)
    dataset.sample(1, 4)
    assert len(dataset) == 3


def test_rerun_adds_missing_and_replaces_corrupt_episodes(tmp_path):
    collect("bounce", tmp_path, episodes=3, max_steps=10, size=16, progress=False)
    original = (tmp_path / episode_filename(0)).read_bytes()
    (tmp_path / episode_filename(1)).write_bytes(b"not an episode")
    (tmp_path / episode_filename(2)).unlink()
    collect("bounce", tmp_path, episodes=4, max_steps=10, size=16, progress=False)
    dataset = EpisodeDataset(tmp_path)
    assert len(dataset) == 4 and not dataset.corrupt
    assert (tmp_path / episode_filename(0)).read_bytes() == original  # untouched
    fresh = EpisodeDataset(tmp_path).episode(1)["obs"]
    tmp2 = tmp_path.parent / "again"
    collect("bounce", tmp2, episodes=2, max_steps=10, size=16, progress=False)
    np.testing.assert_array_equal(fresh, EpisodeDataset(tmp2).episode(1)["obs"])


def test_corrupt_episode_is_named_and_the_rest_stays_usable(tmp_path):
    collect("bounce", tmp_path, episodes=3, max_steps=10, size=16, progress=False)
    (tmp_path / episode_filename(1)).write_bytes(b"garbage")
    dataset = EpisodeDataset(tmp_path)
    assert [p.name for p in dataset.corrupt] == [episode_filename(1)]
    assert len(dataset) == 2
    assert dataset.sample(2, 5)["obs"].shape[0] == 2


def test_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="does not exist.*worldlab collect"):
        EpisodeDataset(tmp_path / "nope")


def test_directory_without_manifest_is_a_clear_error(tmp_path):
    write_episode(
        tmp_path / episode_filename(0),
        {
            "obs": np.zeros((2, 4, 4, 3), np.uint8),
            "action": np.zeros(2, np.int64),
            "reward": np.zeros(2, np.float32),
            "terminated": np.zeros(2, bool),
            "truncated": np.zeros(2, bool),
        },
    )
    with pytest.raises(DatasetError, match="not a worldlab dataset"):
        EpisodeDataset(tmp_path)


def test_collecting_another_world_into_a_dataset_is_refused(tmp_path):
    collect("bounce", tmp_path, episodes=1, max_steps=5, size=16, progress=False)
    with pytest.raises(DatasetError, match="already holds a dataset"):
        collect("reach", tmp_path, episodes=1, max_steps=5, size=16, progress=False)


def test_drop_actions_stores_action_free_episodes(tmp_path):
    collect("bounce", tmp_path, episodes=1, max_steps=5, size=16, progress=False, drop_actions=True)
    dataset = EpisodeDataset(tmp_path)
    assert not dataset.has_actions
    assert dataset.episode(0)["action"].shape == (6, 0)
