"""The image registry: image name -> interpreter, and what a foreign interpreter gets to see."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from retune.executors.base import Refused
from retune.executors.images import Interpreters


def test_no_image_means_the_running_interpreter() -> None:
    images = Interpreters({})

    images.check(None)
    assert images.interpreter(None) == sys.executable
    assert not images.is_foreign(sys.executable)


def test_an_unknown_image_is_refused_listing_the_known_ones() -> None:
    images = Interpreters({"py-b": sys.executable, "py-a": sys.executable})

    with pytest.raises(Refused) as refused:
        images.check("gpu")

    assert refused.value.field == "container_image"
    assert "unknown image 'gpu' (the local executor knows: 'py-a', 'py-b')" in str(refused.value)
    assert "[images]" in refused.value.fix


def test_an_image_whose_interpreter_is_missing_is_refused(tmp_path: Path) -> None:
    images = Interpreters({"gone": str(tmp_path / "python")})

    with pytest.raises(Refused, match=r"image 'gone' maps to .*which is not an executable Python"):
        images.check("gone")


def test_a_foreign_interpreter_sees_retune_and_cloudpickle_but_not_this_environment(tmp_path: Path) -> None:
    foreign = str(tmp_path / "venv" / "bin" / "python")
    images = Interpreters({"bare": foreign})
    try:
        pythonpath = images.environment(foreign)["PYTHONPATH"].split(os.pathsep)
        shim = Path(pythonpath[0])

        assert sorted(p.name for p in shim.iterdir()) == ["cloudpickle", "retune"]
        assert (shim / "retune" / "task_runtime" / "main.py").is_file()
    finally:
        images.close()
