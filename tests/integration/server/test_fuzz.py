"""Property-based requests to every operation of the OpenAPI document, with every check of
schemathesis (``--checks all``): no answer is a server error, and every answer is one the
document describes (status, content type, body schema, headers), valid data is accepted and
invalid data refused.

Schemathesis generates valid and invalid bodies, parameters and headers from /openapi.json and
sends them, with a valid token, to an app over a SQLite file where a workflow and a launch plan
are registered and an execution launched beforehand, so that some requests reach the plane.

One setting says what the schema cannot: a request valid for the schema may still be refused
with 422 for its meaning (an input the workflow does not have, a bundle that is not a zip),
so ``positive_data_acceptance`` expects 422 besides its defaults.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.config import SchemathesisConfig
from schemathesis.python.asgi import shutdown_lifespans

import retune as rt
from retune.control import LocalControlPlane
from retune.model.control import ExecutionRequest, LaunchPlanRequest, Registration
from retune.server.app import create_app, database_url
from retune.settings import ServerSettings, Settings
from retune.store import open_blobs, open_store

# Code bundles are raw bytes: send what schemathesis generates for them as it sends octet streams.
schemathesis.serializer.alias("application/zip", "application/octet-stream")

TOKEN: Final = "fuzz-token-0123456789abcdef"
load_all_checks()
ALL_CHECKS: Final = CHECKS.get_all()
ACCEPTED: Final = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]
CONFIG: Final = SchemathesisConfig.from_dict(
    {"checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED}}}
)


@rt.task(requests=rt.Resources(cpu="1", mem="256Mi"))
def square(x: int) -> int:
    return x * x


@rt.workflow
def flow(x: int = 2) -> int:
    return square(x=x).with_runtime_override("square")


def prepared_app(home: Path) -> Any:
    """The app over ``home``, with flow registered in flytesnacks/development and launched once."""
    settings_ = Settings(
        home=home,
        capacity={"cpu": "2", "mem": "4Gi"},
        server=ServerSettings(
            tokens=({"name": "fuzz", "token": TOKEN, "projects": ["*"], "rights": ["read", "launch"]},)
        ),
    )
    plane = LocalControlPlane(open_store(database_url(settings_)), open_blobs(home / "blobs"))
    try:
        # Named as in the OpenAPI examples, so that generated paths find it.
        spec = rt.compile(flow).spec.model_copy(update={"name": "flows.training.wf"})
        where = {"project": "flytesnacks", "domain": "development"}
        plane.register(Registration(**where, version="v1", workflows=(spec,)))
        plane.create_launch_plan(LaunchPlanRequest(**where, name="nightly", workflow=spec.name))
        plane.launch(ExecutionRequest(**where, workflow=spec.name))
        plane.put_bundle(b"PK\x05\x06" + bytes(18))
    finally:
        plane.close()
    return create_app(settings_)


HOME = Path(tempfile.mkdtemp(prefix="retune-fuzz-"))
schema = schemathesis.openapi.from_asgi("/openapi.json", prepared_app(HOME), config=CONFIG)


@schema.auth()
class Bearer:
    """The token, sent as the document's security scheme says (so no check mistakes it for a
    header the case generated)."""

    def get(self, case: schemathesis.Case, context: Any) -> str:
        return TOKEN

    def set(self, case: schemathesis.Case, data: str, context: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@pytest.fixture(scope="module", autouse=True)
def _stop_the_app() -> Iterator[None]:
    yield
    shutdown_lifespans()  # closes the planes and the executor schemathesis's client started
    shutil.rmtree(HOME, ignore_errors=True)


@schema.parametrize()
@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_no_request_is_a_server_error(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=ALL_CHECKS)


def test_the_fuzzed_app_holds_what_was_prepared() -> None:
    """The operations above ran against real records, not an empty store."""
    digest = hashlib.sha256(b"PK\x05\x06" + bytes(18)).hexdigest()
    assert (HOME / "blobs" / "bundles" / f"{digest}.zip").is_file()
    store = open_store(f"sqlite:///{HOME / 'retune.db'}")
    try:
        assert store.list_launched(project="flytesnacks", limit=1)
    finally:
        store.close()
