"""The layering of docs/architecture.md, kept true by import-linter's contracts in pyproject.toml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"

    done = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def _contracts() -> dict[str, dict[str, object]]:
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    return {contract["name"]: contract for contract in config["contracts"]}


def test_executors_may_not_import_the_store_engine_or_control_plane() -> None:
    contract = _contracts()["executors never import the store: they report, the engine records"]

    assert contract["source_modules"] == ["retune.executors"]
    assert {"retune.store", "retune.engine", "retune.control", "sqlalchemy"} <= set(
        contract["forbidden_modules"]
    )  # type: ignore[arg-type]


def test_each_heavy_dependency_is_imported_only_by_its_home_package() -> None:
    homes = {
        "sqlalchemy": "retune.store.**",
        "alembic": "retune.store.**",
        "fastapi": "retune.server.**",
        "fsspec": "retune.store.**",
        "ray": "retune.executors.ray",  # one module, DESIGN §8
    }
    contracts = [c for c in _contracts().values() if c.get("source_modules") == ["retune"]]

    for package, home in homes.items():
        (contract,) = [c for c in contracts if package in c.get("forbidden_modules", ())]  # type: ignore[operator]
        assert contract["ignore_imports"] == [  # only the home package is let through
            f"{home} -> {name}"
            for name in contract["forbidden_modules"]  # type: ignore[attr-defined]
        ], package
