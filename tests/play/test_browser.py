"""End to end in real headless Chromium: load the page, start, press keys, see frames."""

import contextlib
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
README_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "media" / "play.png"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]

if not Path(CHROMIUM).exists():
    pytest.skip(
        f"browser test: {CHROMIUM} is missing; install it with "
        "`sudo apt-get install -y chromium` (Debian/Ubuntu) and rerun `make test`",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is missing")
uvicorn = pytest.importorskip("uvicorn", reason="uvicorn (the `play` extra) is missing")


@contextlib.contextmanager
def serving(model, run):
    """``worldlab play`` of ``model`` on a free local port, in a thread; yields its URL."""
    from worldlab.play.server import create_app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        create_app(model, run), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def page(browser, play_model, play_run):
    with serving(play_model, play_run) as url:
        page = browser.new_page(viewport={"width": 1180, "height": 620})
        page.goto(url)
        yield page


def test_play_in_chromium(page, tmp_path):
    frame = page.locator("#model-frame")
    page.wait_for_function("document.getElementById('download').href.includes('/recording/')")
    page.fill("#episode", "1")
    page.fill("#start-step", "3")
    page.click("#start-dataset")
    page.wait_for_function("document.getElementById('state').textContent === 'playing'")
    assert page.locator("#real-panel").is_visible()
    page.click("body")  # keyboard focus on the page, not on a button
    sources = set()
    for key in ("ArrowRight", "ArrowUp", "d", "ArrowLeft"):
        page.keyboard.down(key)
        page.wait_for_timeout(150)
        sources.add(frame.get_attribute("src"))
        page.keyboard.up(key)
    assert len(sources) >= 3, "the imagined frame should change while keys are pressed"
    page.wait_for_function("document.getElementById('fps').textContent !== '–'")
    page.wait_for_function("document.getElementById('latency').textContent.includes('ms')")
    fps = float(page.text_content("#fps"))
    assert fps > 2, f"frames/s display shows {fps}"
    assert int(page.text_content("#t")) > 3
    assert "push right" in page.text_content("#keymap")
    screenshot = tmp_path / "play.png"
    page.screenshot(path=str(screenshot))
    assert screenshot.stat().st_size > 0
    if not README_SCREENSHOT.exists():  # the README's picture is made once, by this test
        README_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(screenshot, README_SCREENSHOT)

    page.set_input_files(
        "#upload", files=[{"name": "notes.png", "mimeType": "image/png", "buffer": b"not a png"}]
    )
    page.wait_for_function("document.getElementById('error').style.display === 'block'")
    assert "PNG or JPEG" in page.text_content("#error")
    page.click("#play")  # pause
    page.wait_for_function("document.getElementById('state').textContent === 'paused'")
    before = int(page.text_content("#t"))
    page.click("#step-once")
    page.wait_for_function(f"Number(document.getElementById('t').textContent) === {before + 1}")
    assert page.locator("#text-start").is_hidden(), "an rssm takes no text: no prompt box"


def test_start_from_a_text_prompt_in_chromium(browser, text_model, text_run):
    with serving(text_model, text_run) as url:
        page = browser.new_page()
        page.goto(url)
        page.wait_for_function("document.getElementById('download').href.includes('/recording/')")
        assert page.locator("#text-start").is_visible()
        assert page.locator("#control-prompt_guidance").is_visible()
        page.fill("#prompt", "a red ball")
        page.press("#prompt", "Enter")  # Enter starts, and play begins
        page.wait_for_function("document.getElementById('state').textContent === 'playing'")
        page.wait_for_function("Number(document.getElementById('t').textContent) > 2")
        assert "a red ball" in page.text_content("#note")
        assert page.locator("#real-panel").is_hidden()
        page.close()
