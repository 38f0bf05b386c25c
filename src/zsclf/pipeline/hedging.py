"""Hedged answers (`--hedge P`): the most informative WordNet node that is probably right (Deng, Krause,
Berg & Fei-Fei, CVPR 2012), from calibrated probabilities over the index's labels.

Per image (`HedgingModel` in index.meta holds the fitted numbers):

    p(label) = s * softmax(logits / T_cnn)[the label's CNN class]       (the CNN's own classes)
             + (1 - s) * softmax(top-K index scores / T_index)[label]   (any index label)

with s = P(seen | image) = sigmoid(a * energy(logits) + b) (pipeline.seen). The label probabilities are
summed up the hierarchy (pipeline.hierarchy); the answer is DARTS's argmax_v (gain(v) + lambda) * p(v),
lambda = lambda(P) fitted so that accuracy on the calibration photos reaches P ("maximise expected
information gain subject to accuracy >= P"), or with rule "threshold" the node of highest information
gain whose own probability reaches P.

Which fit: the index's own (`zsclf calibrate`, stored in its meta.json), else the committed defaults
`labels/hedging-imagenet21k.json` when the index is the ImageNet-21K one they were fitted for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core import paths, typed_json
from ..errors import ZsclfError
from ..index.meta import HedgingModel, IndexMeta, SeenScore
from ..index.store import LABELS_FILE
from ..models.registry import ModelRef
from .compat import same_image_model, same_text_model
from .seen import seen_probability
from .taxonomy import Taxonomy

DEFAULTS_FILE = "hedging-imagenet21k.json"
RULES = ("darts", "threshold")


@dataclass(frozen=True)
class HedgedAnswer:
    """A hedged answer: a WordNet node (or label), its probability under the model and its depth
    (shortest hypernym path from the root "entity", which has depth 0)."""

    label: str
    id: str
    probability: float
    depth: int


def describe_projection(projection) -> str:
    """What a hedging fit depends on in the query projection: 'conse top-t 10', 'devise <sha>', 'visual centre'."""
    base = getattr(projection, "base", projection)
    text = {"conse": lambda: f"conse top-t {base.top_t}", "devise": lambda: f"devise {base.sha256[:12]}",
            "visual": lambda: f"visual {base.transform}"}.get(base.name, lambda: base.name)()
    return text + (" calibrated" if base is not projection else "")


def check_model(model: HedgingModel, source: str) -> HedgingModel:
    """Refuse a fit whose numbers cannot be used (one line naming `source`)."""
    table = model.darts_lambda
    problems = [
        (model.cnn_temperature > 0 and model.index_temperature > 0, "temperatures must be positive"),
        (model.top_k >= 1, "top_k must be at least 1"),
        (0 <= model.min_prob < 1, "min_prob must be in [0, 1)"),
        (len(table.p) == len(table.value) >= 1, "darts_lambda needs as many values as p, at least one"),
        (all(np.isfinite(table.value)) and min(table.value, default=0) >= 0, "darts_lambda values must be >= 0"),
        (list(table.p) == sorted(table.p) and all(0 < p <= 1 for p in table.p), "darts_lambda.p must ascend in (0, 1]"),
        (all(np.isfinite([model.seen.a, model.seen.b, model.seen_penalty])), "seen.a, seen.b, seen_penalty: numbers"),
        (model.seen.temperature > 0, "seen.temperature must be positive"),
    ]
    for ok, why in problems:
        if not ok:
            raise ZsclfError(f"{source}: unusable hedging fit ({why}); run `zsclf calibrate` again")
    return model


def shipped_defaults() -> HedgingModel | None:
    """The committed fit for the default ImageNet-21K index (None when the file is not installed)."""
    path = paths.labels_dir() / DEFAULTS_FILE
    if not path.exists():
        return None
    return check_model(typed_json.read(HedgingModel, path, "hedging fit", 1 << 20), str(path))


def fit_problem(model: HedgingModel, meta: IndexMeta, image_model: ModelRef, projection: str) -> str | None:
    """Why `model` does not fit this index, image model and projection (None when it does)."""
    want = model.fitted_for
    labels = (meta.files or {}).get(LABELS_FILE)
    for ok, why in (
        (same_image_model(want.image_encoder, image_model, by="name"),
         f"image model {want.image_encoder.name}, not {image_model.name}"),
        (same_text_model(want.text_encoder, meta.text_encoder.name) and want.template == meta.template,
         f"labels embedded by {want.text_encoder} with template {want.template!r}"),
        (want.projection == projection, f"projection {want.projection!r}, not {projection!r}"),
        (labels is not None and want.labels == meta.count and want.labels_crc32 == labels.crc32,
         f"another label set ({want.labels} labels, labels.tsv CRC-32 {want.labels_crc32})"),
    ):
        if not ok:
            return f"it was fitted for {why}"
    return None


def choose_fit(meta: IndexMeta, where: str, image_model: ModelRef, projection: str) -> HedgingModel:
    """The index's own fit, else the shipped defaults when they were made for this index; else one error."""
    own = meta.hedging
    if own is not None:
        problem = fit_problem(own, meta, image_model, projection)
        if problem is None:
            return check_model(own, f"{where} (meta.json)")
        hint = f"{problem}; run `zsclf calibrate PHOTOS... --index {where}` with these options"
    else:
        shipped = shipped_defaults()
        problem = fit_problem(shipped, meta, image_model, projection) if shipped else "not installed"
        if shipped is not None and problem is None:
            return shipped
        hint = (f"no hedging fit of its own, and the shipped ImageNet-21K defaults do not apply ({problem}); run "
                f"`zsclf calibrate PHOTOS... --index {where}` on labelled photos of seen and unseen classes")
    raise ZsclfError(f"--hedge: index {where} has {hint}" if own is None else f"--hedge: the hedging fit of index "
                     f"{where} does not apply: {hint}")


