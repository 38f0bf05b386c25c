"""The `zsclf` command line: a thin Typer layer over the library.

Exit codes: 0 success; 1 some inputs failed (the rest were processed); 2 usage error or an
unusable model/index, with a one-line message saying how to fix it.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from . import __version__
from .errors import ZsclfError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Zero-shot image classification over tens of thousands of labels (ConSE/DeViSE).")


class Format(str, Enum):
    table = "table"
    jsonl = "jsonl"
    csv = "csv"
    tsv = "tsv"


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class IndexKind(str, Enum):
    flat = "flat"
    hnsw = "hnsw"


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print `zsclf: error: message` on stderr and return the Exit to raise."""
    print(f"zsclf: error: {message}", file=sys.stderr)
    return typer.Exit(code)


def stderr_console():
    from rich.console import Console

    return Console(stderr=True)


def progress_bar(quiet: bool, unit: str):
    """A Rich progress bar on stderr (never touching stdout), or None when quiet."""
    if quiet:
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    class Rate(TextColumn):
        def render(self, task):
            speed = task.finished_speed or task.speed
            return super().render(task) if speed is None else f"{speed:,.0f} {unit}/s"

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), Rate(""),
                    TimeElapsedColumn(), console=stderr_console(), redirect_stdout=False,
                    redirect_stderr=False, transient=False)


@app.command()
def predict(
    inputs: Annotated[list[str], typer.Argument(help="Image files, folders (walked recursively), or - to read paths from stdin.")],
    index: Annotated[Path | None, typer.Option("--index", help="Index folder (default: the ImageNet-21K index).")] = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="Labels per image.")] = 5,
    fmt: Annotated[Format | None, typer.Option("--format", "-f", help="Output format (default: table on a terminal, else jsonl).")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Images per encoder batch.")] = 32,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="Compute threads (default: all cores).")] = None,
    device: Annotated[Device, typer.Option("--device", help="Where to run.")] = Device.auto,
    exclude_seen: Annotated[bool, typer.Option("--exclude-seen", help="Never answer one of the 1,000 ImageNet-1K training classes.")] = False,
    top_t: Annotated[int, typer.Option("--top-t", min=1, help="ConSE: how many seen classes are mixed.")] = 10,
    min_score: Annotated[float | None, typer.Option("--min-score", help="Drop labels scoring below this cosine similarity.")] = None,
    model: Annotated[str | None, typer.Option("--model", help="Image model from models/manifest.json.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Say which devices are in use.")] = False,
) -> None:
    """Rank labels for images."""
    from .images import expand_inputs
    from .output import default_format, make_writer
    from .pipeline import Classifier

    try:
        clf = Classifier.load(index, device=device.value, threads=threads, top_t=top_t, image_model=model, top_k=top_k)
    except ZsclfError as exc:
        raise fail(str(exc)) from None
    if verbose:
        print(f"zsclf: encoder {clf.encoder.name} on {clf.devices['encoder']}, search on {clf.devices['search']}, "
              f"index {clf.index.meta.get('source', '')} ({len(clf.index)} labels)", file=sys.stderr)
    writer = make_writer(fmt.value if fmt else default_format(sys.stdout))
    failed = total = 0
    try:
        for result in clf.predict_paths(expand_inputs(inputs), top_k=top_k, batch_size=batch_size,
                                        exclude_seen=exclude_seen, min_score=min_score):
            total += 1
            if result.error is not None:
                failed += 1
                print(f"zsclf: error: {result.error}", file=sys.stderr)
            writer.write(result)
    except BrokenPipeError:  # e.g. `zsclf predict ... | head`
        sys.stderr.close()
        raise typer.Exit(0) from None
    finally:
        writer.close()
    if total == 0:
        raise fail("no images found in the inputs")
    if failed:
        print(f"zsclf: {failed} of {total} inputs failed", file=sys.stderr)
        raise typer.Exit(1)


