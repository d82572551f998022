"""`make demo`: show a workflow's hooks, then what every node would run with, and why.

    python examples/demo.py [-o HOOK.FIELD=VALUE ...]

Without -o it applies a few launch-time overrides, as `retune run -o` will.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import retune as rt
from retune.model.resources import RESOURCE_NAMES, format_quantity
from retune.overrides import parse_cli_overrides

DEFAULT_OVERRIDES = [
    "train.mem=2Gi",
    "train.env.LOG_LEVEL=debug",
    "task-ketan.retries=0",
    "features.task_config.spark_conf[spark.sql.shuffle.partitions]=64",
]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-o", dest="overrides", action="append", metavar="HOOK.FIELD=VALUE")
    args = parser.parse_args()
    from training import nightly, pipeline

    items = args.overrides if args.overrides is not None else DEFAULT_OVERRIDES
    try:
        overrides = parse_cli_overrides(items)
        resolved = rt.resolve(nightly, overrides=overrides, name="cli")
    except rt.RetuneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    compiled = rt.compile(pipeline)
    print(f"Workflow {compiled.name}: {len(compiled.nodes)} task nodes, {len(compiled.hooks)} hooks\n")
    print(
        _table(
            ["hook", "node", "task", "declared at", "default from workflow code"],
            [
                [
                    name,
                    ", ".join(h.nodes),
                    h.task.rsplit(".", 1)[-1],
                    h.declared_at.split(",")[0],
                    _describe(h.default),
                ]
                for name, h in compiled.hooks.items()
            ],
        )
    )
    print(
        f"\nResolved with launch plan {nightly.name!r} and overrides: {' '.join('-o ' + i for i in items)}\n"
    )
    for path, node in resolved.items():
        hook = f"  hook {node.hook!r}" if node.hook else "  (no hook: not overridable)"
        print(f"{path}  task {node.task.rsplit('.', 1)[-1]}{hook}")
        rows = [[field, value, _source(node.provenance.get(field))] for field, value in _fields(node.config)]
        print(_indent(_table(["field", "value", "from"], rows)))
        print()
    return 0


def _fields(config: rt.EffectiveConfig) -> list[tuple[str, str]]:
    rows = []
    for kind in ("requests", "limits"):
        resources = getattr(config, kind)
        rows += [(f"{kind}.{n}", format_quantity(n, getattr(resources, n))) for n in RESOURCE_NAMES]
    for name in (
        "cache",
        "cache_serialize",
        "cache_version",
        "retries",
        "interruptible",
        "container_image",
        "timeout",
    ):
        rows.append((name, repr(getattr(config, name))))
    rows += [(f"environment.{k}", repr(v)) for k, v in config.environment.items()]
    rows += [(f"task_config.{k}", repr(v)) for k, v in _leaves(config.task_config)]
    return rows


def _leaves(tree: object, prefix: str = "") -> list[tuple[str, object]]:
    if isinstance(tree, dict) or hasattr(tree, "items"):
        out: list[tuple[str, object]] = []
        for key, value in tree.items():  # type: ignore[union-attr]
            out += (
                _leaves(value, f"{prefix}{key}.")
                if hasattr(value, "items") and value
                else [(f"{prefix}{key}", value)]
            )
        return out
    return [(prefix.rstrip("."), tree)]


def _source(source: rt.Source | None) -> str:
    if source is None:
        return "task type default"
    hook = f" via hook {source.hook}" if source.hook else ""
    return f"{source.layer.value} {source.name}{hook}"


def _describe(overrides: rt.TaskNodeOverrides) -> str:
    """``resources.requests.mem=1Gi retries=3``, quantities in Kubernetes notation."""
    parts = []
    for path, value in _leaves(overrides.to_dict()):
        name = path.rsplit(".", 1)[-1]
        shown = format_quantity(name, value) if path.startswith("resources.") else value
        parts.append(f"{path}={shown}")
    return " ".join(parts) or "-"


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def _indent(text: str) -> str:
    return "\n".join("    " + row for row in text.splitlines())


if __name__ == "__main__":
    sys.exit(main())
