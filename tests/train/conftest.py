import pytest

from worldlab.data import collect


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Four one-ball bounce episodes of 41 frames at 32×32."""
    root = tmp_path_factory.mktemp("bounce32")
    collect(
        "bounce",
        root,
        episodes=4,
        max_steps=40,
        size=32,
        progress=False,
        env_kwargs={"num_balls": 1},
    )
    return root
