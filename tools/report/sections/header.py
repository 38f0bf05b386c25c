"""The report's header: date, commit, machine and how to regenerate."""

from __future__ import annotations

from datetime import datetime, timezone

from ..context import Context
from ..runner import git

REGENERATE = "make report"


def section_header(ctx: Context) -> str:
    """Title, date, commit, machine and how to regenerate."""
    commit = f"`{git('rev-parse', '--short', 'HEAD') or 'unknown'}`"
    if git("status", "--porcelain", "--untracked-files=no"):
        commit += " (with uncommitted changes)"
    bench = ctx.get("benchmark")
    machine_text = ", ".join(f"{key} {value}" for key, value in bench["machine"].items())
    devices = "; ".join(", ".join(f"{k}: {v}" for k, v in run["device"].items()) for run in bench["runs"])
    lines = [
        "# zsclf results",
        "",
        f"- Date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Commit: {commit}",
        f"- Machine: {machine_text} (devices: {devices})",
        f"- Regenerate: `{REGENERATE}` (runs `tools/make_report.py`; every number below is measured by that run)",
    ]
    if ctx.quick:
        lines.append(f"- **Quick run** (`--quick`): speed measured on {ctx.plan.limits.bench} images only; "
                     "do not quote these speed numbers.")
    return "\n".join(lines)
