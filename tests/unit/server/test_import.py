"""``import retune.server`` stays light: the CLI imports it to find ``serve`` on every command."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys
import retune.server
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("fastapi", "uvicorn", "starlette"))))
"""


def test_import_retune_server_loads_neither_fastapi_nor_uvicorn() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