def seen_score_for(meta: IndexMeta, image_model: ModelRef) -> SeenScore | None:
    """The P(seen) parameters for this image model: the index's own fit, else the shipped defaults' (they
    depend on the image model only); None when neither was fitted for this image model."""
    for fit in (meta.hedging, shipped_defaults() if meta.hedging is None else None):
        if fit is not None and same_image_model(fit.fitted_for.image_encoder, image_model, by="name"):
            return fit.seen
    return None


def softmax_t(scores: np.ndarray, temperature: float) -> np.ndarray:
    """Row-wise softmax of scores / T in float64 (-inf scores get 0)."""
    z = np.asarray(scores, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def mixture(model: HedgingModel, logits: np.ndarray, top_scores: np.ndarray, top_rows: np.ndarray,
            class_label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities [B, C + K], hierarchy label rows [B, C + K]) of the seen/unseen mixture (module doc)."""
    s = seen_probability(model.seen, logits)[:, None]
    index = softmax_t(np.where(top_rows >= 0, top_scores, -np.inf), model.index_temperature)
    cnn = softmax_t(logits, model.cnn_temperature)
    rows = np.hstack([np.broadcast_to(class_label, cnn.shape), top_rows])
    return np.hstack([s * cnn, (1.0 - s) * index]), rows


def darts_lambda(model: HedgingModel, p: float) -> float:
    """lambda for accuracy target p, interpolated in log(1 + lambda) between the fitted points."""
    table = model.darts_lambda
    return float(np.expm1(np.interp(p, table.p, np.log1p(table.value))))


def answer_nodes(mass: np.ndarray, gain: np.ndarray, p: float, rule: str, lam: float = 0.0) -> np.ndarray:
    """[B] answer nodes. darts: argmax_v (gain(v) + lam) * p(v). threshold: the node of highest gain whose
    probability reaches p (ties: the more probable); if none does (truncated probabilities), the most probable."""
    if rule == "darts":
        return ((gain[None, :] + lam) * mass).argmax(axis=1)
    ok = mass >= p - 1e-12
    best = np.where(ok, gain[None, :] + 1e-9 * mass, -np.inf).argmax(axis=1)
    none = ~ok.any(axis=1)
    best[none] = mass[none].argmax(axis=1)
    return best


class Hedger:
    """A fitted model and an index's taxonomy: hedged answers for batches of CNN outputs and search results."""

    def __init__(self, model: HedgingModel, taxonomy: Taxonomy) -> None:
        self.model = model
        self.taxonomy = taxonomy
        self.hierarchy = taxonomy.hierarchy
        self.gain = self.hierarchy.info_gain

    @property
    def top_k(self) -> int:
        """How many index search results the model was fitted on (search exactly this many)."""
        return self.model.top_k

    def check_target(self, p: float, rule: str) -> None:
        """Refuse a target the rule cannot serve (DARTS: only the range its lambda table was fitted on)."""
        if rule not in RULES:
            raise ZsclfError(f"--hedge-rule must be one of {', '.join(RULES)}, not {rule!r}")
        if not 0 < p <= 1:  # NaN too; first, so that a non-probability is never sent to the other rule
            raise ZsclfError(f"--hedge must be a probability in (0, 1], not {p:g}")
        table = self.model.darts_lambda.p
        if rule == "darts" and not table[0] - 1e-9 <= p <= table[-1] + 1e-9:
            raise ZsclfError(f"--hedge {p:g}: the fit's DARTS table covers P = {table[0]:g} to {table[-1]:g}; use a "
                             "value in that range, or --hedge-rule threshold")

    def node_mass(self, logits: np.ndarray, top_scores: np.ndarray, top_rows: np.ndarray) -> np.ndarray:
        """[B, M] node probabilities; top_scores/top_rows [B, >= top_k] from the index search (first top_k used)."""
        k = self.model.top_k
        probs, rows = mixture(self.model, logits, top_scores[:, :k], top_rows[:, :k], self.taxonomy.class_label)
        return self.hierarchy.node_mass(probs, rows, self.model.min_prob)

    def answer(self, mass: np.ndarray, p: float, rule: str = "darts") -> np.ndarray:
        """[B] answer nodes for accuracy target p."""
        return answer_nodes(mass, self.gain, p, rule, darts_lambda(self.model, p) if rule == "darts" else 0.0)

    def describe(self, nodes: np.ndarray, mass: np.ndarray) -> list[HedgedAnswer]:
        """The answers as label, id, probability and depth."""
        t, depth = self.taxonomy, self.hierarchy.depth
        return [HedgedAnswer(t.names[v], t.ids[v], round(float(mass[i, v]), 6), int(depth[v]))
                for i, v in enumerate(nodes.tolist())]

    def hedge(self, logits: np.ndarray, top_scores: np.ndarray, top_rows: np.ndarray, p: float,
              rule: str = "darts") -> list[HedgedAnswer]:
        """Hedged answers for a batch."""
        mass = self.node_mass(logits, top_scores, top_rows)
        return self.describe(self.answer(mass, p, rule), mass)

