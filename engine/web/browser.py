"""The system's headless Chromium under Selenium, for the page's tests and its screenshot.

Debian's ``chromium`` and ``chromium-driver`` packages (apt; ``.ci/run`` installs them) are
used as they are: Selenium is given both paths, so its manager never looks for (or downloads)
a browser or a driver. Flags fit a root user in a container and keep the browser off the
network (no updates, sync or background requests); every session gets a fresh profile.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
DRIVER = ("/usr/bin/chromedriver",)
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars")


def _first(paths, name: str) -> str | None:
    return next((p for p in paths if os.access(p, os.X_OK)), None) or shutil.which(name)


def find() -> tuple[str | None, str | None]:
    """``(chromium, chromedriver)`` paths, None for what is not installed."""
    return _first(CHROMIUM, "chromium"), _first(DRIVER, "chromedriver")


def missing() -> str | None:
    """Why no browser can be started here (None: it can)."""
    browser, driver = find()
    gone = [n for n, p in (("chromium", browser), ("chromium-driver", driver)) if not p]
    if gone:
        return f"{' and '.join(gone)} not installed (apt-get install -y chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "the selenium package is not installed (pip install -e '.[test]')"
    return None


@contextlib.contextmanager
def chromium(width: int = 1280, height: int = 900):
    """A Selenium ``WebDriver`` on a fresh headless Chromium; quit and its profile removed after."""
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager: never go online
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    why = missing()
    if why:
        raise RuntimeError(why)
    browser, driver = find()
    profile = tempfile.mkdtemp(prefix="sanny-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = browser
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        opts.add_argument(flag)
    drv = webdriver.Chrome(service=Service(executable_path=driver), options=opts)
    try:
        yield drv
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)
