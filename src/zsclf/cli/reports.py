"""Rendering reports for people: `zsclf info`, `eval` and `benchmark` (the library returns plain dicts)."""

from __future__ import annotations

import json

from .terminal import plain, stdout_console, write_stdout


def print_json(data: dict) -> None:
    """JSON on stdout; JSON has no NaN, so metrics that could not be computed become null."""
    write_stdout(json.dumps(_no_nan(data), indent=2) + "\n")


def _no_nan(value):
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_nan(v) for v in value]
    return value


def print_info(data: dict) -> None:
    """Human-readable rendering of `collect_info`."""
    with stdout_console(soft_wrap=True, highlight=False) as console:
        console.print(f"[bold]zsclf {data['zsclf']}[/bold]  (Python {data['python']}, {data['platform']})")
        console.print("packages: " + ", ".join(f"{k} {v}" for k, v in data["packages"].items()))
        ort_info = data["onnxruntime"]
        console.print(f"onnxruntime providers available: {', '.join(ort_info['available'])}")
        problem = f"  ({plain(ort_info['error'])})" if "error" in ort_info else ""
        console.print(f"onnxruntime providers in use:    {', '.join(ort_info['in_use'] or ['-'])} "
                      f"-> encoder runs on {ort_info['device'] or '?'}{problem}")
        fi = data["faiss"]
        console.print(f"faiss {fi['version']}: {'GPU' if fi['gpu_build'] else 'CPU'} build, {fi['gpus']} GPU(s), "
                      f"search runs on {fi['search_device']}")
        for key, value in data["locations"].items():
            console.print(f"{key + ':':<15} {plain(value)}")
        models = data["models"]
        if "error" in models:
            console.print(f"[red]models: {plain(models['error'])}[/red]")
        for name, m in models.items() if "error" not in models else []:
            state = "missing" if not m["present"] else {True: "sha256 ok", False: "[red]sha256 MISMATCH[/red]",
                                                         None: "present"}[m.get("sha256_ok")]
            size = f"{m['bytes'] / 1e6:.1f} MB" if m.get("bytes") else ""
            role = ", default" if m.get("default") else ""
            console.print(f"model {plain(name)} ({m['kind']}{role}): {plain(m['file'])} {size} {state} "
                          f"[dim]{m['sha256'][:16]}[/dim]")
        idx = data["index"]
        if "error" in idx:
            console.print(f"[yellow]index: {plain(idx['error'])}[/yellow]")
        else:
            meta = idx["meta"]
            console.print(f"index {plain(idx['path'])}: {meta['count']} labels, {meta['dim']}-d {meta['kind']} "
                          f"{meta['space']} space, template {plain(repr(meta.get('template')))}, text encoder "
                          f"{plain(meta['text_encoder']['name'])}, built {meta.get('created')}, version "
                          f"{idx.get('version')}"
                          + (", files ok" if idx.get("files_ok") else "")
                          + (f", {'label prior' if meta.get('label_prior') else 'sentences'} (queries: ConSE "
                             f"top-{meta['queries']['top_t']}, temperature {meta['queries']['temperature']:g}; "
                             f"{plain(meta['calibration']['method'])})"
                             if meta.get("queries") and meta.get("calibration") else "")
                          + (f" [dim]sha256 {idx['index_sha256'][:16]}[/dim]" if "index_sha256" in idx else ""))


def print_eval(report: dict) -> None:
    """Human-readable rendering of an `evaluate` report."""
    from rich.table import Table

    with stdout_console(highlight=False) as console:
        console.print(f"[bold]{plain(report['data'])}[/bold]: {report['evaluated']} of {report['images']} images "
                      f"evaluated against {report['labels_in_index']} labels ({plain(report['projection'])}"
                      f"{', excluding seen classes' if report['exclude_seen'] else ''})")
        table = Table("metric", *report["hit"].keys())
        table.add_row("hit", *(f"{v:.3f}" for v in report["hit"].values()))
        table.add_row("balanced accuracy (mean per class)", f"{report['mean_per_class_accuracy']:.3f}",
                      *[""] * (len(report["hit"]) - 1))
        if "hp" in report:
            table.add_row("hierarchical precision", *(f"{v:.3f}" for v in report["hp"].values()))
        console.print(table)
        if skew := report.get("skew"):
            console.print(f"skew: {skew['label']} answered for {skew['answered_share']:.1%} of photos, "
                          f"{skew['ratio']:.2f}x its true share ({skew['true_share']:.1%}); most answered: "
                          f"{skew['most_answered']} ({skew['most_answered_share']:.1%})", markup=False)
        if "cnn_softmax" in report:
            ref = report["cnn_softmax"]
            console.print(f"CNN's own softmax over its 1,000 classes ({ref['images']} images): "
                          f"top-1 {ref['hit']['@1']:.3f}, top-5 {ref['hit']['@5']:.3f}")
        if report["unmatched"]:
            shown = ", ".join(f"{plain(k)} ({v})" for k, v in list(report["unmatched"].items())[:8])
            console.print(f"[yellow]ground truth not in the index (not scored): {shown}[/yellow]")
        if report["failed"]:
            console.print(f"[red]{report['failed']} images failed: {plain('; '.join(report['errors'][:3]))}[/red]")
        if report["confusions"]:
            console.print("most confused: " + "; ".join(f"{plain(c['true'])} -> {plain(c['predicted'])} ({c['count']})"
                                                        for c in report["confusions"][:5]))
        _print_gzsl(console, report)
        if "hedge" in report:
            _print_hedge(console, report["hedge"])


