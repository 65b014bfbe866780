"""Screenshots of the local inbox for docs/local.md: ``python -m tools.inbox_screenshots [OUT_DIR]``.

Starts the local pipeline (free ports, a scratch log directory), sends a few samples through the inbox's own API (a
GitHub push, a Stripe event, a Slack event twice, a forged Twilio request), replays the GitHub delivery, and saves
``inbox-list.png`` (the list) and ``inbox-detail.png`` (the GitHub delivery opened) in OUT_DIR (default docs/img),
1200 x 800, with the same headless Chromium as the browser test (``tools/browser.py``).
"""

from __future__ import annotations

import http.client
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hookctl.local.runner import LocalConfig, LocalPipeline
from tools.browser import click_when_ready, find_browser, headless_chrome

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = [("github", "valid"), ("stripe", "valid"), ("slack", "duplicate"), ("twilio", "forged")]


def post(port: int, path: str, document: dict[str, Any]) -> dict[str, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = json.dumps(document)
    connection.request("POST", path, body, {"content-type": "application/json", "x-inbox": "1"})
    answer = json.loads(connection.getresponse().read())
    connection.close()
    return answer


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else ROOT / "docs" / "img"
    found = find_browser()
    if isinstance(found, str):
        print(f"cannot take screenshots: {found}", file=sys.stderr)
        return 1
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        config = LocalConfig(
            template=ROOT / "template.yaml", port=0, endpoint_port=0, inbox=True, log_dir=Path(scratch), environ={}
        )
        with LocalPipeline(config) as pipeline:
            port = pipeline.api.port if pipeline.api else 0
            keys = [post(port, "/_inbox/api/send", {"provider": p, "variant": v})["key"] for p, v in SAMPLES]
            pipeline.wait_until_drained(timeout=30, settle=0.5)
            github = keys[0]
            provider, _, delivery_id = github.partition("/")
            post(port, "/_inbox/api/replay", {"provider": provider, "delivery_id": delivery_id})
            pipeline.wait_until_drained(timeout=30, settle=0.5)
            browser = headless_chrome(*found, width=1200, height=800)
            try:
                browser.get(f"{pipeline.api_url}/_inbox")
                _wait(lambda: browser.execute_script("return document.body.dataset.ready"))
                _wait(lambda: len(browser.find_elements("css selector", "#list tbody tr")) >= len(SAMPLES))
                browser.save_screenshot(str(out / "inbox-list.png"))
                click_when_ready(browser, f"#list tr[data-key='{github}']")
                _wait(lambda: "replay" in browser.find_element("id", "timeline").text)
                browser.save_screenshot(str(out / "inbox-detail.png"))
            finally:
                browser.quit()
    for name in ("inbox-list.png", "inbox-detail.png"):
        print(f"wrote {out / name} ({(out / name).stat().st_size} bytes)")
    return 0


def _wait(condition: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the inbox did not show what the screenshot needs")
        time.sleep(0.1)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
