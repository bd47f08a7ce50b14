"""The HTML report in a real browser: Debian's Chromium driven by selenium.

The browser comes from /usr/bin/chromium and /usr/bin/chromedriver (``make test``
installs Debian's ``chromium`` and ``chromium-driver`` when they are missing). When
they are absent this test FAILS rather than skips: CI must prove that the report
renders. Selenium Manager is forbidden (it would download a driver); the set-up is
the one ``docs/screenshot.py`` uses for the README's screenshot.
"""

import importlib.util
import io
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common import selenium_manager
from selenium.webdriver.common.by import By
from sklearn.base import BaseEstimator

from seqmodels import AutoRegressive, HiddenMarkovModel, KalmanFilter
from seqmodels.compare import compare, report
from seqmodels.compare.sections import build_sections

EVIL = "<script>alert(1)</script> \"q\" 'x'"
BROWSER_SETUP = Path(__file__).resolve().parent.parent / "docs" / "screenshot.py"


class Fails(BaseEstimator):
    """A user's model with markup and quotes in its label and in its error."""

    def fit(self, X, y=None):
        raise RuntimeError(EVIL)

    def predict(self, X):
        return X


def _browser():
    spec = importlib.util.spec_from_file_location("report_screenshot", BROWSER_SETUP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def browser():
    module = _browser()
    problem = module.missing_browser()
    if problem:
        pytest.fail(problem + " The browser test does not skip: CI must show the report works.")
    return module


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A report of a small real run: two datasets, a learning curve, a failing model."""
    store = tmp_path_factory.mktemp("browser-run")
    models = {"AR(1)": AutoRegressive(order=1), "AR(2)": AutoRegressive(order=2),
              "Kalman CV": KalmanFilter(model="constant_velocity", n_iter=10),
              "HMM, 2 states": HiddenMarkovModel(n_states=2, n_iter=10), EVIL: Fails()}
    datasets = {"ar": ("ar", {"n_train": 8, "n_test": 4, "n_timesteps": 50}),
                "cv": ("constant_velocity", {"n_dims": 2, "n_train": 8, "n_test": 4,
                                             "n_timesteps": 40})}
    results = compare(models, datasets, seeds=[0, 1], train_sizes=[2, 8], store=store,
                      progress=False)
    return results, report(store, store)


def _png_size(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_report_renders_in_chromium_safely_and_completely(browser, built, monkeypatch, tmp_path,
                                                          capsys):
    results, paths = built

    def no_selenium_manager(*args, **kwargs):
        raise AssertionError("Selenium Manager ran: it would try to download a driver")

    monkeypatch.setattr(selenium_manager.SeleniumManager, "binary_paths", no_selenium_manager)
    expected = [s.id for s in build_sections(results)]
    assert expected == ["summary", "oracle-gap", "ranks", "curves", "trajectories", "training",
                        "cost", "fitted", "calibration", "warnings", "failures", "run"]
    with browser.chromium(width=1280, height=900) as driver:
        driver.get(paths["html"].resolve().as_uri())
        assert driver.title == "Comparison"

        # nothing executes: no alert, no script element, nothing fetched
        with pytest.raises(NoAlertPresentException):
            driver.switch_to.alert.text
        assert driver.execute_script("return document.scripts.length") == 0
        fetched = driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)")
        assert all(name.startswith("data:") for name in fetched), fetched
        severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert severe == []

        # every section the run has data for, in the table of contents too
        ids = driver.execute_script(
            "return Array.from(document.querySelectorAll('main > section')).map(s => s.id)")
        assert ids == expected
        toc = [a.get_attribute("href").rsplit("#", 1)[1]
               for a in driver.find_elements(By.CSS_SELECTOR, "nav.toc a")]
        assert toc == expected

        # every figure decoded and laid out with a non-zero size
        images = driver.execute_script(
            "return Array.from(document.images).map(i => {const r = i.getBoundingClientRect();"
            " return [i.complete, i.naturalWidth, i.naturalHeight, r.width, r.height];})")
        assert len(images) == len(paths["figures"]) >= 9
        assert all(done and min(size) > 0 for done, *size in images), images
        widest = max(width for _, _, _, width, _ in images)
        assert widest <= 1280  # fits a laptop window

        # the label and the error text show as text, quotes included
        cells = [td.text for td in driver.find_elements(By.TAG_NAME, "td")]
        assert EVIL in cells and f"RuntimeError: {EVIL}" in cells
        summaries = [s.get_attribute("textContent")
                     for s in driver.find_elements(By.TAG_NAME, "summary")]
        assert any(EVIL in s for s in summaries)

        # a full-page screenshot, kept as an artifact
        shot = tmp_path / "report-screenshot.png"
        data = browser.full_page_screenshot(driver, shot)
        height = driver.execute_script("return document.documentElement.scrollHeight")
        width, shot_height = _png_size(data)
        assert width == 1280 and shot_height == height > 2000
        page = np.asarray(Image.open(io.BytesIO(data)).convert("L"))
        assert (page < 80).mean() > 0.005 and (page > 240).mean() > 0.5  # text on white

        # and it prints
        pdf = driver.execute_cdp_cmd("Page.printToPDF", {"printBackground": True})["data"]
        assert len(pdf) > 10_000
    with capsys.disabled():
        print(f"\nreport screenshot: {shot} ({len(data) / 1024:.0f} KiB, {width}x{shot_height})")
