"""``InstalledBundles``: a bundle extracted once from the blob store, and again if its directory
went away (a user cleared RETUNE_HOME between two runs of a notebook)."""

from __future__ import annotations

import shutil
from pathlib import Path

from retune.executors.bundles import InstalledBundles, bundle_key, digest_of, zip_files
from retune.testing import MemoryBlobStore

CODE = zip_files({"flows_mod.py": b"def f():\n    return 1\n"})


def installed(tmp_path: Path) -> tuple[InstalledBundles, str]:
    blobs = MemoryBlobStore()
    digest = digest_of(CODE)
    blobs.put(bundle_key(digest), CODE)
    return InstalledBundles(blobs, tmp_path / "home" / "bundles"), digest


def test_a_bundle_is_extracted_once_and_its_files_are_there(tmp_path: Path) -> None:
    bundles, digest = installed(tmp_path)
    first = bundles.path(digest)
    assert (first / "flows_mod.py").read_text().startswith("def f")
    (first / "marker").write_text("kept")  # a second call extracts nothing again
    assert bundles.path(digest) == first and (first / "marker").exists()


def test_a_bundle_whose_directory_was_removed_is_extracted_again(tmp_path: Path) -> None:
    bundles, digest = installed(tmp_path)
    first = bundles.path(digest)
    shutil.rmtree(tmp_path / "home")

    again = bundles.path(digest)

    assert again == first
    assert (again / "flows_mod.py").read_text().startswith("def f")
