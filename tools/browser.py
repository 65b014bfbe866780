"""A headless Chromium driven by selenium: the inbox's browser test and its screenshots (tools/inbox_screenshots.py).

Debian's ``chromium`` and ``chromium-driver`` packages (``/usr/bin/chromium``, ``/usr/bin/chromedriver``; ``.ci/run``
installs them). The driver's path is given to selenium explicitly, so that selenium-manager never tries to download
a browser or a driver (this machine cannot).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
CHROMEDRIVER = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")


def _first(candidates: tuple[str, ...], variable: str) -> str | None:
    given = os.environ.get(variable)
    if given:
        return given if Path(given).is_file() else None
    for candidate in candidates:
        if Path(candidate).is_file():
            return candidate
    return shutil.which(Path(candidates[0]).name)


def find_browser() -> tuple[str, str] | str:
    """(chromium, chromedriver), or why not (the reason to skip): ``$CHROMIUM``/``$CHROMEDRIVER`` override."""
    chromium, driver = _first(CHROMIUM, "CHROMIUM"), _first(CHROMEDRIVER, "CHROMEDRIVER")
    missing = [name for name, found in (("chromium", chromium), ("chromium-driver", driver)) if not found]
    if missing:
        return f"{' and '.join(missing)} not installed (apt-get install -y chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (make install)"
    assert chromium is not None and driver is not None
    return chromium, driver


def headless_chrome(chromium: str, driver: str, *, width: int = 1200, height: int = 800) -> Any:
    """A headless Chromium of ``width`` x ``height`` CSS pixels (a device scale of 1: screenshots that size)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root in a container
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-extensions",
        "--no-first-run",
        f"--window-size={width},{height}",
        "--force-device-scale-factor=1",
        "--hide-scrollbars",
    ):
        options.add_argument(argument)
    browser = webdriver.Chrome(service=Service(driver), options=options)
    # The window's size includes what little frame headless Chromium keeps: make the viewport width x height
    inner = browser.execute_script("return [window.innerWidth, window.innerHeight]")
    browser.set_window_size(2 * width - int(inner[0]), 2 * height - int(inner[1]))
    return browser


def click_when_ready(browser: Any, css: str, timeout: float = 20.0) -> None:
    """Click the element ``css`` selects once it exists, again if the page re-rendered it meanwhile (the inbox
    redraws its list when a delivery changes)."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    def click(driver: Any) -> bool:
        try:
            driver.find_element("css selector", css).click()
        except (NoSuchElementException, StaleElementReferenceException):
            return False
        return True

    WebDriverWait(browser, timeout, poll_frequency=0.1).until(click, f"nothing to click at {css}")
