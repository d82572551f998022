"""A bundle upload must be a zip whose sha256 is its name; anything else is a 422 and nothing
is stored (a value's blob reference must never find client bytes under ``bundles/``)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from .support import API, TestClient, zip_bytes

HEADERS = {"Content-Type": "application/zip"}


def stored(home: Path) -> list[str]:
    folder = home / "blobs" / "bundles"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_bytes_that_are_not_a_zip_are_refused_and_not_stored(client: TestClient, home: Path) -> None:
    data = b"\x80\x04\x95 a pickle, not a zip"
    digest = hashlib.sha256(data).hexdigest()

    answer = client.put(f"{API}/bundles/{digest}", content=data, headers=HEADERS)

    assert answer.status_code == 422
    detail = answer.json()["detail"]
    assert detail["error"] == "InputError"
    assert detail["message"].startswith("The bundle is not a zip archive")
    assert "retune register" in detail["fix"]
    assert stored(home) == []


def test_a_hash_mismatch_names_both_hashes_and_stores_nothing(client: TestClient, home: Path) -> None:
    data = zip_bytes(**{"flows.py": b"x = 1\n"})
    actual, claimed = hashlib.sha256(data).hexdigest(), "0" * 64

    answer = client.put(f"{API}/bundles/{claimed}", content=data, headers=HEADERS)

    assert answer.status_code == 422
    message = answer.json()["detail"]["message"]
    assert actual in message
    assert claimed in message
    assert stored(home) == []


def test_a_zip_with_a_path_out_of_its_directory_is_refused(client: TestClient, home: Path) -> None:
    data = zip_bytes(**{"../escape.py": b"import os\n"})

    answer = client.put(f"{API}/bundles/{hashlib.sha256(data).hexdigest()}", content=data, headers=HEADERS)

    assert answer.status_code == 422
    assert "'../escape.py'" in answer.json()["detail"]["message"]
    assert stored(home) == []


def test_a_zip_named_by_its_sha256_is_stored(client: TestClient, home: Path) -> None:
    data = zip_bytes(**{"flows.py": b"x = 1\n"})
    digest = hashlib.sha256(data).hexdigest()

    assert client.put(f"{API}/bundles/{digest}", content=data, headers=HEADERS).status_code == 201
    assert stored(home) == [f"{digest}.zip"]
