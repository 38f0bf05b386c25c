"""`tools/make_report.py`'s command line: choose sections, run them, write (or splice) the report."""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

from .context import Context
from .output import splice, wrap, write_atomic
from .plan import make_plan
from .runner import ROOT, ReportError, log, rel
from .sections import SECTIONS, Section, section_name

DESCRIPTION = "Regenerate docs/results.md and the charts in docs/img/ by running zsclf's own commands."


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    names = [section_name(f) for f in SECTIONS]
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results.md",
                        help="report to write (charts go to img/ next to it; default docs/results.md)")
    parser.add_argument("--only", "--section", dest="only", action="append", choices=names, metavar="SECTION",
                        help="regenerate just this section inside the existing report, leaving the others (and the "
                             f"header's date and commit) as they are; repeatable: {', '.join(names)}")
    parser.add_argument("--quick", action="store_true", help="smaller speed measurements (a few minutes less)")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data",
                        help="evaluation data folder (default ../shared/data)")
    parser.add_argument("--work-dir", type=Path,
                        help="keep the indexes built for the report here (default: a temp folder, removed)")
    return parser.parse_args(argv)


def check_environment(data: Path) -> None:
    """Fail early, with a hint, when zsclf is not importable or the data is missing."""
    if importlib.util.find_spec("zsclf") is None:
        raise ReportError(f"zsclf is not importable by {sys.executable}: run with .venv/bin/python (or `make report`)")
    for needed in ("imagenet-sample/labels.tsv", "flowers12/labels.tsv", "birds50/labels.tsv"):
        if not (data / needed).is_file():
            raise ReportError(f"{data / needed}: missing (evaluation data, see ../shared/data/README.md)")


def render(ctx: Context, chosen: list[Section]) -> dict[str, str]:
    """Run the chosen sections in order; name -> wrapped markdown."""
    blocks = {}
    for func in chosen:
        name = section_name(func)
        log(f"section {name}")
        blocks[name] = wrap(name, func(ctx))
    return blocks


def generate(args: argparse.Namespace, work: Path) -> None:
    """Run the sections and write the report."""
    out = args.out.resolve()
    ctx = Context(data=args.data.resolve(), work=work, out=out, plan=make_plan(args.quick))
    chosen = [f for f in SECTIONS if not args.only or section_name(f) in args.only]
    blocks = render(ctx, chosen)
    if args.only and out.exists():
        text = splice(out.read_text(encoding="utf-8"), blocks)
    else:
        text = "\n\n".join(blocks.values()) + "\n"
    write_atomic(out, text)
    log(f"wrote {rel(out)}")


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 on success, 1 (with the failing command's stderr) otherwise."""
    args = parse_args(argv)
    start = time.perf_counter()
    try:
        check_environment(args.data.resolve())
        if args.work_dir:
            args.work_dir.mkdir(parents=True, exist_ok=True)
            generate(args, args.work_dir.resolve())
        else:
            with tempfile.TemporaryDirectory(prefix="zsclf-report-") as tmp:
                generate(args, Path(tmp))
    except ReportError as exc:
        print(f"make_report: error: {exc}", file=sys.stderr)
        return 1
    log(f"done in {time.perf_counter() - start:.0f} s")
    return 0
