"""The course as students meet it: lessons run in JupyterLab in a real browser, and the course site.

The test starts JupyterLab from this environment on a free localhost port (token auth, stopped at
the end) over a scratch copy of the lessons, drives headless Chromium (Debian's ``chromium`` and
``chromium-driver``, which ``.ci/run`` installs) with Selenium, and for lessons 01, 02 and 04:

* runs every cell from the UI (the Run menu's "Run All Cells") and waits for the kernel;
* checks that no cell shows an error output;
* checks that every explorer renders real widget controls (not "Loading widget..." nor the
  text fallback), changes one control (the masking strategy menu) and checks that the explorer's
  figure changes, pixel by pixel;
* checks that the lesson's GIF animation (where the lesson has one) is displayed;
* writes screenshots of each lesson (top and explorer) under ``build/browser/``.

It also builds the course site (``python -m marlin_lite.course site``) into ``build/site``, opens
its index, follows every link and checks that no page is broken and no image is missing, with a
screenshot of the index. Without Chromium or its driver (or Selenium) the tests are skipped, with
the reason. The notebooks in the repository are never opened by the server: it serves a copy, and
autosave is off.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
SHOTS = REPO / "build" / "browser"
LESSONS = ("01_tube_masking", "02_face_guided_masking", "04_pretraining")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
HAVE_SELENIUM = importlib.util.find_spec("selenium") is not None

pytestmark = [
    pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="needs Debian's chromium and chromium-driver "
                       "(apt-get install chromium chromium-driver; .ci/run installs them)"),
    pytest.mark.skipif(not HAVE_SELENIUM, reason="needs selenium (requirements.txt)"),
]

RUN_TIMEOUT = 420  # seconds for one lesson to run all its cells in the browser (2 CPU cores)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _workspace(base: Path) -> Path:
    """A folder laid out like the repository: every top-level entry linked, except ``notebooks/``,
    which holds copies of the checked lessons (the server may write beside them; the repository's
    notebooks stay untouched)."""
    ws = base / "workspace"
    ws.mkdir()
    for entry in REPO.iterdir():
        if entry.name not in ("notebooks", ".git", ".venv", "build") and not entry.name.startswith(".ipynb"):
            (ws / entry.name).symlink_to(entry)
    (ws / "notebooks").mkdir()
    for name in LESSONS:
        shutil.copy(REPO / "notebooks" / f"{name}.ipynb", ws / "notebooks" / f"{name}.ipynb")
    return ws


def _user_settings(folder: Path) -> None:
    """JupyterLab settings for a test: no autosave, no news or update checks (no network here),
    no notebook windowing."""
    settings = {
        "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
        # every cell in the page (no virtual scrolling), so the checks below see every output
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    }
    for rel, values in settings.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[dict]:
    """JupyterLab on a free localhost port with a random token; stopped (and waited for) at the end."""
    base = tmp_path_factory.mktemp("lab")
    ws = _workspace(base)
    _user_settings(base / "user-settings")
    token, port = secrets.token_hex(16), _free_port()
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(base / "user-settings"), "JUPYTERLAB_WORKSPACES_DIR": str(base / "ws"),
           "JUPYTER_RUNTIME_DIR": str(base / "runtime"), "JUPYTER_CONFIG_DIR": str(base / "config")}
    env.pop("MARLIN_LITE_CHECK_WIDGETS", None)  # the explorers' sweep is nbval's business, not the browser's
    env.pop("MARLIN_LITE_PROGRESS", None)  # a student's JupyterLab shows the progress bars (conftest.py turns them off)
    log = open(base / "jupyterlab.log", "w")  # noqa: SIM115 (closed below)
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ws}",
           "--LabApp.news_url=", "--ServerApp.open_browser=False"] + (["--allow-root"] if os.geteuid() == 0 else [])
    server = subprocess.Popen(cmd, cwd=ws, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(f"JupyterLab did not start (exit {server.poll()}): {(base / 'jupyterlab.log').read_text()[-2000:]}")
            time.sleep(0.5)
        yield {"url": url, "token": token, "workspace": ws, "log": base / "jupyterlab.log"}
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tmp_path_factory.mktemp("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1400,1000", f"--user-data-dir={profile}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(condition, timeout: float, what: str, poll: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _kernel_idle(driver) -> bool:
    return bool(driver.execute_script(
        "const s = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator');"
        "return s !== null && s.getAttribute('data-status') === 'idle';"))


def _prompts(driver) -> list[str]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt'))"
        ".map(p => p.textContent.trim());")


def _click_menu(driver, menu: str, item: str) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.XPATH, f"//li[contains(@class,'lm-MenuBar-item')][.//div[normalize-space(text())='{menu}']]").click()
    entry = _wait(lambda: driver.find_elements(
        By.XPATH, f"//li[contains(@class,'lm-Menu-item')][.//div[contains(@class,'lm-Menu-itemLabel') and normalize-space(text())='{item}']]"),
        10, f"the menu item {menu} > {item}")
    entry[0].click()


def _png_pixels(src: str):
    import numpy as np
    from PIL import Image

    assert src.startswith("data:image/png;base64,"), src[:40]
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("RGB"), dtype=np.int16)


def _explorer_image(explorer) -> str | None:
    from selenium.webdriver.common.by import By

    imgs = explorer.find_elements(By.CSS_SELECTOR, ".widget-output img, .jp-OutputArea-output img")
    return imgs[-1].get_attribute("src") if imgs else None


@pytest.mark.parametrize("lesson", LESSONS)
def test_lesson_runs_in_jupyterlab_and_its_explorer_responds(lab, browser, lesson):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver = browser
    SHOTS.mkdir(parents=True, exist_ok=True)
    nb = nbformat.read(REPO / "notebooks" / f"{lesson}.ipynb", as_version=4)
    n_code = sum(c.cell_type == "code" for c in nb.cells)
    has_gif = any("image/gif" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))

    driver.get(f"{lab['url']}/lab/tree/notebooks/{lesson}.ipynb?token={lab['token']}")
    _wait(lambda: len(_prompts(driver)) == n_code and _kernel_idle(driver), 120, f"{lesson} to open with an idle kernel")
    _click_menu(driver, "Run", "Run All Cells")
    _wait(lambda: any("*" in p for p in _prompts(driver)), 30, "the cells to start running")
    start = time.monotonic()
    _wait(lambda: _kernel_idle(driver) and not any("*" in p or p in ("[ ]:", "") for p in _prompts(driver)),
          RUN_TIMEOUT, f"{lesson} to run all its cells (prompts now {_prompts(driver)})", poll=2)
    seconds = time.monotonic() - start
    driver.execute_script("const o = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer');"
                          "if (o) { o.scrollTop = 0; }")
    time.sleep(0.5)
    driver.save_screenshot(str(SHOTS / f"{lesson}_top.png"))

    errors = driver.execute_script(
        "return Array.from(document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) "
        "[data-mime-type=\"application/vnd.jupyter.error\"], .jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output.jp-mod-error'))"
        ".map(e => e.textContent.slice(0, 300));")
    assert not errors, f"{lesson}: error outputs in the browser: {errors}"

    # widgets: real controls, nothing stuck loading, no text fallback
    text = driver.find_element(By.CSS_SELECTOR, ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook").text
    assert "Loading widget" not in text and "Error displaying widget" not in text, f"{lesson}: a widget did not render"
    explorers = driver.find_elements(By.CSS_SELECTOR, ".jp-NotebookPanel:not(.lm-mod-hidden) .widget-interact")
    assert explorers, f"{lesson}: no explorer (ipywidgets interact) rendered as widget controls"
    for explorer in explorers:
        assert explorer.find_elements(By.CSS_SELECTOR, "select, .widget-slider, input"), f"{lesson}: an explorer without controls"
    explorer = explorers[0]
    driver.execute_script("arguments[0].scrollIntoView({block: 'start'});", explorer)
    before = _wait(lambda: _explorer_image(explorer), 60, f"{lesson}: the explorer's first figure")
    menu = Select(explorer.find_element(By.CSS_SELECTOR, "select"))
    current = menu.first_selected_option.text
    other = next(o.text for o in menu.options if o.text != current)
    menu.select_by_visible_text(other)
    after = _wait(lambda: (src := _explorer_image(explorer)) and src != before and src, 90,
                  f"{lesson}: the explorer to redraw after choosing {other!r}")
    a, b = _png_pixels(before), _png_pixels(after)
    changed = a.shape != b.shape or bool((a != b).any())
    assert changed, f"{lesson}: choosing {other!r} left the figure's pixels as they were"
    driver.save_screenshot(str(SHOTS / f"{lesson}_explorer.png"))

    if has_gif:
        gifs = driver.execute_script(
            "return Array.from(document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) img'))"
            ".filter(i => i.src.startsWith('data:image/gif')).map(i => [i.complete, i.naturalWidth]);")
        assert gifs and all(done and width > 0 for done, width in gifs), f"{lesson}: the GIF animation is not displayed: {gifs}"
    (SHOTS / f"{lesson}.json").write_text(json.dumps({"lesson": lesson, "run_all_seconds": round(seconds, 1),
                                                      "explorers": len(explorers), "changed_control": other}))


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])


def test_the_course_site_has_no_broken_page_or_image(browser):
    site = REPO / "build" / "site"
    done = subprocess.run([sys.executable, "-m", "marlin_lite.course", "site", "--out", str(site)], cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    driver = browser
    SHOTS.mkdir(parents=True, exist_ok=True)
    index = site / "index.html"
    driver.get(index.as_uri())
    driver.save_screenshot(str(SHOTS / "site_index.png"))
    parser = _Links()
    parser.feed(index.read_text())
    pages, seen = [index], {index}
    while pages:
        page = pages.pop()
        parser = _Links()
        parser.feed(page.read_text())
        for href in parser.links:
            parsed = urlparse(href)
            if parsed.scheme or href.startswith("#"):
                continue
            target = (page.parent / unquote(parsed.path)).resolve()
            assert target.exists(), f"{page.relative_to(site)} links to {href}, which does not exist"
            if target.suffix == ".html" and target not in seen:
                seen.add(target)
                pages.append(target)
    lessons = sorted(p for p in seen if p != index)
    assert len(lessons) >= 10, f"the index reaches only {len(lessons)} pages"
    for page in [index, *lessons]:
        driver.get(page.as_uri())
        state = driver.execute_script(
            "const imgs = Array.from(document.images);"
            "return {ready: document.readyState, title: document.title, images: imgs.length,"
            " broken: imgs.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src.slice(0, 80))};")
        assert state["ready"] == "complete" and state["title"], f"{page.name} did not load: {state}"
        assert not state["broken"], f"{page.name}: {len(state['broken'])} of {state['images']} images missing: {state['broken'][:3]}"
        if page != index:
            assert state["images"] > 0, f"{page.name} shows no figure"
