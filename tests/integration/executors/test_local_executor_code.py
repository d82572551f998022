"""Where task code comes from: other interpreters (images), scripts run as ``__main__``, notebooks."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import venv
from pathlib import Path

import local_tasks as tasks
import pytest
from local_support import DirBlobs, by_value, effective, ref, request

from retune.executors.base import Outcome, TaskRef
from retune.executors.bundles import bundle_key, digest_of, zip_files
from retune.executors.local import MAX_SLOTS, LocalExecutor

SUPPORT = Path(__file__).parent


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with no packages at all: not retune, not cloudpickle, not pydantic."""
    root = tmp_path_factory.mktemp("images") / "bare"
    venv.create(root, with_pip=False, symlinks=True)
    return root / "bin" / "python"


def test_an_image_runs_under_its_mapped_interpreter(blobs: DirBlobs, bare_python: Path) -> None:
    with LocalExecutor(blobs, images={"bare": str(bare_python)}) as executor:
        in_image = effective(container_image="bare")
        under_image = executor.submit(request(ref(tasks.interpreter), config=in_image)).result(timeout=60)
        default = executor.submit(request(ref(tasks.interpreter))).result(timeout=60)
        sees_pydantic = executor.submit(
            request(ref(tasks.importable), [{"name": "pydantic"}], config=in_image)
        )
        added = executor.submit(request(by_value(_offset_by(5)), [{"x": 1}], config=in_image)).result(
            timeout=60
        )

    assert under_image.outputs == [{"o0": str(bare_python)}]
    assert default.outputs == [{"o0": sys.executable}]
    assert sees_pydantic.result(timeout=60).outputs == [{"o0": False}]  # the launcher's packages stay out
    assert added.outputs == [{"o0": 6}]  # cloudpickle is there for tasks sent by value


def _offset_by(offset: int):  # type: ignore[no-untyped-def]
    def offset_task(x: int) -> int:
        return x + offset

    return offset_task


def test_an_image_whose_interpreter_cannot_start_retune_is_lost_with_its_stderr(
    blobs: DirBlobs, tmp_path: Path
) -> None:
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'no python here' >&2\nexit 3\n")
    fake.chmod(0o755)

    with LocalExecutor(blobs, images={"broken": str(fake)}) as executor:
        result = executor.submit(
            request(ref(tasks.add), [{"x": 1}], config=effective(container_image="broken"))
        )

        lost = result.result(timeout=60)

    assert lost.outcome is Outcome.LOST
    assert "did not start" in (lost.error or "")
    assert "no python here" in (lost.error or "")


def test_a_task_in_a_script_run_as_main_runs_when_sent_by_value(tmp_path: Path) -> None:
    script = tmp_path / "flow.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            from pathlib import Path

            sys.path.insert(0, {str(SUPPORT)!r})
            import retune as rt
            from local_support import DirBlobs, by_value, request
            from retune.executors.local import LocalExecutor

            GREETING = "hello"

            @rt.task
            def greet(name: str) -> str:
                return f"{{GREETING}} {{name}} from {{__name__}}"

            if __name__ == "__main__":
                with LocalExecutor(DirBlobs(Path(sys.argv[1]))) as executor:
                    result = executor.submit(request(by_value(greet.fn), [{{"name": "script"}}])).result(60)
                print(result.outcome.value, result.outputs[0]["o0"])
            """
        )
    )

    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "blobs")], capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "succeeded hello script from __main__"


def test_a_task_defined_in_a_notebook_namespace_runs_when_sent_by_value(executor: LocalExecutor) -> None:
    cell = textwrap.dedent(
        """
        import retune as rt

        FACTOR = 3

        @rt.task
        def triple(x: int) -> list[int]:
            return [FACTOR * x] * 2
        """
    )
    namespace: dict[str, object] = {"__name__": "notebook_cell"}
    exec(cell, namespace)

    result = executor.submit(request(by_value(namespace["triple"].fn), [{"x": 2}])).result(timeout=60)  # type: ignore[attr-defined]

    assert result.outcome is Outcome.SUCCEEDED
    assert result.outputs == [{"o0": [6, 6]}]


def test_a_task_in_main_sent_by_reference_is_refused_with_the_fix(executor: LocalExecutor) -> None:
    by_reference = ref(tasks.add).__class__(name="__main__.greet", module="__main__", qualname="greet")

    result = executor.submit(request(by_reference, [{"name": "x"}])).result(timeout=60)

    assert result.outcome is Outcome.USER_ERROR
    assert "defined in __main__, so a task process cannot import it; send it by value" in (result.error or "")


def _bundle_of(blobs: DirBlobs, source: str) -> TaskRef:
    """A one-module bundle ``edited`` holding ``source``, put in ``blobs``: code as one run had it."""
    data = zip_files({"edited.py": source.encode()})
    blobs.put(bundle_key(digest_of(data)), data)
    return TaskRef(name="edited.version", module="edited", qualname="version", bundle=digest_of(data))


def _task_processes() -> set[int]:
    """Pids of this process's children that run retune's task runtime."""
    found = set()
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)[1].split()
            cmdline = (status.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and b"retune.task_runtime" in cmdline:
            found.add(int(status.parent.name))
    return found


def test_each_version_of_the_code_runs_from_its_own_bundle_and_old_versions_do_not_pile_up(
    blobs: DirBlobs,
) -> None:
    source = "import os\n\ndef version() -> tuple[int, int]:\n    return {n}, os.getpid()\n"
    others = _task_processes()  # other executors' of this test process
    with LocalExecutor(blobs, capacity={"cpu": "2", "mem": "4Gi"}) as executor:
        deadline = time.monotonic() + 30
        while not (warm := _task_processes() - others) and time.monotonic() < deadline:
            time.sleep(0.05)
        seen = []
        for n in range(MAX_SLOTS + 4):  # code edited between runs, one process: a bundle each
            result = executor.submit(request(_bundle_of(blobs, source.format(n=n)))).result(timeout=60)
            assert result.outcome is Outcome.SUCCEEDED, result.error
            seen.append((result.outputs[0]["o0"], result.outputs[0]["o1"]))
        alive = _task_processes() - others

    assert [n for n, _ in seen] == list(range(MAX_SLOTS + 4))  # never an older version's module
    assert seen[0][1] in warm  # the warm process took the first bundle: no start-up paid for it
    assert len(alive) <= MAX_SLOTS  # idle processes of old bundles were ended