def _print_gzsl(console, report: dict) -> None:
    if "novelty" in report:
        n = report["novelty"]
        console.print(f"novelty AUROC ({n['seen_photos']} seen vs {n['unseen_photos']} unseen photos): energy "
                      f"{n['auroc']['energy']:.3f}, top softmax probability {n['auroc']['max_softmax']:.3f}")
    if "gzsl" in report:
        g = report["gzsl"]
        h5 = ", ".join(f"{k}: {v:.3f}" for k, v in g["h"]["@5"].items())
        console.print(f"calibrated stacking ({g['seen_photos']} seen, {g['unseen_photos']} unseen photos with an "
                      f"index label): AUSUC@5 {g['ausuc']['@5']:.3f}, H@5 {h5}")


def _print_hedge(console, hedge: dict) -> None:
    from rich.table import Table

    table = Table("P", "photos", "n", "accuracy", "exact", "bits", "right at/below")
    for t in hedge["targets"]:
        for group in ("all", "seen", "unseen"):
            if group not in t:
                continue
            m, first = t[group], group == "all"
            table.add_row(f"{t['p']:g}" if first else "", group, str(m["photos"]), f"{m['accuracy']:.3f}",
                          f"{m['exact']:.3f}", f"{m['info_gain_bits']:.2f}",
                          f"{m['common_ancestor']['correct_at_or_below']:.3f} ({plain(m['common_ancestor']['label'])})",
                          end_section=group == "unseen" or "seen" not in t)
    console.print(f"hedged answers ({hedge['rule']}; fit: {plain(hedge['fitted_on'])}); bits: mean information gain of right "
                  f"answers, of {hedge['max_info_gain_bits']:.1f}")
    console.print(table)


def print_calibration(report: dict) -> None:
    """Human-readable summary of `zsclf calibrate`."""
    fit = report["fit"]
    with stdout_console(highlight=False, soft_wrap=True) as console:
        photos = fit.get("photos", {})
        console.print(f"calibrated on {photos.get('seen', 0)} photos of the CNN's classes and {photos.get('unseen', 0)} "
                      f"of others ({photos.get('skipped', 0)} without a usable truth, {report['failed']} unreadable)")
        console.print(f"T_cnn {fit['cnn_temperature']:.3f}, T_index {fit['index_temperature']:.4f}, P(seen) = "
                      f"sigmoid({fit['seen']['a']:.3f} * energy {fit['seen']['b']:+.3f}), seen penalty "
                      f"{fit['seen_penalty']:.3f}")
        lam = fit["darts_lambda"]
        console.print("DARTS lambda: " + ", ".join(f"P={p:g}: {v:.2f}" for p, v in
                                                   zip(lam["p"], lam["value"], strict=True)))
        if report.get("stacking"):
            s = report["stacking"]
            how = f"picked on {s['picked_on']} photos" if s["picked_on"] else "given"
            console.print(f"seen penalty {how}; on the other {s['seen_photos']} seen and "
                          f"{s['unseen_photos']} unseen: H@5 " + ", ".join(f"{k} {v:.3f}" for k, v in s["h"]["@5"].items()))
        console.print(f"stored in {plain(report['written_to'])}")


