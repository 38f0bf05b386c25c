"""Regenerate docs/results.md and the charts in docs/img/ by running zsclf's own commands.

Every number in the report comes from `zsclf eval`, `zsclf benchmark` and
`benchmarks/baseline_torch.py`, run in this invocation; the `report` package beside this file
only plans, runs and formats them.

    .venv/bin/python tools/make_report.py [--out docs/results.md] [--only SECTION] [--quick]

The experiments are data in `report/plan.py` (measurement key -> the command with all its options);
results are cached under the full command line, so sections that share a measurement run it once.
A section is `section_<name>(ctx) -> str` in `report/sections/`, listed in `SECTIONS` there;
`--only <name>` regenerates just that section inside an existing report.
"""

from __future__ import annotations

import sys

from report.cli import main

if __name__ == "__main__":
    sys.exit(main())
