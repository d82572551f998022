"""The UI's Jinja2 environment: templates from this package, every value escaped.

Autoescaping is on for every template: paths, task names, inputs, environment values and
error messages come from users and reach pages only as text. Templates get ``ui`` (the
request's ``Page``: grant, CSRF token, the current path) besides their own context, and the
filters ``duration``, ``when``, ``plural`` (``n|plural("task node")``) and ``bytes``.
"""

from __future__ import annotations

import datetime
import functools
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from retune.server.ui.words import byte_size, plural


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("retune.server.ui", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a misspelt name is an error in the tests, not a blank
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["duration"] = format_duration
    env.filters["when"] = format_time
    env.filters["plural"] = plural
    env.filters["bytes"] = byte_size
    return env


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """``template`` rendered with ``context`` and the request's page state, as an HTML answer."""
    from retune.server.ui.session import page_state

    body = environment().get_template(template).render(ui=page_state(request), **context)
    headers = {"Cache-Control": "no-store", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin"}
    return HTMLResponse(body, status_code=status, headers=headers)


def format_duration(seconds: float | None) -> str:
    """``0.42`` -> ``420 ms``; ``75`` -> ``1 min 15 s``; None -> an en dash."""
    if seconds is None:
        return "–"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def format_time(timestamp: float | None) -> str:
    """A Unix time as ``2026-12-02 17:40:03`` UTC; None -> an en dash."""
    if timestamp is None:
        return "–"
    moment = datetime.datetime.fromtimestamp(timestamp, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S")
