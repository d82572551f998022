"""The browser tests' parts: Debian's Chromium driven by Playwright, and a real `retune serve`
with a `retune worker` (``retune.testing.stack.LocalStack``) over a RETUNE_HOME of their own.

Playwright never downloads a browser here: it drives ``/usr/bin/chromium`` (``.ci/run``
installs the ``chromium`` package), sandbox off and no background networking.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest

from retune.testing.stack import LocalStack

CHROMIUM: Final = shutil.which("chromium") or "/usr/bin/chromium"
FLOWS: Final = Path(__file__).parents[1] / "flows_ui"
PROJECT, DOMAIN, VERSION = "shop", "development", "v1"
PIPELINE: Final = "pipeline.pipeline"
SLOW: Final = "pipeline.slow"
READER_TOKEN: Final = "reader-token-0123456789"
ADMIN_TOKEN: Final = "admin-token-0123456789"
TOKENS_TOML: Final = f"""
[[server.tokens]]
name = "admin"
token = "{ADMIN_TOKEN}"
projects = ["*"]
rights = ["read", "launch"]

[[server.tokens]]
name = "reader"
token = "{READER_TOKEN}"
projects = ["*"]
rights = ["read"]
"""


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"No Chromium at {CHROMIUM}: install Debian's chromium package (.ci/run does)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-background-networking"]
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """An open server (no tokens) and one worker, the flows of ``flows_ui`` registered."""
    with LocalStack(tmp_path_factory.mktemp("ui") / "home") as running:
        running.register(FLOWS, project=PROJECT, domain=DOMAIN, version=VERSION)
        yield running


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A server with an admin token and a read-only one, the flows registered."""
    with LocalStack(tmp_path_factory.mktemp("ui-tokens") / "home", config=TOKENS_TOML, workers=0) as running:
        running.register(FLOWS, project=PROJECT, domain=DOMAIN, version=VERSION, token=ADMIN_TOKEN)
        yield running
