"""The web UI (DESIGN §10): server-rendered pages under ``/ui``, served by ``retune serve``.

No build step and no third-party front-end code: Jinja2 templates (``templates/``), one style
sheet and a little JavaScript of our own (``static/``), which only adds to pages that work
without it (live phases, changed-field highlighting, collapsing). Pages read and launch through
the same ``LocalControlPlane`` as the API, so a form is refused exactly as the API would refuse
its body.

    session.py      who is looking: login cookie, grant, CSRF token
    routing.py      UiRoute: errors as pages, LoginRequired as a redirect
    templates.py    the Jinja2 environment and ``render``
    words.py        counts and sizes in words: ``plural(1, "task node")``, ``byte_size``
    login.py        /ui/login, /ui/logout
    workflows.py    /ui/workflows, /ui/workflows/{project}/{domain}/{name}
    launch.py       /ui/workflows/{project}/{domain}/{name}/launch (GET form, POST launch/preview)
    form.py         the launch form: fields from the schemas, posted fields -> overrides
    config_view.py  an effective config as rows with provenance (preview, node panel)
    graph.py        the workflow graph as SVG, laid out on the server, cached by content hash
    executions.py   /ui/executions, /ui/executions/{id} (live phases, state, abort)
    node_panel.py   /ui/executions/{id}/nodes/{path}: config and provenance, attempts, logs
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.responses import RedirectResponse
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    """Add the UI's routes and static files to ``app``; ``/`` and ``/ui`` lead to the workflows."""
    from retune.server.ui import executions, launch, login, node_panel, workflows

    for module in (login, workflows, launch, executions, node_panel):
        app.include_router(module.router)
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")

    @app.get("/", include_in_schema=False)
    @app.get("/ui", include_in_schema=False)
    @app.get("/ui/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/ui/workflows", status_code=303)
