"""Your own labels: `zsclf eval --labels` with and without the label-prior correction, per kind of label set."""

from __future__ import annotations

from ..context import Context
from ..markdown import table

INTRO = ("A short list of one's own labels, as a user gives it to `zsclf eval DATA --labels FILE`: plain cosine "
         "(`--label-prior off`) against the default (`auto`: each label's score corrected against 1,000 typical "
         "photos by inverted softmax, queries by ConSE top-50 at T=2; docs/label_prior.md). The photos are the "
         "REPORT halves of `benchmarks/label_prior.py` (settings were chosen on the other halves); measured by "
         "`benchmarks/own_labels_eval.py` through the real command line. Skew: the largest share of photos "
         "given one label divided by its true share (1.0 = no label over-answered).")


def section_own_labels(ctx: Context) -> str:
    """Per kind of label set: hit@1, balanced accuracy and skew, plain vs corrected."""
    sets = ctx.get("own-labels")["sets"]
    rows = []
    for r in sets.values():
        off, auto = r["off"], r["auto"]
        rows.append([r["about"], str(r["labels"]), str(r["photos"]),
                     f"{off['hit@1']:.3f} / {off['balanced']:.3f} / {off['skew']:.1f}",
                     f"{auto['hit@1']:.3f} / {auto['balanced']:.3f} / {auto['skew']:.1f}"])
    head = ["label set", "labels", "photos", "plain: hit@1 / balanced / skew", "auto: hit@1 / balanced / skew"]
    return "\n".join(["## Your own labels: the label-prior correction per kind of label set", "", INTRO, "",
                      table(head, rows)])
