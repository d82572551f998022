"""The workflow the control-plane end-to-end test registers and launches."""

from __future__ import annotations

from steps import report, step

import retune as rt


@rt.workflow
def pipeline(n: int = 1) -> str:
    a = step(x=n)
    b = step(x=a).with_runtime_override("middle")
    c = step(x=b)
    return report(x=c).with_runtime_override("report", rt.runtime_override_config(retries=1))