@app.command("build-index")
def build_index(
    labels: Annotated[Path, typer.Argument(help="Label file: .txt (one per line) or .tsv/.csv with a header.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Index folder to write (default: next to the labels).")] = None,
    template: Annotated[str, typer.Option("--template", help="Text embedded per label: gloss (name: description, else name), name, photo, lemmas, or a format string with {name}.")] = "gloss",
    kind: Annotated[IndexKind, typer.Option("--kind", help="flat = exact search; hnsw = approximate (recall is measured and printed).")] = IndexKind.flat,
    threads: Annotated[int | None, typer.Option("--threads", min=1)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Embed a list of labels and write a searchable index folder."""
    from .build import build_text_index
    from .device import SessionConfig
    from .labels import read_labels
    from .text import TextEncoder

    try:
        label_set = read_labels(labels)
        out = output or labels.with_suffix("").with_name(labels.stem + ".index")
        if label_set.dropped_blank or label_set.dropped_duplicates:
            print(f"zsclf: {labels}: dropped {label_set.dropped_blank} blank lines and "
                  f"{label_set.dropped_duplicates} duplicates", file=sys.stderr)
        text = TextEncoder.load(config=SessionConfig(device="cpu", threads=threads))
        bar = progress_bar(quiet, "labels")
        if bar:
            with bar:
                task = bar.add_task("embedding labels", total=len(label_set))
                index = build_text_index(label_set, text, template, kind.value, source=labels.name,
                                         progress=lambda n: bar.advance(task, n))
        else:
            index = build_text_index(label_set, text, template, kind.value, source=labels.name)
        index.save(out)
    except ZsclfError as exc:
        raise fail(str(exc)) from None
    recall = index.meta.get("hnsw_recall_at_10")
    extra = f", HNSW recall@10 vs exact: {recall:.3f}" if recall is not None else ""
    if not quiet:
        print(f"zsclf: wrote {out} ({len(index)} labels, {index.dim}-d, {kind.value}{extra})", file=sys.stderr)
    elif recall is not None:
        print(f"zsclf: HNSW recall@10 vs exact: {recall:.3f}", file=sys.stderr)


@app.command("eval")
def eval_command(
    data: Annotated[Path, typer.Argument(help="Image-folder tree (folder name = label) or a TSV/CSV manifest (path, label and/or id).")],
    index: Annotated[Path | None, typer.Option("--index", help="Index folder (default: the ImageNet-21K index).")] = None,
    only: Annotated[str | None, typer.Option("--only", help="Keep samples whose path starts with this (e.g. test/).")] = None,
    exclude_seen: Annotated[bool, typer.Option("--exclude-seen", help="Never answer one of the 1,000 ImageNet-1K training classes.")] = False,
    top_t: Annotated[int, typer.Option("--top-t", min=1, help="ConSE: how many seen classes are mixed.")] = 10,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 32,
    threads: Annotated[int | None, typer.Option("--threads", min=1)] = None,
    device: Annotated[Device, typer.Option("--device")] = Device.auto,
    model: Annotated[str | None, typer.Option("--model", help="Image model from models/manifest.json.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Accuracy on labelled photos: hit@k, hierarchical precision@k, per-class accuracy, confusions."""
    import json

    from .dataset import read_dataset
    from .evaluate import evaluate
    from .labels import read_hypernyms
    from .pipeline import Classifier

    try:
        samples = read_dataset(data, only)
        clf = Classifier.load(index, device=device.value, threads=threads, top_t=top_t, image_model=model)
        bar = progress_bar(quiet or as_json, "images")
        kwargs = dict(exclude_seen=exclude_seen, batch_size=batch_size, hypernyms=read_hypernyms())
        if bar:
            with bar:
                task = bar.add_task("evaluating", total=len(samples))
                report = evaluate(clf, samples, progress=lambda n: bar.advance(task, n), **kwargs)
        else:
            report = evaluate(clf, samples, **kwargs)
    except ZsclfError as exc:
        raise fail(str(exc)) from None
    report["data"] = str(data)
    report["index"] = str(index or "default")
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        from .sysinfo import print_eval

        print_eval(report)
    if report["failed"]:
        raise typer.Exit(1)


@app.command()
def benchmark(
    images: Annotated[list[str] | None, typer.Argument(help="Images or folders (default: generated images).")] = None,
    index: Annotated[Path | None, typer.Option("--index", help="Index folder (default: the ImageNet-21K index).")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Use at most this many images.")] = 256,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 32,
    threads: Annotated[int | None, typer.Option("--threads", min=1)] = None,
    device: Annotated[Device, typer.Option("--device", help="auto: CPU, and CUDA too when present, side by side.")] = Device.auto,
    repeats: Annotated[int, typer.Option("--repeats", min=1, help="Best of this many runs per stage.")] = 2,
    cold_runs: Annotated[int, typer.Option("--cold-runs", min=0, help="One-image predict processes to time (0 = skip).")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Speed by stage and end to end, batch-1 latency, cold start, index load time, peak RSS."""
    import itertools
    import json
    import tempfile

    from .bench import available_devices, generate_images, machine, run_benchmark
    from .images import expand_inputs

    with tempfile.TemporaryDirectory(prefix="zsclf-bench-") as tmp:
        paths = list(itertools.islice(expand_inputs(images), limit)) if images else generate_images(Path(tmp), min(limit, 96))
        if not paths:
            raise fail("no images found in the inputs")
        devices = available_devices() if device is Device.auto else [device.value]
        try:
            runs = [run_benchmark(paths, index, d, batch_size, threads, repeats=repeats, cold_runs=cold_runs if d == "cpu" else 0)
                    for d in devices]
        except ZsclfError as exc:
            raise fail(str(exc)) from None
    result = {"machine": machine(), "source": "generated" if not images else "given", "runs": runs}
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        from .sysinfo import print_benchmark

        print_benchmark(result)


@app.command()
def info(
    index: Annotated[Path | None, typer.Option("--index", help="Index folder to describe.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    checksums: Annotated[bool, typer.Option("--checksums/--no-checksums", help="Verify model and index checksums.")] = True,
) -> None:
    """Versions, devices, and where the models and index are (with checksums)."""
    import json

    from .sysinfo import collect_info, print_info

    data = collect_info(index, checksums)
    if as_json:
        print(json.dumps(data, indent=2))
    else:
        print_info(data)


def version_callback(value: bool) -> None:
    if value:
        print(f"zsclf {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[bool, typer.Option("--version", callback=version_callback, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Zero-shot image classification over tens of thousands of labels."""


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except ZsclfError as exc:  # anything a command did not translate itself
        print(f"zsclf: error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