def print_benchmark(result: dict) -> None:
    """Human-readable rendering of a `zsclf benchmark` result."""
    from rich.table import Table

    with stdout_console(highlight=False) as console:
        m = result["machine"]
        console.print(f"[bold]{plain(m['cpu'])}[/bold], {m['cores']} cores, Python {m['python']}; {result['source']} images")
        columns = [f"{r['model']}: {r['device']['encoder']} encoder / {r['device']['search']} search"
                   for r in result["runs"]]
        table = Table("stage", *columns)
        for stage in result["runs"][0]["images_per_s"]:
            table.add_row(f"{stage} (images/s)", *(f"{r['images_per_s'][stage]:,.1f}" for r in result["runs"]))
        for ratio in result["runs"][0]["ratios"]:
            table.add_row(ratio, *(f"{r['ratios'][ratio]:.2f}" for r in result["runs"]))
        table.add_row("batch-1 latency (ms, median)", *(f"{r['batch1_latency_ms']['median']:.1f}" for r in result["runs"]))
        table.add_row("index load (s)", *(f"{r['index_load_s']:.3f}" for r in result["runs"]))
        table.add_row("peak RSS (MB)", *(f"{r['peak_rss_mb']:.0f}" for r in result["runs"]))
        table.add_row("cold start, 1-image predict (s, median)",
                      *(f"{r['cold_start']['median_s']:.3f}" if "cold_start" in r else "-" for r in result["runs"]))
        table.add_row("1-image predict peak RSS (MB)",
                      *(f"{r['cold_start']['peak_rss_mb']:.0f}" if "cold_start" in r else "-" for r in result["runs"]))
        console.print(table)
        for device, models in result.get("compare", {}).items():
            for model, ratios in list(models.items())[1:]:
                console.print(f"{plain(model)} ({device}) vs {result['runs'][0]['model']}: " +
                              ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items()))
        if result.get("skipped"):
            console.print(f"[yellow]skipped {len(result['skipped'])} unreadable images "
                          f"(first: {plain(result['skipped'][0])})[/yellow]")
        r = result["runs"][0]
        console.print(f"{r['images']} images, batch {r['batch_size']}, {r['threads']} threads, {r['labels']} labels")


def print_batch(outcome, quiet: bool = False, as_json: bool = False) -> None:
    """What `zsclf batch` did: lines on stderr (only skips and failures when quiet or with --json), and with
    `as_json` the whole outcome as JSON on stdout."""
    import dataclasses

    from .terminal import note

    brief = quiet or as_json
    lines = [] if brief else list(outcome.notes)
    rate = f" ({outcome.scored / outcome.seconds:,.1f} images/s)" if outcome.scored and outcome.seconds else ""
    if not brief:
        lines.append(f"scored {outcome.scored} of {outcome.listed} inputs into {outcome.output} "
                     f"({outcome.parts} new part(s), {outcome.engine} engine) in {outcome.seconds:.1f} s{rate}")
    if outcome.skipped:
        lines.append(f"skipped {outcome.skipped} input(s) already in the output (or named twice)")
    if outcome.failed:
        lines.append(f"{outcome.failed} of {outcome.scored} inputs failed (their rows say why in the error column)")
    for line in lines:
        note(line)
    if as_json:
        print_json(dataclasses.asdict(outcome))


def print_retrieval(report: dict) -> None:
    """Human-readable rendering of an `eval-retrieval` report (Karpathy & Fei-Fei's table)."""
    from rich.table import Table

    with stdout_console(highlight=False) as console:
        console.print(f"{plain(report['pairs'])}: {report['photos']} photos, {report['sentences']} sentences"
                      + (f", {report['failed']} photos unreadable" if report["failed"] else ""))
        console.print(f"space: {plain(report['space'])}; photos by {plain(report['projection'])}; "
                      f"hubness: {report['hubness']}")
        if "folds" in report:
            console.print(f"{report['folds']}-fold cross-validation over the photos (mean of the folds)")
        table = Table()
        for name in ("direction", "R@1", "R@5", "R@10", "median rank", "queries"):
            table.add_column(name, justify="left" if name == "direction" else "right")
        for key, label in (("image_to_text", "photo → sentence"), ("text_to_image", "sentence → photo")):
            for r, how in ((report[key], ""), (report.get("baseline", {}).get(key), " (baseline)"),
                           (report.get("sentence_index", {}).get(key), " (sentence index)")):
                if r:
                    table.add_row(label + how, *(f"{r[f'R@{k}']:.3f}" for k in (1, 5, 10)), f"{r['median_rank']:g}",
                                  str(r["queries"]))
        console.print(table)
        if "baseline" in report:
            console.print(f"baseline: photos by {plain(report['baseline']['projection'])}, no hubness correction")
        if "sentence_index" in report:
            console.print("sentence index: as `build-index --sentences` + `predict --index` rank them, "
                          "hubness against the photo prior")
