"""Screenshot a comparison report in headless Chromium: the set-up the browser test uses.

    python docs/screenshot.py reports/default/report.html docs/report.png
    python docs/screenshot.py REPORT.html OUT.png --width 1280 --max-height 2600
    python docs/screenshot.py REPORT.html OUT.png --section attention   # one section only

Needs Debian's ``chromium`` and ``chromium-driver`` (``/usr/bin/chromium``,
``/usr/bin/chromedriver``; ``make test`` installs them) and the ``selenium`` package
(the ``test`` extra). The driver path is given explicitly, so Selenium Manager never
runs and nothing is downloaded; Chromium starts with a fresh profile and with its
background networking off. The page is loaded from a ``file://`` URL.
"""

import argparse
import base64
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
INSTALL_HINT = ("apt-get update && apt-get install -y --no-install-recommends chromium "
                "chromium-driver (or run 'make test', which does it)")
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                  "--force-device-scale-factor=1")


def missing_browser():
    """What is missing of Chromium and its driver, as a sentence; None when both are there."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).is_file()]
    if not missing:
        return None
    return f"{' and '.join(missing)} not found; install them: {INSTALL_HINT}."


@contextmanager
def chromium(width=1280, height=900):
    """A headless Chromium driven by selenium through /usr/bin/chromedriver.

    Yields the WebDriver; the browser's console is logged at every level
    (``driver.get_log("browser")``). The profile is a fresh temporary folder,
    removed afterwards.
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    problem = missing_browser()
    if problem:
        raise FileNotFoundError(problem)
    profile = tempfile.mkdtemp(prefix="seqmodels-chromium-")
    options = Options()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={width},{height}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def full_page_screenshot(driver, path, max_height=None, section=None):
    """Capture the whole page (beyond the window) as a PNG at ``path``; return its bytes.

    Uses the DevTools protocol's ``Page.captureScreenshot`` with
    ``captureBeyondViewport``, clipped to the page's content size, or to its first
    ``max_height`` CSS pixels; with ``section`` (a report section's id, e.g.
    ``"attention"``) clipped to that section's box instead (and its first ``max_height``
    pixels).
    """
    metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
    size = metrics.get("cssContentSize") or metrics["contentSize"]
    x, y, width, height = 0, 0, int(size["width"]), int(size["height"])
    if section is not None:
        box = driver.execute_script(
            "const e = document.getElementById(arguments[0]);"
            "if (!e) return null; const r = e.getBoundingClientRect();"
            "return [r.left + window.scrollX, r.top + window.scrollY, r.width, r.height];",
            section)
        if box is None:
            raise SystemExit(f"the report has no section with id {section!r}")
        x, y, width, height = (int(v) for v in box)
    if max_height is not None:
        height = min(height, int(max_height))
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True, "fromSurface": True,
        "clip": {"x": x, "y": y, "width": width, "height": height, "scale": 1}})
    data = base64.b64decode(shot["data"])
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(data)
    return data


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="a report.html")
    parser.add_argument("output", type=Path, help="the PNG to write")
    parser.add_argument("--width", type=int, default=1280, help="window width in CSS pixels")
    parser.add_argument("--max-height", type=int, default=None,
                        help="keep only the top of the page (CSS pixels); default: all of it")
    parser.add_argument("--section", default=None,
                        help="capture only the report section with this id (e.g. attention)")
    args = parser.parse_args(argv)
    if not args.report.is_file():
        parser.error(f"no report at {args.report}")
    with chromium(args.width) as driver:
        driver.get(args.report.resolve().as_uri())
        data = full_page_screenshot(driver, args.output, args.max_height, args.section)
    print(f"{args.output}: {len(data) / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
