"""The inbox of `hookctl dev` in a real headless browser (Debian's chromium + chromium-driver, through selenium): a
developer opens it, sends a delivery with its button, sees it processed without reloading, opens it, replays it and
sees the replay in its timeline. Skipped when the browser is missing, except on CI (``CI`` set): there it must run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hookctl.local.runner import LocalConfig, LocalPipeline
from tools.browser import click_when_ready, find_browser, headless_chrome

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
WAIT_SECONDS = 20


@pytest.fixture(scope="module")
def browser_paths() -> tuple[str, str]:
    found = find_browser()
    if isinstance(found, str):
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser test: {found}")
        pytest.skip(found)
    return found


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory, browser_paths: tuple[str, str]) -> Iterator[LocalPipeline]:
    config = LocalConfig(
        template=ROOT / "template.yaml",
        stack_name="inbox-browser",
        port=0,
        endpoint_port=0,
        inbox=True,
        instances=1,
        log_dir=tmp_path_factory.mktemp("inbox") / "logs",
        environ={},
        prewarm=False,  # these tests call a few of the functions: cold-start only those
    )
    with LocalPipeline(config) as running:
        yield running


@pytest.fixture(scope="module")
def browser(browser_paths: tuple[str, str]) -> Iterator[Any]:
    driver = headless_chrome(*browser_paths)
    yield driver
    driver.quit()


def wait_for(browser: Any, condition: Any, message: str) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, WAIT_SECONDS, poll_frequency=0.1).until(condition, message)


def attribute_of(browser: Any, css: str, name: str) -> str | None:
    """An attribute of the first element ``css`` selects, or None (none yet, or redrawn while it was read)."""
    from selenium.common.exceptions import StaleElementReferenceException

    try:
        found = browser.find_elements("css selector", css)
        return found[0].get_attribute(name) if found else None
    except StaleElementReferenceException:
        return None


def text_of(browser: Any, element_id: str) -> str:
    from selenium.webdriver.common.by import By

    return str(browser.find_element(By.ID, element_id).text)


def test_a_delivery_sent_from_the_inbox_appears_processed_and_its_replay_shows_in_its_timeline(
    pipeline: LocalPipeline, browser: Any
):
    """Given the inbox open in a browser
    When the developer sends a GitHub sample with the page's button, opens it and presses Replay
    Then the delivery appears processed without a page reload, its detail shows the request headers, the body, the
    verification (the current secret matched) and its timeline, and the replay appears there once processed."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser.get(f"{pipeline.api_url}/_inbox")
    wait_for(browser, lambda b: b.execute_script("return document.body.dataset.ready"), "the page did not start")
    browser.execute_script("window.__sameDocument = true")  # gone if the page reloads
    Select(browser.find_element(By.ID, "send-provider")).select_by_value("github")
    Select(browser.find_element(By.ID, "send-variant")).select_by_value("valid")
    browser.find_element(By.ID, "send-button").click()

    key = wait_for(
        browser,
        lambda b: attribute_of(b, "#list tr[data-provider='github'][data-status='processed']", "data-key"),
        "no processed GitHub delivery in the list",
    )
    click_when_ready(browser, f"#list tr[data-key='{key}']")  # the list may have been redrawn since
    wait_for(
        browser,
        lambda b: b.find_element(By.ID, "detail").is_displayed() and "processed" in text_of(b, "timeline"),
        "the detail view did not show the processed delivery",
    )
    assert key.split("/", 1)[1] in browser.find_element(By.ID, "detail-title").text
    headers = browser.find_element(By.ID, "headers").text
    assert "x-github-event" in headers and "x-hub-signature-256" in headers
    assert '"ref": "refs/heads/main"' in browser.find_element(By.ID, "body").text  # pretty-printed JSON
    verification = browser.find_element(By.ID, "detail-verification").text
    assert "verified" in verification and "current" in verification
    assert "delivery accepted" in browser.find_element(By.ID, "logs").text
    assert browser.find_element(By.ID, "curl").get_attribute("textContent").startswith("curl -sS -X POST ")

    browser.find_element(By.ID, "replay-button").click()
    wait_for(
        browser,
        lambda b: b.find_elements(By.CSS_SELECTOR, "#timeline li[data-what^='processed (replay']"),
        "the replay did not appear processed in the timeline",
    )
    assert "replay requested" in browser.find_element(By.ID, "timeline").text
    assert browser.execute_script("return window.__sameDocument === true"), "the page reloaded"


def test_a_forged_sample_appears_rejected_with_its_reason(pipeline: LocalPipeline, browser: Any):
    """Given the inbox open
    When the developer sends a forged Stripe sample
    Then a rejected request appears, and its detail names the reason code (401 signature_mismatch)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser.get(f"{pipeline.api_url}/_inbox")
    wait_for(browser, lambda b: b.execute_script("return document.body.dataset.ready"), "the page did not start")
    Select(browser.find_element(By.ID, "send-provider")).select_by_value("stripe")
    Select(browser.find_element(By.ID, "send-variant")).select_by_value("forged")
    browser.find_element(By.ID, "send-button").click()
    wait_for(
        browser,
        lambda b: b.find_elements(By.CSS_SELECTOR, "#list tr[data-provider='stripe'][data-status='rejected']"),
        "no rejected Stripe request in the list",
    )
    wait_for(
        browser,
        lambda b: "signature_mismatch" in b.find_element(By.ID, "detail-verification").text,
        "the rejected request's detail did not show its reason",
    )
    assert "401" in browser.find_element(By.ID, "detail-verification").text


def test_without_server_sent_events_the_page_polls_and_still_updates_without_a_reload(
    pipeline: LocalPipeline, browser: Any
):
    """Given the inbox opened with ?poll (the fallback when the event stream cannot be used)
    When a delivery is sent from elsewhere (hookctl send, here the inbox's API from Python)
    Then it appears in the list, processed, without a page reload."""
    import http.client
    import json

    from selenium.webdriver.common.by import By

    browser.get(f"{pipeline.api_url}/_inbox?poll")
    wait_for(browser, lambda b: b.execute_script("return document.body.dataset.ready"), "the page did not start")
    assert text_of(browser, "live") == "live (polling)"
    browser.execute_script("window.__sameDocument = true")
    connection = http.client.HTTPConnection("127.0.0.1", pipeline.api.port if pipeline.api else 0, timeout=30)
    headers = {"content-type": "application/json", "x-inbox": "1"}
    connection.request("POST", "/_inbox/api/send", json.dumps({"provider": "slack", "variant": "valid"}), headers)
    key = json.loads(connection.getresponse().read())["key"]
    connection.close()
    wait_for(
        browser,
        lambda b: b.find_elements(By.CSS_SELECTOR, f"#list tr[data-key='{key}'][data-status='processed']"),
        "the polled list did not show the processed delivery",
    )
    assert browser.execute_script("return window.__sameDocument === true"), "the page reloaded"
