import os

# Suites that draw with pygame/SDL must not look for a display or audio device.
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")


def run_cli(*args, check=True, timeout=300):
    """Run ``worldlab ARGS`` as a user would: a real process, its exit code and output."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "worldlab.cli.main", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"worldlab {args} failed ({result.returncode}):\n{result.stderr}")
    return result


import pytest  # noqa: E402


@pytest.fixture
def cli():
    return run_cli


def pytest_terminal_summary(terminalreporter):
    """Say loudly when the browser test of `worldlab play` did not run, and how to run it."""
    skipped = terminalreporter.stats.get("skipped", [])
    browser = [r for r in skipped if "test_browser" in str(getattr(r, "nodeid", "") or r.location)]
    if browser:
        reason = browser[0].longrepr[-1] if isinstance(browser[0].longrepr, tuple) else ""
        terminalreporter.write_sep(
            "!", "the browser test of `worldlab play` was skipped", yellow=True
        )
        terminalreporter.write_line(str(reason).removeprefix("Skipped: "))
