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


def with_progress(bar, description: str, total: int, work):
    """Run work(progress) with a task on `bar` advanced by progress(n), or work(None) without a bar."""
    if bar is None:
        return work(None)
    with bar:
        task = bar.add_task(description, total=total)
        return work(lambda n: bar.advance(task, n))


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
    projection: Annotated[Path | None, typer.Option("--projection", help="DeViSE projection from `zsclf train` (default: ConSE).")] = None,
    seen_gate: Annotated[float | None, typer.Option("--seen-gate", min=0.0, max=1.0, help="Novelty detection: when the CNN's top probability reaches P, answer with its own classes (scores = probabilities).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Say which devices are in use.")] = False,
) -> None:
    """Rank labels for images."""
    from .images import expand_inputs
    from .output import default_format, make_writer
    from .pipeline import Classifier

    try:
        clf = Classifier.load(index, device=device.value, threads=threads, top_t=top_t, image_model=model, top_k=top_k,
                              projection=projection, seen_gate=seen_gate)
    except ZsclfError as exc:
        raise fail(str(exc)) from None
    if verbose:
        print(f"zsclf: encoder {clf.encoder.name} on {clf.devices['encoder']}, search on {clf.devices['search']}, "
              f"index {clf.index.meta.get('source', '')} ({len(clf.index)} labels)", file=sys.stderr)
    writer = None  # made on the first result: no inputs, nothing on stdout
    failed = total = 0
    try:
        for result in clf.predict_paths(expand_inputs(inputs), top_k=top_k, batch_size=batch_size,
                                        exclude_seen=exclude_seen, min_score=min_score):
            writer = writer or make_writer(fmt.value if fmt else default_format(sys.stdout))
            total += 1
            if result.error is not None:
                failed += 1
                print(f"zsclf: error: {result.error}", file=sys.stderr)
            writer.write(result)
    except BrokenPipeError:  # e.g. `zsclf predict ... | head`
        sys.stderr.close()
        raise typer.Exit(0) from None
    finally:
        if writer:
            writer.close()
    if total == 0:
        raise fail("no images found in the inputs")
    if failed:
        print(f"zsclf: {failed} of {total} inputs failed", file=sys.stderr)
        raise typer.Exit(1)


class Space(str, Enum):
    auto = "auto"
    text = "text"
    visual = "visual"


