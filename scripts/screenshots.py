"""``make screenshots``: PNGs of the web UI for the README, taken in Debian's Chromium.

A real ``retune serve`` and ``retune worker`` (``retune.testing.stack.LocalStack``) over a
throwaway RETUNE_HOME; ``examples/training.py`` registered; one execution of its ``pipeline``
launched with overrides and run to its end. Written to ``docs/images/``:

- ``launch-form.png``: the launch form with the launch plan ``nightly`` chosen and two fields
  changed, then previewed;
- ``execution.png``: the finished execution's page with the node panel of ``train`` open.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"
PROJECT, DOMAIN, WORKFLOW = "demo", "development", "training.pipeline"


def main() -> int:
    from playwright.sync_api import sync_playwright

    from retune.testing.stack import LocalStack

    IMAGES.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="retune-screenshots-"))
    flows = home / "flows"
    flows.mkdir()
    shutil.copy(ROOT / "examples" / "training.py", flows / "training.py")
    try:
        with LocalStack(home / "home") as stack, sync_playwright() as playwright:
            stack.register(flows, project=PROJECT, domain=DOMAIN, version="v1")
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-background-networking"]
            )
            page = browser.new_page(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
            form = f"{stack.url}/ui/workflows/{PROJECT}/{DOMAIN}/{WORKFLOW}/launch"
            page.goto(f"{form}?launch_plan=nightly")
            page.fill('[name="overrides.train.cpu"]', "2")
            page.fill('[name="overrides.train.retries"]', "4")
            page.get_by_role("button", name="Preview").click()
            page.locator('details[data-hook="train"]').scroll_into_view_if_needed()
            page.screenshot(path=str(IMAGES / "launch-form.png"), full_page=False)
            print("written: docs/images/launch-form.png")

            page.get_by_role("button", name="Launch").click()
            page.wait_for_url("**/ui/executions/ex-*")
            execution = page.url.rsplit("/", 1)[1]
            _wait_done(stack.url, execution)
            page.reload()
            page.locator('g.node[data-hook="train"]').first.click()
            page.locator("#node-panel table.config").wait_for()
            page.screenshot(path=str(IMAGES / "execution.png"), full_page=False)
            print("written: docs/images/execution.png")
            browser.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return 0


def _wait_done(url: str, execution: str, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        phase = httpx.get(f"{url}/api/v1/executions/{execution}", timeout=30).json()["phase"]
        if phase in ("SUCCEEDED", "FAILED", "ABORTED"):
            return
        time.sleep(0.5)
    raise SystemExit(f"execution {execution} did not finish within {timeout:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