@app.command("build-index")
def build_index(
    labels: Annotated[Path | None, typer.Argument(help="Label file: .txt (one per line) or .tsv/.csv with a header. Optional with --examples.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Index folder to write (default: next to the labels).")] = None,
    template: Annotated[str, typer.Option("--template", help="Text embedded per label: gloss (name: description, else name), name, photo, lemmas, or a format string with {name}.")] = "gloss",
    kind: Annotated[IndexKind, typer.Option("--kind", help="flat = exact search; hnsw = approximate (recall is measured and printed).")] = IndexKind.flat,
    examples: Annotated[Path | None, typer.Option("--examples", help="Example photos per label: a folder per label, or a manifest (path, label[, id]).")] = None,
    shots: Annotated[int | None, typer.Option("--shots", min=1, help="Use at most N photos per label (chosen reproducibly).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Which photos --shots picks (a seeded shuffle of the sorted paths).")] = 0,
    space: Annotated[Space, typer.Option("--space", help="text: label-embedding space; visual: the CNN's feature space (DEM); auto: visual with --examples, else text (chosen by measurement).")] = Space.auto,
    projection: Annotated[Path | None, typer.Option("--projection", help="DeViSE projection (from `zsclf train`) for photo-taught labels in the text space.")] = None,
    threads: Annotated[int | None, typer.Option("--threads", min=1)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Embed labels (names and/or example photos) and write a searchable index folder."""
    from .build import build_index as build
    from .build import read_examples
    from .device import SessionConfig
    from .labels import effective_template, read_labels
    from .text import TextEncoder

    if labels is None and examples is None:
        raise fail("give a label file, --examples, or both")
    if space is Space.auto:
        space = Space.visual if examples else Space.text
    if projection and not (examples and space is Space.text):
        raise fail("--projection places example photos in the text space: it needs --examples and --space text")
    try:
        label_set = read_labels(labels) if labels else None
        if label_set:
            template = effective_template(label_set, template)
        example_set = read_examples(examples, shots, seed) if examples else None
        base = labels or examples
        out = output or base.with_name(base.stem + ".index")
        if label_set and (label_set.dropped_blank or label_set.dropped_duplicates):
            print(f"zsclf: {labels}: dropped {label_set.dropped_blank} blank lines and "
                  f"{label_set.dropped_duplicates} duplicates", file=sys.stderr)
        text = TextEncoder.load(config=SessionConfig(device="cpu", threads=threads))
        encoder = proj = None
        if example_set or space is Space.visual:
            from .encoder import ImageEncoder

            encoder = ImageEncoder.load(config=SessionConfig(device="cpu", threads=threads))
        if example_set and space is Space.text:
            proj = _text_projection(projection, template, text, encoder)
        total = (len(label_set) if label_set else 0) + (example_set.count if example_set else 0)
        kwargs = dict(template=template, kind=kind.value, space=space.value, examples=example_set,
                      encoder=encoder, projection=proj, source=(labels or examples).name)
        index = with_progress(progress_bar(quiet, "items"), "embedding labels and photos", total,
                              lambda progress: build(label_set, text, progress=progress, **kwargs))
        index.save(out)
    except ZsclfError as exc:
        raise fail(str(exc)) from None
    recall = index.meta.get("hnsw_recall_at_10")
    extra = f", HNSW recall@10 vs exact: {recall:.3f}" if recall is not None else ""
    photos = index.meta.get("photos")
    taught = f", {photos['labels']} taught by {photos['photos']} photos" if photos else ""
    if not quiet:
        print(f"zsclf: wrote {out} ({len(index)} labels{taught}, {space.value} space, {kind.value}{extra})",
              file=sys.stderr)
    elif recall is not None:
        print(f"zsclf: HNSW recall@10 vs exact: {recall:.3f}", file=sys.stderr)


def _text_projection(projection: Path | None, template: str, text, encoder):
    """The projection that places example photos in the text space: a DeViSE file, else ConSE."""
    from .pipeline import conse_for_index
    from .projection import check_projection, load_projection

    index_meta = {"space": "text", "template": template,
                  "text_encoder": {"name": text.name, "sha256": text.sha256, "dim": text.dim}}
    if projection:
        proj = load_projection(projection)
        check_projection(proj, encoder.spec.sha256, index_meta, str(projection))
        return proj
    return conse_for_index(index_meta)


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
    projection: Annotated[Path | None, typer.Option("--projection", help="DeViSE projection from `zsclf train` (default: ConSE).")] = None,
    seen_gate: Annotated[float | None, typer.Option("--seen-gate", min=0.0, max=1.0, help="Novelty detection: when the CNN's top probability reaches P, answer with its own classes (scores = probabilities).")] = None,
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
        clf = Classifier.load(index, device=device.value, threads=threads, top_t=top_t, image_model=model,
                              projection=projection, seen_gate=seen_gate)
        kwargs = dict(exclude_seen=exclude_seen, batch_size=batch_size, hypernyms=read_hypernyms())
        report = with_progress(progress_bar(quiet or as_json, "images"), "evaluating", len(samples),
                               lambda progress: evaluate(clf, samples, progress=progress, **kwargs))
    except ZsclfError as exc:
        raise fail(str(exc)) from None
    report["data"] = str(data)
    report["index"] = str(index or "default")
    if as_json:
        print(json.dumps(_no_nan(report), indent=2))
    else:
        from .sysinfo import print_eval

        print_eval(report)
    if report["failed"]:
        raise typer.Exit(1)


@app.command()
def train(
    data: Annotated[Path, typer.Argument(help="Labelled photos: an image-folder tree or a manifest (path, label and/or id).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Projection file to write (.npz).")],
    only: Annotated[str | None, typer.Option("--only", help="Keep samples whose path starts with this (e.g. train/).")] = None,
    labels: Annotated[Path | None, typer.Option("--labels", help="Label file giving each id's text (default: labels/imagenet21k.tsv).")] = None,
    template: Annotated[str, typer.Option("--template", help="Label text template; must match the index you will search.")] = "gloss",
    epochs: Annotated[int, typer.Option("--epochs", min=1)] = 200,
    margin: Annotated[float, typer.Option("--margin", help="Hinge rank loss margin.")] = 0.1,
    lr: Annotated[float, typer.Option("--lr", help="Adam learning rate.")] = 1e-3,
    negatives: Annotated[int, typer.Option("--negatives", min=1, help="Wrong labels sampled per photo and step.")] = 100,
    val_fraction: Annotated[float, typer.Option("--val-fraction", min=0.0, max=0.9, help="Held-out share of each class for validation and early stopping.")] = 0.2,
    patience: Annotated[int, typer.Option("--patience", min=1, help="Epochs without validation gain before stopping.")] = 20,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Learn DeViSE's linear map from CNN features to label embeddings (hinge rank loss)."""
    from .train import run_training

    try:
        bar = progress_bar(quiet, "epochs")
        result = run_training(data, output, only=only, labels=labels, template=template, epochs=epochs, margin=margin,
                              lr=lr, negatives=negatives, val_fraction=val_fraction, patience=patience, bar=bar)
    except ZsclfError as exc:
        raise fail(str(exc)) from None
    print(f"zsclf: wrote {output}: {result['train_size']} training photos, {result['labels']} labels, "
          f"best epoch {result['best_epoch']}, validation hit@1 {result['val_hit'].get('@1', float('nan')):.3f}",
          file=sys.stderr)


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


def _no_nan(value):
    """JSON has no NaN: metrics that could not be computed (nothing scored) become null."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_nan(v) for v in value]
    return value


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
